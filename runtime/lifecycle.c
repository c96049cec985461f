/*
 * lifecycle.c - starting and stopping the runtime.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "lwp.h"
#include "proc.h"
#include "registry.h"
#include "runtime.h"
#include "sched.h"
#include "stack.h"
#include "timer.h"

struct runtime rt;

int rt_enter(struct sched *s)
{
	if (s)
		return 0;
	/* seq_cst, pairing with teardown's store of the state and load of
	 * the count (Dekker): either we see it stopping, or it sees us. */
	atomic_fetch_add(&rt.foreign, 1);
	if (atomic_load(&rt.state) == RT_RUNNING)
		return 0;
	atomic_fetch_sub(&rt.foreign, 1);
	return LWP_ENOTRUNNING;
}

void rt_leave(struct sched *s)
{
	if (!s)
		atomic_fetch_sub(&rt.foreign, 1);
}

static void wait_foreign_calls(void)
{
	while (atomic_load(&rt.foreign))
		sched_yield();
}

static int check_config(const lwp_config *cfg, size_t *stack, uint32_t *max)
{
	*stack = LWP_STACK_DEFAULT;
	*max = LWP_MAX_PROCS_DEFAULT;
	if (!cfg)
		return 0;
	if (cfg->stack_size) {
		*stack = stack_round(cfg->stack_size);
		if (!*stack)
			return LWP_EINVAL;
	}
	if (cfg->max_procs) {
		if (cfg->max_procs > LWP_MAX_PROCS_MAX)
			return LWP_EINVAL;
		*max = cfg->max_procs;
	}
	return 0;
}

static int sched_init(struct sched *s, unsigned id)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->id = id;
	s->budget = SCHED_BUDGET;
	runq_init(&s->runq);
	err = stack_cache_init(&s->stacks);
	if (err)
		return err;
	err = timer_heap_init(&s->timers);
	if (err)
		stack_cache_drain(&s->stacks);
	return err;
}

static void sched_fini(struct sched *s)
{
	timer_heap_destroy(&s->timers);
	stack_cache_drain(&s->stacks);
	alloc_cache_drain(&s->msgs);
	s->slots.count = 0; /* proc_table_stop frees every slot */
}

static int start(const lwp_config *cfg)
{
	size_t stack;
	uint32_t max;
	int err = check_config(cfg, &stack, &max);

	if (err)
		return err;
	rt.stack_size = stack;
	rt.max_procs = max;
	stack_set_default(stack);
	atomic_store(&rt.stop, false);
	rt.nscheds = 1;
	rt.scheds = aligned_alloc(64, sizeof(struct sched) * rt.nscheds);
	if (!rt.scheds)
		return LWP_ENOMEM;
	err = procq_init(&rt.global);
	if (err)
		goto fail_scheds;
	err = sched_init(&rt.scheds[0], 0);
	if (err)
		goto fail_global;
	proc_table_start();
	err = fault_start();
	if (err)
		goto fail_sched;
	return 0;

fail_sched:
	sched_fini(&rt.scheds[0]);
fail_global:
	procq_destroy(&rt.global);
fail_scheds:
	free(rt.scheds);
	rt.scheds = NULL;
	return err;
}

static void stop(void)
{
	fault_stop();
	registry_clear();
	for (unsigned i = 0; i < rt.nscheds; i++)
		sched_fini(&rt.scheds[i]);
	proc_table_stop();
	procq_destroy(&rt.global);
	free(rt.scheds);
	rt.scheds = NULL;
	rt.nscheds = 0;
}

int lwp_main(const lwp_config *cfg, void (*fn)(void *), void *arg)
{
	int expected = RT_STOPPED;
	int err;

	if (!fn)
		return LWP_EINVAL;
	if (!atomic_compare_exchange_strong(&rt.state, &expected, RT_STARTING))
		return LWP_ERUNNING;
	err = start(cfg);
	if (err)
		goto out;
	atomic_store_explicit(&rt.state, RT_RUNNING, memory_order_release);
	lwp_pid first = proc_spawn(fn, arg, rt.stack_size);
	err = first < 0 ? (int)first : sched_run();
	atomic_store(&rt.state, RT_STOPPING);
	wait_foreign_calls();
	stop();
out:
	atomic_store(&rt.state, RT_STOPPED);
	return err;
}

int lwp_stop(void)
{
	struct sched *s = sched_self();
	int err = rt_enter(s);

	if (err)
		return err;
	atomic_store(&rt.stop, true);
	sched_kick_all();
	rt_leave(s);
	return 0;
}

size_t lwp_process_count(void)
{
	return rt_running() ? proc_live() : 0;
}

int64_t lwp_now(void)
{
	return timer_now();
}
