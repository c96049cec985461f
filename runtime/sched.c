/*
 * sched.c - see sched.h.
 */
#include "sched.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault.h"
#include "runtime.h"

#if LWP_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if LWP_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* How often (in picks) the loop looks at timers and the global queue even
 * while local work remains, so neither starves. */
#define SCHED_POLL_EVERY 61

/* initial-exec: the fault handler reads it, and must not allocate TLS. */
static __thread struct sched *this_sched
	__attribute__((tls_model("initial-exec")));

/* noinline: compilers may keep a TLS address in a register across a call,
 * and after a switch this thread may not be the one we started on. */
noinline struct sched *sched_self(void)
{
	__asm__ volatile("" ::: "memory");
	return this_sched;
}

struct proc *sched_current(void)
{
	struct sched *s = sched_self();

	return s ? s->current : NULL;
}

/* errno lives in TLS too, and glibc declares __errno_location() const, so
 * a compiler may reuse its result across a switch.  Each scheduler finds its
 * thread's errno once; a process saves and restores through the scheduler
 * it is on, re-read after every switch. */
static void errno_save(struct sched *s, struct proc *p)
{
	p->saved_errno = *s->errno_loc;
}

static void errno_restore(struct sched *s, struct proc *p)
{
	*s->errno_loc = p->saved_errno;
}

/* ---- sanitizer annotations ------------------------------------------- */

void sched_fiber_create(struct proc *p)
{
#if LWP_TSAN
	p->tsan_fiber = __tsan_create_fiber(0);
#endif
	(void)p;
}

void sched_fiber_destroy(struct proc *p)
{
#if LWP_TSAN
	__tsan_destroy_fiber(p->tsan_fiber);
	p->tsan_fiber = NULL;
#endif
	(void)p;
}

/* Switch from the context saved in *from to `to` (NULL: the scheduler's own
 * context), passing arg across.  `dying`: the current stack is never
 * resumed. */
static void *ctx_switch(struct sched *s, arch_ctx *from, struct proc *to,
			void *arg, bool dying)
{
	const arch_ctx *dst = to ? &to->ctx : &s->ctx;
	void *ret;
#if LWP_ASAN
	void *fake = NULL;
	const void *bottom = to ? to->stack.lo : s->asan_bottom;
	size_t size = to ? to->stack.size : s->asan_size;
	__sanitizer_start_switch_fiber(dying ? NULL : &fake, bottom, size);
#endif
#if LWP_TSAN
	__tsan_switch_to_fiber(to ? to->tsan_fiber : s->tsan_fiber, 0);
#endif
#if LWP_STACK_CANARY
	if (to && !stack_canary_ok(&to->stack)) {
		fprintf(stderr, "lwp: stack canary of %s smashed\n",
			lwp_pid_str(to->pid).s);
		abort();
	}
#endif
	(void)dying;
	ret = arch_switch(from, dst, arg);
#if LWP_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
	return ret;
}

/* ---- picking the next process ------------------------------------------ */

static void refill_from_global(struct sched *s)
{
	struct proc *p = procq_pop(&rt.global, RUNQ_SIZE / 2);

	while (p) {
		struct proc *next = p->next;
		runq_push(&s->runq, p, &rt.global);
		p = next;
	}
}

/* The next process to run, or NULL if there is none (or the runtime is
 * stopping).  A process picked from runnext inherits the current budget,
 * so two processes waking each other cannot starve the queue. */
static struct proc *pick(struct sched *s)
{
	struct proc *p;

	if (unlikely(load_relaxed(&rt.stop)))
		return NULL;
	if (unlikely(++s->tick % SCHED_POLL_EVERY == 0)) {
		if (load_relaxed(&s->timers.count))
			timer_run(&s->timers, timer_now());
		if (!procq_empty(&rt.global)) {
			p = procq_pop(&rt.global, 1);
			if (p)
				goto fresh;
		}
	}
	if (s->runnext && s->budget > 0) {
		p = s->runnext;
		s->runnext = NULL;
		return p;
	}
	p = runq_pop(&s->runq);
	if (!p) {
		refill_from_global(s);
		p = runq_pop(&s->runq);
	}
	if (!p) { /* a spent budget skipped runnext */
		p = s->runnext;
		s->runnext = NULL;
	}
	if (!p)
		return NULL;
fresh:
	s->budget = SCHED_BUDGET;
	return p;
}

