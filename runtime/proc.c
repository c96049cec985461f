/*
 * proc.c - see proc.h.
 *
 * Slots are handed out from a per-scheduler cache of free indices, refilled
 * in batches from a global list, so a warm spawn takes no lock.
 *
 * Counting processes writes no shared line at a spawn or an exit (one
 * counter shared by all was, on two cores, most of a spawn's cost):
 *  - The limit: tab.reserved counts live processes plus units of the limit
 *    that schedulers hold in reserve, and never exceeds rt.max_procs.  A
 *    scheduler takes units LIVE_BATCH at a time, spends one per spawn, gets
 *    one back per exit, and returns a batch when it holds too many.  A spawn
 *    that finds no unit left takes back every scheduler's reserve before it
 *    fails, so LWP_ELIMIT means the limit is really reached.  Units are
 *    plain counts, nothing is published through them: every access is
 *    relaxed, and a read-modify-write sees the latest value, so the limit
 *    is exact.
 *  - The count: each scheduler counts its spawns and exits (struct
 *    proc_count), and proc_live adds them up (see there).  Chunks of
 * the table are 2 MiB and asked for as transparent huge pages: a spawn storm
 * into fresh slots then costs one page fault per PROC_CHUNK_PROCS processes
 * instead of one per 16.
 */
#include "proc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "failure.h"
#include "registry.h"
#include "runtime.h"
#include "sched.h"
#include "trace.h"

#define CHUNK_BYTES ((size_t)2 << 20) /* one huge page */
#define SLOT_BATCH  (ARRAY_SIZE(((struct slot_cache *)0)->idx) / 2)
#define LIVE_BATCH  64u /* units of the limit taken or returned at once */

/* See proc.h; the rest of the table is private to this file. */
struct proc *_Atomic proc_chunks[PROC_NCHUNKS];

static struct {
	pthread_mutex_t lock; /* the fields below */
	uint32_t *free;	      /* free slot indices (a stack) */
	size_t nfree, capfree;
	/* Slots ever initialised: written under lock, released for
	 * proc_carved()'s readers, who look at no slot beyond it. */
	_Atomic uint32_t carved;
	_Atomic long reserved; /* live processes plus units in reserve */
	_Atomic uint64_t
		foreign; /* spawns from threads that are not schedulers */
} tab = { .lock = PTHREAD_MUTEX_INITIALIZER };

_Static_assert(PROC_CHUNK_PROCS * sizeof(struct proc) <= CHUNK_BYTES,
	       "a chunk of the process table must fit one huge page");

