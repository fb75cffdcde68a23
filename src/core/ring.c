/*
 * Per-thread rings, the producer path and the drain.
 *
 * Each recording thread owns one single-producer/single-consumer ring. The
 * producer reserves the slot at `head`, fills it and commits with a release
 * store of head + 1; the consumer (nat__drain, one at a time under
 * drain_mutex) loads head with acquire, copies, and hands the space back
 * with a release store of tail. head and tail are free-running 64-bit
 * counters; a slot is index & mask. They sit on separate cache lines so the
 * producer never writes a line the consumer writes.
 *
 * Lifetime of a ring (state):
 *   OWNED     a live thread writes it; only that thread touches head,
 *             tail_cache and dropped.
 *   ORPHANED  its thread exited (pthread key destructor); the records it
 *             left wait for the next drain.
 *   FREE      drained empty after its thread exited: counts retired, ready
 *             to be handed to the next thread that records.
 * Rings stay on the registry list until nat__core_reset (or nat__enable
 * frees FREE rings of another capacity), so short-lived threads reuse a
 * bounded set of rings instead of leaking one each.
 *
 * Locks: reg_mutex guards the list's shape, the free-ring choice and the
 * ring limit; drain_mutex guards every consumer-side field and the retired
 * totals. Order: drain_mutex before reg_mutex. The producer path takes
 * neither, except once per thread when it first records (ring_acquire).
 *
 * Thread exit is seen through a pthread key destructor (libuv's uv_key_t
 * has no destructor).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "nat_core.h"

#define NAT__MAX_RINGS_DEFAULT 1024u

enum { RING_OWNED = 1, RING_ORPHANED = 2, RING_FREE = 3 };

typedef struct nat__ring_s nat__ring_t;

struct nat__ring_s {
  /* Producer line. head: written by the producer (release), read by the
   * consumer (acquire). dropped: written only by the producer (relaxed),
   * read by the consumer. tail_cache, last_stamp: producer only. */
  _Alignas(NAT__CACHE_LINE) _Atomic uint64_t head;
  _Atomic uint64_t dropped;
  uint64_t tail_cache;
  uint64_t last_stamp;

  /* Consumer line, under drain_mutex. tail: written by the consumer
   * (release), read by the producer (acquire) when its cache says full. */
  _Alignas(NAT__CACHE_LINE) _Atomic uint64_t tail;
  uint64_t dropped_seen;

  /* Cold fields. state: see above. thread and mask are written before the
   * ring is handed to its thread (under reg_mutex) and only read after. */
  _Alignas(NAT__CACHE_LINE) _Atomic int state;
  uint32_t thread;
  uint64_t mask;
  nat_record_t* buf;
  nat__ring_t* next; /* immutable once published, except under both locks */
};

/* Read by every hook point on every thread, written only by enable and
 * disable: alone on its line (nat__line_t), off the line of
 * nat__id_counter, which every new ID writes, and off the counters below,
 * which threads without a ring write. */
nat__line_t nat__enabled = {0};

static uv_once_t core_once = UV_ONCE_INIT;
static uv_mutex_t reg_mutex;
static uv_mutex_t drain_mutex;
static pthread_key_t ring_key;

static _Atomic(nat__ring_t*) ring_list = NULL;
static _Atomic uint32_t capacity = NAT_DEFAULT_CAPACITY;
static _Atomic uint32_t ring_count = 0;
static _Atomic uint32_t owned_count = 0;
static uint32_t max_rings = NAT__MAX_RINGS_DEFAULT; /* reg_mutex */
static _Atomic uint32_t thread_serials = 0;

/* Records lost because a thread had no ring (allocation failed or the ring
 * limit was reached). Any thread adds; read by stats. */
static _Atomic uint64_t ringless_dropped = 0;
/* Bumped whenever a ring becomes FREE or the ring limit is raised, so
 * ringless threads retry ring_acquire only when that could succeed. The
 * drain's bump is a release after its store of RING_FREE, and
 * ring_acquire loads it with acquire: a thread that sees the new value
 * then sees the ring FREE (with relaxed it could see the number, find no
 * free ring, and never retry). nat__set_max_rings bumps after unlocking
 * reg_mutex, and ring_acquire reads the limit under it after loading the
 * number, so that bump needs no ordering of its own. */
