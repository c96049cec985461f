/*
 * alloc.c - see alloc.h.
 */
#include "alloc.h"

#include <pthread.h>
#include <stdlib.h>

#include "lwp.h"

#if LWP_USE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#define CLASS_MIN_SHIFT 6 /* 64 bytes */

static void *general_alloc(size_t size)
{
#if LWP_USE_JEMALLOC
	return mallocx(size, 0);
#else
	return malloc(size);
#endif
}

static void general_free(void *p, size_t size)
{
#if LWP_USE_JEMALLOC
	sdallocx(p, size, 0);
#else
	(void)size;
	free(p);
#endif
}

static size_t class_size(unsigned c)
{
	return (size_t)1 << (CLASS_MIN_SHIFT + c);
}

void *alloc_bytes_slow(size_t size)
{
	unsigned k = alloc_class(size);
	/* Allocated at the class size, so that any scheduler can cache it. */
	size_t n = k == ALLOC_CLASSES ? size : class_size(k);
	void *p = general_alloc(n);

	if (unlikely((uintptr_t)p & ALLOC_ADDR_SPARE)) {
		general_free(p, n);
		return NULL;
	}
	return p;
}

void alloc_free_slow(void *p, size_t size)
{
	unsigned k = alloc_class(size);

	if (p)
		general_free(p, k == ALLOC_CLASSES ? size : class_size(k));
}

void alloc_cache_drain(struct alloc_cache *c)
{
	for (unsigned k = 0; k < ALLOC_CLASSES; k++) {
		while (c->free[k]) {
			void *p = c->free[k];
			c->free[k] = *(void **)p;
			general_free(p, class_size(k));
		}
		c->count[k] = 0;
	}
}

#if LWP_USE_JEMALLOC
static struct {
	pthread_mutex_t lock;
	unsigned id[LWP_SCHEDULERS_MAX]; /* 0: not created (0 is jemalloc's) */
} arenas = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Scheduler index's arena, created on first use; 0 if none can be. */
static unsigned arena_of(unsigned index)
{
	unsigned a;
	size_t size = sizeof(a);

	pthread_mutex_lock(&arenas.lock);
	if (!arenas.id[index] &&
	    mallctl("arenas.create", &a, &size, NULL, 0) == 0)
		arenas.id[index] = a;
	a = arenas.id[index];
	pthread_mutex_unlock(&arenas.lock);
	return a;
}

void alloc_thread_bind(unsigned index)
{
	unsigned a = index < LWP_SCHEDULERS_MAX ? arena_of(index) : 0;

	if (a)
		mallctl("thread.arena", NULL, NULL, &a, sizeof(a));
}
#else
void alloc_thread_bind(unsigned index)
{
	(void)index;
}
#endif