/* A 2 MiB-aligned chunk, so that it can be one huge page. */
static struct proc *chunk_new(void)
{
	size_t align = CHUNK_BYTES;
	char *m = mmap(NULL, CHUNK_BYTES + align, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *c;

	if (m == MAP_FAILED)
		return NULL;
	c = (char *)(((uintptr_t)m + align - 1) & ~(uintptr_t)(align - 1));
	if (c > m)
		munmap(m, (size_t)(c - m));
	munmap(c + CHUNK_BYTES, (size_t)(m + align - c));
	madvise(c, CHUNK_BYTES, MADV_HUGEPAGE);
	return (struct proc *)(void *)c;
}

/* Under tab.lock: initialise one more slot; LWP_ELIMIT/ENOMEM. */
static int carve(uint32_t *idx)
{
	uint32_t i = load_relaxed(&tab.carved);
	struct proc *c, *p;

	if (i >= LWP_MAX_PROCS_MAX)
		return LWP_ELIMIT;
	c = load_relaxed(&proc_chunks[i >> PROC_CHUNK_SHIFT]);
	if (!c) {
		c = chunk_new();
		if (!c)
			return LWP_ENOMEM;
		atomic_store_explicit(&proc_chunks[i >> PROC_CHUNK_SHIFT], c,
				      memory_order_release);
	}
	p = &c[i & (PROC_CHUNK_PROCS - 1)];
	atomic_init(&p->pid, LWP_NOPID);
	atomic_init(&p->mbox.inbox, 0);
	atomic_init(&p->name, NULL);
	atomic_init(&p->timer.heap, NULL);
	p->gen = 1;
	p->index = i;
	atomic_store_explicit(&tab.carved, i + 1, memory_order_release);
	*idx = i;
	return 0;
}

/* Under tab.lock. */
static int free_push(uint32_t idx)
{
	if (tab.nfree == tab.capfree) {
		size_t cap = tab.capfree ? 2 * tab.capfree : 1024;
		uint32_t *f = realloc(tab.free, cap * sizeof(*f));
		if (!f)
			return LWP_ENOMEM;
		tab.free = f;
		tab.capfree = cap;
	}
	tab.free[tab.nfree++] = idx;
	return 0;
}

/* Move up to n free indices into out; returns how many (0: see *err). */
static unsigned slots_take(uint32_t *out, unsigned n, int *err)
{
	unsigned got = 0;

	pthread_mutex_lock(&tab.lock);
	while (got < n) {
		if (tab.nfree)
			out[got++] = tab.free[--tab.nfree];
		else if ((*err = carve(&out[got])) == 0)
			got++;
		else
			break;
	}
	pthread_mutex_unlock(&tab.lock);
	return got;
}

static void slots_give(const uint32_t *idx, unsigned n)
{
	pthread_mutex_lock(&tab.lock);
	for (unsigned i = 0; i < n; i++)
		if (free_push(idx[i]) != 0)
			fprintf(stderr, "lwp: out of memory: a slot leaked\n");
	pthread_mutex_unlock(&tab.lock);
}

static int slot_get(struct slot_cache *c, uint32_t *idx)
{
	int err = LWP_ENOMEM;

	if (!c)
		return slots_take(idx, 1, &err) ? 0 : err;
	if (unlikely(c->count == 0)) {
		c->count = slots_take(c->idx, SLOT_BATCH, &err);
		if (!c->count)
			return err;
		/* Popped from the end: hand out the lowest index first, so
		 * that pids count up as Erlang's do. */
		for (unsigned i = 0, j = c->count - 1; i < j; i++, j--) {
			uint32_t t = c->idx[i];
			c->idx[i] = c->idx[j];
			c->idx[j] = t;
		}
	}
	*idx = c->idx[--c->count];
	return 0;
}

static void slot_put(struct slot_cache *c, uint32_t idx)
{
	if (!c)
		return slots_give(&idx, 1);
	if (unlikely(c->count == ARRAY_SIZE(c->idx))) {
		c->count -= SLOT_BATCH;
		slots_give(&c->idx[c->count], SLOT_BATCH);
	}
	c->idx[c->count++] = idx;
}

void proc_table_start(void)
{
	atomic_store(&tab.reserved, 0);
	atomic_store(&tab.foreign, 0);
}

/* Discard whatever the run left in the table: processes still alive when
 * the runtime stopped, and messages sent to dead incarnations.  Every slot
 * goes back on the free list, so the schedulers' slot caches are simply
 * forgotten. */
void proc_table_stop(void)
{
	pthread_mutex_lock(&tab.lock);
	tab.nfree = 0;
	for (uint32_t i = load_relaxed(&tab.carved); i-- > 0;) {
		struct proc *p = proc_slot(i);
		if (load_relaxed(&p->pid) != LWP_NOPID) {
			atomic_store(&p->pid, LWP_NOPID);
			atomic_store(&p->timer.heap, NULL);
			stack_put(NULL, &p->stack);
			failure_discard(p);
			sched_fiber_destroy(p);
			p->gen = p->gen == PROC_GEN_MAX ? 1 : p->gen + 1;
		}
		mailbox_clear(&p->mbox);
		atomic_store(&p->name, NULL);
		if (free_push(i) != 0)
			fprintf(stderr, "lwp: out of memory: a slot leaked\n");
	}
	pthread_mutex_unlock(&tab.lock);
	atomic_store(&tab.reserved, 0);
	atomic_store(&tab.foreign, 0);
}

/*
 * Every exit count first, then every spawn count, all acquire: each
 * counter's owner stores it with release after the event (a spawn before
 * it publishes the process, an exit before the process's last switch), and
 * a process's spawn happens before its exit (it was queued, and maybe
 * stolen, in between).  So every exit the first pass sees has its spawn
 * seen by the second, and any process alive between the passes is counted:
 * the result is never below the number alive at that moment.
 */
uint32_t proc_carved(void)
{
	return atomic_load_explicit(&tab.carved, memory_order_acquire);
}

size_t proc_live(void)
{
	uint64_t spawned =
		atomic_load_explicit(&tab.foreign, memory_order_acquire);
	uint64_t exited = 0;

	for (unsigned i = 0; i < rt.nscheds; i++)
		exited += atomic_load_explicit(&rt.scheds[i].count.exited,
					       memory_order_acquire);
	for (unsigned i = 0; i < rt.nscheds; i++)
		spawned += atomic_load_explicit(&rt.scheds[i].count.spawned,
						memory_order_acquire);
	return (size_t)(spawned - exited);
}

/* Count one more event in a counter only its owner writes. */
static void count_event(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, load_relaxed(c) + 1, memory_order_release);
}

