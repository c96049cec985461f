/*
 * preempt.h - preemption: a process that runs too long is switched out.
 *
 * Two halves, as in Erlang and Go.  The cooperative half is the budget of
 * runtime calls (sched_charge).  The other is a watchdog thread that
 * signals (tgkill) a scheduler thread whose process has run past its
 * timeslice, or past a short grace period while other work waits on that
 * scheduler (a due timer, a pinned process woken elsewhere): the woken
 * process then need not wait out a hog's whole slice, much as Linux's
 * wakeup preemption does.  The watchdog sleeps while no scheduler runs a
 * process, and does not signal a thread that is blocked in a system call.
 *
 * The handler runs on the interrupted process's stack.  At a safe point it
 * switches the process out from inside the handler: the kernel's signal
 * frame below holds the process's whole register state (general, flags,
 * FP/SIMD including the upper halves of AVX/SVE state), and when the
 * process is resumed the handler returns and sigreturn restores all of it.
 *
 * Not a safe point, where the handler only sets p->resched and the
 * process yields when it next can:
 *  - runtime code: every runtime call raises the process's preempt count
 *    (below), as Linux's preempt_count;
 *  - code outside the ranges registered as user code (the program, and
 *    libraries given to lwp_preempt_allow()): libc, the allocator, the
 *    dynamic linker and the vDSO hold locks and per-thread state;
 *  - a lwp_preempt_disable() region;
 *  - a stack too close to its guard for the scheduler's frames.
 *
 * A preempted process resumes on the thread it was preempted on: compilers
 * keep the addresses of thread-local variables in registers across any
 * instruction.  Processes that switched out in a runtime call may move.
 */
#ifndef LWP_PREEMPT_H
#define LWP_PREEMPT_H

#include <stdbool.h>

#include "compiler.h"
#include "lwp.h"
#include "proc.h"

struct sched;

/* What a scheduler counts of preemption (lwp_scheduler_stats). */
struct preempt_stats {
	_Atomic uint64_t done;	   /* processes switched out by the signal */
	_Atomic uint64_t deferred; /* signals that found no safe point */
};

/* The timeslice (LWP_INFINITY: no preemption signals) and the signal cfg
 * asks for (cfg may be NULL); LWP_EINVAL if out of range. */
must_check int preempt_config(const lwp_config *cfg, int64_t *slice,
			      int *signo);
/* The signal that preempts while this run sends one, else 0 (no other
 * use of a signal may take it: the trace's, the dump's). */
int preempt_signal_in_use(void);

/* Install the handler and start the watchdog for one run of the runtime,
 * once the schedulers exist; restore the host's disposition at the end. */
must_check int preempt_start(int64_t slice, int signo);
void preempt_stop(void);

/* The calling thread is scheduler s's: record what the watchdog needs to
 * signal it and to tell whether it runs or waits in a system call. */
void preempt_thread_start(struct sched *s);

/* A scheduler that was idle runs a process again, and said so with a
 * seq_cst read-modify-write of its run_seq: wake the watchdog if it sleeps
 * with nothing to watch.  Inline test, out-of-line wake. */
extern lib_private _Atomic bool preempt_watchdog_idle;
void preempt_wake_watchdog(void);
static inline void preempt_watch(void)
{
	/* seq_cst load: with the caller's seq_cst RMW, one half of a Dekker
	 * pair with the watchdog, which stores its idle flag, fences, then
	 * reads every run_seq once more: either it sees this scheduler
	 * running, or this sees it asleep.  (An RMW rather than a fence: a
	 * locked instruction costs less than MFENCE on x86.) */
	if (unlikely(atomic_load(&preempt_watchdog_idle)))
		preempt_wake_watchdog();
}

/* Is pc in the program's own code, or a library given to
 * lwp_preempt_allow()?  Not the runtime's, libc's or the allocator's. */
bool preempt_user_code(uintptr_t pc);

/* A deferred preemption, taken now that p is at a safe point. */
void preempt_resched(struct proc *p);

/*
 * Runtime code running for p is not preemptible: every runtime call made
 * by a process brackets itself with these.  The count is per process, not
 * per thread, because a call may switch and come back on another thread.
 * Invariant: a process that is switched out has a count above zero (the
 * switch happens inside a runtime call, or inside the handler, which
 * raises it), so the handler never preempts a process in mid-switch.
 */
static inline void preempt_disable(struct proc *p)
{
	p->preempt_off++;
	/* The handler runs on this thread: a compiler barrier orders the
	 * count before the runtime work it guards. */
	atomic_signal_fence(memory_order_seq_cst);
}

static inline void preempt_enable(struct proc *p)
{
	atomic_signal_fence(memory_order_seq_cst);
	if (--p->preempt_off == 0 && unlikely(load_relaxed(&p->resched)))
		preempt_resched(p);
}

#endif /* LWP_PREEMPT_H */
