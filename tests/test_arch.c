/*
 * test_arch.c - the machine-specific context switch (arch/<cpu>/switch.S).
 *
 * The register test cannot be written in plain C: the compiler would keep
 * its own values in the callee-saved registers and restore them itself.  So
 * one small assembly helper (test_arch_regs_switch, below) loads a given set
 * of values into every callee-saved register and the FP control registers,
 * calls arch_switch(), and stores what those registers hold when it is
 * resumed.  Both sides of the switch run it with different values, so a
 * register that arch_switch() forgets comes back holding the other side's
 * value and the comparison fails.
 *
 * Nothing here asserts while running on a context's own stack (Criterion
 * leaves a failed test with longjmp): contexts record, the main stack checks.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <unwind.h>

#include "arch.h"

#define HIDDEN __attribute__((visibility("hidden")))

/* Start of the fresh-context trampoline in switch.S, for the unwind test. */
extern const char arch_trampoline[] HIDDEN;

/* ---------------------------------------------------------------- stacks */

#define STACK_SIZE (256 * 1024)

struct stack {
	void *base; /* start of the mapping: one guard page, then the stack */
	size_t len;
	void *top; /* highest address, 16-byte aligned */
};

static struct stack stack_new(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct stack s = { .len = STACK_SIZE + page };

	s.base = mmap(NULL, s.len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert(s.base != MAP_FAILED, "mmap stack");
	cr_assert(mprotect(s.base, page, PROT_NONE) == 0, "guard page");
	s.top = (char *)s.base + s.len;
	return s;
}

static void stack_free(struct stack *s)
{
	munmap(s->base, s->len);
}

/* ------------------------------------------- register set and asm helper */

#if defined(__x86_64__)

#define NGPR 6 /* rbx, rbp, r12, r13, r14, r15 */
#define NFPR 0
struct regset {
	uint64_t gpr[NGPR];
	uint32_t mxcsr;
	uint16_t fpcw;
	uint16_t pad;
	void *ret; /* what arch_switch() returned */
};
_Static_assert(offsetof(struct regset, mxcsr) == 48, "asm offsets");
_Static_assert(offsetof(struct regset, fpcw) == 52, "asm offsets");
_Static_assert(offsetof(struct regset, ret) == 56, "asm offsets");

/* Neither is the default (MXCSR 0x1F80, x87 CW 0x037F), nor each other. */
#define MXCSR_A 0x7F80 /* round toward zero */
#define MXCSR_B 0xBF80 /* round down, flush to zero */
#define FPCW_A	0x0E7F /* round toward zero, 53-bit precision */
#define FPCW_B	0x047F /* round down, 24-bit precision */

static void fpctl_set(uint32_t mxcsr, uint16_t fpcw)
{
	__asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(mxcsr), "m"(fpcw));
}

static void fpctl_get(uint32_t *mxcsr, uint16_t *fpcw)
{
	__asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(*mxcsr), "=m"(*fpcw));
}

/*
 * void *test_arch_regs_switch(arch_ctx *from, const arch_ctx *to,
 *			      void *arg, const struct regset *in,
 *			      struct regset *out);
 * rdi, rsi, rdx go to arch_switch() untouched; rcx = in, r8 = out.
 * Frame: the caller's six callee-saved registers, then 24 bytes: the
 * caller's MXCSR and x87 CW at 0(%rsp), `out` at 8(%rsp).  6 * 8 + 24 plus
 * the return address keeps rsp 16-byte aligned at the call.
 */