/* ---- making processes runnable ------------------------------------------ */

void sched_kick_all(void)
{
	for (unsigned i = 0; i < rt.nscheds; i++) {
		struct sched *s = &rt.scheds[i];
		/* seq_cst, pairing with the parker's seq_cst store of parked
		 * and re-check of the queues (Dekker): either it sees our
		 * work, or we see it parked. */
		if (atomic_load(&s->parked) && atomic_exchange(&s->parked, 0))
			syscall(SYS_futex, &s->parked, FUTEX_WAKE_PRIVATE, 1,
				NULL, NULL, 0);
	}
}

static void ready_foreign(struct proc *p)
{
	procq_push(&rt.global, p, p, 1);
	sched_kick_all();
}

void sched_ready_next(struct sched *s, struct proc *p)
{
	if (!s)
		return ready_foreign(p);
	if (s->runnext)
		runq_push(&s->runq, s->runnext, &rt.global);
	s->runnext = p;
}

void sched_ready(struct sched *s, struct proc *p)
{
	if (!s)
		return ready_foreign(p);
	runq_push(&s->runq, p, &rt.global);
}

/* ---- switching ---------------------------------------------------------- */

/* Run on the context we switched to: finish what `prev` asked for. */
static void finish_switch(struct sched *s, struct proc *prev)
{
	if (!prev)
		return;
	switch (prev->after) {
	case AFTER_YIELD:
		runq_push(&s->runq, prev, &rt.global);
		break;
	case AFTER_EXPIRE:
		/* Like Go's Gosched: older work that overflowed to the
		 * global queue runs first.  Otherwise a process that spawns
		 * in a loop always finds its children in the global queue
		 * behind it, and they pile up there unrun. */
		if (procq_empty(&rt.global))
			runq_push(&s->runq, prev, &rt.global);
		else
			procq_push(&rt.global, prev, prev, 1);
		break;
	case AFTER_BLOCK:
		if (!mailbox_block(&prev->mbox))
			runq_push(&s->runq, prev, &rt.global);
		break;
	case AFTER_EXIT:
		proc_reap(prev);
		break;
	case AFTER_NONE:
		break;
	}
}

/* The caller, p, running on s, gives up the processor; `after` says what
 * becomes of it.  Returns when p runs again. */
static void switch_out(struct sched *s, struct proc *p, enum proc_after after)
{
	struct proc *next = pick(s);

	p->after = after;
	s->current = next;
	errno_save(s, p);
	struct proc *prev =
		ctx_switch(s, &p->ctx, next, p, after == AFTER_EXIT);
	/* Possibly another thread now; whoever resumed us set current. */
	s = sched_self();
	finish_switch(s, prev);
	errno_restore(s, p);
}

void sched_enter(void *prev)
{
	struct sched *s = sched_self();

#if LWP_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	finish_switch(s, prev);
	struct proc *p = s->current;
	errno = 0;
	p->fn(p->arg);
	proc_exit(p, LWP_EXIT_NORMAL);
}

void sched_make(struct proc *p)
{
	/* Stack tops all sit at the same offset in a page, so the first
	 * frames of many processes compete for the same cache sets; colour
	 * them by slot, within the top page (idle processes touch one). */
	char *top = (char *)stack_top(&p->stack) - (p->index % 16) * 64;

	arch_make(&p->ctx, top, sched_enter);
}

/* Fire due timers now, not only at the next pick: a process that keeps
 * yielding with nothing else queued would otherwise starve a sleeper. */
static void run_due_timers(struct sched *s)
{
	if (load_relaxed(&s->timers.count))
		timer_run(&s->timers, timer_now());
}

void sched_relinquish(struct sched *s, struct proc *p)
{
	run_due_timers(s);
	/* Nothing else to run: carry on without a switch. */
	if (!s->runnext && runq_size(&s->runq) == 0 &&
	    procq_empty(&rt.global) && !load_relaxed(&rt.stop))
		return;
	switch_out(s, p, AFTER_YIELD);
}

void sched_budget_spent(struct sched *s, struct proc *p)
{
	/* Give the queue a turn: what we woke goes behind it. */
	if (s->runnext) {
		runq_push(&s->runq, s->runnext, &rt.global);
		s->runnext = NULL;
	}
	s->budget = SCHED_BUDGET;
	run_due_timers(s);
	if (s->runnext || runq_size(&s->runq) || !procq_empty(&rt.global))
		switch_out(s, p, AFTER_EXPIRE);
}