static _Atomic uint64_t free_generation = 0;

/* Totals of rings that were recycled (drain_mutex). */
static uint64_t retired_recorded = 0;
static uint64_t retired_dropped = 0;
static uint64_t drained_total = 0;
static uint64_t ringless_seen = 0;

/* The producer path reads tls_ring on every record: initial-exec (see
 * NAT__TLS_FAST in nat_core.h), no __tls_get_addr call. */
static _Thread_local nat__ring_t* tls_ring NAT__TLS_FAST = NULL;
static _Thread_local uint32_t tls_serial NAT__TLS_FAST = 0;
static _Thread_local uint64_t tls_failed_generation NAT__TLS_FAST =
    UINT64_MAX;

static void ring_thread_exit(void* arg);

static void core_init_once(void) {
  if (uv_mutex_init(&reg_mutex) != 0) abort();
  if (uv_mutex_init(&drain_mutex) != 0) abort();
  if (pthread_key_create(&ring_key, ring_thread_exit) != 0) abort();
  /* Before any thread can stamp a record: every recording thread and every
   * drain passes this uv_once first. */
  nat__clock_init();
}

static uint32_t round_capacity(uint32_t c) {
  if (c < NAT_MIN_CAPACITY) c = NAT_MIN_CAPACITY;
  if (c > NAT_MAX_CAPACITY) c = NAT_MAX_CAPACITY;
  uint32_t p = NAT_MIN_CAPACITY;
  while (p < c) p <<= 1;
  return p;
}

uint32_t nat__thread_serial(void) {
  if (tls_serial == 0)
    tls_serial = atomic_fetch_add_explicit(&thread_serials, 1,
                                           memory_order_relaxed) + 1;
  return tls_serial;
}

/* The calling thread has no ring: reuse a FREE one of the current capacity
 * or allocate one. Returns NULL when neither is possible. */
static nat__ring_t* ring_acquire(void) {
  uint64_t gen = atomic_load_explicit(&free_generation, memory_order_acquire);
  if (gen == tls_failed_generation) return NULL;

  uv_once(&core_once, core_init_once);
  uint32_t serial = nat__thread_serial();
  nat__ring_t* r;

  uv_mutex_lock(&reg_mutex);
  /* Read under reg_mutex: nat__enable changes it holding this lock, so the
   * ring chosen or sized here always matches the capacity in force. */
  uint32_t cap = atomic_load_explicit(&capacity, memory_order_relaxed);
  for (r = atomic_load_explicit(&ring_list, memory_order_relaxed); r != NULL;
       r = r->next) {
    if (r->mask + 1 == cap &&
        atomic_load_explicit(&r->state, memory_order_acquire) == RING_FREE)
      break;
  }
  if (r == NULL) {
    if (atomic_load_explicit(&ring_count, memory_order_relaxed) >= max_rings)
      goto fail;
    r = aligned_alloc(NAT__CACHE_LINE, sizeof(*r));
    if (r == NULL) goto fail;
    memset(r, 0, sizeof(*r));
    r->buf = malloc((size_t)cap * sizeof(nat_record_t));
    if (r->buf == NULL) {
      free(r);
      goto fail;
    }
    r->mask = cap - 1;
    r->thread = serial;
    atomic_store_explicit(&r->state, RING_OWNED, memory_order_relaxed);
    r->next = atomic_load_explicit(&ring_list, memory_order_relaxed);
    /* Publish: the drain walks the list without reg_mutex. */
    atomic_store_explicit(&ring_list, r, memory_order_release);
    atomic_fetch_add_explicit(&ring_count, 1, memory_order_relaxed);
  } else {
    /* A FREE ring was reset by the drain that freed it (head == tail == 0,
     * counts retired); the drain's release store of the state pairs with
     * the acquire load above. */
    r->thread = serial;
    r->tail_cache = 0;
    atomic_store_explicit(&r->state, RING_OWNED, memory_order_release);
  }
  atomic_fetch_add_explicit(&owned_count, 1, memory_order_relaxed);
  uv_mutex_unlock(&reg_mutex);

  pthread_setspecific(ring_key, r);
  tls_ring = r;
  tls_failed_generation = UINT64_MAX;
  return r;

fail:
  uv_mutex_unlock(&reg_mutex);
  tls_failed_generation = gen;
  return NULL;
}

