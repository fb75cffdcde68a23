/*
 * The consumer side: nat__drain merges the rings by timestamp (keeping each
 * thread's order), writes exact NAT_EV_LOST markers, honours `max`, leaves
 * everything in place when alloc fails, and recycles the rings of exited
 * threads so that short-lived threads do not pile up rings.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check_util.h"

static nat__stats_t stats(void) {
  nat__stats_t s;
  nat__stats(&s);
  return s;
}

/* Emits n LINK records with link_id = first, first + 1, ... from the calling
 * thread; returns how many committed. */
static size_t emit_seq(uint64_t first, size_t n) {
  size_t ok = 0;
  for (size_t i = 0; i < n; i++)
    ok += nat__emit(NAT_EV_LINK, 0, first + i, 0, 0, 0) == 1;
  return ok;
}

/* Checks that recs[from, from + n) are LINK records of `thread` with
 * link_id = first, first + 1, ... */
static void assert_seq(const nat_sink_t* s, size_t from, size_t n,
                       uint32_t thread, uint64_t first) {
  ck_assert_uint_le(from + n, s->len);
  for (size_t i = 0; i < n; i++) {
    const nat_record_t* r = &s->recs[from + i];
    nat_assert_uint_eq(r->type, NAT_EV_LINK);
    nat_assert_uint_eq(r->thread, thread);
    nat_assert_uint_eq(r->link_id, first + i);
  }
}

/* Checks that the records of `thread` among recs[from, to) are exactly n
 * LINK records with link_id = first, first + 1, ..., in that order, and that
 * recs[from, to) is sorted by timestamp. How records of different threads
 * interleave is not checked: across threads the drain promises timestamp
 * order only, and stamps of different CPUs are comparable only to within
 * the clock's cross-CPU error (nat_core.h). */
static void assert_thread_seq(const nat_sink_t* s, size_t from, size_t to,
                              uint32_t thread, uint64_t first, size_t n) {
  ck_assert_uint_le(to, s->len);
  size_t k = 0;
  for (size_t i = from; i < to; i++) {
    const nat_record_t* r = &s->recs[i];
    if (i > from) nat_assert_uint_ge(r->ts, s->recs[i - 1].ts);
    if (r->thread != thread) continue;
    nat_assert_uint_eq(r->type, NAT_EV_LINK);
    nat_assert_uint_eq(r->link_id, first + k);
    k++;
  }
  ck_assert_uint_eq(k, n);
}

/* Checks that r is a lost marker for `thread` counting `lost` records. */
static void assert_lost(const nat_record_t* r, uint32_t thread, uint64_t lost) {
  ck_assert_uint_eq(r->type, NAT_EV_LOST);
  ck_assert_uint_eq(r->thread, thread);
  ck_assert_uint_eq(r->link_id, lost);
  ck_assert_uint_eq(r->execute_id, 0);
  ck_assert_uint_eq(r->ready_id, 0);
  ck_assert_uint_eq(r->site, 0);
  ck_assert_uint_eq(r->env, 0);
  ck_assert_uint_eq(r->flags, 0);
}

