/*
 * What the replacements of wrap_work.c and wrap_tsfn.c share: the per-env
 * wrapper state, the handle map, the arena of wrapper objects, the sites of
 * unmodified addons and the dispatch of their callbacks.
 */
#define _GNU_SOURCE
#include <link.h>
#include <stdlib.h>
#include <string.h>

#include "nat_wrap.h"

_Atomic uint64_t nat__wrap_untraced = 0;
_Atomic int nat__wrap_node_scope_carries = 0;

/* ---- per-env state ------------------------------------------------------ */

static _Thread_local nat__wenv_t* tls_wenv = NULL;

static void wenv_free(nat__wenv_t* w) {
  free(w->works.keys);
  free(w->works.vals);
  free(w);
}

/* This addon's env cleanup hook: from here on the env may be gone, so the
 * objects that outlive it (Node finalizes threadsafe functions after the
 * hooks ran) must not touch JS or this addon's napi_env any more. */
static void wenv_cleanup(void* arg) {
  nat__wenv_t* w = arg;
  w->dead = 1;
  if (tls_wenv == w) tls_wenv = NULL;
  nat__wenv_unref(w); /* the env's own count */
}

nat__wenv_t* nat__wenv_current(void) {
  nat__wenv_t* w = tls_wenv;
  if (w != NULL) return w;
  nat__env_t* e = nat__env_current();
  if (e == NULL || e->closing) return NULL;
  w = calloc(1, sizeof(*w));
  if (w == NULL) return NULL;
  w->env = e->env;
  w->serial = e->serial;
  w->thread = uv_thread_self();
  atomic_init(&w->live, 1);
  if (napi_add_env_cleanup_hook(e->env, wenv_cleanup, w) != napi_ok) {
    free(w);
    return NULL;
  }
  tls_wenv = w;
  return w;
}

nat__wenv_t* nat__wenv_peek(void) { return tls_wenv; }

void nat__wenv_ref(nat__wenv_t* w) {
  atomic_fetch_add_explicit(&w->live, 1, memory_order_relaxed);
}

/* acq_rel: whoever frees w sees every write the others made to it before
 * they let go. */
void nat__wenv_unref(nat__wenv_t* w) {
  if (atomic_fetch_sub_explicit(&w->live, 1, memory_order_acq_rel) == 1)
    wenv_free(w);
}

/* ---- the handle map (linear probing, backward-shift deletion) ----------- */

static uint32_t wmap_hash(const void* key, uint32_t cap) {
  uint64_t k = (uint64_t)(uintptr_t)key;
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return (uint32_t)k & (cap - 1);
}

static int wmap_grow(nat__wmap_t* m) {
  uint32_t cap = m->cap ? m->cap * 2 : 64;
  void** keys = calloc(cap, sizeof(*keys));
  void** vals = calloc(cap, sizeof(*vals));
  if (keys == NULL || vals == NULL) {
    free(keys);
    free(vals);
    return NAT_ENOMEM;
  }
  for (uint32_t i = 0; i < m->cap; i++) {
    if (m->keys[i] == NULL) continue;
    uint32_t j = wmap_hash(m->keys[i], cap);
    while (keys[j] != NULL) j = (j + 1) & (cap - 1);
    keys[j] = m->keys[i];
    vals[j] = m->vals[i];
  }
  free(m->keys);
  free(m->vals);
  m->keys = keys;
  m->vals = vals;
  m->cap = cap;
  return 0;
}

int nat__wmap_reserve(nat__wmap_t* m) {
  if ((m->len + 1) * 2 > m->cap) return wmap_grow(m);
  return 0;
}

