/*
 * trace.h - event tracing and USDT probes at the scheduler's event points.
 *
 * Each event point is TRACE(event, ...): one test of a global byte and,
 * only when someone listens, a call into trace.c, which fires the event's
 * USDT probe (provider "lwp": a nop and a note the tracer finds, see
 * docs/profiling.md) if a tracer is attached to it, and appends an event
 * to the calling scheduler's ring (or, on a thread that is not a
 * scheduler, to the foreign ring, under a lock) if a trace is on, never
 * allocating.  trace.c turns the rings into a Chrome/Perfetto JSON trace
 * when tracing stops, on demand, on a signal, or on a crash.
 */
#ifndef LWP_TRACE_H
#define LWP_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "proc.h"
#include "sched.h"

/*
 * An event point's one test: is anyone listening, a trace or a tracer on
 * any probe?  trace_wanted is one byte, written only when the answer
 * changes, so that every core keeps its line shared and an event point
 * costs a load, a test and a branch that is never taken.  The event's
 * work, and the loads of its arguments, are in a function of trace.c
 * past the branch, so that an event point without listeners leaves the
 * hot path as it was.  A trace starting or stopping sets trace_wanted at
 * once; a tracer attaching raises a probe's semaphore, which the runtime
 * is not told of, so the schedulers look at the semaphores in their
 * periodic poll (trace_refresh): probes fire from a few dozen switches
 * after perf or bpftrace attaches.  Built with -Dtrace=disabled, the test
 * is the constant false and the event points vanish.
 */
#if LWP_TRACE
extern lib_private _Atomic bool trace_wanted;
#define TRACING() unlikely(load_relaxed(&trace_wanted))
/* Recompute trace_wanted from the trace flag and the semaphores. */
void trace_refresh(void);
#else
#define TRACING() false
static inline void trace_refresh(void)
{
}
#endif

/* An event point: TRACE(send, s, to, tag, woke) calls trace_send(s, to,
 * tag, woke) when someone listens. */
#define TRACE(event, ...)                           \
	do {                                        \
		if (TRACING())                      \
			trace_##event(__VA_ARGS__); \
	} while (0)

/*
 * The events.  Each fires its USDT probe (provider "lwp": the same name,
 * but deferred's is preempt_deferred and idle has none) if a tracer is
 * attached to it, and appends a record to the calling scheduler's ring if
 * a trace is on (long_schedule is a probe only).  s is the caller's
 * scheduler, NULL on a thread that is not one.  Call them through
 * TRACE().
 */
/* s switches from `out` to `in` (either NULL: the scheduler's loop). */
noinline void trace_switch(struct sched *s, const struct proc *out,
			   const struct proc *in, enum proc_after why);
noinline void trace_spawn(struct sched *s, lwp_pid pid, void (*fn)(void *));
noinline void trace_exit(struct sched *s, lwp_pid pid, int code);
/* A message (or signal) to `to` was queued; `woke`: it woke the receiver. */
noinline void trace_send(struct sched *s, lwp_pid to, uint64_t tag, bool woke);
noinline void trace_receive(struct sched *s, const lwp_msg *m);
noinline void trace_steal(struct sched *s, unsigned victim, unsigned n);
/* The loop found nothing to run (idle: spinning begins) or found work. */
noinline void trace_idle(struct sched *s, bool idle);
/* A spinner goes to sleep, or wakes (woken: by another thread). */
noinline void trace_park(struct sched *s);
noinline void trace_unpark(struct sched *s, bool woken);
/* The preemption signal found p at no safe point.  (A preemption done
 * is a switch out with why AFTER_PREEMPT.) */
noinline void trace_deferred(struct sched *s, const struct proc *p);
/* pid's wait timed out (tag 0), or a send_after timer to pid fired. */
noinline void trace_timer(struct sched *s, lwp_pid pid, uint64_t tag);
noinline void trace_register(lwp_pid pid, const char *name);
/* pid (0: not known) ran ns without a switch. */
noinline void trace_long_schedule(lwp_pid pid, int64_t ns);

static always_inline lwp_pid pid_of(const struct proc *p)
{
	return p ? atomic_load_explicit(&p->pid, memory_order_relaxed) : 0;
}

/* ---- the runtime's side -------------------------------------------------- */

/* The runtime started (schedulers exist, none runs yet): trace if the
 * environment asks (LWP_TRACE...).  Never fails: a bad setting is
 * reported on stderr and tracing stays off. */
void trace_runtime_start(void);
/* Every scheduler has left its loop: write an active trace, free all. */
void trace_runtime_stop(void);
/* A fatal signal (fault.c): write the flight recorder, if one is on.
 * Async-signal-safe. */
void trace_crash(void);

#endif /* LWP_TRACE_H */
