/*
 * Figures 1 and 2 of the benchmark (issue 6), on src/core alone, no Node:
 *
 *   record   ns per event for one recording thread, and per thread while
 *            two producer threads record at once. An event is what a hook
 *            point records: a new ID from the process-wide counter, then
 *            nat__emit (as nat__mark_link does).
 *   parts    the same split into its pieces (clock read, emit without an
 *            ID), to say where the time goes.
 *   disabled ns added per hook point while recording is off: a loop
 *            calling nat__emit (out of line, as every hook point does)
 *            against the same loop without it.
 *   allocs   malloc/calloc/realloc/aligned_alloc calls made inside the timed
 *            loops (after each thread's first record, which allocates its
 *            ring): the hot path must make none.
 *
 * Each figure is the median of `runs` runs; every run times `events`
 * records per thread, in batches of a ring's capacity minus a margin, with
 * an untimed drain between batches (so nothing is dropped). Prints one
 * JSON object on stdout.
 *
 *   bench_core [--events N] [--runs R]
 *
 * Threads: main() and the two producers it starts; the drains run on
 * main() while the producers wait at a barrier.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "nat_core.h"

/* ---- counting allocations ---------------------------------------------- */

/* Defined here, these interpose on the calls libnatcore.so makes (and on
 * everyone else's); they forward to glibc's own entry points. */
static _Atomic uint64_t allocs = 0;

extern void* __libc_malloc(size_t n);
extern void* __libc_calloc(size_t n, size_t m);
extern void* __libc_realloc(void* p, size_t n);
extern void* __libc_memalign(size_t a, size_t n);

void* malloc(size_t n) {
  atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
  atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
  return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
  atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t a, size_t n) {
  atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
  return __libc_memalign(a, n);
}

/* ---- the recorded operations -------------------------------------------- */

#define SITE 1u
#define ENV 1u

static uint64_t sink; /* keeps results alive */

/* One hook point's event: a fresh ID, then the record (nat__mark_link). */
static inline void record_event(uint64_t exec) {
  if (!nat__is_enabled()) return;
  uint64_t id = nat__id_next();
  nat__emit(NAT_EV_LINK, exec, id, 0, SITE, ENV);
}

typedef enum { OP_EVENT, OP_EMIT, OP_CLOCK } op_t;

/* Times n operations of kind op on the calling thread; returns ns. */
static uint64_t timed_loop(op_t op, uint64_t n) {
  uint64_t t0 = uv_hrtime();
  switch (op) {
    case OP_EVENT:
      for (uint64_t i = 0; i < n; i++) record_event(i);
      break;
    case OP_EMIT:
      for (uint64_t i = 0; i < n; i++)
        nat__emit(NAT_EV_LINK, i, i, 0, SITE, ENV);
      break;
    case OP_CLOCK: {
      uint64_t s = 0;
      for (uint64_t i = 0; i < n; i++) s += nat__now_ns();
      sink += s;
      break;
    }
  }
  return uv_hrtime() - t0;
}

static nat_record_t* drain_buf;
static size_t drain_cap;

static nat_record_t* drain_alloc(void* ud, size_t count) {
  (void)ud;
  if (count > drain_cap) return NULL;
  return drain_buf;
}

static void drain_all(void) {
  while (nat__drain(drain_alloc, NULL, drain_cap - 64) > 0) {
  }
}

/* ---- two producers ------------------------------------------------------ */

typedef struct {
  uv_barrier_t* start;
  uv_barrier_t* done;
  op_t op;
  uint64_t batch;
  uint64_t batches;
  uint64_t ns; /* summed over this thread's timed batches */
} producer_t;

static void producer_main(void* arg) {
  producer_t* p = arg;
  record_event(0); /* the thread's first record acquires its ring */
  for (uint64_t b = 0; b < p->batches; b++) {
    uv_barrier_wait(p->start);
    p->ns += timed_loop(p->op, p->batch);
    uv_barrier_wait(p->done);
  }
}

/* ns per op per thread with `nthreads` producers (1 or 2), over `total`
 * ops per thread. */
static double run_threads(int nthreads, op_t op, uint64_t total,
                          uint64_t batch) {
  uv_barrier_t start, done;
  uv_barrier_init(&start, (unsigned)nthreads + 1);
  uv_barrier_init(&done, (unsigned)nthreads + 1);
  producer_t p[2];
  uv_thread_t t[2];
  uint64_t batches = (total + batch - 1) / batch;
  for (int i = 0; i < nthreads; i++) {
    p[i] = (producer_t){&start, &done, op, batch, batches, 0};
    uv_thread_create(&t[i], producer_main, &p[i]);
  }
  for (uint64_t b = 0; b < batches; b++) {
    uv_barrier_wait(&start);
    uv_barrier_wait(&done);
    drain_all(); /* untimed: the producers wait at `start` */
  }
  for (int i = 0; i < nthreads; i++) uv_thread_join(&t[i]);
  drain_all();
  uv_barrier_destroy(&start);
  uv_barrier_destroy(&done);
  double ns = 0;
  for (int i = 0; i < nthreads; i++) ns += (double)p[i].ns;
  return ns / nthreads / (double)(batches * batch);
}

