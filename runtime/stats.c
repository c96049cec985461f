/*
 * stats.c - what the schedulers count, for lwp_scheduler_stats().
 *
 * Counters are written by their scheduler alone (relaxed stores) and read
 * here relaxed: each figure is exact for some recent moment, and figures
 * of different counters may be of slightly different moments.
 */
#include "lwp.h"
#include "runtime.h"
#include "sched.h"

int lwp_scheduler_stats(unsigned id, lwp_sched_stats *out)
{
	struct proc *self = sched_current();
	int err;

	if (!out)
		return LWP_EINVAL;
	err = rt_enter(self); /* the schedulers are freed at teardown */
	if (err)
		return err;
	if (id < rt.nscheds) {
		const struct sched *s = &rt.scheds[id];
		out->preemptions = load_relaxed(&s->preempt.done);
		out->preempt_deferred = load_relaxed(&s->preempt.deferred);
	} else {
		err = LWP_EINVAL;
	}
	rt_leave(self);
	return err;
}