START_TEST(drain_nothing) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  /* No ring at all, then an empty ring, then a drained one: alloc is never
   * called (nat_sink_drain checks that). */
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 0);
  ck_assert_int_eq(nat__enable(16), 0);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 0);
  ck_assert_uint_eq(emit_seq(0, 3), 3);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 3);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 0);
  ck_assert_int_eq(nat_sink_drain(&sink, 1), 0);
  ck_assert_uint_eq(sink.alloc_calls, 1);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(drain_one_thread_in_order) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(64), 0);
  ck_assert_uint_eq(emit_seq(0, 50), 50);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 50);
  assert_seq(&sink, 0, 50, nat__thread_serial(), 0);
  for (size_t i = 1; i < 50; i++)
    ck_assert_uint_ge(sink.recs[i].ts, sink.recs[i - 1].ts);
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.recorded, 50);
  ck_assert_uint_eq(s.drained, 50);
  ck_assert_uint_eq(s.pending, 0);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(drain_wraps_around_the_ring) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(16), 0);
  uint32_t me = nat__thread_serial();

  /* One ring (the bulk copy): 10 records, then 16 that wrap. */
  ck_assert_uint_eq(emit_seq(0, 10), 10);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 10);
  ck_assert_uint_eq(emit_seq(10, 16), 16);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 16);
  assert_seq(&sink, 0, 26, me, 0);

  /* Two rings (the merge): this thread's ring wraps again. */
  nat_emitter_t e = {.n = 16};
  nat_emitter_start(&e);
  nat_emitter_join(&e);
  ck_assert_uint_eq(e.committed, 16);
  ck_assert_uint_eq(emit_seq(26, 16), 16);
  nat_sink_clear(&sink);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 32);
  assert_thread_seq(&sink, 0, 32, e.serial, 0, 16);
  assert_thread_seq(&sink, 0, 32, me, 26, 16);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(drain_max_budget) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(16), 0);
  ck_assert_uint_eq(emit_seq(0, 10), 10);
  ck_assert_int_eq(nat_sink_drain(&sink, 3), 3);
  ck_assert_int_eq(nat_sink_drain(&sink, 3), 3);
  ck_assert_uint_eq(stats().pending, 4);
  ck_assert_uint_eq(stats().drained, 6);
  ck_assert_int_eq(nat_sink_drain(&sink, 100), 4);
  ck_assert_int_eq(nat_sink_drain(&sink, 3), 0);
  assert_seq(&sink, 0, 10, nat__thread_serial(), 0);
  ck_assert_uint_eq(stats().drained, 10);

  /* With several rings, `max` takes the earliest stamps of all of them:
   * the two batches together are sorted, each thread in its order. */
  nat_sink_clear(&sink);
  ck_assert_uint_eq(emit_seq(100, 4), 4);
  nat_emitter_t e = {.n = 4};
  nat_emitter_start(&e);
  nat_emitter_join(&e);
  ck_assert_int_eq(nat_sink_drain(&sink, 5), 5);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 3);
  assert_thread_seq(&sink, 0, 8, nat__thread_serial(), 100, 4);
  assert_thread_seq(&sink, 0, 8, e.serial, 0, 4);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(drain_lost_marker_counts_exactly) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  uint32_t me = nat__thread_serial();
  ck_assert_int_eq(nat__enable(16), 0);

  /* Ring full after 16: 4 lost. The marker follows the records and is
   * stamped no earlier than them. */
  ck_assert_uint_eq(emit_seq(0, 20), 16);
  uint64_t before = nat__now_ns();
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 17);
  assert_seq(&sink, 0, 16, me, 0);
  assert_lost(&sink.recs[16], me, 4);
  ck_assert_uint_ge(sink.recs[16].ts, sink.recs[15].ts);
  ck_assert_uint_ge(sink.recs[16].ts, before);

  /* The next marker counts only what was lost since. */
  nat_sink_clear(&sink);
  ck_assert_uint_eq(emit_seq(16, 19), 16);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 17);
  assert_seq(&sink, 0, 16, me, 16);
  assert_lost(&sink.recs[16], me, 3);

  /* Nothing lost, no marker. */
  nat_sink_clear(&sink);
  ck_assert_uint_eq(emit_seq(32, 5), 5);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 5);
  ck_assert_uint_eq(nat_sink_count_type(&sink, 0, NAT_EV_LOST), 0);

  /* The ring fills again: the marker counts only the new losses. */
  nat_sink_clear(&sink);
  ck_assert_uint_eq(emit_seq(37, 16), 16);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 16);
  ck_assert_uint_eq(emit_seq(53, 16), 16);
  ck_assert_uint_eq(emit_seq(69, 2), 0);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 17);
  assert_lost(&sink.recs[32], me, 2);

  nat__stats_t s = stats();
  ck_assert_uint_eq(s.dropped, 4 + 3 + 2);
  ck_assert_uint_eq(s.recorded, 16 + 16 + 5 + 16 + 16);
  /* Markers are not counted as drained records. */
  ck_assert_uint_eq(s.drained, s.recorded);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(drain_lost_marker_with_max) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  uint32_t me = nat__thread_serial();
  ck_assert_int_eq(nat__enable(16), 0);
  ck_assert_uint_eq(emit_seq(0, 20), 16);
  /* The budget limits records, not markers. */
  ck_assert_int_eq(nat_sink_drain(&sink, 5), 6);
  assert_seq(&sink, 0, 5, me, 0);
  assert_lost(&sink.recs[5], me, 4);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 11);
  assert_seq(&sink, 6, 11, me, 5);
  ck_assert_uint_eq(nat_sink_count_type(&sink, 0, NAT_EV_LOST), 1);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(drain_lost_markers_per_thread) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(16), 0);
  nat_emitter_t a = {.n = 20}, b = {.n = 25};
  nat_emitter_start(&a);
  nat_emitter_join(&a);
  nat_emitter_start(&b);
  nat_emitter_join(&b);
  ck_assert_uint_eq(a.dropped, 4);
  ck_assert_uint_eq(b.dropped, 9);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 32 + 2);
  assert_thread_seq(&sink, 0, 32, a.serial, 0, 16);
  assert_thread_seq(&sink, 0, 32, b.serial, 0, 16);
  /* One marker per ring, after the records, in no particular order. */
  const nat_record_t* ma = &sink.recs[32];
  const nat_record_t* mb = &sink.recs[33];
  if (ma->thread != a.serial) {
    ma = &sink.recs[33];
    mb = &sink.recs[32];
  }
  assert_lost(ma, a.serial, 4);
  assert_lost(mb, b.serial, 9);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(drain_lost_marker_for_ringless_threads) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(16), 0);
  nat__set_max_rings(1);
  ck_assert_uint_eq(emit_seq(0, 1), 1);
  nat_emitter_t e = {.n = 3};
  nat_emitter_start(&e);
  nat_emitter_join(&e);
  ck_assert_uint_eq(e.dropped, 3);
  /* Records of threads without a ring are reported under thread 0. */
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 2);
  assert_seq(&sink, 0, 1, nat__thread_serial(), 0);
  assert_lost(&sink.recs[1], 0, 3);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 0);
  ck_assert_uint_eq(stats().dropped, 3);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(drain_alloc_failure_consumes_nothing) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  uint32_t me = nat__thread_serial();
  ck_assert_int_eq(nat__enable(16), 0);
  nat__set_max_rings(1);
  ck_assert_uint_eq(emit_seq(0, 20), 16);
  nat_emitter_t e = {.n = 2};
  nat_emitter_start(&e);
  nat_emitter_join(&e);
  ck_assert_uint_eq(e.dropped, 2);

  /* Alloc is asked for 16 records and two markers, says no, and the drain
   * leaves everything where it was. */
  sink.fail = 1;
  ck_assert_int_eq(nat_sink_drain(&sink, 0), NAT_ENOMEM);
  ck_assert_uint_eq(sink.alloc_calls, 1);
  ck_assert_uint_eq(sink.last_count, 18);
  ck_assert_int_eq(nat_sink_drain(&sink, 4), NAT_ENOMEM);
  ck_assert_uint_eq(sink.last_count, 6);
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.pending, 16);
  ck_assert_uint_eq(s.drained, 0);
  ck_assert_uint_eq(nat__pending(), 16);

  sink.fail = 0;
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 18);
  assert_seq(&sink, 0, 16, me, 0);
  /* The ring's marker, then the one for ringless threads. */
  assert_lost(&sink.recs[16], me, 4);
  assert_lost(&sink.recs[17], 0, 2);
  s = stats();
  ck_assert_uint_eq(s.pending, 0);
  ck_assert_uint_eq(s.drained, 16);
  ck_assert_uint_eq(s.dropped, 6);
  nat_sink_free(&sink);
}
END_TEST

