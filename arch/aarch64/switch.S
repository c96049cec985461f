/*
 * switch.S - AArch64 (AAPCS64) context switch for lwp (see arch.h).
 *
 * A suspended context is a stack pointer into a 176-byte frame that
 * arch_switch() stored on that context's own stack:
 *
 *	sp+0x00	d8,  d9
 *	sp+0x10	d10, d11
 *	sp+0x20	d12, d13
 *	sp+0x30	d14, d15
 *	sp+0x40	x19, x20
 *	sp+0x50	x21, x22
 *	sp+0x60	x23, x24
 *	sp+0x70	x25, x26
 *	sp+0x80	x27, x28
 *	sp+0x90	x29 (fp), x30 (lr: where arch_switch returns to)
 *	sp+0xa0	FPCR, (pad)
 *
 * That is the AAPCS64 callee-saved set: x19-x29, the return address, sp
 * itself and the low 64 bits of v8-v15 (d8-d15; the upper halves and all
 * other vector and SVE/SME state are caller-saved).  x18 is the platform
 * register, which Linux leaves to the program; no one may rely on it
 * across a call, so it is not switched.  FPCR (rounding mode, flush-to-zero,
 * default NaN) is per thread but must look per context, so it is saved too;
 * FPSR holds only cumulative flags and is not.  Writing FPCR can be slow
 * (it may synchronise the FP pipeline), so it is only written if it differs.
 * sp stays 16-byte aligned throughout, as the architecture requires.
 *
 * BTI: both entry points start with `bti c` (written `hint #34` so that
 * assemblers without BTI support accept it; it is a NOP on cores without
 * BTI) because they may be reached by an indirect call (blr).  Resumption
 * uses `ret`, which BTI does not check, so return sites and the trampoline
 * need no landing pad.
 *
 * PAC: arch_switch stores and reloads x30 as it is: the caller's return
 * address, unsigned (return addresses are only signed inside the functions
 * that own them).  Code built with pac-ret keeps working because no code
 * here authenticates or signs anything, and stacks never move, so an
 * SP-keyed signature made before a switch still matches after it.
 */

	.text

/*
 * void *arch_switch(arch_ctx *from, const arch_ctx *to, void *arg)
 *	x0 = from, x1 = to, x2 = arg; returns arg in x0 on the other side.
 *
 * On return x9 still holds the FPCR of the context that switched away;
 * a fresh context's trampoline uses it (see arch_trampoline).
 *
 * The CFI describes the frame by its offset from sp.  The frame on the new
 * stack has the same layout as the one on the old, so the CFI stays true
 * across `mov sp, x10`.
 */
	.globl	arch_switch
	.hidden	arch_switch
	.type	arch_switch, %function
	.p2align 4
