/*
 * The producer side: nat__emit with recording on and off, the capacity a
 * ring gets, a full ring dropping and counting, thread serials, and the ring
 * limit (threads without a ring drop and count too).
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check_util.h"

static nat__stats_t stats(void) {
  nat__stats_t s;
  memset(&s, 0xff, sizeof(s)); /* every field must be written */
  nat__stats(&s);
  return s;
}

/* Emits n LINK records from the calling thread; returns how many committed
 * and adds the drops to *dropped. */
static size_t emit_n(size_t n, size_t* dropped) {
  size_t ok = 0;
  for (size_t i = 0; i < n; i++) {
    int r = nat__emit(NAT_EV_LINK, 0, i, 0, 0, 0);
    nat_assert(r == 1 || r == -1);
    if (r == 1)
      ok++;
    else if (dropped != NULL)
      (*dropped)++;
  }
  return ok;
}

START_TEST(ring_off_by_default) {
  ck_assert_int_eq(nat__is_enabled(), 0);
  ck_assert_int_eq(nat__emit(NAT_EV_LINK, 0, 1, 0, 0, 0), 0);
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.recorded, 0);
  ck_assert_uint_eq(s.dropped, 0);
  ck_assert_uint_eq(s.drained, 0);
  ck_assert_uint_eq(s.pending, 0);
  ck_assert_uint_eq(s.capacity, NAT_DEFAULT_CAPACITY);
  /* Recording off allocates nothing. */
  ck_assert_uint_eq(s.rings, 0);
  ck_assert_uint_eq(s.threads, 0);
  ck_assert_uint_eq(s.ring_bytes, 0);
  ck_assert_uint_eq(nat__pending(), 0);
}
END_TEST

START_TEST(ring_emit_stores_every_field) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(16), 0);
  ck_assert_int_eq(nat__is_enabled(), 1);

  uint64_t t0 = nat__now_ns();
  for (int type = NAT_EV_EXECUTION_BEGIN; type <= NAT_EV_ABORT; type++) {
    ck_assert_int_eq(
        nat__emit((nat_event_type_t)type, 100 + type, UINT64_MAX - type,
                  ((uint64_t)1 << 40) + type, 7u + type, 0xfffffff0u + type),
        1);
  }
  uint64_t t1 = nat__now_ns();

  nat__stats_t s = stats();
  ck_assert_uint_eq(s.recorded, 6);
  ck_assert_uint_eq(s.pending, 6);
  ck_assert_uint_eq(s.rings, 1);
  ck_assert_uint_eq(s.threads, 1);
  ck_assert_uint_ge(s.ring_bytes, 16 * sizeof(nat_record_t));
  ck_assert_uint_lt(s.ring_bytes, 16 * sizeof(nat_record_t) + 4096);
  ck_assert_uint_eq(nat__pending(), 6);

  ck_assert_int_eq(nat_sink_drain(&sink, 0), 6);
  /* Drained stamps are CLOCK_MONOTONIC within the conversion's slack. */
  uint64_t prev = t0 - NAT__CLOCK_SLACK_NS;
  for (int i = 0; i < 6; i++) {
    const nat_record_t* r = &sink.recs[i];
    uint64_t type = NAT_EV_EXECUTION_BEGIN + (uint64_t)i;
    ck_assert_uint_eq(r->type, type);
    ck_assert_uint_eq(r->execute_id, 100 + type);
    ck_assert_uint_eq(r->link_id, UINT64_MAX - type);
    ck_assert_uint_eq(r->ready_id, ((uint64_t)1 << 40) + type);
    ck_assert_uint_eq(r->site, 7u + type);
    ck_assert_uint_eq(r->env, 0xfffffff0u + type);
    ck_assert_uint_eq(r->thread, nat__thread_serial());
    ck_assert_uint_eq(r->flags, 0);
    ck_assert_uint_ge(r->ts, prev);
    ck_assert_uint_le(r->ts, t1 + NAT__CLOCK_SLACK_NS);
    prev = r->ts;
  }
  nat_sink_free(&sink);
}
END_TEST

