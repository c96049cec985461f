/*
 * stats.c - see stats.h: lwp_scheduler_stats(), LWP_SCHEDTRACE and
 * long-schedule reports.
 *
 * The times are a seqlock written by the owner alone, at its changes of
 * state (never from the preemption handler, which keeps its own counter,
 * so that no update can nest in another on the same thread):
 *
 *   owner:  tseq = odd (relaxed);  release fence;  the times (relaxed);
 *           tseq = even (release)
 *   reader: s1 = tseq (acquire), again while odd;  the times (relaxed);
 *           acquire fence;  retry unless tseq == s1
 *
 * A reader that saw any time written after the owner's odd store saw it
 * after the release fence, so (acquire fence) its second read of tseq
 * sees that odd value or a later one, and it retries: the times it keeps
 * are all of one moment between two updates.
 */
#include "stats.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "registry.h"
#include "runtime.h"
#include "sched.h"
#include "symbol.h"
#include "trace.h"

/* ---- the owner's side ---------------------------------------------------- */

static void times_begin(struct sched_stats *st)
{
	store_relaxed(&st->tseq, load_relaxed(&st->tseq) + 1);
	atomic_thread_fence(memory_order_release);
}

static void times_end(struct sched_stats *st)
{
	atomic_store_explicit(&st->tseq, load_relaxed(&st->tseq) + 1,
			      memory_order_release);
}

/* Close the period that began at *since, into *total. */
static void period_end(_Atomic int64_t *total, _Atomic int64_t *since,
		       int64_t now)
{
	int64_t t0 = load_relaxed(since);

	if (t0)
		store_relaxed(total, load_relaxed(total) + (now - t0));
	store_relaxed(since, 0);
}

void stats_sched_start(struct sched *s)
{
	times_begin(&s->stats);
	store_relaxed(&s->stats.started, timer_now());
	times_end(&s->stats);
}

void stats_idle(struct sched *s, bool idle)
{
	struct sched_stats *st = &s->stats;
	int64_t now = timer_now();

	times_begin(st);
	if (idle)
		store_relaxed(&st->idle_since, now);
	else
		period_end(&st->idle_ns, &st->idle_since, now);
	times_end(st);
	TRACE(idle, s, idle);
}

void stats_park(struct sched *s)
{
	struct sched_stats *st = &s->stats;

	stats_count(&st->parks);
	times_begin(st);
	store_relaxed(&st->park_since, timer_now());
	times_end(st);
	TRACE(park, s);
}

void stats_unpark(struct sched *s, bool woken)
{
	struct sched_stats *st = &s->stats;

	if (woken)
		stats_count(&st->wakeups);
	times_begin(st);
	period_end(&st->park_ns, &st->park_since, timer_now());
	times_end(st);
	TRACE(unpark, s, woken);
}

void stats_signal(struct sched *s, int64_t since)
{
	_Atomic int64_t *c = &s->stats.signal_ns;

	/* A nested handler's time is counted twice: rare and small. */
	store_relaxed(c, load_relaxed(c) + (timer_now() - since));
}

void stats_deferred(struct sched *s, struct proc *p)
{
	struct sched_stats *st = &s->stats;

	store_relaxed(&st->defer_pid, pid_of(p));
	store_relaxed(&st->defer_fn, (uintptr_t)p->fn);
	/* Release: the pid and function of this run, for the watchdog. */
	atomic_store_explicit(&st->defer_run, load_relaxed(&s->run_seq),
			      memory_order_release);
	TRACE(deferred, s, p);
}

void stats_steal(struct sched *s, unsigned victim, unsigned n)
{
	struct sched_stats *st = &s->stats;

	stats_count(&st->steal_tries);
	if (!n)
		return;
	stats_count(&st->steals);
	store_relaxed(&st->stolen, load_relaxed(&st->stolen) + n);
	TRACE(steal, s, victim, n);
}

/* ---- reading ------------------------------------------------------------- */