/* pthread key destructor, on the exiting thread. Its last head store
 * happened before this release store, so a drain that sees ORPHANED (with
 * acquire) sees the final head. */
static void ring_thread_exit(void* arg) {
  nat__ring_t* r = arg;
  tls_ring = NULL;
  atomic_fetch_sub_explicit(&owned_count, 1, memory_order_relaxed);
  atomic_store_explicit(&r->state, RING_ORPHANED, memory_order_release);
}

int nat__emit(nat_event_type_t type, uint64_t execute_id, uint64_t link_id,
              uint64_t ready_id, uint32_t site, uint32_t env) {
  if (!nat__is_enabled()) return 0;
  return nat__emit_owed(type, execute_id, link_id, ready_id, site, env);
}

/* No check of nat__enabled here: the caller decided to record when it made
 * the event's ID (see nat_core.h). */
int nat__emit_owed(nat_event_type_t type, uint64_t execute_id,
                   uint64_t link_id, uint64_t ready_id, uint32_t site,
                   uint32_t env) {
  nat__ring_t* r = tls_ring;
  if (r == NULL) {
    r = ring_acquire();
    if (r == NULL) {
      atomic_fetch_add_explicit(&ringless_dropped, 1, memory_order_relaxed);
      return -1;
    }
  }

  uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
  if (h - r->tail_cache > r->mask) {
    r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (h - r->tail_cache > r->mask) {
      /* Only this thread writes `dropped`: a plain increment, no RMW. */
      uint64_t d = atomic_load_explicit(&r->dropped, memory_order_relaxed);
      atomic_store_explicit(&r->dropped, d + 1, memory_order_relaxed);
      return -1;
    }
  }

  nat_record_t* rec = &r->buf[h & r->mask];
  /* A thread's stamps never go back, even when it moves to a CPU whose
   * counter read lands a few ns earlier: its ring stays in order for the
   * merge. */
  uint64_t stamp = nat__stamp();
  if (stamp < r->last_stamp) stamp = r->last_stamp;
  r->last_stamp = stamp;
  rec->ts = stamp;
  rec->execute_id = execute_id;
  rec->link_id = link_id;
  rec->ready_id = ready_id;
  rec->site = site;
  rec->env = env;
  rec->thread = r->thread;
  rec->type = (uint16_t)type;
  rec->flags = 0;
  atomic_store_explicit(&r->head, h + 1, memory_order_release);
  return 1;
}

/* Frees the FREE rings whose size is not `cap`: they would never be
 * handed out again. Caller holds drain_mutex and reg_mutex, so no walker of
 * the list (drain, stats, ring_acquire) runs meanwhile and relinking is
 * safe. */
static void prune_free_rings_locked(uint32_t cap) {
  nat__ring_t* keep = NULL;
  nat__ring_t** tailp = &keep;
  nat__ring_t* r = atomic_load_explicit(&ring_list, memory_order_relaxed);
  while (r != NULL) {
    nat__ring_t* next = r->next;
    if (r->mask + 1 != cap &&
        atomic_load_explicit(&r->state, memory_order_acquire) == RING_FREE) {
      free(r->buf);
      free(r);
      atomic_fetch_sub_explicit(&ring_count, 1, memory_order_relaxed);
    } else {
      *tailp = r;
      tailp = &r->next;
    }
    r = next;
  }
  *tailp = NULL;
  atomic_store_explicit(&ring_list, keep, memory_order_release);
}

int nat__enable(uint32_t cap) {
  uv_once(&core_once, core_init_once);
  if (cap != 0) {
    cap = round_capacity(cap);
    uv_mutex_lock(&drain_mutex);
    uv_mutex_lock(&reg_mutex);
    if (cap != atomic_load_explicit(&capacity, memory_order_relaxed)) {
      atomic_store_explicit(&capacity, cap, memory_order_relaxed);
      prune_free_rings_locked(cap);
    }
    uv_mutex_unlock(&reg_mutex);
    uv_mutex_unlock(&drain_mutex);
  }
  atomic_store_explicit(&nat__enabled.v, 1, memory_order_relaxed);
  return 0;
}

