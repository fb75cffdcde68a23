/*
 * A consumer of the provider, built three ways by test/core/Makefile:
 *   lazy   -Wl,-z,lazy            calls through PLT slots (JUMP_SLOT) in the
 *                                 writable .got.plt, bound at first call;
 *   now    -Wl,-z,now,-z,relro    the same slots bound at load and made
 *                                 read-only (PT_GNU_RELRO);
 *   noplt  -fno-plt, now, relro,  calls and the address taken below read
 *          NAT_IPC_ADDR           the GOT entry of a GLOB_DAT relocation;
 *   table  lazy, NAT_IPC_TABLE    also a function pointer in data: an
 *                                 R_X86_64_64 / R_AARCH64_ABS64 relocation
 *                                 naming nat_ipp_add, which the interposer
 *                                 does not rebind but counts as skipped;
 *   ctor   now, relro, NAT_IPC_CTOR  a constructor that, when
 *                                 NAT_IPC_CTOR_FDS="w,r" is set, writes a
 *                                 byte to fd w and waits for one on fd r:
 *                                 its dlopen stays in progress (holding
 *                                 the loader's lock) until the test lets
 *                                 it go.
 */
extern int nat_ipp_add(int a, int b);
extern int nat_ipp_mul(int a, int b);

int nat_ipc_add(int a, int b) { return nat_ipp_add(a, b); }

int nat_ipc_mul(int a, int b) { return nat_ipp_mul(a, b); }

#ifdef NAT_IPC_ADDR
typedef int (*nat_ipc_fn)(int, int);
nat_ipc_fn nat_ipc_add_addr(void) { return &nat_ipp_add; }
#endif

#ifdef NAT_IPC_TABLE
typedef int (*nat_ipc_tfn)(int, int);
/* A writable table, so the pointer is relocated where it is stored. */
nat_ipc_tfn nat_ipc_table[1] = {&nat_ipp_add};
int nat_ipc_table_add(int a, int b) { return nat_ipc_table[0](a, b); }
#endif

#ifdef NAT_IPC_CTOR
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void nat_ipc_ctor(void) {
  const char* fds = getenv("NAT_IPC_CTOR_FDS");
  int w, r;
  char c = 1;
  if (fds == NULL || sscanf(fds, "%d,%d", &w, &r) != 2) return;
  if (write(w, &c, 1) != 1) abort();
  if (read(r, &c, 1) != 1) abort();
}
#endif