/* Scheduler s's figures now.  Any thread, while s exists. */
static void snapshot(const struct sched *s, lwp_sched_stats *o)
{
	const struct sched_stats *st = &s->stats;
	int64_t started, idle, park, idle_since, park_since, now;
	uint64_t seq;

	do {
		while ((seq = atomic_load_explicit(&st->tseq,
						   memory_order_acquire)) &
		       1)
			cpu_relax();
		started = load_relaxed(&st->started);
		idle = load_relaxed(&st->idle_ns);
		park = load_relaxed(&st->park_ns);
		idle_since = load_relaxed(&st->idle_since);
		park_since = load_relaxed(&st->park_since);
		atomic_thread_fence(memory_order_acquire);
	} while (load_relaxed(&st->tseq) != seq);
	now = timer_now();
	if (idle_since)
		idle += now - idle_since;
	if (park_since)
		park += now - park_since;
	*o = (lwp_sched_stats){
		.preemptions = load_relaxed(&s->preempt.done),
		.preempt_deferred = load_relaxed(&s->preempt.deferred),
		.switches = (load_relaxed(&s->run_seq) >> 1) -
			    load_relaxed(&st->resumed),
		.steal_attempts = load_relaxed(&st->steal_tries),
		.steals = load_relaxed(&st->steals),
		.stolen = load_relaxed(&st->stolen),
		.parks = load_relaxed(&st->parks),
		.wakeups = load_relaxed(&st->wakeups),
		.sent = load_relaxed(&s->sent),
		.received = load_relaxed(&s->received),
		.spawned = load_relaxed(&s->count.spawned),
		.exited = load_relaxed(&s->count.exited),
		.long_schedules = load_relaxed(&st->long_schedules),
		.runq = (size_t)(uint32_t)(load_relaxed(&s->runq.tail) -
					   load_relaxed(&s->runq.head)),
		.uptime_ns = started ? now - started : 0,
		.busy_ns = started ? now - started - idle : 0,
		.spin_ns = idle - park,
		.park_ns = park,
		.signal_ns = load_relaxed(&st->signal_ns),
	};
}

int lwp_scheduler_stats(unsigned id, lwp_sched_stats *out)
{
	struct proc *self = sched_current();
	int err;

	if (!out)
		return LWP_EINVAL;
	err = rt_enter(self); /* the schedulers are freed at teardown */
	if (err)
		return err;
	if (id < rt.nscheds)
		snapshot(&rt.scheds[id], out);
	else
		err = LWP_EINVAL;
	rt_leave(self);
	return err;
}

/* ---- long schedules ------------------------------------------------------- */

/* Kept across runs, as lwp_set_report_fn's function is. */
static struct {
	pthread_mutex_t lock; /* fn and ctx */
	_Atomic int64_t threshold;
	lwp_long_schedule_fn fn;
	void *ctx;
	bool by_api; /* set by the API: the environment does not override */
} ls = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void report_default(lwp_pid pid, const char *name, unsigned sched,
			   int64_t ran_ns, void *ctx)
{
	(void)ctx;
	if (pid)
		fprintf(stderr,
			"lwp: long schedule: %s%s%s%s has run %.3f ms on "
			"scheduler %u without giving way\n",
			lwp_pid_str(pid).s, name ? " (" : "", name ? name : "",
			name ? ")" : "", ran_ns / 1e6, sched);
	else
		fprintf(stderr,
			"lwp: long schedule: the process on scheduler %u has "
			"run %.3f ms, blocked in a system call\n",
			sched, ran_ns / 1e6);
}

int lwp_set_long_schedule(int64_t threshold_ns, lwp_long_schedule_fn fn,
			  void *ctx)
{
	if (threshold_ns < 0)
		return LWP_EINVAL;
	pthread_mutex_lock(&ls.lock);
	ls.fn = fn;
	ls.ctx = ctx;
	ls.by_api = true;
	atomic_store(&ls.threshold, threshold_ns);
	pthread_mutex_unlock(&ls.lock);
	return 0;
}

/* pid's registered name, else its function's, into buf. */
static const char *name_of(lwp_pid pid, uintptr_t fn, char *buf)
{
	struct proc *p;

	if ((proc_lookup(pid, &p) == 0 && registry_name_of(p, buf)) ||
	    symbol_name(fn, buf, LWP_NAME_MAX + 1))
		return buf;
	return NULL;
}

/*
 * The watchdog looks at s every tick while it runs a process, and signals
 * it once the process has run a timeslice.  A process that is not
 * preempted then was at no safe point, and the handler said which it was
 * (stats_deferred); a thread blocked in a system call is not signalled,
 * and after a few timeslices more the report says so, without a pid.  A
 * loaded machine may delay the signal past that (or make the thread look
 * blocked): a run reported without its pid is reported again once the
 * signal names it.
 */
#define LONG_UNKNOWN_SLICES 10

void stats_check_long(struct sched *s, uint64_t run, int64_t since, int64_t now)
{
	struct sched_stats *st = &s->stats;
	int64_t limit = load_relaxed(&ls.threshold);
	char buf[LWP_NAME_MAX + 1];
	lwp_long_schedule_fn fn;
	lwp_pid pid = 0;
	uintptr_t code = 0;
	void *ctx;

	if (!limit || now - since < limit || st->long_run == run)
		return;
	if (atomic_load_explicit(&st->defer_run, memory_order_acquire) == run) {
		pid = load_relaxed(&st->defer_pid);
		code = load_relaxed(&st->defer_fn);
		st->long_run = run;
	} else if (st->long_anon != run &&
		   now - since >= limit + LONG_UNKNOWN_SLICES * rt.timeslice) {
		st->long_anon = run;
	} else {
		return; /* the signal will say who it is */
	}
	if (st->long_anon != run || !pid) /* a run counts once */
		stats_count(&st->long_schedules);
	TRACE(long_schedule, pid, now - since);
	pthread_mutex_lock(&ls.lock);
	fn = ls.fn ? ls.fn : report_default;
	ctx = ls.ctx;
	pthread_mutex_unlock(&ls.lock);
	fn(pid, pid ? name_of(pid, code, buf) : NULL, s->id, now - since, ctx);
}

