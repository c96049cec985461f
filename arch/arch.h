/*
 * arch.h - the machine-specific part of lwp: switching between stacks.
 *
 * A context is a saved stack pointer.  Everything else a callee must
 * preserve under the platform ABI (x86-64 SysV: rbx, rbp, r12-r15, the MXCSR
 * control bits and the x87 control word; AAPCS64: x19-x29, lr, d8-d15 and
 * FPCR) is pushed on the stack being left, so a switch costs a handful of
 * instructions and no syscall.
 */
#ifndef LWP_ARCH_H
#define LWP_ARCH_H

#include <stdint.h>
#include <ucontext.h>

typedef struct arch_ctx {
	void *sp;
} arch_ctx;

/*
 * Save the caller's callee-saved state on its stack, store the stack
 * pointer in from->sp, load to->sp and resume that context.  The resumed
 * context sees arch_switch() return `arg` (or, for a context fresh from
 * arch_make(), its entry function receives `arg`).  Passing a value across
 * the switch lets the resumed side finish work the other side could not do
 * while still running on its own stack (making it runnable, freeing it).
 */
void *arch_switch(arch_ctx *from, const arch_ctx *to, void *arg);

/*
 * Prepare a context on a fresh stack whose highest address is stack_top
 * (16-byte aligned).  The first arch_switch() to it calls entry(arg) on that
 * stack with the ABI's alignment and with the FP control state of the
 * switching context.  entry must never return; if it does the trampoline
 * traps (it has no caller to return to).
 */
void arch_make(arch_ctx *ctx, void *stack_top, void (*entry)(void *arg));

/* Bytes of the frame arch_switch() leaves at a suspended context's sp
 * (switch.S). */
#if defined(__x86_64__)
#define ARCH_FRAME_SIZE 64
#elif defined(__aarch64__)
#define ARCH_FRAME_SIZE 176
#endif

/* The interrupted program counter and stack pointer in a signal's
 * context (the preemption and fault handlers look at them). */
static inline uintptr_t arch_uc_pc(const ucontext_t *uc)
{
#if defined(__x86_64__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	return (uintptr_t)uc->uc_mcontext.pc;
#endif
}

static inline uintptr_t arch_uc_sp(const ucontext_t *uc)
{
#if defined(__x86_64__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	return (uintptr_t)uc->uc_mcontext.sp;
#endif
}

#endif /* LWP_ARCH_H */
