/*
 * The clock of the records.
 *
 * Records are stamped with the cheapest monotonic counter the machine
 * offers and converted to nanoseconds of CLOCK_MONOTONIC (the clock of
 * uv_hrtime and process.hrtime) when they are drained:
 *
 * - x86-64 with an invariant TSC that the kernel itself uses as its
 *   clocksource: the stamp is RDTSC (about 7 ns here, against about 24 ns
 *   for clock_gettime through the vDSO, which also reads the TSC but then
 *   scales it under a seqlock). Invariant means constant rate across
 *   P-states and sleep states; the kernel choosing it means it found the
 *   TSCs of all CPUs synchronized.
 * - anywhere else, or with NAT_CLOCK=hrtime in the environment: the stamp
 *   is uv_hrtime() itself and conversion is the identity.
 *
 * Conversion is piecewise linear between anchors: two read at start-up
 * 200 µs apart, then one at a drain (after it has seen the rings' heads)
 * when the last is a millisecond old. Records land within anchor jitter
 * and a millisecond of extrapolation (tens of ns) of CLOCK_MONOTONIC, NTP
 * slewing included, and the map is monotonic.
 *
 * Threads: nat__now() on any thread; nat__clock_init once (core init);
 * nat__clock_sync and nat__clock_to_ns only with the drain lock held.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "nat_core.h"

_Atomic int nat__clock_tsc = 0;

uint64_t nat__now_ns(void) { return uv_hrtime(); }

#if NAT__HAVE_TSC
#include <cpuid.h>

/*
 * The conversion: anchors, pairs (tsc, ns) read back to back, oldest
 * first, the last NAT__ANCHORS of them. A stamp between two anchors maps
 * onto the straight line through them; past the newest, onto the line
 * through it with the rate since start-up (`run_rate`, fixed between
 * anchors); before the oldest, likewise backwards. A drain measures a new
 * anchor when the newest is at least NAT__ANCHOR_GAP_NS old, and first
 * pins the part of the line past the old newest anchor that earlier
 * drains already used (an anchor at `ext_max`, on that line). So the map
 * is continuous and increasing, and a stamp converts the same way in every
 * drain that sees it: records a drain with `max` leaves in the rings keep
 * their order against those already drained (unless they stay there
 * across NAT__ANCHORS anchors, a quarter of a second of drains at least).
 * Drain lock (or init) only.
 */
#define NAT__ANCHORS 256u
#define NAT__ANCHOR_GAP_NS 1000000u

typedef struct {
  uint64_t tsc;
  uint64_t ns;
} anchor_t;

static anchor_t anchors[NAT__ANCHORS];
static unsigned anchor_first; /* index of the oldest */
static unsigned anchor_count;
static anchor_t start;        /* the first anchor ever */
static double run_rate;       /* ns per tick from start to the newest */
static uint64_t ext_max;      /* largest stamp converted past the newest */
static uint64_t top_stamp, top_ns; /* the newest stamp converted, and to what */

static const anchor_t* anchor_at(unsigned i) {
  return &anchors[(anchor_first + i) % NAT__ANCHORS];
}

static void anchor_push(anchor_t a) {
  if (anchor_count == NAT__ANCHORS) {
    anchors[anchor_first] = a;
    anchor_first = (anchor_first + 1) % NAT__ANCHORS;
  } else {
    anchors[(anchor_first + anchor_count++) % NAT__ANCHORS] = a;
  }
}

/* A (tsc, ns) pair read as close together as this thread can manage: the
 * narrowest of a few tries, the TSC taken at the middle of the window. */
static anchor_t anchor_read(void) {
  anchor_t best = {0, 0};
  uint64_t best_window = UINT64_MAX;
  for (int i = 0; i < 5; i++) {
    uint64_t t1 = __rdtsc();
    uint64_t ns = uv_hrtime();
    uint64_t t2 = __rdtsc();
    if (t2 - t1 < best_window) {
      best_window = t2 - t1;
      best.tsc = t1 + (t2 - t1) / 2;
      best.ns = ns;
    }
  }
  return best;
}

static int tsc_invariant(void) {
  unsigned a, b, c, d;
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) == 0 || a < 0x80000007u)
    return 0;
  __get_cpuid(0x80000007u, &a, &b, &c, &d);
  return (d >> 8) & 1u;
}

