/*
 * preempt.c - see preempt.h.
 *
 * Why switch inside the handler, on the process's own stack, rather than
 * copy the ucontext into the process and rewrite it: the kernel has already
 * saved exactly the state that must survive, in a layout only it knows
 * (XSAVE areas of whatever size the CPU needs, AVX-512 included; SVE and
 * the other arm64 records), and sigreturn restores it.  Nothing here reads
 * or copies that layout.  The price: the frame (up to AT_MINSIGSTKSZ bytes)
 * stays on the process's stack while it is preempted, and the handler
 * cannot use SA_ONSTACK (one alternate stack per thread cannot hold a frame
 * per suspended process).
 *
 * The signal stays blocked while the handler runs (no SA_NODEFER) until it
 * has raised the process's preempt count, and the handler unblocks it only
 * when it is about to switch, so that the next process stays preemptible.
 * A signal landing in the handler before that would find the count still
 * zero and the PC in the handler, which is user code when liblwp is linked
 * statically, and would preempt a process whose outer frame may lie inside
 * the allocator holding its lock: the process dump of a hang under qemu
 * showed exactly that, two frames deep in jemalloc's mutex.  sigreturn
 * later restores the preempted process's own mask.
 */
#include "preempt.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "failure.h"
#include "fault.h"
#include "runtime.h"
#include "sched.h"
#include "timer.h"
#include "trace.h"

/* Stack the scheduler needs below the handler's frame on a preempted
 * process's stack: picking, firing timers, the switch.  Sanitizers' frames
 * are larger. */
#if LWP_ASAN
#define PREEMPT_STACK_ROOM (16 * 1024)
#else
#define PREEMPT_STACK_ROOM (4 * 1024)
#endif

/* How long a process may run on while other work waits on its scheduler
 * (a due timer, a pinned process woken from elsewhere) before the watchdog
 * preempts it: long enough not to preempt a process that is about to
 * block anyway, short against a timeslice. */
#define PREEMPT_WAKE_GRACE_NS 50000

/* A scheduler thread whose CPU time grew by less than this fraction of
 * the time it was watched is taken to be blocked in a system call, and is
 * not signalled (preempt.h).  Small, so that a thread sharing its core with
 * others still counts as running. */
#define PREEMPT_BLOCKED_SHARE 8

/* ---- where a process may be preempted: user code ------------------------ */

#define TEXT_RANGES_MAX 64

struct text_range {
	uintptr_t lo, hi;
};

/* Append-only, and kept across runs (lwp_preempt_allow may come before
 * lwp_main): the handler reads the entries below n without a lock, after
 * an acquire load of n; writers hold the lock. */
static struct {
	pthread_mutex_t lock;
	struct text_range r[TEXT_RANGES_MAX];
	_Atomic unsigned n;
} text = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool user_code(uintptr_t pc)
{
	unsigned n = atomic_load_explicit(&text.n, memory_order_acquire);

	for (unsigned i = 0; i < n; i++)
		if (pc >= text.r[i].lo && pc < text.r[i].hi)
			return true;
	return false;
}

/* Under text.lock. */
static int add_range(uintptr_t lo, uintptr_t hi)
{
	unsigned n = load_relaxed(&text.n);

	for (unsigned i = 0; i < n; i++)
		if (text.r[i].lo == lo && text.r[i].hi == hi)
			return 0;
	if (n == TEXT_RANGES_MAX)
		return LWP_ENOMEM;
	text.r[n] = (struct text_range){ lo, hi };
	/* Release: a handler that sees the count sees the entry. */
	atomic_store_explicit(&text.n, n + 1, memory_order_release);
	return 0;
}

static bool object_holds(const struct dl_phdr_info *o, uintptr_t addr)
{
	for (int i = 0; i < o->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &o->dlpi_phdr[i];
		uintptr_t lo = o->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && addr >= lo &&
		    addr - lo < ph->p_memsz)
			return true;
	}
	return false;
}

/* Under text.lock: register o's executable segments. */
static int add_object(const struct dl_phdr_info *o)
{
	int err = 0;

	for (int i = 0; i < o->dlpi_phnum && !err; i++) {
		const ElfW(Phdr) *ph = &o->dlpi_phdr[i];
		uintptr_t lo = o->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X))
			err = add_range(lo, lo + ph->p_memsz);
	}
	return err;
}

/* A walk over the loaded objects (dl_iterate_phdr), the program first. */
struct object_walk {
	uintptr_t addr; /* the object wanted; 0: the program itself */
	bool add;	/* register its code as user code */
	unsigned seen;
	bool found, in_program;
	int err;
};

