/*
 * The arena of the zero-code wrappers' objects (src/napi/wrap*.c): fixed
 * slots that any thread can take, give back and ask about. Pure C over
 * libuv and pthreads, so the Check suites run it under ThreadSanitizer.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <uv.h>

#include "nat_warena.h"

/*
 * One range of address space, reserved (PROT_NONE, no memory behind it) on
 * first use and made readable and writable a chunk at a time as the arena
 * grows; it is never given back. So "is p one of ours" is a subtraction and
 * a compare against the committed length, with no lock and no lookup, and
 * it never reads memory that is not ours. (The chunk-base set this
 * replaces cost a probe per question: about 4% of a tsfn stream.)
 *
 * Slots move between threads through per-thread caches: a thread takes and
 * gives back slots in its own cache without a lock; a cache that grows past
 * 2 x WCACHE_BATCH hands WCACHE_BATCH slots to the shared list, and an
 * empty one takes up to WCACHE_BATCH from it (or carves fresh ones), each
 * under warena_mutex: one lock per WCACHE_BATCH slots in the steady state
 * of a threadsafe function fed from a native thread (the producer takes,
 * the JS thread gives back), where a lock per take and per give-back made
 * the two threads wake each other through the futex (about 6% of that
 * stream, perf). A thread's cache goes back to the shared list when the
 * thread ends (a pthread key destructor), so threads that come and go
 * leave nothing behind.
 *
 * Ordering: warena_top is stored with release after the pages below it
 * were made accessible, and loaded with acquire before a slot's kind is
 * read, so a reader never touches a page that is not yet mapped. A slot's
 * kind is written with release after its fields and read with acquire.
 */
#define WARENA_RESERVE ((size_t)128u << 20) /* 1M slots at most */
#define WARENA_GROW ((size_t)256u << 10)    /* committed per growth */
#define WCACHE_BATCH 64u

typedef struct wfree_s {
  _Atomic uint32_t kind;
  struct wfree_s* next;
} wfree_t;

typedef struct {
  wfree_t* head;
  uint32_t n;
  int registered; /* with warena_key, for the flush at thread exit */
} wcache_t;

static uv_once_t warena_once = UV_ONCE_INIT;
static uv_mutex_t warena_mutex; /* guards wfree, the bump and growth */
static pthread_key_t warena_key;
static int warena_key_ok = 0;          /* written once, in warena_init */
static char* warena_base = NULL;       /* written once, in warena_init */
static _Atomic size_t warena_top = 0;  /* bytes committed from the base */
static size_t warena_bump = 0;         /* bytes ever handed out */
static wfree_t* wfree = NULL;          /* the shared list */
static _Thread_local wcache_t tls_wcache = {NULL, 0, 0};

static void wcache_flush(void* arg);


static void warena_init(void) {
  /* Without the mutex or the reservation the arena stays empty: every get
   * fails and the callers pass through untraced (counted). Without the
   * key (all pthread keys taken), caches are not flushed at thread exit:
   * a thread that ends keeps at most 2 x WCACHE_BATCH slots. */
  if (uv_mutex_init(&warena_mutex) != 0) return;
  warena_key_ok = pthread_key_create(&warena_key, wcache_flush) == 0;
  void* p = mmap(NULL, WARENA_RESERVE, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p != MAP_FAILED) warena_base = p;
}

/* The first time a thread's cache holds anything, it is registered for the
 * flush at exit (a non-NULL key value is what makes the destructor run). */
static void wcache_register(wcache_t* c) {
  uv_once(&warena_once, warena_init);
  c->registered = 1; /* tried once per thread either way */
  if (warena_key_ok) pthread_setspecific(warena_key, c);
}

/* Gives a whole cache back to the shared list: a thread that ends (its
 * pthread key destructor; the thread-local cache is still there while
 * destructors run). */
