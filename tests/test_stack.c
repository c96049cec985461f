/*
 * test_stack.c - process stacks (internal: runtime/stack.h): size rounding,
 * the cache and the pools, guard regions, the canary.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/mempolicy.h>

#include <criterion/criterion.h>

#include "../runtime/stack.h"
#include "lwp.h"

TestSuite(stack, .timeout = 30);

static size_t page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

Test(stack, round_bounds)
{
	size_t pg = page();

	cr_assert_eq(stack_round(0), 0);
	cr_assert_eq(stack_round(1), 0);
	cr_assert_eq(stack_round(LWP_STACK_MIN - 1), 0);
	cr_assert_eq(stack_round(LWP_STACK_MIN), LWP_STACK_MIN);
	cr_assert_eq(stack_round(LWP_STACK_MIN + 1), LWP_STACK_MIN + pg);
	cr_assert_eq(stack_round(LWP_STACK_DEFAULT), LWP_STACK_DEFAULT);
	cr_assert_eq(stack_round(LWP_STACK_MAX - 1), LWP_STACK_MAX);
	cr_assert_eq(stack_round(LWP_STACK_MAX), LWP_STACK_MAX);
	cr_assert_eq(stack_round(LWP_STACK_MAX + 1), 0);
	cr_assert_eq(stack_round(SIZE_MAX), 0);
	for (size_t s = LWP_STACK_MIN; s < LWP_STACK_MIN + 3 * pg; s += 97) {
		size_t r = stack_round(s);
		cr_assert(r >= s && r < s + pg && r % pg == 0,
			  "stack_round(%zu) = %zu", s, r);
	}
}

Test(stack, cache_is_lifo)
{
	struct stack_cache c;
	struct stack a, b, x, y;
	size_t size = stack_default();

	cr_assert_eq(size, LWP_STACK_DEFAULT);
	cr_assert_eq(stack_cache_init(&c, -1), 0);
	cr_assert_eq(stack_get(&c, size, &a), 0);
	cr_assert_eq(stack_get(&c, size, &b), 0);
	cr_assert_neq(a.lo, b.lo);
	cr_assert_eq(a.size, size);
	stack_put(&c, &a);
	stack_put(&c, &b);
	cr_assert_eq(stack_get(&c, size, &x), 0);
	cr_assert_eq(stack_get(&c, size, &y), 0);
	cr_assert_eq(x.lo, b.lo, "the last stack put is the first got");
	cr_assert_eq(y.lo, a.lo);
	stack_put(&c, &x);
	stack_put(&c, &y);
	stack_cache_drain(&c);
}

Test(stack, pool_is_lifo_for_other_sizes)
{
	struct stack a, b, x, y;
	size_t size = 3 * LWP_STACK_MIN;

	cr_assert_eq(stack_get(NULL, size, &a), 0);
	cr_assert_eq(stack_get(NULL, size, &b), 0);
	cr_assert_eq(a.size, size);
	stack_put(NULL, &a);
	stack_put(NULL, &b);
	cr_assert_eq(stack_get(NULL, size, &x), 0);
	cr_assert_eq(stack_get(NULL, size, &y), 0);
	cr_assert_eq(x.lo, b.lo);
	cr_assert_eq(y.lo, a.lo);
	/* A cache passes other sizes through to the pool. */
	struct stack_cache c;
	cr_assert_eq(stack_cache_init(&c, -1), 0);
	stack_put(&c, &x);
	cr_assert_eq(c.count, 0);
	cr_assert_eq(stack_get(&c, size, &a), 0);
	cr_assert_eq(a.lo, x.lo);
	stack_cache_drain(&c);
}

/* The policy of the page at addr: its mode, and the first word of its node
 * mask.  Skips the test where the kernel (or qemu-user) has no NUMA
 * policy calls. */
static int policy_of(void *addr, unsigned long *mask)
{
	unsigned long m[16] = { 0 };
	int mode = -1;

	if (syscall(SYS_get_mempolicy, &mode, m, sizeof(m) * 8, addr,
		    MPOL_F_ADDR) != 0) {
		if (errno == ENOSYS || errno == EPERM)
			cr_skip_test("no get_mempolicy here (errno %d)", errno);
		cr_assert_fail("get_mempolicy: errno %d", errno);
	}
	*mask = m[0];
	return mode;
}

/* The highest online NUMA node (0 on a machine with one): the last number
 * of a list such as "0-3" or "0,2". */
static int last_node(void)
{
	FILE *f = fopen("/sys/devices/system/node/online", "r");
	char buf[256] = "0";
	size_t n;
	int node;

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			strcpy(buf, "0");
		fclose(f);
	}
	n = strcspn(buf, "\n");
	while (n > 0 && buf[n - 1] >= '0' && buf[n - 1] <= '9')
		n--;
	node = atoi(buf + n);
	return node < 64 ? node : 0; /* the test reads one mask word */
}

