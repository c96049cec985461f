/*
 * test_ties.c - the hashed sets of links and monitors (runtime/ties.c),
 * against a plain array as the model, under a seeded random walk of adds
 * and deletes that grows the table and empties it again.
 */
#include <stdlib.h>

#include "../runtime/ties.h"
#include "test_common.h"

TestSuite(ties, .timeout = 60 * T_SLOW);

#define MODEL_MAX 5000

struct model {
	struct tie v[MODEL_MAX];
	uint32_t n;
};

static int model_find(const struct model *m, lwp_pid pid, lwp_ref ref)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (ref ? m->v[i].ref == ref : m->v[i].pid == pid)
			return (int)i;
	return -1;
}

/* Every tie of the model is found, the count agrees, and iterating
 * visits each tie once. */
static void agree(const struct ties *t, const struct model *m)
{
	const struct tie *x;
	uint32_t i = 0, seen = 0;

	cr_assert_eq(t->n, m->n);
	for (uint32_t k = 0; k < m->n; k++) {
		x = ties_find(t, m->v[k].pid, m->v[k].ref);
		cr_assert_not_null(x, "tie %u lost", k);
		cr_assert_eq(x->pid, m->v[k].pid);
		cr_assert_eq(x->ref, m->v[k].ref);
	}
	while ((x = ties_next(t, &i))) {
		cr_assert_geq(model_find(m, x->pid, x->ref), 0);
		seen++;
	}
	cr_assert_eq(seen, m->n);
}

static void random_walk(bool monitors, uint64_t seed)
{
	static struct model m;
	_Atomic uint32_t shown = 0;
	struct ties t = { .shown = &shown };
	uint64_t rng = seed;
	lwp_ref next_ref = 1;

	m.n = 0;
	cr_log_info("seed %llu", (unsigned long long)seed);
	for (int step = 0; step < 200000; step++) {
		/* Grow for the first half, shrink in the second. */
		bool add = m.n == 0 ||
			   (m.n < MODEL_MAX &&
			    t_rand(&rng) % 100 < (step < 100000 ? 70 : 30));
		if (add) {
			/* Pids with the shape of real ones: generation and
			 * index, so that low bits repeat. */
			lwp_pid pid = (lwp_pid)((t_rand(&rng) % 8 + 1) << 32 |
						(t_rand(&rng) % 100000));
			lwp_ref ref = monitors ? next_ref++ : 0;
			if (!monitors && model_find(&m, pid, 0) >= 0)
				continue;
			cr_assert_eq(ties_add(&t, pid, ref), 0);
			m.v[m.n++] = (struct tie){ pid, ref };
		} else {
			uint32_t k = (uint32_t)(t_rand(&rng) % m.n);
			struct tie gone = m.v[k];
			cr_assert_eq(ties_del(&t, monitors ? 0 : gone.pid,
					      gone.ref),
				     gone.pid);
			m.v[k] = m.v[--m.n];
			cr_assert_null(ties_find(&t, gone.pid, gone.ref));
			cr_assert_eq(ties_del(&t, gone.pid, gone.ref), 0);
		}
		cr_assert_eq(atomic_load(&shown), m.n);
		if (step % 5000 == 0)
			agree(&t, &m);
		cr_assert_leq(2 * t.n, t.cap);
	}
	agree(&t, &m);
	ties_free(&t);
	cr_assert_eq(t.n, 0);
	cr_assert_eq(t.shown, &shown);
}

Test(ties, links_random_walk)
{
	random_walk(false, 0x5eed1ull);
}

Test(ties, monitors_random_walk)
{
	random_walk(true, 0x5eed2ull);
}

/* A monitor's ref finds it whatever the pid given, unless a pid is given
 * and differs; a link is found by its pid alone. */
Test(ties, matching)
{
	struct ties links = { 0 }, mons = { 0 };
	lwp_pid a = 1ll << 32 | 5, b = 2ll << 32 | 5;

	cr_assert_null(ties_find(&links, a, 0));
	cr_assert_eq(ties_del(&links, a, 0), 0);
	cr_assert_eq(ties_add(&links, a, 0), 0);
	cr_assert_null(ties_find(&links, b, 0), "same index, other generation");
	cr_assert_eq(ties_add(&mons, a, 7), 0);
	cr_assert_eq(ties_add(&mons, a, 8), 0);
	cr_assert_not_null(ties_find(&mons, 0, 7));
	cr_assert_null(ties_find(&mons, b, 7));
	cr_assert_eq(ties_del(&mons, 0, 8), a);
	cr_assert_not_null(ties_find(&mons, a, 7));
	ties_free(&links);
	ties_free(&mons);
}
