/*
 * stats.h - what the schedulers count and time, for lwp_scheduler_stats(),
 * LWP_SCHEDTRACE and long-schedule reports.
 *
 * Counters are written by their own scheduler alone (a relaxed load and
 * store, no read-modify-write) and read by anyone, relaxed: each figure is
 * exact for some recent moment.  Switches cost nothing to count: run_seq
 * (sched.h) counts them already.  Time is read from CLOCK_MONOTONIC only
 * where a scheduler changes state between running, spinning and sleeping,
 * and around the preemption handler's own work: never per switch, per
 * send or per runtime call.
 */
#ifndef LWP_STATS_H
#define LWP_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "lwp.h"

struct sched;
struct proc;

/* A scheduler's statistics, but for the hot counters kept with run_seq
 * in its owner's line (sched.h: sent, received). */
struct sched_stats {
	/* Owner only, relaxed. */
	_Atomic uint64_t steal_tries; /* victims with work tried */
	_Atomic uint64_t steals;      /* of those, successful */
	_Atomic uint64_t stolen;      /* processes they brought */
	_Atomic uint64_t parks;	      /* went to sleep */
	_Atomic uint64_t wakeups;     /* woken by another thread */
	_Atomic uint64_t resumed;     /* preempted with nothing else to run */
	/* Time, a seqlock: tseq is odd while the owner updates the rest.
	 * A period in progress (idle_since, park_since) is added by the
	 * reader. */
	_Atomic uint64_t tseq;
	_Atomic int64_t started, idle_ns, park_ns, signal_ns;
	_Atomic int64_t idle_since, park_since; /* 0: not in that state */
	/* The process the preemption signal found at no safe point last,
	 * for long-schedule reports: written by the handler (the owner),
	 * run last with release, read by the watchdog. */
	_Atomic uint64_t defer_run;
	_Atomic lwp_pid defer_pid;
	_Atomic uintptr_t defer_fn;
	/* The watchdog's. */
	_Atomic uint64_t long_schedules;
	uint64_t long_run;  /* run_seq last reported with its pid */
	uint64_t long_anon; /* run_seq last reported without */
};

/* Count one event in a counter only its owner writes. */
static inline void stats_count(_Atomic uint64_t *c)
{
	store_relaxed(c, load_relaxed(c) + 1);
}

/* Scheduler s's thread starts its loop. */
void stats_sched_start(struct sched *s);
/* s's loop goes idle (true) or back to work (false). */
void stats_idle(struct sched *s, bool idle);
/* s goes to sleep, and wakes (woken: by another thread). */
void stats_park(struct sched *s);
void stats_unpark(struct sched *s, bool woken);
/* The preemption handler, which began at `since`, ends its own work on s
 * (it returns, or switches the process out). */
void stats_signal(struct sched *s, int64_t since);
/* The handler found p at no safe point. */
void stats_deferred(struct sched *s, struct proc *p);
/* s tried to steal from `victim`, which had work, and got n processes. */
void stats_steal(struct sched *s, unsigned victim, unsigned n);

/* The watchdog: s's process has run since `since` (run_seq `run`, odd);
 * report it once if that is longer than the long-schedule threshold. */
void stats_check_long(struct sched *s, uint64_t run, int64_t since,
		      int64_t now);

/* For one run of the runtime: LWP_SCHEDTRACE's thread, LWP_LONG_SCHEDULE.
 * Never fails: a bad setting is reported on stderr and ignored. */
void stats_runtime_start(void);
void stats_runtime_stop(void);

#endif /* LWP_STATS_H */
