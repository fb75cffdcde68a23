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

Suite* nat_clock_suite(void) {
  Suite* s = suite_create("clock");
  TCase* tc = tcase_create("clock");
  tcase_add_checked_fixture(tc, nat_check_setup, nat_check_teardown);
  tcase_set_timeout(tc, NAT_CHECK_THREAD_TIMEOUT);
  tcase_add_test(tc, clock_monotonic_one_thread);
  tcase_add_test(tc, clock_monotonic_across_threads);
  suite_add_tcase(s, tc);
  return s;
}
