/*
 * alloc.h - the runtime's allocator.
 *
 * Large blocks come from jemalloc (explicitly, mallocx/sdallocx, whatever
 * malloc() the program resolved to) or the system malloc, chosen at build
 * time (-Dallocator=).  Small blocks - nearly every message - come first
 * from a per-scheduler cache of free blocks in three size classes, so the
 * message hot path costs a few instructions instead of a trip through a
 * general allocator.  A block freed on another scheduler simply joins that
 * scheduler's cache; each class is bounded, and overflow goes back to the
 * general allocator.
 */
#ifndef LWP_ALLOC_H
#define LWP_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

#define ALLOC_CLASSES 3 /* 64, 128 and 256 bytes */
/* Address bits no block handed out uses: a mailbox counts in them. */
#define ALLOC_ADDR_SPARE ((uintptr_t)0xff << 48)
#define ALLOC_CACHE_MAX	 1024 /* blocks kept per class */

struct alloc_cache {
	void *free[ALLOC_CLASSES]; /* LIFO lists linked through the blocks */
	unsigned count[ALLOC_CLASSES];
};

/* The class of a size, or ALLOC_CLASSES if it is too big to cache. */
static inline unsigned alloc_class(size_t size)
{
	return size <= 64 ? 0 : size <= 128 ? 1 : size <= 256 ? 2 : 3;
}
_Static_assert(ALLOC_CLASSES == 3, "alloc_class knows three classes");

/* ASan can only catch a use after free of a block it sees freed: no cache
 * there. */
static inline struct alloc_cache *alloc_cache_usable(struct alloc_cache *c)
{
	return LWP_ASAN ? NULL : c;
}

/* The general allocator, for what the cache cannot serve; NULL also for
 * a block whose address uses ALLOC_ADDR_SPARE (never seen: user-space
 * addresses have 47 or 48 bits unless asked for more by hint, and arm64's
 * top-byte tags lie above). */
must_check void *alloc_bytes_slow(size_t size);
void alloc_free_slow(void *p, size_t size);

/* NULL when out of memory.  cache may be NULL (a foreign thread).  The
 * cached case inline: it is most of every message's life. */
static inline must_check void *alloc_bytes(struct alloc_cache *c, size_t size)
{
	unsigned k = alloc_class(size);

	c = alloc_cache_usable(c);
	if (likely(c && k < ALLOC_CLASSES && c->free[k])) {
		void *p = c->free[k];
		c->free[k] = *(void **)p;
		c->count[k]--;
		return p;
	}
	return alloc_bytes_slow(size);
}

static inline void alloc_free(struct alloc_cache *c, void *p, size_t size)
{
	unsigned k = alloc_class(size);

	c = alloc_cache_usable(c);
	if (likely(c && p && k < ALLOC_CLASSES &&
		   c->count[k] < ALLOC_CACHE_MAX)) {
		*(void **)p = c->free[k];
		c->free[k] = p;
		c->count[k]++;
		return;
	}
	alloc_free_slow(p, size);
}

/* Return every cached block to the general allocator. */
void alloc_cache_drain(struct alloc_cache *c);

/*
 * With jemalloc, each scheduler index has an arena of its own, created the
 * first time a scheduler with that index runs and kept for the life of the
 * process, so that a later run's scheduler finds the pages the last one's
 * freed.  alloc_thread_bind binds the calling scheduler thread to it:
 * everything the thread allocates (messages, and what processes running
 * there malloc) comes from it, and the thread, bound to its core, first
 * touches those pages, so on a NUMA machine they sit on its node.  The
 * binding is never undone: rebinding the thread of lwp_main to its old
 * arena made jemalloc give back every page of the scheduler's arena, and
 * each later run faulted its messages' memory in again (14,000 faults in a
 * run of the spawn benchmark).  Without jemalloc it does nothing.
 */
void alloc_thread_bind(unsigned index);

#endif /* LWP_ALLOC_H */
