/*
 * The clock: nat__now_ns (CLOCK_MONOTONIC) is monotonic on one thread and
 * across threads; record stamps (a CPU counter where usable) drain as
 * CLOCK_MONOTONIC nanoseconds within NAT__CLOCK_SLACK_NS; and the merged
 * order across threads keeps exactly what nat__drain promises (per-thread
 * order, sorted stamps, causality in the IDs), nothing more. The Makefile
 * runs every suite with the counter and again with NAT_CLOCK=monotonic.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check_util.h"

START_TEST(clock_monotonic_one_thread) {
  size_t n = nat_check_scaled(200000, 1000);
  uint64_t prev = nat__now_ns();
  size_t advanced = 0;
  ck_assert_uint_gt(prev, 0);
  for (size_t i = 0; i < n; i++) {
    uint64_t t = nat__now_ns();
    nat_assert_uint_ge(t, prev);
    advanced += t > prev;
    prev = t;
  }
  /* A nanosecond clock read n times advances at least once. */
  ck_assert_uint_gt(advanced, 0);
}
END_TEST

/* Two threads hand a token back and forth; each reads the clock after it
 * receives the token and passes its reading along with it. */
typedef struct {
  uv_sem_t to_b;
  uv_sem_t to_a;
  uint64_t last; /* passed with the token (the semaphores order accesses) */
  size_t rounds;
  size_t b_errors; /* readings of b earlier than a's, counted by b */
} clock_pingpong_t;

static void clock_thread_b(void* arg) {
  clock_pingpong_t* p = arg;
  for (size_t i = 0; i < p->rounds; i++) {
    uv_sem_wait(&p->to_b);
    uint64_t t = nat__now_ns();
    if (t < p->last) p->b_errors++;
    p->last = t;
    uv_sem_post(&p->to_a);
  }
}

START_TEST(clock_monotonic_across_threads) {
  clock_pingpong_t p = {0};
  p.rounds = nat_check_scaled(2000, 100);
  ck_assert_int_eq(uv_sem_init(&p.to_b, 0), 0);
  ck_assert_int_eq(uv_sem_init(&p.to_a, 0), 0);
  uv_thread_t b;
  ck_assert_int_eq(uv_thread_create(&b, clock_thread_b, &p), 0);

  size_t a_errors = 0;
  for (size_t i = 0; i < p.rounds; i++) {
    uint64_t t = nat__now_ns();
    if (t < p.last) a_errors++;
    p.last = t;
    uv_sem_post(&p.to_b);
    uv_sem_wait(&p.to_a);
  }
  ck_assert_int_eq(uv_thread_join(&b), 0);
  uv_sem_destroy(&p.to_b);
  uv_sem_destroy(&p.to_a);
  ck_assert_uint_eq(a_errors, 0);
  ck_assert_uint_eq(p.b_errors, 0);
}
END_TEST

/* Drained timestamps are CLOCK_MONOTONIC nanoseconds: each record lies
 * between the clock readings taken around its emit (within the
 * conversion's slack), over several drains with pauses between them (each
 * drain adds an anchor to the conversion), and a thread's stamps never go
 * back. */
START_TEST(clock_records_convert_to_monotonic) {
  enum { PER = 300, ROUNDS = 6 };
  uint64_t before[PER], after[PER];
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(1024), 0);
  uint64_t prev = 0;
  for (int round = 0; round < ROUNDS; round++) {
    for (int i = 0; i < PER; i++) {
      before[i] = nat__now_ns();
      ck_assert_int_eq(nat__emit(NAT_EV_LINK, 0, (uint64_t)i + 1, 0, 1, 1), 1);
      after[i] = nat__now_ns();
      if (i % 100 == 99) uv_sleep(1 + (unsigned)round);
    }
    nat_sink_clear(&sink);
    ck_assert_int_eq(nat_sink_drain(&sink, 0), PER);
    for (int i = 0; i < PER; i++) {
      uint64_t ts = sink.recs[i].ts;
      ck_assert_uint_eq(sink.recs[i].link_id, (uint64_t)i + 1);
      nat_assert_uint_ge(ts + NAT__CLOCK_SLACK_NS, before[i]);
      nat_assert_uint_le(ts, after[i] + NAT__CLOCK_SLACK_NS);
      nat_assert_uint_ge(ts, prev);
      prev = ts;
    }
    uv_sleep(3);
  }
  nat_sink_free(&sink);
}
END_TEST

/* A record left in a ring by a drain's `max` converts as it would have in
 * that drain: across budgeted drains with pauses (new anchors) between
 * them, one thread's stamps still never go back. */
START_TEST(clock_budgeted_drains_keep_order) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(1024), 0);
  for (int i = 0; i < 600; i++) {
    ck_assert_int_eq(nat__emit(NAT_EV_LINK, 0, (uint64_t)i + 1, 0, 1, 1), 1);
    if (i % 50 == 49) {
      ck_assert_int_eq(nat_sink_drain(&sink, 7), 7);
      uv_sleep(1);
    }
  }
  nat_sink_drain_all(&sink);
  ck_assert_uint_eq(sink.len, 600);
  for (size_t i = 0; i < sink.len; i++) {
    nat_assert_uint_eq(sink.recs[i].link_id, i + 1);
    if (i > 0) nat_assert_uint_ge(sink.recs[i].ts, sink.recs[i - 1].ts);
  }
  nat_sink_free(&sink);
}
END_TEST