/*
 * Threads take turns through a ring of semaphores, so the order in which
 * they record is known: turn t is recorded with link_id = t. The drain must
 * give back what it promises (nat_core.h): records sorted by timestamp,
 * each thread's in its order, every turn once. The interleaving across
 * threads follows the stamps, which different CPUs agree on only to within
 * the clock's cross-CPU error, so it is not asserted.
 */
#define TURN_THREADS 3

typedef struct turn_s turn_t;

typedef struct {
  turn_t* shared;
  int index;
  uint32_t serial;
  uv_thread_t thread;
} turn_worker_t;

struct turn_s {
  uv_sem_t sem[TURN_THREADS];
  size_t rounds;
  uint64_t next_turn; /* passed along with the token */
  size_t failed;      /* emits that did not commit; written with the token */
  turn_worker_t w[TURN_THREADS];
};

static void turn_thread(void* arg) {
  turn_worker_t* w = arg;
  turn_t* t = w->shared;
  w->serial = nat__thread_serial();
  for (size_t r = 0; r < t->rounds; r++) {
    uv_sem_wait(&t->sem[w->index]);
    /* Thread i records i + 1 records per turn. */
    for (int k = 0; k <= w->index; k++)
      if (nat__emit(NAT_EV_LINK, 0, t->next_turn++, 0, 0, 0) != 1) t->failed++;
    uv_sem_post(&t->sem[(w->index + 1) % TURN_THREADS]);
  }
}

