/*
 * test_timer.c - the timer heap (internal: runtime/timer.h): order with
 * random deadlines, cancelling from the middle, timer_next, concurrent
 * cancels.  Every seeded test names its seed when it fails.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../runtime/timer.h"
#include "lwp.h"

TestSuite(timer, .timeout = 30);

static uint64_t rnd(uint64_t *s) /* xorshift64* */
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

struct tt {
	struct timer t;
	int id;
	int fired;
	int64_t fired_at; /* `now` of the timer_run that fired it */
};

static struct tt *fired_log[4096];
static size_t nfired;
static int64_t run_now;

static void on_fire(struct timer *t)
{
	struct tt *x = (struct tt *)(void *)t; /* t is the first member */

	x->fired++;
	x->fired_at = run_now;
	if (nfired < sizeof(fired_log) / sizeof(fired_log[0]))
		fired_log[nfired] = x;
	nfired++;
}

static void tt_init(struct tt *x, int id)
{
	memset(x, 0, sizeof(*x));
	atomic_init(&x->t.heap, NULL);
	x->t.fire = on_fire;
	x->id = id;
}

/* The heap's own invariants: parent <= child, positions and owners. */
static void check_heap(struct timer_heap *h, uint64_t seed, const char *when)
{
	size_t n = atomic_load(&h->count);

	for (size_t i = 0; i < n; i++) {
		struct timer *t = h->items[i];
		cr_assert_eq(t->index, i,
			     "seed %#llx, %s: item %zu has index %zu",
			     (unsigned long long)seed, when, i, t->index);
		cr_assert_eq(atomic_load(&t->heap), h, "seed %#llx, %s: owner",
			     (unsigned long long)seed, when);
		if (i)
			cr_assert_leq(h->items[(i - 1) / 2]->deadline,
				      t->deadline,
				      "seed %#llx, %s: heap order at %zu",
				      (unsigned long long)seed, when, i);
	}
}

static int64_t min_armed(struct tt *x, int n)
{
	int64_t m = TIMER_NEVER;

	for (int i = 0; i < n; i++)
		if (atomic_load(&x[i].t.heap) && x[i].t.deadline < m)
			m = x[i].t.deadline;
	return m;
}

#define N 2000

static void random_run(uint64_t seed)
{
	static struct tt x[N];
	struct timer_heap h;
	uint64_t s = seed;
	bool cancelled[N] = { 0 };
	int64_t range = 1 + (int64_t)(rnd(&s) % 5000); /* many duplicates */

	nfired = 0;
	cr_assert_eq(timer_heap_init(&h), 0);
	cr_assert_eq(timer_next(&h), TIMER_NEVER);
	for (int i = 0; i < N; i++) {
		tt_init(&x[i], i);
		cr_assert_eq(
			timer_arm(&h, &x[i].t,
				  1 + (int64_t)(rnd(&s) % (uint64_t)range)),
			0);
		if (i % 97 == 0)
			check_heap(&h, seed, "arming");
	}
	check_heap(&h, seed, "armed");
	cr_assert_eq(timer_next(&h), min_armed(x, N), "seed %#llx",
		     (unsigned long long)seed);
	/* Cancel a random third, wherever they sit in the heap. */
	for (int k = 0; k < N / 3; k++) {
		int i = (int)(rnd(&s) % N);
		timer_cancel(&x[i].t);
		cr_assert_null(atomic_load(&x[i].t.heap));
		cancelled[i] = true;
		if (k % 50 == 0) {
			check_heap(&h, seed, "cancelling");
			cr_assert_eq(timer_next(&h), min_armed(x, N),
				     "seed %#llx: timer_next after cancels",
				     (unsigned long long)seed);
		}
	}
	timer_cancel(&x[0].t); /* twice: the second does nothing */
	timer_cancel(&x[0].t);
	cancelled[0] = true;
	check_heap(&h, seed, "cancelled");
	/* Fire in steps. */
	size_t expect = 0;
	for (int i = 0; i < N; i++)
		expect += !cancelled[i];
	for (run_now = 0;; run_now += 1 + range / 37) {
		if (run_now > range)
			run_now = range; /* the last step fires the latest */
		size_t before = nfired;
		size_t got = timer_run(&h, run_now);
		cr_assert_eq(got, nfired - before, "seed %#llx: count",
			     (unsigned long long)seed);
		int64_t next = timer_next(&h);
		cr_assert_gt(next, run_now,
			     "seed %#llx: a due timer was left: next %lld at "
			     "%lld",
			     (unsigned long long)seed, (long long)next,
			     (long long)run_now);
		cr_assert_eq(next, min_armed(x, N), "seed %#llx",
			     (unsigned long long)seed);
		check_heap(&h, seed, "running");
		if (run_now == range)
			break;
	}
	cr_assert_eq(nfired, expect, "seed %#llx: fired %zu of %zu",
		     (unsigned long long)seed, nfired, expect);
	cr_assert_eq(timer_next(&h), TIMER_NEVER);
	for (size_t k = 0; k < nfired; k++) {
		struct tt *t = fired_log[k];
		cr_assert_not(cancelled[t->id],
			      "seed %#llx: cancelled %d fired",
			      (unsigned long long)seed, t->id);
		cr_assert_eq(t->fired, 1, "seed %#llx: %d fired %d times",
			     (unsigned long long)seed, t->id, t->fired);
		cr_assert_leq(t->t.deadline, t->fired_at,
			      "seed %#llx: fired early",
			      (unsigned long long)seed);
		cr_assert_null(atomic_load(&t->t.heap));
		if (k)
			cr_assert_leq(fired_log[k - 1]->t.deadline,
				      t->t.deadline,
				      "seed %#llx: fired out of order at %zu",
				      (unsigned long long)seed, k);
	}
	timer_heap_destroy(&h);
}

