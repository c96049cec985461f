/*
 * fault.c - see fault.h.
 *
 * Ending the process from inside the handler: proc_exit() switches away
 * from the handler's frame on the alternate stack and never comes back,
 * which is safe because the kernel decides whether a thread is "on" its
 * alternate stack from the stack pointer alone.  SA_NODEFER leaves the
 * signal unblocked for the next process.  Code that faults inside the C
 * library, the allocator or the runtime may hold a lock that would never
 * be released; like a crash in an Erlang NIF, that cannot be repaired from
 * outside, so only faults in the program's own code are isolated, and a
 * stack overflow (which may happen anywhere) is the one exception
 * docs/DESIGN.md owns up to.
 */
#include "fault.h"

#include <execinfo.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "fdio.h"
#include "info.h"
#include "lwp.h"
#include "preempt.h"
#include "proc.h"
#include "registry.h"
#include "runtime.h"
#include "sched.h"
#include "trace.h"
#include "unwind.h"

static const int fault_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };

/* Processes in a crash report's table (each with its backtrace): a
 * million would bury the rest. */
#define CRASH_DUMP_MAX 1000
#define CRASH_FRAMES   64
static struct sigaction host_action[ARRAY_SIZE(fault_signals)];

static __thread stack_t alt_stack, host_alt_stack;

/* The largest signal frame the kernel may push, for this CPU's state:
 * AT_MINSIGSTKSZ through sysconf, which falls back to the architecture's
 * constant where the auxiliary vector lacks it (qemu-user). */
static size_t frame_max;

static void pass_on(int sig, siginfo_t *si, void *uc)
{
	for (size_t i = 0; i < ARRAY_SIZE(fault_signals); i++) {
		if (fault_signals[i] != sig)
			continue;
		const struct sigaction *h = &host_action[i];
		if ((h->sa_flags & SA_SIGINFO) && h->sa_sigaction)
			return h->sa_sigaction(sig, si, uc);
		if (h->sa_handler != SIG_DFL && h->sa_handler != SIG_IGN)
			return h->sa_handler(sig);
	}
	/* The default action.  A fault comes again when the faulting
	 * instruction re-runs on return; a signal that was sent (kill,
	 * raise: si_code <= 0) would be lost, so it is raised again. */
	trace_crash();
	signal(sig, SIG_DFL);
	if (si->si_code <= 0)
		raise(sig);
}

/* Did p overflow its stack?  Either an access hit the guard, or the
 * kernel found no room on the stack for a signal frame (the preemption
 * signal's, most likely) and sent SIGSEGV instead (SI_KERNEL), with the
 * stack pointer within a frame's size of the guard. */
static bool overflowed(const struct proc *p, const siginfo_t *si,
		       const ucontext_t *uc)
{
	uintptr_t sp = arch_uc_sp(uc), lo = (uintptr_t)p->stack.lo;

	if (stack_in_guard(&p->stack, si->si_addr))
		return true;
	return si->si_code == SI_KERNEL &&
	       (stack_in_guard(&p->stack, (void *)sp) ||
		(sp >= lo && sp - lo < frame_max));
}

/* Did this thread fault by itself?  The kernel's faults carry a positive
 * code; abort() and raise() signal their own thread (SI_TKILL).  A signal
 * sent from outside is not a fault of whatever happened to run. */
static bool self_inflicted(int sig, const siginfo_t *si)
{
	if (sig == SIGABRT)
		return si->si_code == SI_TKILL && si->si_pid == getpid();
	return si->si_code > 0;
}

/* May the fault end only p?  Only if p was in its own code: a fault in the
 * runtime (preempt count raised), in a lwp_preempt_disable() region, or in
 * libc or the allocator may hold a lock.  abort() is the exception: glibc
 * releases its lock before it raises SIGABRT, from a libc frame. */
static bool isolatable(const struct proc *p, int sig, const ucontext_t *uc)
{
	return rt.isolate_faults && p->preempt_off == 0 &&
	       (sig == SIGABRT || preempt_user_code(arch_uc_pc(uc)));
}

static _Noreturn void end_isolated(struct proc *p, int sig, const siginfo_t *si)
{
	lwp_reason r = { .code = LWP_EXIT_FAULT };

	if (sig == SIGABRT)
		snprintf(r.text, sizeof(r.text), "SIGABRT (abort)");
	else
		snprintf(r.text, sizeof(r.text), "SIG%s at %p",
			 sigabbrev_np(sig), si->si_addr);
	proc_exit(p, &r, true);
}

static void say(const char *text)
{
	(void)write_all(STDERR_FILENO, text, strlen(text));
}

/* now as "21-Nov-2026::11:33:34 UTC", by arithmetic: glibc's gmtime_r
 * takes the time zone's lock (in __tz_convert) as localtime_r does, and
 * the crash may have come while it was held.  Days to a civil date as in
 * Hinnant's days_from_civil, backwards. */
