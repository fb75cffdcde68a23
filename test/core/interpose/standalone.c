/*
 * The interposer's test without Check or libuv, for targets where those are
 * not at hand: scripts/test-arm64-interpose.sh cross-compiles it with the
 * test objects for aarch64 and runs it under qemu-user; it builds and runs
 * natively as well. The same properties as test/core/check_interpose.c, in
 * short: lazy PLT (JUMP_SLOT), BIND_NOW + RELRO and -fno-plt (GLOB_DAT)
 * consumers reach the replacement after a rebind and the real function
 * after restore, RELRO pages keep their protection, a second rebind writes
 * nothing, the main executable, the provider and an object without imports
 * are left alone, one object can be rebound by handle, a function pointer
 * in data is counted as skipped, and a thread calling
 * through the slots during rebind/restore only ever reaches one of the two.
 *
 * Usage: ip_standalone <directory of the test objects>. Prints one line per
 * check that fails and exits 1; prints "ok N checks" and exits 0 otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nat_interpose.h"

static int failures;
static int checks;

#define CHECK(expr)                                                     \
  do {                                                                  \
    checks++;                                                           \
    if (!(expr)) {                                                      \
      failures++;                                                       \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
              #expr);                                                   \
    }                                                                   \
  } while (0)

#define CHECK_EQ(a, b)                                                     \
  do {                                                                     \
    long long a_ = (long long)(a), b_ = (long long)(b);                    \
    checks++;                                                              \
    if (a_ != b_) {                                                        \
      failures++;                                                          \
      fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n",    \
              __FILE__, __LINE__, #a, #b, a_, b_);                         \
    }                                                                      \
  } while (0)

typedef int (*int2_fn)(int, int);

static int fake_add(int a, int b) { return a + b + 1000; }
static int fake_mul(int a, int b) { return a * b + 3000; }

static const nat_ip_sym_t syms[] = {{"nat_ipp_add", (void*)fake_add},
                                    {"nat_ipp_mul", (void*)fake_mul}};

static const char* dir;

/* ---- reports: the last one per path suffix ---------------------------- */

typedef struct {
  char path[512];
  int status;
  uint32_t rebound, already, skipped, mprotects, glob_dat;
  void* original;
} rep_t;

typedef struct {
  rep_t r[128];
  int n;
} reps_t;

static void collect(const nat_ip_report_t* r, void* ud) {
  reps_t* reps = ud;
  if (reps->n == 128) return;
  rep_t* o = &reps->r[reps->n++];
  snprintf(o->path, sizeof(o->path), "%s", r->path ? r->path : "");
  o->status = (int)r->status;
  o->rebound = r->rebound;
  o->already = r->already;
  o->skipped = r->skipped;
  o->mprotects = r->mprotects;
  o->glob_dat = r->nsyms > 0 ? r->counts[0].glob_dat : 0;
  o->original = r->nsyms > 0 ? r->counts[0].original : NULL;
}

/* The sum of `rebound` over every report: what the call returned. Objects
 * of earlier tests count too where dlclose does not unload (musl). */
static long sum_rebound(const reps_t* reps) {
  long n = 0;
  for (int i = 0; i < reps->n; i++) n += reps->r[i].rebound;
  return n;
}

static const rep_t* rep_of(const reps_t* reps, const char* suffix) {
  size_t sl = strlen(suffix);
  for (int i = 0; i < reps->n; i++) {
    size_t pl = strlen(reps->r[i].path);
    if (pl >= sl && strcmp(reps->r[i].path + pl - sl, suffix) == 0)
      return &reps->r[i];
  }
  static rep_t none = {.status = -1};
  fprintf(stderr, "no report for %s\n", suffix);
  return &none;
}

/* ---- objects ---------------------------------------------------------- */

typedef struct {
  void* h;
  int2_fn add;
  int2_fn mul;
} consumer_t;

static consumer_t load(const char* name, int flags) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/libnat_ip%s.so", dir, name);
  consumer_t c = {dlopen(path, flags | RTLD_LOCAL), NULL, NULL};
  if (c.h == NULL) {
    fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
    exit(1);
  }
  c.add = (int2_fn)dlsym(c.h, "nat_ipc_add");
  c.mul = (int2_fn)dlsym(c.h, "nat_ipc_mul");
  if (c.add == NULL || c.mul == NULL) {
    fprintf(stderr, "dlsym in %s failed\n", path);
    exit(1);
  }
  return c;
}