/* Timer callback: a wait's deadline passed. */
static void wait_expired(struct timer *t)
{
	struct proc *p = container_of(t, struct proc, timer);

	if (mailbox_unblock(&p->mbox))
		sched_ready(sched_self(), p);
}

int sched_block(struct proc *p, int64_t deadline)
{
	struct sched *s = sched_self();

	/* Armed before switching out: this heap is fired only by this
	 * thread, which is busy switching until the process is blocked. */
	if (deadline != TIMER_NEVER) {
		p->timer.fire = wait_expired;
		int err = timer_arm(&s->timers, &p->timer, deadline);
		if (err)
			return err;
	}
	switch_out(s, p, AFTER_BLOCK);
	timer_cancel(&p->timer);
	return 0;
}

_Noreturn void sched_exit(struct proc *p)
{
	switch_out(sched_self(), p, AFTER_EXIT);
	__builtin_unreachable();
}

/* ---- the loop ------------------------------------------------------------ */

static void park(struct sched *s)
{
	int64_t next = timer_next(&s->timers);
	struct timespec ts, *tmo = NULL;

	atomic_store(&s->parked, 1);
	/* Re-check after announcing (see sched_kick_all). */
	if (!procq_empty(&rt.global) || atomic_load(&rt.stop) ||
	    proc_live() == 0) {
		atomic_store(&s->parked, 0);
		return;
	}
	if (next != TIMER_NEVER) {
		int64_t d = next - timer_now();
		if (d <= 0) {
			atomic_store(&s->parked, 0);
			return;
		}
		ts.tv_sec = d / 1000000000;
		ts.tv_nsec = d % 1000000000;
		tmo = &ts;
	}
	syscall(SYS_futex, &s->parked, FUTEX_WAIT_PRIVATE, 1, tmo, NULL, 0);
	atomic_store(&s->parked, 0);
}

static void loop(struct sched *s)
{
	for (;;) {
		struct proc *p = pick(s);

		if (p) {
			s->current = p;
			struct proc *prev =
				ctx_switch(s, &s->ctx, p, NULL, false);
			s->current = NULL;
			finish_switch(s, prev);
			continue;
		}
		if (atomic_load(&rt.stop) || proc_live() == 0)
			return;
		timer_run(&s->timers, timer_now());
		if (runq_size(&s->runq) || s->runnext ||
		    !procq_empty(&rt.global))
			continue;
		park(s);
	}
}

int sched_run(void)
{
	struct sched *s = &rt.scheds[0];

#if LWP_TSAN
	s->tsan_fiber = __tsan_get_current_fiber();
#endif
#if LWP_ASAN
	{
		pthread_attr_t a;
		void *addr;
		size_t size;
		pthread_getattr_np(pthread_self(), &a);
		pthread_attr_getstack(&a, &addr, &size);
		pthread_attr_destroy(&a);
		s->asan_bottom = addr;
		s->asan_size = size;
	}
#endif
	int err = fault_thread_start();
	if (err)
		return err;
	s->errno_loc = &errno;
	this_sched = s;
	loop(s);
	this_sched = NULL;
	fault_thread_stop();
	return 0;
}

/* ---- the public scheduling API ----------------------------------------- */

int lwp_yield(void)
{
	struct sched *s = sched_self();

	if (!s || !s->current)
		return LWP_ENOTPROC;
	sched_relinquish(s, s->current);
	return 0;
}

int lwp_sleep(int64_t ns)
{
	struct proc *p = sched_current();
	int64_t deadline;

	if (!p)
		return LWP_ENOTPROC;
	if (ns < 0)
		return LWP_EINVAL;
	if (ns == 0)
		return lwp_yield();
	deadline = ns > TIMER_NEVER - timer_now() ? TIMER_NEVER :
						    timer_now() + ns;
	/* Messages that arrive meanwhile move to the save queue, so the
	 * inbox stays empty and the process can block. */
	while (timer_now() < deadline) {
		mailbox_drain(&p->mbox, p->pid);
		int err = sched_block(p, deadline);
		if (err)
			return err;
	}
	return 0;
}
