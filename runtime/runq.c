/*
 * runq.c - see runq.h.
 *
 * Memory orderings of the ring (the invariant: slots [head, tail) hold
 * runnable processes, each in exactly one slot, and a slot is rewritten by
 * the owner only after head has moved past it):
 *  - the owner writes a slot, then publishes it with a release store of
 *    tail; a consumer's acquire load of tail therefore sees the slot;
 *  - consumers read head with acquire and commit with a release CAS on
 *    head; the owner's acquire load of head in runq_push then orders the
 *    consumer's read of the slot before the owner's reuse of it;
 *  - slots are atomic (relaxed) because a consumer that loses its CAS may
 *    have read a slot the owner is rewriting: the value is discarded, but
 *    plain accesses would be a data race;
 *  - a thief copies what it steals into free slots of its own ring before
 *    its CAS; they are past its tail, so no one else reads them until it
 *    publishes them with a release store of its tail.
 */
#include "runq.h"

#include "lwp.h"
#include "proc.h"

void runq_init(struct runq *q)
{
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
	for (unsigned i = 0; i < RUNQ_SIZE; i++)
		atomic_init(&q->slots[i], NULL);
	q->priv = q->preempted = (struct proc_list){ NULL, NULL };
	q->oldest = q->newest = 0;
	q->ring_turn = false;
}

/* Move half of a full ring plus p to the overflow queue.  False if a
 * consumer raced us and the ring has room again. */
static bool push_slow(struct runq *q, struct proc *p, uint32_t h, uint32_t t,
		      struct procq *overflow)
{
	uint32_t n = (t - h) / 2;
	struct proc *first, *prev;

	first = prev = atomic_load_explicit(&q->slots[h % RUNQ_SIZE],
					    memory_order_relaxed);
	for (uint32_t i = 1; i < n; i++) {
		struct proc *x = atomic_load_explicit(
			&q->slots[(h + i) % RUNQ_SIZE], memory_order_relaxed);
		prev->next = x;
		prev = x;
	}
	/* Release: pairs with consumers' acquire of head (see above). */
	if (!atomic_compare_exchange_strong_explicit(&q->head, &h, h + n,
						     memory_order_release,
						     memory_order_relaxed))
		return false;
	prev->next = p;
	p->next = NULL;
	procq_push(overflow, first, p, n + 1);
	return true;
}

void runq_push(struct runq *q, struct proc *p, struct procq *overflow)
{
	for (;;) {
		uint32_t h =
			atomic_load_explicit(&q->head, memory_order_acquire);
		uint32_t t =
			atomic_load_explicit(&q->tail, memory_order_relaxed);
		if (t - h < RUNQ_SIZE) {
			atomic_store_explicit(&q->slots[t % RUNQ_SIZE], p,
					      memory_order_relaxed);
			atomic_store_explicit(&q->tail, t + 1,
					      memory_order_release);
			return;
		}
		if (push_slow(q, p, h, t, overflow))
			return;
	}
}

static struct proc *ring_pop(struct runq *q)
{
	for (;;) {
		uint32_t h =
			atomic_load_explicit(&q->head, memory_order_acquire);
		uint32_t t =
			atomic_load_explicit(&q->tail, memory_order_relaxed);
		if (t == h)
			return NULL;
		struct proc *p = atomic_load_explicit(&q->slots[h % RUNQ_SIZE],
						      memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(&q->head, &h, h + 1,
							  memory_order_release,
							  memory_order_relaxed))
			return p;
	}
}

/* The ring's head, or, if thieves emptied the ring meanwhile, the private
 * list's. */
struct proc *runq_pop_ring(struct runq *q)
{
	struct proc *p = ring_pop(q);

	if (!p && q->priv.first)
		p = proc_list_pop(&q->priv);
	return p;
}

/* Copy about half of victim's ring into thief's free slots from thief_tail
 * on and commit by moving victim's head.  Returns how many. */