/* The protections of the mappings of `suffix`, concatenated in order. */
static void prot_string(const char* suffix, char* out, size_t cap) {
  FILE* f = fopen("/proc/self/maps", "r");
  char line[1024];
  size_t n = 0, sl = strlen(suffix);
  out[0] = 0;
  if (f == NULL) return;
  while (fgets(line, sizeof(line), f) != NULL) {
    size_t l = strlen(line);
    while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == ' ')) line[--l] = 0;
    if (l < sl || strcmp(line + l - sl, suffix) != 0) continue;
    char* sp = strchr(line, ' ');
    if (sp == NULL || n + 6 >= cap) continue;
    memcpy(out + n, sp + 1, 4);
    out[n + 4] = ',';
    n += 5;
    out[n] = 0;
  }
  fclose(f);
}

/* ---- tests ------------------------------------------------------------ */

static void test_kind(const char* name, int flags, int glob_dat,
                      int relro) {
  consumer_t c = load(name, flags);
  char suffix[64], before[256], after[256];
  snprintf(suffix, sizeof(suffix), "/libnat_ip%s.so", name);
  prot_string(suffix, before, sizeof(before));
  CHECK(before[0] != 0);
  reps_t reps = {.n = 0};
  int stored = nat__ip_rebind_loaded(syms, 2, NULL, collect, &reps);
  CHECK(stored >= 2);
  CHECK_EQ(stored, sum_rebound(&reps));
  const rep_t* r = rep_of(&reps, suffix);
  CHECK_EQ(r->status, NAT_IP_OK);
  CHECK_EQ(r->rebound, 2);
  CHECK_EQ(r->glob_dat, glob_dat);
#ifdef NAT_IP_TEST_NO_MAPS
  /* Without /proc/self/maps every store is between two mprotects. */
  (void)relro;
  CHECK_EQ(r->mprotects, 2);
#else
  CHECK(relro ? r->mprotects > 0 : r->mprotects == 0);
#endif
  prot_string(suffix, after, sizeof(after));
  CHECK(strcmp(before, after) == 0);
  CHECK_EQ(c.add(2, 3), 1005);
  CHECK_EQ(c.mul(2, 3), 3006);
  /* Idempotent. */
  reps.n = 0;
  CHECK_EQ(nat__ip_rebind_loaded(syms, 2, NULL, collect, &reps), 0);
  CHECK_EQ(rep_of(&reps, suffix)->already, 2);
  /* Restored. */
  CHECK_EQ(nat__ip_restore_all(NULL), stored);
  CHECK_EQ(nat__ip_recorded(), 0);
  prot_string(suffix, after, sizeof(after));
  CHECK(strcmp(before, after) == 0);
  CHECK_EQ(c.add(2, 3), 5);
  CHECK_EQ(c.mul(2, 3), 6);
  dlclose(c.h);
}

static void test_untouched(void) {
  consumer_t c = load("c_now", RTLD_NOW);
  consumer_t self = load("c_lazy", RTLD_LAZY);
  char path[1024];
  snprintf(path, sizeof(path), "%s/libnat_ipn.so", dir);
  void* none = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  CHECK(none != NULL);
  snprintf(path, sizeof(path), "%s/libnat_ipp.so", dir);
  void* prov = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  CHECK(prov != NULL);
  int (*twice)(int) = prov ? (int (*)(int))dlsym(prov, "nat_ipp_twice") : NULL;
  reps_t reps = {.n = 0};
  int stored = nat__ip_rebind_loaded(syms, 2, (const void*)self.add,
                                     collect, &reps);
  CHECK(stored >= 2);
  CHECK_EQ(stored, sum_rebound(&reps));
  CHECK_EQ(rep_of(&reps, "/libnat_ipc_now.so")->rebound, 2);
  CHECK(reps.n > 0 && reps.r[0].status == NAT_IP_MAIN);
  CHECK_EQ(rep_of(&reps, "/libnat_ipc_lazy.so")->status, NAT_IP_SELF);
  CHECK_EQ(rep_of(&reps, "/libnat_ipn.so")->status, NAT_IP_NO_IMPORTS);
  CHECK_EQ(rep_of(&reps, "/libnat_ipp.so")->status, NAT_IP_NO_IMPORTS);
  CHECK(twice != NULL && twice(4) == 8);
  CHECK_EQ(self.add(2, 3), 5);
  CHECK_EQ(c.add(2, 3), 1005);
  CHECK_EQ(nat__ip_restore_all(NULL), stored);
  CHECK_EQ(c.add(2, 3), 5);

  /* One object by handle; the other stays as it is. */
  reps.n = 0;
  CHECK_EQ(nat__ip_rebind_object(NULL, self.h, syms, 2, NULL, collect, &reps),
           2);
  CHECK_EQ(reps.n, 1);
  CHECK_EQ(self.add(2, 3), 1005);
  CHECK_EQ(c.add(2, 3), 5);
  CHECK_EQ(nat__ip_restore_all(NULL), 2);
  CHECK_EQ(self.add(2, 3), 5);
  if (prov) dlclose(prov);
  if (none) dlclose(none);
  dlclose(self.h);
  dlclose(c.h);
}

