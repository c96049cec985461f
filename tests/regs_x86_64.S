/*
 * regs_x86_64.S - regs_spin() for x86-64 System V (see regs.h).
 *
 * A preempted process is interrupted by a signal at an arbitrary
 * instruction and resumed, after its handler has run other code, by
 * rt_sigreturn.  The kernel must then restore everything the interrupted
 * code may hold, which is far more than a call site gives up: all sixteen
 * general-purpose registers, rflags (arithmetic flags and DF), every vector
 * register whole (xmm/ymm, and zmm0-31 plus k0-7 with AVX-512), MXCSR and
 * the x87 control word.  regs_spin() puts a known value in each of them,
 * spins until told to stop, and then checks each one.
 *
 * unsigned regs_spin(uint64_t seed, const volatile int *stop, int fpctl,
 *		      unsigned char *bad)
 *	rdi = seed, rsi = stop, edx = fpctl, rcx = bad; returns the number of
 *	changed registers in eax.
 *
 * The spin loop is
 *	1: movl (%rdi), %ecx
 *	   jrcxz 1b
 * which changes no flags and touches no memory but *stop: rdi holds the
 * stop pointer (checked too) and rcx is the only scratch register (0 while
 * spinning; afterwards it must equal *stop as read again).  Everything else
 * holds a seed-derived value, see regs.h.
 *
 * Frame (below the six pushed callee-saved registers):
 *	sp+0x000  val[0..17]	rax..r15 (rsp left out), rflags, mxcsr, x87cw
 *	sp+0x090  val[18..25]	k0-k7
 *	sp+0x0d0  vec[0..31]	zmm0-31, 64 bytes each (xmm part, ymm.hi part,
 *				zmm.hi part); only ymm0-15 without AVX-512
 *	sp+0x8d0  stop, bad, fpctl (4), avx512 (4), caller's MXCSR (4) and
 *		  x87 control word (2), one temporary word
 * val/vec first holds the expected values, which are loaded into the
 * registers; after the loop each register is XORed into its slot, so a
 * slot that is not zero afterwards (masked for the flags and the x87
 * control word) marks a changed register.  The frame is 2.2 KiB; processes
 * have at least 16 KiB of stack.
 *
 * The frame lies wholly above rsp, so a signal frame pushed below it (with
 * or without the 128-byte red zone) cannot overlap it.  rbp does not hold a
 * frame pointer while spinning (it holds a value like every other
 * register); the CFI describes the frame from rsp instead.
 *
 * CET: the entry starts with endbr64 (it may be called indirectly).  It
 * returns with an ordinary `ret` to its caller, so it is shadow-stack
 * compatible too, and the property note claims IBT and SHSTK.
 */
#include "regs.h"

/* Frame offsets, see above. */
#define VAL(j)		(8 * (j))
#define VAL_K(n)	VAL(18 + (n))
#define VEC(n)		(0xd0 + 64 * (n))
#define NWORDS		282		/* 26 words + 32 * 8 words */
#define STOP		0x8d0
#define BAD		0x8d8
#define FPCTL		0x8e0
#define AVX512		0x8e4
#define CALLER_MXCSR	0x8e8
#define CALLER_X87CW	0x8ec
#define TMP		0x8f0
#define FRAME		0x8f8		/* with the 6 pushes: rsp 16-aligned */

/* Register indices with a fixed word (see regs.h). */
#define I_RCX		2
#define I_RDI		5
#define I_RFLAGS	15
#define I_MXCSR		16
#define I_X87CW		17
#define COUNT_AVX	50		/* indices checked without AVX-512 */

#define FLAGS_SEED	0x8d5		/* CF PF AF ZF SF OF: from the seed */
#define FLAGS_DF	0x400		/* always set while spinning */
#define FLAGS_CHECK	(FLAGS_SEED | FLAGS_DF)
#define MXCSR_TEST	0xdfc0		/* FTZ, RC = up, all masked, DAZ */
#define MXCSR_SEED	0x3f		/* status flags: from the seed */
#define X87CW_TEST	0x0e7f		/* RC = toward 0, PC = 53 bit, masked */
#define X87CW_CHECK	0x1f3f		/* all but the reserved bits */

#define K1		0x9e3779b97f4a7c15
#define K2		0xd1b54a32d192ed03

	.text

	.globl	regs_spin
	.type	regs_spin, @function
	.p2align 4
regs_spin:
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
	subq	$FRAME, %rsp
	.cfi_adjust_cfa_offset FRAME

	movq	%rsi, STOP(%rsp)
	movq	%rcx, BAD(%rsp)
	movl	%edx, FPCTL(%rsp)
	movq	%rdi, %r8			/* seed */
	stmxcsr	CALLER_MXCSR(%rsp)
	fnstcw	CALLER_X87CW(%rsp)

	/* AVX-512 usable: CPUID says AVX512F and AVX512BW (64-bit k
	 * registers), and XCR0 enables the SSE, AVX, opmask, ZMM_Hi256 and
	 * Hi16_ZMM state (0xe6). */
	movl	$0, AVX512(%rsp)
	xorl	%eax, %eax
	cpuid
	cmpl	$7, %eax
	jb	.Lno_avx512
	movl	$1, %eax
	cpuid
	btl	$27, %ecx			/* OSXSAVE */
	jnc	.Lno_avx512
	xorl	%ecx, %ecx
	xgetbv
	andl	$0xe6, %eax
	cmpl	$0xe6, %eax
	jne	.Lno_avx512
	movl	$7, %eax
	xorl	%ecx, %ecx
	cpuid
	andl	$0x40010000, %ebx		/* AVX512BW | AVX512F */
	cmpl	$0x40010000, %ebx
	jne	.Lno_avx512
	movl	$1, AVX512(%rsp)
