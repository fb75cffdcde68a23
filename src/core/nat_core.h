/*
 * The recording core: pure C over libuv, no Node-API.
 *
 * Producers (any thread) write fixed-size records into a ring of their own;
 * one consumer at a time (nat__drain) merges the committed records of every
 * ring into a caller's buffer. Nothing on the producer path takes a lock,
 * allocates (after a thread's first record) or blocks: a full ring drops the
 * record and counts it.
 *
 * Threads:
 * - nat__emit_* and nat__id_next: any thread, any time, also while another
 *   thread enables, disables or drains.
 * - nat__enable, nat__disable, nat__drain, nat__stats, nat__site_*: any
 *   thread; they serialise on internal mutexes (the JS threads of the envs
 *   that loaded the addon call them).
 * - nat__core_reset: only when no other thread can record (tests).
 */
#ifndef NAT_CORE_H
#define NAT_CORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "napi_async_trace_defs.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- cache lines and thread-locals ------------------------------------- */

#define NAT__CACHE_LINE 64

/*
 * A word alone on a cache line: aligned to the line and padded to its end,
 * so the linker can place nothing else on it (alignment alone only moves
 * its start; the variables after it could still share the line).
 */
typedef struct {
  _Alignas(NAT__CACHE_LINE) _Atomic uint64_t v;
  char pad[NAT__CACHE_LINE - sizeof(uint64_t)];
} nat__line_t;

/* Thread-locals read on the recording path. In a shared object (the addon)
 * the default TLS model finds them through a call to __tls_get_addr;
 * initial-exec reads them at a fixed offset from the thread pointer, as
 * lttng-ust does for its per-thread state. A library loaded with dlopen
 * gets such variables from glibc's static TLS reserve, which the few bytes
 * of ours fit easily. */
#if defined(__GNUC__) && !defined(__APPLE__)
#define NAT__TLS_FAST __attribute__((tls_model("initial-exec")))
#else
#define NAT__TLS_FAST
#endif

/* ---- clock -------------------------------------------------------------- */

/* Monotonic nanoseconds (CLOCK_MONOTONIC through libuv). Any thread. */
uint64_t nat__now_ns(void);

/*
 * Record stamps (clock.c). A record carries, while it sits in a ring, the
 * cheapest clock the machine offers: the CPU's counter (RDTSC on x86-64,
 * CNTVCT_EL0 on AArch64) where that counter is constant-rate and the
 * kernel itself keeps time with it, else CLOCK_MONOTONIC nanoseconds
 * (NAT_CLOCK=monotonic in the environment forces this). The drain turns
 * counter stamps into CLOCK_MONOTONIC nanoseconds (nat__clock_to_ns) after
 * nat__clock_sync, both under the drain lock. nat__clock_init runs once,
 * in core init, before any thread can stamp a record (every recording
 * thread passes the same uv_once first), so nat__clock_counter is read
 * relaxed.
 *
 * The counter read is not ordered against the loads before it (no fence:
 * a fence costs as much as clock_gettime itself), so stamps of different
 * threads are comparable only to within the CPU's reordering window (tens
 * of ns); see nat__drain for what the merged order promises.
 */
#if defined(__x86_64__)
#include <x86intrin.h>
#define NAT__HAVE_COUNTER 1
static inline uint64_t nat__counter_read(void) { return __rdtsc(); }
#elif defined(__aarch64__)
#define NAT__HAVE_COUNTER 1
static inline uint64_t nat__counter_read(void) {
  uint64_t v;
  __asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
  return v;
}
#else
#define NAT__HAVE_COUNTER 0
static inline uint64_t nat__counter_read(void) { return 0; }
#endif

/* How far a drained timestamp may lie from the CLOCK_MONOTONIC reading of
 * the moment its record was made: the anchors' read jitter plus the
 * counter read's reordering (tens of ns where measured). Tests hold the
 * conversion to it. */
#define NAT__CLOCK_SLACK_NS 1000u

/* v != 0: record stamps are counter ticks. Written once by nat__clock_init. */
extern nat__line_t nat__clock_counter;