__asm__(".text\n"
	".globl test_arch_regs_switch\n"
	".hidden test_arch_regs_switch\n"
	".type test_arch_regs_switch, @function\n"
	".p2align 4\n"
	"test_arch_regs_switch:\n"
	"	endbr64\n"
	"	pushq	%rbp\n"
	"	pushq	%rbx\n"
	"	pushq	%r12\n"
	"	pushq	%r13\n"
	"	pushq	%r14\n"
	"	pushq	%r15\n"
	"	subq	$24, %rsp\n"
	"	stmxcsr	0(%rsp)\n"
	"	fnstcw	4(%rsp)\n"
	"	movq	%r8, 8(%rsp)\n"
	"	movq	0(%rcx), %rbx\n"
	"	movq	8(%rcx), %rbp\n"
	"	movq	16(%rcx), %r12\n"
	"	movq	24(%rcx), %r13\n"
	"	movq	32(%rcx), %r14\n"
	"	movq	40(%rcx), %r15\n"
	"	ldmxcsr	48(%rcx)\n"
	"	fldcw	52(%rcx)\n"
	"	call	arch_switch\n"
	"	movq	8(%rsp), %rcx\n"
	"	movq	%rbx, 0(%rcx)\n"
	"	movq	%rbp, 8(%rcx)\n"
	"	movq	%r12, 16(%rcx)\n"
	"	movq	%r13, 24(%rcx)\n"
	"	movq	%r14, 32(%rcx)\n"
	"	movq	%r15, 40(%rcx)\n"
	"	stmxcsr	48(%rcx)\n"
	"	fnstcw	52(%rcx)\n"
	"	movq	%rax, 56(%rcx)\n"
	"	ldmxcsr	0(%rsp)\n"
	"	fldcw	4(%rsp)\n"
	"	addq	$24, %rsp\n"
	"	popq	%r15\n"
	"	popq	%r14\n"
	"	popq	%r13\n"
	"	popq	%r12\n"
	"	popq	%rbx\n"
	"	popq	%rbp\n"
	"	ret\n"
	".size test_arch_regs_switch, .-test_arch_regs_switch\n");

/*
 * Entry point for the fresh-context probe: record rsp exactly as entry sees
 * it, then tail-call the C part (same rsp, arg still in rdi).  Reached by
 * the trampoline's indirect call, hence endbr64.
 */
__asm__(".text\n"
	".globl test_arch_probe_entry\n"
	".hidden test_arch_probe_entry\n"
	".type test_arch_probe_entry, @function\n"
	".p2align 4\n"
	"test_arch_probe_entry:\n"
	"	endbr64\n"
	"	movq	%rsp, test_arch_probe_sp(%rip)\n"
	"	jmp	test_arch_probe_c\n"
	".size test_arch_probe_entry, .-test_arch_probe_entry\n");

/* At function entry rsp + 8 is 16-byte aligned (as after a call). */
#define ENTRY_SP_OK(sp) ((((sp) + 8) & 15) == 0)

#elif defined(__aarch64__)

/* x19 .. x29 and d8 .. d15 */
#define NGPR		11
#define NFPR		8
struct regset {
	uint64_t gpr[NGPR];
	uint64_t fpr[NFPR];
	uint64_t fpcr;
	void *ret; /* what arch_switch() returned */
};
_Static_assert(offsetof(struct regset, fpr) == 88, "asm offsets");
_Static_assert(offsetof(struct regset, fpcr) == 152, "asm offsets");
_Static_assert(offsetof(struct regset, ret) == 160, "asm offsets");

/*
 * Neither is the default (0) nor each other.  A: round toward zero, default
 * NaN; B: round up, flush to zero.
 */
#define FPCR_A		((3u << 22) | (1u << 25))
#define FPCR_B		((1u << 22) | (1u << 24))

static void fpctl_set(uint64_t fpcr)
{
	__asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
}

static uint64_t fpctl_get(void)
{
	uint64_t fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	return fpcr;
}

/*
 * void *test_arch_regs_switch(arch_ctx *from, const arch_ctx *to,
 *			      void *arg, const struct regset *in,
 *			      struct regset *out);
 * x0, x1, x2 go to arch_switch() untouched; x3 = in, x4 = out.
 * Frame (0xb0): caller's x29/x30, x19-x28, d8-d15, FPCR at 0xa0, `out` at
 * 0xa8.  Everything is addressed from sp, since x29 gets a test value.
 */
