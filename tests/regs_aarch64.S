/*
 * regs_aarch64.S - regs_spin() for AArch64, AAPCS64 (see regs.h).
 *
 * A preempted process is interrupted by a signal at an arbitrary
 * instruction and resumed, after its handler has run other code, by
 * rt_sigreturn.  The kernel must then restore everything the interrupted
 * code may hold, which is far more than a call site gives up: x0-x30
 * (x18, fp and lr included), the NZCV flags, all 128 bits of v0-v31 and
 * FPCR.  regs_spin() puts a known value in each of them, spins until told
 * to stop, and then checks each one.
 *
 * unsigned regs_spin(uint64_t seed, const volatile int *stop, int fpctl,
 *		      unsigned char *bad)
 *	x0 = seed, x1 = stop, w2 = fpctl, x3 = bad; returns the number of
 *	changed registers in w0.
 *
 * The spin loop is
 *	1: ldr w2, [x1]
 *	   cbz w2, 1b
 * which changes no flags and touches no memory but *stop: x1 holds the
 * stop pointer (checked too) and x2 is the only scratch register (0 while
 * spinning; afterwards it must equal *stop as read again).  Everything else
 * holds a seed-derived value, see regs.h.
 *
 * Frame (sp stays 16-byte aligned):
 *	sp+0x000  x18, (pad), x19-x30	callee-saved (x18 too, harmlessly,
 *	sp+0x070  d8-d15		so that shadow-call-stack callers work)
 *	sp+0x0b0  stop, bad, fpctl (4), (4), caller's FPCR
 *	sp+0x0d0  val[0..33]	x0-x30, nzcv, fpcr, (pad): expected values
 *	sp+0x1e0  val.v[0..31]	v0-v31, 16 bytes each
 *	sp+0x3e0  got		the same layout: what the registers held
 * The frame is 1.7 KiB and lies wholly above sp, so a signal frame pushed
 * below it cannot overlap it.  x29 does not hold a frame pointer while
 * spinning (it holds a value like every other register); the CFI describes
 * the frame from sp instead.
 *
 * BTI: the entry starts with `bti c` (written `hint #34` so that assemblers
 * without BTI support accept it; a NOP on cores without BTI), since it may
 * be called indirectly.  PAC: lr is saved and reloaded as it is, neither
 * signed nor authenticated here, so pac-ret callers work.  The property
 * note claims both.
 */
#include "regs.h"

/* Frame offsets, see above. */
#define SAVE_X18	0x000		/* x18, (pad), x19..x30 from 0x010 */
#define SAVE_D8		0x070
#define STOP		0x0b0
#define BAD		0x0b8
#define FPCTL		0x0c0
#define CALLER_FPCR	0x0c8
#define VAL		0x0d0
#define GOT		(VAL + REC)
#define REC		0x310		/* 34 words, then 32 * 16 bytes */
#define VREG(base, n)	((base) + 0x110 + 16 * (n))
#define WORD(base, j)	((base) + 8 * (j))
#define NWORDS		98		/* REC / 8 */
#define FRAME		(GOT + REC)

/* Register indices with a fixed word (see regs.h). */
#define I_X1		1
#define I_X2		2
#define I_NZCV		31
#define I_FPCR		32

#define NZCV_SEED	0xf0000000	/* N Z C V: from the seed */
#define FPCR_TEST	0x01400000	/* FZ, RMode = 01 (toward +inf) */

	.text

	.globl	regs_spin
	.type	regs_spin, %function
	.p2align 4