int nat__wmap_put(nat__wmap_t* m, void* key, void* val) {
  if (nat__wmap_reserve(m) != 0) return NAT_ENOMEM;
  uint32_t i = wmap_hash(key, m->cap);
  while (m->keys[i] != NULL && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
  if (m->keys[i] == NULL) m->len++;
  m->keys[i] = key;
  m->vals[i] = val;
  return 0;
}

void* nat__wmap_get(const nat__wmap_t* m, const void* key) {
  if (m->cap == 0 || key == NULL) return NULL;
  uint32_t i = wmap_hash(key, m->cap);
  while (m->keys[i] != NULL) {
    if (m->keys[i] == key) return m->vals[i];
    i = (i + 1) & (m->cap - 1);
  }
  return NULL;
}

void nat__wmap_del(nat__wmap_t* m, const void* key) {
  if (m->cap == 0 || key == NULL) return;
  uint32_t mask = m->cap - 1;
  uint32_t i = wmap_hash(key, m->cap);
  while (m->keys[i] != key) {
    if (m->keys[i] == NULL) return;
    i = (i + 1) & mask;
  }
  /* Shift later members of the probe run back so lookups never stop at
   * the hole too early. */
  uint32_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (m->keys[j] == NULL) break;
    uint32_t home = wmap_hash(m->keys[j], m->cap);
    /* Entry j may move to i when its home is not in (i, j] cyclically. */
    if ((j > i && (home <= i || home > j)) ||
        (j < i && (home <= i && home > j))) {
      m->keys[i] = m->keys[j];
      m->vals[i] = m->vals[j];
      i = j;
    }
  }
  m->keys[i] = NULL;
  m->vals[i] = NULL;
  m->len--;
}

/* ---- module names of shared objects ------------------------------------- */

/* Objects seen so far: the address range of their loaded segments and the
 * module name. Appended under a mutex, read without it (count published
 * with release after the entry is written). */
#define WMOD_MAX 256u
#define WMOD_NAME 96u

typedef struct {
  uintptr_t lo, hi;
  char name[WMOD_NAME];
} wmod_t;

static wmod_t wmods[WMOD_MAX];
static _Atomic uint32_t wmod_count = 0;
static uv_once_t wmod_once = UV_ONCE_INIT;
static uv_mutex_t wmod_mutex;

static void wmod_init(void) {
  if (uv_mutex_init(&wmod_mutex) != 0) abort();
}

/* The npm package a path belongs to (the last node_modules/<name> or
 * node_modules/@scope/<name>), with a platform suffix such as
 * -linux-x64-gnu dropped; else the file name up to its first dot. */
void nat__wrap_module_name(const char* path, char* out, size_t size) {
  const char* nm = NULL;
  for (const char* s = path; (s = strstr(s, "/node_modules/")) != NULL; s++)
    nm = s + sizeof("/node_modules/") - 1;
  size_t n = 0;
  const char* start;
  if (nm != NULL) {
    start = nm;
    const char* slash = strchr(nm, '/');
    if (slash != NULL && nm[0] == '@') slash = strchr(slash + 1, '/');
    n = slash != NULL ? (size_t)(slash - nm) : strlen(nm);
    static const char* const platforms[] = {"-linux-", "-darwin-", "-win32-",
                                            "-freebsd-", "-android-"};
    for (size_t i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++) {
      const char* p = strstr(start, platforms[i]);
      if (p != NULL && p < start + n) n = (size_t)(p - start);
    }
  } else {
    const char* base = strrchr(path, '/');
    start = base != NULL ? base + 1 : path;
    const char* dot = strchr(start, '.');
    n = dot != NULL ? (size_t)(dot - start) : strlen(start);
  }
  if (n == 0) {
    start = "addon";
    n = 5;
  }
  if (n >= size) n = size - 1;
  memcpy(out, start, n);
  out[n] = '\0';
}

typedef struct {
  uintptr_t addr;
  wmod_t found;
  int ok;
} wmod_find_t;

static int wmod_phdr_cb(struct dl_phdr_info* info, size_t size, void* arg) {
  (void)size;
  wmod_find_t* f = arg;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)* ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t s = info->dlpi_addr + ph->p_vaddr;
    if (s < lo) lo = s;
    if (s + ph->p_memsz > hi) hi = s + ph->p_memsz;
  }
  if (f->addr < lo || f->addr >= hi) return 0;
  f->found.lo = lo;
  f->found.hi = hi;
  nat__wrap_module_name(info->dlpi_name != NULL ? info->dlpi_name : "",
                   f->found.name, sizeof(f->found.name));
  f->ok = 1;
  return 1;
}