__asm__(".text\n"
	".globl test_arch_regs_switch\n"
	".hidden test_arch_regs_switch\n"
	".type test_arch_regs_switch, %function\n"
	".p2align 4\n"
	"test_arch_regs_switch:\n"
	"	hint	#34\n"
	"	stp	x29, x30, [sp, #-0xb0]!\n"
	"	stp	x19, x20, [sp, #0x10]\n"
	"	stp	x21, x22, [sp, #0x20]\n"
	"	stp	x23, x24, [sp, #0x30]\n"
	"	stp	x25, x26, [sp, #0x40]\n"
	"	stp	x27, x28, [sp, #0x50]\n"
	"	stp	d8, d9, [sp, #0x60]\n"
	"	stp	d10, d11, [sp, #0x70]\n"
	"	stp	d12, d13, [sp, #0x80]\n"
	"	stp	d14, d15, [sp, #0x90]\n"
	"	mrs	x9, fpcr\n"
	"	stp	x9, x4, [sp, #0xa0]\n"
	"	ldp	x19, x20, [x3, #0]\n"
	"	ldp	x21, x22, [x3, #16]\n"
	"	ldp	x23, x24, [x3, #32]\n"
	"	ldp	x25, x26, [x3, #48]\n"
	"	ldp	x27, x28, [x3, #64]\n"
	"	ldr	x29, [x3, #80]\n"
	"	ldp	d8, d9, [x3, #88]\n"
	"	ldp	d10, d11, [x3, #104]\n"
	"	ldp	d12, d13, [x3, #120]\n"
	"	ldp	d14, d15, [x3, #136]\n"
	"	ldr	x9, [x3, #152]\n"
	"	msr	fpcr, x9\n"
	"	bl	arch_switch\n"
	"	ldr	x4, [sp, #0xa8]\n"
	"	stp	x19, x20, [x4, #0]\n"
	"	stp	x21, x22, [x4, #16]\n"
	"	stp	x23, x24, [x4, #32]\n"
	"	stp	x25, x26, [x4, #48]\n"
	"	stp	x27, x28, [x4, #64]\n"
	"	str	x29, [x4, #80]\n"
	"	stp	d8, d9, [x4, #88]\n"
	"	stp	d10, d11, [x4, #104]\n"
	"	stp	d12, d13, [x4, #120]\n"
	"	stp	d14, d15, [x4, #136]\n"
	"	mrs	x9, fpcr\n"
	"	str	x9, [x4, #152]\n"
	"	str	x0, [x4, #160]\n"
	"	ldr	x9, [sp, #0xa0]\n"
	"	msr	fpcr, x9\n"
	"	ldp	x19, x20, [sp, #0x10]\n"
	"	ldp	x21, x22, [sp, #0x20]\n"
	"	ldp	x23, x24, [sp, #0x30]\n"
	"	ldp	x25, x26, [sp, #0x40]\n"
	"	ldp	x27, x28, [sp, #0x50]\n"
	"	ldp	d8, d9, [sp, #0x60]\n"
	"	ldp	d10, d11, [sp, #0x70]\n"
	"	ldp	d12, d13, [sp, #0x80]\n"
	"	ldp	d14, d15, [sp, #0x90]\n"
	"	ldp	x29, x30, [sp], #0xb0\n"
	"	ret\n"
	".size test_arch_regs_switch, .-test_arch_regs_switch\n");

/*
 * Entry point for the fresh-context probe: record sp exactly as entry sees
 * it, then tail-call the C part (same sp, arg still in x0).  Reached by
 * the trampoline's blr, hence bti c.
 */
__asm__(".text\n"
	".globl test_arch_probe_entry\n"
	".hidden test_arch_probe_entry\n"
	".type test_arch_probe_entry, %function\n"
	".p2align 4\n"
	"test_arch_probe_entry:\n"
	"	hint	#34\n"
	"	mov	x9, sp\n"
	"	adrp	x10, test_arch_probe_sp\n"
	"	str	x9, [x10, :lo12:test_arch_probe_sp]\n"
	"	b	test_arch_probe_c\n"
	".size test_arch_probe_entry, .-test_arch_probe_entry\n");

/* sp is always 16-byte aligned on AArch64. */
#define ENTRY_SP_OK(sp) (((sp)&15) == 0)

#else
#error "test_arch.c: unsupported architecture"
#endif

void *test_arch_regs_switch(arch_ctx *from, const arch_ctx *to, void *arg,
			    const struct regset *in, struct regset *out) HIDDEN;
void test_arch_probe_entry(void *arg) HIDDEN;

/* Distinct values for side A or side B, none of them 0 or equal. */
static void regset_fill(struct regset *r, int side)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < NGPR; i++)
		r->gpr[i] = (side ? 0xb0b0000000000000u : 0xa0a0000000000000u) |
			    (uint64_t)(i + 1) * 0x0000010101010101u;
#if defined(__x86_64__)
	r->mxcsr = side ? MXCSR_B : MXCSR_A;
	r->fpcw = side ? FPCW_B : FPCW_A;
#else
	for (int i = 0; i < NFPR; i++)
		r->fpr[i] = (side ? 0xc0c0000000000000u : 0x4040000000000000u) |
			    (uint64_t)(i + 1) * 0x0000001111111111u;
	r->fpcr = side ? FPCR_B : FPCR_A;