Test(timer, heap_order_with_random_deadlines)
{
	static const uint64_t seeds[] = {
		1, 0x9e3779b97f4a7c15ull, 42, 2024, 0xdeadbeef, 77777, 31337, 5
	};

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		random_run(seeds[i]);
}

Test(timer, rearm_and_cancel_from_the_middle)
{
	struct timer_heap h;
	struct tt x[7];

	nfired = 0;
	cr_assert_eq(timer_heap_init(&h), 0);
	for (int i = 0; i < 7; i++) {
		tt_init(&x[i], i);
		cr_assert_eq(timer_arm(&h, &x[i].t, 10 * (i + 1)), 0);
	}
	/* Items 1..5 are inner nodes and leaves of a 7-heap. */
	timer_cancel(&x[1].t);
	timer_cancel(&x[4].t);
	check_heap(&h, 0, "cancel");
	cr_assert_eq(timer_next(&h), 10);
	timer_cancel(&x[0].t);
	cr_assert_eq(timer_next(&h), 30);
	run_now = 35;
	cr_assert_eq(timer_run(&h, run_now), 1);
	cr_assert_eq(x[2].fired, 1);
	/* A fired timer can be armed again, earlier than the rest. */
	cr_assert_eq(timer_arm(&h, &x[2].t, 36), 0);
	cr_assert_eq(timer_next(&h), 36);
	cr_assert_eq(timer_arm(&h, &x[0].t, 5), 0);
	cr_assert_eq(timer_next(&h), 5);
	run_now = 100;
	cr_assert_eq(timer_run(&h, run_now), 5); /* 0, 2, 3, 5, 6 */
	cr_assert_eq(x[2].fired, 2);
	cr_assert_eq(x[1].fired + x[4].fired, 0);
	cr_assert_eq(fired_log[1]->id, 0);
	cr_assert_eq(fired_log[2]->id, 2);
	cr_assert_eq(fired_log[5]->id, 6);
	cr_assert_eq(timer_next(&h), TIMER_NEVER);
	cr_assert_eq(timer_run(&h, INT64_MAX - 1), 0);
	timer_heap_destroy(&h);
}

/* Cancels from another thread (a process that migrated) race with the
 * owner firing: each timer fires at most once, and none stays armed. */
#define NC 20000
static struct tt cx[NC];
static struct timer_heap ch;

static void *canceller(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg;

	for (int k = 0; k < NC; k++)
		timer_cancel(&cx[rnd(&s) % NC].t);
	return NULL;
}

Test(timer, concurrent_cancel)
{
	uint64_t seed = 0xc0ffee, s = seed;
	pthread_t t;

	nfired = 0;
	cr_assert_eq(timer_heap_init(&ch), 0);
	for (int i = 0; i < NC; i++) {
		tt_init(&cx[i], i);
		cr_assert_eq(timer_arm(&ch, &cx[i].t,
				       (int64_t)(rnd(&s) % 100000)),
			     0);
	}
	cr_assert_eq(pthread_create(&t, NULL, canceller, (void *)(uintptr_t)7),
		     0);
	for (run_now = 0; run_now < 100000; run_now += 10)
		timer_run(&ch, run_now);
	cr_assert_eq(pthread_join(t, NULL), 0);
	timer_run(&ch, INT64_MAX - 1);
	check_heap(&ch, seed, "after");
	cr_assert_eq(atomic_load(&ch.count), 0);
	for (int i = 0; i < NC; i++) {
		cr_assert_leq(cx[i].fired, 1, "timer %d fired %d times", i,
			      cx[i].fired);
		cr_assert_null(atomic_load(&cx[i].t.heap));
	}
	timer_heap_destroy(&ch);
}

Test(timer, clock)
{
	int64_t a = timer_now(), b = lwp_now(), c = timer_now();

	cr_assert_gt(a, 0);
	cr_assert(a <= b && b <= c, "lwp_now is the timers' clock");
}
