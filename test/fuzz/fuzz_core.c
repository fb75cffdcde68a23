/*
 * libFuzzer harness for src/core: the input is a program of operations on
 * the recording core (emit from the main thread or from short-lived
 * threads, drain with a random max or a failing allocator, capacity and
 * ring-limit changes, enable/disable, site interning of arbitrary bytes,
 * resets), run against a model of what must come out:
 *
 * - every emit returns 1 (committed), -1 (dropped) or, while recording is
 *   off, 0; stats() counts exactly those;
 * - each thread's committed records are drained once, in order, with the
 *   fields they were written with, and each batch is in time order;
 * - lost markers come after the records of their batch and add up to the
 *   drops; a drain whose allocator fails consumes nothing;
 * - a site name interns to one index, round-trips, and bad names get
 *   NAT_EINVAL / NAT_ENAMETOOLONG.
 *
 * Any broken rule aborts (libFuzzer keeps the input); ASan and UBSan watch
 * the memory. Each input starts from nat__core_reset(), so runs do not
 * depend on each other.
 *
 *   make -C test/fuzz run        build, make seeds, fuzz for FUZZ_TIME s
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "nat_core.h"

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "fuzz_core: %s:%d: check failed: %s\n", __FILE__,   \
              __LINE__, #cond);                                            \
      abort();                                                             \
    }                                                                      \
  } while (0)

/* ---- input -------------------------------------------------------------- */

typedef struct {
  const uint8_t* p;
  size_t n;
} input_t;

static uint32_t take(input_t* in, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; i++) {
    v <<= 8;
    if (in->n > 0) {
      v |= *in->p++;
      in->n--;
    }
  }
  return v;
}

/* ---- the model ---------------------------------------------------------- */

#define MAX_THREADS 64 /* thread models per input (main + helpers) */

typedef struct {
  uint32_t serial;
  uint64_t* fifo; /* committed, not yet drained: their seq numbers */
  size_t head, tail, cap;
  uint64_t drops;
} tmodel_t;

static tmodel_t threads[MAX_THREADS];
static int nthreads;
static uint64_t seq;        /* the next record's sequence number */
static uint64_t committed;  /* emits that returned 1 */
static uint64_t dropped;    /* emits that returned -1 */
static uint64_t drained;    /* records drained (markers excluded) */
static uint64_t lost;       /* sum of the lost markers drained */
static int enabled;

typedef struct {
  char* name;
  size_t len;
} msite_t;
static msite_t msites[4096];
static uint32_t nsites;

static tmodel_t* model_of(uint32_t serial) {
  for (int i = 0; i < nthreads; i++)
    if (threads[i].serial == serial) return &threads[i];
  CHECK(nthreads < MAX_THREADS);
  tmodel_t* t = &threads[nthreads++];
  memset(t, 0, sizeof(*t));
  t->serial = serial;
  return t;
}

static void fifo_push(tmodel_t* t, uint64_t s) {
  if (t->tail - t->head == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    uint64_t* f = malloc(cap * sizeof(*f));
    CHECK(f != NULL);
    for (size_t i = t->head; i < t->tail; i++)
      f[i - t->head] = t->fifo[i % t->cap];
    free(t->fifo);
    t->fifo = f;
    t->tail -= t->head;
    t->head = 0;
    t->cap = cap;
  }
  t->fifo[t->tail++ % t->cap] = s;
}

static void model_reset(void) {
  for (int i = 0; i < nthreads; i++) free(threads[i].fifo);
  nthreads = 0;
  committed = dropped = drained = lost = 0;
  for (uint32_t i = 0; i < nsites; i++) free(msites[i].name);
  nsites = 0;
  enabled = 0;
}

/* The fields a record with sequence number s carries. */
static uint64_t link_of(uint64_t s) { return s * 0x9e3779b97f4a7c15ull; }
static uint16_t type_of(uint64_t s) {
  static const uint16_t types[] = {NAT_EV_EXECUTION_BEGIN, NAT_EV_EXECUTION_END,
                                   NAT_EV_LINK, NAT_EV_READY, NAT_EV_ABORT,
                                   0, 7, 0xffff};
  return types[s % 8]; /* never NAT_EV_LOST: producers do not write it */
}

