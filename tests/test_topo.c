/*
 * test_topo.c - the scheduler placement plan (runtime/topo.c): counts,
 * cpusets, NUMA nodes and steal tiers on synthetic and XML topologies
 * (tests/topologies/, found through LWP_SRCDIR), the environment
 * variables, the cgroup CPU quota on fake cgroup directories, and binding
 * on this machine.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>

#include "test_common.h"
#include "../runtime/topo.h"

#if LWP_HAVE_HWLOC
#include <hwloc.h>
#endif

static void clean_env(void)
{
	unsetenv("LWP_SCHEDULERS");
	unsetenv("LWP_PIN");
}

/* Every test ends with T_NO_LEAKS(): under ASan a leak fails it. */
TestSuite(topo, .init = clean_env, .timeout = 60 * T_SLOW);

#define NEEDS_HWLOC()                                        \
	do {                                                 \
		if (!LWP_HAVE_HWLOC)                         \
			cr_skip_test("built without hwloc"); \
	} while (0)

static const struct topo_request per_core = { .pin = LWP_PIN_ON };
static const struct topo_request per_pu = { .pin = LWP_PIN_ON,
					    .per_thread = true };

static const char *topo_file(const char *name)
{
	static char path[4096];
	const char *src = getenv("LWP_SRCDIR");

	cr_assert(src, "LWP_SRCDIR must name the source tree");
	snprintf(path, sizeof(path), "%s/tests/topologies/%s", src, name);
	cr_assert_eq(access(path, R_OK), 0, "%s is missing", path);
	return path;
}

static void plan_from(struct topo *t, const struct topo_request *req,
		      const char *source, unsigned want_n)
{
	int rc = topo_plan_from(t, req, source);

	cr_assert_eq(rc, 0, "topo_plan_from(%s): %s", source, lwp_strerror(rc));
	cr_assert_eq(t->n, want_n, "%s: %u schedulers, want %u", source, t->n,
		     want_n);
}

static const char *cpuset(const struct topo *t, unsigned i)
{
	static char buf[256];
	int rc = topo_cpuset_str(t, i, buf, sizeof(buf));

	cr_assert(rc >= 0 && (size_t)rc < sizeof(buf), "cpuset %u: %d", i, rc);
	return buf;
}

/* Scheduler i's tiers as "1|4,5,6,7|2,3". */
static const char *tiers(const struct topo *t, unsigned i)
{
	static char buf[8192];
	const struct topo_sched *s = &t->sched[i];
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned k = 0; k < s->ntiers; k++) {
		unsigned start = k ? s->tier_end[k - 1] : 0;

		for (unsigned m = start; m < s->tier_end[k]; m++) {
			const char *sep = m > start ? "," : k ? "|" : "";

			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
						"%s%u", sep, s->order[m]);
		}
		cr_assert_lt(len, sizeof(buf));
	}
	return buf;
}

static void expect_tiers(const struct topo *t, unsigned i, const char *want)
{
	cr_expect_str_eq(tiers(t, i), want, "scheduler %u: tiers %s, want %s",
			 i, tiers(t, i), want);
}

/* What every plan must satisfy: each other scheduler exactly once, tiers
 * non-empty and in order, no more than TOPO_MAX_TIERS. */
static void check_orders(const struct topo *t)
{
	unsigned char *seen = calloc(t->n, 1);

	cr_assert(seen);
	for (unsigned i = 0; i < t->n; i++) {
		const struct topo_sched *s = &t->sched[i];

		cr_assert_eq(s->norder, t->n - 1);
		cr_assert_leq(s->ntiers, TOPO_MAX_TIERS);
		cr_assert_eq(s->ntiers == 0, t->n == 1,
			     "scheduler %u: %u tiers", i, s->ntiers);
		for (unsigned k = 0; k < s->ntiers; k++)
			cr_assert_gt(s->tier_end[k], k ? s->tier_end[k - 1] : 0,
				     "scheduler %u: tier %u is empty", i, k);
		if (s->ntiers)
			cr_assert_eq(s->tier_end[s->ntiers - 1], s->norder);
		memset(seen, 0, t->n);
		for (unsigned m = 0; m < s->norder; m++) {
			unsigned j = s->order[m];

			cr_assert(j < t->n && j != i && !seen[j],
				  "scheduler %u: order[%u] = %u", i, m, j);
			seen[j] = 1;
		}
	}
	free(seen);
}

