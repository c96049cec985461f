/*
 * runq.h - run queues.
 *
 * struct runq is a scheduler's local queue: a bounded FIFO ring in the
 * style of Go's runq.  Only the owner pushes (at tail); the owner pops and,
 * later, thieves steal at head, each committing with a CAS on head.  When
 * the ring is full the owner moves half of it to the global queue in one
 * batch, so a spawn storm costs one lock round trip per RUNQ_SIZE/2 spawns.
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

struct proc;

#define RUNQ_SIZE 256u

struct runq {
	_Atomic uint32_t head; /* next to pop; CAS by owner and thieves */
	_Atomic uint32_t tail; /* next free slot; written by the owner only */
	struct proc *_Atomic slots[RUNQ_SIZE];
};

struct procq {
	pthread_mutex_t lock;
	struct proc *first;
	struct proc *last;
	_Atomic size_t count;
};

void runq_init(struct runq *q);
/* Owner: append p; on overflow, half the ring and p go to `overflow`. */
void runq_push(struct runq *q, struct proc *p, struct procq *overflow);
/* Owner: the oldest process, or NULL. */
struct proc *runq_pop(struct runq *q);
uint32_t runq_size(struct runq *q);

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
