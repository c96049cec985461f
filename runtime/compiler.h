/*
 * compiler.h - attributes and small helpers shared by every runtime file.
 */
#ifndef LWP_COMPILER_H
#define LWP_COMPILER_H

#include <stdatomic.h>
#include <stddef.h>

#include "lwp_config.h"

#define must_check	  __attribute__((warn_unused_result))
#define likely(x)	  __builtin_expect(!!(x), 1)
#define unlikely(x)	  __builtin_expect(!!(x), 0)
#define noinline	  __attribute__((noinline))
#define always_inline	  inline __attribute__((always_inline))
#define cacheline_aligned __attribute__((aligned(64)))
/* On a variable the library shares between its files: -fvisibility=hidden
 * applies to definitions, not to extern declarations, so without it every
 * load goes through the GOT (an lea, then the load, in the hot paths). */
#define lib_private __attribute__((visibility("hidden")))

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Relaxed atomics for counters that only need to be untorn. */
#define load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define store_relaxed(p, v) \
	atomic_store_explicit((p), (v), memory_order_relaxed)

static inline void cpu_relax(void)
{
#if defined(__x86_64__)
	__asm__ volatile("pause" ::: "memory");
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

#endif /* LWP_COMPILER_H */