static size_t run_turns(turn_t* t, size_t rounds) {
  memset(t, 0, sizeof(*t));
  t->rounds = rounds;
  for (int i = 0; i < TURN_THREADS; i++)
    ck_assert_int_eq(uv_sem_init(&t->sem[i], 0), 0);
  for (int i = 0; i < TURN_THREADS; i++) {
    t->w[i] = (turn_worker_t){.shared = t, .index = i};
    ck_assert_int_eq(uv_thread_create(&t->w[i].thread, turn_thread, &t->w[i]),
                     0);
  }
  uv_sem_post(&t->sem[0]);
  for (int i = 0; i < TURN_THREADS; i++)
    ck_assert_int_eq(uv_thread_join(&t->w[i].thread), 0);
  for (int i = 0; i < TURN_THREADS; i++) uv_sem_destroy(&t->sem[i]);
  ck_assert_uint_eq(t->failed, 0);
  return rounds * TURN_THREADS * (TURN_THREADS + 1) / 2;
}

/* Checks the merged order of recs[0, n): by timestamp, each thread's
 * records in its order, every turn once. */
static void assert_turn_order(const nat_sink_t* s, const turn_t* t, size_t n) {
  ck_assert_uint_eq(s->len, n);
  unsigned char* seen = calloc(n, 1);
  uint64_t last[TURN_THREADS];
  int have[TURN_THREADS] = {0};
  ck_assert_ptr_nonnull(seen);
  for (size_t i = 0; i < n; i++) {
    const nat_record_t* r = &s->recs[i];
    nat_assert_uint_eq(r->type, NAT_EV_LINK);
    nat_assert_uint_lt(r->link_id, n);
    nat_assert_uint_eq(seen[r->link_id], 0);
    seen[r->link_id] = 1;
    if (i > 0) {
      const nat_record_t* p = &s->recs[i - 1];
      nat_assert_uint_ge(r->ts, p->ts);
    }
    int k = -1;
    for (int j = 0; j < TURN_THREADS; j++)
      if (t->w[j].serial == r->thread) k = j;
    nat_assert(k >= 0);
    if (have[k]) nat_assert_uint_gt(r->link_id, last[k]);
    have[k] = 1;
    last[k] = r->link_id;
  }
  free(seen);
}

START_TEST(drain_merges_threads_by_timestamp) {
  nat_sink_t sink;
  turn_t* t = malloc(sizeof(*t));
  ck_assert_ptr_nonnull(t);
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(4096), 0);
  size_t n = run_turns(t, nat_check_scaled(500, 50));
  ck_assert_int_eq(nat_sink_drain(&sink, 0), (int64_t)n);
  assert_turn_order(&sink, t, n);
  free(t);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(drain_merges_threads_with_max) {
  nat_sink_t sink;
  turn_t* t = malloc(sizeof(*t));
  ck_assert_ptr_nonnull(t);
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(4096), 0);
  size_t n = run_turns(t, nat_check_scaled(500, 50));
  /* Everything was committed before the first drain, so each budgeted
   * drain takes the earliest records overall: the batches concatenate to
   * the same order as one big drain. */
  size_t drains = 0;
  int64_t got;
  while ((got = nat_sink_drain(&sink, 7)) > 0) {
    ck_assert_int_le(got, 7);
    drains++;
  }
  ck_assert_uint_eq(drains, (n + 6) / 7);
  assert_turn_order(&sink, t, n);
  free(t);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(drain_recycles_ring_of_exited_thread) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(16), 0);
  nat_emitter_t a = {.n = 5};
  nat_emitter_start(&a);
  nat_emitter_join(&a);
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.rings, 1);
  ck_assert_uint_eq(s.threads, 0);
  ck_assert_uint_eq(s.pending, 5);

  ck_assert_int_eq(nat_sink_drain(&sink, 0), 5);
  assert_seq(&sink, 0, 5, a.serial, 0);

  /* The next thread gets the same ring, under its own serial; the totals
   * of the first owner are kept. */
  nat_emitter_t b = {.n = 3};
  nat_emitter_start(&b);
  nat_emitter_join(&b);
  ck_assert_uint_eq(b.committed, 3);
  s = stats();
  ck_assert_uint_eq(s.rings, 1);
  ck_assert_uint_eq(s.recorded, 8);
  ck_assert_uint_eq(s.drained, 5);
  ck_assert_uint_eq(s.pending, 3);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 3);
  assert_seq(&sink, 5, 3, b.serial, 0);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(drain_recycles_ring_with_losses) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(16), 0);
  nat_emitter_t a = {.n = 20};
  nat_emitter_start(&a);
  nat_emitter_join(&a);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 17);
  assert_lost(&sink.recs[16], a.serial, 4);

  /* The recycled ring starts with no losses of its own. */
  nat_emitter_t b = {.n = 22};
  nat_emitter_start(&b);
  nat_emitter_join(&b);
  ck_assert_uint_eq(b.committed, 16);
  nat__stats_t s = stats();
  ck_assert_uint_eq(s.rings, 1);
  ck_assert_uint_eq(s.recorded, 32);
  ck_assert_uint_eq(s.dropped, 10);
  nat_sink_clear(&sink);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 17);
  assert_seq(&sink, 0, 16, b.serial, 0);
  assert_lost(&sink.recs[16], b.serial, 6);
  s = stats();
  ck_assert_uint_eq(s.recorded, 32);
  ck_assert_uint_eq(s.dropped, 10);
  ck_assert_uint_eq(s.drained, 32);
  ck_assert_uint_eq(s.pending, 0);
  nat_sink_free(&sink);
}
END_TEST

