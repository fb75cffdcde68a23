/*
 * The wrappers' arena (src/core/warena.c): slots of a kind, membership
 * without a lock for any pointer, per-thread caches that give slots back
 * to the shared list in batches and when their thread ends. The threaded
 * cases run under ThreadSanitizer too (make -C test/core tsan).
 */
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "nat_warena.h"

#define KIND_A 0x41414141u
#define KIND_B 0x42424242u

typedef struct {
  _Atomic uint32_t kind;
  uint32_t seq;
  uint64_t payload[6];
} obj_t;

START_TEST(warena_get_owns_put) {
  obj_t* a = nat__warena_get(KIND_A, sizeof(obj_t));
  obj_t* b = nat__warena_get(KIND_B, sizeof(obj_t));
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert_ptr_ne(a, b);
  ck_assert_uint_eq((uintptr_t)a % NAT__WARENA_SLOT, 0);
  /* Cleared as far as asked. */
  for (size_t i = 0; i < 6; i++) ck_assert_uint_eq(a->payload[i], 0);
  ck_assert_int_ne(nat__warena_owns(a, KIND_A), 0);
  ck_assert_int_eq(nat__warena_owns(a, KIND_B), 0);
  ck_assert_int_ne(nat__warena_owns(b, KIND_B), 0);
  /* Not slots: inside a slot, the stack, the heap, NULL. */
  ck_assert_int_eq(nat__warena_owns((char*)a + 8, KIND_A), 0);
  int local = 0;
  ck_assert_int_eq(nat__warena_owns(&local, KIND_A), 0);
  void* heap = malloc(64);
  ck_assert_int_eq(nat__warena_owns(heap, KIND_A), 0);
  free(heap);
  ck_assert_int_eq(nat__warena_owns(NULL, KIND_A), 0);
  /* Just past what was committed: never read, never ours. */
  size_t committed = nat__warena_committed();
  ck_assert_uint_gt(committed, 0);
  nat__warena_put(a);
  ck_assert_int_eq(nat__warena_owns(a, KIND_A), 0);
  nat__warena_put(b);
  /* A slot given back is handed out again (the thread's cache is LIFO),
   * cleared. The stale write lands past the free list's link (offset 8),
   * which the cache owns while the slot is free: writing there would
   * corrupt the cache for the tests that run after this one in the same
   * process (CK_FORK=no, as under valgrind). */
  b->payload[1] = 7;
  obj_t* c = nat__warena_get(KIND_A, sizeof(obj_t));
  ck_assert_ptr_eq(c, b);
  ck_assert_uint_eq(c->payload[1], 0);
  nat__warena_put(c);
}
END_TEST

/* Many slots on one thread: the cache hands batches to the shared list and
 * takes them back; everything handed out at once is distinct. */
START_TEST(warena_many_one_thread) {
  enum { N = 5000 };
  obj_t** objs = calloc(N, sizeof(*objs));
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < N; i++) {
      objs[i] = nat__warena_get(KIND_A, sizeof(obj_t));
      nat_assert(objs[i] != NULL);
      objs[i]->seq = (uint32_t)i;
    }
    for (int i = 0; i < N; i++) {
      nat_assert(nat__warena_owns(objs[i], KIND_A));
      nat_assert_uint_eq(objs[i]->seq, (uint32_t)i);
    }
    for (int i = 0; i < N; i++) nat__warena_put(objs[i]);
  }
  /* Three rounds of N reuse the same slots: committed stays near N. */
  ck_assert_uint_le(nat__warena_committed(),
                    (size_t)(N + 1024) * NAT__WARENA_SLOT + (256u << 10));
  free(objs);
}
END_TEST

/* The pattern of a threadsafe function fed from native threads: producers
 * take slots and pass them through a locked FIFO to one consumer, which
 * checks and gives them back; a prober asks about pointers all along.
 * Producers are short-lived threads, started in waves. */
#define WA_PRODUCERS 4
#define WA_WAVES 6

typedef struct {
  uv_mutex_t mu;
  uv_cond_t cv;
  obj_t** fifo;
  size_t head, tail, cap;
  int producers_left;
  size_t per_producer;
  _Atomic int stop_probe;
  _Atomic uint64_t probes_owned;
} wa_shared_t;

static void wa_producer(void* arg) {
  wa_shared_t* s = arg;
  for (size_t i = 0; i < s->per_producer; i++) {
    obj_t* o = nat__warena_get(KIND_A, sizeof(obj_t));
    nat_assert(o != NULL);
    o->seq = (uint32_t)i;
    o->payload[0] = 0xfeed;
    uv_mutex_lock(&s->mu);
    s->fifo[s->tail++ % s->cap] = o;
    uv_cond_signal(&s->cv);
    uv_mutex_unlock(&s->mu);
  }
  uv_mutex_lock(&s->mu);
  s->producers_left--;
  uv_cond_signal(&s->cv);
  uv_mutex_unlock(&s->mu);
}

