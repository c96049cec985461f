/*
 * sendafter.c - see sendafter.h.
 *
 * Who owns a slot, and how each hand-over is ordered:
 *  - free: the free list, under tab.lock;
 *  - being armed: the caller of lwp_send_after, who took it from the list
 *    (tab.lock orders it after the last owner) and fills it in;
 *  - pending: its heap, which the arming caller's timer_arm (a heap lock)
 *    handed it to;
 *  - taken: whoever took its node out of the heap under the heap's lock
 *    (timer_run firing it, or a cancel), which orders it after the arming
 *    caller: it sends or frees the message and puts the slot back.
 * slot.ref names the timer the slot holds, from before its node is armed
 * until its message has been sent or freed.  So under the lock of the heap
 * that holds the node, ref is that node's timer's: a ref that compares
 * equal there names the timer in the heap, never an earlier or a later
 * one.  A ref that compares equal while the node is in no heap names a
 * timer being fired (or, for a ref the caller guessed, being armed): a
 * cancel or a read waits until ref changes, so that when it reports a
 * timer fired, its message is in the addressee's mailbox.  That wait's
 * load is an acquire, pairing with the release that clears ref, to carry
 * the push along; every other access is relaxed: the locks carry the
 * hand-overs.
 */
#include "sendafter.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "lwp.h"
#include "mailbox.h"
#include "proc.h"
#include "runtime.h"
#include "sched.h"
#include "trace.h"
#include "timer.h"

#define CHUNK_SHIFT 12
#define CHUNK_SLOTS (1u << CHUNK_SHIFT)
#define NCHUNKS	    4096u	/* at most 16M timers pending */
#define GEN_MAX	    0x7fffffffu /* refs stay positive */

struct slot {
	struct timer timer;
	_Atomic lwp_timer_ref ref; /* its timer's, until sent; 0: none */
	struct msg_hdr *msg;	   /* what it sends: to, from, tag set */
	struct slot *next_free;
	uint32_t gen; /* of the slot's next timer */
	uint32_t index;
};

/* Type-stable: chunks are carved on demand and never freed, so any ref
 * may be looked up at any time, even one of an earlier run. */
static struct slot *_Atomic chunks[NCHUNKS];

static struct {
	pthread_mutex_t lock; /* the fields below */
	struct slot *free;
	uint32_t nchunks;
} tab = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Free slots kept by each scheduler, so that a timer armed and fired
 * (or cancelled) there takes no global lock; owner only.  Left as they are
 * when the runtime stops: the slots stay free, for the next run's
 * scheduler of that index. */
#define CACHE_MAX 64
static struct cacheline_aligned free_cache {
	struct slot *free;
	unsigned n;
} caches[LWP_SCHEDULERS_MAX];

static void fire(struct timer *timer);

/* Under tab.lock: one more chunk of free slots.  Mapped, not malloc'ed:
 * LeakSanitizer does not look into it, so a message that a timer still
 * holds when the runtime has stopped shows as the leak it would be. */
static must_check bool carve(void)
{
	uint32_t n = tab.nchunks;
	struct slot *c;

	if (n == NCHUNKS)
		return false;
	c = mmap(NULL, CHUNK_SLOTS * sizeof(*c), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED)
		return false;
	for (uint32_t i = CHUNK_SLOTS; i--;) {
		struct slot *t = &c[i];
		atomic_init(&t->timer.heap, NULL);
		t->timer.fire = fire; /* once: see sched_wait_expired */
		atomic_init(&t->ref, 0);
		t->gen = 1;
		t->index = n << CHUNK_SHIFT | i;
		t->next_free = tab.free;
		tab.free = t;
	}
	/* Release: a lookup (slot_of) reads the slots through it. */
	atomic_store_explicit(&chunks[n], c, memory_order_release);
	tab.nchunks = n + 1;
	return true;
}

/* Under tab.lock: move up to n free slots onto the list *to. */
static unsigned take_free(struct slot **to, unsigned n)
{
	unsigned got = 0;

	for (; got < n && (tab.free || carve()); got++) {
		struct slot *t = tab.free;
		tab.free = t->next_free;
		t->next_free = *to;
		*to = t;
	}
	return got;
}

