/*
 * A free-node pool any thread gives back to and takes from (declared in
 * nat_core.h): the tracked queue's pooled tasks.
 *
 * Two ends, on cache lines of their own:
 * - `top`, a Treiber stack givers push onto with one CAS per chain (the
 *   queue's dispatch gives a whole wake-up's tasks back in one CAS);
 * - `local`, the taker's list, under a try-lock. A taker pops from it and,
 *   when it runs dry, moves all of `top` into it with one exchange.
 * So a giver and a taker touch each other's line once per batch, not once
 * per node. Takers never pop from `top` (they take it whole), so a node
 * read as the top cannot be taken and given back under them: no ABA.
 *
 * Memory orders: a giver links its chain with relaxed stores and publishes
 * it with a release CAS; the taker's exchange is acquire. The CAS of a
 * later giver is a read-modify-write, so it continues the release sequence
 * of the earlier one, and the exchange that reads the latest top sees
 * every chain below it linked. The lock is acquire/release around `local`.
 */
#include <sched.h>

#include "nat_core.h"

void nat__pool_init(nat__pool_t* p) {
  atomic_store_explicit(&p->top, NULL, memory_order_relaxed);
  atomic_store_explicit(&p->lock, 0, memory_order_relaxed);
  p->local = NULL;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

nat__mpsc_node_t* nat__pool_take(nat__pool_t* p) {
  /* The lock is held for a handful of instructions: a few short spins,
   * then a yield (its holder may have been preempted), then the caller
   * allocates instead of waiting. */
  for (int tries = 0; tries < 8; tries++) {
    if (atomic_exchange_explicit(&p->lock, 1, memory_order_acquire)) {
      if (tries < 4) {
        for (int i = 0; i < 32; i++) cpu_relax();
      } else {
        sched_yield();
      }
      continue;
    }
    nat__mpsc_node_t* n = p->local;
    if (n == NULL &&
        atomic_load_explicit(&p->top, memory_order_relaxed) != NULL)
      n = atomic_exchange_explicit(&p->top, NULL, memory_order_acquire);
    if (n != NULL)
      p->local = atomic_load_explicit(&n->next, memory_order_relaxed);
    atomic_store_explicit(&p->lock, 0, memory_order_release);
    return n;
  }
  return NULL;
}

void nat__pool_give(nat__pool_t* p, nat__mpsc_node_t* first,
                    nat__mpsc_node_t* last) {
  nat__mpsc_node_t* top = atomic_load_explicit(&p->top, memory_order_relaxed);
  do {
    atomic_store_explicit(&last->next, top, memory_order_relaxed);
  } while (!atomic_compare_exchange_weak_explicit(
      &p->top, &top, first, memory_order_release, memory_order_relaxed));
}