/* A function pointer in data (R_X86_64_64 / R_AARCH64_ABS64) is skipped
 * and counted; the call slots are rebound. */
static void test_table(void) {
  consumer_t c = load("c_table", RTLD_LAZY);
  int2_fn tadd = (int2_fn)dlsym(c.h, "nat_ipc_table_add");
  CHECK(tadd != NULL);
  reps_t reps = {.n = 0};
  int stored = nat__ip_rebind_loaded(syms, 2, NULL, collect, &reps);
  CHECK_EQ(stored, sum_rebound(&reps));
  const rep_t* r = rep_of(&reps, "/libnat_ipc_table.so");
  CHECK_EQ(r->status, NAT_IP_PARTIAL);
  CHECK_EQ(r->skipped, 1);
  CHECK_EQ(c.add(2, 3), 1005);
  CHECK(tadd != NULL && tadd(2, 3) == 5);
  CHECK_EQ(rep_of(&reps, "/libnat_ipc_table.so")->rebound, 2);
  CHECK_EQ(nat__ip_restore_all(NULL), stored);
  dlclose(c.h);
}

/* See interpose_threads in check_interpose.c for the generations. */
typedef struct {
  int2_fn add[2];
  int stop;
  uint64_t seen[2];
  uint64_t gen;
  uint64_t bad;
} caller_t;

static void* caller_main(void* arg) {
  caller_t* t = arg;
  while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
    for (int i = 0; i < 2; i++) {
      uint64_t g = __atomic_load_n(&t->gen, __ATOMIC_ACQUIRE);
      int v = t->add[i](2, 3);
      uint64_t g2 = __atomic_load_n(&t->gen, __ATOMIC_ACQUIRE);
      if (v != 5 && v != 1005) {
        __atomic_fetch_add(&t->bad, 1, __ATOMIC_RELAXED);
      } else if (g == g2 && (g & 1) == 0) {
        if (v == (g % 4 == 2 ? 1005 : 5))
          __atomic_store_n(&t->seen[i], g, __ATOMIC_RELEASE);
        else
          __atomic_fetch_add(&t->bad, 1, __ATOMIC_RELAXED);
      }
    }
  }
  return NULL;
}

static void wait_seen(caller_t* t, uint64_t gen) {
  for (int i = 0; i < 2; i++)
    while (__atomic_load_n(&t->seen[i], __ATOMIC_ACQUIRE) < gen) sched_yield();
}