/* Take n units of the limit from tab.reserved, if that many are left. */
static bool reserve_units(long n)
{
	long r = load_relaxed(&tab.reserved);

	do
		if (r + n > (long)rt.max_procs)
			return false;
	while (!atomic_compare_exchange_weak_explicit(&tab.reserved, &r, r + n,
						      memory_order_relaxed,
						      memory_order_relaxed));
	return true;
}

/* Return every scheduler's reserve to tab.reserved. */
static void reclaim_reserves(void)
{
	for (unsigned i = 0; i < rt.nscheds; i++) {
		long r = atomic_exchange_explicit(&rt.scheds[i].count.reserve,
						  0, memory_order_relaxed);
		atomic_fetch_sub_explicit(&tab.reserved, r,
					  memory_order_relaxed);
	}
}

/* A unit for one spawn on s (NULL: a foreign thread); false at the limit. */
static bool live_take(struct sched *s)
{
	if (s) {
		_Atomic long *res = &s->count.reserve;
		long r = load_relaxed(res);
		while (r > 0)
			if (atomic_compare_exchange_weak_explicit(
				    res, &r, r - 1, memory_order_relaxed,
				    memory_order_relaxed))
				return true;
		if (reserve_units(LIVE_BATCH)) {
			atomic_fetch_add_explicit(res, LIVE_BATCH - 1,
						  memory_order_relaxed);
			return true;
		}
	}
	if (reserve_units(1))
		return true;
	reclaim_reserves();
	return reserve_units(1);
}

/* Give back the unit of a process that exited (or failed to start). */
static void live_give(struct sched *s)
{
	if (!s) {
		atomic_fetch_sub_explicit(&tab.reserved, 1,
					  memory_order_relaxed);
		return;
	}
	_Atomic long *res = &s->count.reserve;
	long r = atomic_fetch_add_explicit(res, 1, memory_order_relaxed) + 1;
	if (r >= 2 * (long)LIVE_BATCH &&
	    atomic_compare_exchange_strong_explicit(res, &r, r - LIVE_BATCH,
						    memory_order_relaxed,
						    memory_order_relaxed))
		atomic_fetch_sub_explicit(&tab.reserved, LIVE_BATCH,
					  memory_order_relaxed);
}