static int kernel_uses_tsc(void) {
  FILE* f = fopen(
      "/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
  if (f == NULL) return 0;
  char name[32] = {0};
  int ok = fgets(name, sizeof(name), f) != NULL &&
           strncmp(name, "tsc", 3) == 0 &&
           (name[3] == '\n' || name[3] == '\0');
  fclose(f);
  return ok;
}

void nat__clock_init(void) {
  const char* want = getenv("NAT_CLOCK");
  if (want != NULL && strcmp(want, "hrtime") == 0) return;
  if (!tsc_invariant() || !kernel_uses_tsc()) return;
  /* Two anchors at least 200 µs apart: a first rate, good enough for
   * stamps near start-up. */
  start = anchor_read();
  anchor_t a;
  do {
    a = anchor_read();
  } while (a.ns - start.ns < 200000 || a.tsc <= start.tsc);
  run_rate = (double)(a.ns - start.ns) / (double)(a.tsc - start.tsc);
  anchor_push(start);
  anchor_push(a);
  atomic_store_explicit(&nat__clock_tsc, 1, memory_order_release);
}

/* Where the line past the newest anchor puts `stamp`. */
static double extrapolate(const anchor_t* hi, uint64_t stamp) {
  return (double)hi->ns + (double)(stamp - hi->tsc) * run_rate;
}

void nat__clock_sync(void) {
  if (!atomic_load_explicit(&nat__clock_tsc, memory_order_relaxed)) return;
  const anchor_t* hi = anchor_at(anchor_count - 1);
  if (uv_hrtime() - hi->ns < NAT__ANCHOR_GAP_NS) return; /* extrapolate */
  anchor_t now = anchor_read();
  if (ext_max > hi->tsc) {
    /* Pin what earlier drains read off the line past the newest anchor. */
    anchor_t pin = {ext_max, (uint64_t)(extrapolate(hi, ext_max) + 0.5)};
    if (now.tsc <= pin.tsc || now.ns <= pin.ns) return; /* keep the line */
    anchor_push(pin);
    hi = anchor_at(anchor_count - 1);
  }
  if (now.tsc <= hi->tsc || now.ns <= hi->ns) return;
  anchor_push(now);
  run_rate = (double)(now.ns - start.ns) / (double)(now.tsc - start.tsc);
  ext_max = 0;
}

uint64_t nat__clock_to_ns(uint64_t stamp) {
  if (!atomic_load_explicit(&nat__clock_tsc, memory_order_relaxed))
    return stamp;
  const anchor_t* lo = anchor_at(0);
  const anchor_t* hi = anchor_at(anchor_count - 1);
  double ns;
  if (stamp >= hi->tsc) {
    if (stamp > ext_max) ext_max = stamp;
    ns = extrapolate(hi, stamp);
  } else if (stamp < lo->tsc) {
    ns = (double)lo->ns - (double)(lo->tsc - stamp) * run_rate;
  } else {
    /* The segment [i, i + 1] holding the stamp. */
    unsigned i = 0, j = anchor_count - 1;
    while (j - i > 1) {
      unsigned m = i + (j - i) / 2;
      if (anchor_at(m)->tsc <= stamp) i = m;
      else j = m;
    }
    const anchor_t* a = anchor_at(i);
    const anchor_t* b = anchor_at(j);
    ns = (double)a->ns + (double)(stamp - a->tsc) * (double)(b->ns - a->ns) /
                             (double)(b->tsc - a->tsc);
  }
  uint64_t out = ns <= 0 ? 0 : (uint64_t)(ns + 0.5);
  /* A safety net under the map: a stamp at or past the newest one seen
   * never converts below what that one did (the map is built to be
   * monotonic; this keeps drained order even where anchor jitter or a
   * CPU whose TSC reads a few ns behind would bend it). */
  if (stamp >= top_stamp) {
    if (out < top_ns) out = top_ns;
    top_stamp = stamp;
    top_ns = out;
  }
  return out;
}

#else /* no TSC: stamps are nanoseconds */

void nat__clock_init(void) {}
void nat__clock_sync(void) {}
uint64_t nat__clock_to_ns(uint64_t stamp) { return stamp; }

#endif
