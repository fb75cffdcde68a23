/*
 * The public definitions the core records with (napi_async_trace_defs.h):
 * the record layout that lib/events.js reads through typed-array views, and
 * the error codes.
 */
#include <stddef.h>

#include "check_util.h"

START_TEST(defs_record_layout) {
  ck_assert_uint_eq(sizeof(nat_record_t), NAT_RECORD_SIZE);
  ck_assert_uint_eq(offsetof(nat_record_t, ts), 0);
  ck_assert_uint_eq(offsetof(nat_record_t, execute_id), 8);
  ck_assert_uint_eq(offsetof(nat_record_t, link_id), 16);
  ck_assert_uint_eq(offsetof(nat_record_t, ready_id), 24);
  ck_assert_uint_eq(offsetof(nat_record_t, site), 32);
  ck_assert_uint_eq(offsetof(nat_record_t, env), 36);
  ck_assert_uint_eq(offsetof(nat_record_t, thread), 40);
  ck_assert_uint_eq(offsetof(nat_record_t, type), 44);
  ck_assert_uint_eq(offsetof(nat_record_t, flags), 46);
  /* Records are copied into ArrayBuffers read as BigUint64Array. */
  ck_assert_uint_eq(NAT_RECORD_SIZE % 8, 0);
}
END_TEST

START_TEST(defs_event_types) {
  /* Part of the ABI: never renumbered. */
  ck_assert_int_eq(NAT_EV_EXECUTION_BEGIN, 1);
  ck_assert_int_eq(NAT_EV_EXECUTION_END, 2);
  ck_assert_int_eq(NAT_EV_LINK, 3);
  ck_assert_int_eq(NAT_EV_READY, 4);
  ck_assert_int_eq(NAT_EV_LOST, 5);
  ck_assert_int_eq(NAT_EV_ABORT, 6);
  ck_assert_int_eq(NAT_EV_READY_FAILED, 7);
}
END_TEST

START_TEST(defs_error_codes) {
  /* Every code is negative, distinct, and NAT__ERR_MIN is the smallest. */
  static const int codes[] = {
#define XX(name, value, msg) NAT_##name,
      NAT_ERRNO_MAP(XX)
#undef XX
  };
  size_t n = sizeof(codes) / sizeof(codes[0]);
  int min = 0;
  for (size_t i = 0; i < n; i++) {
    ck_assert_int_lt(codes[i], 0);
    for (size_t j = 0; j < i; j++) ck_assert_int_ne(codes[i], codes[j]);
    if (codes[i] < min) min = codes[i];
  }
  ck_assert_int_eq(min, NAT__ERR_MIN);
  ck_assert_int_eq(NAT_EINVAL, -1);
  ck_assert_int_eq(NAT_ENOMEM, -2);
}
END_TEST

Suite* nat_defs_suite(void) {
  Suite* s = suite_create("defs");
  TCase* tc = tcase_create("defs");
  tcase_add_checked_fixture(tc, nat_check_setup, nat_check_teardown);
  tcase_add_test(tc, defs_record_layout);
  tcase_add_test(tc, defs_event_types);
  tcase_add_test(tc, defs_error_codes);
  suite_add_tcase(s, tc);
  return s;
}