/* Emits n records from the calling thread, updating the model. */
static void emit_n(uint32_t n) {
  uint32_t serial = nat__thread_serial();
  for (uint32_t i = 0; i < n; i++) {
    uint64_t s = ++seq;
    int r = nat__emit((nat_event_type_t)type_of(s), s, link_of(s), ~s,
                      (uint32_t)s, serial);
    if (!enabled) {
      CHECK(r == 0);
      continue;
    }
    tmodel_t* t = model_of(serial);
    if (r == 1) {
      fifo_push(t, s);
      committed++;
    } else {
      CHECK(r == -1);
      t->drops++;
      dropped++;
    }
  }
}

typedef struct {
  uint32_t n;
} thread_arg_t;

static void thread_main(void* arg) {
  emit_n(((thread_arg_t*)arg)->n);
}

/* ---- drain -------------------------------------------------------------- */

typedef struct {
  nat_record_t* buf;
  size_t count;
  int fail;
  int called;
} alloc_t;

static nat_record_t* drain_alloc(void* ud, size_t count) {
  alloc_t* a = ud;
  CHECK(count > 0);
  a->called = 1;
  if (a->fail) return NULL;
  /* Exactly what was asked for: ASan catches a write past it. */
  a->buf = malloc(count * sizeof(nat_record_t));
  CHECK(a->buf != NULL);
  a->count = count;
  return a->buf;
}

static void check_stats(void) {
  nat__stats_t s;
  nat__stats(&s);
  CHECK(s.recorded == committed);
  CHECK(s.dropped == dropped);
  CHECK(s.drained == drained);
  CHECK(s.pending == committed - drained);
  CHECK(nat__pending() == s.pending);
  CHECK(s.capacity >= NAT_MIN_CAPACITY && s.capacity <= NAT_MAX_CAPACITY);
  CHECK((s.capacity & (s.capacity - 1)) == 0);
}

/* Drains once; returns the number of records written. */
static int64_t drain(size_t max, int fail) {
  nat__stats_t before;
  nat__stats(&before);
  alloc_t a = {NULL, 0, fail, 0};
  int64_t n = nat__drain(drain_alloc, &a, max);
  if (fail && a.called) {
    CHECK(n == NAT_ENOMEM);
    nat__stats_t after;
    nat__stats(&after);
    CHECK(after.pending == before.pending);
    CHECK(after.drained == before.drained);
    return 0;
  }
  CHECK(n >= 0);
  CHECK((size_t)n == a.count);
  uint64_t prev_ts = 0, records = 0;
  int markers = 0;
  for (int64_t i = 0; i < n; i++) {
    nat_record_t* r = &a.buf[i];
    if (r->type == NAT_EV_LOST) {
      markers = 1;
      CHECK(r->link_id > 0);
      CHECK(r->execute_id == 0 && r->ready_id == 0);
      lost += r->link_id;
      if (r->thread != 0) {
        tmodel_t* t = model_of(r->thread);
        CHECK(r->link_id <= t->drops);
      }
      continue;
    }
    CHECK(!markers); /* markers come after the records */
    records++;
    CHECK(r->ts >= prev_ts);
    prev_ts = r->ts;
    uint64_t s = r->execute_id;
    tmodel_t* t = model_of(r->thread);
    CHECK(t->head < t->tail);
    CHECK(t->fifo[t->head % t->cap] == s); /* in order, none skipped */
    t->head++;
    CHECK(r->link_id == link_of(s));
    CHECK(r->ready_id == ~s);
    CHECK(r->type == type_of(s));
    CHECK(r->site == (uint32_t)s);
    CHECK(r->env == r->thread);
    CHECK(r->flags == 0);
  }
  if (max != 0) CHECK(records <= max);
  drained += records;
  free(a.buf);
  return n;
}

/* ---- sites -------------------------------------------------------------- */

