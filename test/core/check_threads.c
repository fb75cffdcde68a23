/*
 * Producers and consumers at the same time: 2 or 4 threads record N events
 * each while the main thread (and in one test a second thread) drains. At the
 * end every event is accounted for exactly once: drained, or dropped and
 * reported by a lost marker, or refused while recording was off.
 *
 * Each producer takes a fresh ID per event and records it as a READY with
 * execute_id = ID, link_id = its own sequence number, ready_id = ~ID (a
 * check value), site = env = producer index + 1. It notes in `ok[ID]` which
 * IDs it committed; the consumers count in `seen[ID]` which IDs they got.
 * Consumers only count errors (they may run off the main thread, where Check
 * assertions must not be used); the main thread asserts after joining.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check_util.h"

#define MAX_PRODUCERS 4
#define MAX_DRAINERS 2

typedef struct {
  int producers;
  size_t n;          /* events per producer */
  uint32_t capacity; /* ring capacity */
  size_t max;        /* nat__drain budget, 0 for none */
  int toggle;        /* the main thread turns recording off and on */
  int drainers;      /* threads draining (the main thread is one) */
  size_t burst;      /* events each producer records before draining starts */
} threads_cfg_t;

typedef struct run_s run_t;

typedef struct {
  run_t* run;
  int index;
  uv_thread_t thread;
  uint32_t serial;
  size_t committed, dropped, off;
} producer_t;

typedef struct {
  run_t* run;
  uv_thread_t thread;
  nat_record_t* buf; /* scratch buffer for one drain */
  size_t cap;
  unsigned char* seen; /* seen[id]: times the ID was drained */
  uint64_t got[MAX_PRODUCERS];
  uint64_t lost[MAX_PRODUCERS];
  uint64_t ringless_lost;
  uint64_t last_seq[MAX_PRODUCERS];
  int have_seq[MAX_PRODUCERS];
  nat__stats_t last_stats;
  size_t drains;
  size_t errors;
  char first_error[200];
} collector_t;

struct run_s {
  threads_cfg_t cfg;
  size_t total; /* IDs handed out: producers * n */
  unsigned char* ok;
  uint32_t serials[MAX_PRODUCERS];
  uv_barrier_t start;
  _Atomic int done; /* producers finished */
  producer_t p[MAX_PRODUCERS];
  collector_t c[MAX_DRAINERS];
};

static void producer_emit(producer_t* p, size_t seq) {
  uint32_t site = (uint32_t)p->index + 1;
  uint64_t id = nat__id_next();
  int r = nat__emit(NAT_EV_READY, id, seq, ~id, site, site);
  if (r == 1) {
    p->run->ok[id] = 1;
    p->committed++;
  } else if (r < 0) {
    p->dropped++;
  } else {
    p->off++;
  }
}

static void producer_main(void* arg) {
  producer_t* p = arg;
  run_t* run = p->run;
  size_t burst = run->cfg.burst < run->cfg.n ? run->cfg.burst : run->cfg.n;
  size_t i = 0;
  p->serial = nat__thread_serial();
  /* Nothing drains before the barrier: a burst longer than the ring is
   * sure to drop. */
  for (; i < burst; i++) producer_emit(p, i);
  uv_barrier_wait(&run->start);
  for (; i < run->cfg.n; i++) producer_emit(p, i);
  atomic_fetch_add(&run->done, 1);
}

static void collector_error(collector_t* c, const char* what, size_t i,
                            const nat_record_t* r) {
  if (c->errors++ == 0)
    snprintf(c->first_error, sizeof(c->first_error),
             "drain %zu, record %zu: %s (type %u thread %u site %u "
             "execute_id %llu link_id %llu)",
             c->drains, i, what, (unsigned)r->type, (unsigned)r->thread,
             (unsigned)r->site, (unsigned long long)r->execute_id,
             (unsigned long long)r->link_id);
}

static nat_record_t* collector_alloc(void* ud, size_t count) {
  collector_t* c = ud;
  if (count > c->cap) {
    free(c->buf);
    c->cap = count * 2;
    c->buf = malloc(c->cap * sizeof(nat_record_t));
    if (c->buf == NULL) c->cap = 0;
  }
  return c->buf;
}

/* Checks one drained batch: timestamps never go back, markers come last,
 * each record is intact, belongs to a producer, carries a fresh ID and
 * follows that producer's previous record. */
