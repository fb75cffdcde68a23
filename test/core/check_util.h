/*
 * Helpers shared by the Check suites of src/core: the fixture every test
 * uses, a growable sink for drained records, loop scaling for slow runs
 * (valgrind, ThreadSanitizer) and the list of suites.
 */
#ifndef NAT_CHECK_UTIL_H
#define NAT_CHECK_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "nat_core.h"

/*
 * Assertions for hot loops. Check's ck_assert_* send a checkpoint message
 * (a write to the runner) every time they pass; these only call into Check
 * when they fail, with the expressions and values in the message.
 */
#define nat_assert(expr)                                           \
  do {                                                             \
    if (!(expr)) ck_assert_msg(0, "Assertion '%s' failed", #expr); \
  } while (0)

#define NAT__ASSERT_UINT_OP(a, op, b)                                       \
  do {                                                                      \
    uintmax_t nat_a_ = (a), nat_b_ = (b);                                   \
    if (!(nat_a_ op nat_b_))                                                \
      ck_assert_msg(0, "Assertion '%s %s %s' failed: %s == %ju, %s == %ju", \
                    #a, #op, #b, #a, nat_a_, #b, nat_b_);                   \
  } while (0)

#define nat_assert_uint_eq(a, b) NAT__ASSERT_UINT_OP(a, ==, b)
#define nat_assert_uint_ne(a, b) NAT__ASSERT_UINT_OP(a, !=, b)
#define nat_assert_uint_lt(a, b) NAT__ASSERT_UINT_OP(a, <, b)
#define nat_assert_uint_le(a, b) NAT__ASSERT_UINT_OP(a, <=, b)
#define nat_assert_uint_ge(a, b) NAT__ASSERT_UINT_OP(a, >=, b)
#define nat_assert_uint_gt(a, b) NAT__ASSERT_UINT_OP(a, >, b)

/* Timeout for test cases that start threads; generous on purpose, the tests
 * themselves take well under a second in a plain build. */
#define NAT_CHECK_THREAD_TIMEOUT 60.0
/* Timeout for the other test cases (Check's default is 4 s, too tight for
 * ThreadSanitizer on a loaded machine). */
#define NAT_CHECK_TIMEOUT 30.0

/*
 * The checked fixture of every test case: the core starts from nothing
 * (no rings, no sites, IDs from 1, recording off) and is freed again after
 * the test. Thread serials are never reset by design.
 */
void nat_check_setup(void);
void nat_check_teardown(void);

/*
 * A growable array of drained records. nat_sink_alloc is a
 * nat__drain_alloc_cb: it makes room for `count` more records at the end and
 * remembers how it was called, so tests can check the drain's side of the
 * contract (alloc called once, with exactly the count the drain returns).
 */
typedef struct {
  nat_record_t* recs;
  size_t len;
  size_t cap;
  size_t alloc_calls; /* calls of nat_sink_alloc, ever */
  size_t last_count;  /* the count of the last call */
  int fail;           /* non-zero: nat_sink_alloc returns NULL */
} nat_sink_t;

void nat_sink_init(nat_sink_t* s);
void nat_sink_free(nat_sink_t* s);
void nat_sink_clear(nat_sink_t* s); /* len = 0, buffer kept */
nat_record_t* nat_sink_alloc(void* ud, size_t count);

/*
 * One nat__drain into the sink (appending), with `max` as given. Asserts the
 * alloc contract: called once with the returned count when the drain
 * returns > 0, not called when it returns 0. Returns nat__drain's result.
 */
int64_t nat_sink_drain(nat_sink_t* s, size_t max);

/* Drains until a drain returns 0; returns the number of records appended. */
size_t nat_sink_drain_all(nat_sink_t* s);

/* Number of records of `type` in recs[from, len). */
size_t nat_sink_count_type(const nat_sink_t* s, size_t from, uint16_t type);

/*
 * A thread that emits `n` NAT_EV_LINK records (link_id = 0, 1, ..., site
 * and env as given) and counts what nat__emit returned. The gates, when not
 * NULL, let a test order it against the main thread: it waits on `before`
 * before emitting, posts `after` once done and then waits on `hold` before
 * it exits. Its results are read after nat_emitter_join.
 */
typedef struct {
  size_t n;
  uint32_t site;
  uint32_t env;
  uv_sem_t* before;
  uv_sem_t* after;
  uv_sem_t* hold;
  uint32_t serial;  /* the thread's serial */
  size_t committed; /* nat__emit returned 1 */
  size_t dropped;   /* nat__emit returned -1 */
  size_t off;       /* nat__emit returned 0 */
  uv_thread_t thread;
} nat_emitter_t;

void nat_emitter_start(nat_emitter_t* e);
void nat_emitter_join(nat_emitter_t* e);

/*
 * Scales a loop count for the current run: divided by 2 under
 * ThreadSanitizer and under valgrind, by NAT_CHECK_DIVISOR when that
 * environment variable is set; never below `floor`.
 */
size_t nat_check_scaled(size_t n, size_t floor);

/* 1 when threads run one at a time (valgrind): a thread that spins then
 * holds the only CPU for a whole time slice, so spinning tests yield. */
int nat_check_serialized(void);

/* The suites, one per core module (and one for the shared definitions). */
Suite* nat_defs_suite(void);
Suite* nat_clock_suite(void);
Suite* nat_ids_suite(void);
Suite* nat_site_suite(void);
Suite* nat_ring_suite(void);
Suite* nat_drain_suite(void);
Suite* nat_threads_suite(void);
Suite* nat_interpose_suite(void); /* src/interpose */
Suite* nat_mpsc_suite(void);
Suite* nat_pool_suite(void); /* the tracked queue's task pool */
Suite* nat_warena_suite(void); /* the wrappers' arena */

#endif /* NAT_CHECK_UTIL_H */