void nat__disable(void) {
  atomic_store_explicit(&nat__enabled.v, 0, memory_order_relaxed);
}

uint32_t nat__capacity(void) {
  return atomic_load_explicit(&capacity, memory_order_relaxed);
}

/* ---- drain -------------------------------------------------------------- */

typedef struct {
  nat__ring_t* ring;
  uint64_t tail; /* next record to copy */
  uint64_t head; /* snapshot */
  uint64_t lost; /* dropped since the previous drain */
  int orphaned;
} nat__cursor_t;

/* Copies n records of ring c (from c->tail) to out, in at most two runs. */
static void cursor_copy(nat__cursor_t* c, nat_record_t* out, uint64_t n) {
  uint64_t mask = c->ring->mask;
  uint64_t start = c->tail & mask;
  uint64_t first = mask + 1 - start;
  if (first > n) first = n;
  memcpy(out, &c->ring->buf[start], first * sizeof(nat_record_t));
  if (n > first)
    memcpy(out + first, c->ring->buf, (n - first) * sizeof(nat_record_t));
  c->tail += n;
}

/* Merges the cursors' records into out by stamp, at most `budget` of
 * them; on equal stamps the cursor earlier in `cur` goes first. Copies in
 * runs: the cursor holding the smallest stamp gives every record up to
 * the smallest stamp of the others in one go, so threads that record in
 * bursts (a producer running ahead, the JS thread's frames) cost one scan
 * per burst rather than per record. Returns the records written. */
static uint64_t merge_runs(nat__cursor_t* cur, size_t n, nat_record_t* out,
                           uint64_t budget) {
  uint64_t written = 0;
  for (;;) {
    size_t bi = n, si = n;
    uint64_t bts = 0, sts = 0;
    for (size_t i = 0; i < n; i++) {
      nat__cursor_t* c = &cur[i];
      if (c->tail == c->head) continue;
      uint64_t ts = c->ring->buf[c->tail & c->ring->mask].ts;
      if (bi == n || ts < bts) {
        si = bi;
        sts = bts;
        bi = i;
        bts = ts;
      } else if (si == n || ts < sts) {
        si = i;
        sts = ts;
      }
    }
    if (bi == n || written == budget) return written;
    nat__cursor_t* c = &cur[bi];
    const nat_record_t* buf = c->ring->buf;
    uint64_t mask = c->ring->mask;
    /* A tie with the second goes to whichever is earlier in cur. */
    int take_equal = si == n || bi < si;
    do {
      out[written++] = buf[c->tail & mask];
      c->tail++;
      if (c->tail == c->head || written == budget) break;
      uint64_t ts = buf[c->tail & mask].ts;
      if (si != n && (ts > sts || (ts == sts && !take_equal))) break;
    } while (1);
  }
}