static int visit(struct dl_phdr_info *o, size_t size, void *arg)
{
	struct object_walk *w = arg;
	bool program = w->seen++ == 0;

	(void)size;
	if (w->found || !(w->addr ? object_holds(o, w->addr) : program))
		return 0;
	w->found = true;
	w->in_program = program;
	/* The runtime's own code never is user code; linked statically, it
	 * is part of the program, and its preempt count covers it. */
	if (!program && object_holds(o, (uintptr_t)&lwp_preempt_allow))
		w->err = LWP_EINVAL;
	else if (w->add)
		w->err = add_object(o);
	return 0;
}

static int walk_objects(struct object_walk *w)
{
	pthread_mutex_lock(&text.lock);
	dl_iterate_phdr(visit, w);
	pthread_mutex_unlock(&text.lock);
	return w->found ? w->err : LWP_EINVAL;
}

int lwp_preempt_allow(const void *code)
{
	struct object_walk w = { .addr = (uintptr_t)code, .add = true };

	return code ? walk_objects(&w) : LWP_EINVAL;
}

/* ---- the signal --------------------------------------------------------- */

static struct {
	int signo;	       /* the preemption signal, while started */
	sigset_t set;	       /* just signo */
	pid_t pid;	       /* ours: only tgkill from us preempts */
	bool async;	       /* signals are sent (preempt_start) */
	struct sigaction host; /* the disposition we replaced */
} sig;

static bool ignored_by_default(int signo)
{
	return signo == SIGURG || signo == SIGCHLD || signo == SIGWINCH ||
	       signo == SIGCONT;
}

/* A signal that is not a preemption: what the host program asked for. */
static void chain(int signo, siginfo_t *si, void *uc)
{
	const struct sigaction *h = &sig.host;

	if (h->sa_flags & SA_SIGINFO) {
		if (h->sa_sigaction)
			h->sa_sigaction(signo, si, uc);
	} else if (h->sa_handler == SIG_DFL) {
		if (!ignored_by_default(signo)) { /* its default action */
			signal(signo, SIG_DFL);
			raise(signo);
		}
	} else if (h->sa_handler != SIG_IGN) {
		h->sa_handler(signo);
	}
}

static bool may_preempt(const struct proc *p, const ucontext_t *uc)
{
	uintptr_t sp = arch_uc_sp(uc);
	uintptr_t lo = (uintptr_t)p->stack.lo;
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);

	return p->preempt_off == 0 && user_code(arch_uc_pc(uc)) && sp > lo &&
	       sp <= (uintptr_t)stack_top(&p->stack) &&
	       here - lo >= PREEMPT_STACK_ROOM;
}

static void count(_Atomic uint64_t *c)
{
	store_relaxed(c, load_relaxed(c) + 1); /* owner only */
}

/* Ours: the watchdog's signal to s, sent for the run `run`. */
static void preempt(struct sched *s, uint64_t run, const ucontext_t *uc)
{
	struct proc *p = s->current;
	int64_t since;

	/* s switched since the watchdog looked (to the loop, or to another
	 * process, whose slice has only begun): the request is stale.  Only
	 * this thread writes run_seq, before current (sched.c), so p is
	 * NULL or the process that was leaving if the switch is under way. */
	if (run != load_relaxed(&s->run_seq) || !p) {
		store_relaxed(&s->preempt_for, 0);
		return;
	}
	since = timer_now();
	if (!may_preempt(p, uc)) {
		store_relaxed(&p->resched, true);
		store_relaxed(&s->preempt_for, 0);
		count(&s->preempt.deferred);
		stats_deferred(s, p);
		stats_signal(s, since);
		return;
	}
	/* Raised before the signal is unblocked and the watchdog may send
	 * it again (preempt_for is what it waits on), so a signal inside
	 * what follows defers. */
	p->preempt_off = 1;
	atomic_signal_fence(memory_order_seq_cst);
	store_relaxed(&s->preempt_for, 0);
	pthread_sigmask(SIG_UNBLOCK, &sig.set, NULL);
	stats_signal(s, since);
	if (sched_preempt(s, p)) /* back on s: preempted processes stay */
		count(&s->preempt.done);
	else
		count(&s->stats.resumed);
	/* A safe point: how a process that never calls the runtime hears
	 * an exit signal.  Dying here leaves the signal frame behind, as
	 * the fault handler does. */
	failure_poll(p);
	atomic_signal_fence(memory_order_seq_cst);
	p->preempt_off = 0;
}

static void on_signal(int signo, siginfo_t *si, void *uc)
{
	struct sched *s = sched_self();
	uint64_t run = s ? load_relaxed(&s->preempt_for) : 0;
	int saved = errno;

	if (run && si->si_code == SI_TKILL && si->si_pid == sig.pid)
		preempt(s, run, uc);
	else
		chain(signo, si, uc);
	errno = saved;
}

void preempt_resched(struct proc *p)
{
	store_relaxed(&p->resched, false);
	p->preempt_off = 1;
	sched_yield_now(sched_self(), p);
	p->preempt_off = 0;
}