START_TEST(drain_keeps_partly_drained_ring) {
  nat_sink_t sink;
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(16), 0);
  nat_emitter_t a = {.n = 10};
  nat_emitter_start(&a);
  nat_emitter_join(&a);
  ck_assert_int_eq(nat_sink_drain(&sink, 4), 4);

  /* A's ring still holds 6 records: it is not handed to the next thread. */
  nat_emitter_t b = {.n = 1};
  nat_emitter_start(&b);
  nat_emitter_join(&b);
  ck_assert_uint_eq(stats().rings, 2);
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 7);
  assert_seq(&sink, 0, 4, a.serial, 0);
  assert_thread_seq(&sink, 4, 11, a.serial, 4, 6);
  assert_thread_seq(&sink, 4, 11, b.serial, 0, 1);

  /* Both rings are free now; a third thread takes one of them. */
  nat_emitter_t c = {.n = 1};
  nat_emitter_start(&c);
  nat_emitter_join(&c);
  ck_assert_uint_eq(stats().rings, 2);
  ck_assert_uint_eq(stats().recorded, 12);
  nat_sink_free(&sink);
}
END_TEST

/*
 * 10,000 short-lived threads, a batch at a time: each records a few events
 * (some more than their ring holds) and exits; a drain between batches
 * recycles their rings. The ring count stays at one batch and the totals
 * are exact.
 */
#define SHORT_BATCH 100

START_TEST(drain_short_lived_threads_reuse_rings) {
  size_t batches = nat_check_scaled(100, 5);
  nat_emitter_t* e = calloc(SHORT_BATCH, sizeof(*e));
  unsigned char* mine = NULL;
  nat_sink_t sink;
  ck_assert_ptr_nonnull(e);
  nat_sink_init(&sink);
  ck_assert_int_eq(nat__enable(16), 0);
  uint32_t seen_before = stats().threads_seen;

  uint64_t produced = 0, committed = 0, dropped = 0;
  size_t mismatches = 0, max_rings = 0;
  for (size_t b = 0; b < batches; b++) {
    for (size_t i = 0; i < SHORT_BATCH; i++) {
      e[i] =
          (nat_emitter_t){.n = (b * SHORT_BATCH + i) % 24, .site = (uint32_t)i};
      nat_emitter_start(&e[i]);
    }
    uint64_t batch_committed = 0, batch_dropped = 0;
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t i = 0; i < SHORT_BATCH; i++) {
      nat_emitter_join(&e[i]);
      produced += e[i].n;
      batch_committed += e[i].committed;
      batch_dropped += e[i].dropped;
      if (e[i].committed + e[i].dropped != e[i].n) mismatches++;
      if (e[i].serial < lo) lo = e[i].serial;
      if (e[i].serial > hi) hi = e[i].serial;
    }
    committed += batch_committed;
    dropped += batch_dropped;

    /* Each record comes back once, from the thread that made it, with the
     * lost counts of exactly this batch. */
    nat_sink_clear(&sink);
    nat_sink_drain_all(&sink);
    mine = realloc(mine, hi - lo + 1);
    ck_assert_ptr_nonnull(mine);
    memset(mine, 0, hi - lo + 1);
    for (size_t i = 0; i < SHORT_BATCH; i++) mine[e[i].serial - lo] = 1;
    uint64_t got = 0, lost = 0;
    for (size_t i = 0; i < sink.len; i++) {
      const nat_record_t* r = &sink.recs[i];
      nat_assert(r->thread >= lo && r->thread <= hi && mine[r->thread - lo]);
      if (r->type == NAT_EV_LOST)
        lost += r->link_id;
      else
        got++;
    }
    nat_assert_uint_eq(got, batch_committed);
    nat_assert_uint_eq(lost, batch_dropped);
    nat__stats_t s = stats();
    if (s.rings > max_rings) max_rings = s.rings;
    nat_assert_uint_eq(s.threads, 0);
  }

  ck_assert_uint_eq(mismatches, 0);
  ck_assert_uint_gt(dropped, 0);
  nat__stats_t s = stats();
  ck_assert_uint_le(max_rings, SHORT_BATCH);
  ck_assert_uint_le(s.rings, SHORT_BATCH);
  ck_assert_uint_eq(s.threads, 0);
  ck_assert_uint_eq(s.threads_seen - seen_before, batches * SHORT_BATCH);
  ck_assert_uint_eq(s.recorded, committed);
  ck_assert_uint_eq(s.dropped, dropped);
  ck_assert_uint_eq(s.recorded + s.dropped, produced);
  ck_assert_uint_eq(s.drained, s.recorded);
  ck_assert_uint_eq(s.pending, 0);
  ck_assert_uint_le(s.ring_bytes,
                    SHORT_BATCH * (16 * sizeof(nat_record_t) + 1024));
  free(mine);
  free(e);
  nat_sink_free(&sink);
}
END_TEST