/* A cache made for a node hands out stacks whose pages prefer it (node 0,
 * which every Linux machine has, and the last node where there are more);
 * a cache for no node leaves the default policy. */
Test(stack, slabs_prefer_the_cache_node)
{
	int nodes[2] = { 0, last_node() };

	for (int i = 0; i < 2; i++) {
		struct stack_cache c, cn;
		struct stack a, b;
		unsigned long mask;

		cr_assert_eq(stack_cache_init(&c, nodes[i]), 0);
		cr_assert_eq(stack_cache_init(&cn, -1), 0);
		cr_assert_eq(stack_get(&c, stack_default(), &a), 0);
		cr_assert_eq(stack_get(&cn, stack_default(), &b), 0);
		cr_assert_eq(a.node, nodes[i]);
		cr_assert_eq(b.node, -1);
		cr_assert_eq(policy_of(a.lo, &mask), MPOL_PREFERRED);
		cr_assert_eq(mask, 1ul << nodes[i], "node %d: mask %#lx",
			     nodes[i], mask);
		cr_assert_eq(policy_of(b.lo, &mask), MPOL_DEFAULT);
		stack_put(&c, &a);
		stack_put(&cn, &b);
		stack_cache_drain(&c);
		stack_cache_drain(&cn);
	}
}

/* A stack freed through another node's cache (its process migrated) goes
 * back to the pool of its own node, not into that cache. */
Test(stack, stack_returns_to_its_node)
{
	struct stack_cache c0, cn;
	struct stack a, x, y;
	size_t other = 5 * LWP_STACK_MIN; /* pooled, never cached */

	cr_assert_eq(stack_cache_init(&c0, 0), 0);
	cr_assert_eq(stack_cache_init(&cn, -1), 0);
	cr_assert_eq(stack_get(&c0, stack_default(), &a), 0);
	size_t cached = cn.count;
	stack_put(&cn, &a);
	cr_assert_eq(cn.count, cached, "a node-0 stack entered another cache");
	cr_assert_eq(stack_get(&c0, other, &x), 0);
	stack_put(&cn, &x);
	cr_assert_eq(stack_get(&cn, other, &y), 0);
	cr_assert_neq(y.lo, x.lo, "node -1 got node 0's stack");
	cr_assert_eq(y.node, -1);
	stack_put(&cn, &y);
	cr_assert_eq(stack_get(&c0, other, &y), 0);
	cr_assert_eq(y.lo, x.lo, "node 0's pool lost its stack");
	stack_put(&c0, &y);
	stack_cache_drain(&c0);
	stack_cache_drain(&cn);
}

/* Stacks never overlap each other's usable bytes or guards, and every
 * byte is usable. */
Test(stack, stacks_are_disjoint_and_usable)
{
	enum {
		N = 300
	};
	static struct stack st[N];
	struct stack_cache c;
	size_t pg = page();

	cr_assert_eq(stack_cache_init(&c, -1), 0);
	for (int i = 0; i < N; i++) {
		size_t size = i % 3 ? stack_default() : 2 * LWP_STACK_MIN;
		cr_assert_eq(stack_get(&c, size, &st[i]), 0, "stack %d", i);
		cr_assert_eq((uintptr_t)st[i].lo % pg, 0);
		cr_assert_eq((uintptr_t)stack_top(&st[i]) % 16, 0);
		memset(st[i].lo, i & 0xff, st[i].size);
	}
	for (int i = 0; i < N; i++) {
		uintptr_t lo = (uintptr_t)st[i].lo - pg; /* with its guard */
		uintptr_t hi = (uintptr_t)stack_top(&st[i]);
		for (int j = 0; j < N; j++) {
			uintptr_t l2 = (uintptr_t)st[j].lo;
			uintptr_t h2 = (uintptr_t)stack_top(&st[j]);
			if (i != j)
				cr_assert(h2 <= lo || l2 >= hi,
					  "stacks %d and %d overlap", i, j);
		}
		const unsigned char *p = st[i].lo;
		cr_assert(p[0] == (i & 0xff) && p[st[i].size - 1] == (i & 0xff),
			  "stack %d was overwritten", i);
	}
	for (int i = 0; i < N; i++)
		stack_put(&c, &st[i]);
	stack_cache_drain(&c);
}

