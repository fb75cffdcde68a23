/*
 * Loaded into the real node binary with LD_PRELOAD by the interpose suite
 * (check_interpose.c, interpose_node test). Its constructor loads the `now`
 * consumer, then asks the interposer to rebind getpid (which node's own
 * executable imports: were node patched, process.pid would read 4242) and
 * nat_ipp_add, and writes one line per object to $NAT_IP_PRELOAD_OUT:
 *   <status> <rebound> <already> <path>
 * followed by "add <nat_ipc_add(2, 3)>". The suite checks that node is
 * reported as the main executable and left alone, that this object is
 * reported as self, and that the consumer was rebound.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "nat_interpose.h"

static pid_t fake_getpid(void) { return 4242; }

static int fake_add(int a, int b) { return a + b + 1000; }

static void report(const nat_ip_report_t* r, void* ud) {
  fprintf((FILE*)ud, "%d %u %u %s\n", (int)r->status, r->rebound, r->already,
          r->path != NULL ? r->path : "(null)");
}

__attribute__((constructor)) static void nat_ip_preload(void) {
  const char* out = getenv("NAT_IP_PRELOAD_OUT");
  const char* consumer = getenv("NAT_IP_PRELOAD_CONSUMER");
  if (out == NULL || consumer == NULL) return;
  FILE* f = fopen(out, "w");
  if (f == NULL) return;
  void* h = dlopen(consumer, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    fprintf(f, "dlopen failed: %s\n", dlerror());
    fclose(f);
    return;
  }
  nat_ip_sym_t syms[] = {{"getpid", (void*)fake_getpid},
                         {"nat_ipp_add", (void*)fake_add}};
  int n = nat__ip_rebind_loaded(syms, 2, (const void*)nat_ip_preload, report,
                                f);
  int (*add)(int, int) = (int (*)(int, int))dlsym(h, "nat_ipc_add");
  fprintf(f, "stored %d\nadd %d\n", n, add != NULL ? add(2, 3) : -1);
  fclose(f);
  /* The consumer stays loaded (and rebound) for the life of the process. */
}