START_TEST(ring_enable_disable) {
  ck_assert_int_eq(nat__enable(16), 0);
  ck_assert_uint_eq(emit_n(3, NULL), 3);
  nat__disable();
  ck_assert_int_eq(nat__is_enabled(), 0);
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(nat__emit(NAT_EV_LINK, 0, 0, 0, 0, 0), 0);
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.recorded, 3);
  ck_assert_uint_eq(s.dropped, 0);

  /* Disabling twice is harmless; enable(0) keeps the capacity. */
  nat__disable();
  ck_assert_int_eq(nat__enable(0), 0);
  ck_assert_uint_eq(nat__capacity(), 16);
  ck_assert_uint_eq(emit_n(2, NULL), 2);
  s = stats();
  ck_assert_uint_eq(s.recorded, 5);
  ck_assert_uint_eq(s.pending, 5);
  ck_assert_uint_eq(s.rings, 1);
}
END_TEST

/* nat__emit_owed commits whatever nat__enabled says: its caller decided to
 * record when it made the event's ID, and a disable() in between must not
 * lose an event that was neither recorded nor counted (regression). */
START_TEST(ring_emit_owed_records_after_disable) {
  ck_assert_int_eq(nat__enable(16), 0);
  ck_assert_int_eq(nat__emit(NAT_EV_LINK, 0, 1, 0, 0, 0), 1);
  nat__disable();
  ck_assert_int_eq(nat__emit(NAT_EV_LINK, 0, 2, 0, 0, 0), 0);
  ck_assert_int_eq(nat__emit_owed(NAT_EV_LINK, 0, 3, 0, 0, 0), 1);
  for (int i = 0; i < 20; i++) {
    int r = nat__emit_owed(NAT_EV_LINK, 0, 4, 0, 0, 0);
    ck_assert_int_eq(r, i < 14 ? 1 : -1);
  }
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.recorded, 16);
  ck_assert_uint_eq(s.dropped, 6);
}
END_TEST

START_TEST(ring_capacity_rounding) {
  static const struct {
    uint32_t in, out;
  } cases[] = {
      {1, NAT_MIN_CAPACITY},
      {15, 16},
      {16, 16},
      {17, 32},
      {1000, 1024},
      {1024, 1024},
      {65536, 65536},
      {65537, 131072},
      {NAT_MAX_CAPACITY - 1, NAT_MAX_CAPACITY},
      {NAT_MAX_CAPACITY, NAT_MAX_CAPACITY},
      {NAT_MAX_CAPACITY + 1, NAT_MAX_CAPACITY},
      {UINT32_MAX, NAT_MAX_CAPACITY},
  };
  ck_assert_uint_eq(nat__capacity(), NAT_DEFAULT_CAPACITY);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    ck_assert_int_eq(nat__enable(cases[i].in), 0);
    ck_assert_uint_eq(nat__capacity(), cases[i].out);
    ck_assert_uint_eq(stats().capacity, cases[i].out);
    /* 0 keeps whatever is set. */
    ck_assert_int_eq(nat__enable(0), 0);
    ck_assert_uint_eq(nat__capacity(), cases[i].out);
  }
  /* Nothing recorded, so nothing was allocated for any of these. */
  ck_assert_uint_eq(stats().rings, 0);
  nat__core_reset();
  ck_assert_uint_eq(nat__capacity(), NAT_DEFAULT_CAPACITY);
}
END_TEST

START_TEST(ring_holds_capacity_records) {
  /* A ring holds exactly its (rounded) capacity, then drops. */
  static const uint32_t caps[][2] = {{1, 16}, {16, 16}, {17, 32}, {100, 128}};
  for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
    nat__core_reset();
    ck_assert_int_eq(nat__enable(caps[i][0]), 0);
    size_t dropped = 0;
    ck_assert_uint_eq(emit_n(caps[i][1] + 5, &dropped), caps[i][1]);
    ck_assert_uint_eq(dropped, 5);
    nat__stats_t s = stats();
    ck_assert_uint_eq(s.recorded, caps[i][1]);
    ck_assert_uint_eq(s.dropped, 5);
    ck_assert_uint_eq(s.pending, caps[i][1]);
  }
}
END_TEST

