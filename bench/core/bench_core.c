/*
 * Figures 1 and 2 of the benchmark (issue 6, issue 13's recording rows), on
 * src/core alone, no Node:
 *
 *   record   per event: a new ID from the process-wide counter, then
 *            nat__emit (as nat__mark_link does), for one recording thread
 *            and per thread while two producer threads record at once.
 *            Each as wall ns and as CPU ns (the thread's own CPU clock) per
 *            event, and the 2-thread/1-thread ratio of each round.
 *            With the record stamp the process uses (the CPU counter where
 *            usable) and, side by side in the same rounds, with the
 *            clock_gettime stamp (the core's flag switched between
 *            rounds, while the rings are empty).
 *   parts    the same split into its pieces (the stamp read, emit without
 *            an ID), to say where the time goes.
 *   disabled ns added per hook point while recording is off: a loop
 *            calling nat__emit (out of line, as every hook point does)
 *            against the same loop without it.
 *   allocs   malloc/calloc/realloc/aligned_alloc calls made inside the timed
 *            loops (after each thread's first record, which allocates its
 *            ring): the hot path must make none.
 *
 * Figures are the median and min..max of `runs` rounds, the variants
 * interleaved within each round; every run times `events` records per
 * thread, in batches of a ring's capacity minus a margin, with an untimed
 * drain between batches (so nothing is dropped). Prints one JSON object on
 * stdout.
 *
 *   bench_core [--events N] [--runs R]
 *   bench_core --profile event|emit|stamp [--events N]
 *       one thread, one operation, nothing else timed: for instruction
 *       counts, e.g.
 *       valgrind --tool=callgrind --toggle-collect=timed_loop \
 *         bench_core --profile event --events 100000
 *       (Ir of timed_loop / events = instructions per event).
 *
 * Threads: main() and the producers it starts; the drains run on main()
 * while the producers wait at a barrier.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* Times n operations of kind op on the calling thread; returns ns. Not
 * inlined: callgrind's --toggle-collect names it. */
__attribute__((noinline)) uint64_t timed_loop(op_t op, uint64_t n);
uint64_t timed_loop(op_t op, uint64_t n) {
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
      for (uint64_t i = 0; i < n; i++) s += nat__stamp(); /* record stamp */
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
  uint64_t ns;     /* wall, summed over this thread's timed batches */
  uint64_t cpu_ns; /* the thread's CPU time over the same batches */
} producer_t;

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void producer_main(void* arg) {
  producer_t* p = arg;
  record_event(0); /* the thread's first record acquires its ring */
  for (uint64_t b = 0; b < p->batches; b++) {
    uv_barrier_wait(p->start);
    uint64_t c0 = thread_cpu_ns();
    p->ns += timed_loop(p->op, p->batch);
    p->cpu_ns += thread_cpu_ns() - c0;
    uv_barrier_wait(p->done);
  }
}

/* Per op per thread with `nthreads` producers (1 or 2), over `total` ops
 * per thread: wall ns (returned) and CPU ns (*cpu). */