static uint32_t grab(struct runq *victim, struct runq *thief,
		     uint32_t thief_tail)
{
	for (;;) {
		uint32_t h = atomic_load_explicit(&victim->head,
						  memory_order_acquire);
		uint32_t t = atomic_load_explicit(&victim->tail,
						  memory_order_acquire);
		uint32_t n = t - h;

		n -= n / 2;
		if (n == 0)
			return 0;
		if (n > RUNQ_SIZE / 2) /* head and tail read far apart */
			continue;
		for (uint32_t i = 0; i < n; i++) {
			struct proc *p = atomic_load_explicit(
				&victim->slots[(h + i) % RUNQ_SIZE],
				memory_order_relaxed);
			atomic_store_explicit(
				&thief->slots[(thief_tail + i) % RUNQ_SIZE], p,
				memory_order_relaxed);
		}
		/* Release: victim's owner reuses the slots only after its
		 * acquire load of head sees this, so after our reads. */
		if (atomic_compare_exchange_strong_explicit(
			    &victim->head, &h, h + n, memory_order_release,
			    memory_order_relaxed))
			return n;
	}
}

struct proc *runq_steal(struct runq *thief, struct runq *victim)
{
	uint32_t t = atomic_load_explicit(&thief->tail, memory_order_relaxed);
	uint32_t n = grab(victim, thief, t);

	if (n == 0)
		return NULL;
	/* Run the newest stolen; publish the rest (the slots written in
	 * grab) with a release store of tail, as runq_push does. */
	struct proc *p = atomic_load_explicit(
		&thief->slots[(t + n - 1) % RUNQ_SIZE], memory_order_relaxed);
	if (n > 1)
		atomic_store_explicit(&thief->tail, t + n - 1,
				      memory_order_release);
	return p;
}

/* How far into the private list an offer looks past pinned processes. */
#define OFFER_SCAN 4

struct proc *runq_take_offer(struct runq *q)
{
	struct proc **link = &q->priv.first, *prev = NULL;

	if (runq_has_spawned(q))
		return q->spawned[q->oldest++ % RUNQ_SPAWNED];
	for (unsigned i = 0; *link && i < OFFER_SCAN; i++) {
		struct proc *p = *link;
		if (p->home < 0) {
			*link = p->next;
			if (q->priv.last == p)
				q->priv.last = prev;
			return p;
		}
		prev = p;
		link = &p->next;
	}
	return NULL;
}

/*
 * The remote list: a Treiber stack whose only consumer takes all of it.
 * ABA is harmless: a pusher never reads through the top it saw, it only
 * links its node to it; if that node is the top again when the CAS
 * succeeds, linking to it is still right.
 */
void runq_remote_push(struct runq_remote *r, struct proc *p)
{
	struct proc *old = atomic_load_explicit(&r->top, memory_order_relaxed);

	/* seq_cst: the push is the store half of a Dekker pair with the
	 * home scheduler's announcement that it parks (sched.c): either it
	 * sees this process, or we see it parked and wake it. */
	do
		p->next = old;
	while (!atomic_compare_exchange_weak_explicit(
		&r->top, &old, p, memory_order_seq_cst, memory_order_relaxed));
}

struct proc *runq_remote_take(struct runq_remote *r)
{
	struct proc *lifo, *fifo = NULL;

	if (runq_remote_empty(r))
		return NULL;
	/* Acquire: pairs with the pushers' CAS, so the processes' state is
	 * visible here. */
	lifo = atomic_exchange_explicit(&r->top, NULL, memory_order_acquire);
	while (lifo) {
		struct proc *p = lifo;
		lifo = p->next;
		p->next = fifo;
		fifo = p;
	}
	return fifo;
}

int procq_init(struct procq *q)
{
	q->list = (struct proc_list){ NULL, NULL };
	atomic_init(&q->count, 0);
	return pthread_mutex_init(&q->lock, NULL) ? LWP_ESYS : 0;
}

void procq_destroy(struct procq *q)
{
	pthread_mutex_destroy(&q->lock);
}

void procq_push(struct procq *q, struct proc *first, struct proc *last,
		size_t n)
{
	pthread_mutex_lock(&q->lock);
	proc_list_append(&q->list, first, last);
	/* seq_cst: a waker's count increment must be ordered before its load
	 * of a scheduler's parked flag (sched.c, parking). */
	atomic_fetch_add(&q->count, n);
	pthread_mutex_unlock(&q->lock);
}

struct proc *procq_pop(struct procq *q, size_t max)
{
	struct proc *first, *p;
	size_t n = 1;

	if (procq_empty(q))
		return NULL;
	pthread_mutex_lock(&q->lock);
	first = p = q->list.first;
	if (p) {
		while (n < max && p->next) {
			p = p->next;
			n++;
		}
		q->list.first = p->next;
		if (!q->list.first)
			q->list.last = NULL;
		p->next = NULL;
		atomic_fetch_sub(&q->count, n);
	}
	pthread_mutex_unlock(&q->lock);
	return first;
}
