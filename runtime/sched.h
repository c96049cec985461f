/*
 * sched.h - schedulers: the loop that runs processes, switching, blocking
 * and waking.
 *
 * A process gives up its scheduler by switching directly to the next
 * runnable process (or to the scheduler's own context when there is none).
 * What must happen to the process that switched out - requeue it, block it,
 * free it - is done by the context switched to (sched_finish_switch), once
 * the old stack is no longer in use: only then may another thread see the
 * process as runnable.
 */
#ifndef LWP_SCHED_H
#define LWP_SCHED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "alloc.h"
#include "arch.h"
#include "compiler.h"
#include "preempt.h"
#include "proc.h"
#include "runq.h"
#include "stack.h"
#include "stats.h"
#include "timer.h"
#include "topo.h"

/* Runtime calls a process may make before it yields (Erlang's reductions). */
#define SCHED_BUDGET 2000

/* sched.park: where a scheduler is in its idle loop (a futex word). */
enum {
	PARK_AWAKE,    /* running, spinning, or about to look for work */
	PARK_SLEEPING, /* announced it sleeps, and sleeps or is about to */
	PARK_WOKEN,    /* woken to look for stealable work, as a spinner */
};

struct trace_ring;

struct cacheline_aligned sched {
	arch_ctx ctx;	      /* the scheduler loop, on the thread's stack */
	struct proc *current; /* NULL while in the loop */
	/* Woken by the running process: runs next.  Private to the owner
	 * (thieves take only from runq); a runnext stranded behind a long
	 * computation is freed by preemption. */
	struct proc *runnext;
	int *errno_loc; /* this thread's errno, found once */
	int budget;
	unsigned poll_in; /* picks until the next poll (sched.c) */
	bool timers_due;  /* the poll asks the next context to fire timers */
	bool idled;	  /* went idle since it last ran a process */
	unsigned id;
	uint64_t rand; /* xorshift state: steal victims */
	struct trace_ring *_Atomic trace_ring; /* while a trace is on (trace.c) */
	int64_t stolen_at;     /* when the work now running was stolen, or 0 */
	int64_t steal_backoff; /* ns to wait before stealing (sched.c) */
	int64_t preempted_at;  /* when the signal last switched one out */
	const struct topo_sched *place; /* steal order, NUMA node */
	struct stack_cache stacks;
	struct alloc_cache msgs;
	struct slot_cache slots;
	struct timer_heap timers;
	pthread_t thread;
	_Atomic pid_t tid;   /* for the watchdog's tgkill; 0 until started */
	clockid_t cpu_clock; /* the thread's CPU time, for the watchdog */
	struct runq runq;
	/* Written by the owner, read by others: at each spawn and exit; at
	 * each change of the running process (run_seq: a switch count,
	 * odd while a process runs, read by the watchdog); at each
	 * preemption. */
	cacheline_aligned struct proc_count count;
	_Atomic uint64_t run_seq;
	struct preempt_stats preempt;
	_Atomic uint64_t sent, received; /* messages (stats.h) */
	/* Written by other threads. */
	cacheline_aligned _Atomic int park;
	/* A preemption signal is on its way for this run_seq (odd); 0: none. */
	_Atomic uint64_t preempt_for;
	struct runq_remote remote; /* pinned processes woken elsewhere */
	cacheline_aligned struct sched_stats stats;
#if LWP_TSAN
	void *tsan_fiber;
#endif
#if LWP_ASAN
	const void *asan_bottom; /* the thread stack, for switch annotations */
	size_t asan_size;
#endif
};

/* The calling thread's scheduler, NULL on other threads.  Never cached
 * across a switch: the process may resume on another thread. */
struct sched *sched_self(void);

/* The process running on the calling thread, or NULL. */
struct proc *sched_current(void);

/* The process making a runtime call on s's thread: NULL on a foreign
 * thread (s NULL). */
static inline struct proc *sched_caller(struct sched *s)
{
	return s ? s->current : NULL;
}

/* Run scheduler s's loop on the calling thread until the runtime stops. */
must_check int sched_run(struct sched *s);
/* Wake every parked scheduler (stop, last process gone). */
void sched_kick_all(void);
/* Another thread armed a timer in s's heap, due before the others there:
 * wake s if it sleeps, maybe until a later deadline. */
void sched_timer_armed(struct sched *s);

/*
 * Make p runnable; s is the caller's scheduler (sched_self(), NULL on a
 * foreign thread).  A process woken by a message runs next on s (unless it
 * is pinned elsewhere: then on its home); a new or timed-out one joins the
 * back of s's queue, where idle schedulers may steal it.
 */
void sched_ready_next(struct sched *s, struct proc *p);
void sched_ready(struct sched *s, struct proc *p);
/* A new process: it runs before older ones (runq.h, the spawn deque), and
 * the oldest new ones are offered to schedulers looking for work. */
void sched_ready_new(struct sched *s, struct proc *p);

/*
 * Block p (the caller, running on *s) until a message arrives, the
 * deadline passes (TIMER_NEVER: none), or a spurious wakeup: callers
 * re-check.  *s becomes the scheduler p resumes on.
 */
must_check int sched_block(struct sched **s, struct proc *p, int64_t deadline);
/* The timer callback of every process's waits; set once, at spawn, so
 * that no scheduler firing a stale timer reads it while it is written. */
void sched_wait_expired(struct timer *t);

/* Switch p out for good (exit). */
_Noreturn void sched_exit(struct proc *p);

struct sched *sched_budget_spent(struct sched *s, struct proc *p);

/* p, running on s, was interrupted at a safe point by the preemption
 * signal: fire due timers and run what waits, if anything does.  Returns
 * when p runs again, on s: false at once if nothing else could run. */
bool sched_preempt(struct sched *s, struct proc *p);

/* p, at a safe point in a runtime call, gives way to other work. */
void sched_yield_now(struct sched *s, struct proc *p);

/* Charge a runtime call to p, running on s; yields when its budget is
 * spent, so a process that only sends or spawns cannot hog a scheduler.
 * Returns the scheduler p runs on after: the yield may have moved it (and
 * a pending exit signal may end p there instead). */
static inline struct sched *sched_charge(struct sched *s, struct proc *p)
{
	if (unlikely(--s->budget <= 0))
		return sched_budget_spent(s, p);
	return s;
}

/* First code run on a new process's stack. */
void sched_enter(void *prev);

/* Prepare p's context to start in fn on its stack. */
void sched_make(struct proc *p);

/* Sanitizer bookkeeping of a process that starts / ends. */
void sched_fiber_create(struct proc *p);
void sched_fiber_destroy(struct proc *p);

#endif /* LWP_SCHED_H */