.Lno_avx512:

	/* val[j] = m((seed + (j + 1) * K2) * K1) for every word. */
	movabsq	$K1, %r9
	movabsq	$K2, %r10
	leaq	(%r8,%r10), %r11
	xorl	%ecx, %ecx
.Lfill:
	movq	%r11, %rax
	imulq	%r9, %rax
	movq	%rax, %rdx
	shrq	$29, %rdx
	xorq	%rdx, %rax
	movq	%rax, (%rsp,%rcx,8)
	addq	%r10, %r11
	incl	%ecx
	cmpl	$NWORDS, %ecx
	jb	.Lfill

	/* The words with a fixed role. */
	movq	$0, VAL(I_RCX)(%rsp)
	movq	STOP(%rsp), %rax
	movq	%rax, VAL(I_RDI)(%rsp)
	pushfq					/* keep IF, AC, ID ... as they are */
	.cfi_adjust_cfa_offset 8
	popq	%rax
	.cfi_adjust_cfa_offset -8
	andq	$~FLAGS_CHECK, %rax
	movq	VAL(I_RFLAGS)(%rsp), %rdx
	andl	$FLAGS_SEED, %edx
	orq	%rdx, %rax
	orq	$FLAGS_DF, %rax
	movq	%rax, VAL(I_RFLAGS)(%rsp)
	xorl	%eax, %eax
	xorl	%edx, %edx
	cmpl	$0, FPCTL(%rsp)
	je	1f
	movq	VAL(I_MXCSR)(%rsp), %rax
	andl	$MXCSR_SEED, %eax
	orl	$MXCSR_TEST, %eax
	movl	$X87CW_TEST, %edx
1:	movq	%rax, VAL(I_MXCSR)(%rsp)	/* 0 without fpctl: then both */
	movq	%rdx, VAL(I_X87CW)(%rsp)	/* slots stay 0 (= intact) */

	/* Vector registers (and the FP control state). */
	cmpl	$0, AVX512(%rsp)
	je	2f
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vmovdqu64 VEC(\n)(%rsp), %zmm\n
	.endr
	.irp	n, 0,1,2,3,4,5,6,7
	kmovq	VAL_K(\n)(%rsp), %k\n
	.endr
	jmp	3f
2:	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vmovdqu	VEC(\n)(%rsp), %ymm\n
	.endr
3:	cmpl	$0, FPCTL(%rsp)
	je	4f
	ldmxcsr	VAL(I_MXCSR)(%rsp)
	fldcw	VAL(I_X87CW)(%rsp)
4:
	/* Flags, then the general-purpose registers: from here to the
	 * pushfq after the loop nothing may change the flags. */
	movq	VAL(I_RFLAGS)(%rsp), %rax
	pushq	%rax
	.cfi_adjust_cfa_offset 8
	popfq
	.cfi_adjust_cfa_offset -8
	movq	VAL(0)(%rsp), %rax
	movq	VAL(1)(%rsp), %rbx
	movq	VAL(2)(%rsp), %rcx
	movq	VAL(3)(%rsp), %rdx
	movq	VAL(4)(%rsp), %rsi
	movq	VAL(5)(%rsp), %rdi
	movq	VAL(6)(%rsp), %rbp
	.irp	r, 8,9,10,11,12,13,14,15
	movq	VAL(\r - 1)(%rsp), %r\r
	.endr

	.p2align 4
.Lspin:
	movl	(%rdi), %ecx
	jrcxz	.Lspin

	/* Check.  The flags first, before anything changes them.  (A pop
	 * to an rsp-based address computes it after incrementing rsp.) */
	pushfq
	.cfi_adjust_cfa_offset 8
	popq	TMP(%rsp)
	.cfi_adjust_cfa_offset -8
	xorq	%rax, VAL(0)(%rsp)
	xorq	%rbx, VAL(1)(%rsp)
	xorq	%rcx, VAL(2)(%rsp)
	xorq	%rdx, VAL(3)(%rsp)
	xorq	%rsi, VAL(4)(%rsp)
	xorq	%rdi, VAL(5)(%rsp)
	xorq	%rbp, VAL(6)(%rsp)
	.irp	r, 8,9,10,11,12,13,14,15
	xorq	%r\r, VAL(\r - 1)(%rsp)
	.endr
	movq	TMP(%rsp), %rax
	xorq	%rax, VAL(I_RFLAGS)(%rsp)
	andq	$FLAGS_CHECK, VAL(I_RFLAGS)(%rsp)
	/* rcx held 0 and now must hold what ended the loop: *stop. */
	movq	STOP(%rsp), %rdx
	movl	(%rdx), %eax
	xorq	%rax, VAL(I_RCX)(%rsp)
	cmpl	$0, FPCTL(%rsp)
	je	5f
	stmxcsr	TMP(%rsp)
	movl	TMP(%rsp), %eax
	xorq	%rax, VAL(I_MXCSR)(%rsp)
	fnstcw	TMP(%rsp)
	movzwl	TMP(%rsp), %eax
	xorq	%rax, VAL(I_X87CW)(%rsp)
	andq	$X87CW_CHECK, VAL(I_X87CW)(%rsp)
