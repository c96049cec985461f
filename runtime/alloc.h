/*
 * alloc.h - the runtime's allocator: jemalloc (with its thread caches) or the
 * system malloc, chosen at build time (-Dallocator=).
 *
 * Sized frees let jemalloc skip its size lookup on the message hot path.
 */
#ifndef LWP_ALLOC_H
#define LWP_ALLOC_H

#include <stddef.h>

#include "compiler.h"

/* NULL when out of memory. */
must_check void *alloc_bytes(size_t size);
void alloc_free(void *p, size_t size);

#endif /* LWP_ALLOC_H */
