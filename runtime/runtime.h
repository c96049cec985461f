/*
 * runtime.h - the state of one run of the runtime (lwp_main to its return).
 */
#ifndef LWP_RUNTIME_H
#define LWP_RUNTIME_H

#include <stdbool.h>

#include "compiler.h"
#include "preempt.h"
#include "runq.h"
#include "topo.h"

struct sched;

enum rt_state {
	RT_STOPPED,
	RT_STARTING,
	RT_RUNNING,
	RT_STOPPING
};

struct runtime {
	_Atomic int state; /* enum rt_state */
	_Atomic bool stop; /* lwp_stop() asked, or lwp_main's work is done */
	bool until_empty;  /* lwp_main: stop when no process is left */
	unsigned nscheds;
	struct sched *scheds;
	struct topo topo;    /* placement of the schedulers */
	struct procq global; /* overflow and foreign wakeups */
	size_t stack_size;   /* default stack */
	int64_t timeslice;   /* ns a process runs before preemption */
	uint32_t max_procs;
	bool isolate_faults; /* lwp_config.isolate_faults */
	/* Calls from non-scheduler threads in flight: a line of its own, as
	 * foreign senders write it on every call and every pick reads stop. */
	cacheline_aligned _Atomic long foreign;
	/* Idle schedulers (sched.c): looking for work or asleep; of those,
	 * looking; and of those, ready to steal (offers are made to them; a
	 * relaxed hint, see offer_work).  Written only when schedulers go
	 * idle, wake, or start to steal. */
	cacheline_aligned _Atomic int nidle;
	_Atomic int nspinning;
	_Atomic int nhungry;
};

extern lib_private struct runtime rt;

static inline bool rt_running(void)
{
	return atomic_load_explicit(&rt.state, memory_order_acquire) ==
	       RT_RUNNING;
}

/*
 * Bracket a runtime call.  self is the calling process (sched_caller), or
 * NULL on a thread that is not a scheduler.  A process is not preemptible
 * inside (preempt.h).  A foreign call is counted: teardown waits until
 * none is in flight, so a foreign lwp_send/lwp_spawn/lwp_stop/registry
 * call never touches freed state, and rt_enter fails (LWP_ENOTRUNNING)
 * when the runtime is not running.  Processes need no count: teardown
 * runs only after every process has switched out.
 */
must_check int rt_enter_foreign(void);
void rt_leave_foreign(void);

static inline must_check int rt_enter(struct proc *self)
{
	if (!self)
		return rt_enter_foreign();
	preempt_disable(self);
	return 0;
}

static inline void rt_leave(struct proc *self)
{
	if (self)
		preempt_enable(self);
	else
		rt_leave_foreign();
}

#endif /* LWP_RUNTIME_H */