static void wcache_flush(void* arg) {
  wcache_t* c = arg;
  /* A slot given back later in this thread's teardown (another key's
   * destructor) registers the cache again, and glibc runs this again. */
  c->registered = 0;
  if (c->head == NULL) return;
  wfree_t* last = c->head;
  while (last->next != NULL) last = last->next;
  uv_mutex_lock(&warena_mutex);
  last->next = wfree;
  wfree = c->head;
  uv_mutex_unlock(&warena_mutex);
  c->head = NULL;
  c->n = 0;
}

/* Fills an empty cache with up to WCACHE_BATCH slots: from the shared list,
 * else fresh from the reservation (zero pages: nothing to clear). */
static void wcache_fill(wcache_t* c) {
  if (!c->registered) wcache_register(c);
  if (warena_base == NULL) return;
  uv_mutex_lock(&warena_mutex);
  while (c->n < WCACHE_BATCH && wfree != NULL) {
    wfree_t* f = wfree;
    wfree = f->next;
    f->next = c->head;
    c->head = f;
    c->n++;
  }
  while (c->n < WCACHE_BATCH) {
    size_t top = atomic_load_explicit(&warena_top, memory_order_relaxed);
    if (warena_bump == top) {
      if (top == WARENA_RESERVE ||
          mprotect(warena_base + top, WARENA_GROW, PROT_READ | PROT_WRITE) !=
              0)
        break;
      atomic_store_explicit(&warena_top, top + WARENA_GROW,
                            memory_order_release);
    }
    wfree_t* f = (wfree_t*)(warena_base + warena_bump);
    warena_bump += NAT__WARENA_SLOT;
    f->next = c->head;
    c->head = f;
    c->n++;
  }
  uv_mutex_unlock(&warena_mutex);
}

void* nat__warena_get(uint32_t kind, size_t size) {
  wcache_t* c = &tls_wcache;
  if (c->head == NULL) {
    wcache_fill(c);
    if (c->head == NULL) return NULL;
  }
  wfree_t* f = c->head;
  c->head = f->next;
  c->n--;
  /* Only the caller's object is cleared: an item (56 bytes) then touches
   * one cache line of its slot, not two, which matters because slots come
   * back from the JS thread's cache (each line a transfer between cores). */
  if (size > NAT__WARENA_SLOT) size = NAT__WARENA_SLOT;
  if (size > sizeof(f->kind))
    memset((char*)f + sizeof(f->kind), 0, size - sizeof(f->kind));
  atomic_store_explicit(&f->kind, kind, memory_order_release);
  return f;
}

void nat__warena_put(void* p) {
  wfree_t* f = p;
  atomic_store_explicit(&f->kind, NAT__WARENA_FREE, memory_order_release);
  wcache_t* c = &tls_wcache;
  if (!c->registered) wcache_register(c);
  f->next = c->head;
  c->head = f;
  if (++c->n < 2 * WCACHE_BATCH) return;
  /* Hand the older half over: detach everything past the first batch. */
  wfree_t* keep = c->head;
  for (uint32_t i = 1; i < WCACHE_BATCH; i++) keep = keep->next;
  wfree_t* give = keep->next;
  keep->next = NULL;
  wfree_t* last = give;
  while (last->next != NULL) last = last->next;
  c->n = WCACHE_BATCH;
  uv_mutex_lock(&warena_mutex);
  last->next = wfree;
  wfree = give;
  uv_mutex_unlock(&warena_mutex);
}

size_t nat__warena_committed(void) {
  return atomic_load_explicit(&warena_top, memory_order_acquire);
}

int nat__warena_owns(const void* p, uint32_t kind) {
  size_t top = atomic_load_explicit(&warena_top, memory_order_acquire);
  /* top stays 0 until after warena_base was set (warena_init runs before
   * the first growth): base is read only once a non-zero top ordered it. */
  if (top == 0) return 0;
  uintptr_t off = (uintptr_t)p - (uintptr_t)warena_base;
  if (off >= top || off % NAT__WARENA_SLOT != 0) return 0;
  const wfree_t* f = p;
  return atomic_load_explicit(&f->kind, memory_order_acquire) == kind;
}