void nat__clock_init(void);
void nat__clock_sync(void);
uint64_t nat__clock_to_ns(uint64_t stamp);
/* "tsc", "cntvct" or "monotonic": what stamps records. */
const char* nat__clock_source(void);

/* A record stamp. Any thread (after core init, see above). */
static inline uint64_t nat__stamp(void) {
#if NAT__HAVE_COUNTER
  if (atomic_load_explicit(&nat__clock_counter.v, memory_order_relaxed))
    return nat__counter_read();
#endif
  return nat__now_ns();
}

/* ---- ids ---------------------------------------------------------------- */

/*
 * One process-wide counter, alone on its cache line (every new ID writes
 * it, from any thread); the first ID handed out is 1, 0 is the root.
 *
 * Relaxed: an ID only needs to be unique, which the atomic read-modify-
 * write gives in any order. The record that carries it is published by its
 * ring's release store, not by the counter. Causality still shows in the
 * IDs: read-modify-writes of one variable follow one modification order
 * that agrees with happens-before, so an ID taken after another
 * (happens-before, through any synchronisation) is larger.
 */
extern nat__line_t nat__id_counter;

static inline uint64_t nat__id_next(void) {
  return atomic_fetch_add_explicit(&nat__id_counter.v, 1,
                                   memory_order_relaxed) +
         1;
}

/* The last ID handed out (0 if none). */
uint64_t nat__id_last(void);

/* ---- sites -------------------------------------------------------------- */

/*
 * Interns `name` (len bytes, 1..NAT_SITE_NAME_MAX, no NUL inside) and returns
 * its index (>= 1) or a negative nat_errno_t. The same name always gives the
 * same index. Index 0 is the empty site.
 */
int32_t nat__site_intern(const char* name, size_t len);

/* Number of interned sites, counting site 0. */
uint32_t nat__site_count(void);

/*
 * Copies the name of site `index` into buf (NUL-terminated, at most
 * NAT_SITE_NAME_MAX + 1 bytes) and returns its length, or NAT_EINVAL.
 */
int nat__site_name(uint32_t index, char* buf, size_t size);

/* ---- recording ---------------------------------------------------------- */

/*
 * Non-zero while recording; alone on its cache line, read by every hook
 * point, written only by enable and disable. Relaxed: the flag publishes
 * no data. A producer that sees the change late records one event more or
 * less around it, and an event whose ID was handed out is recorded anyway
 * (nat__emit_owed), so the accounting stays exact either way.
 */
extern nat__line_t nat__enabled;

static inline int nat__is_enabled(void) {
  return atomic_load_explicit(&nat__enabled.v, memory_order_relaxed) != 0;
}

#define NAT_DEFAULT_CAPACITY 65536u /* records per thread ring */
#define NAT_MIN_CAPACITY 16u
#define NAT_MAX_CAPACITY (1u << 26)

/*
 * Starts recording. `capacity` (records per thread ring) is rounded up to a
 * power of two within [NAT_MIN_CAPACITY, NAT_MAX_CAPACITY]; 0 keeps the
 * current one. Rings that already exist keep their size; new ones (and free
 * ones reused later) get the new size; free rings of another size are
 * released. Returns 0 (the value is kept for future errors).
 */
int nat__enable(uint32_t capacity);
void nat__disable(void);

/*
 * Most rings that may exist at once (0: the default, 1024). A thread that
 * first records when the limit is reached gets no ring: its records are
 * dropped and counted until a drain recycles a ring of an exited thread.
 */
void nat__set_max_rings(uint32_t n);

/* The ring capacity new rings get. */
uint32_t nat__capacity(void);

/*
 * Appends one record to the calling thread's ring. Returns 1 when the record
 * was committed, 0 when recording is off, -1 when it was dropped (ring full,
 * or no ring could be allocated) and counted.
 */
int nat__emit(nat_event_type_t type, uint64_t execute_id, uint64_t link_id,
              uint64_t ready_id, uint32_t site, uint32_t env);