arch_switch:
	.cfi_startproc
	hint	#34			/* bti c */
	sub	sp, sp, #0xb0
	.cfi_def_cfa_offset 0xb0
	stp	d8, d9, [sp, #0x00]
	stp	d10, d11, [sp, #0x10]
	stp	d12, d13, [sp, #0x20]
	stp	d14, d15, [sp, #0x30]
	stp	x19, x20, [sp, #0x40]
	stp	x21, x22, [sp, #0x50]
	stp	x23, x24, [sp, #0x60]
	stp	x25, x26, [sp, #0x70]
	stp	x27, x28, [sp, #0x80]
	stp	x29, x30, [sp, #0x90]
	.cfi_offset d8, -0xb0
	.cfi_offset d9, -0xa8
	.cfi_offset d10, -0xa0
	.cfi_offset d11, -0x98
	.cfi_offset d12, -0x90
	.cfi_offset d13, -0x88
	.cfi_offset d14, -0x80
	.cfi_offset d15, -0x78
	.cfi_offset x19, -0x70
	.cfi_offset x20, -0x68
	.cfi_offset x21, -0x60
	.cfi_offset x22, -0x58
	.cfi_offset x23, -0x50
	.cfi_offset x24, -0x48
	.cfi_offset x25, -0x40
	.cfi_offset x26, -0x38
	.cfi_offset x27, -0x30
	.cfi_offset x28, -0x28
	.cfi_offset x29, -0x20
	.cfi_offset x30, -0x18
	mrs	x9, fpcr
	str	x9, [sp, #0xa0]

	/* The switch proper: publish our sp, adopt theirs. */
	mov	x10, sp
	str	x10, [x0]
	ldr	x10, [x1]
	mov	sp, x10

	ldr	x10, [sp, #0xa0]
	cmp	x9, x10
	b.eq	1f
	msr	fpcr, x10
1:
	ldp	d8, d9, [sp, #0x00]
	ldp	d10, d11, [sp, #0x10]
	ldp	d12, d13, [sp, #0x20]
	ldp	d14, d15, [sp, #0x30]
	ldp	x19, x20, [sp, #0x40]
	ldp	x21, x22, [sp, #0x50]
	ldp	x23, x24, [sp, #0x60]
	ldp	x25, x26, [sp, #0x70]
	ldp	x27, x28, [sp, #0x80]
	ldp	x29, x30, [sp, #0x90]
	add	sp, sp, #0xb0
	.cfi_def_cfa_offset 0
	.cfi_restore d8
	.cfi_restore d9
	.cfi_restore d10
	.cfi_restore d11
	.cfi_restore d12
	.cfi_restore d13
	.cfi_restore d14
	.cfi_restore d15
	.cfi_restore x19
	.cfi_restore x20
	.cfi_restore x21
	.cfi_restore x22
	.cfi_restore x23
	.cfi_restore x24
	.cfi_restore x25
	.cfi_restore x26
	.cfi_restore x27
	.cfi_restore x28
	.cfi_restore x29
	.cfi_restore x30
	mov	x0, x2
	ret
	.cfi_endproc
	.size	arch_switch, .-arch_switch

/*
 * void arch_make(arch_ctx *ctx, void *stack_top, void (*entry)(void *arg))
 *	x0 = ctx, x1 = stack_top, x2 = entry.
 *
 * Builds a frame just below stack_top that looks as if arch_switch() had
 * been called from arch_trampoline: everything zero except
 *
 *	x19 = entry
 *	x29 = 0				ends frame-record chains
 *	x30 = arch_trampoline		where the first switch `ret`s to
 *	FPCR = 0			a valid placeholder; the trampoline
 *					replaces it
 *
 * The first arch_switch() to it pops all that and returns into the
 * trampoline with sp == stack_top (16-byte aligned).
 */
	.globl	arch_make
	.hidden	arch_make
	.type	arch_make, %function
	.p2align 4
arch_make:
	.cfi_startproc
	hint	#34			/* bti c */
	and	x1, x1, #~15		/* arch.h promises this; be sure */
	sub	x1, x1, #0xb0
	stp	xzr, xzr, [x1, #0x00]
	stp	xzr, xzr, [x1, #0x10]
	stp	xzr, xzr, [x1, #0x20]
	stp	xzr, xzr, [x1, #0x30]
	stp	x2, xzr, [x1, #0x40]
	stp	xzr, xzr, [x1, #0x50]
	stp	xzr, xzr, [x1, #0x60]
	stp	xzr, xzr, [x1, #0x70]
	stp	xzr, xzr, [x1, #0x80]
	adr	x3, arch_trampoline
	stp	xzr, x3, [x1, #0x90]
	stp	xzr, xzr, [x1, #0xa0]
	str	x1, [x0]
	ret
	.cfi_endproc
	.size	arch_make, .-arch_make

/*
 * First code a fresh context runs, entered by arch_switch's `ret` with
 * sp == stack_top, x19 = entry, x29 = 0, x0 = arg, and x9 = the FPCR of the
 * context that switched here.
 *
 * FP control state: the fresh context inherits the switching context's
 * FPCR (arch.h).  arch_switch loaded the placeholder 0 from the fresh frame;
 * put the inherited value back.  This keeps the hot path free of any
 * "is it fresh?" test.
 *
 * Then call entry(arg) with sp 16-byte aligned.  The return address (lr)
 * that blr sets points at the brk below, inside this function, whose CFI
 * marks lr undefined: DWARF unwinders (gdb, backtrace(), C++ exceptions)
 * stop here, and x29 == 0 stops frame-record walkers.  entry must not
 * return; if it does, trap.
 *
 * Reached by `ret`, never by br/blr, hence no BTI landing pad.
 */
	.globl	arch_trampoline		/* global only for tests/test_arch.c */
	.type	arch_trampoline, %function
	.hidden	arch_trampoline
	.p2align 4
arch_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	msr	fpcr, x9
	blr	x19
	brk	#0
	.cfi_endproc
	.size	arch_trampoline, .-arch_trampoline

/* Non-executable stack. */
	.section .note.GNU-stack, "", %progbits

/*
 * GNU property note: NT_GNU_PROPERTY_TYPE_0 with
 * GNU_PROPERTY_AARCH64_FEATURE_1_AND = BTI | PAC.  The linker ANDs these
 * over all inputs, so one object without it silently turns BTI off for the
 * whole binary.  PAC is claimed because this code is compatible with
 * pac-ret callers (see the top of this file); the kernel acts on BTI only.
 */
	.section .note.gnu.property, "a"
	.p2align 3
	.long	4			/* n_namesz: "GNU\0" */
	.long	16			/* n_descsz */
	.long	5			/* n_type: NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000000		/* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
	.long	4			/* pr_datasz */
	.long	0x3			/* FEATURE_1_BTI | FEATURE_1_PAC */
	.long	0			/* pad to 8 bytes */