int64_t nat__drain(nat__drain_alloc_cb alloc, void* ud, size_t max) {
  uv_once(&core_once, core_init_once);
  uv_mutex_lock(&drain_mutex);

  size_t nrings = 0;
  nat__ring_t* list = atomic_load_explicit(&ring_list, memory_order_acquire);
  for (nat__ring_t* r = list; r != NULL; r = r->next) nrings++;

  int64_t result = 0;
  nat__cursor_t* cur = NULL;
  cur = malloc((nrings ? nrings : 1) * sizeof(*cur));
  if (cur == NULL) {
    result = NAT_ENOMEM;
    goto out;
  }

  /* Snapshot. The state is read before head: a ring seen ORPHANED has its
   * final head. */
  size_t n = 0;
  uint64_t avail = 0, markers = 0;
  for (nat__ring_t* r = list; r != NULL; r = r->next) {
    int st = atomic_load_explicit(&r->state, memory_order_acquire);
    if (st == RING_FREE) continue;
    nat__cursor_t* c = &cur[n++];
    c->ring = r;
    c->orphaned = st == RING_ORPHANED;
    c->tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    c->head = atomic_load_explicit(&r->head, memory_order_acquire);
    c->lost = atomic_load_explicit(&r->dropped, memory_order_relaxed) -
              r->dropped_seen;
    avail += c->head - c->tail;
    if (c->lost != 0) markers++;
  }

  uint64_t ringless =
      atomic_load_explicit(&ringless_dropped, memory_order_relaxed) -
      ringless_seen;
  if (ringless != 0) markers++;

  uint64_t budget = avail;
  if (max != 0 && budget > max) budget = max;
  /* Nothing to copy: skip the allocation but still recycle the rings of
   * exited threads below, or an idle process would never reuse them. */
  if (budget + markers == 0) goto recycle;

  nat_record_t* out = alloc(ud, (size_t)(budget + markers));
  if (out == NULL) {
    result = NAT_ENOMEM;
    goto out;
  }

  /* Merge by stamp (what this order promises: nat_core.h). The number of
   * rings holding records is small (the threads that recorded since the
   * last drain), so the earliest head is found by a scan; a lone ring is
   * copied in bulk. Stamps are compared raw: the conversion below is
   * increasing, so the order holds in nanoseconds. */
  size_t active = 0;
  nat__cursor_t* only = NULL;
  for (size_t i = 0; i < n; i++) {
    if (cur[i].head != cur[i].tail) {
      active++;
      only = &cur[i];
    }
  }
  uint64_t written = 0;
  if (active == 1) {
    cursor_copy(only, out, budget);
    written = budget;
  } else {
    written = merge_runs(cur, n, out, budget);
  }

  /* Stamps to CLOCK_MONOTONIC ns. The anchor nat__clock_sync reads comes
   * after the heads were loaded above, so the records taken were stamped
   * before it (up to the CPU's reordering of the counter read). */
  nat__clock_sync();
  for (uint64_t i = 0; i < written; i++)
    out[i].ts = nat__clock_to_ns(out[i].ts);

  if (markers != 0) {
    /* Markers follow the records, stamped no earlier than any of them (the
     * last one merged has the largest stamp). */
    uint64_t now = nat__now_ns();
    if (written != 0 && out[written - 1].ts > now) now = out[written - 1].ts;
    for (size_t i = 0; i < n; i++) {
      nat__cursor_t* c = &cur[i];
      if (c->lost == 0) continue;
      nat_record_t* m = &out[written++];
      memset(m, 0, sizeof(*m));
      m->ts = now;
      m->type = NAT_EV_LOST;
      m->link_id = c->lost;
      m->thread = c->ring->thread;
      c->ring->dropped_seen += c->lost;
    }
    if (ringless != 0) {
      /* Thread 0: records of threads that could get no ring. */
      nat_record_t* m = &out[written++];
      memset(m, 0, sizeof(*m));
      m->ts = now;
      m->type = NAT_EV_LOST;
      m->link_id = ringless;
      ringless_seen += ringless;
    }
  }

  drained_total += budget;
  result = (int64_t)(budget + markers);

recycle:;
  /* Hand the space back; recycle drained rings of exited threads. */
  int freed = 0, stale = 0;
  uint32_t cap = atomic_load_explicit(&capacity, memory_order_relaxed);
  for (size_t i = 0; i < n; i++) {
    nat__cursor_t* c = &cur[i];
    nat__ring_t* r = c->ring;
    atomic_store_explicit(&r->tail, c->tail, memory_order_release);
    if (c->orphaned && c->tail == c->head) {
      uint64_t d = atomic_load_explicit(&r->dropped, memory_order_relaxed);
      retired_recorded += c->head;
      retired_dropped += d;
      r->dropped_seen = 0;
      atomic_store_explicit(&r->dropped, 0, memory_order_relaxed);
      atomic_store_explicit(&r->head, 0, memory_order_relaxed);
      atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
      atomic_store_explicit(&r->state, RING_FREE, memory_order_release);
      freed = 1;
      if (r->mask + 1 != cap) stale = 1;
    }
  }
  if (stale) {
    /* A ring sized for an earlier capacity: free it rather than keep a
     * ring no thread will be given. `cur` is not used after this. */
    uv_mutex_lock(&reg_mutex);
    prune_free_rings_locked(cap); /* stable: we hold drain_mutex */
    uv_mutex_unlock(&reg_mutex);
  }
  if (freed)
    atomic_fetch_add_explicit(&free_generation, 1, memory_order_release);

out:
  free(cur);
  uv_mutex_unlock(&drain_mutex);
  return result;
}