/* ---- LWP_SCHEDTRACE ------------------------------------------------------- */

static struct {
	pthread_t thread;
	bool running;
	bool quit; /* under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int64_t every; /* ns */
	lwp_sched_stats *last;
} tracer = { .lock = PTHREAD_MUTEX_INITIALIZER };

static double pct(int64_t part, int64_t whole)
{
	return whole > 0 ? 100.0 * (double)part / (double)whole : 0.0;
}

/* One line for scheduler i: its share of the interval in each state,
 * and what it counted during it. */
static void schedtrace_line(unsigned i, int64_t at_ms)
{
	lwp_sched_stats now, *was = &tracer.last[i];
	int64_t span;

	snapshot(&rt.scheds[i], &now);
	span = now.uptime_ns - was->uptime_ns;
	fprintf(stderr,
		"SCHED %" PRId64 "ms s%u: busy=%.1f%% spin=%.1f%% "
		"park=%.1f%% sig=%.1f%% runq=%zu switches=%" PRIu64
		" steals=%" PRIu64 "/%" PRIu64 " preempt=%" PRIu64
		" deferred=%" PRIu64 " parks=%" PRIu64 " sent=%" PRIu64
		" recv=%" PRIu64 " spawned=%" PRIu64 " exited=%" PRIu64 "\n",
		at_ms, i, pct(now.busy_ns - was->busy_ns, span),
		pct(now.spin_ns - was->spin_ns, span),
		pct(now.park_ns - was->park_ns, span),
		pct(now.signal_ns - was->signal_ns, span), now.runq,
		now.switches - was->switches, now.steals - was->steals,
		now.steal_attempts - was->steal_attempts,
		now.preemptions - was->preemptions,
		now.preempt_deferred - was->preempt_deferred,
		now.parks - was->parks, now.sent - was->sent,
		now.received - was->received, now.spawned - was->spawned,
		now.exited - was->exited);
	*was = now;
}

static void *schedtrace(void *arg)
{
	int64_t t0 = timer_now(), next = t0;
	struct timespec ts;

	(void)arg;
	pthread_setname_np(pthread_self(), "lwp-schedtrace");
	pthread_mutex_lock(&tracer.lock);
	for (;;) {
		next += tracer.every;
		ts.tv_sec = next / 1000000000;
		ts.tv_nsec = next % 1000000000;
		while (!tracer.quit && timer_now() < next)
			pthread_cond_timedwait(&tracer.cond, &tracer.lock, &ts);
		if (tracer.quit)
			break;
		for (unsigned i = 0; i < rt.nscheds; i++)
			schedtrace_line(i, (timer_now() - t0) / 1000000);
	}
	pthread_mutex_unlock(&tracer.lock);
	return NULL;
}

/* A number of ms from the environment: 0 if unset, -1 (said on stderr)
 * if malformed. */
static long env_ms(const char *name)
{
	long n = env_positive(name);

	if (n < 0)
		fprintf(stderr, "lwp: %s=%s: not a number of ms; ignored\n",
			name, getenv(name));
	return n;
}

static void schedtrace_start(int64_t every)
{
	pthread_condattr_t a;

	tracer.last = calloc(rt.nscheds, sizeof(*tracer.last));
	if (!tracer.last)
		return;
	tracer.every = every;
	tracer.quit = false;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&tracer.cond, &a);
	pthread_condattr_destroy(&a);
	tracer.running =
		!pthread_create(&tracer.thread, NULL, schedtrace, NULL);
	if (!tracer.running) {
		pthread_cond_destroy(&tracer.cond);
		free(tracer.last);
		fprintf(stderr, "lwp: LWP_SCHEDTRACE: no thread; ignored\n");
	}
}

void stats_runtime_start(void)
{
	long every = env_ms("LWP_SCHEDTRACE");
	long limit = env_ms("LWP_LONG_SCHEDULE");

	if (limit > 0 && !ls.by_api)
		atomic_store(&ls.threshold, (int64_t)limit * 1000000);
	if (every > 0)
		schedtrace_start((int64_t)every * 1000000);
}

void stats_runtime_stop(void)
{
	if (!tracer.running)
		return;
	pthread_mutex_lock(&tracer.lock);
	tracer.quit = true;
	pthread_cond_signal(&tracer.cond);
	pthread_mutex_unlock(&tracer.lock);
	pthread_join(tracer.thread, NULL);
	pthread_cond_destroy(&tracer.cond);
	free(tracer.last);
	tracer.last = NULL;
	tracer.running = false;
}
