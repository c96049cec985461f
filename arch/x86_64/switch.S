/*
 * switch.S - x86-64 System V context switch for lwp (see arch.h).
 *
 * A suspended context is a stack pointer into a 64-byte frame that
 * arch_switch() pushed on that context's own stack:
 *
 *	sp+0x00	MXCSR (4 bytes)		control bits are callee-saved (psABI
 *	sp+0x04	x87 control word (2)	3.2.1); the status/flag bits are not,
 *	sp+0x06	(pad, 2)		but saving the whole word is harmless
 *	sp+0x08	r15
 *	sp+0x10	r14
 *	sp+0x18	r13
 *	sp+0x20	r12
 *	sp+0x28	rbx
 *	sp+0x30	rbp
 *	sp+0x38	return address		pushed by the `call arch_switch`
 *
 * That is exactly the SysV callee-saved set plus rsp itself.  rax, rcx, rdx,
 * rsi, rdi, r8-r11 and all of xmm/ymm/zmm, the x87 stack and rflags are
 * caller-saved (DF is clear at every call), so a call site has already given
 * them up.  MXCSR and the x87 control word are per thread but must look
 * per context: a process that sets a rounding mode must not leak it into the
 * next process the scheduler runs.
 *
 * CET: both entry points start with endbr64 because they may be reached by
 * an indirect call.  Resumption uses `ret`, which IBT does not check, so the
 * return sites (after a `call arch_switch`) and the trampoline need no
 * endbr64.  `ret` also keeps the return stack buffer paired with the call on
 * the same context in the common case.  Shadow stacks are not supported
 * (each context would need its own, plus rstorssp/saveprevssp here), so the
 * property note below claims IBT only.
 */

	.text

/*
 * void *arch_switch(arch_ctx *from, const arch_ctx *to, void *arg)
 *	rdi = from, rsi = to, rdx = arg; returns arg in rax on the other side.
 *
 * rdi (from) and rdx (arg) are left untouched on purpose: the trampoline of
 * a fresh context reads them (see arch_trampoline).
 *
 * The CFI describes the frame by its offset from rsp.  Since the frame on
 * the new stack has the same layout as the one on the old, the CFI stays
 * true across the `movq (%rsi), %rsp`; an unwinder stopped after it simply
 * sees the caller of the context being resumed.
 */
	.globl	arch_switch
	.hidden	arch_switch
	.type	arch_switch, @function
	.p2align 4
arch_switch:
	.cfi_startproc
	endbr64
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset r15, 0
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	/* The pad is zeroed so that the whole 8-byte slot compares equal
	 * when the FP control state is the same on both sides. */
	movq	$0, (%rsp)
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movq	(%rsp), %rcx

	/* The switch proper: publish our sp, adopt theirs. */
	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp

	/* ldmxcsr and fldcw cost several cycles each and contexts almost
	 * always share their FP control state: load it only if it differs. */
	cmpq	(%rsp), %rcx
	je	1f
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
1:	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore r15
	popq	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore r14
	popq	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore r13
	popq	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore r12
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore rbx
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore rbp
	movq	%rdx, %rax
	ret
	.cfi_endproc
	.size	arch_switch, .-arch_switch

/*
 * void arch_make(arch_ctx *ctx, void *stack_top, void (*entry)(void *arg))
 *	rdi = ctx, rsi = stack_top, rdx = entry.
 *
 * Builds a frame just below stack_top that looks as if arch_switch() had
 * been called from arch_trampoline:
 *
 *	top-0x40  MXCSR 0x1F80, x87 CW 0x037F	valid placeholders only: the
 *						trampoline replaces them
 *	top-0x38  r15..r12 = 0
 *	top-0x18  rbx = entry
 *	top-0x10  rbp = 0			ends frame-pointer chains
 *	top-0x08  return address = arch_trampoline
 *
 * The first arch_switch() to it pops all that and `ret`s into the
 * trampoline with rsp == stack_top (16-byte aligned).
 */
	.globl	arch_make
	.hidden	arch_make
	.type	arch_make, @function
	.p2align 4
arch_make:
	.cfi_startproc
	endbr64
	andq	$-16, %rsi		/* arch.h promises this; be sure */
	leaq	arch_trampoline(%rip), %rax
	movq	%rax, -0x08(%rsi)
	movq	$0, -0x10(%rsi)
	movq	%rdx, -0x18(%rsi)
	movq	$0, -0x20(%rsi)
	movq	$0, -0x28(%rsi)
	movq	$0, -0x30(%rsi)
	movq	$0, -0x38(%rsi)
	movl	$0x1F80, -0x40(%rsi)
	movl	$0x037F, -0x3C(%rsi)
	leaq	-0x40(%rsi), %rax
	movq	%rax, (%rdi)
	ret
	.cfi_endproc
	.size	arch_make, .-arch_make

/*
 * First code a fresh context runs, entered by arch_switch's `ret` with
 * rsp == stack_top, rbx = entry, rbp = 0, and arch_switch's own arguments
 * still in place: rdi = from, rdx = arg.
 *
 * FP control state: the fresh context inherits that of the context that
 * switched to it (arch.h).  arch_switch has just saved it at the bottom of
 * from's frame, so copy it from there; that stack cannot have been resumed
 * (and overwritten) yet, because nobody may resume `from` before the side
 * being resumed here has seen `arg`.  This keeps the hot path free of any
 * "is it fresh?" test.
 *
 * Then call entry(arg).  rsp is 16-byte aligned before the call, so entry
 * sees rsp+8 aligned, as after any call.  The return address the call
 * pushes points at the ud2 below, inside this function, whose CFI marks rip
 * undefined: DWARF unwinders (gdb, backtrace(), C++ exceptions) stop here,
 * and rbp == 0 stops frame-pointer walkers.  entry must not return; if it
 * does, trap.
 *
 * Reached by `ret`, never by an indirect jump or call, hence no endbr64.
 */
	.globl	arch_trampoline		/* global only for tests/test_arch.c */
	.type	arch_trampoline, @function
	.hidden	arch_trampoline
	.p2align 4
arch_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	movq	(%rdi), %rax
	ldmxcsr	(%rax)
	fldcw	4(%rax)
	movq	%rdx, %rdi
	call	*%rbx
	ud2
	.cfi_endproc
	.size	arch_trampoline, .-arch_trampoline

/* Non-executable stack. */
	.section .note.GNU-stack, "", @progbits

/*
 * GNU property note: NT_GNU_PROPERTY_TYPE_0 with
 * GNU_PROPERTY_X86_FEATURE_1_AND = IBT.  The linker ANDs these over all
 * inputs, so one object without it silently turns IBT off for the whole
 * binary.  SHSTK is deliberately not claimed (see the top of this file).
 */
	.section .note.gnu.property, "a"
	.p2align 3
	.long	4			/* n_namesz: "GNU\0" */
	.long	16			/* n_descsz */
	.long	5			/* n_type: NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000002		/* GNU_PROPERTY_X86_FEATURE_1_AND */
	.long	4			/* pr_datasz */
	.long	0x1			/* GNU_PROPERTY_X86_FEATURE_1_IBT */
	.long	0			/* pad to 8 bytes */