static void utc_text(time_t now, char *buf, size_t len)
{
	static const char month[12][4] = { "Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec" };
	long long secs = (long long)now, days = secs / 86400,
		  sod = secs % 86400;
	long long z = days + 719468, era, doe, yoe, doy, mp, y;
	int d, m;

	if (sod < 0)
		sod += 86400, z--;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (int)(doy - (153 * mp + 2) / 5 + 1);
	m = (int)(mp < 10 ? mp + 3 : mp - 9);
	y = yoe + era * 400 + (m <= 2);
	snprintf(buf, len, "%02d-%s-%04lld::%02lld:%02lld:%02lld UTC", d,
		 month[m - 1], y, sod / 3600, sod / 60 % 60, sod % 60);
}

/* The report's first lines: when, what, and in whom. */
static void report_head(int sig, const siginfo_t *si, const ucontext_t *uc,
			struct proc *p, const struct sched *s)
{
	char line[512], when[64], name[LWP_NAME_MAX + 1];

	utc_text(time(NULL), when, sizeof(when));
	snprintf(line, sizeof(line),
		 "=CRASH REPORT==== %s ===\nlwp: SIG%s (address %p, pc %#lx) ",
		 when, sigabbrev_np(sig), si->si_addr,
		 (unsigned long)arch_uc_pc(uc));
	say(line);
	if (p) {
		bool named = registry_name_peek(p, name);
		snprintf(line, sizeof(line),
			 "in process %s%s%s%s on scheduler %u\n",
			 lwp_pid_str(atomic_load(&p->pid)).s,
			 named ? " (registered as '" : "", named ? name : "",
			 named ? "')" : "", s->id);
	} else {
		snprintf(line, sizeof(line),
			 "in scheduler %u, outside any process\n", s->id);
	}
	say(line);
}

/* Print what a reader of the core dump needs first, then let the host's
 * handler or the signal's default action end the program. */
static void crash_report(int sig, const siginfo_t *si, const ucontext_t *uc,
			 struct proc *p, const struct sched *s)
{
	void *frames[CRASH_FRAMES];
	int n;

	report_head(sig, si, uc, p, s);
	say("backtrace:\n");
	n = backtrace(frames, CRASH_FRAMES);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	say("processes:\n");
	(void)info_dump(STDERR_FILENO, CRASH_DUMP_MAX, true, NULL);
	say("lwp: aborting\n");
}

static void on_fault(int sig, siginfo_t *si, void *ucv)
{
	static _Atomic bool crashing;
	const ucontext_t *uc = ucv;
	struct sched *s = sched_self();
	struct proc *p = s ? s->current : NULL;

	unwind_recover(sig, si); /* a backtrace's walk faulted: end it */
	if (!s || !self_inflicted(sig, si))
		return pass_on(sig, si, ucv); /* not a scheduler's fault */
	if (p && (sig == SIGSEGV || sig == SIGBUS) && overflowed(p, si, uc)) {
		static const lwp_reason overflow = {
			.code = LWP_EXIT_STACK_OVERFLOW
		};
		proc_exit(p, &overflow, true);
	}
	if (p && isolatable(p, sig, uc))
		end_isolated(p, sig, si);
	/* One report: a second thread to crash waits for the first to end
	 * the program. */
	if (atomic_exchange(&crashing, true))
		for (;;)
			pause();
	crash_report(sig, si, uc, p, s);
	trace_crash(); /* the flight recorder's last events */
	/* Whatever happens next (the host's handler aborts, the fault
	 * recurs) is the host's business. */
	fault_stop();
	pass_on(sig, si, ucv);
}

bool fault_reserved(int signo)
{
	return signo < 1 || signo > SIGRTMAX || signo == SIGKILL ||
	       signo == SIGSTOP || signo == SIGSEGV || signo == SIGBUS ||
	       signo == SIGILL || signo == SIGFPE || signo == SIGTRAP ||
	       signo == SIGABRT || signo == SIGSYS ||
	       (signo >= 32 && signo < SIGRTMIN);
}

int fault_start(void)
{
	struct sigaction sa;
	long min = sysconf(_SC_MINSIGSTKSZ);

	void *warm;

	frame_max = min > 0 ? (size_t)min : MINSIGSTKSZ;
	/* backtrace() loads the unwinder at its first call, which allocates:
	 * do that now, not in a crash that may hold the allocator's lock. */
	(void)backtrace(&warm, 1);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(fault_signals); i++)
		if (sigaction(fault_signals[i], &sa, &host_action[i]) != 0)
			return LWP_ESYS;
	return 0;
}

void fault_stop(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(fault_signals); i++)
		sigaction(fault_signals[i], &host_action[i], NULL);
}

int fault_thread_start(void)
{
	/* Room for the kernel's signal frame (AT_MINSIGSTKSZ grows with the
	 * vector state: AVX-512, SVE) and for proc_exit's own frames. */
	size_t size = frame_max + 64 * 1024;
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

	if (m == MAP_FAILED)
		return LWP_ENOMEM;
	/* Pre-fault it: a fault while the kernel writes a signal frame onto
	 * a fresh stack has corrupted vector state before (Go #35777). */
	memset(m, 0, size);
	alt_stack = (stack_t){ .ss_sp = m, .ss_size = size };
	if (sigaltstack(&alt_stack, &host_alt_stack) != 0) {
		munmap(m, size);
		return LWP_ESYS;
	}
	return 0;
}

void fault_thread_stop(void)
{
	sigaltstack(&host_alt_stack, NULL);
	munmap(alt_stack.ss_sp, alt_stack.ss_size);
}