/*
 * The fields lwp_process_info() reads of a slot that may be being reused
 * (info.c checks the pid again and drops what it read) are stored relaxed,
 * and read so, as a seqlock's data are: a torn read is thrown away, never
 * undefined.  The slot's pid is the sequence: it went to LWP_NOPID when
 * the last process died, and the release fence before the new fields
 * (proc_spawn) orders that before them, so a reader that read any new
 * field finds, through its acquire fence, a pid that is not the old one.
 */
static void set_stack(struct proc *p, const struct stack *st)
{
	__atomic_store_n(&p->stack.lo, st->lo, __ATOMIC_RELAXED);
	__atomic_store_n(&p->stack.size, st->size, __ATOMIC_RELAXED);
	p->stack.node = st->node;
#if LWP_HAVE_VALGRIND
	p->stack.vg_id = st->vg_id;
#endif
}

static void init_proc(struct proc *p, void (*fn)(void *), void *arg, int home)
{
	__atomic_store_n(&p->fn, fn, __ATOMIC_RELAXED);
	p->arg = arg;
	/* Runnable until it first runs (lwp_process_info). */
	store_relaxed(&p->after, AFTER_YIELD);
	store_relaxed(&p->switches, 0);
	store_relaxed(&p->sched_id, UINT16_MAX); /* not run yet */
	store_relaxed(&p->nlinks, 0);
	store_relaxed(&p->nmonitors, 0);
	__atomic_store_n(&p->home, (int16_t)home, __ATOMIC_RELAXED);
	p->preempt_off = 1; /* until sched_enter: see preempt.h */
	atomic_store_explicit(&p->resched, false, memory_order_relaxed);
	atomic_store_explicit(&p->supervisor, false, memory_order_relaxed);
	p->timer.fire = sched_wait_expired;
	p->last_error = 0;
	mailbox_open(&p->mbox);
	sched_fiber_create(p);
	sched_make(p);
}

lwp_pid proc_spawn(void (*fn)(void *), void *arg, size_t stack_size, int home,
		   const struct spawn_ties *ties)
{
	struct sched *s = sched_self();
	struct stack st;
	struct proc *p;
	uint32_t idx;
	lwp_pid pid;
	int err;

	if (!live_take(s))
		return LWP_ELIMIT;
	err = slot_get(s ? &s->slots : NULL, &idx);
	if (err)
		goto fail_live;
	p = proc_slot(idx);
	err = stack_get(s ? &s->stacks : NULL, stack_size, &st);
	if (err)
		goto fail_slot;
	atomic_thread_fence(memory_order_release); /* see set_stack */
	set_stack(p, &st);
	init_proc(p, fn, arg, home);
	pid = (lwp_pid)((uint64_t)p->gen << 32 | idx);
	/* Tied before it is published: it cannot end untied. */
	if (ties) {
		err = failure_tie(s->current, p, pid, ties);
		if (err)
			goto fail_stack;
	}
	if (s) /* counted before anyone can see it exit (proc_live) */
		count_event(&s->count.spawned);
	else
		atomic_fetch_add_explicit(&tab.foreign, 1,
					  memory_order_release);
	/* Release: publishes the initialised block to senders (lookup). */
	atomic_store_explicit(&p->pid, pid, memory_order_release);
	TRACE(spawn, s, pid, fn);
	sched_ready_new(s, p);
	return pid;

fail_stack:
	sched_fiber_destroy(p);
	stack_put(s ? &s->stacks : NULL, &p->stack);
fail_slot:
	slot_put(s ? &s->slots : NULL, idx);
fail_live:
	live_give(s);
	return err;
}