static void collector_check(collector_t* c, size_t n) {
  run_t* run = c->run;
  int markers = 0;
  /* With several drainers, batches are checked in no global order, so a
   * producer's order can only be checked within a batch. */
  if (run->cfg.drainers > 1) memset(c->have_seq, 0, sizeof(c->have_seq));
  for (size_t i = 0; i < n; i++) {
    const nat_record_t* r = &c->buf[i];
    if (i > 0 && r->ts < c->buf[i - 1].ts)
      collector_error(c, "timestamp earlier than the previous record", i, r);
    if (r->type == NAT_EV_LOST) {
      markers = 1;
      if (r->thread == 0) {
        c->ringless_lost += r->link_id;
        continue;
      }
      int k = -1;
      for (int j = 0; j < run->cfg.producers; j++)
        if (run->serials[j] == r->thread) k = j;
      if (k < 0)
        collector_error(c, "lost marker of an unknown thread", i, r);
      else
        c->lost[k] += r->link_id;
      continue;
    }
    if (markers) collector_error(c, "record after a lost marker", i, r);
    if (r->type != NAT_EV_READY || r->flags != 0) {
      collector_error(c, "bad type or flags", i, r);
      continue;
    }
    uint32_t k = r->site - 1;
    if (r->site == 0 || k >= (uint32_t)run->cfg.producers ||
        r->env != r->site || r->thread != run->serials[k]) {
      collector_error(c, "record of an unknown producer", i, r);
      continue;
    }
    uint64_t id = r->execute_id;
    if (id == 0 || id > run->total || r->ready_id != ~id ||
        r->link_id >= run->cfg.n) {
      collector_error(c, "torn or invalid record", i, r);
      continue;
    }
    if (c->seen[id]++ != 0) collector_error(c, "ID drained twice", i, r);
    if (c->have_seq[k] && r->link_id <= c->last_seq[k])
      collector_error(c, "producer's records out of order", i, r);
    c->have_seq[k] = 1;
    c->last_seq[k] = r->link_id;
    c->got[k]++;
  }
}

/* Statistics only grow, and what was recorded is drained or pending. */
static void collector_check_stats(collector_t* c) {
  nat__stats_t s;
  nat__stats(&s);
  nat__stats_t* l = &c->last_stats;
  nat_record_t none = {0};
  if (s.recorded < l->recorded || s.dropped < l->dropped ||
      s.drained < l->drained)
    collector_error(c, "statistics went back", 0, &none);
  if (s.recorded != s.drained + s.pending)
    collector_error(c, "recorded != drained + pending", 0, &none);
  *l = s;
}

static void collector_drain(collector_t* c) {
  int64_t n = nat__drain(collector_alloc, c, c->run->cfg.max);
  nat_record_t none = {0};
  if (n < 0) {
    collector_error(c, "nat__drain failed", 0, &none);
    return;
  }
  if (c->run->cfg.max != 0 &&
      (size_t)n > c->run->cfg.max + (size_t)c->run->cfg.producers + 1)
    collector_error(c, "drain exceeded its budget", 0, &none);
  collector_check(c, (size_t)n);
  c->drains++;
}

/* Drains until every producer is done, then until nothing is left. The
 * main thread also turns recording off and on when asked to. */
static void collector_run(collector_t* c, int is_main) {
  run_t* run = c->run;
  for (size_t i = 0; atomic_load(&run->done) < run->cfg.producers; i++) {
    collector_drain(c);
    /* Let the producers run: under valgrind threads take turns, and a
     * drainer that never yields would mostly drain nothing. */
    sched_yield();
    if (i % 8 == 0) collector_check_stats(c);
    if (is_main && run->cfg.toggle && i % 4 == 0) {
      if (nat__is_enabled())
        nat__disable();
      else
        nat__enable(0);
    }
  }
  if (is_main && run->cfg.toggle) nat__enable(0);
  size_t before;
  do {
    before = c->drains;
    int64_t n = nat__drain(collector_alloc, c, run->cfg.max);
    if (n > 0) {
      collector_check(c, (size_t)n);
      c->drains++;
    }
  } while (c->drains != before);
  collector_check_stats(c);
}

static void drainer_main(void* arg) { collector_run(arg, 0); }