/*
 * As nat__emit, without looking at nat__enabled: for an event owed to an ID
 * the caller already handed out (it checked nat__enabled when it made the
 * ID), or to a frame begun while recording was on. Once an ID is handed out
 * its events must be committed or dropped and counted; a disable() landing
 * between the check and the write (or before a frame ends) must not make
 * them vanish: recorded + dropped would no longer add up to what producers
 * were told was recorded, and the ID would appear in later events with no
 * record of its own. Returns 1 (committed) or -1 (dropped), never 0.
 */
int nat__emit_owed(nat_event_type_t type, uint64_t execute_id,
                   uint64_t link_id, uint64_t ready_id, uint32_t site,
                   uint32_t env);

/* The serial of the calling thread (assigns one if it has none yet). */
uint32_t nat__thread_serial(void);

/* ---- drain -------------------------------------------------------------- */

/*
 * Called once per drain with the number of records the drain will write
 * (lost markers included, > 0); returns a buffer of at least that many
 * records, or NULL to abandon the drain (nothing is consumed). It runs
 * with the drain lock held: it must not call nat__drain, nat__stats or
 * nat__pending.
 */
typedef nat_record_t* (*nat__drain_alloc_cb)(void* ud, size_t count);

/*
 * Moves at most `max` committed records (0: no limit) of every ring into one
 * buffer, merged by timestamp, with timestamps in CLOCK_MONOTONIC ns.
 *
 * What the order promises:
 * - Per thread, exact: a thread's records come in the order it made them,
 *   and its timestamps never go back.
 * - Across threads, by timestamp only: records of different threads come in
 *   the order of their stamps, which follows real time to within the
 *   clock's cross-CPU error (counter stamps: the CPU's reordering window,
 *   under 100 ns where measured; clock_gettime: none). Two records of
 *   different threads closer than that may come in either order, even
 *   when one caused the other. A drain also snapshots rings one by one, so
 *   an event can come a batch before the event of another thread that
 *   caused it.
 * - Causality is carried by IDs, always: a ready names its link, a frame
 *   its ready, and a new ID taken after another (happens-before) is larger.
 *   Readers that rebuild the graph (lib/graph.js) join by ID and never by
 *   position in the stream.
 * - Across drains: a record left in a ring by `max` converts and sorts as
 *   it would have in the earlier drain.
 *
 * For each ring that dropped records since the previous drain, a NAT_EV_LOST
 * record with the count (in link_id) and the ring's thread is written at
 * the end of the batch, stamped with the drain's time (records still left
 * in a ring by `max` come in a later batch). Rings of exited threads are recycled once drained.
 * Returns the number of records written (0: nothing to drain, alloc not
 * called) or NAT_ENOMEM when alloc returned NULL.
 */
int64_t nat__drain(nat__drain_alloc_cb alloc, void* ud, size_t max);

/* Number of committed records waiting to be drained (a snapshot). */
uint64_t nat__pending(void);

typedef struct nat__stats_s {
  uint64_t recorded;  /* records committed into rings, ever */
  uint64_t dropped;   /* records lost: ring full or no ring, ever */
  uint64_t drained;   /* records moved out by nat__drain (markers excluded) */
  uint64_t pending;   /* committed, not yet drained */
  uint32_t capacity;  /* records per ring for new rings */
  uint32_t rings;     /* rings allocated (in use, orphaned or free) */
  uint32_t threads;   /* threads that currently own a ring */
  uint32_t threads_seen; /* thread serials handed out, ever */
  uint64_t ring_bytes;   /* memory held by rings */
} nat__stats_t;

void nat__stats(nat__stats_t* out);

/*
 * Frees every ring and site, resets the ID counter and all counts. Only for
 * tests and process teardown: no other thread may record while it runs or
 * afterwards still hold a ring (join them first).
 */
void nat__core_reset(void);


/* ---- the tracked queue's lock-free multi-producer queue (mpsc.c) -------- */