START_TEST(ring_full_drops_and_counts) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(16), 0);
  size_t dropped = 0;
  ck_assert_uint_eq(emit_n(40, &dropped), 16);
  ck_assert_uint_eq(dropped, 24);
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.recorded, 16);
  ck_assert_uint_eq(s.dropped, 24);
  ck_assert_uint_eq(s.pending, 16);
  ck_assert_uint_eq(s.drained, 0);

  /* Draining makes room for exactly one ring's worth again. */
  ck_assert_uint_eq(nat_sink_drain_all(&sink), 16 + 1);
  dropped = 0;
  ck_assert_uint_eq(emit_n(17, &dropped), 16);
  ck_assert_uint_eq(dropped, 1);
  s = stats();
  ck_assert_uint_eq(s.recorded, 32);
  ck_assert_uint_eq(s.dropped, 25);
  ck_assert_uint_eq(s.drained, 16);
  ck_assert_uint_eq(s.pending, 16);

  /* Draining part of the ring frees exactly that part. */
  ck_assert_int_eq(nat_sink_drain(&sink, 5), 5 + 1);
  dropped = 0;
  ck_assert_uint_eq(emit_n(8, &dropped), 5);
  ck_assert_uint_eq(dropped, 3);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(ring_existing_ring_keeps_its_size) {
  ck_assert_int_eq(nat__enable(16), 0);
  ck_assert_uint_eq(emit_n(1, NULL), 1);
  ck_assert_int_eq(nat__enable(64), 0);
  ck_assert_uint_eq(nat__capacity(), 64);
  /* This thread's ring was made with 16 slots and keeps them. */
  size_t dropped = 0;
  ck_assert_uint_eq(emit_n(20, &dropped), 15);
  ck_assert_uint_eq(dropped, 5);

  /* A thread that starts recording now gets the new size. */
  nat_emitter_t e = {.n = 70};
  nat_emitter_start(&e);
  nat_emitter_join(&e);
  ck_assert_uint_eq(e.committed, 64);
  ck_assert_uint_eq(e.dropped, 6);
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.rings, 2);
  ck_assert_uint_eq(s.recorded, 16 + 64);
  ck_assert_uint_eq(s.dropped, 5 + 6);
}
END_TEST

START_TEST(ring_capacity_change_releases_free_rings) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(16), 0);
  nat_emitter_t a = {.n = 1};
  nat_emitter_start(&a);
  nat_emitter_join(&a);
  ck_assert_uint_eq(nat_sink_drain_all(&sink), 1); /* A's ring is free */
  ck_assert_uint_eq(stats().rings, 1);

  /* The same capacity keeps the free ring; another one releases it. */
  ck_assert_int_eq(nat__enable(16), 0);
  ck_assert_uint_eq(stats().rings, 1);
  ck_assert_int_eq(nat__enable(32), 0);
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.rings, 0);
  ck_assert_uint_eq(s.ring_bytes, 0);
  ck_assert_uint_eq(s.recorded, 1); /* the totals stay */
  ck_assert_uint_eq(s.drained, 1);

  nat_emitter_t b = {.n = 40};
  nat_emitter_start(&b);
  nat_emitter_join(&b);
  ck_assert_uint_eq(b.committed, 32);
  ck_assert_uint_eq(b.dropped, 8);
  ck_assert_uint_eq(stats().rings, 1);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(ring_thread_serials) {
  uint32_t mine = nat__thread_serial();
  ck_assert_uint_gt(mine, 0);
  ck_assert_uint_eq(nat__thread_serial(), mine);

  nat_emitter_t a = {.n = 0}, b = {.n = 0};
  nat_emitter_start(&a);
  nat_emitter_join(&a);
  nat_emitter_start(&b);
  nat_emitter_join(&b);
  /* Serials are never reused: later threads get bigger ones. */
  ck_assert_uint_gt(a.serial, 0);
  ck_assert_uint_ne(a.serial, mine);
  ck_assert_uint_gt(b.serial, a.serial);
  ck_assert_uint_ge(stats().threads_seen, b.serial);

  /* nat__core_reset keeps serials (by design). */
  nat__core_reset();
  ck_assert_uint_eq(nat__thread_serial(), mine);
  ck_assert_uint_ge(stats().threads_seen, b.serial);
}
END_TEST

