/*
 * The process-wide ID counter: IDs start at 1 (0 is the root), are handed out
 * once each, also from many threads at once, and nat__core_reset starts them
 * over.
 */
#include <stdlib.h>
#include <uv.h>

#include "check_util.h"

START_TEST(ids_start_at_one_and_count_up) {
  ck_assert_uint_eq(nat__id_last(), 0);
  for (uint64_t i = 1; i <= 1000; i++) {
    ck_assert_uint_eq(nat__id_next(), i);
    ck_assert_uint_eq(nat__id_last(), i);
  }
}
END_TEST

START_TEST(ids_reset_starts_over) {
  for (int i = 0; i < 10; i++) nat__id_next();
  ck_assert_uint_eq(nat__id_last(), 10);
  nat__core_reset();
  ck_assert_uint_eq(nat__id_last(), 0);
  ck_assert_uint_eq(nat__id_next(), 1);
}
END_TEST

START_TEST(ids_independent_of_recording) {
  /* Recording neither consumes IDs nor needs them: emit does not touch the
   * counter, enable/disable do not either. */
  ck_assert_int_eq(nat__enable(16), 0);
  ck_assert_int_eq(nat__emit(NAT_EV_LINK, 0, 42, 0, 0, 0), 1);
  nat__disable();
  ck_assert_uint_eq(nat__id_last(), 0);
  ck_assert_uint_eq(nat__id_next(), 1);
}
END_TEST

/* The counter and the recording flag are each alone on a cache line:
 * aligned to it and as long as it, so nothing else can share it. */
START_TEST(ids_counter_has_its_own_cache_line) {
  ck_assert_uint_eq((uintptr_t)&nat__id_counter % NAT__CACHE_LINE, 0);
  ck_assert_uint_eq(sizeof(nat__id_counter), NAT__CACHE_LINE);
  ck_assert_uint_eq((uintptr_t)&nat__enabled % NAT__CACHE_LINE, 0);
  ck_assert_uint_eq(sizeof(nat__enabled), NAT__CACHE_LINE);
  ck_assert_uint_eq((uintptr_t)&nat__clock_counter % NAT__CACHE_LINE, 0);
  ck_assert_uint_eq(sizeof(nat__clock_counter), NAT__CACHE_LINE);
}
END_TEST

#define IDS_THREADS 4

typedef struct {
  uint64_t* ids;
  size_t n;
  uv_barrier_t* start;
} ids_worker_t;

static void ids_worker(void* arg) {
  ids_worker_t* w = arg;
  uv_barrier_wait(w->start);
  for (size_t i = 0; i < w->n; i++) w->ids[i] = nat__id_next();
}

START_TEST(ids_unique_across_threads) {
  size_t n = nat_check_scaled(100000, 1000);
  size_t total = IDS_THREADS * n;
  uint64_t* ids = malloc(total * sizeof(*ids));
  unsigned char* seen = calloc(total + 1, 1);
  ck_assert_ptr_nonnull(ids);
  ck_assert_ptr_nonnull(seen);

  uv_barrier_t start;
  ck_assert_int_eq(uv_barrier_init(&start, IDS_THREADS), 0);
  ids_worker_t w[IDS_THREADS];
  uv_thread_t t[IDS_THREADS];
  for (int i = 0; i < IDS_THREADS; i++) {
    w[i] = (ids_worker_t){ids + i * n, n, &start};
    ck_assert_int_eq(uv_thread_create(&t[i], ids_worker, &w[i]), 0);
  }
  for (int i = 0; i < IDS_THREADS; i++)
    ck_assert_int_eq(uv_thread_join(&t[i]), 0);
  uv_barrier_destroy(&start);

  /* Every ID in 1..total was handed out exactly once. */
  for (size_t i = 0; i < total; i++) {
    nat_assert_uint_ge(ids[i], 1);
    nat_assert_uint_le(ids[i], total);
    nat_assert_uint_eq(seen[ids[i]], 0);
    seen[ids[i]] = 1;
  }
  /* Each thread saw its own IDs increase. */
  for (int i = 0; i < IDS_THREADS; i++)
    for (size_t j = 1; j < n; j++)
      nat_assert_uint_gt(w[i].ids[j], w[i].ids[j - 1]);
  ck_assert_uint_eq(nat__id_last(), total);
  free(ids);
  free(seen);
}
END_TEST

Suite* nat_ids_suite(void) {
  Suite* s = suite_create("ids");
  TCase* tc = tcase_create("ids");
  tcase_add_checked_fixture(tc, nat_check_setup, nat_check_teardown);
  tcase_set_timeout(tc, NAT_CHECK_TIMEOUT);
  tcase_add_test(tc, ids_start_at_one_and_count_up);
  tcase_add_test(tc, ids_reset_starts_over);
  tcase_add_test(tc, ids_independent_of_recording);
  tcase_add_test(tc, ids_counter_has_its_own_cache_line);
  suite_add_tcase(s, tc);

  tc = tcase_create("ids_threads");
  tcase_add_checked_fixture(tc, nat_check_setup, nat_check_teardown);
  tcase_set_timeout(tc, NAT_CHECK_THREAD_TIMEOUT);
  tcase_add_test(tc, ids_unique_across_threads);
  suite_add_tcase(s, tc);
  return s;
}
