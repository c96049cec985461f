/*
 * trace.h - event tracing and USDT probes at the scheduler's event points.
 *
 * Each event point is one call of an inline hook below: a USDT probe
 * (provider "lwp": a nop and a note the tracer finds, see
 * docs/profiling.md) and an event for the trace, behind one test of the
 * probe's semaphore and of trace_enabled, a global flag written only when
 * tracing starts or stops, so that both lines stay shared in every core's
 * cache and the branch is always predicted.  Only when a trace is on does
 * the hook call into trace.c, which appends an event to the
 * calling scheduler's ring (or, on a thread that is not a scheduler, to
 * the foreign ring, under a lock) and never allocates.  trace.c turns the
 * rings into a Chrome/Perfetto JSON trace when tracing stops, on demand,
 * on a signal, or on a crash.  Built with -Dtrace=disabled, the hooks are
 * empty.
 */
#ifndef LWP_TRACE_H
#define LWP_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "proc.h"
#include "sched.h"

/*
 * A probe has a semaphore, which the kernel raises while a tracer (perf,
 * bpftrace) is attached to it: the event point tests it together with
 * trace_enabled, so that neither the probe's arguments nor the event are
 * computed unless someone listens.
 */
#if LWP_TRACE && LWP_HAVE_SDT
#define _SDT_HAS_SEMAPHORES 1
/* Arguments in registers, constants too: perf reads no immediate, and the
 * sites of a probe must all give it the same arguments. */
#define STAP_SDT_ARG_CONSTRAINT r
#include <sys/sdt.h>
#define PROBE_SEMAPHORE(n) extern volatile unsigned short lwp_##n##_semaphore
#define PROBE_WANTED(n)	   lwp_##n##_semaphore
#define PROBE1(n, a)	   DTRACE_PROBE1(lwp, n, a)
#define PROBE2(n, a, b)	   DTRACE_PROBE2(lwp, n, a, b)
#define PROBE3(n, a, b, c) DTRACE_PROBE3(lwp, n, a, b, c)
#else
#define PROBE_SEMAPHORE(n) extern const unsigned short lwp_##n##_semaphore
#define PROBE_WANTED(n)	   0
#define PROBE1(n, a)	   ((void)(a))
#define PROBE2(n, a, b)	   ((void)(a), (void)(b))
#define PROBE3(n, a, b, c) ((void)(a), (void)(b), (void)(c))
#endif

/* Every probe (trace.c defines the semaphores).  clang-format takes a
 * list of X(...) for declarations and reflows it differently each run. */
/* clang-format off */
#define PROBES(X)              \
	X(switch)              \
	X(spawn)               \
	X(exit)                \
	X(send)                \
	X(receive)             \
	X(steal)               \
	X(park)                \
	X(unpark)              \
	X(preempt_deferred)    \
	X(timer)               \
	X(register)            \
	X(long_schedule)
/* clang-format on */
#define PROBE_DECLARE(n) PROBE_SEMAPHORE(n);
PROBES(PROBE_DECLARE)

/* What an event records: a, b and the small arg (56 bits) of trace_rec. */
enum trace_type {
	TR_SWITCH,   /* a: pid out (0: the loop), b: pid in; arg: why out
		      * (8 bits), the function of the process in (48) */
	TR_SPAWN,    /* a: the new pid, b: its function */
	TR_EXIT,     /* a: pid, b: reason code */
	TR_SEND,     /* a: to, b: tag; arg: 1 if it woke the receiver */
	TR_RECV,     /* a: from, b: tag */
	TR_STEAL,    /* a: victim scheduler, b: processes taken */
	TR_IDLE,     /* the loop found nothing to run: spinning starts */
	TR_IDLE_END, /* ... and ends, with work or to look at timers */
	TR_PARK,     /* a spinner goes to sleep */
	TR_UNPARK,   /* ... and wakes; arg: 1 if woken by another thread */
	TR_DEFERRED, /* a: pid the preemption signal could not switch out */
	TR_TIMER,    /* a: pid whose wait timed out, or the addressee of a
		      * send_after timer (then b: its tag) */
	TR_NAME,     /* a: 8 bytes of a registered name, b: its pid; arg:
		      * which 8 (a name takes up to 8 events) */
	TR_NTYPES
};

/* Why a process switched out (TR_SWITCH's arg): enum proc_after. */

#if LWP_TRACE
extern _Atomic bool trace_enabled;
#define TRACE_ENABLED() load_relaxed(&trace_enabled)
#else
#define TRACE_ENABLED() false
#endif

/*
 * An event point's one test: is anyone listening, a trace or a tracer on
 * any probe?  trace_wanted is one byte, written only when the answer
 * changes, so an event point costs a compare with memory and a branch
 * that is never taken.  A trace starting or stopping sets it at once; a
 * tracer attaching raises a semaphore the runtime is not told of, so the
 * schedulers look at the semaphores in their periodic poll
 * (trace_refresh): probes fire from a few dozen switches after perf or
 * bpftrace attaches.  Past the test, each probe's own semaphore and the
 * trace flag decide what is recorded.
 */
#if LWP_TRACE
extern _Atomic bool trace_wanted;
#define EVENT_WANTED(n) unlikely(load_relaxed(&trace_wanted))
#else
#define EVENT_WANTED(n) false
#endif