static double run_threads_cpu(int nthreads, op_t op, uint64_t total,
                              uint64_t batch, double* cpu) {
  uv_barrier_t start, done;
  uv_barrier_init(&start, (unsigned)nthreads + 1);
  uv_barrier_init(&done, (unsigned)nthreads + 1);
  producer_t p[2];
  uv_thread_t t[2];
  uint64_t batches = (total + batch - 1) / batch;
  for (int i = 0; i < nthreads; i++) {
    p[i] = (producer_t){&start, &done, op, batch, batches, 0, 0};
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
  double ns = 0, cpu_ns = 0;
  for (int i = 0; i < nthreads; i++) {
    ns += (double)p[i].ns;
    cpu_ns += (double)p[i].cpu_ns;
  }
  if (cpu != NULL) *cpu = cpu_ns / nthreads / (double)(batches * batch);
  return ns / nthreads / (double)(batches * batch);
}

static double run_threads(int nthreads, op_t op, uint64_t total,
                          uint64_t batch) {
  return run_threads_cpu(nthreads, op, total, batch, NULL);
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

typedef struct {
  double v[MAX_RUNS];
  int n;
} series_t;

static void put(series_t* s, double x) { s->v[s->n++] = x; }

/* "name": median, "name_minmax": [min, max] */
static void print_series(const char* name, series_t* s, int last) {
  double sorted[MAX_RUNS];
  memcpy(sorted, s->v, (size_t)s->n * sizeof(double));
  double m = median(sorted, s->n); /* sorts */
  printf("  \"%s\": %.3f,\n  \"%s_minmax\": [%.3f, %.3f]%s\n", name, m,
         name, sorted[0], sorted[s->n - 1], last ? "" : ",");
}

/* The stamp records take: 1 the CPU counter, 0 clock_gettime. Only between
 * runs, with every ring drained (a drain converts by the current mode). */
static void use_counter(int on) {
  drain_all();
  atomic_store_explicit(&nat__clock_counter.v, (uint64_t)on,
                        memory_order_relaxed);
}

static int profile(const char* what, uint64_t events) {
  op_t op = strcmp(what, "emit") == 0    ? OP_EMIT
            : strcmp(what, "stamp") == 0 ? OP_CLOCK
                                         : OP_EVENT;
  uint32_t cap = NAT_DEFAULT_CAPACITY;
  uint64_t batch = cap - cap / 8;
  drain_cap = 2 * (size_t)cap + 64;
  drain_buf = malloc(drain_cap * sizeof(nat_record_t));
  if (drain_buf == NULL) return 1;
  nat__enable(cap);
  record_event(0);
  drain_all();
  for (uint64_t done = 0; done < events; done += batch) {
    (void)timed_loop(op, events - done < batch ? events - done : batch);
    drain_all();
  }
  fprintf(stderr, "profiled %llu x %s, stamps: %s\n",
          (unsigned long long)events, what, nat__clock_source());
  nat__core_reset();
  free(drain_buf);
  return 0;
}

int main(int argc, char** argv) {
  uint64_t events = 4u << 20; /* per thread per run */
  int runs = 7;
  const char* prof = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--events") == 0) events = strtoull(argv[i + 1], 0, 10);
    if (strcmp(argv[i], "--runs") == 0) runs = atoi(argv[i + 1]);
    if (strcmp(argv[i], "--profile") == 0) prof = argv[i + 1];
  }
  if (prof != NULL) return profile(prof, events);
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
  const char* source = nat__clock_source();
  int counter = strcmp(source, "monotonic") != 0;

  /* [0]: the stamp this process uses; [1]: clock_gettime stamps. */
  series_t one[2] = {0}, two[2] = {0}, ratio[2] = {0}, one_cpu[2] = {0},
           two_cpu[2] = {0}, ratio_cpu[2] = {0}, stamp[2] = {0};
  series_t emit1 = {0}, emit2 = {0}, off_call = {0}, off_inline = {0};
  for (int r = 0; r < runs; r++) {
    /* Interleaved, so drift on the machine hits every figure alike. */
    for (int k = 0; k < (counter ? 2 : 1); k++) {
      use_counter(counter && k == 0);
      double c1, c2;
      double w1 = run_threads_cpu(1, OP_EVENT, events, batch, &c1);
      double w2 = run_threads_cpu(2, OP_EVENT, events, batch, &c2);
      put(&one[k], w1);
      put(&two[k], w2);
      put(&ratio[k], w2 / w1);
      put(&one_cpu[k], c1);
      put(&two_cpu[k], c2);
      put(&ratio_cpu[k], c2 / c1);
      put(&stamp[k], run_threads(1, OP_CLOCK, events, batch));
    }
    use_counter(counter);
    put(&emit1, run_threads(1, OP_EMIT, events, batch));
    put(&emit2, run_threads(2, OP_EMIT, events, batch));
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
    put(&off_call, disabled_ns(events * 4, 0));
    put(&off_inline, disabled_ns(events * 4, 1));
  }
  nat__enable(0);
  nat__stats_t st;
  nat__stats(&st);

  printf("{\n");
  printf("  \"events_per_thread_per_run\": %llu,\n", (unsigned long long)events);
  printf("  \"runs\": %d,\n", runs);
  printf("  \"ring_capacity\": %u,\n", cap);
  printf("  \"record_bytes\": %zu,\n", sizeof(nat_record_t));
  printf("  \"stamp_source\": \"%s\",\n", source);
  print_series("event_ns_1thread", &one[0], 0);
  print_series("event_ns_2threads", &two[0], 0);
  print_series("event_2threads_over_1", &ratio[0], 0);
  print_series("event_cpu_ns_1thread", &one_cpu[0], 0);
  print_series("event_cpu_ns_2threads", &two_cpu[0], 0);
  print_series("event_cpu_2threads_over_1", &ratio_cpu[0], 0);
  print_series("clock_ns", &stamp[0], 0); /* the record stamp */
  if (counter) {
    print_series("clock_gettime_event_ns_1thread", &one[1], 0);
    print_series("clock_gettime_event_ns_2threads", &two[1], 0);
    print_series("clock_gettime_event_2threads_over_1", &ratio[1], 0);
    print_series("clock_gettime_event_cpu_ns_1thread", &one_cpu[1], 0);
    print_series("clock_gettime_event_cpu_ns_2threads", &two_cpu[1], 0);
    print_series("clock_gettime_clock_ns", &stamp[1], 0);
  }
  print_series("emit_ns_1thread", &emit1, 0);
  print_series("emit_ns_2threads", &emit2, 0);
  print_series("disabled_call_ns", &off_call, 0);
  print_series("disabled_inline_ns", &off_inline, 0);
  printf("  \"hot_path_allocations\": %llu,\n", (unsigned long long)hot_allocs);
  /* Proof that the counting hooks see the library's calls (its drains
   * allocate their cursor arrays). */
  printf("  \"allocations_elsewhere\": %llu,\n",
         (unsigned long long)atomic_load(&allocs));
  printf("  \"dropped\": %llu\n", (unsigned long long)st.dropped);
  printf("}\n");
  nat__core_reset();
  free(drain_buf);
  return sink == 42 ? 2 : 0;
}
