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
 *
 * With NAT_IP_PRELOAD_SYMS=name,name,... it rebinds those names instead (to
 * a function that aborts: nothing calls it, as the objects are only
 * loaded), which is how the relocations of real prebuilt addons were
 * checked (NAT_IP_PRELOAD_CONSUMER=/path/to/addon.node), and prints the
 * time the rebind and the restore took ("time_ns <rebind> <restore>").
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "nat_interpose.h"

static pid_t fake_getpid(void) { return 4242; }

static int fake_add(int a, int b) { return a + b + 1000; }

static void never_called(void) { abort(); }

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void report(const nat_ip_report_t* r, void* ud) {
  FILE* f = ud;
  fprintf(f, "%d %u %u %s", (int)r->status, r->rebound, r->already,
          r->path != NULL ? r->path : "(null)");
  if (getenv("NAT_IP_PRELOAD_SYMS") != NULL && r->rebound > 0) {
    unsigned glob_dat = 0;
    for (size_t i = 0; i < r->nsyms; i++) glob_dat += r->counts[i].glob_dat;
    fprintf(f, " (glob_dat %u, skipped %u, mprotects %u)", glob_dat,
            r->skipped, r->mprotects);
  }
  fputc('\n', f);
}

/* Rebinds the comma-separated names to never_called, reports, restores. */
static void rebind_names(FILE* f, char* names) {
  nat_ip_sym_t syms[64];
  size_t n = 0;
  for (char* t = strtok(names, ","); t != NULL && n < 64; t = strtok(NULL, ","))
    syms[n++] = (nat_ip_sym_t){t, (void*)never_called};
  long long t0 = now_ns();
  int stored = nat__ip_rebind_loaded(syms, n, (const void*)rebind_names,
                                     report, f);
  long long t1 = now_ns();
  int restored = nat__ip_restore_all(NULL);
  long long t2 = now_ns();
  fprintf(f, "stored %d restored %d\ntime_ns %lld %lld\n", stored, restored,
          t1 - t0, t2 - t1);
}

__attribute__((constructor)) static void nat_ip_preload(void) {
  const char* out = getenv("NAT_IP_PRELOAD_OUT");
  const char* consumer = getenv("NAT_IP_PRELOAD_CONSUMER");
  if (out == NULL || consumer == NULL) return;
  FILE* f = fopen(out, "w");
  if (f == NULL) return;
  /* Colon-separated paths; the last one is the test's consumer. */
  void* h = NULL;
  char* paths = strdup(consumer);
  for (char* p = paths ? strtok(paths, ":") : NULL; p != NULL;
       p = strtok(NULL, ":")) {
    h = dlopen(p, RTLD_LAZY | RTLD_LOCAL);
    if (h == NULL) {
      fprintf(f, "dlopen failed: %s\n", dlerror());
      fclose(f);
      free(paths);
      return;
    }
  }
  free(paths);
  char* names = getenv("NAT_IP_PRELOAD_SYMS");
  if (names != NULL) {
    names = strdup(names);
    if (names != NULL) rebind_names(f, names);
    free(names);
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
