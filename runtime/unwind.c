/*
 * unwind.c - see unwind.h.
 *
 * Signal safety: libunwind's local unwinding takes no lock and allocates
 * nothing once its address space is set up, if its cache is off
 * (UNW_CACHE_NONE, set in unwind_init, which also does the one-time setup
 * with a first walk).  What is left is finding the unwind tables of an
 * address: dl_iterate_phdr(), which takes the dynamic loader's lock, as
 * the backtrace() of the crash report does through libgcc.  So a crash
 * inside the loader (dlopen) may hang the report there; anywhere else the
 * walk is safe in a signal handler.  The process dump on a signal does not
 * rely on it: a thread writes that dump (info.c).
 *
 * Walking another process's stack races with its resumption on another
 * scheduler, which overwrites the frames being read.  So: the registers
 * are taken from arch_switch's frame only if the frame lies in the stack;
 * each frame's stack pointer must stay in [lo, top), else the walk stops;
 * and should libunwind still fault on garbage (a frame pointer that points
 * anywhere), the fault handler jumps back here (unwind_recover) and the
 * walk reports LWP_EBUSY.  Stacks are never unmapped while the runtime
 * runs (a freed one keeps its pages or reads as zeros), so reads inside
 * [lo, top) cannot fault.  Whether the frames found are the process's
 * current ones is the caller's question (info.c checks that the process
 * did not switch meanwhile).
 */
#include "unwind.h"

#include <setjmp.h>
#include <ucontext.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "arch.h"
#include "lwp.h"
#include "lwp_config.h"

#if LWP_HAVE_UNWIND

/* Not UNW_LOCAL_ONLY: that is libunwind.so's API (meson.build says why
 * not that one); the generic library unwinds locally as well. */
#include <libunwind.h>
#include <pthread.h>

/* The walk in progress on this thread, for unwind_recover: the fault
 * handler reads it, so no lazily allocated TLS. */
static __thread sigjmp_buf *walking __attribute__((tls_model("initial-exec")));

bool unwind_available(void)
{
	return true;
}

static void init_once(void)
{
	uintptr_t pc[2];

	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_NONE);
	if (unwind_here(pc, 2, NULL) < 0) /* libunwind's one-time setup */
		return;
}

void unwind_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, init_once);
}

/* Word i of arch_switch's frame at sp.  Another process's stack: ASan
 * would check it against that stack's old frames' redzones, and the read
 * races by design with that process resuming (the walk is thrown away if
 * it did: info.c), which TSan is told, as KCSAN's data_race() would. */
__attribute__((no_sanitize_address, no_sanitize("thread"))) static uintptr_t
frame_word(uintptr_t sp, size_t i)
{
	return ((const volatile uintptr_t *)sp)[i];
}

/* The registers arch_switch saved at sp, as at its return: its caller's
 * frame (switch.S has the layouts). */
static void context_of(unw_context_t *uc, uintptr_t sp)
{
	memset(uc, 0, sizeof(*uc));
#if defined(__x86_64__)
	greg_t *r = uc->uc_mcontext.gregs;
	r[REG_R15] = (greg_t)frame_word(sp, 1);
	r[REG_R14] = (greg_t)frame_word(sp, 2);
	r[REG_R13] = (greg_t)frame_word(sp, 3);
	r[REG_R12] = (greg_t)frame_word(sp, 4);
	r[REG_RBX] = (greg_t)frame_word(sp, 5);
	r[REG_RBP] = (greg_t)frame_word(sp, 6);
	r[REG_RIP] = (greg_t)frame_word(sp, 7);
	r[REG_RSP] = (greg_t)(sp + ARCH_FRAME_SIZE);
#elif defined(__aarch64__)
	for (int i = 19; i <= 30; i++) /* x19..x28, x29 (fp), x30 (lr) */
		uc->uc_mcontext.regs[i] = frame_word(sp, 8 + (size_t)(i - 19));
	uc->uc_mcontext.pc = uc->uc_mcontext.regs[30];
	uc->uc_mcontext.sp = sp + ARCH_FRAME_SIZE;
#endif
}

/* Which frame unw_is_signal_frame() is true of, from the trampoline's:
 * on x86-64 the frame restored from the signal context (the interrupted
 * one), on aarch64 the trampoline's own (it checks the instructions at the
 * pc for the sigreturn sequence).  Seen on both, under qemu-user too. */