static const wmod_t* wmod_lookup(const void* addr) {
  uintptr_t a = (uintptr_t)addr;
  uint32_t n = atomic_load_explicit(&wmod_count, memory_order_acquire);
  for (uint32_t i = 0; i < n; i++)
    if (a >= wmods[i].lo && a < wmods[i].hi) return &wmods[i];
  uv_once(&wmod_once, wmod_init);
  wmod_find_t f = {a, {0, 0, {0}}, 0};
  dl_iterate_phdr(wmod_phdr_cb, &f);
  if (!f.ok) return NULL;
  const wmod_t* r = NULL;
  uv_mutex_lock(&wmod_mutex);
  n = atomic_load_explicit(&wmod_count, memory_order_relaxed);
  for (uint32_t i = 0; i < n && r == NULL; i++)
    if (a >= wmods[i].lo && a < wmods[i].hi) r = &wmods[i];
  if (r == NULL && n < WMOD_MAX) {
    wmods[n] = f.found;
    atomic_store_explicit(&wmod_count, n + 1, memory_order_release);
    r = &wmods[n];
  }
  uv_mutex_unlock(&wmod_mutex);
  return r;
}

int nat__wrap_module(const void* addr, char* buf, size_t size) {
  const wmod_t* m = wmod_lookup(addr);
  const char* name = m != NULL ? m->name : "";
  size_t n = strlen(name);
  if (size == 0) return NAT_EINVAL;
  if (n >= size) n = size - 1;
  memcpy(buf, name, n);
  buf[n] = '\0';
  return (int)n;
}

/*
 * The last sites made, per JS thread: an addon creates its objects from a
 * few call sites with a few names, so the module lookup, the name's
 * rewriting and the interning (a mutex) are done once per (caller, name)
 * rather than per object (about 900 instructions of each classic-level
 * get, callgrind). Sites are process-wide and never renamed, so an entry
 * stays true. JS thread (thread-local).
 */
#define WSITE_CACHE 8u

typedef struct {
  const void* caller;
  uint32_t site;
  uint32_t len; /* of name */
  char name[48];
} wsite_entry_t;

static _Thread_local wsite_entry_t tls_sites[WSITE_CACHE];
static _Thread_local uint32_t tls_sites_next;

uint32_t nat__wrap_site(const void* caller, napi_env env, napi_value name,
                        const char* fallback) {
  char kind[NAT_SITE_NAME_MAX + 1];
  size_t kind_len = 0;
  napi_valuetype t;
  /* Only a string is read: coercing another value would run its JS
   * (toString) a second time. */
  if (name == NULL || napi_typeof(env, name, &t) != napi_ok ||
      t != napi_string ||
      napi_get_value_string_utf8(env, name, kind, sizeof(kind), &kind_len) !=
          napi_ok ||
      kind_len == 0) {
    kind_len = strlen(fallback);
    if (kind_len > sizeof(kind) - 1) kind_len = sizeof(kind) - 1;
    memcpy(kind, fallback, kind_len);
  }
  for (uint32_t i = 0; i < WSITE_CACHE; i++) {
    const wsite_entry_t* c = &tls_sites[i];
    if (c->caller == caller && c->site != 0 && c->len == kind_len &&
        memcmp(c->name, kind, kind_len) == 0)
      return c->site;
  }
  char buf[NAT_SITE_NAME_MAX + 1];
  const wmod_t* m = wmod_lookup(caller);
  const char* mod = m != NULL ? m->name : "addon";
  size_t mlen = strlen(mod);
  size_t n = mlen;
  memcpy(buf, mod, n);
  buf[n++] = ':';
  size_t take = kind_len < sizeof(buf) - n - 1 ? kind_len : sizeof(buf) - n - 1;
  /* Cut a name too long for the site at a character boundary, as Node-API
   * cuts a string too long for its buffer. */
  if (take < kind_len)
    while (take > 0 && ((unsigned char)kind[take] & 0xc0) == 0x80) take--;
  memcpy(buf + n, kind, take);
  n += take;
  /* A NUL inside the name ends it. */
  n = strnlen(buf, n);
  /* A name that already says its module (bcrypt's "bcrypt:SaltAsyncWorker")
   * is taken as is. */
  if (n > 2 * (mlen + 1) && memcmp(buf + mlen + 1, buf, mlen + 1) == 0) {
    memmove(buf, buf + mlen + 1, n - (mlen + 1));
    n -= mlen + 1;
  }
  int32_t site = nat__site_intern(buf, n);
  if (site <= 0) return 0;
  if (kind_len <= sizeof(tls_sites[0].name)) {
    wsite_entry_t* c = &tls_sites[tls_sites_next++ % WSITE_CACHE];
    c->caller = caller;
    c->site = (uint32_t)site;
    c->len = (uint32_t)kind_len;
    memcpy(c->name, kind, kind_len);
  }
  return (uint32_t)site;
}