static void site_op(input_t* in) {
  size_t len = take(in, 2) % 300;
  char name[300];
  for (size_t i = 0; i < len; i++) name[i] = (char)take(in, 1);
  int32_t r = nat__site_intern(len ? name : NULL, len);
  /* The length is checked before the bytes. */
  if (len > NAT_SITE_NAME_MAX) {
    CHECK(r == NAT_ENAMETOOLONG);
    return;
  }
  if (len == 0 || memchr(name, '\0', len) != NULL) {
    CHECK(r == NAT_EINVAL);
    return;
  }
  CHECK(r >= 1);
  uint32_t found = 0;
  for (uint32_t i = 0; i < nsites; i++)
    if (msites[i].len == len && memcmp(msites[i].name, name, len) == 0)
      found = i + 1;
  if (found) {
    CHECK((uint32_t)r == found);
  } else {
    CHECK((uint32_t)r == nsites + 1);
    CHECK(nsites < sizeof(msites) / sizeof(msites[0]));
    msites[nsites].name = malloc(len);
    memcpy(msites[nsites].name, name, len);
    msites[nsites].len = len;
    nsites++;
  }
  CHECK(nat__site_count() == nsites + 1);
  char buf[NAT_SITE_NAME_MAX + 1];
  CHECK(nat__site_name((uint32_t)r, buf, sizeof(buf)) == (int)len);
  CHECK(memcmp(buf, name, len) == 0 && buf[len] == '\0');
}

static void site_lookup_op(input_t* in) {
  uint32_t index = take(in, 2) % (nsites + 3);
  size_t size = 1 + take(in, 2) % (NAT_SITE_NAME_MAX + 2);
  char buf[NAT_SITE_NAME_MAX + 2];
  int r = nat__site_name(index, buf, size);
  if (index == 0) {
    CHECK(r == 0 && buf[0] == '\0');
  } else if (index > nsites || msites[index - 1].len + 1 > size) {
    CHECK(r == NAT_EINVAL);
  } else {
    CHECK(r == (int)msites[index - 1].len);
    CHECK(memcmp(buf, msites[index - 1].name, (size_t)r) == 0);
  }
}

/* ---- the program -------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nat__core_reset();
  model_reset();
  input_t in = {data, size};
  int thread_ops = 0;
  nat__enable(16);
  enabled = 1;

  for (int ops = 0; in.n > 0 && ops < 512; ops++) {
    switch (take(&in, 1) % 12) {
      case 0:
      case 1:
        emit_n(1 + take(&in, 1) % 64);
        break;
      case 2: {
        /* A short-lived thread: its ring is orphaned when it exits, and
         * recycled once drained. */
        if (thread_ops++ >= 12 || nthreads >= MAX_THREADS - 2) break;
        thread_arg_t a = {take(&in, 2) % 400};
        uv_thread_t th;
        CHECK(uv_thread_create(&th, thread_main, &a) == 0);
        CHECK(uv_thread_join(&th) == 0);
        break;
      }
      case 3:
      case 4:
        drain(take(&in, 2) % 300, 0);
        break;
      case 5:
        drain(0, 1);
        break;
      case 6: {
        uint32_t cap = take(&in, 2) % 2048;
        CHECK(nat__enable(cap) == 0);
        enabled = 1;
        break;
      }
      case 7:
        nat__disable();
        enabled = 0;
        break;
      case 8:
        site_op(&in);
        break;
      case 9:
        site_lookup_op(&in);
        break;
      case 10:
        switch (take(&in, 1) % 4) {
          case 0:
            nat__set_max_rings(take(&in, 1) % 4); /* 0: the default */
            break;
          case 1: {
            /* Rounding and clamping, without allocating a ring of the
             * clamped size: the next op puts a small capacity back. */
            uint32_t cap = nat__capacity();
            nat__enable(0xffffffffu);
            CHECK(nat__capacity() == NAT_MAX_CAPACITY);
            nat__enable(NAT_MIN_CAPACITY + 1);
            CHECK(nat__capacity() == 2 * NAT_MIN_CAPACITY);
            nat__enable(cap);
            CHECK(nat__capacity() == cap);
            enabled = 1;
            break;
          }
          default:
            check_stats();
        }
        break;
      case 11:
        if (take(&in, 1) % 8 == 0) {
          nat__core_reset();
          model_reset();
          nat__enable(16);
          enabled = 1;
        }
        break;
    }
  }

  /* Everything committed comes out once; the markers add up to the drops. */
  nat__set_max_rings(0);
  while (drain(0, 0) > 0) {
  }
  for (int i = 0; i < nthreads; i++) CHECK(threads[i].head == threads[i].tail);
  CHECK(drained == committed);
  CHECK(lost == dropped);
  check_stats();
  return 0;
}
