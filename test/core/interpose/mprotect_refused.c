/*
 * mprotect refused, as under a hardened policy: run by the interpose suite
 * (interpose_mprotect_refused) as its own process, because it installs a
 * seccomp filter (EACCES for mprotect with PROT_WRITE) that must never
 * reach the test runner, and runs natively even when the suite runs under
 * valgrind. The RELRO consumer must be reported NAT_IP_MPROTECT with the
 * errno and left unchanged (calls reach the real function, its pages keep
 * their protection); the lazy one (writable slots) is rebound in the same
 * call. Usage: ip_mprotect_refused <directory of the test objects>.
 * Prints "ok" and exits 0, or names the first check that failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "nat_interpose.h"

#define CHECK(e)                                                      \
  do {                                                                \
    if (!(e)) {                                                       \
      fprintf(stderr, "mprotect_refused.c:%d: %s\n", __LINE__, #e);   \
      return 1;                                                       \
    }                                                                 \
  } while (0)

typedef int (*int2_fn)(int, int);

static int fake_add(int a, int b) { return a + b + 1000; }
static int fake_mul(int a, int b) { return a * b + 3000; }

typedef struct {
  int status;
  int sys_errno;
  uint32_t rebound;
  uint32_t failed;
  uint32_t failed_add;
} rep_t;

typedef struct {
  rep_t lazy;
  rep_t now;
} reps_t;

static int ends_with(const char* s, const char* suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void collect(const nat_ip_report_t* r, void* ud) {
  reps_t* reps = ud;
  rep_t* o = NULL;
  if (r->path != NULL && ends_with(r->path, "/libnat_ipc_lazy.so"))
    o = &reps->lazy;
  if (r->path != NULL && ends_with(r->path, "/libnat_ipc_now.so"))
    o = &reps->now;
  if (o == NULL) return;
  o->status = (int)r->status;
  o->sys_errno = r->sys_errno;
  o->rebound = r->rebound;
  o->failed = r->failed;
  o->failed_add = r->nsyms > 0 ? r->counts[0].failed : 0;
}

/* The protections of the mappings of `suffix`, concatenated in order. */
static void prot_string(const char* suffix, char* out, size_t cap) {
  FILE* f = fopen("/proc/self/maps", "r");
  char line[1024];
  size_t n = 0;
  out[0] = 0;
  if (f == NULL) return;
  while (fgets(line, sizeof(line), f) != NULL) {
    line[strcspn(line, "\n")] = 0;
    char* sp = strchr(line, ' ');
    if (!ends_with(line, suffix) || sp == NULL || n + 6 >= cap) continue;
    memcpy(out + n, sp + 1, 4);
    out[n + 4] = ',';
    n += 5;
    out[n] = 0;
  }
  fclose(f);
}

static int refuse_mprotect_write(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 0, 3),
      /* The low half of the prot argument (little-endian). */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
               offsetof(struct seccomp_data, args) + 2 * sizeof(uint64_t)),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_WRITE, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  char path[1024];
  snprintf(path, sizeof(path), "%s/libnat_ipc_lazy.so", argv[1]);
  void* lazy = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
  snprintf(path, sizeof(path), "%s/libnat_ipc_now.so", argv[1]);
  void* now = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  CHECK(lazy != NULL && now != NULL);
  int2_fn lazy_add = (int2_fn)dlsym(lazy, "nat_ipc_add");
  int2_fn now_add = (int2_fn)dlsym(now, "nat_ipc_add");
  CHECK(lazy_add != NULL && now_add != NULL);
  char before[256], after[256];
  prot_string("/libnat_ipc_now.so", before, sizeof(before));
  CHECK(before[0] != 0);

  CHECK(refuse_mprotect_write() == 0);
  nat_ip_sym_t syms[] = {{"nat_ipp_add", (void*)fake_add},
                         {"nat_ipp_mul", (void*)fake_mul}};
  reps_t reps;
  memset(&reps, 0, sizeof(reps));
  CHECK(nat__ip_rebind_loaded(syms, 2, NULL, collect, &reps) == 2);
  CHECK(reps.now.status == NAT_IP_MPROTECT);
  CHECK(reps.now.sys_errno == EACCES);
  CHECK(reps.now.failed == 2 && reps.now.rebound == 0);
  CHECK(reps.now.failed_add == 1);
  CHECK(reps.lazy.status == NAT_IP_OK && reps.lazy.rebound == 2);
  CHECK(now_add(2, 3) == 5);
  CHECK(lazy_add(2, 3) == 1005);
  CHECK(nat__ip_recorded() == 2);
  prot_string("/libnat_ipc_now.so", after, sizeof(after));
  CHECK(strcmp(before, after) == 0);
  CHECK(nat__ip_restore_all(NULL) == 2);
  CHECK(lazy_add(2, 3) == 5);
  puts("ok");
  return 0;
}
