/*
 * timer.c - see timer.h.
 */
#include "timer.h"

#include <stdlib.h>
#include <time.h>

#include "lwp.h"

int64_t timer_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t timer_deadline(int64_t ns)
{
	int64_t now = timer_now();

	return ns > TIMER_NEVER - now ? TIMER_NEVER : now + ns;
}

int timer_heap_init(struct timer_heap *h)
{
	h->items = NULL;
	h->cap = 0;
	atomic_init(&h->count, 0);
	return pthread_mutex_init(&h->lock, NULL) ? LWP_ESYS : 0;
}

void timer_heap_destroy(struct timer_heap *h)
{
	for (size_t i = 0; i < load_relaxed(&h->count); i++)
		atomic_store(&h->items[i]->heap, NULL);
	free(h->items);
	h->items = NULL;
	pthread_mutex_destroy(&h->lock);
}

static void place(struct timer_heap *h, size_t i, struct timer *t)
{
	h->items[i] = t;
	t->index = i;
}

static void sift_up(struct timer_heap *h, size_t i, struct timer *t)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->items[parent]->deadline <= t->deadline)
			break;
		place(h, i, h->items[parent]);
		i = parent;
	}
	place(h, i, t);
}

static void sift_down(struct timer_heap *h, size_t i, struct timer *t)
{
	size_t n = load_relaxed(&h->count);

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n &&
		    h->items[c + 1]->deadline < h->items[c]->deadline)
			c++;
		if (t->deadline <= h->items[c]->deadline)
			break;
		place(h, i, h->items[c]);
		i = c;
	}
	place(h, i, t);
}

/* Under h->lock. */
static void remove_at(struct timer_heap *h, size_t i)
{
	size_t n = load_relaxed(&h->count) - 1;
	struct timer *last = h->items[n];

	/* Release: see timer_lock. */
	atomic_store_explicit(&h->items[i]->heap, NULL, memory_order_release);
	store_relaxed(&h->count, n);
	if (i == n)
		return;
	if (i > 0 && last->deadline < h->items[(i - 1) / 2]->deadline)
		sift_up(h, i, last);
	else
		sift_down(h, i, last);
}

int timer_arm(struct timer_heap *h, struct timer *t, int64_t deadline)
{
	int err = 0;

	pthread_mutex_lock(&h->lock);
	size_t n = load_relaxed(&h->count);
	if (n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct timer **items = realloc(h->items, cap * sizeof(*items));
		if (!items) {
			err = LWP_ENOMEM;
			goto out;
		}
		h->items = items;
		h->cap = cap;
	}
	t->deadline = deadline;
	store_relaxed(&h->count, n + 1);
	sift_up(h, n, t);
	atomic_store_explicit(&t->heap, h, memory_order_relaxed);
out:
	pthread_mutex_unlock(&h->lock);
	return err;
}

struct timer_heap *timer_lock(struct timer *t)
{
	struct timer_heap *h;

	/* Acquire, pairing with the release in remove_at: a timer that
	 * another scheduler's timer_run took out of its heap was last read
	 * there (its deadline) before that store, so a caller that finds it
	 * unarmed may re-arm it without taking that heap's lock.  The heap
	 * read here may be stale (t fired and was armed again elsewhere
	 * meanwhile): only the relaxed look under the lock counts, since a
	 * timer enters and leaves a heap only under that heap's lock. */
	while ((h = atomic_load_explicit(&t->heap, memory_order_acquire))) {
		pthread_mutex_lock(&h->lock);
		if (atomic_load_explicit(&t->heap, memory_order_relaxed) == h)
			return h;
		pthread_mutex_unlock(&h->lock);
	}
	return NULL;
}

void timer_unlock(struct timer_heap *h)
{
	pthread_mutex_unlock(&h->lock);
}

void timer_remove_locked(struct timer_heap *h, struct timer *t)
{
	remove_at(h, t->index);
}

void timer_cancel(struct timer *t)
{
	struct timer_heap *h = timer_lock(t);

	if (h) {
		remove_at(h, t->index);
		timer_unlock(h);
	}
}

size_t timer_run(struct timer_heap *h, int64_t now)
{
	size_t fired = 0;

	while (load_relaxed(&h->count)) {
		struct timer *t = NULL;

		pthread_mutex_lock(&h->lock);
		if (load_relaxed(&h->count) && h->items[0]->deadline <= now) {
			t = h->items[0];
			remove_at(h, 0);
		}
		pthread_mutex_unlock(&h->lock);
		if (!t)
			break;
		t->fire(t);
		fired++;
	}
	return fired;
}

int64_t timer_next(struct timer_heap *h)
{
	int64_t next = TIMER_NEVER;

	if (!load_relaxed(&h->count))
		return next;
	pthread_mutex_lock(&h->lock);
	if (load_relaxed(&h->count))
		next = h->items[0]->deadline;
	pthread_mutex_unlock(&h->lock);
	return next;
}
