/*
 * runq.h - run queues.
 *
 * struct runq is a scheduler's local queue, in three parts:
 *  - the ring: a bounded FIFO in the style of Go's runq.  Only the owner
 *    pushes (at tail); the owner pops and thieves steal (half at a time) at
 *    head, each committing with a CAS on head.  When the ring is full the
 *    owner moves half of it to an overflow queue in one batch.  It holds
 *    processes woken by timers and work offered to thieves.
 *  - the private list: a FIFO that only the owner touches, so pushing to it
 *    and popping from it costs no atomic instruction.  It holds pinned
 *    processes and those that yield or spend their budget: a yield then
 *    costs a switch and two plain list operations, not a CAS.
 *  - the preempted list: processes switched out by the preemption signal
 *    (preempt.h), owner only.  They must resume on this thread, so they
 *    are never offered or stolen; and they ran a whole slice, so they run
 *    after everything else (and at the scheduler's poll, so never
 *    starve): a process woken meanwhile need not wait behind them.
 *  - the spawn deque: up to RUNQ_SPAWNED new processes, owner only.  The
 *    owner pops the newest: running the newest child first makes a tree
 *    of spawns (fork/join) run depth first, as Cilk's work-first order
 *    does, so the processes alive at once, and the fresh stack pages they
 *    touch, grow with the tree's depth instead of its width.  New
 *    processes that find it full join the private list.
 * Thieves take only from the ring.  While a scheduler is idle, the owner
 * offers it work one process at a time, moved to an empty ring
 * (runq_take_offer): the spawn deque's oldest entry, in a tree the root of
 * the largest subtree not yet started, as a Cilk thief takes the oldest
 * frame; else the private list's oldest.  One at a time, so that a thief
 * takes work only as fast as it runs it: a loop spawning short-lived
 * processes keeps them, and the memory they touch, on its own core.
 * Pops take the spawn deque first, then alternate between the ring and
 * the private list while both hold work, so neither starves the other;
 * the scheduler's poll (every few dozen picks) takes from the FIFO parts
 * first, so older work is not starved by a busy spawn deque.
 *
 * struct runq_remote is a lock-free LIFO of processes made runnable by other
 * threads for a pinned process's home scheduler, which takes them all at
 * once.
 *
 * struct procq is a locked list: the global queue (overflow, and processes
 * made runnable by threads that are not schedulers).
 */
#ifndef LWP_RUNQ_H
#define LWP_RUNQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "proc.h"

#define RUNQ_SIZE    256u
#define RUNQ_SPAWNED 128u /* a power of two */

/* A FIFO of processes linked through ->next. */
struct proc_list {
	struct proc *first, *last;
};

static inline void proc_list_append(struct proc_list *l, struct proc *first,
				    struct proc *last)
{
	last->next = NULL;
	if (l->last)
		l->last->next = first;
	else
		l->first = first;
	l->last = last;
}

/* The head of a list that is not empty. */
static inline struct proc *proc_list_pop(struct proc_list *l)
{
	struct proc *p = l->first;

	l->first = p->next;
	if (!l->first)
		l->last = NULL;
	return p;
}

struct runq {
	/* Shared with thieves. */
	_Atomic uint32_t head; /* next to pop; CAS by owner and thieves */
	_Atomic uint32_t tail; /* next free slot; written by the owner only */
	struct proc *_Atomic slots[RUNQ_SIZE];
	/* Owner only. */
	cacheline_aligned struct proc_list priv;
	struct proc_list preempted;
	uint32_t oldest, newest; /* the spawn deque: [oldest, newest) */
	bool ring_turn;		 /* pop from the ring next, if both hold work */
	struct proc *spawned[RUNQ_SPAWNED];
};

struct runq_remote {
	struct proc *_Atomic top;
};

struct procq {
	pthread_mutex_t lock;
	struct proc_list list;
	_Atomic size_t count;
};

void runq_init(struct runq *q);
/* Owner: append p to the ring; on overflow, half the ring and p go to
 * `overflow`. */
