/*
 * lifecycle.c - starting and stopping the runtime.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "fault.h"
#include "info.h"
#include "lwp.h"
#include "proc.h"
#include "registry.h"
#include "runtime.h"
#include "sched.h"
#include "sendafter.h"
#include "stack.h"
#include "timer.h"
#include "trace.h"

struct runtime rt;

int rt_enter_foreign(void)
{
	/* seq_cst, pairing with teardown's store of the state and load of
	 * the count (Dekker): either we see it stopping, or it sees us. */
	atomic_fetch_add(&rt.foreign, 1);
	if (atomic_load(&rt.state) == RT_RUNNING)
		return 0;
	atomic_fetch_sub(&rt.foreign, 1);
	return LWP_ENOTRUNNING;
}

void rt_leave_foreign(void)
{
	atomic_fetch_sub(&rt.foreign, 1);
}

static void wait_foreign_calls(void)
{
	while (atomic_load(&rt.foreign))
		sched_yield();
}

/* What start() takes from the config, once checked. */
struct settings {
	size_t stack;
	uint32_t max;
	int64_t slice;
	int signo;
	int dump_signo;
	bool isolate;
};

/* lwp_config.isolate_faults, or LWP_ISOLATE_FAULTS=1; as with LWP_PIN, a
 * variable that is set must be 0 or 1. */
static int isolate_setting(const lwp_config *cfg, bool *isolate)
{
	int err = env_bool("LWP_ISOLATE_FAULTS", false, isolate);

	*isolate |= cfg && cfg->isolate_faults;
	return err;
}

static int check_config(const lwp_config *cfg, struct settings *set)
{
	int err = preempt_config(cfg, &set->slice, &set->signo);

	if (!err)
		err = isolate_setting(cfg, &set->isolate);
	if (!err)
		err = info_config(cfg, set->signo, &set->dump_signo);
	set->stack = LWP_STACK_DEFAULT;
	set->max = LWP_MAX_PROCS_DEFAULT;
	if (err || !cfg)
		return err;
	if (cfg->stack_size) {
		set->stack = stack_round(cfg->stack_size);
		if (!set->stack)
			return LWP_EINVAL;
	}
	if (cfg->max_procs) {
		if (cfg->max_procs > LWP_MAX_PROCS_MAX)
			return LWP_EINVAL;
		set->max = cfg->max_procs;
	}
	if (cfg->schedulers > LWP_SCHEDULERS_MAX ||
	    (cfg->pin != LWP_PIN_DEFAULT && cfg->pin != LWP_PIN_ON &&
	     cfg->pin != LWP_PIN_OFF))
		return LWP_EINVAL;
	return 0;
}

static int plan(const lwp_config *cfg)
{
	struct topo_request req = { 0 };

	if (cfg) {
		req.schedulers = cfg->schedulers;
		req.pin = cfg->pin;
		req.per_thread = cfg->per_thread;
	}
	return topo_plan(&rt.topo, &req);
}

static int sched_init(struct sched *s, unsigned id)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->id = id;
	s->place = &rt.topo.sched[id];
	s->budget = SCHED_BUDGET;
	s->poll_in = 1;
	s->idled = true; /* its first run may find the watchdog asleep */
	runq_init(&s->runq);
	atomic_init(&s->park, PARK_AWAKE);
	atomic_init(&s->remote.top, NULL);
	err = stack_cache_init(&s->stacks, s->place->node);
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

static void scheds_fini(unsigned n)
{
	while (n--)
		sched_fini(&rt.scheds[n]);
	free(rt.scheds);
	rt.scheds = NULL;
	rt.nscheds = 0;
}

static int scheds_init(void)
{
	unsigned n = rt.topo.n;
	int err = 0;

	rt.scheds = aligned_alloc(64, sizeof(struct sched) * n);
	if (!rt.scheds)
		return LWP_ENOMEM;
	for (rt.nscheds = 0; rt.nscheds < n; rt.nscheds++) {
		err = sched_init(&rt.scheds[rt.nscheds], rt.nscheds);
		if (err) {
			scheds_fini(rt.nscheds);
			return err;
		}
	}
	return 0;
}

static int start(const lwp_config *cfg, bool until_empty)
{
	struct settings set;
	int err = check_config(cfg, &set);

	if (err)
		return err;
	rt.stack_size = set.stack;
	rt.max_procs = set.max;
	rt.isolate_faults = set.isolate;
	rt.timeslice = set.slice == LWP_INFINITY ? TIMER_NEVER : set.slice;
	rt.until_empty = until_empty;
	stack_set_default(set.stack);
	atomic_store(&rt.stop, false);
	atomic_store(&rt.nidle, 0);
	atomic_store(&rt.nspinning, 0);
	atomic_store(&rt.nhungry, 0);
	err = plan(cfg);
	if (err)
		return err;
	err = procq_init(&rt.global);
	if (err)
		goto fail_topo;
	err = scheds_init();
	if (err)
		goto fail_global;
	proc_table_start();
	err = fault_start();
	if (err)
		goto fail_scheds;
	err = preempt_start(set.slice, set.signo);
	if (err)
		goto fail_fault;
	err = info_start(set.dump_signo);
	if (err)
		goto fail_preempt;
	topo_save_host(&rt.topo);
	stats_runtime_start();
	trace_runtime_start();
	return 0;

fail_preempt:
	preempt_stop();
fail_fault:
	fault_stop();
fail_scheds:
	proc_table_stop();
	scheds_fini(rt.nscheds);
fail_global:
	procq_destroy(&rt.global);
fail_topo:
	topo_free(&rt.topo);
	return err;
}

