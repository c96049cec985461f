/*
 * stack.c - see stack.h.
 *
 * Guard regions: Linux 6.13+ has MADV_GUARD_INSTALL, which turns a range of
 * an existing mapping into a guard without splitting the VMA, so a slab of
 * stacks stays one mapping however many guards it holds.  Older kernels get
 * mprotect(PROT_NONE), which costs two VMAs per stack; Linux's default
 * vm.max_map_count (65530) then caps the runtime near 32k live stacks, and we
 * warn once as that limit approaches.
 *
 * NUMA: stacks are pooled per (size, node).  A slab made for a node asks
 * the kernel to place its pages there (MPOL_PREFERRED: where that node is
 * full they land elsewhere rather than fail), so a scheduler's stacks sit
 * next to its core whoever touches them first, and a stack freed on another
 * node (its process migrated) returns to its own node's pool.
 */
#include "stack.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/mempolicy.h>

#include "lwp.h"

#if LWP_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define SLAB_BYTES    ((size_t)4 << 20)
#define CACHE_CAP     4096 /* default-size stacks a scheduler keeps */
#define CACHE_BATCH   64   /* stacks moved between cache and pool at once */
#define POOL_KEEP     STACK_POOL_KEEP
#define POOL_TRIM_AT  (2 * POOL_KEEP) /* trim at once past this many */
#define MPROTECT_WARN 30000
#define CANARY	      0x6c77705f67756172ull /* "lwp_guar" */

/* A growable array of stack addresses. */
struct stack_list {
	void **lo;
	size_t n, cap;
};

/* All free stacks of one size and node, and the slab being carved for
 * them. */
struct pool {
	size_t size;
	int node;
	struct stack_list warm; /* pages kept; the newest freed on top */
	struct stack_list cold; /* pages given back (trim) */
	bool trimming;		/* a trim is under way, outside the lock */
	char *slab;		/* next uncarved stack (its guard first) */
	size_t slab_left;	/* stacks left to carve in the slab */
};

static struct {
	pthread_mutex_t lock;
	struct pool *pools;
	size_t npools;
	size_t default_size;
	size_t page;
	int guard_mode; /* 0 unknown, 1 madvise, 2 mprotect */
	size_t mprotect_guards;
	/* Some pool keeps more than POOL_KEEP warm stacks: a hint, read
	 * without the lock by stack_trim. */
	_Atomic bool excess;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER, .default_size = LWP_STACK_DEFAULT };

static size_t page_size(void)
{
	if (!g.page)
		g.page = (size_t)sysconf(_SC_PAGESIZE);
	return g.page;
}

size_t stack_round(size_t size)
{
	size_t pg = page_size();

	if (size < LWP_STACK_MIN || size > LWP_STACK_MAX)
		return 0;
	return (size + pg - 1) & ~(pg - 1);
}

void stack_set_default(size_t size)
{
	g.default_size = size;
}

size_t stack_default(void)
{
	return g.default_size;
}

/* Does touching addr fault?  write(2) from it says EFAULT without a
 * signal.  Emulators (qemu-user 7.2) accept MADV_GUARD_INSTALL and install
 * nothing, so the first guard is checked before madvise is trusted. */
static bool faults(const void *addr)
{
	int fd[2];
	bool f;

	if (pipe(fd) != 0)
		return false;
	f = write(fd[1], addr, 1) < 0 && errno == EFAULT;
	close(fd[0]);
	close(fd[1]);
	return f;
}

static int install_guard(void *guard)
{
	if (g.guard_mode != 2 &&
	    madvise(guard, page_size(), MADV_GUARD_INSTALL) == 0) {
		if (g.guard_mode == 1 || faults(guard)) {
			g.guard_mode = 1;
			return 0;
		}
		g.guard_mode = 2; /* accepted but not enforced */
	}
	if (g.guard_mode == 1)
		return LWP_ESYS; /* madvise worked before: a real failure */
	g.guard_mode = 2;
	if (mprotect(guard, page_size(), PROT_NONE) != 0)
		return errno == ENOMEM ? LWP_ENOMEM : LWP_ESYS;
	if (++g.mprotect_guards == MPROTECT_WARN)
		fprintf(stderr,
			"lwp: %d stacks guarded with mprotect; raise "
			"vm.max_map_count (sysctl) for more processes\n",
			MPROTECT_WARN);
	return 0;
}

/* Under g.lock. */
static struct pool *pool_for(size_t size, int node)
{
	struct pool *p;

	for (size_t i = 0; i < g.npools; i++)
		if (g.pools[i].size == size && g.pools[i].node == node)
			return &g.pools[i];
	p = realloc(g.pools, (g.npools + 1) * sizeof(*p));
	if (!p)
		return NULL;
	g.pools = p;
	p = &g.pools[g.npools++];
	memset(p, 0, sizeof(*p));
	p->size = size;
	p->node = node;
	return p;
}