/* A free slot, from s's cache (s NULL: a foreign thread, no cache). */
static must_check struct slot *slot_take(struct sched *s)
{
	struct free_cache *c = s ? &caches[s->id] : NULL;
	struct slot *t = NULL;

	if (!c) {
		pthread_mutex_lock(&tab.lock);
		(void)take_free(&t, 1);
		pthread_mutex_unlock(&tab.lock);
		return t;
	}
	if (!c->free) {
		pthread_mutex_lock(&tab.lock);
		c->n = take_free(&c->free, CACHE_MAX / 2);
		pthread_mutex_unlock(&tab.lock);
	}
	t = c->free;
	if (t) {
		c->free = t->next_free;
		c->n--;
	}
	return t;
}

/* Under tab.lock: move the first n slots of the list *from to the free
 * list. */
static void give_free(struct slot **from, unsigned n)
{
	while (n--) {
		struct slot *t = *from;
		*from = t->next_free;
		t->next_free = tab.free;
		tab.free = t;
	}
}

/* The caller owns t (taken, or never armed): free it for its next timer,
 * into s's cache (half of which goes back when it is full). */
static void slot_put(struct sched *s, struct slot *t)
{
	struct free_cache *c = s ? &caches[s->id] : NULL;

	atomic_store_explicit(&t->ref, 0, memory_order_release); /* see top */
	t->msg = NULL;
	if (++t->gen > GEN_MAX)
		return; /* every ref it could have is used: retired */
	if (c) {
		t->next_free = c->free;
		c->free = t;
		if (++c->n <= CACHE_MAX)
			return;
		c->n -= CACHE_MAX / 2;
	}
	pthread_mutex_lock(&tab.lock);
	give_free(c ? &c->free : &t, c ? CACHE_MAX / 2 : 1);
	pthread_mutex_unlock(&tab.lock);
}

/* The slot ref names, or NULL if it cannot name one. */
static struct slot *slot_of(lwp_timer_ref ref)
{
	uint32_t i = (uint32_t)((uint64_t)ref & 0xffffffffu);
	struct slot *c;

	if (ref <= 0 || i >= NCHUNKS * CHUNK_SLOTS)
		return NULL;
	c = atomic_load_explicit(&chunks[i >> CHUNK_SHIFT],
				 memory_order_acquire);
	return c ? &c[i & (CHUNK_SLOTS - 1)] : NULL;
}

/* The caller owns t: free it unsent.  s: the caller's scheduler, or NULL. */
static void discard(struct sched *s, struct slot *t)
{
	msg_delete(s, t->msg);
	slot_put(s, t);
}

/* Send h (to, from and tag set) from s, the firing scheduler.  Not
 * lwp_send_msg: that would make the running process the sender and charge
 * it, and timers may fire while a switch finishes (sched.c). */
static void deliver(struct sched *s, struct msg_hdr *h)
{
	struct proc *dst;

	/* Queued, not next: the switch being finished picked already. */
	if (proc_lookup(h->to, &dst) || msg_post(s, dst, h, false, false))
		msg_delete(s, h); /* the addressee has exited */
}

/* The owner's timer_run took t's node out of its heap: t is ours. */
static void fire(struct timer *timer)
{
	struct slot *t = container_of(timer, struct slot, timer);
	struct sched *s = sched_self();

	TRACE(timer, s, t->msg->to, t->msg->m.tag);
	deliver(s, t->msg);
	slot_put(s, t); /* only now: see wait_fired */
}

/* A free slot holding a copy of the message, or NULL (out of memory). */
static must_check struct slot *slot_new(struct sched *s, struct proc *self,
					lwp_pid to, uint64_t tag,
					const void *data, size_t size)
{
	struct msg_hdr *h = msg_new(s, size);
	struct slot *t = h ? slot_take(s) : NULL;

	if (!t) {
		if (h)
			msg_delete(s, h);
		return NULL;
	}
	if (size)
		memcpy(h->m.data, data, size);
	msg_address(h, to, pid_of(self), tag);
	t->msg = h;
	return t;
}

/*
 * Arm t in the caller's heap (s), or from a foreign thread in the heap of
 * a scheduler picked by the addressee (any would do; this spreads them).
 * A foreign thread's timer may be due before the deadline its scheduler
 * sleeps until: then that scheduler is woken.  Returns t's ref.
 */