#endif
}

/* Compare what came back with what went in; report each difference. */
static int regset_check(const char *who, const struct regset *in,
			const struct regset *out)
{
	int bad = 0;

	for (int i = 0; i < NGPR; i++)
		if (out->gpr[i] != in->gpr[i]) {
			cr_log_error("%s: gpr[%d] %#llx, want %#llx", who, i,
				     (unsigned long long)out->gpr[i],
				     (unsigned long long)in->gpr[i]);
			bad++;
		}
#if defined(__x86_64__)
	/* Low six bits of MXCSR are sticky exception flags, not control. */
	if ((out->mxcsr & ~0x3fu) != (in->mxcsr & ~0x3fu)) {
		cr_log_error("%s: mxcsr %#x, want %#x", who, out->mxcsr,
			     in->mxcsr);
		bad++;
	}
	if (out->fpcw != in->fpcw) {
		cr_log_error("%s: x87 cw %#x, want %#x", who, out->fpcw,
			     in->fpcw);
		bad++;
	}
#else
	for (int i = 0; i < NFPR; i++)
		if (out->fpr[i] != in->fpr[i]) {
			cr_log_error("%s: d%d %#llx, want %#llx", who, i + 8,
				     (unsigned long long)out->fpr[i],
				     (unsigned long long)in->fpr[i]);
			bad++;
		}
	if (out->fpcr != in->fpcr) {
		cr_log_error("%s: fpcr %#llx, want %#llx", who,
			     (unsigned long long)out->fpcr,
			     (unsigned long long)in->fpcr);
		bad++;
	}
#endif
	return bad;
}

/* --------------------------------------------------- callee-saved state */

static arch_ctx main_ctx, clob_ctx;
static struct regset clob_in, clob_out;
static int clob_rounds, clob_bad;
static void *clob_last_arg;

/* Side B: hold B values across every switch back to the main side. */
static void clobber_entry(void *arg)
{
	for (;;) {
		clob_last_arg = arg;
		arg = test_arch_regs_switch(&clob_ctx, &main_ctx,
					    (void *)(uintptr_t)0xb0b0, &clob_in,
					    &clob_out);
		clob_rounds++;
		clob_bad += regset_check("B", &clob_in, &clob_out);
		if (clob_out.ret != arg)
			clob_bad++;
	}
}

Test(arch, callee_saved_survive)
{
	struct stack st = stack_new();
	struct regset in, out;

	regset_fill(&in, 0);
	regset_fill(&clob_in, 1);
	arch_make(&clob_ctx, st.top, clobber_entry);
	for (int round = 0; round < 3; round++) {
		void *arg = (void *)(uintptr_t)(0xa0a0 + round);

		memset(&out, 0, sizeof(out));
		test_arch_regs_switch(&main_ctx, &clob_ctx, arg, &in, &out);
		cr_assert_eq(regset_check("A", &in, &out), 0,
			     "round %d: callee-saved state of side A changed "
			     "across a switch",
			     round);
		cr_assert_eq(out.ret, (void *)(uintptr_t)0xb0b0);
		cr_assert_eq(clob_last_arg, arg);
	}
	cr_assert_eq(clob_rounds, 2);
	cr_assert_eq(clob_bad, 0,
		     "callee-saved state of side B changed across a switch");
	stack_free(&st);
}

/* ------------------------------------------------------ fresh contexts */

static arch_ctx probe_ctx;
HIDDEN uintptr_t test_arch_probe_sp;
static void *probe_arg;
static uintptr_t probe_frame, probe_local;
static int probe_nframes;
static uintptr_t probe_frames[16];
static _Unwind_Reason_Code probe_unwind;
#if defined(__x86_64__)
static uint32_t probe_mxcsr;
static uint16_t probe_fpcw;
#else
static uint64_t probe_fpcr;
#endif

/*
 * The libgcc unwinder directly, not glibc's backtrace(): that one also stops
 * when a frame makes no progress, which would hide an unwinder that loops
 * on the trampoline.  Stop at 16 frames with an error instead.
 */
static _Unwind_Reason_Code unwind_frame(struct _Unwind_Context *uc, void *p)
{
	(void)p;
	if (probe_nframes == 16)
		return _URC_NORMAL_STOP;
	probe_frames[probe_nframes++] = _Unwind_GetIP(uc);
	return _URC_NO_REASON;
}

