/*
 * regs.h - a probe that proves preemption preserves every register.
 *
 * A preempted process is stopped by a signal at an arbitrary instruction;
 * its handler switches to other code, which may use every register, and the
 * process is later resumed by sigreturn, which must bring back everything
 * the interrupted code held: all general-purpose registers, the flags, all
 * vector registers and the FP control state.  No C code can prove that (the
 * compiler decides which registers hold what), so regs_spin() is written in
 * assembly (regs_x86_64.S, regs_aarch64.S):
 *
 *	unsigned regs_spin(uint64_t seed, const volatile int *stop, int fpctl,
 *			   unsigned char *bad);
 *
 * It fills every general-purpose register (except the stack pointer), the
 * flags, every vector register and, if fpctl is nonzero, the FP control
 * state with values derived from seed; spins, touching no memory other than
 * reading *stop, until *stop != 0; then compares every register with what it
 * must still hold.  It returns how many registers changed (0: all intact)
 * and, if bad is not NULL, sets bad[i] = 1 for each changed register i (it
 * never clears an entry: the caller zeroes bad, REGS_MAX bytes, first).
 * regs_name(i) names register i.  Before it returns it restores the
 * callee-saved registers and the caller's FP control state, as the ABI
 * requires, so it can be called from any C code, a process included.
 *
 * Values: word j of the register file (in the order below, 64 bits per
 * word) holds m((seed + (j + 1) * K2) * K1), with K1, K2 odd and m(x) =
 * x ^ (x >> 29).  For each word that is a bijection of seed, so two callers
 * with different seeds hold different values in every register, and a
 * value leaking from one process into another is caught.  The exceptions
 * are the registers with a fixed role or only a few bits:
 *	- the stop pointer's register holds stop;
 *	- the one scratch register of the loop holds 0 while spinning and the
 *	  value of *stop (zero-extended) once it has seen it; it is checked
 *	  against *stop read again afterwards;
 *	- flags: only the bits set from seed are compared (x86-64: CF PF AF ZF
 *	  SF OF from seed, DF = 1; AArch64: N Z C V from seed);
 *	- FP control: fixed test values (x86-64: MXCSR = round up, FTZ, DAZ,
 *	  all exceptions masked, status flags from seed; x87 control word =
 *	  round toward zero, 53-bit precision, all exceptions masked; AArch64:
 *	  FPCR = round toward +inf, FZ).  With fpctl == 0 they are neither set
 *	  nor checked.
 *
 * Index order, x86-64 (REGS_COUNT = 90):
 *	 0-14	rax rbx rcx rdx rsi rdi rbp r8 r9 r10 r11 r12 r13 r14 r15
 *		(rdi: the stop pointer; rcx: the scratch register)
 *	15	rflags		CF PF AF ZF SF OF DF
 *	16	mxcsr		(fpctl only)
 *	17	x87cw		x87 control word (fpctl only)
 *	18-33	xmm0-xmm15	bits 0-127 of each vector register
 *	34-49	ymm0.hi-ymm15.hi	bits 128-255
 *	50-65	zmm0.hi-zmm15.hi	bits 256-511		AVX-512 only
 *	66-81	zmm16-zmm31	all 512 bits			AVX-512 only
 *	82-89	k0-k7		64-bit opmask registers		AVX-512 only
 * AVX is required.  50-89 are filled and checked only where the CPU has
 * AVX512F and AVX512BW and the kernel enables their state (XCR0); elsewhere
 * they are never reported.
 *
 * Index order, AArch64 (REGS_COUNT = 65):
 *	 0-30	x0-x30		(x1: the stop pointer; x2: the scratch register;
 *				 x18, x29 and x30 hold values too)
 *	31	nzcv
 *	32	fpcr		(fpctl only)
 *	33-64	v0-v31		all 128 bits
 * SVE state is not touched (writing v0-v31 zeroes the upper bits of z0-z31,
 * which the AAPCS64 allows at any call).
 */
#ifndef LWP_TESTS_REGS_H
#define LWP_TESTS_REGS_H

/* Size of the bad[] array regs_spin() may write: at least REGS_COUNT on
 * every architecture. */
#define REGS_MAX 96

#if defined(__x86_64__)
#define REGS_COUNT 90
#elif defined(__aarch64__)
#define REGS_COUNT 65
#else
#error "regs.h: no regs_spin() for this architecture"
#endif

#ifndef __ASSEMBLER__

#include <stdint.h>

_Static_assert(REGS_COUNT <= REGS_MAX, "REGS_MAX too small");

unsigned regs_spin(uint64_t seed, const volatile int *stop, int fpctl,
		   unsigned char *bad);

/* The static name of register index i (see the order above); "?" for an
 * index this architecture does not use. */
static inline const char *regs_name(unsigned i)
{
#if defined(__x86_64__)
	static const char *const names[REGS_COUNT] = {
		"rax",	    "rbx",	"rcx",	    "rdx",	"rsi",
		"rdi",	    "rbp",	"r8",	    "r9",	"r10",
		"r11",	    "r12",	"r13",	    "r14",	"r15",
		"rflags",   "mxcsr",	"x87cw",    "xmm0",	"xmm1",
		"xmm2",	    "xmm3",	"xmm4",	    "xmm5",	"xmm6",
		"xmm7",	    "xmm8",	"xmm9",	    "xmm10",	"xmm11",
		"xmm12",    "xmm13",	"xmm14",    "xmm15",	"ymm0.hi",
		"ymm1.hi",  "ymm2.hi",	"ymm3.hi",  "ymm4.hi",	"ymm5.hi",
		"ymm6.hi",  "ymm7.hi",	"ymm8.hi",  "ymm9.hi",	"ymm10.hi",
		"ymm11.hi", "ymm12.hi", "ymm13.hi", "ymm14.hi", "ymm15.hi",
		"zmm0.hi",  "zmm1.hi",	"zmm2.hi",  "zmm3.hi",	"zmm4.hi",
		"zmm5.hi",  "zmm6.hi",	"zmm7.hi",  "zmm8.hi",	"zmm9.hi",
		"zmm10.hi", "zmm11.hi", "zmm12.hi", "zmm13.hi", "zmm14.hi",
		"zmm15.hi", "zmm16",	"zmm17",    "zmm18",	"zmm19",
		"zmm20",    "zmm21",	"zmm22",    "zmm23",	"zmm24",
		"zmm25",    "zmm26",	"zmm27",    "zmm28",	"zmm29",
		"zmm30",    "zmm31",	"k0",	    "k1",	"k2",
		"k3",	    "k4",	"k5",	    "k6",	"k7"
	};
#elif defined(__aarch64__)
	static const char *const names[REGS_COUNT] = {
		"x0",  "x1",  "x2",  "x3",  "x4",   "x5",   "x6",  "x7",  "x8",
		"x9",  "x10", "x11", "x12", "x13",  "x14",  "x15", "x16", "x17",
		"x18", "x19", "x20", "x21", "x22",  "x23",  "x24", "x25", "x26",
		"x27", "x28", "x29", "x30", "nzcv", "fpcr", "v0",  "v1",  "v2",
		"v3",  "v4",  "v5",  "v6",  "v7",   "v8",   "v9",  "v10", "v11",
		"v12", "v13", "v14", "v15", "v16",  "v17",  "v18", "v19", "v20",
		"v21", "v22", "v23", "v24", "v25",  "v26",  "v27", "v28", "v29",
		"v30", "v31"
	};
#endif
	return i < REGS_COUNT ? names[i] : "?";
}

#endif /* !__ASSEMBLER__ */
#endif /* LWP_TESTS_REGS_H */
