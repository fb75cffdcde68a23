/*
 * The interposer (src/interpose): rebinding the imports of real shared
 * objects loaded with dlopen. test/core/Makefile builds them into out/ip/
 * from test/core/interpose/: a provider (libnat_ipp.so) exporting
 * nat_ipp_add and nat_ipp_mul, and three consumers calling them, lazily
 * through the PLT (lazy: JUMP_SLOT in the writable .got.plt), bound at load
 * into RELRO (now: JUMP_SLOT, read-only after load) and without PLT
 * (noplt: GLOB_DAT, RELRO, also taking the function's address); plus an
 * object importing none of them (none) and a preload for the real node.
 *
 * Each test checks what a call through the consumer reaches, what the
 * reports say, and that the protection of every page of the consumer is
 * the same before and after (read from /proc/self/maps).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "check_util.h"
#include "nat_interpose.h"

#ifndef NAT_IP_DIR
#error "NAT_IP_DIR must name the directory of the test objects"
#endif

extern char** environ;

typedef int (*int2_fn)(int, int);

static int fake_add(int a, int b) { return a + b + 1000; }
static int fake_add2(int a, int b) { return a + b + 2000; }
static int fake_mul(int a, int b) { return a * b + 3000; }

static const nat_ip_sym_t syms[] = {{"nat_ipp_add", (void*)fake_add},
                                    {"nat_ipp_mul", (void*)fake_mul}};

/* ---- reports ---------------------------------------------------------- */

typedef struct {
  char path[512];
  nat_ip_status_t status;
  size_t nsyms;
  nat_ip_count_t counts[2];
  uint32_t rebound, already, skipped, failed, mprotects;
  int sys_errno;
} rep_t;

typedef struct {
  rep_t r[128];
  size_t n;
  size_t calls;
} reps_t;

static void collect(const nat_ip_report_t* r, void* ud) {
  reps_t* reps = ud;
  reps->calls++;
  ck_assert_uint_lt(reps->n, 128);
  rep_t* o = &reps->r[reps->n++];
  memset(o, 0, sizeof(*o));
  snprintf(o->path, sizeof(o->path), "%s", r->path ? r->path : "(null)");
  o->status = r->status;
  o->nsyms = r->nsyms;
  ck_assert_uint_le(r->nsyms, 2);
  if (r->nsyms > 0) memcpy(o->counts, r->counts, r->nsyms * sizeof(*r->counts));
  o->rebound = r->rebound;
  o->already = r->already;
  o->skipped = r->skipped;
  o->failed = r->failed;
  o->mprotects = r->mprotects;
  o->sys_errno = r->sys_errno;
}

/* The report of the object whose path ends with `suffix`; fails if none or
 * more than one. */
static const rep_t* rep_of(const reps_t* reps, const char* suffix) {
  const rep_t* found = NULL;
  size_t sl = strlen(suffix);
  for (size_t i = 0; i < reps->n; i++) {
    size_t pl = strlen(reps->r[i].path);
    if (pl >= sl && strcmp(reps->r[i].path + pl - sl, suffix) == 0) {
      ck_assert_msg(found == NULL, "two reports for %s", suffix);
      found = &reps->r[i];
    }
  }
  ck_assert_msg(found != NULL, "no report for %s", suffix);
  return found;
}

static size_t count_status(const reps_t* reps, nat_ip_status_t st) {
  size_t n = 0;
  for (size_t i = 0; i < reps->n; i++) n += reps->r[i].status == st;
  return n;
}

/* ---- objects ---------------------------------------------------------- */

#define LIB(name) NAT_IP_DIR "/libnat_ip" name ".so"

typedef struct {
  void* h;
  int2_fn add;
  int2_fn mul;
} consumer_t;

static consumer_t load(const char* path, int flags) {
  consumer_t c;
  c.h = dlopen(path, flags | RTLD_LOCAL);
  ck_assert_msg(c.h != NULL, "dlopen %s: %s", path, dlerror());
  c.add = (int2_fn)dlsym(c.h, "nat_ipc_add");
  c.mul = (int2_fn)dlsym(c.h, "nat_ipc_mul");
  ck_assert_ptr_nonnull(c.add);
  ck_assert_ptr_nonnull(c.mul);
  return c;
}

/* The real nat_ipp_add, as the provider exports it. */
static void* real_add(void) {
  void* h = dlopen(LIB("p"), RTLD_NOW | RTLD_NOLOAD);
  ck_assert_ptr_nonnull(h);
  void* f = dlsym(h, "nat_ipp_add");
  dlclose(h);
  ck_assert_ptr_nonnull(f);
  return f;
}

/* ---- page protection from /proc/self/maps ----------------------------- */

typedef struct {
  uintptr_t start[64];
  uintptr_t end[64];
  char perms[64][5];
  size_t n;
} maps_t;

/* The mappings of the file whose path ends with `suffix`. */
static void maps_of(const char* suffix, maps_t* m) {
  FILE* f = fopen("/proc/self/maps", "r");
  ck_assert_ptr_nonnull(f);
  char line[1024];
  m->n = 0;
  size_t sl = strlen(suffix);
  while (fgets(line, sizeof(line), f) != NULL) {
    size_t l = strlen(line);
    while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == ' ')) line[--l] = 0;
    if (l < sl || strcmp(line + l - sl, suffix) != 0) continue;
    ck_assert_uint_lt(m->n, 64);
    unsigned long s, e;
    char perms[5];
    ck_assert_int_eq(sscanf(line, "%lx-%lx %4s", &s, &e, perms), 3);
    m->start[m->n] = s;
    m->end[m->n] = e;
    memcpy(m->perms[m->n], perms, 5);
    m->n++;
  }
  fclose(f);
  ck_assert_uint_gt(m->n, 0);
}