/* Ask for a new slab's pages on `node`.  Best effort: without a policy
 * (a kernel without NUMA support, a node gone offline) they land where
 * they are first touched, which is still on the node for a stack its own
 * scheduler carves and uses. */
static void prefer_node(void *slab, size_t len, int node)
{
	unsigned long mask[4] = { 0 };

	if (node < 0 || (size_t)node >= sizeof(mask) * 8)
		return;
	mask[node / 64] = 1ul << (node % 64);
	(void)syscall(SYS_mbind, slab, len, MPOL_PREFERRED, mask,
		      sizeof(mask) * 8, 0);
}

/* Under g.lock: a never-used stack from the current slab, or a new slab. */
static int carve(struct pool *p, void **lo)
{
	size_t stride = p->size + page_size();
	int err;

	if (p->slab_left == 0) {
		size_t n = SLAB_BYTES / stride ? SLAB_BYTES / stride : 1;
		void *m = mmap(NULL, n * stride, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				       MAP_STACK,
			       -1, 0);
		if (m == MAP_FAILED)
			return LWP_ENOMEM;
		prefer_node(m, n * stride, p->node);
		p->slab = m;
		p->slab_left = n;
	}
	err = install_guard(p->slab);
	if (err)
		return err;
	*lo = p->slab + page_size();
	p->slab += stride;
	p->slab_left--;
	return 0;
}

/* Room for n more entries in l. */
static int list_reserve(struct stack_list *l, size_t n)
{
	size_t cap = l->cap ? l->cap : 256;
	void **lo;

	if (l->n + n <= l->cap)
		return 0;
	while (cap < l->n + n)
		cap *= 2;
	lo = realloc(l->lo, cap * sizeof(*lo));
	if (!lo)
		return LWP_ENOMEM;
	l->lo = lo;
	l->cap = cap;
	return 0;
}

/* Under g.lock: the most recently freed stack, warm ones first. */
static int pool_take(struct pool *p, void **lo)
{
	if (p->warm.n) {
		*lo = p->warm.lo[--p->warm.n];
		return 0;
	}
	if (p->cold.n) {
		*lo = p->cold.lo[--p->cold.n];
		return 0;
	}
	return carve(p, lo);
}

/* Under g.lock. */
static int pool_give(struct pool *p, void *lo)
{
	int err = list_reserve(&p->warm, 1);

	if (err)
		return err;
	p->warm.lo[p->warm.n++] = lo;
	if (p->warm.n > POOL_KEEP)
		atomic_store_explicit(&g.excess, true, memory_order_relaxed);
	return 0;
}

static int by_address(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a;
	uintptr_t y = (uintptr_t) * (void *const *)b;

	return (x > y) - (x < y);
}

/* Give back the pages of n stacks of `size` bytes.  Each madvise costs a
 * TLB shootdown on every core running this process, so neighbours in a
 * slab, sorted together, go in one call (guards between them survive
 * MADV_DONTNEED: mprotect'ed ones are separate mappings, madvise'd ones are
 * page-table markers it preserves). */
static void release_pages(void **lo, size_t n, size_t size)
{
	size_t stride = size + page_size();

	qsort(lo, n, sizeof(*lo), by_address);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n; j++)
			if ((char *)lo[j] != (char *)lo[j - 1] + stride)
				break;
		madvise(lo[i],
			(size_t)((char *)lo[j - 1] - (char *)lo[i]) + size,
			MADV_DONTNEED);
	}
}

/* Under g.lock, which it drops meanwhile: move the warm stacks beyond
 * POOL_KEEP, the longest unused, to the cold list and give back their
 * pages.  One trim at a time per pool: the cold list's room is reserved
 * first, and only takes change it while the lock is dropped. */
static void pool_trim(size_t size, int node)
{
	struct pool *p = pool_for(size, node);
	size_t n;
	void **lo;

	if (!p || p->trimming || p->warm.n <= POOL_KEEP)
		return;
	n = p->warm.n - POOL_KEEP;
	lo = malloc(n * sizeof(*lo));
	if (!lo || list_reserve(&p->cold, n) != 0) {
		free(lo);
		return;
	}
	memcpy(lo, p->warm.lo, n * sizeof(*lo));
	memmove(p->warm.lo, p->warm.lo + n, POOL_KEEP * sizeof(*lo));
	p->warm.n = POOL_KEEP;
	p->trimming = true;
	pthread_mutex_unlock(&g.lock);
	release_pages(lo, n, size);
	pthread_mutex_lock(&g.lock);
	p = pool_for(size, node); /* g.pools may have moved */
	memcpy(p->cold.lo + p->cold.n, lo, n * sizeof(*lo));
	p->cold.n += n;
	p->trimming = false;
	free(lo);
}