/* Walks the rings under drain_mutex (so retire cannot move counts between
 * a ring and the retired totals meanwhile). */
static void ring_totals(uint64_t* recorded, uint64_t* dropped,
                        uint64_t* pending, uint64_t* bytes) {
  *recorded = retired_recorded;
  *dropped = retired_dropped;
  *pending = 0;
  *bytes = 0;
  for (nat__ring_t* r = atomic_load_explicit(&ring_list, memory_order_acquire);
       r != NULL; r = r->next) {
    uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    *recorded += h;
    *dropped += atomic_load_explicit(&r->dropped, memory_order_relaxed);
    *pending += h - t;
    *bytes += sizeof(*r) + (r->mask + 1) * sizeof(nat_record_t);
  }
}

uint64_t nat__pending(void) {
  uv_once(&core_once, core_init_once);
  uint64_t recorded, dropped, pending, bytes;
  uv_mutex_lock(&drain_mutex);
  ring_totals(&recorded, &dropped, &pending, &bytes);
  uv_mutex_unlock(&drain_mutex);
  return pending;
}

void nat__stats(nat__stats_t* s) {
  uv_once(&core_once, core_init_once);
  uv_mutex_lock(&drain_mutex);
  ring_totals(&s->recorded, &s->dropped, &s->pending, &s->ring_bytes);
  s->dropped +=
      atomic_load_explicit(&ringless_dropped, memory_order_relaxed);
  s->drained = drained_total;
  uv_mutex_unlock(&drain_mutex);
  s->capacity = atomic_load_explicit(&capacity, memory_order_relaxed);
  s->rings = atomic_load_explicit(&ring_count, memory_order_relaxed);
  s->threads = atomic_load_explicit(&owned_count, memory_order_relaxed);
  s->threads_seen = atomic_load_explicit(&thread_serials, memory_order_relaxed);
}

void nat__set_max_rings(uint32_t n) {
  uv_once(&core_once, core_init_once);
  uv_mutex_lock(&reg_mutex);
  int raised = (n ? n : NAT__MAX_RINGS_DEFAULT) > max_rings;
  max_rings = n ? n : NAT__MAX_RINGS_DEFAULT;
  uv_mutex_unlock(&reg_mutex);
  /* A higher limit can give a ring to a thread that got none: make the
   * threads that failed try again (they compare this generation with the
   * one they failed at). Relaxed is enough: the retry reads max_rings
   * under reg_mutex, which orders it after the store above. */
  if (raised)
    atomic_fetch_add_explicit(&free_generation, 1, memory_order_relaxed);
}

void nat__site_reset(void);

void nat__core_reset(void) {
  uv_once(&core_once, core_init_once);
  nat__disable();
  uv_mutex_lock(&drain_mutex);
  uv_mutex_lock(&reg_mutex);
  nat__ring_t* r = atomic_load_explicit(&ring_list, memory_order_relaxed);
  while (r != NULL) {
    nat__ring_t* next = r->next;
    free(r->buf);
    free(r);
    r = next;
  }
  atomic_store_explicit(&ring_list, NULL, memory_order_relaxed);
  atomic_store_explicit(&ring_count, 0, memory_order_relaxed);
  atomic_store_explicit(&owned_count, 0, memory_order_relaxed);
  atomic_store_explicit(&capacity, NAT_DEFAULT_CAPACITY, memory_order_relaxed);
  atomic_store_explicit(&ringless_dropped, 0, memory_order_relaxed);
  atomic_fetch_add_explicit(&free_generation, 1, memory_order_relaxed);
  max_rings = NAT__MAX_RINGS_DEFAULT;
  retired_recorded = retired_dropped = drained_total = ringless_seen = 0;
  uv_mutex_unlock(&reg_mutex);
  uv_mutex_unlock(&drain_mutex);
  /* The caller's own ring is gone; its destructor must not touch it. */
  pthread_setspecific(ring_key, NULL);
  tls_ring = NULL;
  tls_failed_generation = UINT64_MAX;
  atomic_store_explicit(&nat__id_counter.v, 0, memory_order_relaxed);
  nat__site_reset();
}