void runq_push(struct runq *q, struct proc *p, struct procq *overflow);
/* Owner: pop the ring's head (a CAS against thieves), or NULL. */
struct proc *runq_pop_ring(struct runq *q);

/* Any thread: a cheap look at whether the ring holds anything.  Relaxed:
 * a hint for thieves and for the owner's choice of part; the pops that act
 * on it re-read with the orderings of runq.c. */
static inline bool runq_ring_empty(const struct runq *q)
{
	return atomic_load_explicit(&q->head, memory_order_relaxed) ==
	       atomic_load_explicit(&q->tail, memory_order_relaxed);
}

/* Owner: does the spawn deque hold anything? */
static inline bool runq_has_spawned(const struct runq *q)
{
	return q->newest != q->oldest;
}

/* Owner: is there nothing to pop? */
static inline bool runq_empty(const struct runq *q)
{
	return !runq_has_spawned(q) && !q->priv.first && !q->preempted.first &&
	       runq_ring_empty(q);
}

/* Owner: is it the private list's turn?  The two FIFO parts take turns
 * while both hold work. */
static inline bool runq_private_turn(const struct runq *q)
{
	return q->priv.first && (!q->ring_turn || runq_ring_empty(q));
}

/* Owner: take the private list's head on its turn (runq_private_turn). */
static inline struct proc *runq_take_private_turn(struct runq *q)
{
	q->ring_turn = true;
	return proc_list_pop(&q->priv);
}

/* Owner: the next process from the FIFO parts, or NULL. */
static inline struct proc *runq_pop_fifo(struct runq *q)
{
	if (runq_private_turn(q))
		return runq_take_private_turn(q);
	q->ring_turn = false;
	return runq_pop_ring(q);
}

/* Owner: the next process, or NULL. */
static inline struct proc *runq_pop(struct runq *q)
{
	if (runq_has_spawned(q))
		return q->spawned[--q->newest % RUNQ_SPAWNED];
	return runq_pop_fifo(q);
}

/* Owner: add a new process to the spawn deque; false if it is full. */
static inline bool runq_push_spawned(struct runq *q, struct proc *p)
{
	if (q->newest - q->oldest == RUNQ_SPAWNED)
		return false;
	q->spawned[q->newest++ % RUNQ_SPAWNED] = p;
	return true;
}

/* Owner: the process best handed to an idle scheduler, taken out of the
 * owner-only parts, or NULL: the spawn deque's oldest entry, else the
 * first unpinned process near the private list's head. */
struct proc *runq_take_offer(struct runq *q);

/* Owner: append p to the private list. */
static inline void runq_push_private(struct runq *q, struct proc *p)
{
	proc_list_append(&q->priv, p, p);
}

/* Owner: append a process the preemption signal switched out. */
static inline void runq_push_preempted(struct runq *q, struct proc *p)
{
	proc_list_append(&q->preempted, p, p);
}

/* Owner: the longest-preempted process, or NULL. */
static inline struct proc *runq_pop_preempted(struct runq *q)
{
	return q->preempted.first ? proc_list_pop(&q->preempted) : NULL;
}

/*
 * Thief: move about half of victim's ring into thief's (which must be
 * empty) and return one of the stolen processes to run, or NULL.
 */
struct proc *runq_steal(struct runq *thief, struct runq *victim);

/* Any thread: add p. */
void runq_remote_push(struct runq_remote *r, struct proc *p);
/* Owner: take everything pushed, oldest first (linked through ->next). */
struct proc *runq_remote_take(struct runq_remote *r);
static inline bool runq_remote_empty(const struct runq_remote *r)
{
	return !atomic_load_explicit(&r->top, memory_order_relaxed);
}

must_check int procq_init(struct procq *q);
void procq_destroy(struct procq *q);
void procq_push(struct procq *q, struct proc *first, struct proc *last,
		size_t n);
/* Up to max processes (linked through ->next), or NULL. */
struct proc *procq_pop(struct procq *q, size_t max);
static inline bool procq_empty(struct procq *q)
{
	return atomic_load(&q->count) == 0;
}

#endif /* LWP_RUNQ_H */