static const char* perms_at(const maps_t* m, uintptr_t a) {
  for (size_t i = 0; i < m->n; i++)
    if (a >= m->start[i] && a < m->end[i]) return m->perms[i];
  return "none";
}

/* Every page of `a` has the same protection in `b` and the other way
 * round (the kernel may split or merge mappings; pages are what count). */
static void assert_same_prot(const maps_t* a, const maps_t* b) {
  long ps = sysconf(_SC_PAGESIZE);
  for (int dir = 0; dir < 2; dir++) {
    const maps_t* x = dir ? b : a;
    const maps_t* y = dir ? a : b;
    for (size_t i = 0; i < x->n; i++)
      for (uintptr_t p = x->start[i]; p < x->end[i]; p += (uintptr_t)ps)
        ck_assert_msg(strcmp(x->perms[i], perms_at(y, p)) == 0,
                      "page %#lx: %s before, %s after", (unsigned long)p,
                      dir ? perms_at(y, p) : x->perms[i],
                      dir ? x->perms[i] : perms_at(y, p));
  }
}

static size_t count_perm(const maps_t* m, const char* perms) {
  size_t n = 0;
  for (size_t i = 0; i < m->n; i++) n += strcmp(m->perms[i], perms) == 0;
  return n;
}

/* ---- child processes -------------------------------------------------- */

/* Runs path with argv and envp, its stdout into buf (NUL-terminated, at
 * most cap - 1 bytes kept); returns its wait status, its pid in *pid. */