static void expect_cpusets(const struct topo *t, const char *const *want)
{
	for (unsigned i = 0; i < t->n; i++)
		cr_expect_str_eq(cpuset(t, i), want[i],
				 "scheduler %u: cpuset %s, want %s", i,
				 cpuset(t, i), want[i]);
}

static void expect_nodes(const struct topo *t, const int *want)
{
	for (unsigned i = 0; i < t->n; i++)
		cr_expect_eq(t->sched[i].node, want[i],
			     "scheduler %u: node %d, want %d", i,
			     t->sched[i].node, want[i]);
}

/* ---- counts, cpusets, nodes ---------------------------------------------- */

/* pack:2 numa:2 l3:1 core:2 pu:1, latencies (tests/topologies/README.md):
 * node 0: 2,3 at 20, 1 at 30; node 1: 3 at 20, 0 at 30, 2 at 40; ... */
Test(topo, numa4_one_scheduler_per_core)
{
	static const char *const sets[] = { "0", "1", "2", "3",
					    "4", "5", "6", "7" };
	static const int nodes[] = { 0, 0, 1, 1, 2, 2, 3, 3 };
	struct topo t;

	NEEDS_HWLOC();
	plan_from(&t, &per_core, topo_file("numa4-distances.xml"), 8);
	cr_assert(t.pinned);
	expect_cpusets(&t, sets);
	expect_nodes(&t, nodes);
	for (unsigned i = 0; i < t.n; i++)
		cr_expect_eq(t.sched[i].pu, (int)i);
	check_orders(&t);
	topo_free(&t);
	T_NO_LEAKS();
}

Test(topo, smt_per_core_binds_whole_cores)
{
	static const char *const sets[] = { "0-1", "2-3",   "4-5",   "6-7",
					    "8-9", "10-11", "12-13", "14-15" };
	static const int nodes[] = { 0, 0, 0, 0, 1, 1, 1, 1 };
	struct topo t;

	NEEDS_HWLOC();
	plan_from(&t, &per_core, topo_file("smt.xml"), 8);
	expect_cpusets(&t, sets);
	expect_nodes(&t, nodes);
	for (unsigned i = 0; i < t.n; i++)
		cr_expect_eq(t.sched[i].pu, (int)(2 * i),
			     "the first PU of the core");
	topo_free(&t);
	T_NO_LEAKS();
}

Test(topo, smt_per_thread_binds_single_pus)
{
	struct topo t;
	char want[16];

	NEEDS_HWLOC();
	plan_from(&t, &per_pu, topo_file("smt.xml"), 16);
	for (unsigned i = 0; i < t.n; i++) {
		snprintf(want, sizeof(want), "%u", i);
		cr_expect_str_eq(cpuset(&t, i), want);
		cr_expect_eq(t.sched[i].pu, (int)i);
		cr_expect_eq(t.sched[i].node, i < 8 ? 0 : 1);
	}
	check_orders(&t);
	topo_free(&t);
	T_NO_LEAKS();
}

/* excluded.xml is smt.xml with allowed_cpuset 0-1,4-8,10-13: core 1 (PUs
 * 2-3) and core 7 (14-15) excluded, and PU 9 of core 4. */
Test(topo, excluded_cores_are_never_used)
{
	static const char *const sets[] = { "0-1", "4-5",   "6-7",
					    "8",   "10-11", "12-13" };
	static const int nodes[] = { 0, 0, 0, 1, 1, 1 };
	struct topo t;

	NEEDS_HWLOC();
	plan_from(&t, &per_core, topo_file("excluded.xml"), 6);
	expect_cpusets(&t, sets);
	expect_nodes(&t, nodes);
	cr_expect_eq(t.sched[3].pu, 8);
	check_orders(&t);
	topo_free(&t);
	T_NO_LEAKS();
}

static bool uses_excluded(const char *set)
{
	static const unsigned bad[] = { 2, 3, 9, 14, 15 };
	char copy[256], *save, *tok;

	snprintf(copy, sizeof(copy), "%s", set);
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned lo, hi;
		int got = sscanf(tok, "%u-%u", &lo, &hi);

		cr_assert(got >= 1, "cpuset %s", set);
		if (got == 1)
			hi = lo;
		for (size_t b = 0; b < ARRAY_SIZE(bad); b++)
			if (bad[b] >= lo && bad[b] <= hi)
				return true;
	}
	return false;
}

