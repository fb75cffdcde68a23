/*
 * The clock: monotonic on one thread and across threads. The drain's merge
 * relies on the second property (a record made after another one, on any
 * thread, never carries an earlier timestamp).
 */
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
 * between the clock readings taken around its emit, over several drains
 * with pauses between them. */
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
      nat_assert_uint_ge(ts, before[i]);
      nat_assert_uint_le(ts, after[i]);
      nat_assert_uint_ge(ts, prev);
      prev = ts;
    }
    uv_sleep(3);
  }
  nat_sink_free(&sink);
}
END_TEST

/* Records made by two threads in turns (a token passed through
 * semaphores) drain merged in the order they were made: the stamps agree
 * across CPUs. */
typedef struct {
  uv_sem_t to_b;
  uv_sem_t to_a;
  uint64_t seq;
  size_t rounds;
} clock_turns_t;

static void clock_turns_b(void* arg) {
  clock_turns_t* p = arg;
  for (size_t i = 0; i < p->rounds; i++) {
    uv_sem_wait(&p->to_b);
    nat__emit(NAT_EV_READY, 0, ++p->seq, 0, 1, 1);
    uv_sem_post(&p->to_a);
  }
}

START_TEST(clock_records_merge_in_order_across_threads) {
  clock_turns_t p = {0};
  p.rounds = nat_check_scaled(2000, 100);
  ck_assert_int_eq(nat__enable(8192), 0);
  ck_assert_int_eq(uv_sem_init(&p.to_b, 0), 0);
  ck_assert_int_eq(uv_sem_init(&p.to_a, 0), 0);
  uv_thread_t b;
  ck_assert_int_eq(uv_thread_create(&b, clock_turns_b, &p), 0);
  for (size_t i = 0; i < p.rounds; i++) {
    nat__emit(NAT_EV_LINK, 0, ++p.seq, 0, 1, 1);
    uv_sem_post(&p.to_b);
    uv_sem_wait(&p.to_a);
  }
  ck_assert_int_eq(uv_thread_join(&b), 0);
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_uint_eq(nat_sink_drain_all(&sink), 2 * p.rounds);
  for (size_t i = 0; i < sink.len; i++)
    nat_assert_uint_eq(sink.recs[i].link_id, (uint64_t)i + 1);
  nat_sink_free(&sink);
  uv_sem_destroy(&p.to_b);
  uv_sem_destroy(&p.to_a);
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
  tcase_add_test(tc, clock_records_merge_in_order_across_threads);
  suite_add_tcase(s, tc);
  return s;
}