5:	cmpl	$0, AVX512(%rsp)
	je	6f
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vpxorq	VEC(\n)(%rsp), %zmm\n, %zmm\n
	vmovdqu64 %zmm\n, VEC(\n)(%rsp)
	.endr
	.irp	n, 0,1,2,3,4,5,6,7
	kmovq	%k\n, %rax
	xorq	%rax, VAL_K(\n)(%rsp)
	.endr
	.irp	n, 16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	vpxord	%xmm\n, %xmm\n, %xmm\n		/* zeroes all of zmm\n */
	.endr
	movl	$REGS_COUNT, %r8d
	jmp	7f
6:	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	vxorps	VEC(\n)(%rsp), %ymm\n, %ymm\n	/* AVX has no 256-bit vpxor */
	vmovups	%ymm\n, VEC(\n)(%rsp)
	.endr
	movl	$COUNT_AVX, %r8d
7:	cld
	vzeroupper

	/* Count the registers whose words are not all zero now. */
	xorl	%eax, %eax			/* changed registers */
	xorl	%ecx, %ecx			/* register index */
	leaq	.Lwords(%rip), %rsi
	movq	BAD(%rsp), %rdi
.Lcount:
	movzwl	(%rsi,%rcx,4), %edx		/* first word */
	movzwl	2(%rsi,%rcx,4), %r9d		/* number of words */
	xorl	%r10d, %r10d
8:	orq	(%rsp,%rdx,8), %r10
	incl	%edx
	decl	%r9d
	jnz	8b
	testq	%r10, %r10
	jz	9f
	incl	%eax
	testq	%rdi, %rdi
	jz	9f
	movb	$1, (%rdi,%rcx)
9:	incl	%ecx
	cmpl	%r8d, %ecx
	jb	.Lcount

	cmpl	$0, FPCTL(%rsp)
	je	10f
	ldmxcsr	CALLER_MXCSR(%rsp)
	fldcw	CALLER_X87CW(%rsp)
10:	addq	$FRAME, %rsp
	.cfi_adjust_cfa_offset -FRAME
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
	ret
	.cfi_endproc
	.size	regs_spin, .-regs_spin

/*
 * For each register index (regs.h): its first word in the frame and its
 * number of 64-bit words.
 */
	.section .rodata
	.p2align 2
.Lwords:
	.set	.Li, 0
	.rept	18				/* rax..r15, rflags, mxcsr, x87cw */
	.short	.Li, 1
	.set	.Li, .Li + 1
	.endr
	.set	.Li, 0
	.rept	16				/* xmm0-15 */
	.short	VEC(.Li) / 8, 2
	.set	.Li, .Li + 1
	.endr
	.set	.Li, 0
	.rept	16				/* ymm0-15.hi */
	.short	VEC(.Li) / 8 + 2, 2
	.set	.Li, .Li + 1
	.endr
	.set	.Li, 0
	.rept	16				/* zmm0-15.hi */
	.short	VEC(.Li) / 8 + 4, 4
	.set	.Li, .Li + 1
	.endr
	.set	.Li, 16
	.rept	16				/* zmm16-31 */
	.short	VEC(.Li) / 8, 8
	.set	.Li, .Li + 1
	.endr
	.set	.Li, 0
	.rept	8				/* k0-7 */
	.short	VAL_K(.Li) / 8, 1
	.set	.Li, .Li + 1
	.endr
	.ifne	. - .Lwords - 4 * REGS_COUNT
	.error	"regs_x86_64.S: word table does not match REGS_COUNT"
	.endif

/* Non-executable stack. */
	.section .note.GNU-stack, "", @progbits

/*
 * GNU property note: NT_GNU_PROPERTY_TYPE_0 with
 * GNU_PROPERTY_X86_FEATURE_1_AND = IBT | SHSTK.  The linker ANDs these over
 * all inputs, so one object without it silently turns both off for the
 * whole binary.
 */
	.section .note.gnu.property, "a"
	.p2align 3
	.long	4			/* n_namesz: "GNU\0" */
	.long	16			/* n_descsz */
	.long	5			/* n_type: NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000002		/* GNU_PROPERTY_X86_FEATURE_1_AND */
	.long	4			/* pr_datasz */
	.long	0x3			/* FEATURE_1_IBT | FEATURE_1_SHSTK */
	.long	0			/* pad to 8 bytes */
