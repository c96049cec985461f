/*
 * ties.c - see ties.h.
 */
#include "ties.h"

#include <stdlib.h>

#include "runtime.h"

#define TIES_MIN 4

static uint64_t key_of(lwp_pid pid, lwp_ref ref)
{
	return ref ? (uint64_t)ref : (uint64_t)pid;
}

/* Fibonacci hashing: pids differ in their low bits and refs count up, so
 * the multiply spreads both over the table. */
static uint32_t home_of(const struct ties *t, uint64_t key)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >>
			  (64 - __builtin_ctz(t->cap)));
}

static bool matches(const struct tie *x, lwp_pid pid, lwp_ref ref)
{
	return ref ? x->ref == ref && (!pid || x->pid == pid) :
		     x->ref == 0 && x->pid == pid;
}

/* The slot holding the tie, or the empty slot ending its probe. */
static uint32_t slot_of(const struct ties *t, lwp_pid pid, lwp_ref ref)
{
	uint32_t mask = t->cap - 1, i = home_of(t, key_of(pid, ref));

	while (t->v[i].pid && !matches(&t->v[i], pid, ref))
		i = (i + 1) & mask;
	return i;
}

/* Publish the count for lwp_process_info(): only the owner writes it. */
static void show(struct ties *t)
{
	if (t->shown)
		store_relaxed(t->shown, t->n);
}

struct tie *ties_find(const struct ties *t, lwp_pid pid, lwp_ref ref)
{
	uint32_t i;

	if (!t->n)
		return NULL;
	i = slot_of(t, pid, ref);
	return t->v[i].pid ? &t->v[i] : NULL;
}

static void put(struct ties *t, struct tie x)
{
	t->v[slot_of(t, x.pid, x.ref)] = x;
}

static must_check int grow(struct ties *t)
{
	uint32_t cap = t->cap ? 2 * t->cap : TIES_MIN, i = 0;
	struct ties bigger = { .v = calloc(cap, sizeof(struct tie)),
			       .cap = cap };
	const struct tie *x;

	if (!bigger.v)
		return LWP_ENOMEM;
	while ((x = ties_next(t, &i)))
		put(&bigger, *x);
	free(t->v);
	t->v = bigger.v;
	t->cap = cap;
	return 0;
}

int ties_add(struct ties *t, lwp_pid pid, lwp_ref ref)
{
	if (2 * (t->n + 1) > t->cap && grow(t))
		return LWP_ENOMEM;
	put(t, (struct tie){ pid, ref });
	t->n++;
	show(t);
	return 0;
}

/* Close the hole at slot i: move back each later tie of the run that
 * probing from its home would no longer reach (linear probing's delete,
 * with no tombstones to slow later finds). */
static void close_hole(struct ties *t, uint32_t i)
{
	uint32_t mask = t->cap - 1, j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (!t->v[j].pid)
			break;
		uint32_t h = home_of(t, key_of(t->v[j].pid, t->v[j].ref));
		/* Stays if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
			continue;
		t->v[i] = t->v[j];
		i = j;
	}
	t->v[i] = (struct tie){ 0, 0 };
}

lwp_pid ties_del(struct ties *t, lwp_pid pid, lwp_ref ref)
{
	struct tie *x = ties_find(t, pid, ref);

	if (!x)
		return 0;
	pid = x->pid;
	close_hole(t, (uint32_t)(x - t->v));
	t->n--;
	show(t);
	return pid;
}

void ties_free(struct ties *t)
{
	free(t->v);
	*t = (struct ties){ .shown = t->shown };
}
