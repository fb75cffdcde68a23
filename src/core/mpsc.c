/*
 * The tracked queue's lock-free multi-producer, single-consumer FIFO and
 * its one-word wake-up and close protocol (declared in nat_core.h).
 *
 * The FIFO is Dmitry Vyukov's intrusive MPSC queue: a producer swaps
 * itself in as the new head with one exchange, then links the previous
 * head to itself. Between the two steps the chain is broken; the consumer
 * sees that (tail has no next, yet tail != head) and comes back later
 * instead of waiting. A stub node lets the consumer pop the last real node
 * without racing producers over an empty list.
 *
 * The word (see nat_core.h for its bits) is what makes "come back later"
 * safe and the close clean:
 * - A producer enters by adding NAT__MPSC_BUSY (acquire: it must see a
 *   CLOSING set before it) and pushes. If PENDING is set it leaves in one
 *   CAS (release: the consumer that clears PENDING afterwards sees the
 *   link). If not, it sets PENDING in that CAS, wakes the consumer while
 *   still counted inside, and then leaves: so the owner, which closes the
 *   wake-up handle only after close() saw nobody inside, never closes it
 *   under a sender.
 * - The consumer clears PENDING (acquire) before it pops. A producer whose
 *   CAS comes later finds it clear and wakes the consumer again; one whose
 *   CAS came earlier has its node linked and visible. So a node is never
 *   left behind without a wake-up, and a broken chain (a producer between
 *   its steps) always has a wake-up coming.
 * - Close sets CLOSING and waits for the busy count to reach zero: after
 *   that no producer touches the queue or the wake-up again (the owner may
 *   close its uv_async_t), and every node pushed is linked.
 * All of it is one word, as in libuv's uv_async_send, so there is no
 * store-load (Dekker) ordering to argue between two variables.
 */
#include <sched.h>

#include "nat_core.h"

void nat__mpsc_init(nat__mpsc_t* q) {
  atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
  atomic_store_explicit(&q->head, &q->stub, memory_order_relaxed);
  atomic_store_explicit(&q->word, 0, memory_order_relaxed);
  q->tail = &q->stub;
}

/* The FIFO's own push, without the word (the consumer re-pushes the stub
 * with it). acq_rel on the exchange: release publishes n->next = NULL to
 * the next producer, which links through n; acquire orders this thread
 * after the previous producer's exchange. The link is a release store:
 * the consumer's acquire load of prev->next sees n's contents. */
static void fifo_push(nat__mpsc_t* q, nat__mpsc_node_t* n) {
  atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
  nat__mpsc_node_t* prev =
      atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
  atomic_store_explicit(&prev->next, n, memory_order_release);
}

int nat__mpsc_push(nat__mpsc_t* q, nat__mpsc_node_t* n) {
  uint64_t w = atomic_fetch_add_explicit(&q->word, NAT__MPSC_BUSY,
                                         memory_order_acquire);
  if (w & NAT__MPSC_CLOSING) {
    atomic_fetch_sub_explicit(&q->word, NAT__MPSC_BUSY, memory_order_release);
    return NAT_ECLOSING;
  }
  if (n != NULL) fifo_push(q, n);
  /* Leave in the same CAS when a wake-up is owed already; otherwise set
   * PENDING and stay counted inside while the caller sends the wake-up.
   * Release either way: a consumer whose begin (acquire) comes after this
   * CAS sees the link; one whose begin came before it changed the word,
   * so this CAS fails, reloads, finds PENDING clear and wakes it. */
  w = atomic_load_explicit(&q->word, memory_order_relaxed);
  for (;;) {
    uint64_t next = (w & NAT__MPSC_PENDING) ? w - NAT__MPSC_BUSY
                                            : w | NAT__MPSC_PENDING;
    if (atomic_compare_exchange_weak_explicit(&q->word, &w, next,
                                              memory_order_release,
                                              memory_order_relaxed))
      return (w & NAT__MPSC_PENDING) ? 0 : 1;
  }
}

void nat__mpsc_leave(nat__mpsc_t* q) {
  atomic_fetch_sub_explicit(&q->word, NAT__MPSC_BUSY, memory_order_release);
}

uint64_t nat__mpsc_begin(nat__mpsc_t* q) {
  return atomic_fetch_and_explicit(&q->word, ~(uint64_t)NAT__MPSC_PENDING,
                                   memory_order_acquire);
}

int nat__mpsc_rearm(nat__mpsc_t* q) {
  uint64_t w = atomic_fetch_or_explicit(&q->word, NAT__MPSC_PENDING,
                                        memory_order_relaxed);
  return (w & NAT__MPSC_PENDING) ? 0 : 1;
}

nat__mpsc_node_t* nat__mpsc_pop(nat__mpsc_t* q, int* retry) {
  *retry = 0;
  nat__mpsc_node_t* tail = q->tail;
  nat__mpsc_node_t* next =
      atomic_load_explicit(&tail->next, memory_order_acquire);
  if (tail == &q->stub) {
    if (next == NULL) {
      /* Empty, or the first producer after empty is between its steps. */
      if (atomic_load_explicit(&q->head, memory_order_acquire) != tail)
        *retry = 1;
      return NULL;
    }
    q->tail = next;
    tail = next;
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
  }
  if (next != NULL) {
    q->tail = next;
    return tail;
  }
  /* tail is the last linked node. Unless it is also the head, a producer
   * has swapped in after it and not linked yet. */
  if (atomic_load_explicit(&q->head, memory_order_acquire) != tail) {
    *retry = 1;
    return NULL;
  }
  /* Put the stub behind tail so tail can be taken. */
  fifo_push(q, &q->stub);
  next = atomic_load_explicit(&tail->next, memory_order_acquire);
  if (next != NULL) {
    q->tail = next;
    return tail;
  }
  /* A producer swapped in between our head load and the stub: its link to
   * tail is coming. */
  *retry = 1;
  return NULL;
}

void nat__mpsc_close(nat__mpsc_t* q) {
  /* acq_rel: acquire pairs with producers' release on leaving. */
  uint64_t w = atomic_fetch_or_explicit(&q->word, NAT__MPSC_CLOSING,
                                        memory_order_acq_rel);
  for (unsigned spins = 0; w >= NAT__MPSC_BUSY; spins++) {
    /* A producer is inside push: it is a few instructions from leaving
     * (or from seeing CLOSING and backing out). */
    if (spins >= 1000) sched_yield();
    w = atomic_load_explicit(&q->word, memory_order_acquire);
  }
}

int nat__mpsc_closing(const nat__mpsc_t* q) {
  return (atomic_load_explicit(&q->word, memory_order_relaxed) &
          NAT__MPSC_CLOSING) != 0;
}