static int run(const char* path, char* const argv[], char* const envp[],
               char* buf, size_t cap, pid_t* pid) {
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  int se = posix_spawn(pid, path, &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  ck_assert_msg(se == 0, "spawn %s: %s", path, strerror(se));
  size_t len = 0;
  char sink[256];
  for (;;) {
    char* dst = len < cap - 1 ? buf + len : sink;
    size_t room = len < cap - 1 ? cap - 1 - len : sizeof(sink);
    ssize_t r = read(fds[0], dst, room);
    if (r < 0 && errno == EINTR) continue;
    ck_assert_int_ge(r, 0);
    if (r == 0) break;
    if (dst != sink) len += (size_t)r;
  }
  buf[len] = '\0';
  close(fds[0]);
  int status;
  ck_assert_int_eq(waitpid(*pid, &status, 0), *pid);
  return status;
}

/* ---- fixture ---------------------------------------------------------- */

static void ip_setup(void) { ck_assert_uint_eq(nat__ip_recorded(), 0); }

/* Tests restore what they rebind; this catches one that did not (with
 * CK_FORK=no, under valgrind, the next test would otherwise inherit it). */
static void ip_teardown(void) {
  nat__ip_restore_all(NULL);
  ck_assert_uint_eq(nat__ip_recorded(), 0);
}

/* ---- tests ------------------------------------------------------------ */

START_TEST(interpose_supported) {
  ck_assert_int_eq(nat__ip_supported(), 1);
  ck_assert_str_eq(nat__ip_status_str(NAT_IP_OK),
                   "rebound: every matching import holds its replacement");
  ck_assert_str_eq(nat__ip_status_str(NAT_IP_NOT_FOUND),
                   "no such loaded object");
  ck_assert_str_eq(nat__ip_status_str(-1), "unknown status");
  ck_assert_str_eq(nat__ip_status_str(NAT_IP_BUSY + 1), "unknown status");
}
END_TEST

START_TEST(interpose_bad_args) {
  reps_t reps = {.n = 0};
  nat_ip_sym_t bad[2] = {{"nat_ipp_add", (void*)fake_add},
                         {"nat_ipp_add", (void*)fake_add2}};
  ck_assert_int_eq(nat__ip_rebind_loaded(NULL, 1, NULL, collect, &reps),
                   NAT_EINVAL);
  ck_assert_int_eq(nat__ip_rebind_loaded(bad, 2, NULL, collect, &reps),
                   NAT_EINVAL); /* a name twice */
  bad[1].name = NULL;
  ck_assert_int_eq(nat__ip_rebind_loaded(bad, 2, NULL, collect, &reps),
                   NAT_EINVAL);
  bad[1].name = "";
  ck_assert_int_eq(nat__ip_rebind_loaded(bad, 2, NULL, collect, &reps),
                   NAT_EINVAL);
  bad[1].name = "nat_ipp_mul";
  bad[1].replacement = NULL;
  ck_assert_int_eq(nat__ip_rebind_loaded(bad, 2, NULL, collect, &reps),
                   NAT_EINVAL);
  ck_assert_int_eq(nat__ip_rebind_object(NULL, NULL, syms, 2, NULL, collect,
                                         &reps),
                   NAT_EINVAL);
  ck_assert_int_eq(nat__ip_rebind_object(LIB("c_now"), NULL, bad, 2, NULL,
                                         collect, &reps),
                   NAT_EINVAL);
  /* A callback is never called when the arguments are refused. */
  ck_assert_uint_eq(reps.calls, 0);
  ck_assert_uint_eq(nat__ip_recorded(), 0);
}
END_TEST

/* Lazy binding: the slot still holds the PLT's resolver stub when it is
 * rebound; restoring puts the stub back and the next call resolves. */
START_TEST(interpose_lazy_jump_slot) {
  consumer_t c = load(LIB("c_lazy"), RTLD_LAZY);
  maps_t before, after;
  maps_of("/libnat_ipc_lazy.so", &before);
  reps_t reps = {.n = 0};
  ck_assert_int_eq(nat__ip_rebind_loaded(syms, 2, NULL, collect, &reps), 2);
  const rep_t* r = rep_of(&reps, "/libnat_ipc_lazy.so");
  ck_assert_int_eq(r->status, NAT_IP_OK);
  ck_assert_uint_eq(r->nsyms, 2);
  ck_assert_uint_eq(r->counts[0].rebound, 1);
  ck_assert_uint_eq(r->counts[1].rebound, 1);
  ck_assert_uint_eq(r->counts[0].glob_dat, 0);
  ck_assert_uint_eq(r->rebound, 2);
  ck_assert_uint_eq(r->already + r->skipped + r->failed, 0);
  ck_assert_uint_eq(r->mprotects, 0); /* .got.plt is writable */
  /* Never called: the original is the PLT stub inside the consumer, not
   * the provider's function. */
  ck_assert_ptr_nonnull(r->counts[0].original);
  ck_assert_ptr_ne(r->counts[0].original, real_add());
  Dl_info di;
  ck_assert_int_ne(dladdr(r->counts[0].original, &di), 0);
  ck_assert_ptr_nonnull(strstr(di.dli_fname, "libnat_ipc_lazy.so"));

  ck_assert_int_eq(c.add(2, 3), 1005);
  ck_assert_int_eq(c.mul(2, 3), 3006);
  maps_of("/libnat_ipc_lazy.so", &after);
  assert_same_prot(&before, &after);
  ck_assert_uint_eq(nat__ip_recorded(), 2);

  uint32_t changed = 99;
  ck_assert_int_eq(nat__ip_restore_all(&changed), 2);
  ck_assert_uint_eq(changed, 0);
  ck_assert_uint_eq(nat__ip_recorded(), 0);
  ck_assert_int_eq(c.add(2, 3), 5);
  ck_assert_int_eq(c.mul(2, 3), 6);
  dlclose(c.h);
}
END_TEST

/* BIND_NOW + RELRO: the slots are read-only; the store goes through an
 * mprotect and the page is read-only again afterwards. */
START_TEST(interpose_now_relro) {
  consumer_t c = load(LIB("c_now"), RTLD_NOW);
  ck_assert_int_eq(c.add(2, 3), 5);
  maps_t before, after;
  maps_of("/libnat_ipc_now.so", &before);
  /* The RELRO page exists and is read-only (r--p mappings: .rodata and
   * the RELRO part). */
  ck_assert_uint_ge(count_perm(&before, "r--p"), 2);
  reps_t reps = {.n = 0};
  ck_assert_int_eq(nat__ip_rebind_loaded(syms, 2, NULL, collect, &reps), 2);
  const rep_t* r = rep_of(&reps, "/libnat_ipc_now.so");
  ck_assert_int_eq(r->status, NAT_IP_OK);
  ck_assert_uint_eq(r->rebound, 2);
  ck_assert_uint_eq(r->counts[0].glob_dat, 0);
  ck_assert_uint_eq(r->mprotects, 2);
  /* Bound at load: the original is the provider's function. */
  ck_assert_ptr_eq(r->counts[0].original, real_add());
  maps_of("/libnat_ipc_now.so", &after);
  assert_same_prot(&before, &after);
  ck_assert_int_eq(c.add(2, 3), 1005);
  ck_assert_int_eq(c.mul(2, 3), 3006);

  ck_assert_int_eq(nat__ip_restore_all(NULL), 2);
  maps_of("/libnat_ipc_now.so", &after);
  assert_same_prot(&before, &after);
  ck_assert_int_eq(c.add(2, 3), 5);
  ck_assert_int_eq(c.mul(2, 3), 6);
  dlclose(c.h);
}
END_TEST

/* -fno-plt: calls and the taken address read a GLOB_DAT slot. */
START_TEST(interpose_noplt_glob_dat) {
  consumer_t c = load(LIB("c_noplt"), RTLD_NOW);
  int2_fn (*addr)(void) = (int2_fn(*)(void))dlsym(c.h, "nat_ipc_add_addr");
  ck_assert_ptr_nonnull(addr);
  ck_assert_ptr_eq((void*)addr(), real_add());
  maps_t before, after;
  maps_of("/libnat_ipc_noplt.so", &before);
  reps_t reps = {.n = 0};
  ck_assert_int_eq(nat__ip_rebind_loaded(syms, 2, NULL, collect, &reps), 2);
  const rep_t* r = rep_of(&reps, "/libnat_ipc_noplt.so");
  ck_assert_int_eq(r->status, NAT_IP_OK);
  /* One GOT entry per symbol serves the call and the address. */
  ck_assert_uint_eq(r->counts[0].rebound, 1);
  ck_assert_uint_eq(r->counts[0].glob_dat, 1);
  ck_assert_uint_eq(r->counts[1].glob_dat, 1);
  ck_assert_uint_ge(r->mprotects, 1);
  ck_assert_ptr_eq(r->counts[0].original, real_add());
  maps_of("/libnat_ipc_noplt.so", &after);
  assert_same_prot(&before, &after);
  ck_assert_int_eq(c.add(2, 3), 1005);
  ck_assert_int_eq(c.mul(2, 3), 3006);
  /* The address the consumer takes is the replacement's too. */
  ck_assert_ptr_eq((void*)addr(), (void*)fake_add);

  ck_assert_int_eq(nat__ip_restore_all(NULL), 2);
  ck_assert_int_eq(c.add(2, 3), 5);
  ck_assert_ptr_eq((void*)addr(), real_add());
  dlclose(c.h);
}
END_TEST

/* The main executable, the provider (which defines the symbols and calls
 * one through its own GOT) and an object importing none are left alone. */
START_TEST(interpose_untouched_objects) {
  consumer_t c = load(LIB("c_now"), RTLD_NOW);
  void* none = dlopen(LIB("n"), RTLD_NOW | RTLD_LOCAL);
  ck_assert_ptr_nonnull(none);
  void* prov = dlopen(LIB("p"), RTLD_NOW | RTLD_NOLOAD);
  ck_assert_ptr_nonnull(prov);
  int (*twice)(int) = (int (*)(int))dlsym(prov, "nat_ipp_twice");
  ck_assert_ptr_nonnull(twice);

  reps_t reps = {.n = 0};
  ck_assert_int_eq(nat__ip_rebind_loaded(syms, 2, NULL, collect, &reps), 2);
  ck_assert_uint_eq(reps.n, reps.calls);
  ck_assert_uint_eq(count_status(&reps, NAT_IP_MAIN), 1);
  ck_assert_str_eq(reps.r[0].path, ""); /* the main executable comes first */
  ck_assert_int_eq(reps.r[0].status, NAT_IP_MAIN);
  ck_assert_uint_eq(count_status(&reps, NAT_IP_OK), 1);
  ck_assert_int_eq(rep_of(&reps, "/libnat_ipn.so")->status, NAT_IP_NO_IMPORTS);
  ck_assert_uint_eq(rep_of(&reps, "/libnat_ipn.so")->rebound, 0);
  const rep_t* p = rep_of(&reps, "/libnat_ipp.so");
  ck_assert_int_eq(p->status, NAT_IP_NO_IMPORTS);
  ck_assert_uint_eq(p->rebound + p->already + p->skipped, 0);
  ck_assert_int_eq(twice(4), 8); /* its own call to nat_ipp_add is real */
  /* The vDSO, where the kernel maps one, is reported and skipped. */
  ck_assert_uint_le(count_status(&reps, NAT_IP_VDSO), 1);
  /* Every report has a path and, when looked into, per-symbol counts. */
  for (size_t i = 0; i < reps.n; i++)
    if (reps.r[i].status == NAT_IP_OK || reps.r[i].status == NAT_IP_NO_IMPORTS)
      ck_assert_uint_eq(reps.r[i].nsyms, 2);

  ck_assert_int_eq(c.add(2, 3), 1005);
  ck_assert_int_eq(nat__ip_restore_all(NULL), 2);
  dlclose(prov);
  dlclose(none);
  dlclose(c.h);
}
END_TEST

/* The object containing `self` is never rebound. */
START_TEST(interpose_self_skipped) {
  consumer_t self = load(LIB("c_lazy"), RTLD_LAZY);
  consumer_t other = load(LIB("c_now"), RTLD_NOW);
  reps_t reps = {.n = 0};
  ck_assert_int_eq(
      nat__ip_rebind_loaded(syms, 2, (const void*)self.add, collect, &reps),
      2);
  ck_assert_int_eq(rep_of(&reps, "/libnat_ipc_lazy.so")->status, NAT_IP_SELF);
  ck_assert_int_eq(rep_of(&reps, "/libnat_ipc_now.so")->status, NAT_IP_OK);
  ck_assert_int_eq(self.add(2, 3), 5);
  ck_assert_int_eq(other.add(2, 3), 1005);
  ck_assert_int_eq(nat__ip_restore_all(NULL), 2);
  dlclose(self.h);
  dlclose(other.h);
}
END_TEST

/* A second rebind changes nothing; rebinding to another replacement keeps
 * the first original, which restore puts back. */
START_TEST(interpose_idempotent) {
  consumer_t c = load(LIB("c_now"), RTLD_NOW);
  reps_t reps = {.n = 0};
  ck_assert_int_eq(nat__ip_rebind_loaded(syms, 2, NULL, collect, &reps), 2);
  maps_t before, after;
  maps_of("/libnat_ipc_now.so", &before);
  reps.n = 0;
  ck_assert_int_eq(nat__ip_rebind_loaded(syms, 2, NULL, collect, &reps), 0);
  const rep_t* r = rep_of(&reps, "/libnat_ipc_now.so");
  ck_assert_int_eq(r->status, NAT_IP_OK);
  ck_assert_uint_eq(r->rebound, 0);
  ck_assert_uint_eq(r->already, 2);
  ck_assert_uint_eq(r->mprotects, 0); /* nothing written */
  ck_assert_ptr_eq(r->counts[0].original, real_add());
  ck_assert_uint_eq(nat__ip_recorded(), 2);
  maps_of("/libnat_ipc_now.so", &after);
  assert_same_prot(&before, &after);
  ck_assert_int_eq(c.add(2, 3), 1005);

  nat_ip_sym_t other = {"nat_ipp_add", (void*)fake_add2};
  reps.n = 0;
  ck_assert_int_eq(nat__ip_rebind_loaded(&other, 1, NULL, collect, &reps), 1);
  ck_assert_ptr_eq(rep_of(&reps, "/libnat_ipc_now.so")->counts[0].original,
                   real_add());
  ck_assert_uint_eq(nat__ip_recorded(), 2);
  ck_assert_int_eq(c.add(2, 3), 2005);
  ck_assert_int_eq(nat__ip_restore_all(NULL), 2);
  ck_assert_int_eq(c.add(2, 3), 5);
  ck_assert_int_eq(c.mul(2, 3), 6);
  dlclose(c.h);
}
END_TEST

/* One object, by handle or by path; the others stay as they are. */
START_TEST(interpose_one_object) {
  consumer_t lazy = load(LIB("c_lazy"), RTLD_LAZY);
  consumer_t now = load(LIB("c_now"), RTLD_NOW);
  reps_t reps = {.n = 0};
  ck_assert_int_eq(
      nat__ip_rebind_object(NULL, now.h, syms, 2, NULL, collect, &reps), 2);
  ck_assert_uint_eq(reps.n, 1);
  ck_assert_int_eq(rep_of(&reps, "/libnat_ipc_now.so")->status, NAT_IP_OK);
  ck_assert_int_eq(now.add(2, 3), 1005);
  ck_assert_int_eq(lazy.add(2, 3), 5);

  reps.n = 0;
  ck_assert_int_eq(nat__ip_rebind_object(LIB("c_lazy"), NULL, syms, 2, NULL,
                                         collect, &reps),
                   2);
  ck_assert_uint_eq(reps.n, 1);
  ck_assert_int_eq(rep_of(&reps, "/libnat_ipc_lazy.so")->status, NAT_IP_OK);
  ck_assert_int_eq(lazy.add(2, 3), 1005);
  ck_assert_uint_eq(nat__ip_recorded(), 4);

  /* Its own object, by handle, is refused as self. */
  reps.n = 0;
  ck_assert_int_eq(nat__ip_rebind_object(NULL, now.h, syms, 2,
                                         (const void*)now.add, collect, &reps),
                   0);
  ck_assert_int_eq(reps.r[0].status, NAT_IP_SELF);

  /* Not loaded: NOT_FOUND, NAT_EINVAL. */
  reps.n = 0;
  ck_assert_int_eq(nat__ip_rebind_object(LIB("n"), NULL, syms, 2, NULL,
                                         collect, &reps),
                   NAT_EINVAL);
  ck_assert_uint_eq(reps.n, 1);
  ck_assert_int_eq(reps.r[0].status, NAT_IP_NOT_FOUND);
  ck_assert_ptr_null(dlopen(LIB("n"), RTLD_NOW | RTLD_NOLOAD)); /* not loaded
                                                                  by us */
  ck_assert_int_eq(nat__ip_restore_all(NULL), 4);
  ck_assert_int_eq(lazy.add(2, 3), 5);
  ck_assert_int_eq(now.add(2, 3), 5);
  dlclose(lazy.h);
  dlclose(now.h);
}
END_TEST

/* Restore leaves a slot alone that someone else changed since. */
START_TEST(interpose_restore_changed) {
  consumer_t c = load(LIB("c_lazy"), RTLD_LAZY);
  ck_assert_int_eq(nat__ip_rebind_loaded(syms, 2, NULL, NULL, NULL), 2);
  /* Find the add slot: the one word of the consumer's writable mapping
   * that holds fake_add. */
  maps_t m;
  maps_of("/libnat_ipc_lazy.so", &m);
  void** slot = NULL;
  for (size_t i = 0; i < m.n; i++) {
    if (m.perms[i][1] != 'w') continue;
    for (void** p = (void**)m.start[i]; p < (void**)m.end[i]; p++)
      if (*p == (void*)fake_add) {
        ck_assert_ptr_null(slot);
        slot = p;
      }
  }
  ck_assert_ptr_nonnull(slot);
  __atomic_store_n(slot, (void*)fake_add2, __ATOMIC_RELAXED);
  ck_assert_int_eq(c.add(2, 3), 2005);
  uint32_t changed = 0;
  ck_assert_int_eq(nat__ip_restore_all(&changed), 1); /* mul */
  ck_assert_uint_eq(changed, 1);                      /* add */
  ck_assert_int_eq(c.add(2, 3), 2005);
  ck_assert_int_eq(c.mul(2, 3), 6);
  ck_assert_uint_eq(nat__ip_recorded(), 0);
  dlclose(c.h);
}
END_TEST

/* Records of an object unloaded since are dropped, never written. */
START_TEST(interpose_unloaded) {
  consumer_t c = load(LIB("c_now"), RTLD_NOW);
  ck_assert_int_eq(nat__ip_rebind_loaded(syms, 2, NULL, NULL, NULL), 2);
  ck_assert_int_eq(dlclose(c.h), 0);
  ck_assert_ptr_null(dlopen(LIB("c_now"), RTLD_NOW | RTLD_NOLOAD));
  uint32_t changed = 99;
  ck_assert_int_eq(nat__ip_restore_all(&changed), 0);
  ck_assert_uint_eq(changed, 0);
  ck_assert_uint_eq(nat__ip_recorded(), 0);
  c = load(LIB("c_now"), RTLD_NOW);
  ck_assert_int_eq(c.add(2, 3), 5);

  /* A full rebind after an unload drops the stale records as well. */
  ck_assert_int_eq(nat__ip_rebind_loaded(syms, 2, NULL, NULL, NULL), 2);
  ck_assert_int_eq(dlclose(c.h), 0);
  ck_assert_int_eq(nat__ip_rebind_loaded(syms, 2, NULL, NULL, NULL), 0);
  ck_assert_uint_eq(nat__ip_recorded(), 0);
}
END_TEST

/* A relocation of another type naming a requested symbol (a function
 * pointer in data, R_X86_64_64) is counted as skipped, and the object
 * reported PARTIAL; its call slots are rebound all the same. */
START_TEST(interpose_other_reloc_skipped) {
  consumer_t c = load(LIB("c_table"), RTLD_LAZY);
  int2_fn tadd = (int2_fn)dlsym(c.h, "nat_ipc_table_add");
  ck_assert_ptr_nonnull(tadd);
  reps_t reps = {.n = 0};
  ck_assert_int_eq(nat__ip_rebind_loaded(syms, 2, NULL, collect, &reps), 2);
  const rep_t* r = rep_of(&reps, "/libnat_ipc_table.so");
  ck_assert_int_eq(r->status, NAT_IP_PARTIAL);
  ck_assert_uint_eq(r->counts[0].skipped, 1);
  ck_assert_uint_eq(r->counts[0].rebound, 1);
  ck_assert_uint_eq(r->counts[1].skipped, 0);
  ck_assert_uint_eq(r->skipped, 1);
  ck_assert_int_eq(c.add(2, 3), 1005);
  ck_assert_int_eq(tadd(2, 3), 5); /* the table still holds the real one */
  ck_assert_int_eq(nat__ip_restore_all(NULL), 2);
  dlclose(c.h);
}
END_TEST

/* mprotect refused (a hardened policy): the RELRO consumer is reported
 * NAT_IP_MPROTECT and left unchanged, writable ones are still rebound. Run
 * as its own program (test/core/interpose/mprotect_refused.c): it installs
 * a seccomp filter that must not reach this runner, and runs natively
 * under valgrind too. */
START_TEST(interpose_mprotect_refused) {
  char* argv[] = {NAT_IP_DIR "/ip_mprotect_refused", NAT_IP_DIR, NULL};
  char* envp[] = {NULL};
  char buf[64];
  pid_t pid;
  int status = run(argv[0], argv, envp, buf, sizeof(buf), &pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "ip_mprotect_refused failed (status %#x), see its stderr",
                status);
  ck_assert_str_eq(buf, "ok\n");
}
END_TEST

/*
 * A full rebind while another thread's dlopen is in progress: thread B
 * loads the ctor consumer, whose constructor (run by the dynamic linker
 * with its lock held) waits until this thread lets it go; thread C rebinds
 * meanwhile. C must wait for that dlopen to finish (its objects are held
 * first, see "Objects being loaded" in nat_interpose.h) and then rebind the
 * new object like any other: never touch an object mid-load, never report
 * it BUSY once its dlopen returned. Whether C reached the loader's lock
 * before B was let go is up to the scheduler (a short sleep makes it
 * likely); what is asserted holds either way.
 */
typedef struct {
  int fds_ready[2]; /* ctor -> test: in the constructor */
  int fds_go[2];    /* test -> ctor: return */
  void* h;
  uv_sem_t start_c;
  reps_t reps;
  int stored;
} dlopen_race_t;

static void race_b(void* arg) {
  dlopen_race_t* r = arg;
  r->h = dlopen(LIB("c_ctor"), RTLD_NOW | RTLD_LOCAL);
}

static void race_c(void* arg) {
  dlopen_race_t* r = arg;
  uv_sem_wait(&r->start_c);
  r->stored = nat__ip_rebind_loaded(syms, 2, NULL, collect, &r->reps);
}

START_TEST(interpose_dlopen_in_progress) {
  dlopen_race_t r;
  memset(&r, 0, sizeof(r));
  ck_assert_int_eq(pipe(r.fds_ready), 0);
  ck_assert_int_eq(pipe(r.fds_go), 0);
  char env[64];
  snprintf(env, sizeof(env), "%d,%d", r.fds_ready[1], r.fds_go[0]);
  ck_assert_int_eq(setenv("NAT_IPC_CTOR_FDS", env, 1), 0);
  ck_assert_int_eq(uv_sem_init(&r.start_c, 0), 0);
  /* Both threads exist before B takes the loader's lock. */
  uv_thread_t b, c;
  ck_assert_int_eq(uv_thread_create(&c, race_c, &r), 0);
  ck_assert_int_eq(uv_thread_create(&b, race_b, &r), 0);
  char byte;
  ck_assert_int_eq(read(r.fds_ready[0], &byte, 1), 1); /* B in the ctor */
  uv_sem_post(&r.start_c);
  uv_sleep(20);
  ck_assert_int_eq(write(r.fds_go[1], &byte, 1), 1);
  ck_assert_int_eq(uv_thread_join(&b), 0);
  ck_assert_int_eq(uv_thread_join(&c), 0);
  unsetenv("NAT_IPC_CTOR_FDS");
  ck_assert_ptr_nonnull(r.h);

  ck_assert_int_eq(count_status(&r.reps, NAT_IP_BUSY), 0);
  const rep_t* rep = rep_of(&r.reps, "/libnat_ipc_ctor.so");
  ck_assert_int_eq(rep->status, NAT_IP_OK);
  ck_assert_uint_eq(rep->rebound, 2);
  ck_assert_uint_ge(rep->mprotects, 1); /* its RELRO was in place */
  size_t sum = 0;
  for (size_t i = 0; i < r.reps.n; i++) sum += r.reps.r[i].rebound;
  ck_assert_int_eq(r.stored, (int)sum);
  int2_fn add = (int2_fn)dlsym(r.h, "nat_ipc_add");
  ck_assert_ptr_nonnull(add);
  ck_assert_int_eq(add(2, 3), 1005);
  ck_assert_int_eq(nat__ip_restore_all(NULL), r.stored);
  ck_assert_int_eq(add(2, 3), 5);
  dlclose(r.h);
  uv_sem_destroy(&r.start_c);
  for (int i = 0; i < 2; i++) {
    close(r.fds_ready[i]);
    close(r.fds_go[i]);
  }
}
END_TEST

/*
 * A thread calls through the slots of a lazy and a RELRO consumer in a loop
 * while this thread rebinds and restores. Every call must reach either the
 * real function or the replacement (a torn slot would crash or return
 * garbage), and a call made entirely after a rebind (restore) returned must
 * reach the replacement (the real function). The rounds are ordered by
 * what the caller observed, not by time: after each rebind the main thread
 * waits until the caller has seen the replacement through both, after each
 * restore the real function.
 *
 * Generations: odd while a rebind or restore is in progress (either result
 * is right), even when stable: replaced when gen % 4 == 2, real when
 * gen % 4 == 0.
 */
typedef struct {
  int2_fn add[2];
  int stop;
  uint64_t seen[2]; /* the last stable generation a right result was seen in */
  uint64_t gen;
  uint64_t bad;
  uint64_t calls;
} caller_t;

static void caller_main(void* arg) {
  caller_t* t = arg;
  int serialized = nat_check_serialized();
  while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
    /* Under valgrind (one thread at a time) the rebinding thread only
     * runs when this one gives the CPU up. */
    if (serialized) sched_yield();
    for (int i = 0; i < 2; i++) {
      /* The acquire loads order the call's read of the slot after the
       * rebind or restore that preceded generation g. */
      uint64_t g = __atomic_load_n(&t->gen, __ATOMIC_ACQUIRE);
      int v = t->add[i](2, 3);
      uint64_t g2 = __atomic_load_n(&t->gen, __ATOMIC_ACQUIRE);
      if (v != 5 && v != 1005) {
        t->bad++; /* neither: a torn slot */
      } else if (g == g2 && (g & 1) == 0) {
        if (v == (g % 4 == 2 ? 1005 : 5))
          __atomic_store_n(&t->seen[i], g, __ATOMIC_RELEASE);
        else
          t->bad++; /* stale */
      }
      t->calls++;
    }
  }
}

