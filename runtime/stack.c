/*
 * stack.c - see stack.h.
 *
 * Guard regions: Linux 6.13+ has MADV_GUARD_INSTALL, which turns a range of
 * an existing mapping into a guard without splitting the VMA, so a slab of
 * stacks stays one mapping however many guards it holds.  Older kernels get
 * mprotect(PROT_NONE), which costs two VMAs per stack; Linux's default
 * vm.max_map_count (65530) then caps the runtime near 32k live stacks, and we
 * warn once as that limit approaches.
 */
#include "stack.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
#define POOL_KEEP     4096 /* free stacks the pool keeps with their pages */
#define MPROTECT_WARN 30000
#define CANARY	      0x6c77705f67756172ull /* "lwp_guar" */

/* All free stacks of one size, and the slab being carved for that size. */
struct pool {
	size_t size;
	void **free;
	size_t nfree, capfree;
	char *slab;	  /* next uncarved stack (its guard first) */
	size_t slab_left; /* stacks left to carve in the slab */
};

static struct {
	pthread_mutex_t lock;
	struct pool *pools;
	size_t npools;
	size_t default_size;
	size_t page;
	int guard_mode; /* 0 unknown, 1 madvise, 2 mprotect */
	size_t mprotect_guards;
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
static struct pool *pool_for(size_t size)
{
	struct pool *p;

	for (size_t i = 0; i < g.npools; i++)
		if (g.pools[i].size == size)
			return &g.pools[i];
	p = realloc(g.pools, (g.npools + 1) * sizeof(*p));
	if (!p)
		return NULL;
	g.pools = p;
	p = &g.pools[g.npools++];
	memset(p, 0, sizeof(*p));
	p->size = size;
	return p;
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

/* Under g.lock. */
static int pool_take(struct pool *p, void **lo)
{
	if (p->nfree) {
		*lo = p->free[--p->nfree];
		return 0;
	}
	return carve(p, lo);
}

/* Under g.lock. */
static int pool_give(struct pool *p, void *lo)
{
	if (p->nfree == p->capfree) {
		size_t cap = p->capfree ? 2 * p->capfree : 256;
		void **f = realloc(p->free, cap * sizeof(*f));
		if (!f)
			return LWP_ENOMEM;
		p->free = f;
		p->capfree = cap;
	}
	p->free[p->nfree++] = lo;
	return 0;
}

int stack_cache_init(struct stack_cache *c)
{
	c->slots = malloc(CACHE_CAP * sizeof(*c->slots));
	c->count = 0;
	c->cap = CACHE_CAP;
	return c->slots ? 0 : LWP_ENOMEM;
}

/*
 * Move n stacks from the cache to the pool.  Stacks flow between schedulers
 * (spawned on one, exiting on another), so one cache overflows while
 * another runs dry: the first POOL_KEEP free stacks keep their pages for
 * the next refill, since dropping them would cost a TLB shootdown across
 * every scheduler now and a page fault per stack later.  Beyond that, the
 * pool holds memory no one is about to touch, and gives it back.
 */
static void cache_spill(struct stack_cache *c, size_t n)
{
	struct pool *p;

	pthread_mutex_lock(&g.lock);
	p = pool_for(g.default_size);
	while (p && n-- && c->count) {
		void *lo = c->slots[--c->count];
		if (p->nfree >= POOL_KEEP)
			madvise(lo, g.default_size, MADV_DONTNEED);
		if (pool_give(p, lo) != 0) {
			c->count++; /* keep it cached rather than lose it */
			break;
		}
	}
	pthread_mutex_unlock(&g.lock);
}

static int cache_refill(struct stack_cache *c)
{
	struct pool *p;
	int err = LWP_ENOMEM;

	pthread_mutex_lock(&g.lock);
	p = pool_for(g.default_size);
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
	if (likely(size == g.default_size && c)) {
		if (unlikely(c->count == 0))
			err = cache_refill(c);
		if (!err)
			out->lo = c->slots[--c->count];
	} else {
		struct pool *p;

		pthread_mutex_lock(&g.lock);
		p = pool_for(size);
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
	if (likely(st->size == g.default_size && c)) {
		if (unlikely(c->count == c->cap))
			cache_spill(c, CACHE_BATCH);
		if (likely(c->count < c->cap)) {
			c->slots[c->count++] = st->lo;
			return;
		}
	}
	pthread_mutex_lock(&g.lock);
	struct pool *p = pool_for(st->size);
	if (!p || pool_give(p, st->lo) != 0)
		fprintf(stderr, "lwp: out of memory: a stack leaked\n");
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
