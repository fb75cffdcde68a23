/*
 * Interned site names: one index per distinct name, stable while the process
 * lives (until nat__core_reset), the same from every thread, names that read
 * back exactly, and the documented errors for bad names and buffers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check_util.h"

static int32_t intern(const char* name) {
  return nat__site_intern(name, strlen(name));
}

START_TEST(site_empty_table) {
  char buf[8] = "x";
  ck_assert_uint_eq(nat__site_count(), 1);
  /* Site 0 is the empty name, also before anything is interned. */
  ck_assert_int_eq(nat__site_name(0, buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "");
  ck_assert_int_eq(nat__site_name(1, buf, sizeof(buf)), NAT_EINVAL);
}
END_TEST

START_TEST(site_intern_same_name_same_index) {
  int32_t q = intern("mydb:query");
  int32_t c = intern("mydb:connect");
  ck_assert_int_eq(q, 1);
  ck_assert_int_eq(c, 2);
  ck_assert_int_eq(intern("mydb:query"), q);
  ck_assert_int_eq(intern("mydb:connect"), c);
  ck_assert_uint_eq(nat__site_count(), 3);

  /* Only `len` bytes count: a prefix of a longer string is that name. */
  const char* longer = "mydb:query-and-more";
  ck_assert_int_eq(nat__site_intern(longer, strlen("mydb:query")), q);
  /* Names differing in one byte or in length are different sites. */
  int32_t q2 = intern("mydb:querY");
  int32_t q3 = intern("mydb:quer");
  ck_assert_int_gt(q2, c);
  ck_assert_int_gt(q3, q2);
  ck_assert_uint_eq(nat__site_count(), 5);
}
END_TEST