void test_arch_probe_c(void *arg) HIDDEN;
void test_arch_probe_c(void *arg)
{
	__attribute__((aligned(16))) volatile char local[16];

	local[0] = 1;
#if defined(__x86_64__)
	fpctl_get(&probe_mxcsr, &probe_fpcw);
#else
	probe_fpcr = fpctl_get();
#endif
	probe_arg = arg;
	probe_frame = (uintptr_t)__builtin_frame_address(0);
	probe_local = (uintptr_t)&local[0];
	probe_unwind = _Unwind_Backtrace(unwind_frame, NULL);
	for (;;)
		arch_switch(&probe_ctx, &main_ctx, NULL);
}

Test(arch, fresh_context_arg_alignment_unwind)
{
	struct stack st = stack_new();
	uintptr_t top = (uintptr_t)st.top;

	arch_make(&probe_ctx, st.top, test_arch_probe_entry);
	arch_switch(&main_ctx, &probe_ctx,
		    (void *)(uintptr_t)0x0123456789abcdef);

	cr_assert_eq(probe_arg, (void *)(uintptr_t)0x0123456789abcdef);
	cr_assert(ENTRY_SP_OK(test_arch_probe_sp), "entry sp %#lx misaligned",
		  (unsigned long)test_arch_probe_sp);
	cr_assert(test_arch_probe_sp <= top && test_arch_probe_sp >= top - 64,
		  "entry sp %#lx not just below the top %#lx",
		  (unsigned long)test_arch_probe_sp, (unsigned long)top);
	cr_assert_eq(probe_frame & 15, 0, "frame address %#lx",
		     (unsigned long)probe_frame);
	cr_assert_eq(probe_local & 15, 0);
	cr_assert(probe_local < top && probe_local > top - 4096);

	/*
	 * The unwinder must stop at the trampoline: the last real frame is the
	 * return address of the trampoline's call to entry, then libgcc reports
	 * the end (a frame with ip 0, as for _start on a thread's own stack).
	 */
	cr_assert_eq(
		probe_unwind, _URC_END_OF_STACK,
		"unwinder did not find the end of the stack (%d, %d frames)",
		(int)probe_unwind, probe_nframes);
	cr_assert(probe_nframes >= 3 && probe_nframes <= 5, "%d frames",
		  probe_nframes);
	cr_assert_eq(probe_frames[probe_nframes - 1], 0);
	uintptr_t last = probe_frames[probe_nframes - 2];
	cr_assert(last > (uintptr_t)arch_trampoline &&
			  last < (uintptr_t)arch_trampoline + 64,
		  "outermost frame %#lx is not in the trampoline (%p)",
		  (unsigned long)last, (void *)arch_trampoline);
	stack_free(&st);
}

/*
 * A fresh context starts with the FP control state of the context that
 * switches to it, not the one current when arch_make() ran.
 */
Test(arch, fresh_context_inherits_fp_control)
{
	struct stack st = stack_new();

	arch_make(&probe_ctx, st.top, test_arch_probe_entry);
#if defined(__x86_64__)
	uint32_t mxcsr;
	uint16_t fpcw;

	fpctl_get(&mxcsr, &fpcw);
	fpctl_set(MXCSR_A, FPCW_A);
	arch_switch(&main_ctx, &probe_ctx, NULL);
	fpctl_set(mxcsr, fpcw);
	cr_assert_eq(probe_mxcsr & ~0x3fu, MXCSR_A, "mxcsr %#x", probe_mxcsr);
	cr_assert_eq(probe_fpcw, FPCW_A, "x87 cw %#x", probe_fpcw);
#else
	uint64_t fpcr = fpctl_get();

	fpctl_set(FPCR_A);
	arch_switch(&main_ctx, &probe_ctx, NULL);
	fpctl_set(fpcr);
	cr_assert_eq(probe_fpcr, FPCR_A, "fpcr %#llx",
		     (unsigned long long)probe_fpcr);
#endif
	stack_free(&st);
}

static void return_entry(void *arg)
{
	(void)arg;
}

#if defined(__x86_64__)
#define TRAP_SIGNAL SIGILL /* ud2 */
#else
#define TRAP_SIGNAL SIGTRAP /* brk */
#endif

/* An entry function that returns hits the trap in the trampoline. */
Test(arch, entry_return_traps, .signal = TRAP_SIGNAL)
{
	struct stack st = stack_new();

	arch_make(&probe_ctx, st.top, return_entry);
	arch_switch(&main_ctx, &probe_ctx, NULL);
	cr_assert_fail("returned from a context whose entry returned");
}

