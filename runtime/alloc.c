/*
 * alloc.c - see alloc.h.
 */
#include "alloc.h"

#include <stdlib.h>

#if LWP_USE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

void *alloc_bytes(size_t size)
{
#if LWP_USE_JEMALLOC
	return mallocx(size, 0);
#else
	return malloc(size);
#endif
}

void alloc_free(void *p, size_t size)
{
#if LWP_USE_JEMALLOC
	if (p)
		sdallocx(p, size, 0);
#else
	(void)size;
	free(p);
#endif
}