Test(topo, excluded_pus_are_never_used_in_any_mode)
{
	static const struct {
		unsigned n;
		bool per_thread;
		unsigned want;
	} modes[] = { { 0, true, 11 },	 { 0, false, 6 },  { 3, false, 3 },
		      { 20, false, 20 }, { 40, true, 40 }, { 5, true, 5 } };
	struct topo t;

	NEEDS_HWLOC();
	for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
		struct topo_request req = { .schedulers = modes[m].n,
					    .pin = LWP_PIN_ON,
					    .per_thread = modes[m].per_thread };

		plan_from(&t, &req, topo_file("excluded.xml"), modes[m].want);
		for (unsigned i = 0; i < t.n; i++)
			cr_expect(!uses_excluded(cpuset(&t, i)),
				  "mode %zu, scheduler %u: %s", m, i,
				  cpuset(&t, i));
		check_orders(&t);
		topo_free(&t);
	}
	T_NO_LEAKS();
}

#define ARCH_BIG "pack:2 numa:2 l3:2 core:8 pu:2"

Test(topo, synthetic_counts_per_mode)
{
	static const struct {
		unsigned n;
		bool per_thread;
		unsigned want;
	} modes[] = { { 0, false, 64 },
		      { 0, true, 128 },
		      { 1, false, 1 },
		      { 7, false, 7 },
		      { 7, true, 7 },
		      { 100, false, 100 },
		      { LWP_SCHEDULERS_MAX, true, LWP_SCHEDULERS_MAX } };
	struct topo t;

	NEEDS_HWLOC();
	for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
		struct topo_request req = { .schedulers = modes[m].n,
					    .per_thread = modes[m].per_thread };

		plan_from(&t, &req, ARCH_BIG, modes[m].want);
		check_orders(&t);
		topo_free(&t);
	}
	T_NO_LEAKS();
}

/* Fewer schedulers than cores: one per NUMA node in turn, alternating
 * packages, packed in core order inside a node. */
Test(topo, few_schedulers_spread_over_nodes)
{
	static const struct {
		unsigned n;
		const char *sets[5];
		int nodes[5];
	} cases[] = {
		{ 2, { "0", "4" }, { 0, 2 } },
		{ 3, { "0", "2", "4" }, { 0, 1, 2 } },
		{ 4, { "0", "2", "4", "6" }, { 0, 1, 2, 3 } },
		{ 5, { "0", "1", "2", "4", "6" }, { 0, 0, 1, 2, 3 } },
	};
	struct topo t;

	NEEDS_HWLOC();
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		struct topo_request req = { .schedulers = cases[c].n,
					    .pin = LWP_PIN_ON };

		plan_from(&t, &req, topo_file("numa4-distances.xml"),
			  cases[c].n);
		expect_cpusets(&t, cases[c].sets);
		expect_nodes(&t, cases[c].nodes);
		check_orders(&t);
		topo_free(&t);
	}
	T_NO_LEAKS();
}

Test(topo, few_schedulers_skip_excluded_cores)
{
	static const char *const sets[] = { "0-1", "4-5", "8" };
	struct topo_request req = { .schedulers = 3, .pin = LWP_PIN_ON };
	struct topo t;

	NEEDS_HWLOC();
	plan_from(&t, &req, topo_file("excluded.xml"), 3);
	expect_cpusets(&t, sets);
	topo_free(&t);
	T_NO_LEAKS();
}

/* More schedulers than cores: they wrap around, two on a core. */
Test(topo, more_schedulers_than_cores_wrap_around)
{
	struct topo_request req = { .schedulers = 12, .pin = LWP_PIN_ON };
	struct topo t;

	NEEDS_HWLOC();
	plan_from(&t, &req, topo_file("numa4-distances.xml"), 12);
	for (unsigned i = 8; i < 12; i++) {
		char want[16];

		snprintf(want, sizeof(want), "%u", i - 8);
		cr_expect_str_eq(cpuset(&t, i), want);
		cr_expect_eq(t.sched[i].node, t.sched[i - 8].node);
	}
	expect_tiers(&t, 0, "8|1,9|4,5,6,7|2,3,10,11");
	expect_tiers(&t, 8, "0|1,9|4,5,6,7|2,3,10,11");
	check_orders(&t);
	topo_free(&t);
	T_NO_LEAKS();
}