static void run_threads(const threads_cfg_t* cfg) {
  run_t* run = calloc(1, sizeof(*run));
  ck_assert_ptr_nonnull(run);
  run->cfg = *cfg;
  run->total = (size_t)cfg->producers * cfg->n;
  run->ok = calloc(run->total + 1, 1);
  ck_assert_ptr_nonnull(run->ok);
  for (int d = 0; d < cfg->drainers; d++) {
    run->c[d].run = run;
    run->c[d].seen = calloc(run->total + 1, 1);
    ck_assert_ptr_nonnull(run->c[d].seen);
  }
  ck_assert_int_eq(nat__enable(cfg->capacity), 0);
  ck_assert_int_eq(uv_barrier_init(&run->start, cfg->producers + 1), 0);

  for (int i = 0; i < cfg->producers; i++) {
    run->p[i].run = run;
    run->p[i].index = i;
    ck_assert_int_eq(
        uv_thread_create(&run->p[i].thread, producer_main, &run->p[i]), 0);
  }
  /* After the barrier every producer has its serial and may record. */
  uv_barrier_wait(&run->start);
  for (int i = 0; i < cfg->producers; i++) run->serials[i] = run->p[i].serial;
  for (int d = 1; d < cfg->drainers; d++)
    ck_assert_int_eq(
        uv_thread_create(&run->c[d].thread, drainer_main, &run->c[d]), 0);
  collector_run(&run->c[0], 1);

  for (int i = 0; i < cfg->producers; i++)
    ck_assert_int_eq(uv_thread_join(&run->p[i].thread), 0);
  for (int d = 1; d < cfg->drainers; d++)
    ck_assert_int_eq(uv_thread_join(&run->c[d].thread), 0);
  uv_barrier_destroy(&run->start);
  /* Producers exited after the drainers' last look: drain once more so
   * their rings are recycled (and anything left is counted). */
  collector_drain(&run->c[0]);

  /* Every consumer's checks passed. */
  for (int d = 0; d < cfg->drainers; d++)
    ck_assert_msg(run->c[d].errors == 0, "%zu errors, first: %s",
                  run->c[d].errors, run->c[d].first_error);

  /* Per producer: every event has one outcome; every committed one was
   * drained, every dropped one reported. */
  uint64_t produced = 0, committed = 0, dropped = 0, off = 0;
  for (int i = 0; i < cfg->producers; i++) {
    producer_t* p = &run->p[i];
    uint64_t got = 0, lost = 0;
    for (int d = 0; d < cfg->drainers; d++) {
      got += run->c[d].got[i];
      lost += run->c[d].lost[i];
    }
    ck_assert_uint_eq(p->committed + p->dropped + p->off, cfg->n);
    ck_assert_uint_eq(got, p->committed);
    ck_assert_uint_eq(lost, p->dropped);
    if (cfg->burst > cfg->capacity) ck_assert_uint_gt(p->dropped, 0);
    if (!cfg->toggle) ck_assert_uint_eq(p->off, 0);
    produced += cfg->n;
    committed += p->committed;
    dropped += p->dropped;
    off += p->off;
  }
  uint64_t ringless = 0;
  for (int d = 0; d < cfg->drainers; d++) ringless += run->c[d].ringless_lost;
  ck_assert_uint_eq(ringless, 0);

  /* Every ID was handed out once and came back exactly when committed. */
  ck_assert_uint_eq(nat__id_last(), run->total);
  size_t mismatched = 0;
  for (size_t id = 1; id <= run->total; id++) {
    unsigned seen = 0;
    for (int d = 0; d < cfg->drainers; d++) seen += run->c[d].seen[id];
    mismatched += seen != run->ok[id];
  }
  ck_assert_uint_eq(mismatched, 0);

  nat__stats_t s;
  nat__stats(&s);
  ck_assert_uint_eq(s.recorded, committed);
  ck_assert_uint_eq(s.dropped, dropped);
  ck_assert_uint_eq(s.recorded + s.dropped, produced - off);
  ck_assert_uint_eq(s.drained, s.recorded);
  ck_assert_uint_eq(s.pending, 0);
  ck_assert_uint_eq(s.threads, 0);
  ck_assert_uint_le(s.rings, (uint32_t)cfg->producers);

  for (int d = 0; d < cfg->drainers; d++) {
    free(run->c[d].seen);
    free(run->c[d].buf);
  }
  free(run->ok);
  free(run);
}

static size_t events(void) { return nat_check_scaled(500000, 2000); }

START_TEST(threads_2_producers) {
  run_threads(&(threads_cfg_t){.producers = 2, .n = events(), .drainers = 1});
}
END_TEST

START_TEST(threads_4_producers) {
  run_threads(&(threads_cfg_t){.producers = 4, .n = events(), .drainers = 1});
}
END_TEST

START_TEST(threads_2_producers_tiny_rings) {
  run_threads(&(threads_cfg_t){.producers = 2,
                               .n = events(),
                               .capacity = 16,
                               .drainers = 1,
                               .burst = 20});
}
END_TEST

START_TEST(threads_4_producers_tiny_rings) {
  run_threads(&(threads_cfg_t){.producers = 4,
                               .n = events(),
                               .capacity = 16,
                               .drainers = 1,
                               .burst = 20});
}
END_TEST

START_TEST(threads_4_producers_tiny_rings_max) {
  run_threads(&(threads_cfg_t){.producers = 4,
                               .n = events(),
                               .capacity = 16,
                               .max = 7,
                               .drainers = 1,
                               .burst = 20});
}
END_TEST

START_TEST(threads_4_producers_toggling) {
  run_threads(&(threads_cfg_t){.producers = 4,
                               .n = events(),
                               .capacity = 1024,
                               .toggle = 1,
                               .drainers = 1});
}
END_TEST

START_TEST(threads_4_producers_2_drainers) {
  run_threads(&(threads_cfg_t){.producers = 4,
                               .n = events(),
                               .capacity = 64,
                               .drainers = 2,
                               .burst = 100});
}
END_TEST

Suite* nat_threads_suite(void) {
  Suite* s = suite_create("threads");
  TCase* tc = tcase_create("threads");
  tcase_add_checked_fixture(tc, nat_check_setup, nat_check_teardown);
  tcase_set_timeout(tc, NAT_CHECK_THREAD_TIMEOUT);
  tcase_add_test(tc, threads_2_producers);
  tcase_add_test(tc, threads_4_producers);
  tcase_add_test(tc, threads_2_producers_tiny_rings);
  tcase_add_test(tc, threads_4_producers_tiny_rings);
  tcase_add_test(tc, threads_4_producers_tiny_rings_max);
  tcase_add_test(tc, threads_4_producers_toggling);
  tcase_add_test(tc, threads_4_producers_2_drainers);
  suite_add_tcase(s, tc);
  return s;
}
