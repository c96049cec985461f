/*
 * timer.h - per-scheduler timers: a binary min-heap of deadlines.
 *
 * A timer is embedded in the object it times (a process waiting in receive
 * or sleep, a send_after timer's slot), so arming one allocates nothing
 * unless the heap must grow.  Each heap is fired only by its owning
 * scheduler thread; that is what lets a process arm its timer before it
 * switches out without the timer firing in between.  The lock exists
 * because a process may cancel its timer from another scheduler after
 * migrating, because any thread may arm, cancel or read a send_after timer
 * (sendafter.c), and because foreign threads may look at the next deadline.
 * Taking a timer out of its heap, by timer_run or by a cancel, happens under
 * the lock: exactly one of them does it.
 */
#ifndef LWP_TIMER_H
#define LWP_TIMER_H

#include <pthread.h>
#include <stdint.h>

#include "compiler.h"

#define TIMER_NEVER INT64_MAX

struct timer_heap;

struct timer {
	int64_t deadline;
	size_t index;			 /* position in the heap while armed */
	struct timer_heap *_Atomic heap; /* NULL when not armed */
	void (*fire)(struct timer *t);	 /* called by the owner, unlocked */
};

struct timer_heap {
	pthread_mutex_t lock;
	struct timer **items;
	size_t cap;
	_Atomic size_t count;
};

must_check int timer_heap_init(struct timer_heap *h);
void timer_heap_destroy(struct timer_heap *h);

/* Arm t (not armed) to fire at deadline; LWP_ENOMEM if the heap can't grow. */
must_check int timer_arm(struct timer_heap *h, struct timer *t,
			 int64_t deadline);
/* Disarm t if it is armed; from any thread. */
void timer_cancel(struct timer *t);

/* Lock the heap t is armed in and return it: t stays armed, and its
 * deadline may be read, until timer_unlock.  NULL if t is not armed: it
 * fired or was cancelled, or the caller is not ordered after its arming
 * (whoever armed it, and whoever heard from them, is).  Any thread. */
must_check struct timer_heap *timer_lock(struct timer *t);
void timer_unlock(struct timer_heap *h);
/* Disarm t, armed in h, which the caller has locked (timer_lock). */
void timer_remove_locked(struct timer_heap *h, struct timer *t);

/* Fire every timer due at `now`; returns how many fired.  Owner only. */
size_t timer_run(struct timer_heap *h, int64_t now);
/* Earliest deadline, TIMER_NEVER if none. */
int64_t timer_next(struct timer_heap *h);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t timer_now(void);
/* The deadline ns >= 0 from now, TIMER_NEVER where that overflows. */
int64_t timer_deadline(int64_t ns);

#endif /* LWP_TIMER_H */
