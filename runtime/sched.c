/*
 * sched.c - see sched.h.
 */
#include "sched.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "failure.h"
#include "fault.h"
#include "runtime.h"
#include "steal.h"
#include "trace.h"

#if LWP_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if LWP_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* How often (in picks) the loop looks at timers and the global queue even
 * while local work remains, so neither starves. */
#define SCHED_POLL_EVERY 61

/* How long an idle scheduler looks for work before it sleeps: long enough
 * to catch a reply to a message it just sent across (a few microseconds),
 * short enough that an idle program costs nothing measurable. */
#define SCHED_SPIN_NS 50000

/* Stolen work that kept the thief busy for less than this cost more to
 * move than to run where it was (a steal moves the process's cache lines,
 * and those of its stack, slot and messages, to another core). */
#define SCHED_STEAL_WORTH_NS 5000
/* A thief then waits before it steals again, from the first wait to the
 * longest: well inside a spin, so that it does not park and cost its
 * victims a futex wake. */
#define SCHED_STEAL_BACKOFF_MIN_NS 1000
#define SCHED_STEAL_BACKOFF_MAX_NS (SCHED_SPIN_NS / 2)

/* How much of a suspended process's stack, from its sp up, resuming it
 * reads at once: arch_switch's frame, then the runtime's frames it returns
 * through (a blocked receive: about 200 bytes on x86-64) and the caller's.
 * More lines cost the ring benchmark as much as fewer (measured: 4 lines
 * on x86-64 take its hop from 60 to 44 ns, 5 or 7 do no better). */
#define SCHED_RESUME_BYTES (ARCH_FRAME_SIZE + 192)

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
	return sched_caller(sched_self());
}

/* s->current changes.  run_seq counts the changes and is odd while a
 * process runs: the watchdog reads it to tell how long the process has
 * run.  Only the owner writes it, so a relaxed load and store suffice.
 * run_seq changes first (the fence keeps the order for the preemption
 * handler, on this thread): a signal sent for the run that is ending then
 * finds it over, never the next process in its place (preempt.c). */
static always_inline uint64_t next_run_seq(struct sched *s, struct proc *p)
{
	return ((load_relaxed(&s->run_seq) >> 1) + 1) << 1 | (p != NULL);
}

static always_inline void set_current(struct sched *s, struct proc *p)
{
	store_relaxed(&s->run_seq, next_run_seq(s, p));
	atomic_signal_fence(memory_order_seq_cst);
	s->current = p;
}