/*
 * Regression: a drain with nothing to write must still recycle the empty
 * ring of a thread that exited after its records were drained, or with the
 * ring limit reached the next thread would lose its records although a ring
 * is free.
 */
START_TEST(drain_empty_drain_recycles) {
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
  int64_t n = nat__drain(nat_sink_alloc, &sink, 0); /* A is still alive */
  uv_sem_post(&hold);
  nat_emitter_join(&a);
  ck_assert_int_eq(n, 1);
  /* A has exited and its ring is empty: this drain should recycle it. */
  ck_assert_int_eq(nat_sink_drain(&sink, 0), 0);

  nat_emitter_t b = {.n = 1};
  nat_emitter_start(&b);
  nat_emitter_join(&b);
  ck_assert_msg(b.committed == 1,
                "the drained ring of an exited thread was not recycled by a "
                "drain that had nothing to write");
  uv_sem_destroy(&after);
  uv_sem_destroy(&hold);
  nat_sink_free(&sink);
}
END_TEST

Suite* nat_drain_suite(void) {
  Suite* s = suite_create("drain");
  TCase* tc = tcase_create("drain");
  tcase_add_checked_fixture(tc, nat_check_setup, nat_check_teardown);
  tcase_set_timeout(tc, NAT_CHECK_TIMEOUT);
  tcase_add_test(tc, drain_nothing);
  tcase_add_test(tc, drain_one_thread_in_order);
  tcase_add_test(tc, drain_max_budget);
  tcase_add_test(tc, drain_lost_marker_counts_exactly);
  tcase_add_test(tc, drain_lost_marker_with_max);
  suite_add_tcase(s, tc);

  tc = tcase_create("drain_threads");
  tcase_add_checked_fixture(tc, nat_check_setup, nat_check_teardown);
  tcase_set_timeout(tc, NAT_CHECK_THREAD_TIMEOUT);
  tcase_add_test(tc, drain_wraps_around_the_ring);
  tcase_add_test(tc, drain_lost_markers_per_thread);
  tcase_add_test(tc, drain_lost_marker_for_ringless_threads);
  tcase_add_test(tc, drain_alloc_failure_consumes_nothing);
  tcase_add_test(tc, drain_merges_threads_by_timestamp);
  tcase_add_test(tc, drain_merges_threads_with_max);
  tcase_add_test(tc, drain_recycles_ring_of_exited_thread);
  tcase_add_test(tc, drain_recycles_ring_with_losses);
  tcase_add_test(tc, drain_keeps_partly_drained_ring);
  tcase_add_test(tc, drain_short_lived_threads_reuse_rings);
  tcase_add_test(tc, drain_empty_drain_recycles);
  suite_add_tcase(s, tc);
  return s;
}
