/*
 * runtime.h - the state of one run of the runtime (lwp_main to its return).
 */
#ifndef LWP_RUNTIME_H
#define LWP_RUNTIME_H

#include <stdbool.h>

#include "compiler.h"
#include "runq.h"

struct sched;

enum rt_state { RT_STOPPED, RT_STARTING, RT_RUNNING, RT_STOPPING };

struct runtime {
	_Atomic int state;       /* enum rt_state */
	_Atomic bool stop;       /* lwp_stop() asked */
	unsigned nscheds;
	struct sched *scheds;
	struct procq global;     /* overflow and foreign wakeups */
	size_t stack_size;       /* default stack */
	uint32_t max_procs;
};

extern struct runtime rt;

static inline bool rt_running(void)
{
	return atomic_load_explicit(&rt.state, memory_order_acquire) ==
	       RT_RUNNING;
}

#endif /* LWP_RUNTIME_H */