/* ---- steal tiers ---------------------------------------------------------- */

Test(topo, tiers_follow_the_latency_matrix)
{
	struct topo t;

	NEEDS_HWLOC();
	plan_from(&t, &per_core, topo_file("numa4-distances.xml"), 8);
	/* Its L3 is its node's, so there is no separate node tier. */
	expect_tiers(&t, 0, "1|4,5,6,7|2,3");
	expect_tiers(&t, 1, "0|4,5,6,7|2,3");
	expect_tiers(&t, 2, "3|6,7|0,1|4,5");
	expect_tiers(&t, 4, "5|0,1|6,7|2,3");
	expect_tiers(&t, 7, "6|0,1,2,3|4,5");
	topo_free(&t);
	T_NO_LEAKS();
}

Test(topo, tiers_without_distances_prefer_the_same_package)
{
	struct topo t;

	NEEDS_HWLOC();
	plan_from(&t, &per_core, "pack:2 numa:2 l3:1 core:2 pu:1", 8);
	expect_tiers(&t, 0, "1|2,3|4,5,6,7");
	expect_tiers(&t, 5, "4|6,7|0,1,2,3");
	check_orders(&t);
	topo_free(&t);
	T_NO_LEAKS();
}

Test(topo, tiers_per_thread_put_siblings_first)
{
	struct topo t;

	NEEDS_HWLOC();
	plan_from(&t, &per_pu, topo_file("smt.xml"), 16);
	expect_tiers(&t, 0, "1|2,3|4,5,6,7|8,9,10,11,12,13,14,15");
	expect_tiers(&t, 13, "12|14,15|8,9,10,11|0,1,2,3,4,5,6,7");
	topo_free(&t);

	plan_from(&t, &per_core, topo_file("smt.xml"), 8);
	expect_tiers(&t, 0, "1|2,3|4,5,6,7");
	expect_tiers(&t, 6, "7|4,5|0,1,2,3");
	topo_free(&t);
	T_NO_LEAKS();
}

Test(topo, empty_tiers_are_dropped)
{
	struct topo t;

	NEEDS_HWLOC();
	plan_from(&t, &per_core, topo_file("excluded.xml"), 6);
	/* Core 0's L3 sibling (core 1) is excluded: no cache tier. */
	expect_tiers(&t, 0, "1,2|3,4,5");
	expect_tiers(&t, 1, "2|0|3,4,5");
	expect_tiers(&t, 3, "4|5|0,1,2");
	expect_tiers(&t, 5, "3,4|0,1,2");
	topo_free(&t);

	plan_from(&t, &per_core, "pack:1 core:1 pu:2", 1);
	cr_expect_eq(t.sched[0].ntiers, 0);
	cr_expect_eq(t.sched[0].norder, 0);
	topo_free(&t);
	T_NO_LEAKS();
}

/* Ten nodes in a chain (distance 10 * hops): node 0 sees nine distances,
 * one more than fits; the two farthest share the last tier. */
Test(topo, tiers_beyond_the_maximum_merge_the_farthest)
{
	struct topo t;

	NEEDS_HWLOC();
	plan_from(&t, &per_core, topo_file("numa10-chain.xml"), 10);
	cr_assert_eq(t.sched[0].ntiers, TOPO_MAX_TIERS);
	expect_tiers(&t, 0, "1|2|3|4|5|6|7|8,9");
	expect_tiers(&t, 5, "4,6|3,7|2,8|1,9|0");
	check_orders(&t);
	topo_free(&t);
	T_NO_LEAKS();
}