/* The async_hooks type of site's contexts: the site name. The name's
 * bytes are kept per JS thread for the last few sites (copying it out of
 * the site table takes the site mutex); nat__async_open_owned makes the
 * JS string (Latin-1 when ASCII). (Strings cannot be referenced before
 * Node-API 10, and keeping them in a JS array cost more per lookup, 615
 * instructions, than making one, 330.) JS thread. */
#define WTYPE_CACHE 4u

typedef struct {
  uint32_t site;
  uint32_t len;
  char name[NAT_SITE_NAME_MAX + 1];
} wtype_entry_t;

static _Thread_local wtype_entry_t tls_types[WTYPE_CACHE];
static _Thread_local uint32_t tls_types_next;

static const wtype_entry_t* wrap_type_name(uint32_t site) {
  for (uint32_t i = 0; i < WTYPE_CACHE; i++)
    if (site != 0 && tls_types[i].site == site) return &tls_types[i];
  wtype_entry_t* n = &tls_types[tls_types_next++ % WTYPE_CACHE];
  int len = site != 0 ? nat__site_name(site, n->name, sizeof(n->name)) : 0;
  if (len <= 0) {
    len = (int)sizeof("napi-async-trace:work") - 1;
    memcpy(n->name, "napi-async-trace:work", (size_t)len + 1);
    site = 0; /* never matches: the fallback is not cached */
  }
  n->site = site;
  n->len = (uint32_t)len;
  return n;
}

int nat__wrap_async_open(nat__wenv_t* w, uint32_t site, nat__async_t* a) {
  const wtype_entry_t* t = wrap_type_name(site);
  return nat__async_open_owned(w->env, t->name, t->len, a);
}

/* ---- dispatch ----------------------------------------------------------- */

void nat__wrap_dispatch(nat__wenv_t* w, napi_env addon_env, uint32_t site,
                        uint64_t ready_id, uint64_t link_id, int frame,
                        const nat__async_t* a, void (*fn)(void*), void* arg) {
  napi_env env = w->env;
  nat__dispatch(env, site, ready_id, link_id, frame, a, fn, arg);
  /* The addon's own exceptions (napi_throw, a JS callback that threw) are
   * parked in the addon's env by Node-API, where Node's scope around the
   * addon's callback finds them as if there were no wrapper. An exception
   * parked in this addon's env by the dispatch itself would surface at the
   * next unrelated call into this addon: hand it to the addon's env (unless
   * that already holds one), so it is reported where the callback ran. */
  bool pending = false;
  napi_value exc;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exc) == napi_ok &&
      napi_is_exception_pending(addon_env, &pending) == napi_ok && !pending)
    napi_throw(addon_env, exc);
}

/* ---- the table the interposer binds ------------------------------------- */

const nat__wrap_entry_t nat__wrap_table[] = {
    {"napi_create_async_work", (void*)nat__wrap_create_async_work},
    {"napi_queue_async_work", (void*)nat__wrap_queue_async_work},
    {"napi_delete_async_work", (void*)nat__wrap_delete_async_work},
    {"napi_create_threadsafe_function",
     (void*)nat__wrap_create_threadsafe_function},
    {"napi_call_threadsafe_function",
     (void*)nat__wrap_call_threadsafe_function},
    {"napi_get_threadsafe_function_context",
     (void*)nat__wrap_get_threadsafe_function_context},
    {NULL, NULL}};