/* Recompute trace_wanted from the trace flag and the semaphores. */
#if LWP_TRACE
void trace_refresh(void);
#else
static inline void trace_refresh(void)
{
}
#endif

/* Append an event to s's ring (s NULL: the foreign ring). */
void trace_rec(struct sched *s, enum trace_type type, uint64_t arg, uint64_t a,
	       uint64_t b);

static always_inline lwp_pid pid_of(const struct proc *p)
{
	return p ? atomic_load_explicit(&p->pid, memory_order_relaxed) : 0;
}

/* ---- the event points -------------------------------------------------- */

/* s switches from `out` to `in` (either NULL: the scheduler's loop). */
static always_inline void trace_switch(struct sched *s, struct proc *out,
				       struct proc *in, enum proc_after why)
{
	if (!EVENT_WANTED(switch))
		return;
	if (PROBE_WANTED(switch))
		PROBE3(switch, pid_of(out), pid_of(in), (int)why);
	if (TRACE_ENABLED())
		trace_rec(s, TR_SWITCH,
			  why | (in ? (uint64_t)(uintptr_t)in->fn << 8 : 0),
			  (uint64_t)pid_of(out), (uint64_t)pid_of(in));
}

static always_inline void trace_spawn(struct sched *s, lwp_pid pid,
				      void (*fn)(void *))
{
	if (!EVENT_WANTED(spawn))
		return;
	if (PROBE_WANTED(spawn))
		PROBE2(spawn, pid, fn);
	if (TRACE_ENABLED())
		trace_rec(s, TR_SPAWN, 0, (uint64_t)pid,
			  (uint64_t)(uintptr_t)fn);
}

static always_inline void trace_exit(struct sched *s, lwp_pid pid, int code)
{
	if (!EVENT_WANTED(exit))
		return;
	if (PROBE_WANTED(exit))
		PROBE2(exit, pid, code);
	if (TRACE_ENABLED())
		trace_rec(s, TR_EXIT, 0, (uint64_t)pid,
			  (uint64_t)(int64_t)code);
}

/* A message (or signal) to `to` was queued; it woke the receiver. */
static always_inline void trace_send(struct sched *s, lwp_pid to, uint64_t tag,
				     bool woke)
{
	if (!EVENT_WANTED(send))
		return;
	if (PROBE_WANTED(send))
		PROBE3(send, to, tag, woke);
	if (TRACE_ENABLED())
		trace_rec(s, TR_SEND, woke, (uint64_t)to, tag);
}

static always_inline void trace_receive(struct sched *s, lwp_pid from,
					uint64_t tag)
{
	if (!EVENT_WANTED(receive))
		return;
	if (PROBE_WANTED(receive))
		PROBE2(receive, from, tag);
	if (TRACE_ENABLED())
		trace_rec(s, TR_RECV, 0, (uint64_t)from, tag);
}

static always_inline void trace_steal(struct sched *s, unsigned victim,
				      unsigned n)
{
	if (!EVENT_WANTED(steal))
		return;
	if (PROBE_WANTED(steal))
		PROBE3(steal, s->id, victim, n);
	if (TRACE_ENABLED())
		trace_rec(s, TR_STEAL, 0, victim, n);
}

static always_inline void trace_park(struct sched *s, bool park, bool woken)
{
	if (park && EVENT_WANTED(park))
		PROBE1(park, s->id);
	else if (!park && EVENT_WANTED(unpark))
		PROBE2(unpark, s->id, woken);
	if (unlikely(TRACE_ENABLED()))
		trace_rec(s, park ? TR_PARK : TR_UNPARK, woken, 0, 0);
}

static always_inline void trace_idle(struct sched *s, bool idle)
{
	if (unlikely(TRACE_ENABLED()))
		trace_rec(s, idle ? TR_IDLE : TR_IDLE_END, 0, 0, 0);
}

/* The preemption signal found p at no safe point.  (A preemption done
 * is a switch out with why AFTER_PREEMPT.) */
static always_inline void trace_deferred(struct sched *s, struct proc *p)
{
	if (!EVENT_WANTED(preempt_deferred))
		return;
	if (PROBE_WANTED(preempt_deferred))
		PROBE2(preempt_deferred, pid_of(p), s->id);
	if (TRACE_ENABLED())
		trace_rec(s, TR_DEFERRED, 0, (uint64_t)pid_of(p), 0);
}

static always_inline void trace_timer(struct sched *s, lwp_pid pid,
				      uint64_t tag)
{
	if (!EVENT_WANTED(timer))
		return;
	if (PROBE_WANTED(timer))
		PROBE2(timer, pid, tag);
	if (TRACE_ENABLED())
		trace_rec(s, TR_TIMER, 0, (uint64_t)pid, tag);
}

/* pid was registered as name. */
void trace_name(lwp_pid pid, const char *name);
static always_inline void trace_register(lwp_pid pid, const char *name)
{
	if (!EVENT_WANTED(register))
		return;
	if (PROBE_WANTED(register))
		PROBE2(register, pid, name);
	if (TRACE_ENABLED())
		trace_name(pid, name);
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