static void test_threads(int rounds) {
  consumer_t lazy = load("c_lazy", RTLD_LAZY);
  consumer_t now = load("c_noplt", RTLD_NOW);
  caller_t t;
  memset(&t, 0, sizeof(t));
  t.add[0] = lazy.add;
  t.add[1] = now.add;
  /* Every object loaded with a slot for the names: 4 where the earlier
   * tests' objects were unloaded, more where dlclose keeps them (musl).
   * Counted before the caller starts, which expects the real function in
   * generation 0. */
  int expect = nat__ip_rebind_loaded(syms, 2, NULL, NULL, NULL);
  CHECK(expect >= 4);
  int ok = nat__ip_restore_all(NULL) == expect;
  pthread_t th;
  CHECK_EQ(pthread_create(&th, NULL, caller_main, &t), 0);
  for (uint64_t r = 0; r < (uint64_t)rounds && ok; r++) {
    __atomic_store_n(&t.gen, 4 * r + 1, __ATOMIC_RELEASE);
    ok &= nat__ip_rebind_loaded(syms, 2, NULL, NULL, NULL) == expect;
    __atomic_store_n(&t.gen, 4 * r + 2, __ATOMIC_RELEASE);
    wait_seen(&t, 4 * r + 2);
    __atomic_store_n(&t.gen, 4 * r + 3, __ATOMIC_RELEASE);
    ok &= nat__ip_restore_all(NULL) == expect;
    __atomic_store_n(&t.gen, 4 * r + 4, __ATOMIC_RELEASE);
    wait_seen(&t, 4 * r + 4);
  }
  CHECK(ok);
  __atomic_store_n(&t.stop, 1, __ATOMIC_RELEASE);
  pthread_join(th, NULL);
  CHECK_EQ(t.bad, 0);
  dlclose(lazy.h);
  dlclose(now.h);
}

static void never_called(void) { abort(); }

/* Addons built the old way (node-addon-api's NODE_API_MODULE on some
 * versions, e.g. bcrypt) register from a constructor at dlopen: this
 * program stands in for node there with a registration that does nothing
 * (exported with -rdynamic by scripts/test-arm64-interpose.sh). */
void napi_module_register(void* mod);
void napi_module_register(void* mod) { (void)mod; }

static void print_report(const nat_ip_report_t* r, void* ud) {
  int* ok = ud;
  if (r->status != NAT_IP_OK && r->status != NAT_IP_PARTIAL &&
      r->status != NAT_IP_MPROTECT)
    return;
  unsigned glob_dat = 0;
  for (size_t i = 0; i < r->nsyms; i++) glob_dat += r->counts[i].glob_dat;
  printf("%s: %s; rebound %u (GLOB_DAT %u), skipped %u, failed %u, "
         "mprotects %u\n",
         r->path, nat__ip_status_str(r->status), r->rebound, glob_dat,
         r->skipped, r->failed, r->mprotects);
  if (r->status == NAT_IP_OK && r->rebound > 0) (*ok)++;
}

/*
 * ip_standalone --object <file> <name,name,...>: loads a real object (a
 * prebuilt addon; RTLD_LAZY, so its Node-API imports stay unresolved
 * until called, and nothing calls them), rebinds the names to a function
 * that aborts, prints what was rebound, restores. Exits 0 when exactly
 * that object was rebound and everything was restored.
 */
static int object_mode(const char* file, char* names) {
  void* h = dlopen(file, RTLD_LAZY | RTLD_LOCAL);
  if (h == NULL) {
    fprintf(stderr, "dlopen %s: %s\n", file, dlerror());
    return 1;
  }
  nat_ip_sym_t syms[64];
  size_t n = 0;
  for (char* t = strtok(names, ","); t != NULL && n < 64; t = strtok(NULL, ","))
    syms[n++] = (nat_ip_sym_t){t, (void*)never_called};
  int ok = 0;
  int stored = nat__ip_rebind_loaded(syms, n, NULL, print_report, &ok);
  int restored = nat__ip_restore_all(NULL);
  printf("stored %d, restored %d\n", stored, restored);
  return ok == 1 && stored > 0 && restored == stored ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "--object") == 0)
    return object_mode(argv[2], argv[3]);
  if (argc != 2) {
    fprintf(stderr,
            "usage: %s <directory of the test objects>\n"
            "       %s --object <file> <name,name,...>\n",
            argv[0], argv[0]);
    return 2;
  }
  dir = argv[1];
  CHECK_EQ(nat__ip_supported(), 1);
  test_kind("c_lazy", RTLD_LAZY, 0, 0);
  test_kind("c_now", RTLD_NOW, 0, 1);
  test_kind("c_noplt", RTLD_NOW, 1, 1);
  test_untouched();
  test_table();
  test_threads(100);
  if (failures > 0) {
    fprintf(stderr, "%d of %d checks failed\n", failures, checks);
    return 1;
  }
  printf("ok %d checks\n", checks);
  return 0;
}
