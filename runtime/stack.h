/*
 * stack.h - process stacks: mmapped, guarded, carved from slabs, cached.
 *
 * A stack is `size` usable bytes with a guard region of one page directly
 * below it.  Stacks are carved from large slabs (one mmap per slab), and a
 * freed stack goes to a per-scheduler LIFO cache, so a warm spawn/exit pair
 * makes no syscall and reuses memory that is already faulted in.  Stacks are
 * never unmapped (munmap would mean TLB shootdowns on every core); a cache
 * that grows past its bound hands the excess to a global pool, which gives
 * the pages of what it holds beyond a bound back to the kernel, in batches.
 */
#ifndef LWP_STACK_H
#define LWP_STACK_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"

struct stack {
	void *lo;    /* lowest usable byte (the guard page sits below it) */
	size_t size; /* usable bytes */
	int node;    /* NUMA node its slab prefers; -1: none */
#if LWP_HAVE_VALGRIND
	unsigned vg_id;
#endif
};

/* Free stacks of one size whose pages the pool keeps (stack.c). */
#define STACK_POOL_KEEP 4096

/* Per-scheduler cache of stacks of the default size, all from slabs that
 * prefer the scheduler's NUMA node. */
struct stack_cache {
	void **slots;
	size_t count;
	size_t cap;
	int node; /* OS index of the NUMA node; -1: unknown (no preference) */
};

static inline void *stack_top(const struct stack *st)
{
	return (char *)st->lo + st->size;
}

/* Round a requested size up to whole pages; 0 if it is out of range. */
size_t stack_round(size_t size);

/* Set the default size (already rounded); call before any stack_get. */
void stack_set_default(size_t size);
size_t stack_default(void);

/* node: the OS index of the NUMA node the cache's scheduler runs on, or -1.
 * Its stacks come from slabs whose pages prefer that node. */
must_check int stack_cache_init(struct stack_cache *c, int node);
/* Return the cache's stacks to the global pool. */
void stack_cache_drain(struct stack_cache *c);

/* Give back the pages of the free stacks beyond what the pool keeps warm
 * (a scheduler about to sleep calls it: the burst that freed them is
 * over). */
void stack_trim(void);

/* A stack of `size` bytes (rounded), on c's node (c NULL: no preference);
 * LWP_ENOMEM on failure.  A stack goes back to the pool of the node it was
 * made for, whichever cache stack_put is given. */
must_check int stack_get(struct stack_cache *c, size_t size, struct stack *out);
void stack_put(struct stack_cache *c, const struct stack *st);

/* Is addr inside the guard region of st? (stack overflow detection) */
bool stack_in_guard(const struct stack *st, const void *addr);

/* Stack canary at the low end, checked at switches when LWP_STACK_CANARY. */
void stack_canary_set(const struct stack *st);
bool stack_canary_ok(const struct stack *st);

#endif /* LWP_STACK_H */