/* ---- disabled hook points ----------------------------------------------- */

/* The loop body both variants share: a little work the compiler must
 * keep, standing in for the code around a hook point. */
#define BODY(i) \
  do {                                          \
    acc = acc * 31 + (i);                       \
    __asm__ volatile("" : "+r"(acc));           \
  } while (0)

static double disabled_ns(uint64_t n, int inline_check) {
  uint64_t acc = 0;
  uint64_t t0 = uv_hrtime();
  for (uint64_t i = 0; i < n; i++) BODY(i);
  uint64_t base = uv_hrtime() - t0;
  t0 = uv_hrtime();
  if (inline_check) {
    for (uint64_t i = 0; i < n; i++) {
      BODY(i);
      record_event(acc);
    }
  } else {
    for (uint64_t i = 0; i < n; i++) {
      BODY(i);
      nat__emit(NAT_EV_LINK, acc, 0, 0, SITE, ENV);
    }
  }
  uint64_t hooked = uv_hrtime() - t0;
  sink += acc;
  return ((double)hooked - (double)base) / (double)n;
}

/* ---- main --------------------------------------------------------------- */

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static double median(double* v, int n) {
  qsort(v, (size_t)n, sizeof(*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_RUNS 64

int main(int argc, char** argv) {
  uint64_t events = 4u << 20; /* per thread per run */
  int runs = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--events") == 0) events = strtoull(argv[i + 1], 0, 10);
    if (strcmp(argv[i], "--runs") == 0) runs = atoi(argv[i + 1]);
  }
  if (runs < 1) runs = 1;
  if (runs > MAX_RUNS) runs = MAX_RUNS;

  uint32_t cap = NAT_DEFAULT_CAPACITY;
  uint64_t batch = cap - cap / 8; /* fits with room for the root records */
  drain_cap = 2 * (size_t)cap + 64;
  drain_buf = malloc(drain_cap * sizeof(nat_record_t));
  if (drain_buf == NULL) return 1;

  nat__enable(cap);
  /* Warm up: rings, sites, page faults of the ring and drain buffers. */
  (void)nat__site_intern("bench:core", 10);
  (void)run_threads(2, OP_EVENT, 4 * batch, batch);

  double one[MAX_RUNS], two[MAX_RUNS], emit1[MAX_RUNS], emit2[MAX_RUNS],
      clock1[MAX_RUNS], off_call[MAX_RUNS], off_inline[MAX_RUNS];
  for (int r = 0; r < runs; r++) {
    /* Interleaved, so drift on the machine hits every figure alike. */
    one[r] = run_threads(1, OP_EVENT, events, batch);
    two[r] = run_threads(2, OP_EVENT, events, batch);
    emit1[r] = run_threads(1, OP_EMIT, events, batch);
    emit2[r] = run_threads(2, OP_EMIT, events, batch);
    clock1[r] = run_threads(1, OP_CLOCK, events, batch);
  }
  /* Allocations inside the timed loops only (thread creation, barriers and
   * the drains allocate outside them), on this thread, whose ring exists
   * after its first record. */
  uint64_t hot_allocs = 0;
  record_event(0);
  for (uint64_t done = 0; done < events; done += batch) {
    uint64_t a0 = atomic_load(&allocs);
    (void)timed_loop(OP_EVENT, batch);
    hot_allocs += atomic_load(&allocs) - a0;
    drain_all();
  }

  nat__disable();
  for (int r = 0; r < runs; r++) {
    off_call[r] = disabled_ns(events * 4, 0);
    off_inline[r] = disabled_ns(events * 4, 1);
  }
  nat__enable(0);
  nat__stats_t s;
  nat__stats(&s);

  printf("{\n");
  printf("  \"events_per_thread_per_run\": %llu,\n", (unsigned long long)events);
  printf("  \"runs\": %d,\n", runs);
  printf("  \"ring_capacity\": %u,\n", cap);
  printf("  \"record_bytes\": %zu,\n", sizeof(nat_record_t));
  printf("  \"event_ns_1thread\": %.3f,\n", median(one, runs));
  printf("  \"event_ns_2threads\": %.3f,\n", median(two, runs));
  printf("  \"emit_ns_1thread\": %.3f,\n", median(emit1, runs));
  printf("  \"emit_ns_2threads\": %.3f,\n", median(emit2, runs));
  printf("  \"clock_ns\": %.3f,\n", median(clock1, runs));
  printf("  \"disabled_call_ns\": %.3f,\n", median(off_call, runs));
  printf("  \"disabled_inline_ns\": %.3f,\n", median(off_inline, runs));
  printf("  \"hot_path_allocations\": %llu,\n", (unsigned long long)hot_allocs);
  /* Proof that the counting hooks see the library's calls (its drains
   * allocate their cursor arrays). */
  printf("  \"allocations_elsewhere\": %llu,\n",
         (unsigned long long)atomic_load(&allocs));
  printf("  \"dropped\": %llu\n", (unsigned long long)s.dropped);
  printf("}\n");
  nat__core_reset();
  free(drain_buf);
  return sink == 42 ? 2 : 0;
}
