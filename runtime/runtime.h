/*
 * runtime.h - the state of one run of the runtime (lwp_main to its return).
 */
#ifndef LWP_RUNTIME_H
#define LWP_RUNTIME_H

#include <stdbool.h>

#include "compiler.h"
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
	uint32_t max_procs;
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

extern struct runtime rt;

static inline bool rt_running(void)
{
	return atomic_load_explicit(&rt.state, memory_order_acquire) ==
	       RT_RUNNING;
}

/*
 * Bracket a call that may come from a thread that is not a scheduler
 * (s == NULL): teardown waits until no such call is in flight, so a foreign
 * lwp_send/lwp_spawn/lwp_stop/registry call never touches freed state.
 * rt_enter fails (LWP_ENOTRUNNING) when the runtime is not running.
 * Scheduler threads pass straight through: teardown runs on one of them
 * only after every process has switched out.
 */
must_check int rt_enter_foreign(void);
void rt_leave_foreign(void);

static inline must_check int rt_enter(struct sched *s)
{
	return s ? 0 : rt_enter_foreign();
}

static inline void rt_leave(struct sched *s)
{
	if (!s)
		rt_leave_foreign();
}

#endif /* LWP_RUNTIME_H */