START_TEST(site_hash_collisions) {
  /* Pairs with equal 32-bit FNV-1a hashes (the table's hash): of different
   * lengths, of equal length, and a name and its own prefix. They must stay
   * distinct sites. */
  static const char* pairs[][2] = {{"costarring", "liquid"},
                                   {"mod:k412789", "mod:k649192"},
                                   {"m:kaJevPd", "m:k"}};
  char buf[32];
  for (int i = 0; i < 3; i++) {
    int32_t a = intern(pairs[i][0]);
    int32_t b = intern(pairs[i][1]);
    ck_assert_int_gt(a, 0);
    ck_assert_int_gt(b, 0);
    ck_assert_int_ne(a, b);
    ck_assert_int_eq(intern(pairs[i][0]), a);
    ck_assert_int_eq(intern(pairs[i][1]), b);
    ck_assert_int_gt(nat__site_name((uint32_t)b, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, pairs[i][1]);
  }
  ck_assert_uint_eq(nat__site_count(), 7);
}
END_TEST

START_TEST(site_name_reads_back) {
  char buf[NAT_SITE_NAME_MAX + 1];
  int32_t i = intern("fs:read");
  ck_assert_int_eq(nat__site_name((uint32_t)i, buf, sizeof(buf)), 7);
  ck_assert_str_eq(buf, "fs:read");

  /* The buffer must hold the name and its NUL: len + 1 is enough, len is
   * not, and a failed call reports NAT_EINVAL. */
  char small[8];
  ck_assert_int_eq(nat__site_name((uint32_t)i, small, 8), 7);
  ck_assert_str_eq(small, "fs:read");
  ck_assert_int_eq(nat__site_name((uint32_t)i, small, 7), NAT_EINVAL);

  ck_assert_int_eq(nat__site_name((uint32_t)i, NULL, 8), NAT_EINVAL);
  ck_assert_int_eq(nat__site_name((uint32_t)i, buf, 0), NAT_EINVAL);
  ck_assert_int_eq(nat__site_name(2, buf, sizeof(buf)), NAT_EINVAL);
  ck_assert_int_eq(nat__site_name(UINT32_MAX, buf, sizeof(buf)), NAT_EINVAL);
}
END_TEST

START_TEST(site_intern_errors) {
  char name[NAT_SITE_NAME_MAX + 2];
  memset(name, 'a', sizeof(name));
  name[0] = 'm';
  name[1] = ':';

  ck_assert_int_eq(nat__site_intern(NULL, 3), NAT_EINVAL);
  ck_assert_int_eq(nat__site_intern("a:b", 0), NAT_EINVAL);
  ck_assert_int_eq(nat__site_intern("a\0b", 3), NAT_EINVAL);
  ck_assert_int_eq(nat__site_intern(name, NAT_SITE_NAME_MAX + 1),
                   NAT_ENAMETOOLONG);
  ck_assert_int_eq(nat__site_intern(name, SIZE_MAX), NAT_ENAMETOOLONG);
  /* Failed calls intern nothing. */
  ck_assert_uint_eq(nat__site_count(), 1);

  /* The longest allowed name interns and reads back whole. */
  int32_t i = nat__site_intern(name, NAT_SITE_NAME_MAX);
  ck_assert_int_eq(i, 1);
  char buf[NAT_SITE_NAME_MAX + 1];
  ck_assert_int_eq(nat__site_name(1, buf, sizeof(buf)), NAT_SITE_NAME_MAX);
  ck_assert_int_eq(memcmp(buf, name, NAT_SITE_NAME_MAX), 0);
  ck_assert_int_eq(buf[NAT_SITE_NAME_MAX], '\0');
}
END_TEST

START_TEST(site_many_names) {
  /* Enough names to grow both the name array and the hash table several
   * times; every index must stay valid across the growth. */
  size_t n = nat_check_scaled(5000, 500);
  char name[32], buf[32];
  for (size_t i = 0; i < n; i++) {
    int len = snprintf(name, sizeof(name), "mod%zu:kind", i);
    nat_assert_uint_eq(nat__site_intern(name, (size_t)len), i + 1);
  }
  ck_assert_uint_eq(nat__site_count(), n + 1);
  for (size_t i = 0; i < n; i++) {
    int len = snprintf(name, sizeof(name), "mod%zu:kind", i);
    nat_assert_uint_eq(nat__site_intern(name, (size_t)len), i + 1);
    nat_assert_uint_eq(nat__site_name((uint32_t)(i + 1), buf, sizeof(buf)),
                       len);
    nat_assert(strcmp(buf, name) == 0);
  }
  ck_assert_uint_eq(nat__site_count(), n + 1);
}
END_TEST

START_TEST(site_reset_forgets_names) {
  char buf[32];
  ck_assert_int_eq(intern("a:b"), 1);
  ck_assert_int_eq(intern("c:d"), 2);
  nat__core_reset();
  ck_assert_uint_eq(nat__site_count(), 1);
  ck_assert_int_eq(nat__site_name(1, buf, sizeof(buf)), NAT_EINVAL);
  ck_assert_int_eq(intern("c:d"), 1);
  ck_assert_int_eq(nat__site_name(1, buf, sizeof(buf)), 3);
  ck_assert_str_eq(buf, "c:d");
}
END_TEST

/* Threads intern the same names in different orders; they must all get the
 * same index for a name. */
#define SITE_THREADS 4
#define SITE_NAMES 499 /* prime, so every stride below walks all names */

typedef struct {
  int id;
  uv_barrier_t* start;
  int32_t index[SITE_NAMES]; /* index[k] is the index of name k */
} site_worker_t;

static void site_worker(void* arg) {
  site_worker_t* w = arg;
  char name[32];
  uv_barrier_wait(w->start);
  for (int i = 0; i < SITE_NAMES; i++) {
    /* Thread id walks the names with a different stride and start. */
    int k = (i * (2 * w->id + 1) + 97 * w->id) % SITE_NAMES;
    int len = snprintf(name, sizeof(name), "thread-site:%d", k);
    w->index[k] = nat__site_intern(name, (size_t)len);
  }
}

START_TEST(site_intern_across_threads) {
  uv_barrier_t start;
  site_worker_t* w = calloc(SITE_THREADS, sizeof(*w));
  uv_thread_t t[SITE_THREADS];
  ck_assert_ptr_nonnull(w);
  ck_assert_int_eq(uv_barrier_init(&start, SITE_THREADS), 0);
  for (int i = 0; i < SITE_THREADS; i++) {
    w[i].id = i;
    w[i].start = &start;
    ck_assert_int_eq(uv_thread_create(&t[i], site_worker, &w[i]), 0);
  }
  for (int i = 0; i < SITE_THREADS; i++)
    ck_assert_int_eq(uv_thread_join(&t[i]), 0);
  uv_barrier_destroy(&start);

  ck_assert_uint_eq(nat__site_count(), SITE_NAMES + 1);
  unsigned char seen[SITE_NAMES + 1] = {0};
  char name[32], buf[32];
  for (int k = 0; k < SITE_NAMES; k++) {
    int32_t index = w[0].index[k];
    nat_assert(index >= 1 && index <= SITE_NAMES);
    for (int i = 1; i < SITE_THREADS; i++)
      nat_assert_uint_eq(w[i].index[k], index);
    nat_assert_uint_eq(seen[index], 0);
    seen[index] = 1;
    snprintf(name, sizeof(name), "thread-site:%d", k);
    nat_assert(nat__site_name((uint32_t)index, buf, sizeof(buf)) > 0);
    nat_assert(strcmp(buf, name) == 0);
  }
  free(w);
}
END_TEST

Suite* nat_site_suite(void) {
  Suite* s = suite_create("site");
  TCase* tc = tcase_create("site");
  tcase_add_checked_fixture(tc, nat_check_setup, nat_check_teardown);
  tcase_set_timeout(tc, NAT_CHECK_TIMEOUT);
  tcase_add_test(tc, site_empty_table);
  tcase_add_test(tc, site_intern_same_name_same_index);
  tcase_add_test(tc, site_hash_collisions);
  tcase_add_test(tc, site_name_reads_back);
  tcase_add_test(tc, site_intern_errors);
  tcase_add_test(tc, site_many_names);
  tcase_add_test(tc, site_reset_forgets_names);
  suite_add_tcase(s, tc);

  tc = tcase_create("site_threads");
  tcase_add_checked_fixture(tc, nat_check_setup, nat_check_teardown);
  tcase_set_timeout(tc, NAT_CHECK_THREAD_TIMEOUT);
  tcase_add_test(tc, site_intern_across_threads);
  suite_add_tcase(s, tc);
  return s;
}
