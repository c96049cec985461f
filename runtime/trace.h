/*
 * trace.h - event tracing and USDT probes at the scheduler's event points.
 *
 * Each event point is TRACE(event, ...): one test of a global byte and,
 * only when someone listens, a call into trace.c, which fires the event's
 * USDT probe (provider "lwp": a nop and a note the tracer finds, see
 * docs/profiling.md) if a tracer is attached to it, and appends an event
 * to the calling scheduler's ring (or, on a thread that is not a
 * scheduler, to the foreign ring, under a lock) if a trace is on, never
 * allocating.  The hot events (switch, send, receive) append to the ring
 * inline when a trace is all that listens.  trace.c turns the rings into
 * a Chrome/Perfetto JSON trace when tracing stops, on demand, on a
 * signal, or on a crash.
 */
#ifndef LWP_TRACE_H
#define LWP_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "compiler.h"
#include "lwp.h"
#include "proc.h"
#include "sched.h"

/* What an event records: a, b and the small arg (56 bits). */
enum trace_type {
	TR_SWITCH,   /* a: pid out (0: the loop), b: pid in; arg: why out
		      * (8 bits), the function of the process in (48) */
	TR_STEAL,    /* a: victim scheduler, b: processes taken */
	TR_IDLE,     /* the loop found nothing to run: spinning starts */
	TR_IDLE_END, /* ... and ends, with work or to look at timers */
	TR_PARK,     /* a spinner goes to sleep */
	TR_UNPARK,   /* ... and wakes; arg: 1 if woken by another thread */
	TR_DEFERRED, /* a: pid the preemption signal could not switch out */
	TR_SPAWN,    /* a: the new pid, b: its function */
	TR_EXIT,     /* a: pid, b: reason code */
	TR_SEND,     /* a: to, b: tag; arg: 1 if it woke the receiver */
	TR_RECV,     /* a: from, b: tag */
	TR_TIMER,    /* a: pid whose wait timed out, or the addressee of a
		      * send_after timer (then b: its tag) */
	TR_NAME,     /* a: 8 bytes of a registered name, b: its pid; arg:
		      * which 8 (a name takes up to 8 events) */
};

/* An event's hdr word. */
static always_inline uint64_t trace_hdr(enum trace_type type, uint64_t arg)
{
	return (uint64_t)type | arg << 8;
}

/* A switch's arg: why the process out left, and the function of the one
 * in (its name, when a flight recorder lost its spawn). */
static always_inline uint64_t trace_switch_arg(const struct proc *in,
					       enum proc_after why)
{
	return why | (in ? (uint64_t)(uintptr_t)in->fn << 8 : 0);
}

/* One event in a ring (trace.c: the ring is a seqlock per slot). */
struct trace_event {
	_Atomic uint64_t ts, hdr, a, b; /* hdr: type | arg << 8 */
};

/* A scheduler's ring (trace.c). */
struct trace_ring {
	_Atomic uint64_t head;	  /* events ever written */
	_Atomic uint64_t start;	  /* head when the session began */
	_Atomic uint64_t end;	  /* full mode: head once full; else ~0 */
	_Atomic uint64_t dropped; /* full mode: events that found it full */
	uint64_t mask;
	size_t bytes; /* of the mapping */
	cacheline_aligned struct trace_event ev[];
};

/*
 * An event point's one test: is anyone listening?  trace_wanted is one
 * byte, written only when the answer changes, so that every core keeps
 * its line shared and an event point costs a compare with memory and a
 * branch that is never taken (tracing(), below).  The event's work, and
 * the loads of its arguments, are past the branch, so that an event point
 * without listeners leaves the hot path as it was.  A trace starting or
 * stopping sets trace_wanted at once; a tracer attaching raises a probe's
 * semaphore, which the runtime is not told of, so the schedulers look at
 * the semaphores in their periodic poll (trace_refresh): probes fire from
 * a few dozen switches after perf or bpftrace attaches.  Built with
 * -Dtrace=disabled, the test is the constant false and the event points
 * vanish.
 */
enum trace_want {
	TRACE_NONE,  /* nobody listens */
	TRACE_RINGS, /* a trace is on, stamped with the CPU's counter, and no
		      * tracer is on any probe: the hot events (switch, send,
		      * receive) append to the ring inline, below */
	TRACE_CALLS, /* else: every event calls its function in trace.c */
};

#if LWP_TRACE
extern lib_private _Atomic uint8_t trace_wanted;
#define TRACING() tracing()

/* On x86-64 the test is written out, one cmpb against memory and a jne
 * to the event's block: given an atomic load, the compiler loads to a
 * register and tests it, an instruction more at every point.  A one-byte
 * load cannot tear, and the asm orders nothing, as load_relaxed.  TSan
 * gets the C load, which it sees.  On arm64 the C load already is the
 * fewest instructions (adrp, ldrb, cbnz). */