/*
 * An intrusive multi-producer, single-consumer FIFO (Vyukov's, with a stub
 * node) and the one word that carries the queue's wake-up and close
 * protocol (libuv's src/unix/async.c pending/busy flag is the model):
 *
 *   bit 0  NAT__MPSC_PENDING  a wake-up is owed: the consumer will look at
 *                             the queue again (the producer that set it
 *                             sends the wake-up, e.g. uv_async_send)
 *   bit 1  NAT__MPSC_CLOSING  pushes are refused (NAT_ECLOSING)
 *   bits 2+                   producers inside push (NAT__MPSC_BUSY each)
 *
 * Threads: push from any thread; begin, pop and close on the one consumer
 * thread. Nothing allocates. Nodes are the caller's memory, which must stay
 * valid until popped.
 */
typedef struct nat__mpsc_node_s {
  struct nat__mpsc_node_s* _Atomic next;
} nat__mpsc_node_t;

#define NAT__MPSC_PENDING 1u
#define NAT__MPSC_CLOSING 2u
#define NAT__MPSC_BUSY 4u

typedef struct nat__mpsc_s {
  /* Written by producers (and by the consumer once per wake-up). */
  _Alignas(64) nat__mpsc_node_t* _Atomic head;
  _Atomic uint64_t word;
  /* The consumer's. */
  _Alignas(64) nat__mpsc_node_t* tail;
  nat__mpsc_node_t stub;
} nat__mpsc_t;

void nat__mpsc_init(nat__mpsc_t* q);
/*
 * Any thread. Appends n (NULL: appends nothing, only owes a wake-up)
 * unless the queue is closing. Returns 0 when a wake-up was already owed
 * (done); 1 when the caller must wake the consumer: it is still counted
 * inside, sends the wake-up, then calls nat__mpsc_leave; NAT_ECLOSING
 * when refused (n untouched).
 */
int nat__mpsc_push(nat__mpsc_t* q, nat__mpsc_node_t* n);
void nat__mpsc_leave(nat__mpsc_t* q);
/* Consumer, at the start of each wake-up: clears NAT__MPSC_PENDING, so a
 * push from now on wakes it again. Returns the word before. */
uint64_t nat__mpsc_begin(nat__mpsc_t* q);
/*
 * Consumer. The oldest node, or NULL: empty (*retry 0), or a producer is
 * between its two steps (*retry 1): that producer wakes the consumer again
 * when it finishes (it finds NAT__MPSC_PENDING clear).
 */
nat__mpsc_node_t* nat__mpsc_pop(nat__mpsc_t* q, int* retry);
/* Consumer, as when a wake-up is due anyway (more left than it takes in one
 * go): sets NAT__MPSC_PENDING; returns 1 when the caller must wake it. */
int nat__mpsc_rearm(nat__mpsc_t* q);
/*
 * Consumer (or any one thread, once). Refuses further pushes and waits
 * (a short spin, then sched_yield) until no producer is inside push: every
 * node that will ever be pushed can then be popped without *retry.
 */
void nat__mpsc_close(nat__mpsc_t* q);
/* Any thread: non-zero once close has begun. A relaxed load. */
int nat__mpsc_closing(const nat__mpsc_t* q);

/* ---- a pool of free nodes (pool.c) ----------------------------------------- */

/*
 * Free nodes (the tracked queue's pooled tasks), linked through their
 * nat__mpsc_node_t: givers push chains onto `top` (one CAS each), a taker
 * pops from `local` under `lock` and refills it by taking all of `top` in
 * one exchange. See pool.c for the protocol and its memory orders.
 */
typedef struct nat__pool_s {
  _Alignas(64) nat__mpsc_node_t* _Atomic top; /* givers' end */
  _Alignas(64) _Atomic int lock;              /* takers' end */
  nat__mpsc_node_t* local;                    /* under lock */
} nat__pool_t;

void nat__pool_init(nat__pool_t* p);
/* Any thread. A free node, or NULL: the pool is empty, or its lock stayed
 * taken through a few tries (the caller allocates instead of waiting). */
nat__mpsc_node_t* nat__pool_take(nat__pool_t* p);
/* Any thread. Gives back the chain first..last, linked through next
 * (first == last for one node); the nodes must be out of use. */
void nat__pool_give(nat__pool_t* p, nat__mpsc_node_t* first,
                    nat__mpsc_node_t* last);

#ifdef __cplusplus
}
#endif

#endif /* NAT_CORE_H */