START_TEST(ring_records_carry_their_thread) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(16), 0);
  nat_emitter_t e = {.n = 3, .site = 9, .env = 4};
  nat_emitter_start(&e);
  nat_emitter_join(&e);
  ck_assert_uint_eq(e.committed, 3);
  ck_assert_uint_eq(nat_sink_drain_all(&sink), 3);
  for (size_t i = 0; i < 3; i++) {
    ck_assert_uint_eq(sink.recs[i].thread, e.serial);
    ck_assert_uint_eq(sink.recs[i].link_id, i);
    ck_assert_uint_eq(sink.recs[i].site, 9);
    ck_assert_uint_eq(sink.recs[i].env, 4);
  }
  ck_assert_uint_ne(e.serial, nat__thread_serial());
  nat_sink_free(&sink);
}
END_TEST

START_TEST(ring_owner_counts) {
  uv_sem_t after, hold;
  ck_assert_int_eq(uv_sem_init(&after, 0), 0);
  ck_assert_int_eq(uv_sem_init(&hold, 0), 0);
  ck_assert_int_eq(nat__enable(16), 0);

  nat_emitter_t e = {.n = 3, .after = &after, .hold = &hold};
  nat_emitter_start(&e);
  uv_sem_wait(&after);
  nat__stats_t alive = stats(); /* asserted once the thread is joined */
  uv_sem_post(&hold);
  nat_emitter_join(&e);
  ck_assert_uint_eq(alive.rings, 1);
  ck_assert_uint_eq(alive.threads, 1);
  ck_assert_uint_eq(alive.pending, 3);

  /* The thread is gone; its records are not. */
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.rings, 1);
  ck_assert_uint_eq(s.threads, 0);
  ck_assert_uint_eq(s.pending, 3);
  ck_assert_uint_eq(s.recorded, 3);
  uv_sem_destroy(&after);
  uv_sem_destroy(&hold);
}
END_TEST

START_TEST(ring_limit_drops_ringless_threads) {
  ck_assert_int_eq(nat__enable(16), 0);
  nat__set_max_rings(1);
  ck_assert_uint_eq(emit_n(2, NULL), 2);

  /* The only ring is taken: another thread records nothing, counted. */
  nat_emitter_t e = {.n = 5};
  nat_emitter_start(&e);
  nat_emitter_join(&e);
  ck_assert_uint_eq(e.committed, 0);
  ck_assert_uint_eq(e.dropped, 5);
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.rings, 1);
  ck_assert_uint_eq(s.recorded, 2);
  ck_assert_uint_eq(s.dropped, 5);

  /* 0 restores the default limit. */
  nat__set_max_rings(0);
  nat_emitter_t f = {.n = 5};
  nat_emitter_start(&f);
  nat_emitter_join(&f);
  ck_assert_uint_eq(f.committed, 5);
  ck_assert_uint_eq(stats().rings, 2);
}
END_TEST

/*
 * A thread that found no ring tries again once a drain has recycled the
 * ring of an exited thread. Thread A records and exits; thread B, started
 * while the only ring is still A's, drops one record; the main thread drains
 * (recycling A's ring); B records again and must now succeed.
 */
typedef struct {
  uv_sem_t first_done;
  uv_sem_t drained;
  int first, second; /* what nat__emit returned */
  uint32_t serial;
} retry_t;

static void retry_thread(void* arg) {
  retry_t* r = arg;
  r->serial = nat__thread_serial();
  r->first = nat__emit(NAT_EV_READY, 1, 2, 3, 0, 0);
  uv_sem_post(&r->first_done);
  uv_sem_wait(&r->drained);
  r->second = nat__emit(NAT_EV_READY, 4, 5, 6, 0, 0);
}