_Noreturn void proc_exit(struct proc *p, const lwp_reason *r, bool report)
{
	lwp_pid pid = atomic_load_explicit(&p->pid, memory_order_relaxed);
	lwp_reason why = *r; /* r may live in what the handlers free */

	preempt_disable(p); /* for good */
	failure_before_death(p, &why, report);
	/* Found only now: a handler may have been moved by a yield. */
	struct sched *s = sched_self();
	/* Counted out before the pid dies: whoever sees the pid dead may
	 * spawn in its place at once, from any scheduler, and must not find
	 * the limit still full. */
	live_give(s);
	count_event(&s->count.exited);
	TRACE(exit, s, pid, why.code);
	/* seq_cst: ordered before the load of p->name, against register's
	 * store of the name and re-check of the pid (registry.c).  Dead
	 * before its links and monitors hear of it, so that they find it
	 * dead. */
	atomic_store(&p->pid, LWP_NOPID);
	if (atomic_load(&p->name))
		registry_release(p);
	failure_after_death(p, pid, &why);
	sched_exit(p);
}

void proc_reap(struct proc *p)
{
	struct sched *s = sched_self();

	stack_put(&s->stacks, &p->stack);
	sched_fiber_destroy(p);
	p->gen = p->gen == PROC_GEN_MAX ? 1 : p->gen + 1;
	slot_put(&s->slots, p->index);
}

/* ---- the public process API ------------------------------------------- */

/* lwp_spawn_opt, and with ties (from a process only) lwp_spawn_link and
 * lwp_spawn_monitor. */
static lwp_pid spawn(void (*fn)(void *), void *arg, const lwp_spawn_opts *opts,
		     const struct spawn_ties *ties)
{
	size_t size = rt.stack_size;
	int home = -1;

	if (ties && !sched_current())
		return LWP_ENOTPROC;
	if (!fn)
		return LWP_EINVAL;
	if (opts && opts->stack_size) {
		size = stack_round(opts->stack_size);
		if (!size)
			return LWP_EINVAL;
	}
	struct sched *s = sched_self();
	struct proc *self = sched_caller(s);
	int err = rt_enter(self);
	if (err)
		return err;
	if (opts && opts->scheduler) {
		/* Checked inside the bracket: nscheds is the running one's. */
		if (opts->scheduler > rt.nscheds) {
			rt_leave(self);
			return LWP_EINVAL;
		}
		home = (int)opts->scheduler - 1;
	}
	lwp_pid pid = proc_spawn(fn, arg, size, home, ties);
	if (self && pid > 0)
		sched_charge(s, self);
	rt_leave(self);
	return pid;
}

lwp_pid proc_spawn_tied(void (*fn)(void *), void *arg,
			const lwp_spawn_opts *opts,
			const struct spawn_ties *ties)
{
	return spawn(fn, arg, opts, ties);
}

lwp_pid lwp_spawn_opt(void (*fn)(void *), void *arg, const lwp_spawn_opts *opts)
{
	return spawn(fn, arg, opts, NULL);
}

lwp_pid lwp_spawn(void (*fn)(void *), void *arg)
{
	return lwp_spawn_opt(fn, arg, NULL);
}

lwp_pid lwp_self(void)
{
	struct proc *p = sched_current();

	return p ? atomic_load_explicit(&p->pid, memory_order_relaxed) :
		   LWP_ENOTPROC;
}

bool lwp_is_alive(lwp_pid pid)
{
	struct proc *p;

	return proc_lookup(pid, &p) == 0;
}

int lwp_exit_text(int code, const char *text)
{
	struct proc *p = sched_current();
	lwp_reason r = { .code = code };

	if (!p)
		return LWP_ENOTPROC;
	if (code == LWP_EXIT_KILL)
		return LWP_EINVAL;
	if (text)
		snprintf(r.text, sizeof(r.text), "%s", text);
	proc_exit(p, &r, true);
}

int lwp_exit(int code)
{
	return lwp_exit_text(code, NULL);
}

lwp_pid_text lwp_pid_str(lwp_pid pid)
{
	lwp_pid_text t;

	if (!proc_pid_valid(pid))
		snprintf(t.s, sizeof(t.s), "<bad pid>");
	else
		snprintf(t.s, sizeof(t.s), "<0.%u.%u>", PID_INDEX(pid),
			 PID_GEN(pid));
	return t;
}
