/*
 * smp_spawn_storm - waves of spawns separated by idle gaps.
 *
 * A wave is one to three trees of processes, each a random shape (bushy,
 * flat: one process spawning a thousand, or a chain hundreds deep) that
 * follows from a key, so the driver knows in advance how many processes a
 * tree has and the sum of their keys' hashes.  Every process spawns its
 * children (pinned to a random scheduler or free), waits for a report
 * from each (checking who sent it and that each reports once), and
 * reports its subtree's count and sum to its parent.  Between waves the
 * driver sleeps 1-5 ms with nothing else to run, so schedulers park and
 * must unpark for the next wave.  After each wave lwp_process_count() must
 * come back to 1 (the driver alone).
 */
#include "smp_common.h"

enum {
	REPORT = 1
};

enum kind {
	TREE,
	FLAT,
	CHAIN,
	NKINDS
};

#define TREE_DEPTH  8
#define CHAIN_DEPTH 300

struct node {
	enum kind kind;
	int depth;
	long index; /* among its parent's children */
	uint64_t key;
	lwp_pid parent;
};

struct report {
	long index;
	long count;
	uint64_t sum;
};

static long flat_width;
static _Atomic long completed;

static long fanout(enum kind kind, uint64_t key, int depth)
{
	switch (kind) {
	case TREE:
		if (depth >= TREE_DEPTH)
			return 0;
		return depth == 0 ? 2 + (long)(key % 3) : (long)(key % 5);
	case FLAT:
		return depth == 0 ? flat_width : 0;
	default:
		return depth < CHAIN_DEPTH ? 1 : 0;
	}
}

static uint64_t child_key(uint64_t key, long i)
{
	return smp_mix(key * 31 + (uint64_t)i + 1);
}

/* What the tree under (kind, key, depth) must report. */
static void expect(enum kind kind, uint64_t key, int depth, long *count,
		   uint64_t *sum)
{
	long k = fanout(kind, key, depth);

	*count += 1;
	*sum += smp_mix(key);
	for (long i = 0; i < k; i++)
		expect(kind, child_key(key, i), depth + 1, count, sum);
}

static void node(void *arg);

static lwp_pid spawn_node(const struct node *tmpl, uint64_t *rng)
{
	struct node *n = malloc(sizeof(*n));

	REQUIRE(n, "malloc");
	*n = *tmpl;
	if (smp_one_in(rng, 3))
		return smp_spawn(node, n, (long)smp_below(rng, smp.scheds));
	return smp_spawn(node, n, -1);
}

/* Wait for a report from each of k children; add them up. */
static void gather(const lwp_pid *kids, long k, struct report *r)
{
	char *seen = calloc((size_t)k, 1);

	REQUIRE(seen, "calloc");
	for (long i = 0; i < k; i++) {
		lwp_msg *m = SMP_RECV_TAG(REPORT, "a child's report");
		struct report c;

		REQUIRE(m->size == sizeof(c), "report of %zu bytes", m->size);
		memcpy(&c, m->data, sizeof(c));
		REQUIRE(c.index >= 0 && c.index < k, "report from child %ld",
			c.index);
		CHECK(!seen[c.index], "child %ld reported twice", c.index);
		CHECK(m->from == kids[c.index], "child %ld's report from %s",
		      c.index, lwp_pid_str(m->from).s);
		seen[c.index] = 1;
		r->count += c.count;
		r->sum += c.sum;
		lwp_msg_free(m);
	}
	free(seen);
}

static void node(void *arg)
{
	struct node n = *(struct node *)arg;
	uint64_t rng = smp_mix(n.key ^ 0x5a5a);
	long k = fanout(n.kind, n.key, n.depth);
	struct report r = { n.index, 1, smp_mix(n.key) };
	lwp_pid *kids = k ? malloc((size_t)k * sizeof(*kids)) : NULL;

	free(arg);
	REQUIRE(!k || kids, "malloc");
	for (long i = 0; i < k; i++) {
		struct node c = { n.kind, n.depth + 1, i, child_key(n.key, i),
				  lwp_self() };

		kids[i] = spawn_node(&c, &rng);
		if (smp_one_in(&rng, 16))
			lwp_yield();
	}
	if (smp_one_in(&rng, 64))
		lwp_sleep((int64_t)smp_below(&rng, 200 * US));
	gather(kids, k, &r);
	free(kids);
	atomic_fetch_add(&completed, 1);
	CHECK_RC(lwp_send(n.parent, REPORT, &r, sizeof(r)), 0);
}

/* One wave: a few trees at once; returns how many processes it ran. */
static long wave(int w, uint64_t *rng)
{
	long roots = 1 + (long)smp_below(rng, 3), want = 0, before;
	struct node n[3];
	lwp_pid pids[3];
	struct report r = { 0 };
	uint64_t sum = 0;

	before = atomic_load(&completed);
	for (long i = 0; i < roots; i++) {
		n[i] = (struct node){ (enum kind)smp_below(rng, NKINDS), 0, i,
				      smp_rand(rng), lwp_self() };
		expect(n[i].kind, n[i].key, 0, &want, &sum);
		pids[i] = spawn_node(&n[i], rng);
	}
	smp_watchdog(60, "wave %d: %ld trees, %ld processes", w, roots, want);
	gather(pids, roots, &r);
	CHECK(r.count == want && r.sum == sum,
	      "wave %d: %ld processes reported (sum %" PRIx64
	      "), want %ld (%" PRIx64 ")",
	      w, r.count, r.sum, want, sum);
	CHECK(atomic_load(&completed) - before == want,
	      "wave %d: %ld processes completed, want %ld", w,
	      atomic_load(&completed) - before, want);
	CHECK_RC(smp_wait_procs(1), 1);
	return want;
}

static void driver(void *arg)
{
	long waves = *(long *)arg, spawned = 0;
	uint64_t rng = smp_stream(0);

	CHECK_RC(lwp_scheduler_count(), smp.scheds);
	CHECK_RC(lwp_process_count(), 1);
	for (int w = 0; w < waves; w++) {
		spawned += wave(w, &rng);
		/* Idle: every scheduler should park, then unpark. */
		smp_watchdog(10, "wave %d: idle gap", w);
		CHECK_RC(lwp_sleep((1 + (int64_t)smp_below(&rng, 5)) * MS), 0);
	}
	*(long *)arg = spawned;
}

int main(int argc, char **argv)
{
	long waves, spawned;
	lwp_config cfg;

	smp_init(argc, argv, "smp_spawn_storm");
	waves = smp_scaled(300, 20);
	flat_width = smp_scaled(2000, 200);
	spawned = waves;
	cfg = smp_config();
	smp_watchdog(60, "starting");
	CHECK_RC(lwp_main(&cfg, driver, &spawned), 0);
	CHECK_RC(lwp_process_count(), 0);
	CHECK(atomic_load(&completed) == spawned, "%ld completed, want %ld",
	      atomic_load(&completed), spawned);
	return smp_done("%ld waves, %ld processes", waves, spawned);
}
