/*
 * The arena of the zero-code wrappers' objects (src/core/warena.c).
 *
 * Fixed-size slots from one reserved range of address space that is never
 * given back, so any thread can ask "is this pointer one of ours" without
 * a lock and without reading memory that is not ours. A slot carries a
 * non-zero kind word at offset 0 while it is handed out (the caller's
 * object starts with it: `_Atomic uint32_t kind`), NAT__WARENA_FREE while
 * it is free.
 *
 * Threads: every function, any thread. A thread's cache of free slots goes
 * back to the shared list when the thread ends.
 */
#ifndef NAT_WARENA_H
#define NAT_WARENA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define NAT__WARENA_SLOT 128u
#define NAT__WARENA_FREE 0u

/* A slot of `kind` (non-zero) whose first `size` bytes (the caller's
 * object, at most NAT__WARENA_SLOT) are zeroed but for the kind; NULL when
 * the arena is full or the reservation failed (the caller then passes
 * through untraced). Slots are NAT__WARENA_SLOT-aligned. */
void* nat__warena_get(uint32_t kind, size_t size);
/* Gives a slot back. */
void nat__warena_put(void* p);
/* Non-zero when p is a handed-out slot of `kind`. The answer is only stable
 * for objects the caller knows to be alive by other means. */
int nat__warena_owns(const void* p, uint32_t kind);
/* Bytes of the reservation made usable so far (tests, stats). */
size_t nat__warena_committed(void);

#endif /* NAT_WARENA_H */
