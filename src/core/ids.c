/* The process-wide ID counter: every event's own ID comes from here, so IDs
 * are unique across threads, envs and Workers, and 0 stays the root. */
#include "nat_core.h"

/* On a cache line of its own: every new ID writes it, from any thread, and
 * no other variable should move between cores with it (nat__enabled, read
 * by every record, lives in ring.c). The alignment keeps the variables
 * linked before it off its line. */
_Alignas(64) _Atomic uint64_t nat__id_counter = 0;

uint64_t nat__id_last(void) {
  return atomic_load_explicit(&nat__id_counter, memory_order_relaxed);
}