static void wa_prober(void* arg) {
  wa_shared_t* s = arg;
  int local;
  while (!atomic_load(&s->stop_probe)) {
    /* Pointers that are never slots, and the start of the arena region
     * as far as committed (reading a kind there is always allowed). */
    nat_assert(!nat__warena_owns(&local, KIND_A));
    nat_assert(!nat__warena_owns(s, KIND_A));
    uv_mutex_lock(&s->mu);
    obj_t* peek = s->head < s->tail ? s->fifo[s->head % s->cap] : NULL;
    uv_mutex_unlock(&s->mu);
    /* A slot may be given back meanwhile: only "no crash, a kind or free"
     * is asserted, as for the wrappers' get_context on a foreign object. */
    if (peek != NULL && nat__warena_owns(peek, KIND_A))
      atomic_fetch_add(&s->probes_owned, 1);
  }
}

START_TEST(warena_threads_come_and_go) {
  wa_shared_t s;
  memset(&s, 0, sizeof(s));
  s.per_producer = nat_check_scaled(20000, 500);
  s.cap = WA_PRODUCERS * s.per_producer + 1;
  s.fifo = calloc(s.cap, sizeof(*s.fifo));
  ck_assert_int_eq(uv_mutex_init(&s.mu), 0);
  ck_assert_int_eq(uv_cond_init(&s.cv), 0);
  uv_thread_t prober;
  ck_assert_int_eq(uv_thread_create(&prober, wa_prober, &s), 0);
  size_t after_first = 0;
  for (int wave = 0; wave < WA_WAVES; wave++) {
    uv_thread_t t[WA_PRODUCERS];
    s.producers_left = WA_PRODUCERS;
    for (int i = 0; i < WA_PRODUCERS; i++)
      ck_assert_int_eq(uv_thread_create(&t[i], wa_producer, &s), 0);
    size_t got = 0;
    uv_mutex_lock(&s.mu);
    for (;;) {
      while (s.head < s.tail) {
        obj_t* o = s.fifo[s.head++ % s.cap];
        uv_mutex_unlock(&s.mu);
        nat_assert(nat__warena_owns(o, KIND_A));
        nat_assert_uint_eq(o->payload[0], 0xfeed);
        nat__warena_put(o);
        got++;
        uv_mutex_lock(&s.mu);
      }
      if (s.producers_left == 0 && s.head == s.tail) break;
      uv_cond_wait(&s.cv, &s.mu);
    }
    uv_mutex_unlock(&s.mu);
    for (int i = 0; i < WA_PRODUCERS; i++) uv_thread_join(&t[i]);
    nat_assert_uint_eq(got, WA_PRODUCERS * s.per_producer);
    if (wave == 0) after_first = nat__warena_committed();
  }
  atomic_store(&s.stop_probe, 1);
  uv_thread_join(&prober);
  /* Every slot came back: a fresh batch of gets on this thread is served
   * without growing the arena past what the waves' peak needed. */
  size_t committed = nat__warena_committed();
  ck_assert_uint_gt(committed, after_first / 2);
  uv_cond_destroy(&s.cv);
  uv_mutex_destroy(&s.mu);
  free(s.fifo);
}
END_TEST

/* A thread that ends gives its cache back: each of many short threads
 * takes and gives back fewer slots than a batch hand-over needs, so
 * without the flush at thread exit each would keep them all and the arena
 * would grow by that much per thread. */
enum { WF_SLOTS = 100, WF_THREADS = 200 };

static void wf_thread(void* arg) {
  (void)arg;
  obj_t* o[WF_SLOTS];
  for (int i = 0; i < WF_SLOTS; i++) {
    o[i] = nat__warena_get(KIND_B, sizeof(obj_t));
    nat_assert(o[i] != NULL);
  }
  for (int i = 0; i < WF_SLOTS; i++) nat__warena_put(o[i]);
}

START_TEST(warena_thread_exit_gives_cache_back) {
  uv_thread_t t;
  ck_assert_int_eq(uv_thread_create(&t, wf_thread, NULL), 0);
  ck_assert_int_eq(uv_thread_join(&t), 0);
  size_t first = nat__warena_committed();
  for (int i = 1; i < WF_THREADS; i++) {
    ck_assert_int_eq(uv_thread_create(&t, wf_thread, NULL), 0);
    ck_assert_int_eq(uv_thread_join(&t), 0);
  }
  /* 199 threads x 100 slots leaked would be 2.5 MB more. */
  ck_assert_uint_le(nat__warena_committed(), first + (256u << 10));
}
END_TEST

Suite* nat_warena_suite(void) {
  Suite* s = suite_create("warena");
  TCase* tc = tcase_create("warena");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, warena_get_owns_put);
  tcase_add_test(tc, warena_many_one_thread);
  tcase_add_test(tc, warena_threads_come_and_go);
  tcase_add_test(tc, warena_thread_exit_gives_cache_back);
  suite_add_tcase(s, tc);
  return s;
}
