/* The process-wide ID counter: every event's own ID comes from here, so IDs
 * are unique across threads, envs and Workers, and 0 stays the root. */
#include "nat_core.h"

/* Alone on its cache line (nat__line_t: aligned and padded to the line's
 * end): every new ID writes it, from any thread, and no other variable
 * should move between cores with it. `nm -S` shows it 64 bytes long at a
 * 64-byte boundary; a Check test asserts the same. */
nat__line_t nat__id_counter = {0};

uint64_t nat__id_last(void) {
  return atomic_load_explicit(&nat__id_counter.v, memory_order_relaxed);
}
