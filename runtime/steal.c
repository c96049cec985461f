/*
 * steal.c - see steal.h.
 *
 * Victims are tried nearest first so that stolen work keeps its cache and
 * its memory close; inside a tier the start is random, so thieves that go
 * idle together do not all hit the same victim.  Only rings are stolen
 * from: runnext and the private lists hold what must stay put (sched.c).
 */
#include "steal.h"

#include "runtime.h"
#include "sched.h"
#include "stats.h"

static unsigned next_rand(struct sched *s)
{
	uint64_t x = s->rand;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->rand = x;
	return (unsigned)(x >> 32);
}

static struct proc *steal_tier(struct sched *s, const unsigned *tier,
			       unsigned n)
{
	unsigned start = next_rand(s) % n;

	for (unsigned i = 0; i < n; i++) {
		struct sched *v = &rt.scheds[tier[(start + i) % n]];
		if (runq_ring_empty(&v->runq))
			continue;
		uint32_t tail = load_relaxed(&s->runq.tail);
		struct proc *p = runq_steal(&s->runq, &v->runq);
		/* runq_steal keeps all it took but p in s's ring. */
		stats_steal(s, v->id,
			    p ? load_relaxed(&s->runq.tail) - tail + 1 : 0);
		if (p)
			return p;
	}
	return NULL;
}

struct proc *steal_work(struct sched *s)
{
	const struct topo_sched *pl = s->place;
	unsigned from = 0;

	for (unsigned k = 0; k < pl->ntiers; k++) {
		struct proc *p =
			steal_tier(s, pl->order + from, pl->tier_end[k] - from);
		if (p)
			return p;
		from = pl->tier_end[k];
	}
	return NULL;
}