regs_spin:
	.cfi_startproc
	hint	#34			/* bti c */
	sub	sp, sp, #FRAME
	.cfi_def_cfa_offset FRAME
	str	x18, [sp, #SAVE_X18]
	stp	x19, x20, [sp, #0x10]
	stp	x21, x22, [sp, #0x20]
	stp	x23, x24, [sp, #0x30]
	stp	x25, x26, [sp, #0x40]
	stp	x27, x28, [sp, #0x50]
	stp	x29, x30, [sp, #0x60]
	stp	d8, d9, [sp, #SAVE_D8 + 0x00]
	stp	d10, d11, [sp, #SAVE_D8 + 0x10]
	stp	d12, d13, [sp, #SAVE_D8 + 0x20]
	stp	d14, d15, [sp, #SAVE_D8 + 0x30]
	.cfi_offset x18, 0x00 - FRAME
	.cfi_offset x19, 0x10 - FRAME
	.cfi_offset x20, 0x18 - FRAME
	.cfi_offset x21, 0x20 - FRAME
	.cfi_offset x22, 0x28 - FRAME
	.cfi_offset x23, 0x30 - FRAME
	.cfi_offset x24, 0x38 - FRAME
	.cfi_offset x25, 0x40 - FRAME
	.cfi_offset x26, 0x48 - FRAME
	.cfi_offset x27, 0x50 - FRAME
	.cfi_offset x28, 0x58 - FRAME
	.cfi_offset x29, 0x60 - FRAME
	.cfi_offset x30, 0x68 - FRAME
	.cfi_offset d8, SAVE_D8 + 0x00 - FRAME
	.cfi_offset d9, SAVE_D8 + 0x08 - FRAME
	.cfi_offset d10, SAVE_D8 + 0x10 - FRAME
	.cfi_offset d11, SAVE_D8 + 0x18 - FRAME
	.cfi_offset d12, SAVE_D8 + 0x20 - FRAME
	.cfi_offset d13, SAVE_D8 + 0x28 - FRAME
	.cfi_offset d14, SAVE_D8 + 0x30 - FRAME
	.cfi_offset d15, SAVE_D8 + 0x38 - FRAME
	str	x1, [sp, #STOP]
	str	x3, [sp, #BAD]
	str	w2, [sp, #FPCTL]
	mrs	x9, fpcr
	str	x9, [sp, #CALLER_FPCR]

	/* val[j] = m((seed + (j + 1) * K2) * K1) for every word. */
	movz	x9, #0x7c15			/* K1 = 0x9e3779b97f4a7c15 */
	movk	x9, #0x7f4a, lsl #16
	movk	x9, #0x79b9, lsl #32
	movk	x9, #0x9e37, lsl #48
	movz	x10, #0xed03			/* K2 = 0xd1b54a32d192ed03 */
	movk	x10, #0xd192, lsl #16
	movk	x10, #0x4a32, lsl #32
	movk	x10, #0xd1b5, lsl #48
	add	x11, x0, x10
	add	x12, sp, #VAL
	mov	x13, #NWORDS
1:	mul	x14, x11, x9
	eor	x14, x14, x14, lsr #29
	str	x14, [x12], #8
	add	x11, x11, x10
	subs	x13, x13, #1
	b.ne	1b

	/* The words with a fixed role. */
	str	x1, [sp, #WORD(VAL, I_X1)]
	str	xzr, [sp, #WORD(VAL, I_X2)]
	ldr	x14, [sp, #WORD(VAL, I_NZCV)]
	and	x14, x14, #NZCV_SEED
	str	x14, [sp, #WORD(VAL, I_NZCV)]
	mov	x14, #0				/* 0 without fpctl: then both */
	cbz	w2, 2f				/* fpcr words stay 0 (= intact) */
	mov	x14, #FPCR_TEST
2:	str	x14, [sp, #WORD(VAL, I_FPCR)]

	/* Vector registers, FPCR and the flags (no load changes them). */
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ldr	q\n, [sp, #VREG(VAL, \n)]
	.endr
	cbz	w2, 3f
	msr	fpcr, x14
3:	ldr	x14, [sp, #WORD(VAL, I_NZCV)]
	msr	nzcv, x14
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
	ldr	x\n, [sp, #WORD(VAL, \n)]
	.endr

	.p2align 4
.Lspin:
	ldr	w2, [x1]
	cbz	w2, .Lspin

	/* Check.  Store everything first (stores change no register). */
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
	str	x\n, [sp, #WORD(GOT, \n)]
	.endr
	mrs	x0, nzcv
	str	x0, [sp, #WORD(GOT, I_NZCV)]
	ldr	w1, [sp, #FPCTL]
	mov	x0, #0
	cbz	w1, 4f
	mrs	x0, fpcr
4:	str	x0, [sp, #WORD(GOT, I_FPCR)]
	.irp	n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	str	q\n, [sp, #VREG(GOT, \n)]
	.endr
	/* x2 held 0 and now must hold what ended the loop: *stop. */
	ldr	x1, [sp, #STOP]
	ldr	w0, [x1]
	str	x0, [sp, #WORD(VAL, I_X2)]

	/* Count the registers whose words differ. */
	mov	w0, #0				/* changed registers */
	mov	x1, #0				/* register index */
	adrp	x3, .Lwords
	add	x3, x3, :lo12:.Lwords
	ldr	x4, [sp, #BAD]
	add	x5, sp, #VAL
	add	x6, sp, #GOT
.Lcount:
	add	x7, x3, x1, lsl #2
	ldrh	w8, [x7, #2]			/* number of words */
	ldrh	w7, [x7]			/* first word */
	mov	x9, #0
5:	ldr	x10, [x5, x7, lsl #3]
	ldr	x11, [x6, x7, lsl #3]
	eor	x10, x10, x11
	orr	x9, x9, x10
	add	x7, x7, #1
	subs	w8, w8, #1
	b.ne	5b
	cbz	x9, 6f
	add	w0, w0, #1
	cbz	x4, 6f
	mov	w10, #1
	strb	w10, [x4, x1]
6:	add	x1, x1, #1
	cmp	x1, #REGS_COUNT
	b.lo	.Lcount

	ldr	w1, [sp, #FPCTL]
	cbz	w1, 7f
	ldr	x1, [sp, #CALLER_FPCR]
	msr	fpcr, x1
7:	ldr	x18, [sp, #SAVE_X18]
	ldp	x19, x20, [sp, #0x10]
	ldp	x21, x22, [sp, #0x20]
	ldp	x23, x24, [sp, #0x30]
	ldp	x25, x26, [sp, #0x40]
	ldp	x27, x28, [sp, #0x50]
	ldp	x29, x30, [sp, #0x60]
	ldp	d8, d9, [sp, #SAVE_D8 + 0x00]
	ldp	d10, d11, [sp, #SAVE_D8 + 0x10]
	ldp	d12, d13, [sp, #SAVE_D8 + 0x20]
	ldp	d14, d15, [sp, #SAVE_D8 + 0x30]
	add	sp, sp, #FRAME
	.cfi_restore x18
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
	.cfi_restore d8
	.cfi_restore d9
	.cfi_restore d10
	.cfi_restore d11
	.cfi_restore d12
	.cfi_restore d13
	.cfi_restore d14
	.cfi_restore d15
	.cfi_def_cfa_offset 0
	ret
	.cfi_endproc
	.size	regs_spin, .-regs_spin

/*
 * For each register index (regs.h): its first word in val/got and its
 * number of 64-bit words.
 */
	.section .rodata
	.p2align 2
.Lwords:
	.set	.Li, 0
	.rept	33				/* x0-x30, nzcv, fpcr */
	.short	.Li, 1
	.set	.Li, .Li + 1
	.endr
	.set	.Li, 0
	.rept	32				/* v0-v31 */
	.short	(VREG(0, .Li)) / 8, 2
	.set	.Li, .Li + 1
	.endr
	.ifne	. - .Lwords - 4 * REGS_COUNT
	.error	"regs_aarch64.S: word table does not match REGS_COUNT"
	.endif

/* Non-executable stack. */
	.section .note.GNU-stack, "", %progbits

/*
 * GNU property note: NT_GNU_PROPERTY_TYPE_0 with
 * GNU_PROPERTY_AARCH64_FEATURE_1_AND = BTI | PAC.  The linker ANDs these
 * over all inputs, so one object without it silently turns BTI off for the
 * whole binary.
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