#if defined(__x86_64__)
#define INTERRUPTED 0
#else
#define INTERRUPTED 1
#endif

/* Step through the frames from cursor c into pcs, while their stack
 * pointers stay in [lo, top]. */
static int walk(unw_cursor_t *c, uintptr_t lo, uintptr_t top, uintptr_t *pcs,
		int cap, uint64_t *sigframes)
{
	int n = 0;

	if (sigframes)
		*sigframes = 0;
	do {
		unw_word_t ip, sp;
		if (unw_get_reg(c, UNW_REG_IP, &ip) < 0 || !ip ||
		    unw_get_reg(c, UNW_REG_SP, &sp) < 0 || sp < lo || sp > top)
			break;
		if (sigframes && n + INTERRUPTED < 64 &&
		    unw_is_signal_frame(c) > 0)
			*sigframes |= (uint64_t)1 << (n + INTERRUPTED);
		pcs[n++] = (uintptr_t)ip;
	} while (n < cap && unw_step(c) > 0);
	return n;
}

int unwind_suspended(uintptr_t sp, uintptr_t lo, uintptr_t top, uintptr_t *pcs,
		     int cap, uint64_t *sigframes)
{
	sigjmp_buf env;
	unw_context_t uc;
	unw_cursor_t c;
	int n = 0;

	if (cap <= 0 || sp < lo || sp > top || top - sp < ARCH_FRAME_SIZE)
		return 0;
	/* savesigs: the fault handler may run with signals masked. */
	if (sigsetjmp(env, 1)) {
		walking = NULL;
		return LWP_EBUSY;
	}
	walking = &env;
	atomic_signal_fence(memory_order_seq_cst);
	context_of(&uc, sp);
	if (unw_init_local(&c, &uc) == 0)
		n = walk(&c, lo, top, pcs, cap, sigframes);
	atomic_signal_fence(memory_order_seq_cst);
	walking = NULL;
	return n;
}

/* The caller's registers.  unw_getcontext is a function of libunwind.so
 * on x86-64, not of the library linked (meson.build says why); there the
 * unwinder's context is a ucontext_t, which glibc's getcontext fills. */
#if defined(__x86_64__)
#define here(uc) getcontext(uc)
#else
#define here(uc) unw_getcontext(uc)
#endif

/* noinline: its own frame is the one skipped. */
noinline int unwind_here(uintptr_t *pcs, int cap, uint64_t *sigframes)
{
	unw_context_t uc;
	unw_cursor_t c;

	if (cap <= 0 || here(&uc) != 0 || unw_init_local(&c, &uc) != 0 ||
	    unw_step(&c) <= 0)
		return 0;
	return walk(&c, 0, UINTPTR_MAX, pcs, cap, sigframes);
}

void unwind_recover(int sig, const siginfo_t *si)
{
	sigjmp_buf *env = walking;

	if (!env || (sig != SIGSEGV && sig != SIGBUS) || si->si_code <= 0)
		return;
	walking = NULL;
	siglongjmp(*env, 1);
}

#else /* !LWP_HAVE_UNWIND */

/* Without an unwinder only the innermost frame is known: the function
 * that called arch_switch(), from its frame, or the caller's caller. */

bool unwind_available(void)
{
	return false;
}

void unwind_init(void)
{
}

__attribute__((no_sanitize_address)) int
unwind_suspended(uintptr_t sp, uintptr_t lo, uintptr_t top, uintptr_t *pcs,
		 int cap, uint64_t *sigframes)
{
	if (sigframes)
		*sigframes = 0;
	if (cap <= 0 || sp < lo || sp > top || top - sp < ARCH_FRAME_SIZE)
		return 0;
#if defined(__x86_64__)
	pcs[0] = ((const volatile uintptr_t *)sp)[7];
#elif defined(__aarch64__)
	pcs[0] = ((const volatile uintptr_t *)sp)[19];
#endif
	return 1;
}

noinline int unwind_here(uintptr_t *pcs, int cap, uint64_t *sigframes)
{
	if (sigframes)
		*sigframes = 0;
	if (cap <= 0)
		return 0;
	pcs[0] = (uintptr_t)__builtin_return_address(0);
	return 1;
}

void unwind_recover(int sig, const siginfo_t *si)
{
	(void)sig, (void)si;
}

#endif /* LWP_HAVE_UNWIND */