static void wait_seen(caller_t* t, uint64_t gen) {
  for (int i = 0; i < 2; i++)
    while (__atomic_load_n(&t->seen[i], __ATOMIC_ACQUIRE) < gen) uv_sleep(0);
}

START_TEST(interpose_threads) {
  consumer_t lazy = load(LIB("c_lazy"), RTLD_LAZY);
  consumer_t now = load(LIB("c_now"), RTLD_NOW);
  caller_t t;
  memset(&t, 0, sizeof(t));
  t.add[0] = lazy.add;
  t.add[1] = now.add;
  uv_thread_t th;
  ck_assert_int_eq(uv_thread_create(&th, caller_main, &t), 0);
  /* Under valgrind each rebind reads /proc/self/maps of a big process
   * slowly and the threads do not really overlap: a few rounds. */
  size_t rounds = nat_check_serialized() ? 20 : nat_check_scaled(300, 20);
  for (uint64_t r = 0; r < rounds; r++) {
    __atomic_store_n(&t.gen, 4 * r + 1, __ATOMIC_RELEASE);
    ck_assert_int_eq(nat__ip_rebind_loaded(syms, 2, NULL, NULL, NULL), 4);
    __atomic_store_n(&t.gen, 4 * r + 2, __ATOMIC_RELEASE);
    wait_seen(&t, 4 * r + 2);
    __atomic_store_n(&t.gen, 4 * r + 3, __ATOMIC_RELEASE);
    ck_assert_int_eq(nat__ip_restore_all(NULL), 4);
    __atomic_store_n(&t.gen, 4 * r + 4, __ATOMIC_RELEASE);
    wait_seen(&t, 4 * r + 4);
  }
  __atomic_store_n(&t.stop, 1, __ATOMIC_RELEASE);
  ck_assert_int_eq(uv_thread_join(&th), 0);
  ck_assert_uint_eq(t.bad, 0);
  ck_assert_uint_ge(t.calls, 4 * rounds);
  dlclose(lazy.h);
  dlclose(now.h);
}
END_TEST