static must_check lwp_timer_ref arm(struct sched *s, struct slot *t, int64_t ns)
{
	lwp_timer_ref ref = (lwp_timer_ref)t->gen << 32 | t->index;
	struct sched *owner =
		s ? s : &rt.scheds[PID_INDEX(t->msg->to) % rt.nscheds];
	int64_t deadline = timer_deadline(ns);

	store_relaxed(&t->ref, ref); /* before arming: see the top */
	if (timer_arm(&owner->timers, &t->timer, deadline)) {
		discard(s, t); /* never armed: no one else can take it */
		return LWP_ENOMEM;
	}
	if (owner != s && deadline <= timer_next(&owner->timers))
		sched_timer_armed(owner);
	return ref;
}

lwp_timer_ref lwp_send_after(int64_t ns, lwp_pid pid, uint64_t tag,
			     const void *data, size_t size)
{
	struct sched *s = sched_self();
	struct proc *self = sched_caller(s);
	struct slot *t;
	lwp_timer_ref ref;
	int err;

	if (ns < 0 || (!data && size) || tag > LWP_TAG_MAX)
		return LWP_EINVAL;
	err = rt_enter(self);
	if (err)
		return err;
	if (!proc_pid_valid(pid))
		ref = LWP_EBADPID;
	else if (!(t = slot_new(s, self, pid, tag, data, size)))
		ref = LWP_ENOMEM;
	else
		ref = arm(s, t, ns);
	if (self)
		(void)sched_charge(s, self);
	rt_leave(self);
	return ref;
}

/* t's node is in no heap: if t still holds ref, it is being fired (or
 * cancelled by another caller, or, for a guessed ref, armed); wait until
 * that is done, its message sent or freed (see the top). */
static void wait_fired(struct slot *t, lwp_timer_ref ref)
{
	for (int spins = 0;
	     atomic_load_explicit(&t->ref, memory_order_acquire) == ref;
	     spins++)
		if (spins < 100)
			cpu_relax();
		else
			sched_yield(); /* the firing thread lost its core */
}

/*
 * The time left on t if it still holds the pending timer ref; with take,
 * also take its node out of its heap, which makes the caller t's owner.
 * LWP_ENOTIMER if the timer fired (its message sent) or was cancelled.
 */
static int64_t time_left(struct slot *t, lwp_timer_ref ref, bool take)
{
	struct timer_heap *h = timer_lock(&t->timer);
	int64_t left;

	if (!h) {
		wait_fired(t, ref);
		return LWP_ENOTIMER;
	}
	if (load_relaxed(&t->ref) != ref) { /* the node is a later timer's */
		timer_unlock(h);
		return LWP_ENOTIMER;
	}
	left = t->timer.deadline - timer_now();
	if (take)
		timer_remove_locked(h, &t->timer);
	timer_unlock(h);
	return left > 0 ? left : 0;
}

static int64_t look_up(lwp_timer_ref ref, bool cancel)
{
	struct sched *s = sched_self();
	struct proc *self = sched_caller(s);
	struct slot *t = slot_of(ref);
	int64_t left;

	/* The ref test first: no lock for a timer long gone, and none is
	 * pending while the runtime is not running (sendafter_stop). */
	if (!t || load_relaxed(&t->ref) != ref || rt_enter(self))
		return LWP_ENOTIMER;
	left = time_left(t, ref, cancel);
	if (cancel && left >= 0)
		discard(s, t);
	rt_leave(self);
	return left;
}

int64_t lwp_cancel_timer(lwp_timer_ref ref)
{
	return look_up(ref, true);
}

int64_t lwp_read_timer(lwp_timer_ref ref)
{
	return look_up(ref, false);
}

void sendafter_stop(void)
{
	/* No lock: every thread that used the table has been joined or
	 * has left the runtime (rt_leave_foreign) by now.  The nodes of
	 * pending timers go with their heaps (timer_heap_destroy). */
	for (uint32_t c = 0; c < tab.nchunks; c++) {
		struct slot *chunk = load_relaxed(&chunks[c]);
		for (uint32_t i = 0; i < CHUNK_SLOTS; i++)
			if (load_relaxed(&chunk[i].ref))
				discard(NULL, &chunk[i]);
	}
}