/* Write to addr in a child; true if the child died of SIGSEGV. */
static bool write_faults(volatile char *addr)
{
	int status;
	pid_t pid = fork();

	cr_assert_neq(pid, -1, "fork");
	if (pid == 0) {
		/* Die of the signal itself, not of a sanitizer's report. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		*addr = 1;
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

static void check_guard(const struct stack *st, const char *what)
{
	char *lo = st->lo;
	size_t pg = page();

	cr_assert(stack_in_guard(st, lo - 1), "%s: lo - 1 in guard", what);
	cr_assert(stack_in_guard(st, lo - pg), "%s: lo - page", what);
	cr_assert_not(stack_in_guard(st, lo), "%s: lo", what);
	cr_assert_not(stack_in_guard(st, lo - pg - 1), "%s: below", what);
	cr_assert_not(stack_in_guard(st, stack_top(st)), "%s: top", what);
	cr_assert(write_faults(lo - 1), "%s: the byte below lo is writable",
		  what);
	cr_assert(write_faults(lo - pg),
		  "%s: the guard's lowest byte is "
		  "writable",
		  what);
	cr_assert_not(write_faults(lo), "%s: lo is not writable", what);
}

Test(stack, guard_region_is_inaccessible)
{
	struct stack_cache c;
	struct stack a, b, big, again;

	cr_assert_eq(stack_cache_init(&c, -1), 0);
	cr_assert_eq(stack_get(&c, stack_default(), &a), 0);
	cr_assert_eq(stack_get(&c, stack_default(), &b), 0);
	cr_assert_eq(stack_get(NULL, (size_t)8 << 20, &big), 0);
	check_guard(&a, "first");
	check_guard(&b, "second");
	check_guard(&big, "8 MiB");
	/* Still guarded after going through the cache. */
	stack_put(&c, &a);
	cr_assert_eq(stack_get(&c, stack_default(), &again), 0);
	cr_assert_eq(again.lo, a.lo);
	check_guard(&again, "reused");
	stack_put(&c, &again);
	stack_put(&c, &b);
	stack_put(NULL, &big);
	stack_cache_drain(&c);
	/* ... and after the cache handed them back to the pool. */
	cr_assert_eq(stack_get(NULL, stack_default(), &a), 0);
	check_guard(&a, "from the pool");
	stack_put(NULL, &a);
}

Test(stack, canary)
{
	struct stack st;

	cr_assert_eq(stack_get(NULL, stack_default(), &st), 0);
	stack_canary_set(&st);
	cr_assert(stack_canary_ok(&st));
	/* What an overflow that jumped the guard would do. */
	memset(st.lo, 0, 8);
	cr_assert_not(stack_canary_ok(&st));
	stack_canary_set(&st);
	cr_assert(stack_canary_ok(&st));
	((volatile char *)st.lo)[7] ^= 1;
	cr_assert_not(stack_canary_ok(&st));
	stack_put(NULL, &st);
}

Test(stack, default_size_is_settable)
{
	struct stack_cache c;
	struct stack st;
	size_t size = stack_round(LWP_STACK_MIN + 1);

	stack_set_default(size);
	cr_assert_eq(stack_default(), size);
	cr_assert_eq(stack_cache_init(&c, -1), 0);
	cr_assert_eq(stack_get(&c, size, &st), 0);
	cr_assert_eq(st.size, size);
	cr_assert_gt(c.count, 0, "default-size stacks come from the cache");
	check_guard(&st, "new default");
	stack_put(&c, &st);
	stack_cache_drain(&c);
}

/* Past what the pool keeps warm, freed stacks give their pages back when
 * asked (a scheduler going to sleep asks): the longest unused lose their
 * contents, the STACK_POOL_KEEP most recently freed keep them, and every
 * one is usable again with its guard in place. */
Test(stack, trim_gives_back_the_longest_unused)
{
	enum {
		EXTRA = 700,
		N = STACK_POOL_KEEP + EXTRA
	};
	static struct stack st[N];
	size_t size = 2 * LWP_STACK_MIN; /* not the default: no cache */

	for (int i = 0; i < N; i++) {
		cr_assert_eq(stack_get(NULL, size, &st[i]), 0, "stack %d", i);
		((volatile char *)stack_top(&st[i]))[-1] = 1;
	}
	for (int i = 0; i < N; i++)
		stack_put(NULL, &st[i]);
	stack_trim();
	for (int i = 0; i < N; i++) {
		char top = ((volatile char *)stack_top(&st[i]))[-1];
		cr_assert_eq(top, i >= EXTRA, "stack %d %s its page", i,
			     top ? "kept" : "lost");
	}
	for (int i = 0; i < N; i++) {
		struct stack s;
		cr_assert_eq(stack_get(NULL, size, &s), 0, "again %d", i);
		((volatile char *)stack_top(&s))[-1] = 2;
		if (i % 1000 == 0)
			check_guard(&s, "trimmed and taken again");
	}
}