/* The fallback of other platforms, built into its own program with
 * NAT_IP_FORCE_UNSUPPORTED (test/core/interpose/unsupported.c). */
START_TEST(interpose_unsupported_fallback) {
  char* argv[] = {NAT_IP_DIR "/ip_unsupported", NULL};
  char* envp[] = {NULL};
  char buf[64];
  pid_t pid;
  int status = run(argv[0], argv, envp, buf, sizeof(buf), &pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "ip_unsupported failed (status %#x), see its stderr", status);
  ck_assert_str_eq(buf, "ok\n");
}
END_TEST

/*
 * The real node binary: a preload (test/core/interpose/preload.c) rebinds
 * getpid and nat_ipp_add in every object node has loaded. node itself
 * imports getpid (process.pid comes from it): it must be reported as the
 * main executable and stay unpatched, the preload as self, the consumer it
 * loaded as rebound.
 */
START_TEST(interpose_node) {
#ifndef NAT_NODE
  ck_abort_msg("NAT_NODE (the node binary) is not set by the Makefile");
#else
  ck_assert_msg(NAT_NODE[0] != '\0', "no node binary found on PATH");
  char out[256];
  snprintf(out, sizeof(out), "%s/node-preload-%d.txt", NAT_IP_DIR,
           (int)getpid());
  char e_pre[512], e_out[512], e_con[512];
  snprintf(e_pre, sizeof(e_pre), "LD_PRELOAD=%s", LIB("_preload"));
  snprintf(e_out, sizeof(e_out), "NAT_IP_PRELOAD_OUT=%s", out);
  snprintf(e_con, sizeof(e_con), "NAT_IP_PRELOAD_CONSUMER=%s", LIB("c_now"));
  char* envp[] = {e_pre, e_out, e_con, "PATH=/usr/bin:/bin", NULL};
  char* argv[] = {NAT_NODE, "-e",
                  "process.stdout.write(String(process.pid))", NULL};
  char buf[64] = {0};
  pid_t pid;
  int status = run(NAT_NODE, argv, envp, buf, sizeof(buf), &pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "node failed: status %#x", status);
  /* node's own getpid slot was not rebound. */
  ck_assert_int_eq(atoi(buf), (int)pid);

  FILE* f = fopen(out, "r");
  ck_assert_msg(f != NULL, "the preload wrote no report (%s)", out);
  char line[1024];
  int main_seen = 0, self_seen = 0, consumer_ok = 0, add = 0, stored = -1;
  size_t objects = 0;
  while (fgets(line, sizeof(line), f) != NULL) {
    int st;
    unsigned reb, alr;
    char path[900];
    if (sscanf(line, "stored %d", &stored) == 1) continue;
    if (sscanf(line, "add %d", &add) == 1) continue;
    path[0] = 0;
    int k = sscanf(line, "%d %u %u %899s", &st, &reb, &alr, path);
    ck_assert_msg(k >= 3, "bad line: %s", line);
    objects++;
    if (st == NAT_IP_MAIN) {
      main_seen++;
      ck_assert_uint_eq(reb, 0);
    }
    if (st == NAT_IP_SELF) {
      self_seen++;
      ck_assert_ptr_nonnull(strstr(path, "libnat_ip_preload.so"));
    }
    if (strstr(path, "libnat_ipc_now.so") != NULL) {
      ck_assert_int_eq(st, NAT_IP_OK);
      ck_assert_uint_eq(reb, 1);
      consumer_ok = 1;
    }
    /* Nothing but the consumer imports nat_ipp_add, and libc defines
     * getpid: no other object has anything rebound. */
    if (strstr(path, "libnat_ipc_now.so") == NULL) ck_assert_uint_eq(reb, 0);
  }
  fclose(f);
  unlink(out);
  ck_assert_int_eq(main_seen, 1);
  ck_assert_int_eq(self_seen, 1);
  ck_assert_int_eq(consumer_ok, 1);
  ck_assert_int_eq(stored, 1);
  ck_assert_int_eq(add, 1005);
  ck_assert_uint_ge(objects, 5); /* node, libc, libstdc++, ... */
#endif
}
END_TEST