/* ---- the watchdog ------------------------------------------------------- */

/* The watchdog's view of one scheduler. */
struct watch {
	uint64_t seq;  /* its run_seq when last looked at */
	int64_t since; /* when that run_seq was first seen */
	int64_t cpu;   /* its thread's CPU time then */
};

_Atomic bool preempt_watchdog_idle;

static struct {
	pthread_t thread;
	int64_t slice, tick;
	_Atomic uint32_t kicks; /* futex word: bumped to wake the watchdog */
	_Atomic bool quit;
	struct watch *w;
} wd;

static void kick(void)
{
	atomic_fetch_add(&wd.kicks, 1);
	syscall(SYS_futex, &wd.kicks, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void preempt_wake_watchdog(void)
{
	if (atomic_exchange(&preempt_watchdog_idle, false))
		kick();
}

static int64_t thread_cpu(const struct sched *s)
{
	struct timespec ts;

	if (clock_gettime(s->cpu_clock, &ts))
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* When work has been waiting on s since (a timer deadline, 0 for work
 * queued already), or TIMER_NEVER. */
static int64_t waiting_since(struct sched *s)
{
	if (!runq_remote_empty(&s->remote) || !procq_empty(&rt.global))
		return 0;
	return load_relaxed(&s->timers.count) ? timer_next(&s->timers) :
						TIMER_NEVER;
}

/* Signal s to end its run `run` (odd), unless a signal is on its way
 * already (coalesced).  preempt_for publishes nothing: the seq_cst CAS
 * here and the handler's relaxed clear only need to be atomic, and a
 * clear seen late costs one skipped signal, which the next look sends.
 * The run it names lets the handler tell a signal that arrives after the
 * switch it asked for (slow delivery: qemu, a descheduled thread) from
 * one for the process now running, whose slice has just begun. */
static void signal_sched(struct sched *s, uint64_t run)
{
	uint64_t none = 0;

	if (atomic_compare_exchange_strong(&s->preempt_for, &none, run) &&
	    syscall(SYS_tgkill, sig.pid, load_relaxed(&s->tid), sig.signo))
		store_relaxed(&s->preempt_for, 0);
}

/* Look at s: signal it if its process is due.  Returns when to look again
 * (TIMER_NEVER: not until it runs a process). */
static int64_t watch(struct sched *s, struct watch *w, int64_t now)
{
	uint64_t seq = load_relaxed(&s->run_seq);
	int64_t due, wake;

	/* In its loop: look again in a slice if it ran anything since the
	 * last look, else not until it does.  So the watchdog sleeps for good
	 * only after a quiet slice, and a scheduler that goes idle and busy
	 * again and again (ping-pong across threads) does not have to wake it
	 * each time.  Acquire: the thread's tid and CPU clock were stored
	 * before its first odd run_seq. */
	if (!(seq & 1) ||
	    !atomic_load_explicit(&s->tid, memory_order_acquire)) {
		bool quiet = seq == w->seq;
		w->seq = seq;
		return quiet ? TIMER_NEVER : now + wd.slice;
	}
	if (seq != w->seq) {
		w->seq = seq;
		w->since = now;
		w->cpu = thread_cpu(s);
	}
	stats_check_long(s, seq, w->since, now);
	due = w->since + wd.slice;
	wake = waiting_since(s);
	if (wake != TIMER_NEVER) {
		int64_t grace = w->since + PREEMPT_WAKE_GRACE_NS;
		wake = wake > grace ? wake : grace;
		due = wake < due ? wake : due;
	}
	if (due > now)
		return due < now + wd.tick ? due : now + wd.tick;
	/* Blocked in a system call: a signal would only risk an EINTR the
	 * process cannot restart, and preempt nothing. */
	if ((thread_cpu(s) - w->cpu) * PREEMPT_BLOCKED_SHARE >= now - w->since)
		signal_sched(s, seq);
	return now + wd.tick;
}

static int64_t scan(void)
{
	int64_t now = timer_now(), next = TIMER_NEVER;

	for (unsigned i = 0; i < rt.nscheds; i++) {
		int64_t at = watch(&rt.scheds[i], &wd.w[i], now);
		next = at < next ? at : next;
	}
	return next;
}

/* Sleep until `until` (TIMER_NEVER: until kicked), or a kick after the
 * watchdog read `kicks`. */
static void sleep_until(uint32_t kicks, int64_t until)
{
	struct timespec ts, *tmo = NULL;

	if (until != TIMER_NEVER) {
		ts.tv_sec = until / 1000000000;
		ts.tv_nsec = until % 1000000000;
		tmo = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. */
	syscall(SYS_futex, &wd.kicks, FUTEX_WAIT_BITSET_PRIVATE, kicks, tmo,
		NULL, FUTEX_BITSET_MATCH_ANY);
}

static void *watchdog(void *arg)
{
	(void)arg;
	/* Default timer slack (50 us) would blur every deadline. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	pthread_setname_np(pthread_self(), "lwp-watchdog");
	while (!atomic_load(&wd.quit)) {
		uint32_t kicks = atomic_load(&wd.kicks);
		int64_t next = scan();

		if (next == TIMER_NEVER) {
			/* Dekker with preempt_watch(): announce, then look
			 * once more. */
			atomic_store(&preempt_watchdog_idle, true);
			atomic_thread_fence(memory_order_seq_cst);
			next = scan();
			if (next != TIMER_NEVER)
				atomic_store(&preempt_watchdog_idle, false);
		}
		sleep_until(kicks, next);
	}
	return NULL;
}

/* ---- start and stop ----------------------------------------------------- */

int preempt_config(const lwp_config *cfg, int64_t *slice, int *signo)
{
	*slice = cfg && cfg->timeslice_ns ? cfg->timeslice_ns :
					    LWP_TIMESLICE_DEFAULT;
	*signo = cfg && cfg->preempt_signal ? cfg->preempt_signal : SIGURG;
	if (*slice != LWP_INFINITY &&
	    (*slice < LWP_TIMESLICE_MIN || *slice > LWP_TIMESLICE_MAX))
		return LWP_EINVAL;
	if (fault_reserved(*signo))
		return LWP_EINVAL;
	return 0;
}

/* Signals need an allocator and a C library outside the program's text:
 * a fully static program, or one with an allocator linked in (clang's
 * ASan runtime, unless -shared-libasan; a static jemalloc or tcmalloc),
 * has their code among its own, where preemption would break into them.
 * And a sanitizer that delivers signals at once: TSan defers them to its
 * own points, with a context of its own. */
static bool async_possible(void)
{
	struct object_walk program = { .add = true };
	struct object_walk alloc = { .addr = (uintptr_t)dlsym(RTLD_DEFAULT,
							      "malloc") };

	return !LWP_TSAN && walk_objects(&program) == 0 &&
	       walk_objects(&alloc) == 0 && !alloc.in_program;
}

bool preempt_user_code(uintptr_t pc)
{
	return user_code(pc);
}

int preempt_signal_in_use(void)
{
	return sig.async ? sig.signo : 0;
}

int preempt_start(int64_t slice, int signo)
{
	struct object_walk program = { .add = true };
	struct sigaction sa;

	/* The program's code is user code to fault isolation too, with or
	 * without preemption signals. */
	(void)walk_objects(&program);
	sig.async = false;
	if (slice == LWP_INFINITY || !async_possible())
		return 0;
	wd.slice = slice;
	wd.tick = slice / 2;
	wd.w = calloc(rt.nscheds, sizeof(*wd.w));
	if (!wd.w)
		return LWP_ENOMEM;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sig.signo = signo;
	sigemptyset(&sig.set);
	sigaddset(&sig.set, signo);
	sig.pid = getpid();
	atomic_store(&wd.quit, false);
	atomic_store(&preempt_watchdog_idle, false);
	if (sigaction(signo, &sa, &sig.host) != 0)
		goto fail;
	if (pthread_create(&wd.thread, NULL, watchdog, NULL) != 0) {
		sigaction(signo, &sig.host, NULL);
		goto fail;
	}
	sig.async = true;
	return 0;
fail:
	free(wd.w);
	wd.w = NULL;
	return LWP_ESYS;
}

void preempt_stop(void)
{
	if (!sig.async)
		return;
	atomic_store(&wd.quit, true);
	kick();
	pthread_join(wd.thread, NULL);
	/* No signal is sent any more, and one sent before has been taken:
	 * the other scheduler threads are gone, and this one returned from
	 * the kernel since (pthread_join). */
	sigaction(sig.signo, &sig.host, NULL);
	free(wd.w);
	wd.w = NULL;
	sig.async = false;
}

void preempt_thread_start(struct sched *s)
{
	/* Cannot fail for the calling thread. */
	pthread_getcpuclockid(pthread_self(), &s->cpu_clock);
	/* Release: see watch(). */
	atomic_store_explicit(&s->tid, gettid(), memory_order_release);
}

/* ---- the public API ----------------------------------------------------- */

int lwp_preempt_disable(void)
{
	struct proc *p = sched_current();

	if (!p)
		return LWP_ENOTPROC;
	preempt_disable(p);
	return 0;
}

int lwp_preempt_enable(void)
{
	struct proc *p = sched_current();

	if (!p)
		return LWP_ENOTPROC;
	if (p->preempt_off == 0)
		return LWP_EINVAL;
	preempt_enable(p);
	return 0;
}
