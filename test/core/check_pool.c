/*
 * The free-node pool of the tracked queue's tasks (src/core/pool.c). The
 * threaded case models the real use: producer threads take tasks (or make
 * new ones when the pool is empty) and hand them through the MPSC FIFO to
 * one consumer, which gives them back a batch at a time. A node handed out
 * twice at once, a lost node or a torn chain fails it. It runs under
 * ThreadSanitizer too (make -C test/core tsan).
 */
#include <sched.h>
#include <stdlib.h>

#include "check_util.h"

typedef struct {
  nat__mpsc_node_t node; /* first: a node pointer is an item pointer */
  _Atomic int in_use;    /* 1 from take (or make) to give */
  uint32_t producer;     /* plain fields: written by the taker, read by */
  uint32_t seq;          /* the consumer after the FIFO's handoff */
} pitem_t;

START_TEST(pool_one_thread) {
  nat__pool_t p;
  nat__pool_init(&p);
  ck_assert_ptr_null(nat__pool_take(&p));
  pitem_t it[5];
  /* One node. */
  nat__pool_give(&p, &it[0].node, &it[0].node);
  ck_assert_ptr_eq(nat__pool_take(&p), &it[0].node);
  ck_assert_ptr_null(nat__pool_take(&p));
  /* A chain comes back in its own order. */
  atomic_store(&it[1].node.next, &it[2].node);
  atomic_store(&it[2].node.next, &it[3].node);
  nat__pool_give(&p, &it[1].node, &it[3].node);
  ck_assert_ptr_eq(nat__pool_take(&p), &it[1].node);
  /* What was given since waits until the taken chain is used up. */
  nat__pool_give(&p, &it[4].node, &it[4].node);
  ck_assert_ptr_eq(nat__pool_take(&p), &it[2].node);
  ck_assert_ptr_eq(nat__pool_take(&p), &it[3].node);
  ck_assert_ptr_eq(nat__pool_take(&p), &it[4].node);
  ck_assert_ptr_null(nat__pool_take(&p));
}
END_TEST

enum { PRODUCERS = 4, BATCH = 16, WINDOW = 1024 };

typedef struct {
  nat__pool_t pool;
  nat__mpsc_t fifo;
  size_t per_producer;
  _Atomic size_t made;   /* nodes allocated because the pool was empty */
  _Atomic int twice;     /* a node taken while in use */
  _Atomic size_t in_flight; /* taken, not yet given back (a bounded queue) */
  int bad_payload;       /* consumer only */
} prun_t;

typedef struct {
  prun_t* r;
  uint32_t id;
  uv_thread_t thread;
} pprod_t;

static void pool_producer(void* arg) {
  pprod_t* a = arg;
  prun_t* r = a->r;
  for (size_t i = 0; i < r->per_producer; i++) {
    /* At most WINDOW items in flight, as a bounded queue would have, so
     * the pool (not the allocator) must supply the rest. */
    while (atomic_load(&r->in_flight) >= WINDOW) sched_yield();
    atomic_fetch_add(&r->in_flight, 1);
    pitem_t* it = (pitem_t*)nat__pool_take(&r->pool);
    if (it == NULL) {
      it = calloc(1, sizeof(*it));
      if (it == NULL) abort();
      atomic_fetch_add(&r->made, 1);
    }
    if (atomic_exchange_explicit(&it->in_use, 1, memory_order_relaxed) != 0)
      atomic_fetch_add(&r->twice, 1);
    it->producer = a->id;
    it->seq = (uint32_t)i;
    if (nat__mpsc_push(&r->fifo, &it->node) == 1) nat__mpsc_leave(&r->fifo);
  }
}

START_TEST(pool_producers_and_a_giving_consumer) {
  prun_t* r = calloc(1, sizeof(*r));
  ck_assert_ptr_nonnull(r);
  nat__pool_init(&r->pool);
  nat__mpsc_init(&r->fifo);
  r->per_producer = nat_check_scaled(200000, 2000);
  pprod_t prod[PRODUCERS];
  for (uint32_t i = 0; i < PRODUCERS; i++) {
    prod[i].r = r;
    prod[i].id = i;
    ck_assert_int_eq(uv_thread_create(&prod[i].thread, pool_producer, &prod[i]), 0);
  }
  /* The consumer: checks each item's payload against its producer's
   * order, then gives items back BATCH at a time (a wake-up's worth). */
  uint32_t next[PRODUCERS] = {0};
  size_t total = r->per_producer * PRODUCERS, got = 0;
  pitem_t* first = NULL;
  pitem_t* last = NULL;
  int in_batch = 0;
  while (got < total) {
    int retry;
    nat__mpsc_begin(&r->fifo);
    pitem_t* it = (pitem_t*)nat__mpsc_pop(&r->fifo, &retry);
    if (it == NULL) {
      sched_yield();
      continue;
    }
    got++;
    if (it->producer >= PRODUCERS || it->seq != next[it->producer]++)
      r->bad_payload++;
    atomic_store_explicit(&it->in_use, 0, memory_order_relaxed);
    atomic_store_explicit(&it->node.next, first ? &first->node : NULL,
                          memory_order_relaxed);
    if (first == NULL) last = it;
    first = it;
    if (++in_batch == BATCH) {
      nat__pool_give(&r->pool, &first->node, &last->node);
      atomic_fetch_sub(&r->in_flight, BATCH);
      first = last = NULL;
      in_batch = 0;
    }
  }
  if (first != NULL) nat__pool_give(&r->pool, &first->node, &last->node);
  atomic_fetch_sub(&r->in_flight, (size_t)in_batch);
  for (int i = 0; i < PRODUCERS; i++) uv_thread_join(&prod[i].thread);
  ck_assert_int_eq(r->bad_payload, 0);
  ck_assert_int_eq(atomic_load(&r->twice), 0);
  /* Every node ever made is back in the pool, once. */
  size_t back = 0;
  nat__mpsc_node_t* n;
  while ((n = nat__pool_take(&r->pool)) != NULL) {
    pitem_t* it = (pitem_t*)n;
    ck_assert_int_eq(atomic_load(&it->in_use), 0);
    atomic_store(&it->in_use, 2); /* a node seen twice fails below */
    back++;
    free(it);
  }
  ck_assert_uint_eq(back, atomic_load(&r->made));
  /* The pool was used: with at most WINDOW items in flight, the nodes
   * made are the window plus what contention on the take lock made the
   * producers allocate instead of waiting, far fewer than the items. */
  ck_assert_uint_lt(back, total / 4);
  free(r);
}
END_TEST

Suite* nat_pool_suite(void) {
  Suite* s = suite_create("pool");
  TCase* tc = tcase_create("pool_one_thread");
  tcase_add_test(tc, pool_one_thread);
  tcase_set_timeout(tc, NAT_CHECK_TIMEOUT);
  suite_add_tcase(s, tc);
  tc = tcase_create("pool_threads");
  tcase_add_test(tc, pool_producers_and_a_giving_consumer);
  tcase_set_timeout(tc, NAT_CHECK_THREAD_TIMEOUT);
  suite_add_tcase(s, tc);
  return s;
}