START_TEST(ring_ringless_thread_retries_after_recycle) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(16), 0);
  nat__set_max_rings(1);

  nat_emitter_t a = {.n = 2};
  nat_emitter_start(&a);
  nat_emitter_join(&a);
  ck_assert_uint_eq(a.committed, 2);

  retry_t r = {0};
  uv_thread_t b;
  ck_assert_int_eq(uv_sem_init(&r.first_done, 0), 0);
  ck_assert_int_eq(uv_sem_init(&r.drained, 0), 0);
  ck_assert_int_eq(uv_thread_create(&b, retry_thread, &r), 0);
  /* While B waits, drain without asserting (B must be joined first):
   * A's two records, then the marker for B's lost record (thread 0: it had
   * no ring). The drain recycles A's ring. */
  uv_sem_wait(&r.first_done);
  int64_t n = nat__drain(nat_sink_alloc, &sink, 0);
  if (n > 0) sink.len += (size_t)n;
  uv_sem_post(&r.drained);
  ck_assert_int_eq(uv_thread_join(&b), 0);

  ck_assert_int_eq(r.first, -1);
  ck_assert_int_eq(n, 3);
  ck_assert_uint_eq(sink.recs[2].type, NAT_EV_LOST);
  ck_assert_uint_eq(sink.recs[2].thread, 0);
  ck_assert_uint_eq(sink.recs[2].link_id, 1);
  ck_assert_int_eq(r.second, 1);
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.rings, 1);
  ck_assert_uint_eq(s.recorded, 3);
  ck_assert_uint_eq(s.dropped, 1);

  nat_sink_clear(&sink);
  ck_assert_uint_eq(nat_sink_drain_all(&sink), 1);
  ck_assert_uint_eq(sink.recs[0].thread, r.serial);
  ck_assert_uint_eq(sink.recs[0].execute_id, 4);
  uv_sem_destroy(&r.first_done);
  uv_sem_destroy(&r.drained);
  nat_sink_free(&sink);
}
END_TEST

/*
 * Regression (issue 12, item 7): raising the ring limit lets a thread that
 * found no ring get one. Thread B records while the only ring is taken
 * (dropped, counted); the limit is raised with no drain in between; B's
 * next record must commit into a ring of its own.
 */
START_TEST(ring_raised_limit_gives_ringless_thread_a_ring) {
  ck_assert_int_eq(nat__enable(16), 0);
  nat__set_max_rings(1);
  ck_assert_uint_eq(emit_n(1, NULL), 1); /* the only ring is this thread's */

  retry_t r = {0};
  uv_thread_t b;
  ck_assert_int_eq(uv_sem_init(&r.first_done, 0), 0);
  ck_assert_int_eq(uv_sem_init(&r.drained, 0), 0);
  ck_assert_int_eq(uv_thread_create(&b, retry_thread, &r), 0);
  uv_sem_wait(&r.first_done);
  nat__set_max_rings(2);
  uv_sem_post(&r.drained);
  ck_assert_int_eq(uv_thread_join(&b), 0);

  ck_assert_int_eq(r.first, -1);
  ck_assert_msg(r.second == 1,
                "a thread that once got no ring still gets none after the "
                "ring limit was raised (nat__emit returned %d)", r.second);
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.rings, 2);
  ck_assert_uint_eq(s.recorded, 2);
  ck_assert_uint_eq(s.dropped, 1);
  uv_sem_destroy(&r.first_done);
  uv_sem_destroy(&r.drained);
}
END_TEST