/* ------------------------------------------------------------ ping-pong */

#define SWITCHES 10000000 /* both directions together */

static arch_ctx pong_ctx;
static uintptr_t pong_count;

static void pong_entry(void *arg)
{
	uintptr_t v = (uintptr_t)arg;

	for (;;) {
		pong_count++;
		v = (uintptr_t)arch_switch(&pong_ctx, &main_ctx,
					   (void *)(v + 1));
	}
}

Test(arch, ten_million_switches)
{
	struct stack st = stack_new();
	uintptr_t v = 0, bad = 0;

	arch_make(&pong_ctx, st.top, pong_entry);
	for (uintptr_t i = 0; i < SWITCHES / 2; i++) {
		v = (uintptr_t)arch_switch(&main_ctx, &pong_ctx, (void *)v);
		bad += v != i + 1;
	}
	cr_assert_eq(bad, 0);
	cr_assert_eq(v, SWITCHES / 2);
	cr_assert_eq(pong_count, SWITCHES / 2);
	stack_free(&st);
}

/* ----------------------------------------------------- argument passing */

/*
 * Three contexts: main, A and B.  Every switch carries a distinct value and
 * the receiving side logs it, so the log shows both directions of every
 * hand-off: entry arguments, arch_switch() return values on the resuming
 * side, and switches between two non-main contexts.
 */
static arch_ctx a_ctx, b_ctx;
static uintptr_t arg_log[16];
static int arg_n;

static void arg_log_add(uintptr_t v)
{
	if (arg_n < 16)
		arg_log[arg_n] = v;
	arg_n++;
}

static void b_entry(void *arg)
{
	arg_log_add((uintptr_t)arg); /* [3] A -> fresh B */
	arg = arch_switch(&b_ctx, &a_ctx, (void *)0x5555555555555555u);
	arg_log_add((uintptr_t)arg); /* [7] A -> resumed B */
	for (;;)
		arch_switch(&b_ctx, &main_ctx, (void *)0x8888888888888888u);
}

static void a_entry(void *arg)
{
	arg_log_add((uintptr_t)arg); /* [0] main -> fresh A */
	arg = arch_switch(&a_ctx, &main_ctx, (void *)0x2222222222222222u);
	arg_log_add((uintptr_t)arg); /* [2] main -> resumed A */
	arg = arch_switch(&a_ctx, &b_ctx, (void *)0x4444444444444444u);
	arg_log_add((uintptr_t)arg); /* [4] B -> resumed A */
	arg = arch_switch(&a_ctx, &main_ctx, NULL);
	arg_log_add((uintptr_t)arg); /* [6] main -> resumed A */
	arch_switch(&a_ctx, &b_ctx, (void *)0x7777777777777777u);
	for (;;)
		arch_switch(&a_ctx, &main_ctx, NULL);
}

Test(arch, arg_passing_both_ways)
{
	struct stack sa = stack_new(), sb = stack_new();
	void *r;

	arch_make(&a_ctx, sa.top, a_entry);
	arch_make(&b_ctx, sb.top, b_entry);

	r = arch_switch(&main_ctx, &a_ctx, (void *)0x1111111111111111u);
	arg_log_add((uintptr_t)r); /* [1] A -> main */
	r = arch_switch(&main_ctx, &a_ctx, (void *)0x3333333333333333u);
	arg_log_add((uintptr_t)r); /* [5] A -> main, NULL */
	r = arch_switch(&main_ctx, &a_ctx, (void *)0x6666666666666666u);
	arg_log_add((uintptr_t)r); /* [8] B -> main */

	static const uintptr_t want[] = {
		0x1111111111111111u, 0x2222222222222222u, 0x3333333333333333u,
		0x4444444444444444u, 0x5555555555555555u, 0,
		0x6666666666666666u, 0x7777777777777777u, 0x8888888888888888u,
	};
	cr_assert_eq(arg_n, (int)(sizeof(want) / sizeof(want[0])));
	for (int i = 0; i < arg_n; i++)
		cr_assert_eq(arg_log[i], want[i],
			     "hand-off %d: %#lx, want %#lx", i,
			     (unsigned long)arg_log[i], (unsigned long)want[i]);
	stack_free(&sa);
	stack_free(&sb);
}