void stack_trim(void)
{
	if (!atomic_load_explicit(&g.excess, memory_order_relaxed))
		return;
	pthread_mutex_lock(&g.lock);
	atomic_store_explicit(&g.excess, false, memory_order_relaxed);
	for (size_t i = 0; i < g.npools; i++)
		pool_trim(g.pools[i].size, g.pools[i].node);
	pthread_mutex_unlock(&g.lock);
}

int stack_cache_init(struct stack_cache *c, int node)
{
	c->slots = malloc(CACHE_CAP * sizeof(*c->slots));
	c->count = 0;
	c->cap = CACHE_CAP;
	c->node = node;
	return c->slots ? 0 : LWP_ENOMEM;
}

/*
 * Move n stacks from the cache to the pool.  Stacks flow between schedulers
 * (spawned on one, exiting on another), so one cache overflows while
 * another runs dry: the pool keeps the pages of what it is given for the
 * next refill, since dropping them would cost a TLB shootdown across every
 * scheduler now and a page fault per stack later.  It gives pages back in
 * batches: past POOL_TRIM_AT warm stacks, and when a scheduler goes to
 * sleep (stack_trim), down to POOL_KEEP.
 */
static void cache_spill(struct stack_cache *c, size_t n)
{
	struct pool *p;

	pthread_mutex_lock(&g.lock);
	p = pool_for(g.default_size, c->node);
	while (p && n-- && c->count) {
		if (pool_give(p, c->slots[c->count - 1]) != 0)
			break; /* keep it cached rather than lose it */
		c->count--;
	}
	if (p && p->warm.n > POOL_TRIM_AT)
		pool_trim(g.default_size, c->node);
	pthread_mutex_unlock(&g.lock);
}

static int cache_refill(struct stack_cache *c)
{
	struct pool *p;
	int err = LWP_ENOMEM;

	pthread_mutex_lock(&g.lock);
	p = pool_for(g.default_size, c->node);
	for (size_t i = 0; p && i < CACHE_BATCH; i++) {
		err = pool_take(p, &c->slots[c->count]);
		if (err)
			break;
		c->count++;
	}
	pthread_mutex_unlock(&g.lock);
	return c->count ? 0 : err;
}

void stack_cache_drain(struct stack_cache *c)
{
	if (c->slots) {
		cache_spill(c, c->count);
		free(c->slots);
	}
	c->slots = NULL;
	c->count = c->cap = 0;
}

static void stack_register(struct stack *st)
{
#if LWP_HAVE_VALGRIND
	st->vg_id = VALGRIND_STACK_REGISTER(st->lo, stack_top(st));
#endif
#if LWP_STACK_CANARY
	stack_canary_set(st);
#endif
	(void)st;
}

int stack_get(struct stack_cache *c, size_t size, struct stack *out)
{
	int err = 0;

	out->size = size;
	out->node = c ? c->node : -1;
	if (likely(size == g.default_size && c)) {
		if (unlikely(c->count == 0))
			err = cache_refill(c);
		if (!err)
			out->lo = c->slots[--c->count];
	} else {
		struct pool *p;

		pthread_mutex_lock(&g.lock);
		p = pool_for(size, out->node);
		err = p ? pool_take(p, &out->lo) : LWP_ENOMEM;
		pthread_mutex_unlock(&g.lock);
	}
	if (!err)
		stack_register(out);
	return err;
}

void stack_put(struct stack_cache *c, const struct stack *st)
{
#if LWP_HAVE_VALGRIND
	VALGRIND_STACK_DEREGISTER(st->vg_id);
#endif
	if (likely(st->size == g.default_size && c && st->node == c->node)) {
		if (unlikely(c->count == c->cap))
			cache_spill(c, CACHE_BATCH);
		if (likely(c->count < c->cap)) {
			c->slots[c->count++] = st->lo;
			return;
		}
	}
	pthread_mutex_lock(&g.lock);
	struct pool *p = pool_for(st->size, st->node);
	if (!p || pool_give(p, st->lo) != 0)
		fprintf(stderr, "lwp: out of memory: a stack leaked\n");
	else if (p->warm.n > POOL_TRIM_AT)
		pool_trim(st->size, st->node);
	pthread_mutex_unlock(&g.lock);
}

bool stack_in_guard(const struct stack *st, const void *addr)
{
	const char *a = addr, *lo = st->lo;

	return a < lo && a >= lo - page_size();
}

void stack_canary_set(const struct stack *st)
{
	*(volatile uint64_t *)st->lo = CANARY;
}

bool stack_canary_ok(const struct stack *st)
{
	return *(volatile uint64_t *)st->lo == CANARY;
}