Test(topo, every_other_scheduler_once_on_big_machines)
{
	static const char *const shapes[] = {
		ARCH_BIG, "pack:4 l3:2 core:6 pu:2",
		"pack:2 group:2 group:2 group:2 numa:2 core:2 pu:1",
		"pack:2 pu:4", /* no cores: each PU is one */
	};
	static const unsigned counts[] = { 0, 3, 31, 200 };
	struct topo t;

	NEEDS_HWLOC();
	for (size_t s = 0; s < ARRAY_SIZE(shapes); s++)
		for (size_t c = 0; c < ARRAY_SIZE(counts); c++)
			for (int pt = 0; pt < 2; pt++) {
				struct topo_request req = { .schedulers =
								    counts[c],
							    .per_thread = pt };
				int rc = topo_plan_from(&t, &req, shapes[s]);

				cr_assert_eq(rc, 0, "%s: %s", shapes[s],
					     lwp_strerror(rc));
				check_orders(&t);
				topo_free(&t);
			}
	T_NO_LEAKS();
}

/* ---- pinning, environment, errors ------------------------------------------ */

Test(topo, unpinned_plan_keeps_cpusets_and_tiers)
{
	struct topo_request req = { .pin = LWP_PIN_OFF };
	struct topo t;

	NEEDS_HWLOC();
	plan_from(&t, &req, topo_file("numa4-distances.xml"), 8);
	cr_assert(!t.pinned);
	for (unsigned i = 0; i < t.n; i++) {
		cr_expect_eq(t.sched[i].pu, -1);
		cr_expect_eq(t.sched[i].node, -1);
		cr_expect_eq(topo_bind(&t, i), 0, "binding is a no-op");
	}
	cr_expect_str_eq(cpuset(&t, 3), "3");
	expect_tiers(&t, 0, "1|4,5,6,7|2,3");
	topo_free(&t);
	T_NO_LEAKS();
}

Test(topo, a_plan_of_another_machine_cannot_bind)
{
	struct topo t;

	NEEDS_HWLOC();
	plan_from(&t, &per_core, "pack:1 core:2 pu:1", 2);
	cr_expect_eq(topo_bind(&t, 0), LWP_ESYS);
	cr_expect_eq(topo_bind(&t, 2), LWP_EINVAL);
	cr_expect_eq(topo_cpuset_str(&t, 2, (char[8]){ 0 }, 8), LWP_EINVAL);
	topo_free(&t);
	T_NO_LEAKS();
}

/* Runs without hwloc too: then nothing is ever pinned. */
Test(topo, env_sets_the_count_and_pinning)
{
	struct topo_request req = { .schedulers = 0 };
	struct topo t;

	setenv("LWP_SCHEDULERS", "3", 1);
	setenv("LWP_PIN", "0", 1);
	cr_assert_eq(topo_plan(&t, &req), 0);
	cr_expect_eq(t.n, 3);
	cr_expect(!t.pinned);
	topo_free(&t);

	/* The request wins over the environment. */
	req = (struct topo_request){ .schedulers = 5, .pin = LWP_PIN_ON };
	cr_assert_eq(topo_plan(&t, &req), 0);
	cr_expect_eq(t.n, 5);
	cr_expect_eq(t.pinned, LWP_HAVE_HWLOC);
	topo_free(&t);

	setenv("LWP_SCHEDULERS", "1024", 1);
	setenv("LWP_PIN", "1", 1);
	req = (struct topo_request){ .pin = LWP_PIN_DEFAULT };
	cr_assert_eq(topo_plan(&t, &req), 0);
	cr_expect_eq(t.n, 1024);
	cr_expect_eq(t.pinned, LWP_HAVE_HWLOC);
	check_orders(&t);
	topo_free(&t);
	T_NO_LEAKS();
}

static void expect_einval(const struct topo_request *req, const char *what)
{
	struct topo t;
	int rc;

	memset(&t, 0x5a, sizeof(t));
	rc = topo_plan(&t, req);
	cr_expect_eq(rc, LWP_EINVAL, "%s: topo_plan returned %d (%s)", what, rc,
		     lwp_strerror(rc));
	cr_expect(t.n == 0 && !t.sched && !t.impl,
		  "%s: a failed plan leaves the topo zeroed", what);
	memset(&t, 0x5a, sizeof(t));
	rc = topo_plan_from(&t, req, "pack:1 core:2 pu:1");
	cr_expect_eq(rc, LWP_EINVAL, "%s: topo_plan_from returned %d (%s)",
		     what, rc, lwp_strerror(rc));
	cr_expect(t.n == 0 && !t.sched && !t.impl);
}