START_TEST(ring_reset_frees_everything) {
  ck_assert_int_eq(nat__enable(32), 0);
  nat__set_max_rings(1);
  size_t dropped = 0;
  ck_assert_uint_eq(emit_n(40, &dropped), 32);
  nat_emitter_t e = {.n = 1};
  nat_emitter_start(&e);
  nat_emitter_join(&e);
  ck_assert_uint_eq(e.dropped, 1);

  nat__core_reset();
  ck_assert_int_eq(nat__is_enabled(), 0);
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.recorded, 0);
  ck_assert_uint_eq(s.dropped, 0);
  ck_assert_uint_eq(s.drained, 0);
  ck_assert_uint_eq(s.pending, 0);
  ck_assert_uint_eq(s.rings, 0);
  ck_assert_uint_eq(s.threads, 0);
  ck_assert_uint_eq(s.ring_bytes, 0);
  ck_assert_uint_eq(s.capacity, NAT_DEFAULT_CAPACITY);

  /* The ring limit is back to the default, and this thread gets a fresh
   * ring of the default size. */
  ck_assert_int_eq(nat__enable(0), 0);
  ck_assert_uint_eq(emit_n(1, NULL), 1);
  nat_emitter_t f = {.n = 1};
  nat_emitter_start(&f);
  nat_emitter_join(&f);
  ck_assert_uint_eq(f.committed, 1);
  s = stats();
  ck_assert_uint_eq(s.rings, 2);
  ck_assert_uint_eq(s.recorded, 2);
  ck_assert_uint_ge(s.ring_bytes,
                    2 * NAT_DEFAULT_CAPACITY * sizeof(nat_record_t));
}
END_TEST

/*
 * Regression: a ring whose thread was still alive when the capacity changed
 * becomes free later with the old size. The drain that frees it must release
 * it (no thread would be given it), so the next thread gets a ring of the
 * new size and the ring limit is not eaten by a stranded ring.
 */
START_TEST(ring_old_capacity_ring_is_released) {
  uv_sem_t after, hold;
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(uv_sem_init(&after, 0), 0);
  ck_assert_int_eq(uv_sem_init(&hold, 0), 0);
  ck_assert_int_eq(nat__enable(16), 0);
  nat__set_max_rings(1);

  nat_emitter_t a = {.n = 1, .after = &after, .hold = &hold};
  nat_emitter_start(&a);
  uv_sem_wait(&after);
  int enabled = nat__enable(32); /* while A still owns its ring */
  uv_sem_post(&hold);
  nat_emitter_join(&a);
  ck_assert_int_eq(enabled, 0);
  ck_assert_uint_eq(nat_sink_drain_all(&sink), 1); /* recycles A's ring */

  nat_emitter_t b = {.n = 1};
  nat_emitter_start(&b);
  nat_emitter_join(&b);
  ck_assert_msg(b.committed == 1,
                "a thread found no ring although the only ring is free "
                "(it has the old capacity and is never reused)");
  ck_assert_uint_eq(stats().rings, 1);
  uv_sem_destroy(&after);
  uv_sem_destroy(&hold);
  nat_sink_free(&sink);
}
END_TEST

Suite* nat_ring_suite(void) {
  Suite* s = suite_create("ring");
  TCase* tc = tcase_create("ring");
  tcase_add_checked_fixture(tc, nat_check_setup, nat_check_teardown);
  tcase_set_timeout(tc, NAT_CHECK_TIMEOUT);
  tcase_add_test(tc, ring_off_by_default);
  tcase_add_test(tc, ring_emit_stores_every_field);
  tcase_add_test(tc, ring_enable_disable);
  tcase_add_test(tc, ring_emit_owed_records_after_disable);
  tcase_add_test(tc, ring_capacity_rounding);
  tcase_add_test(tc, ring_holds_capacity_records);
  tcase_add_test(tc, ring_full_drops_and_counts);
  suite_add_tcase(s, tc);

  tc = tcase_create("ring_threads");
  tcase_add_checked_fixture(tc, nat_check_setup, nat_check_teardown);
  tcase_set_timeout(tc, NAT_CHECK_THREAD_TIMEOUT);
  tcase_add_test(tc, ring_existing_ring_keeps_its_size);
  tcase_add_test(tc, ring_capacity_change_releases_free_rings);
  tcase_add_test(tc, ring_thread_serials);
  tcase_add_test(tc, ring_records_carry_their_thread);
  tcase_add_test(tc, ring_owner_counts);
  tcase_add_test(tc, ring_limit_drops_ringless_threads);
  tcase_add_test(tc, ring_ringless_thread_retries_after_recycle);
  tcase_add_test(tc, ring_raised_limit_gives_ringless_thread_a_ring);
  tcase_add_test(tc, ring_reset_frees_everything);
  tcase_add_test(tc, ring_old_capacity_ring_is_released);
  suite_add_tcase(s, tc);
  return s;
}