Suite* nat_interpose_suite(void) {
  Suite* s = suite_create("interpose");
  TCase* tc = tcase_create("interpose");
  tcase_add_checked_fixture(tc, ip_setup, ip_teardown);
  tcase_set_timeout(tc, NAT_CHECK_TIMEOUT);
  tcase_add_test(tc, interpose_supported);
  tcase_add_test(tc, interpose_bad_args);
  tcase_add_test(tc, interpose_lazy_jump_slot);
  tcase_add_test(tc, interpose_now_relro);
  tcase_add_test(tc, interpose_noplt_glob_dat);
  tcase_add_test(tc, interpose_untouched_objects);
  tcase_add_test(tc, interpose_self_skipped);
  tcase_add_test(tc, interpose_idempotent);
  tcase_add_test(tc, interpose_one_object);
  tcase_add_test(tc, interpose_restore_changed);
  tcase_add_test(tc, interpose_unloaded);
  tcase_add_test(tc, interpose_other_reloc_skipped);
  tcase_add_test(tc, interpose_mprotect_refused);
  tcase_add_test(tc, interpose_node);
  tcase_add_test(tc, interpose_unsupported_fallback);
  suite_add_tcase(s, tc);

  TCase* tt = tcase_create("interpose_threads");
  tcase_add_checked_fixture(tt, ip_setup, ip_teardown);
  tcase_set_timeout(tt, NAT_CHECK_THREAD_TIMEOUT);
  tcase_add_test(tt, interpose_threads);
  tcase_add_test(tt, interpose_dlopen_in_progress);
  suite_add_tcase(s, tt);
  return s;
}
