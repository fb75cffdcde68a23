/* The process-wide ID counter: every event's own ID comes from here, so IDs
 * are unique across threads, envs and Workers, and 0 stays the root. */
#include "nat_core.h"

_Atomic uint64_t nat__id_counter = 0;

uint64_t nat__id_last(void) {
  return atomic_load_explicit(&nat__id_counter, memory_order_relaxed);
}
