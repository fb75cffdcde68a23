/*
 * The interposer's fallback for platforms it cannot rebind on, built here
 * with NAT_IP_FORCE_UNSUPPORTED (test/core/Makefile) and run by the
 * interpose suite: arguments are still checked, each call reports
 * NAT_IP_UNSUPPORTED exactly once with no path and rebinds nothing, restore
 * has nothing to do. Exits 0 when all holds, else the line of the first
 * check that failed.
 */
#include <stdio.h>
#include <stdlib.h>

#include "napi_async_trace_defs.h"
#include "nat_interpose.h"

#define CHECK(e)                                            \
  do {                                                      \
    if (!(e)) {                                             \
      fprintf(stderr, "unsupported.c:%d: %s\n", __LINE__, #e); \
      return __LINE__ % 250 + 1;                            \
    }                                                       \
  } while (0)

static int fake(void) { return 0; }

typedef struct {
  int calls;
  int status;
  const char* path;
  size_t nsyms;
} seen_t;

static void cb(const nat_ip_report_t* r, void* ud) {
  seen_t* s = ud;
  s->calls++;
  s->status = (int)r->status;
  s->path = r->path;
  s->nsyms = r->nsyms;
}

int main(void) {
  nat_ip_sym_t syms[] = {{"napi_create_async_work", (void*)fake}};
  seen_t s = {0, -1, "x", 99};
  CHECK(nat__ip_supported() == 0);
  CHECK(nat__ip_rebind_loaded(NULL, 1, NULL, cb, &s) == NAT_EINVAL);
  CHECK(nat__ip_rebind_object(NULL, NULL, syms, 1, NULL, cb, &s) ==
        NAT_EINVAL);
  CHECK(s.calls == 0);
  CHECK(nat__ip_rebind_loaded(syms, 1, NULL, cb, &s) == 0);
  CHECK(s.calls == 1);
  CHECK(s.status == NAT_IP_UNSUPPORTED);
  CHECK(s.path == NULL);
  CHECK(s.nsyms == 0);
  CHECK(nat__ip_rebind_object("x.node", NULL, syms, 1, NULL, cb, &s) == 0);
  CHECK(s.calls == 2 && s.status == NAT_IP_UNSUPPORTED);
  CHECK(nat__ip_rebind_loaded(syms, 1, NULL, NULL, NULL) == 0); /* no cb */
  uint32_t changed = 7;
  CHECK(nat__ip_restore_all(&changed) == 0 && changed == 0);
  CHECK(nat__ip_recorded() == 0);
  puts("ok");
  return 0;
}