static void stop(void)
{
	stats_runtime_stop();
	trace_runtime_stop();
	topo_restore_host(&rt.topo);
	info_stop();
	preempt_stop();
	fault_stop();
	registry_clear();
	sendafter_stop();
	scheds_fini(rt.nscheds);
	proc_table_stop();
	procq_destroy(&rt.global);
	topo_free(&rt.topo);
}

/* Bind the calling thread to s's core and arena and run its loop. */
static int run_sched(struct sched *s)
{
	static _Atomic bool warned;
	if (topo_bind(&rt.topo, s->id) && !atomic_exchange(&warned, true))
		fprintf(stderr,
			"lwp: cannot bind scheduler %u to its core; "
			"running unpinned\n",
			s->id);
	alloc_thread_bind(s->id);
	return sched_run(s);
}

static void *sched_thread(void *arg)
{
	return (void *)(intptr_t)run_sched(arg);
}

/* Make every scheduler leave its loop, and join the threads of those from
 * `skip` to `launched`.  Returns the first error a scheduler thread
 * could not start with (LWP_ESYS, LWP_ENOMEM), or 0. */
static int end_threads(unsigned skip, unsigned launched)
{
	int err = 0;

	atomic_store(&rt.stop, true);
	sched_kick_all();
	for (unsigned i = skip; i < launched; i++) {
		void *rc = NULL;
		pthread_join(rt.scheds[i].thread, &rc);
		if (!err)
			err = (int)(intptr_t)rc;
	}
	return err;
}

/* Start threads for schedulers first.. on. */
static int launch(unsigned first)
{
	for (unsigned i = first; i < rt.nscheds; i++) {
		struct sched *s = &rt.scheds[i];
		if (pthread_create(&s->thread, NULL, sched_thread, s)) {
			(void)end_threads(first, i);
			return LWP_ESYS;
		}
	}
	return 0;
}

static void finish(void)
{
	atomic_store(&rt.state, RT_STOPPING);
	wait_foreign_calls();
	stop();
	atomic_store(&rt.state, RT_STOPPED);
}

int lwp_main(const lwp_config *cfg, void (*fn)(void *), void *arg)
{
	int expected = RT_STOPPED;
	int err;

	if (!fn)
		return LWP_EINVAL;
	if (!atomic_compare_exchange_strong(&rt.state, &expected, RT_STARTING))
		return LWP_ERUNNING;
	err = start(cfg, true);
	if (err) {
		atomic_store(&rt.state, RT_STOPPED);
		return err;
	}
	atomic_store_explicit(&rt.state, RT_RUNNING, memory_order_release);
	lwp_pid first = proc_spawn(fn, arg, rt.stack_size, -1, NULL);
	err = first < 0 ? (int)first : launch(1);
	if (!err) {
		/* The calling thread is scheduler 0. */
		err = run_sched(&rt.scheds[0]);
		int others = end_threads(1, rt.nscheds);
		if (!err)
			err = others;
	}
	finish();
	return err;
}

int lwp_start(const lwp_config *cfg)
{
	int expected = RT_STOPPED;
	int err;

	if (!atomic_compare_exchange_strong(&rt.state, &expected, RT_STARTING))
		return LWP_ERUNNING;
	err = start(cfg, false);
	if (!err) {
		atomic_store_explicit(&rt.state, RT_RUNNING,
				      memory_order_release);
		err = launch(0);
		if (!err)
			return 0;
		finish();
		return err;
	}
	atomic_store(&rt.state, RT_STOPPED);
	return err;
}

/* The host ends a runtime it started with lwp_start(). */
static int stop_embedded(void)
{
	int expected = RT_RUNNING;

	if (!atomic_compare_exchange_strong(&rt.state, &expected, RT_STOPPING))
		return LWP_ENOTRUNNING;
	int err = end_threads(0, rt.nscheds);
	finish();
	return err;
}

int lwp_stop(void)
{
	struct sched *s = sched_self();
	struct proc *self = sched_caller(s);
	int err = rt_enter(self);

	if (err)
		return err;
	if (!s && !rt.until_empty) {
		rt_leave(self); /* teardown waits for foreign calls */
		return stop_embedded();
	}
	atomic_store(&rt.stop, true);
	sched_kick_all();
	rt_leave(self);
	return 0;
}

unsigned lwp_scheduler_count(void)
{
	return rt_running() ? rt.nscheds : 0;
}

int lwp_scheduler_id(void)
{
	struct sched *s = sched_self();

	return s && s->current ? (int)s->id : LWP_ENOTPROC;
}

size_t lwp_process_count(void)
{
	struct proc *self = sched_current();
	size_t n;

	/* Bracketed: the count reads every scheduler's counters, which a
	 * concurrent teardown frees. */
	if (rt_enter(self))
		return 0;
	n = proc_live();
	rt_leave(self);
	return n;
}

int64_t lwp_now(void)
{
	return timer_now();
}