/* Runs without hwloc too: the values are checked before anything else. */
Test(topo, bad_env_values_are_rejected)
{
	static const char *const bad_count[] = {
		"",
		"0",
		"-1",
		"+2",
		" 2",
		"2 ",
		"abc",
		"3x",
		"1025",
		"0x10",
		"99999999999999999999999",
	};
	static const char *const bad_pin[] = { "",    "2",    "-1", "01",
					       "yes", "true", "on", "1 " };
	struct topo_request req = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(bad_count); i++) {
		setenv("LWP_SCHEDULERS", bad_count[i], 1);
		expect_einval(&req, bad_count[i]);
	}
	unsetenv("LWP_SCHEDULERS");
	for (size_t i = 0; i < ARRAY_SIZE(bad_pin); i++) {
		setenv("LWP_PIN", bad_pin[i], 1);
		expect_einval(&req, bad_pin[i]);
	}
	unsetenv("LWP_PIN");
	req.schedulers = LWP_SCHEDULERS_MAX + 1;
	expect_einval(&req, "schedulers > LWP_SCHEDULERS_MAX");
	req = (struct topo_request){ .pin = 2 };
	expect_einval(&req, "pin = 2");
	T_NO_LEAKS();
}

Test(topo, unreadable_sources_are_rejected)
{
	char path[] = "/tmp/lwp-topo-XXXXXX";
	struct topo t;
	int fd;

	NEEDS_HWLOC();
	cr_expect_eq(topo_plan_from(&t, &per_core, "nonsense:3"), LWP_EINVAL);
	cr_expect_eq(topo_plan_from(&t, &per_core, "/no/such/file.xml"),
		     LWP_EINVAL);
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "<topology>", 10), 10);
	close(fd);
	cr_expect_eq(topo_plan_from(&t, &per_core, path), LWP_EINVAL);
	cr_expect(t.n == 0 && !t.sched && !t.impl);
	unlink(path);
	T_NO_LEAKS();
}

Test(topo, without_hwloc_plan_from_is_unavailable)
{
	struct topo t;

	if (LWP_HAVE_HWLOC)
		cr_skip_test("built with hwloc");
	cr_expect_eq(topo_plan_from(&t, &per_core, "pack:1 core:2 pu:1"),
		     LWP_ESYS);
	T_NO_LEAKS();
}

/* ---- cgroup CPU quota ----------------------------------------------------- */

static char cg_root[64];