/* p runs (again) on s: what lwp_process_info() reports of it. */
static always_inline void mark_running(struct sched *s, struct proc *p)
{
	store_relaxed(&p->after, AFTER_NONE);
	store_relaxed(&p->sched_id, (uint16_t)s->id);
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

/* p runs next here, after the caller's remaining work (typically: finish
 * its turn and block).  Start loading the frames resuming it reads, which
 * a ring of thousands of processes has long since evicted from the caches
 * (reading its sp loads the owner's half of its slot too).  For writing:
 * the process writes its frames again when it next switches out. */
static always_inline void prefetch_ctx(struct proc *p)
{
	const char *sp = p->ctx.sp;

	for (int i = 0; i < SCHED_RESUME_BYTES; i += 64)
		__builtin_prefetch(sp + i, 1);
}

/* ---- picking the next process ------------------------------------------ */

static void offer_work(struct sched *s);

/* Pinned processes made runnable elsewhere: the first to run, the rest to
 * the private list (they must not be stolen). */
static struct proc *take_remote(struct sched *s)
{
	struct proc *p = runq_remote_take(&s->remote);

	if (p)
		for (struct proc *x = p->next, *next; x; x = next) {
			next = x->next;
			runq_push_private(&s->runq, x);
		}
	return p;
}

/* A batch from the global queue: the first to run, the rest to the ring. */
static struct proc *take_global(struct sched *s)
{
	struct proc *p;

	if (procq_empty(&rt.global))
		return NULL;
	p = procq_pop(&rt.global, RUNQ_SIZE / 2);
	if (p)
		for (struct proc *x = p->next, *next; x; x = next) {
			next = x->next;
			runq_push(&s->runq, x, &rt.global);
		}
	return p;
}

/* Preempted processes run when nothing else is left, so that a woken
 * process never waits behind one.  But if none of them has run for a
 * whole slice (none was preempted since), the next poll runs one: other
 * work that never lets the queue empty cannot starve them, while work that
 * only comes and goes (a reply, a timer) never waits for them. */
static struct proc *take_starved_preempted(struct sched *s)
{
	if (!s->runq.preempted.first ||
	    timer_now() - s->preempted_at < rt.timeslice)
		return NULL;
	return runq_pop_preempted(&s->runq);
}

/* Every SCHED_POLL_EVERY picks: timers, then work queued elsewhere for
 * this scheduler, then the oldest local work, so none of them starves
 * behind a busy spawn deque or local queue. */
static struct proc *poll(struct sched *s)
{
	struct proc *p;

	/* Not fired here: a process that armed its wait's timer may be
	 * switching out through this pick, not yet blocked, and a timer that
	 * fired now would find nothing to wake.  The next context fires them,
	 * once the switch is finished (finish_switch). */
	s->timers_due = load_relaxed(&s->timers.count) != 0;
	trace_refresh(); /* has a tracer attached to a probe? */
	p = take_remote(s);
	if (!p && !procq_empty(&rt.global)) {
		p = procq_pop(&rt.global, 1);
		if (p)
			p->next = NULL;
	}
	if (!p)
		p = take_starved_preempted(s);
	if (!p) /* the spawn deque's turn comes often enough */
		p = runq_pop_fifo(&s->runq);
	return p;
}

/* The next process to run, or NULL if there is none here (or the runtime
 * is stopping).  A process picked from runnext inherits the current budget,
 * so two processes waking each other cannot starve the queue. */
static noinline struct proc *pick_slow(struct sched *s)
{
	bool poll_due = s->poll_in == 0;
	struct proc *p;

	if (poll_due)
		s->poll_in = SCHED_POLL_EVERY;
	if (unlikely(load_relaxed(&rt.stop)))
		return NULL;
	offer_work(s);
	if (poll_due) {
		p = poll(s);
		if (p)
			goto fresh;
	}
	if (s->runnext && s->budget > 0) {
		p = s->runnext;
		s->runnext = NULL;
		return p;
	}
	p = runq_pop(&s->runq);
	if (!p)
		p = take_remote(s);
	if (!p)
		p = take_global(s);
	if (!p) { /* a spent budget skipped runnext */
		p = s->runnext;
		s->runnext = NULL;
	}
	if (!p)
		p = runq_pop_preempted(&s->runq);
	if (!p)
		return NULL;
fresh:
	s->budget = SCHED_BUDGET;
	return p;
}

/* pick_slow's two commonest answers, inline on the yield and receive
 * paths: the process just woken, or the private list's head. */
static always_inline struct proc *pick(struct sched *s)
{
	struct runq *q = &s->runq;
	struct proc *p;

	if (unlikely(--s->poll_in == 0 || load_relaxed(&rt.stop)))
		return pick_slow(s);
	if (s->runnext && s->budget > 0) {
		p = s->runnext;
		s->runnext = NULL;
		return p;
	}
	if (!runq_has_spawned(q) && runq_private_turn(q)) {
		s->budget = SCHED_BUDGET;
		return runq_take_private_turn(q);
	}
	return pick_slow(s);
}

/* ---- idle schedulers: spinning, parking, waking ------------------------- */

static void futex_wake(_Atomic int *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Wake s if it sleeps, handing it `state` (PARK_AWAKE, or PARK_WOKEN with a
 * spinner's place in rt.nspinning).  False if it was not asleep. */
static bool unpark(struct sched *s, int state)
{
	int sleeping = PARK_SLEEPING;

	if (atomic_load(&s->park) != PARK_SLEEPING ||
	    !atomic_compare_exchange_strong(&s->park, &sleeping, state))
		return false;
	futex_wake(&s->park);
	return true;
}

void sched_kick_all(void)
{
	for (unsigned i = 0; i < rt.nscheds; i++)
		unpark(&rt.scheds[i], PARK_AWAKE);
}

/* s recomputes its sleep from its heap when it parks again; an arm that
 * missed its last look saw it PARK_SLEEPING (the heap lock orders them). */
void sched_timer_armed(struct sched *s)
{
	unpark(s, PARK_AWAKE);
}

/* Wake one sleeping scheduler, the nearest to `near` (NULL: any), to look
 * for work, unless one is looking already (Go's wakep).  The caller has
 * published the work with a seq_cst operation, or needs no guarantee (work
 * in its own queue, which it runs itself if no one steals it). */
static void wake_spinner(struct sched *near)
{
	int zero = 0;

	if (!atomic_load(&rt.nidle) || atomic_load(&rt.nspinning) ||
	    !atomic_compare_exchange_strong(&rt.nspinning, &zero, 1))
		return;
	/* We hold a spinner's place; hand it to the one we wake. */
	if (near) {
		const struct topo_sched *pl = near->place;
		for (unsigned i = 0; i < pl->norder; i++)
			if (unpark(&rt.scheds[pl->order[i]], PARK_WOKEN))
				return;
	} else {
		for (unsigned i = 0; i < rt.nscheds; i++)
			if (unpark(&rt.scheds[i], PARK_WOKEN))
				return;
	}
	atomic_fetch_sub(&rt.nspinning, 1);
}

static bool should_end(void)
{
	return atomic_load(&rt.stop);
}

/* lwp_main's end: no process left.  Looked at by a scheduler that finds
 * nothing to run, as the scheduler of the last exit always does next; not
 * at every exit, nor while spinning: proc_live reads every scheduler's
 * counters. */
static void end_if_empty(void)
{
	if (rt.until_empty && !load_relaxed(&rt.stop) && proc_live() == 0) {
		atomic_store(&rt.stop, true);
		sched_kick_all();
	}
}

/* Anything for s to do other than running processes? */
static bool idle_interrupted(struct sched *s)
{
	return should_end() || timer_next(&s->timers) <= timer_now();
}

/* One look at every place work for s may be; other schedulers' queues
 * only if may_steal. */
static struct proc *find_work(struct sched *s, bool may_steal)
{
	struct proc *p = take_remote(s);

	if (!p)
		p = take_global(s);
	if (!p && may_steal) { /* finds no victim with one scheduler */
		p = steal_work(s);
		if (p)
			s->stolen_at = timer_now();
	}
	return p;
}

/* Called as s goes idle: if what it last stole ran out at once, wait
 * longer before the next steal (doubling, up to a bound), so that a loop
 * spawning tiny processes keeps them on its own core; work that lasted
 * resets the wait. */
static void pace_stealing(struct sched *s)
{
	int64_t b = s->steal_backoff;

	if (!s->stolen_at)
		return;
	if (timer_now() - s->stolen_at >= SCHED_STEAL_WORTH_NS)
		b = 0;
	else
		b = b ? 2 * b : SCHED_STEAL_BACKOFF_MIN_NS;
	s->steal_backoff =
		b < SCHED_STEAL_BACKOFF_MAX_NS ? b : SCHED_STEAL_BACKOFF_MAX_NS;
	s->stolen_at = 0;
}

/* Look for work for a while (SCHED_SPIN_NS), as one of rt.nspinning. */
static struct proc *spin(struct sched *s)
{
	int64_t now = timer_now();
	int64_t until = now + SCHED_SPIN_NS;
	int64_t steal_from = now + s->steal_backoff;
	bool hungry = false;
	struct proc *p = NULL;

	do {
		if (!hungry && now >= steal_from) {
			hungry = true; /* ask busy schedulers for work */
			atomic_fetch_add_explicit(&rt.nhungry, 1,
						  memory_order_relaxed);
		}
		for (int i = 0; i < 32 && !p; i++) {
			cpu_relax();
			p = find_work(s, hungry);
		}
		if (p || idle_interrupted(s))
			break;
		/* Let a thread that shares this core run meanwhile: a host
		 * thread sending to us, or another program. */
		sched_yield();
		now = timer_now();
	} while (now < until);
	if (hungry)
		atomic_fetch_sub_explicit(&rt.nhungry, 1, memory_order_relaxed);
	return p;
}

static void park_wait(struct sched *s)
{
	int64_t next = timer_next(&s->timers);
	struct timespec ts, *tmo = NULL;

	if (next != TIMER_NEVER) {
		int64_t d = next - timer_now();
		if (d <= 0)
			return;
		ts.tv_sec = d / 1000000000;
		ts.tv_nsec = d % 1000000000;
		tmo = &ts;
	}
	syscall(SYS_futex, &s->park, FUTEX_WAIT_PRIVATE, PARK_SLEEPING, tmo,
		NULL, 0);
}

/*
 * Leave the spinners and sleep until woken or the next timer is due.  The
 * order is what makes wakeups reliable (Dekker, all seq_cst): announce
 * PARK_SLEEPING, leave rt.nspinning, then look everywhere once more.  A
 * waker publishes its work, then reads nspinning and park: either it sees
 * us asleep (and wakes us) or still spinning (and we see its work).
 * Returns true if woken as a spinner (counted in nspinning again); *out is
 * any work found on the way.
 */
static bool park(struct sched *s, struct proc **out)
{
	atomic_store(&s->park, PARK_SLEEPING);
	atomic_fetch_sub(&rt.nspinning, 1);
	/* The last look reads some queues relaxed (the remote list's and the
	 * rings' emptiness tests); the fence puts them after the two stores
	 * above in the Dekker pairing, on every architecture. */
	atomic_thread_fence(memory_order_seq_cst);
	*out = find_work(s, true);
	if (!*out && !idle_interrupted(s)) {
		stack_trim(); /* the burst that freed them is over */
		stats_park(s);
		park_wait(s);
		stats_unpark(s, atomic_load(&s->park) != PARK_SLEEPING);
	}
	return atomic_exchange(&s->park, PARK_AWAKE) == PARK_WOKEN;
}

/* The last spinner to find work wakes another, in case there is more
 * (Go's resetspinning). */
static void stop_spinning(struct sched *s, struct proc *found)
{
	if (atomic_fetch_sub(&rt.nspinning, 1) == 1 && found)
		wake_spinner(s);
}

/* Nothing runnable here: spin, steal, park.  Returns work, or NULL when
 * the loop should look at timers and stop requests. */
static struct proc *idle(struct sched *s)
{
	struct proc *p;

	pace_stealing(s);
	s->idled = true;
	atomic_fetch_add(&rt.nidle, 1);
	atomic_fetch_add(&rt.nspinning, 1);
	for (;;) {
		p = spin(s);
		if (p || idle_interrupted(s))
			break;
		if (!park(s, &p)) {
			atomic_fetch_sub(&rt.nidle, 1);
			return p;
		}
		if (p)
			break;
	}
	atomic_fetch_sub(&rt.nidle, 1);
	stop_spinning(s, p);
	return p;
}

/* ---- making processes runnable ------------------------------------------ */

/* p is pinned to another scheduler (or the caller is not a scheduler):
 * queue it at home, and wake home if it sleeps. */
static void ready_remote(struct proc *p)
{
	struct sched *home = &rt.scheds[p->home];

	runq_remote_push(&home->remote, p); /* seq_cst: see park() */
	unpark(home, PARK_AWAKE);
}

static void ready_foreign(struct proc *p)
{
	procq_push(&rt.global, p, p, 1); /* seq_cst: see park() */
	wake_spinner(NULL);
}

/* p may run anywhere: let idle schedulers steal it. */
static void ready_shared(struct sched *s, struct proc *p)
{
	runq_push(&s->runq, p, &rt.global);
	wake_spinner(s);
}

/* Thieves steal only from rings: while one is looking and s's ring is
 * empty, move the best work to offer there (runq.h).  rt.nhungry is a
 * hint, read and written relaxed: an offer missed or made in vain costs
 * balance, never work, since nothing is published through the count
 * (the offered process is, by the ring's release of tail), and whatever
 * s keeps it runs itself. */
static void offer_work(struct sched *s)
{
	struct proc *p;

	if (load_relaxed(&rt.nhungry) && runq_ring_empty(&s->runq) &&
	    (p = runq_take_offer(&s->runq)))
		ready_shared(s, p);
}

/* Back into s's queue after running on s: private, where taking it back
 * costs no atomic instruction; offer_work hands it to idle schedulers. */
static void requeue(struct sched *s, struct proc *p)
{
	runq_push_private(&s->runq, p);
}

/* Not to be run on s: NULL s (a foreign thread) or pinned elsewhere. */
static bool ready_elsewhere(struct sched *s, struct proc *p)
{
	if (p->home >= 0 && (!s || (int)s->id != p->home)) {
		ready_remote(p);
		return true;
	}
	if (!s) {
		ready_foreign(p);
		return true;
	}
	return false;
}

void sched_ready_next(struct sched *s, struct proc *p)
{
	if (ready_elsewhere(s, p))
		return;
	if (s->runnext)
		requeue(s, s->runnext);
	s->runnext = p;
	prefetch_ctx(p);
}

void sched_ready(struct sched *s, struct proc *p)
{
	if (ready_elsewhere(s, p))
		return;
	if (p->home >= 0)
		runq_push_private(&s->runq, p);
	else
		ready_shared(s, p);
}

void sched_ready_new(struct sched *s, struct proc *p)
{
	if (ready_elsewhere(s, p))
		return;
	/* Pinned processes stay off the spawn deque: it offers its oldest
	 * to thieves. */
	if (p->home < 0 && runq_push_spawned(&s->runq, p))
		offer_work(s);
	else
		runq_push_private(&s->runq, p);
}

/* ---- switching ---------------------------------------------------------- */

/* finish_switch's rarer cases. */
static noinline void finish_rare(struct sched *s, struct proc *prev)
{
	switch (load_relaxed(&prev->after)) {
	case AFTER_EXPIRE:
		/* Like Go's Gosched: older work that overflowed to the
		 * global queue runs first.  Otherwise a process that spawns
		 * in a loop always finds its children in the global queue
		 * behind it, and they pile up there unrun. */
		if (prev->home >= 0 || procq_empty(&rt.global))
			requeue(s, prev);
		else
			procq_push(&rt.global, prev, prev, 1);
		break;
	case AFTER_PREEMPT:
		runq_push_preempted(&s->runq, prev);
		break;
	case AFTER_EXIT:
		proc_reap(prev);
		break;
	default:
		break;
	}
}

static noinline void fire_due_timers(struct sched *s)
{
	s->timers_due = false;
	timer_run(&s->timers, timer_now());
}

/* What the process that switched out asked for. */
static always_inline void finish_prev(struct sched *s, struct proc *prev)
{
	uint8_t after = load_relaxed(&prev->after);

	if (after == AFTER_YIELD)
		requeue(s, prev);
	else if (after == AFTER_BLOCK) {
		if (!mailbox_block(&prev->mbox))
			requeue(s, prev);
	} else {
		finish_rare(s, prev);
	}
}

/* Run on the context we switched to: finish what `prev` asked for, then
 * fire the timers a poll found (see poll()). */
static always_inline void finish_switch(struct sched *s, struct proc *prev)
{
	if (prev)
		finish_prev(s, prev);
	if (unlikely(s->timers_due))
		fire_due_timers(s);
}

/* The caller, p, running on s, switches to next (NULL: the loop); `after`
 * says what becomes of p.  Returns when p runs again, and where. */
static always_inline struct sched *switch_to(struct sched *s, struct proc *p,
					     struct proc *next,
					     enum proc_after after)
{
	/* errno lives in TLS too, and glibc declares __errno_location()
	 * const, so a compiler may reuse its result across a switch.  Each
	 * scheduler finds its thread's errno once; a process keeps its errno
	 * here, on its own stack, and restores it through the scheduler it
	 * resumes on. */
	int saved_errno = *s->errno_loc;

	store_relaxed(&p->after, after);
	/* Only its scheduler writes the count: no locked add needed. */
	stats_count(&p->switches);
	set_current(s, next);
	store_relaxed(&p->resched, false); /* it gives way now */
	TRACE(switch, s, p, next, after);
	struct proc *prev =
		ctx_switch(s, &p->ctx, next, p, after == AFTER_EXIT);
	/* Possibly another thread now; whoever resumed us set current. */
	s = sched_self();
	mark_running(s, p);
	finish_switch(s, prev);
	*s->errno_loc = saved_errno;
	return s;
}

static struct sched *switch_out(struct sched *s, struct proc *p,
				enum proc_after after)
{
	return switch_to(s, p, pick(s), after);
}

void sched_enter(void *prev)
{
	struct sched *s = sched_self();

#if LWP_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	finish_switch(s, prev);
	struct proc *p = s->current;
	mark_running(s, p);
	errno = 0;
	preempt_enable(p); /* raised at spawn: see preempt.h */
	p->fn(p->arg);
	proc_exit(p, &(lwp_reason){ .code = LWP_EXIT_NORMAL }, false);
}

void sched_make(struct proc *p)
{
	/* Stack tops all sit at the same offset in a page, so the first
	 * frames of many processes compete for the same cache sets; colour
	 * them by slot, within the top page (idle processes touch one). */
	char *top = (char *)stack_top(&p->stack) - (p->index % 16) * 64;

#if LWP_ASAN
	/* A reused stack still carries the redzones its last process's
	 * frames poisoned: that process left them by switching away for
	 * good, never returning through them. */
	__asan_unpoison_memory_region(p->stack.lo, p->stack.size);
#endif
	arch_make(&p->ctx, top, sched_enter);
}

/* Fire due timers now, not only at the next poll: a process that keeps
 * yielding with nothing else queued would otherwise starve a sleeper. */
static void run_due_timers(struct sched *s)
{
	if (load_relaxed(&s->timers.count))
		timer_run(&s->timers, timer_now());
}

/* The caller, p, running on s, gives up the processor but stays runnable
 * (after: AFTER_YIELD or AFTER_PREEMPT).  False, at once, if there is
 * nothing else to run. */
static always_inline bool relinquish(struct sched *s, struct proc *p,
				     enum proc_after after)
{
	struct proc *next = pick(s);

	if (!next && !load_relaxed(&rt.stop)) {
		run_due_timers(s);
		next = pick(s);
		if (!next)
			return false;
	}
	switch_to(s, p, next, after);
	return true;
}

bool sched_preempt(struct sched *s, struct proc *p)
{
	/* A preempted process ran until now (take_starved_preempted). */
	s->preempted_at = timer_now();
	/* The watchdog may have come for a due timer: fire it before
	 * picking, so that what it wakes runs next. */
	run_due_timers(s);
	offer_work(s); /* idle schedulers waited for this process to call in */
	if (relinquish(s, p, AFTER_PREEMPT))
		return true;
	set_current(s, p); /* alone here: tell the watchdog a slice begins */
	return false;
}

void sched_yield_now(struct sched *s, struct proc *p)
{
	(void)relinquish(s, p, AFTER_YIELD);
}

struct sched *sched_budget_spent(struct sched *s, struct proc *p)
{
	/* Give the queue a turn: what we woke goes behind it. */
	if (s->runnext) {
		requeue(s, s->runnext);
		s->runnext = NULL;
	}
	s->budget = SCHED_BUDGET;
	run_due_timers(s);
	if (!runq_empty(&s->runq) || !runq_remote_empty(&s->remote) ||
	    !procq_empty(&rt.global))
		s = switch_out(s, p, AFTER_EXPIRE);
	failure_poll(p);
	return s;
}

/* Timer callback: a wait's deadline passed.  It may run on the scheduler
 * that armed the timer after the process, woken by a message meanwhile,
 * has moved on, even into its next wait: a spurious wakeup, which every
 * wait re-checks. */
void sched_wait_expired(struct timer *t)
{
	struct proc *p = container_of(t, struct proc, timer);

	if (mailbox_unblock(&p->mbox)) {
		TRACE(timer, sched_self(), pid_of(p), 0);
		sched_ready(sched_self(), p);
	}
}

int sched_block(struct sched **on, struct proc *p, int64_t deadline)
{
	struct sched *s = *on;

	/* Armed before switching out: this heap is fired only by this
	 * thread, and never inside a switch (poll()), so not before the
	 * process is blocked. */
	if (deadline != TIMER_NEVER) {
		int err = timer_arm(&s->timers, &p->timer, deadline);
		if (err)
			return err;
	}
	*on = switch_out(s, p, AFTER_BLOCK);
	if (deadline != TIMER_NEVER)
		timer_cancel(&p->timer);
	return 0;
}

_Noreturn void sched_exit(struct proc *p)
{
	switch_out(sched_self(), p, AFTER_EXIT);
	__builtin_unreachable();
}

/* ---- the loop ------------------------------------------------------------ */

/* The loop runs p; returns when a process switches back to the loop
 * (switch_to has then cleared s->current).  The first run after the loop
 * went idle may find the watchdog asleep (it sleeps only after a slice in
 * which no scheduler ran anything): that run wakes it. */
static void run(struct sched *s, struct proc *p)
{
	if (unlikely(s->idled)) {
		s->idled = false;
		atomic_exchange(&s->run_seq, next_run_seq(s, p));
		s->current = p;
		preempt_watch();
	} else {
		set_current(s, p);
	}
	TRACE(switch, s, NULL, p, AFTER_NONE);
	struct proc *prev = ctx_switch(s, &s->ctx, p, NULL, false);
	finish_switch(s, prev);
}

static void loop(struct sched *s)
{
	for (;;) {
		struct proc *p = pick(s);

		if (!p) {
			end_if_empty();
			if (should_end())
				return;
			run_due_timers(s);
			p = pick(s);
		}
		if (!p) {
			stats_idle(s, true);
			p = idle(s);
			stats_idle(s, false);
		}
		if (p)
			run(s, p);
	}
}

static void sanitizer_thread_start(struct sched *s)
{
#if LWP_TSAN
	s->tsan_fiber = __tsan_get_current_fiber();
#endif
#if LWP_ASAN
	pthread_attr_t a;
	void *addr;
	size_t size;
	pthread_getattr_np(pthread_self(), &a);
	pthread_attr_getstack(&a, &addr, &size);
	pthread_attr_destroy(&a);
	s->asan_bottom = addr;
	s->asan_size = size;
#endif
	(void)s;
}

int sched_run(struct sched *s)
{
	int err = fault_thread_start();

	if (err)
		return err;
	sanitizer_thread_start(s);
	s->errno_loc = &errno;
	s->rand = 0x9e3779b97f4a7c15ull * (s->id + 1);
	this_sched = s;
	preempt_thread_start(s);
	stats_sched_start(s);
	loop(s);
	this_sched = NULL;
	fault_thread_stop();
	return 0;
}

/* ---- the public scheduling API ----------------------------------------- */

int lwp_yield(void)
{
	struct sched *s = sched_self();
	struct proc *p = s ? s->current : NULL;

	if (!p)
		return LWP_ENOTPROC;
	preempt_disable(p);
	(void)relinquish(s, p, AFTER_YIELD);
	failure_poll(p);
	preempt_enable(p);
	return 0;
}

int lwp_sleep(int64_t ns)
{
	struct sched *s = sched_self();
	struct proc *p = sched_caller(s);
	int64_t deadline;
	int err = 0;

	if (!p)
		return LWP_ENOTPROC;
	if (ns < 0)
		return LWP_EINVAL;
	if (ns == 0)
		return lwp_yield();
	deadline = timer_deadline(ns);
	preempt_disable(p);
	/* Messages that arrive meanwhile move to the save queue, so the
	 * inbox stays empty and the process can block. */
	while (timer_now() < deadline && !err) {
		mailbox_drain(&p->mbox, p->pid);
		failure_act(p);
		err = sched_block(&s, p, deadline);
	}
	preempt_enable(p);
	return err;
}
