/*
 * The clock of the records.
 *
 * Records are stamped with the cheapest monotonic counter the machine
 * offers and turned into CLOCK_MONOTONIC nanoseconds (the clock of
 * uv_hrtime and process.hrtime) when they are drained:
 *
 * - x86-64 with an invariant TSC (constant rate across P- and C-states,
 *   CPUID 0x80000007 EDX bit 8) that the kernel itself uses as its
 *   clocksource (so it found the TSCs of all CPUs in step): RDTSC. It
 *   costs a third of clock_gettime, which reads the same TSC through the
 *   vDSO but behind a fence, a seqlock and a scaling multiply.
 * - AArch64 where the kernel keeps time with the architected counter
 *   (clocksource arch_sys_counter): CNTVCT_EL0, constant rate and common
 *   to all CPUs by the architecture.
 * - anywhere else, or with NAT_CLOCK=monotonic in the environment:
 *   uv_hrtime() itself, and the conversion is the identity.
 *
 * The conversion is piecewise linear between anchors, pairs (counter, ns)
 * read back to back: one at start-up, then one per drain (taken after the
 * drain saw the rings' heads, so the records it takes were stamped before
 * it, up to the CPU's reordering of the counter read). A stamp between two
 * anchors maps onto the straight line through them, so the error is the
 * anchors' read jitter (tens of ns), NTP slewing included; a stamp past the
 * newest anchor maps onto the line through it with the rate since start-up.
 * Before a new anchor is added, the part of that line earlier drains
 * already used is pinned (an anchor at the largest stamp they converted
 * past the newest), so the map stays continuous and increasing and a stamp
 * converts the same in every drain that sees it: records a drain with
 * `max` leaves in the rings keep their order against those it took.
 *
 * Threads: nat__stamp() on any thread; nat__clock_init once (core init);
 * nat__clock_sync and nat__clock_to_ns only under the drain lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "nat_core.h"

nat__line_t nat__clock_counter = {0};

uint64_t nat__now_ns(void) { return uv_hrtime(); }

#if NAT__HAVE_COUNTER

#if defined(__x86_64__)
#include <cpuid.h>
#define NAT__COUNTER_NAME "tsc"
#define NAT__KERNEL_CLOCKSOURCE "tsc"

static int counter_invariant(void) {
  unsigned a, b, c, d;
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) == 0 || a < 0x80000007u)
    return 0;
  __get_cpuid(0x80000007u, &a, &b, &c, &d);
  return (d >> 8) & 1u;
}
#else
#define NAT__COUNTER_NAME "cntvct"
#define NAT__KERNEL_CLOCKSOURCE "arch_sys_counter"

/* The architected counter is constant-rate and system-wide by definition. */
static int counter_invariant(void) { return 1; }
#endif

/* Does the kernel keep CLOCK_MONOTONIC with this counter? Then it found it
 * usable on every CPU (and keeps watching it where it can). */
