/*
 * fault.c - see fault.h.
 *
 * Ending the process from inside the handler: proc_exit() switches away
 * from the handler's frame on the alternate stack and never comes back,
 * which is safe because the kernel decides whether a thread is "on" its
 * alternate stack from the stack pointer alone.  SA_NODEFER leaves SIGSEGV
 * unblocked for the next process.  The overflowing code may have been inside
 * the C library or the allocator holding a lock; like a crash in an Erlang
 * NIF, that cannot be repaired from outside, and docs/DESIGN.md says so.
 */
#include "fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch.h"
#include "lwp.h"
#include "proc.h"
#include "sched.h"
#include "trace.h"

static const int fault_signals[] = { SIGSEGV, SIGBUS };
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
	/* Default action: returning re-runs the faulting instruction. */
	trace_crash();
	signal(sig, SIG_DFL);
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

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	struct proc *p = sched_current();

	if (p && overflowed(p, si, uc)) {
		static const lwp_reason overflow = {
			.code = LWP_EXIT_STACK_OVERFLOW
		};
		proc_exit(p, &overflow, true);
	}
	pass_on(sig, si, uc);
}

int fault_start(void)
{
	struct sigaction sa;
	long min = sysconf(_SC_MINSIGSTKSZ);

	frame_max = min > 0 ? (size_t)min : MINSIGSTKSZ;

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