static void cg_write(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", cg_root, rel);
	/* Make the parent directories. */
	for (char *p = path + strlen(cg_root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		cr_assert(!mkdir(path, 0755) || errno == EEXIST, "mkdir %s",
			  path);
		*p = '/';
	}
	f = fopen(path, "w");
	cr_assert(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void cg_setup(void)
{
	clean_env();
	snprintf(cg_root, sizeof(cg_root), "/tmp/lwp-cgroup-XXXXXX");
	cr_assert(mkdtemp(cg_root));
}

static void cg_teardown(void)
{
	nftw(cg_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static unsigned cg_cpus_as(const char *self)
{
	char path[512];

	cg_write("self", self);
	snprintf(path, sizeof(path), "%s/self", cg_root);
	return topo_cgroup_cpus_in(cg_root, path);
}

Test(topo, cgroup_v2_cpu_max, .init = cg_setup, .fini = cg_teardown)
{
	static const struct {
		const char *text;
		unsigned want;
	} cases[] = {
		{ "max 100000\n", 0 },
		{ "150000 100000\n", 2 },
		{ "200000 100000\n", 2 },
		{ "50000 100000\n", 1 },
		{ "400000 100000", 4 },
		{ "100001 100000\n", 2 },
		{ "", 0 },
		{ "abc\n", 0 },
		{ "100000\n", 0 },
		{ "-5 100000\n", 0 },
		{ "150000 0\n", 0 },
		{ "0 100000\n", 0 },
		{ "150000 100000 7\n", 0 },
		{ "150000  100000\n", 0 },
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		cg_write("cpu.max", cases[c].text);
		cr_expect_eq(topo_cgroup_cpus(cg_root), cases[c].want,
			     "cpu.max \"%s\": %u, want %u", cases[c].text,
			     topo_cgroup_cpus(cg_root), cases[c].want);
	}
	T_NO_LEAKS();
}

Test(topo, cgroup_v1_cfs_quota, .init = cg_setup, .fini = cg_teardown)
{
	static const struct {
		const char *quota, *period;
		unsigned want;
	} cases[] = {
		{ "-1\n", "100000\n", 0 },     { "250000\n", "100000\n", 3 },
		{ "100000\n", "100000\n", 1 }, { "12abc\n", "100000\n", 0 },
		{ "250000\n", "\n", 0 },       { "250000\n", "0\n", 0 },
	};

	cr_expect_eq(topo_cgroup_cpus(cg_root), 0, "nothing there: no limit");
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		cg_write("cpu/cpu.cfs_quota_us", cases[c].quota);
		cg_write("cpu/cpu.cfs_period_us", cases[c].period);
		cr_expect_eq(topo_cgroup_cpus(cg_root), cases[c].want,
			     "quota %s period %s: %u, want %u", cases[c].quota,
			     cases[c].period, topo_cgroup_cpus(cg_root),
			     cases[c].want);
	}
	T_NO_LEAKS();
}

Test(topo, cgroup_own_group_and_its_ancestors, .init = cg_setup,
     .fini = cg_teardown)
{
	cg_write("a/b/cpu.max", "max 100000\n");
	cg_write("a/cpu.max", "300000 100000\n");
	cr_expect_eq(cg_cpus_as("0::/a/b\n"), 3, "the parent's limit applies");
	cg_write("a/b/cpu.max", "150000 100000\n");
	cr_expect_eq(cg_cpus_as("0::/a/b\n"), 2, "the tighter one wins");
	cr_expect_eq(cg_cpus_as("0::/elsewhere\n"), 0);

	cg_write("cpu,cpuacct/grp/cpu.cfs_quota_us", "50000\n");
	cg_write("cpu,cpuacct/grp/cpu.cfs_period_us", "100000\n");
	cg_write("cpuacct/grp/cpu.cfs_quota_us", "50000\n");
	cg_write("cpuacct/grp/cpu.cfs_period_us", "100000\n");
	cr_expect_eq(cg_cpus_as("5:cpu,cpuacct:/grp\n"), 1, "v1 cpu,cpuacct");
	cr_expect_eq(cg_cpus_as("1:name=systemd:/grp\n4:cpuacct:/grp\n"
				"0::/grp\n"),
		     0, "only the cpu controller counts");
	cr_expect_eq(cg_cpus_as("garbage\n"), 0);
	T_NO_LEAKS();
}

/* ---- this machine ---------------------------------------------------------- */

static unsigned affinity_count(void)
{
	cpu_set_t set;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	return (unsigned)CPU_COUNT(&set);
}

static void affinity_str(char *buf, size_t len)
{
	cpu_set_t set;
	size_t n = 0;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE; c++) {
		int hi = c;

		if (!CPU_ISSET(c, &set))
			continue;
		while (hi + 1 < CPU_SETSIZE && CPU_ISSET(hi + 1, &set))
			hi++;
		n += (size_t)snprintf(buf + n, len - n, "%s%d", n ? "," : "",
				      c);
		if (hi > c)
			n += (size_t)snprintf(buf + n, len - n, "-%d", hi);
		c = hi;
		cr_assert_lt(n, len);
	}
}

static void pin_self_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	cr_assert_eq(sched_setaffinity(0, sizeof(set), &set), 0);
}

static int last_cpu(void)
{
	cpu_set_t set;
	int last = -1;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			last = c;
	return last;
}

Test(topo, real_machine_default_count)
{
	struct topo_request req = { .per_thread = true };
	unsigned quota = topo_cgroup_cpus("/sys/fs/cgroup");
	unsigned cpus = affinity_count(), per_thread;
	struct topo t;

	cr_assert_eq(topo_plan(&t, &req), 0);
	per_thread = quota && quota < cpus ? quota : cpus;
	cr_expect_eq(t.n, per_thread, "%u schedulers per thread, want %u", t.n,
		     per_thread);
	check_orders(&t);
	topo_free(&t);

	req.per_thread = false;
	cr_assert_eq(topo_plan(&t, &req), 0);
	cr_expect(t.n >= 1 && t.n <= per_thread, "%u schedulers per core", t.n);
	check_orders(&t);
	if (!LWP_HAVE_HWLOC) {
		cr_expect(!t.pinned);
		cr_expect_eq(t.sched[0].node, -1);
		if (t.n > 1)
			cr_expect_eq(t.sched[0].ntiers, 1, "one flat tier");
	}
	topo_free(&t);
	T_NO_LEAKS();
}

struct bind_arg {
	const struct topo *t;
	unsigned i;
	int rc;
	char got[256];
};

static void *bind_thread(void *p)
{
	struct bind_arg *a = p;

	a->rc = topo_bind(a->t, a->i);
	affinity_str(a->got, sizeof(a->got));
	return NULL;
}

/* Every scheduler of an explicit count above the CPUs, so that wrapping
 * is covered too. */
Test(topo, real_machine_bind_threads)
{
	struct topo_request req = { .schedulers = affinity_count() + 1,
				    .pin = LWP_PIN_ON };
	struct topo t;

	NEEDS_HWLOC();
	cr_assert_eq(topo_plan(&t, &req), 0);
	cr_assert(t.pinned);
	for (unsigned i = 0; i < t.n; i++) {
		struct bind_arg a = { .t = &t, .i = i };
		pthread_t th;

		cr_assert_eq(pthread_create(&th, NULL, bind_thread, &a), 0);
		pthread_join(th, NULL);
		cr_expect_eq(a.rc, 0, "bind %u: %s", i, lwp_strerror(a.rc));
		cr_expect_str_eq(a.got, cpuset(&t, i),
				 "scheduler %u: bound to %s, planned %s", i,
				 a.got, cpuset(&t, i));
		cr_expect_geq(t.sched[i].pu, 0);
		cr_expect_geq(t.sched[i].node, 0);
	}
	topo_free(&t);
	T_NO_LEAKS();
}

/* Like taskset: only the calling thread's CPUs are used. */
Test(topo, real_machine_honours_the_affinity)
{
	int cpu = last_cpu();
	struct topo t;
	char want[16];

	NEEDS_HWLOC();
	pin_self_to(cpu);
	snprintf(want, sizeof(want), "%d", cpu);
	cr_assert_eq(topo_plan(&t, &per_pu), 0);
	cr_expect_eq(t.n, 1);
	cr_expect_str_eq(cpuset(&t, 0), want);
	topo_free(&t);
	cr_assert_eq(topo_plan(&t, &per_core), 0);
	cr_expect_eq(t.n, 1);
	cr_expect_eq(t.sched[0].pu, cpu);
	topo_free(&t);
	T_NO_LEAKS();
}

Test(topo, real_machine_saves_and_restores_the_host_binding)
{
	char before[256], bound[256];
	struct topo t;

	NEEDS_HWLOC();
	if (affinity_count() < 2)
		cr_skip_test("needs two CPUs");
	cr_assert_eq(topo_plan(&t, &per_pu), 0);
	/* The host sits on a CPU that is not scheduler 0's. */
	pin_self_to(last_cpu());
	affinity_str(before, sizeof(before));
	cr_assert_str_neq(before, cpuset(&t, 0));
	topo_save_host(&t);
	cr_assert_eq(topo_bind(&t, 0), 0);
	affinity_str(bound, sizeof(bound));
	cr_expect_str_eq(bound, cpuset(&t, 0));
	topo_restore_host(&t);
	affinity_str(bound, sizeof(bound));
	cr_expect_str_eq(bound, before, "restored %s, was %s", bound, before);
	topo_free(&t);
	T_NO_LEAKS();
}

Test(topo, real_machine_unpinned_leaves_threads_alone)
{
	struct topo_request req = { .pin = LWP_PIN_OFF };
	char before[256], after[256];
	struct topo t;

	affinity_str(before, sizeof(before));
	cr_assert_eq(topo_plan(&t, &req), 0);
	cr_assert(!t.pinned);
	for (unsigned i = 0; i < t.n; i++) {
		cr_expect_eq(topo_bind(&t, i), 0);
		cr_expect_eq(t.sched[i].pu, -1);
	}
	cr_expect_eq(topo_bind(&t, t.n), LWP_EINVAL);
	affinity_str(after, sizeof(after));
	cr_expect_str_eq(after, before);
	topo_free(&t);
	T_NO_LEAKS();
}