/*
 * What the merged order promises across threads (nat_core.h, nat__drain),
 * under the tightest hand-off there is: two threads take turns through a
 * spinning atomic (a hand-off of a cache-line transfer, shorter than the
 * counter read's reordering window), each turn taking a new ID and
 * recording it. Promised and asserted: the stream is sorted by timestamp,
 * each thread's records come in its order, and causality shows in the IDs
 * (every turn's ID is larger than the one before it, on either thread).
 * Not promised: that the two threads' records interleave in turn order
 * (their stamps may be closer than the clock's cross-CPU error).
 */
typedef struct {
  _Atomic uint64_t turn; /* whose turn: even a, odd b; release/acquire */
  uint64_t rounds;
  uint64_t* ids;         /* ids[turn]: written by the turn's thread */
} clock_race_t;

static void clock_race_side(clock_race_t* p, uint64_t parity) {
  for (uint64_t t = parity; t < 2 * p->rounds; t += 2) {
    /* A tight spin (the hand-off is one cache-line transfer), yielding
     * only after a long wait: under valgrind, which runs one thread at a
     * time, a pure spin holds the CPU for a whole time slice per turn and
     * the test took minutes. */
    for (unsigned spins = 0;
         atomic_load_explicit(&p->turn, memory_order_acquire) != t; spins++) {
      if (spins >= 4096) sched_yield();
    }
    uint64_t id = nat__id_next();
    p->ids[t] = id;
    nat__emit(NAT_EV_LINK, 0, id, t, 1, 1);
    atomic_store_explicit(&p->turn, t + 1, memory_order_release);
  }
}

static void clock_race_b(void* arg) { clock_race_side(arg, 1); }

START_TEST(clock_cross_thread_order_is_carried_by_ids) {
  clock_race_t p = {0};
  p.rounds = nat_check_scaled(4000, 200);
  p.ids = calloc(2 * p.rounds, sizeof(*p.ids));
  ck_assert_ptr_nonnull(p.ids);
  ck_assert_int_eq(nat__enable(16384), 0);
  uint32_t a_serial = nat__thread_serial();
  uv_thread_t b;
  ck_assert_int_eq(uv_thread_create(&b, clock_race_b, &p), 0);
  clock_race_side(&p, 0);
  ck_assert_int_eq(uv_thread_join(&b), 0);

  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_uint_eq(nat_sink_drain_all(&sink), 2 * p.rounds);
  uint64_t next_turn[2] = {0, 1};
  for (size_t i = 0; i < sink.len; i++) {
    const nat_record_t* r = &sink.recs[i];
    if (i > 0) nat_assert_uint_ge(r->ts, sink.recs[i - 1].ts);
    int side = r->thread == a_serial ? 0 : 1;
    /* Each thread's own turns, in its order, with the ID it took. */
    nat_assert_uint_eq(r->ready_id, next_turn[side]);
    nat_assert_uint_eq(r->link_id, p.ids[r->ready_id]);
    next_turn[side] += 2;
  }
  ck_assert_uint_eq(next_turn[0], 2 * p.rounds);
  ck_assert_uint_eq(next_turn[1], 2 * p.rounds + 1);
  for (uint64_t t = 1; t < 2 * p.rounds; t++)
    nat_assert_uint_gt(p.ids[t], p.ids[t - 1]);
  nat_sink_free(&sink);
  free(p.ids);
}
END_TEST

/* Which clock stamps records, and the NAT_CLOCK=monotonic choice. */
START_TEST(clock_source_is_named) {
  const char* src = nat__clock_source();
  const char* want = getenv("NAT_CLOCK");
  ck_assert(strcmp(src, "tsc") == 0 || strcmp(src, "cntvct") == 0 ||
            strcmp(src, "monotonic") == 0);
  if (want != NULL && strcmp(want, "monotonic") == 0)
    ck_assert_str_eq(src, "monotonic");
}
END_TEST

Suite* nat_clock_suite(void) {
  Suite* s = suite_create("clock");
  TCase* tc = tcase_create("clock");
  tcase_add_checked_fixture(tc, nat_check_setup, nat_check_teardown);
  tcase_set_timeout(tc, NAT_CHECK_THREAD_TIMEOUT);
  tcase_add_test(tc, clock_monotonic_one_thread);
  tcase_add_test(tc, clock_monotonic_across_threads);
  tcase_add_test(tc, clock_records_convert_to_monotonic);
  tcase_add_test(tc, clock_budgeted_drains_keep_order);
  tcase_add_test(tc, clock_cross_thread_order_is_carried_by_ids);
  tcase_add_test(tc, clock_source_is_named);
  suite_add_tcase(s, tc);
  return s;
}