static always_inline bool tracing(void)
{
#if defined(__x86_64__) && !LWP_TSAN
	__asm__ goto("cmpb $0, %0\n\tjne %l[on]"
		     :
		     : "m"(trace_wanted)
		     : "cc"
		     : on);
	return false;
on:
	return true;
#else
	return unlikely(load_relaxed(&trace_wanted) != TRACE_NONE);
#endif
}
/* Recompute trace_wanted from the session and the semaphores. */
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
 * TRACE().  The hot three (switch, send, receive) are inline, below, and
 * call their _call function here only when they cannot append inline.
 */
noinline void trace_switch_call(struct sched *s, const struct proc *out,
				const struct proc *in, enum proc_after why);
noinline void trace_send_call(struct sched *s, lwp_pid to, uint64_t tag,
			      bool woke);
noinline void trace_receive_call(struct sched *s, const lwp_msg *m);
noinline void trace_spawn(struct sched *s, lwp_pid pid, void (*fn)(void *));
noinline void trace_exit(struct sched *s, lwp_pid pid, int code);
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

/* The CPU's counter: the time stamp of every event while trace_wanted is
 * TRACE_RINGS (trace.c checks at the start that it ticks alike on every
 * core at a constant rate). */
static always_inline uint64_t trace_counter(void)
{
#if defined(__x86_64__)
	return __rdtsc();
#elif defined(__aarch64__)
	uint64_t v;
	__asm__ volatile("mrs %0, cntvct_el0" : "=r"(v));
	return v;
#else
	return 0;
#endif
}

/* Append an event to r, stamped ts (the protocol: trace.c, at the top). */
static always_inline void trace_put(struct trace_ring *r, uint64_t ts,
				    uint64_t hdr, uint64_t a, uint64_t b)
{
	uint64_t h = load_relaxed(&r->head);
	struct trace_event *e;

	if (unlikely(h >= load_relaxed(&r->end))) {
		stats_count(&r->dropped);
		return;
	}
	/* Orders the last head store before this overwrite (see trace.c). */
	atomic_thread_fence(memory_order_release);
	e = &r->ev[h & r->mask];
	store_relaxed(&e->ts, ts);
	store_relaxed(&e->hdr, hdr);
	store_relaxed(&e->a, a);
	store_relaxed(&e->b, b);
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

/* The stamp of the last event on r, the caller's own ring (no other
 * thread writes that slot); the counter for a session's first. */
static always_inline uint64_t trace_stamp_again(struct trace_ring *r)
{
	uint64_t h = load_relaxed(&r->head);

	return h != load_relaxed(&r->start) ?
		       load_relaxed(&r->ev[(h - 1) & r->mask].ts) :
		       trace_counter();
}

/*
 * The ring a hot event appends to inline, or NULL: call into trace.c.
 * Inline, an event is a few loads, the counter and five stores where a
 * call cost half as much again (perf/README.md); the rare cases (a
 * tracer on a probe, a clock other than the counter, a foreign thread)
 * stay in trace.c.
 */
static always_inline struct trace_ring *trace_ring_inline(struct sched *s)
{
#if LWP_TRACE
	/* Acquire: pairs with the release store of the ring, after the
	 * session's settings were made.  NULL: the session ended, or its
	 * start is not seen yet (trace_wanted is relaxed). */
	if (load_relaxed(&trace_wanted) == TRACE_RINGS && s)
		return atomic_load_explicit(&s->trace_ring,
					    memory_order_acquire);
#else
	(void)s;
#endif
	return NULL;
}

/* s switches from `out` to `in` (either NULL: the scheduler's loop). */
static always_inline void trace_switch(struct sched *s, const struct proc *out,
				       const struct proc *in,
				       enum proc_after why)
{
	struct trace_ring *r = trace_ring_inline(s);

	if (!r) {
		trace_switch_call(s, out, in, why);
		return;
	}
	trace_put(r, trace_counter(),
		  trace_hdr(TR_SWITCH, trace_switch_arg(in, why)),
		  (uint64_t)pid_of(out), (uint64_t)pid_of(in));
}

/* A message (or signal) to `to` was queued; `woke`: it woke the receiver. */
static always_inline void trace_send(struct sched *s, lwp_pid to, uint64_t tag,
				     bool woke)
{
	struct trace_ring *r = trace_ring_inline(s);

	if (!r) {
		trace_send_call(s, to, tag, woke);
		return;
	}
	trace_put(r, trace_counter(), trace_hdr(TR_SEND, woke), (uint64_t)to,
		  tag);
}

/*
 * m was taken from the caller's mailbox.  `at_wake`: the receive returns
 * right after the switch that resumed its process, with no user code run
 * since (no match function was called), so the event takes the time
 * stamp of the event before it - that switch, or one a few runtime
 * instructions after it - rather than reading the counter again, which
 * costs more than the rest of the event (perf/README.md).
 */
static always_inline void trace_receive(struct sched *s, const lwp_msg *m,
					bool at_wake)
{
	struct trace_ring *r = trace_ring_inline(s);

	if (!r) {
		trace_receive_call(s, m);
		return;
	}
	trace_put(r, at_wake ? trace_stamp_again(r) : trace_counter(),
		  trace_hdr(TR_RECV, 0), (uint64_t)m->from, m->tag);
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