static int kernel_uses_counter(void) {
  FILE* f = fopen(
      "/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
  if (f == NULL) return 0;
  char name[64] = {0};
  int ok = fgets(name, sizeof(name), f) != NULL;
  fclose(f);
  if (!ok) return 0;
  name[strcspn(name, "\n")] = '\0';
  return strcmp(name, NAT__KERNEL_CLOCKSOURCE) == 0;
}

#define NAT__ANCHORS 256u

typedef struct {
  uint64_t tick;
  uint64_t ns;
} anchor_t;

/* The last NAT__ANCHORS anchors, oldest first from anchor_first; all under
 * the drain lock (or core init, before any drain). */
static anchor_t anchors[NAT__ANCHORS];
static unsigned anchor_first;
static unsigned anchor_count;
static anchor_t start;           /* the first anchor ever */
static double run_rate;          /* ns per tick, from start to the newest */
static uint64_t ext_max;         /* largest stamp converted past the newest */
static uint64_t top_stamp, top_ns; /* the newest stamp converted, and to */

/* The segment the last conversion used: a drain converts its records in
 * stamp order (the merge), so nearly every stamp falls in the same segment
 * as the one before it, and a conversion is then two compares and one
 * multiply instead of a binary search over the anchors and a division.
 * The slope is computed once per segment from the same two anchors, so a
 * stamp converts to the same ns whichever drain sees it. Past the newest
 * anchor the segment is open-ended (hi_tick UINT64_MAX) with the run's
 * rate. Dropped whenever the anchors change (anchor_push). */
static struct {
  int valid;
  int open;         /* past the newest anchor: extrapolating */
  uint64_t lo_tick; /* the segment: [lo_tick, hi_tick) */
  uint64_t hi_tick;
  double lo_ns;
  double slope;     /* ns per tick */
} seg;

static const anchor_t* anchor_at(unsigned i) {
  return &anchors[(anchor_first + i) % NAT__ANCHORS];
}

static void anchor_push(anchor_t a) {
  seg.valid = 0;
  if (anchor_count == NAT__ANCHORS) {
    anchors[anchor_first] = a;
    anchor_first = (anchor_first + 1) % NAT__ANCHORS;
  } else {
    anchors[(anchor_first + anchor_count++) % NAT__ANCHORS] = a;
  }
}

/* A (tick, ns) pair read as close together as this thread manages: the
 * narrowest of a few tries, the tick taken at the middle of the window. */
static anchor_t anchor_read(void) {
  anchor_t best = {0, 0};
  uint64_t best_window = UINT64_MAX;
  for (int i = 0; i < 4; i++) {
    uint64_t t1 = nat__counter_read();
    uint64_t ns = uv_hrtime();
    uint64_t t2 = nat__counter_read();
    if (t2 - t1 < best_window) {
      best_window = t2 - t1;
      best.tick = t1 + (t2 - t1) / 2;
      best.ns = ns;
    }
  }
  return best;
}

void nat__clock_init(void) {
  const char* want = getenv("NAT_CLOCK");
  if (want != NULL && strcmp(want, "monotonic") == 0) return;
  if (!counter_invariant() || !kernel_uses_counter()) return;
  start = anchor_read();
  anchor_push(start);
  run_rate = 0; /* no rate before a second anchor: see nat__clock_sync */
  atomic_store_explicit(&nat__clock_counter.v, 1, memory_order_relaxed);
}

/* Where the line past the newest anchor puts `stamp`. */
static double extrapolate(const anchor_t* hi, uint64_t stamp) {
  return (double)hi->ns + (double)(stamp - hi->tick) * run_rate;
}

/* Reads an anchor later than `hi` in both clocks (a few hundred ns at most
 * on a machine whose clocks advance). */
static anchor_t anchor_after(const anchor_t* hi) {
  anchor_t now;
  do {
    now = anchor_read();
  } while (now.tick <= hi->tick || now.ns <= hi->ns);
  return now;
}

void nat__clock_sync(void) {
  if (!atomic_load_explicit(&nat__clock_counter.v, memory_order_relaxed))
    return;
  const anchor_t* hi = anchor_at(anchor_count - 1);
  anchor_t now = anchor_after(hi);
  if (ext_max > hi->tick && run_rate > 0) {
    /* Pin what earlier drains read off the line past the newest anchor. */
    anchor_t pin = {ext_max, (uint64_t)(extrapolate(hi, ext_max) + 0.5)};
    if (pin.tick < now.tick && pin.ns < now.ns) {
      anchor_push(pin);
    } else {
      /* The pinned part reaches past now (stamps read early by a few ns):
       * keep extrapolating from it rather than bend the map back. */
      return;
    }
  }
  anchor_push(now);
  ext_max = 0;
  run_rate = (double)(now.ns - start.ns) / (double)(now.tick - start.tick);
}

/* Finds the segment holding `stamp` (at or after the oldest anchor, and
 * with a rate known) and caches it. */
static void seg_find(uint64_t stamp) {
  const anchor_t* hi = anchor_at(anchor_count - 1);
  if (stamp >= hi->tick) {
    seg.open = 1;
    seg.lo_tick = hi->tick;
    seg.hi_tick = UINT64_MAX;
    seg.lo_ns = (double)hi->ns;
    seg.slope = run_rate;
  } else {
    /* The segment [i, j] holding the stamp. */
    unsigned i = 0, j = anchor_count - 1;
    while (j - i > 1) {
      unsigned m = i + (j - i) / 2;
      if (anchor_at(m)->tick <= stamp)
        i = m;
      else
        j = m;
    }
    const anchor_t* a = anchor_at(i);
    const anchor_t* b = anchor_at(j);
    seg.open = 0;
    seg.lo_tick = a->tick;
    seg.hi_tick = b->tick;
    seg.lo_ns = (double)a->ns;
    seg.slope = (double)(b->ns - a->ns) / (double)(b->tick - a->tick);
  }
  seg.valid = 1;
}

uint64_t nat__clock_to_ns(uint64_t stamp) {
  if (!atomic_load_explicit(&nat__clock_counter.v, memory_order_relaxed))
    return stamp;
  const anchor_t* lo = anchor_at(0);
  double ns;
  if (anchor_count < 2) {
    ns = (double)anchor_at(anchor_count - 1)->ns; /* before the first sync */
  } else if (stamp < lo->tick) {
    ns = (double)lo->ns - (double)(lo->tick - stamp) * run_rate;
  } else {
    if (!seg.valid || stamp < seg.lo_tick || stamp >= seg.hi_tick)
      seg_find(stamp);
    if (seg.open && stamp > ext_max) ext_max = stamp;
    ns = seg.lo_ns + (double)(stamp - seg.lo_tick) * seg.slope;
  }
  uint64_t out = ns <= 0 ? 0 : (uint64_t)(ns + 0.5);
  /* A safety net under the map: a stamp at or past the newest one seen
   * never converts below what that one did (rounding, or an anchor read on
   * a CPU that reordered its counter read, could bend the map by a ns). */
  if (stamp >= top_stamp) {
    if (out < top_ns) out = top_ns;
    top_stamp = stamp;
    top_ns = out;
  }
  return out;
}

const char* nat__clock_source(void) {
  return atomic_load_explicit(&nat__clock_counter.v, memory_order_relaxed)
             ? NAT__COUNTER_NAME
             : "monotonic";
}

#else /* no counter: stamps are nanoseconds */

void nat__clock_init(void) {}
void nat__clock_sync(void) {}
uint64_t nat__clock_to_ns(uint64_t stamp) { return stamp; }
const char* nat__clock_source(void) { return "monotonic"; }

#endif
