/*
 * topo.c - see topo.h.
 *
 * Where schedulers go when there are fewer of them than cores: round-robin
 * over the NUMA nodes (alternating packages: node 0 of each package, then
 * node 1 of each...), and packed in core order inside each node.  Spreading
 * over nodes gives the schedulers the memory bandwidth and the last-level
 * caches of as many nodes as possible, and each scheduler's stacks and
 * arena live on its own node (stack.c, alloc.c), so no node's memory controller
 * serves them all.  Packing inside a node keeps a scheduler's neighbours in
 * its L3, so its nearest steal tier is not empty and messages between them
 * stay in that cache.  (hwloc_distrib would spread at every level, L3s and
 * cores included, which gives each scheduler more cache but empties the
 * cheap tier.)  Schedulers are then numbered in core order.
 */
#include "topo.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "lwp.h"

#if LWP_HAVE_HWLOC
#include <hwloc.h>

#if HWLOC_API_VERSION < 0x00020100 /* renamed in hwloc 2.1 */
#define HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED HWLOC_TOPOLOGY_FLAG_WHOLE_SYSTEM
#endif
#endif

/* ---- the request and the environment ------------------------------------ */

/* Decimal digits at *s (at least one) into *v, no more than max; *s is left
 * at the first non-digit.  Unlike strtoul, no sign and no space. */
static bool parse_dec(const char **s, unsigned long long max,
		      unsigned long long *v)
{
	const char *p = *s;
	unsigned long long x = 0;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (x > (max - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*s = p;
	*v = x;
	return true;
}

/* A variable that is set must be valid: guessing what a typo meant would
 * run the program on a plan nobody asked for. */
static must_check int resolve(const struct topo_request *req,
			      struct topo_request *out)
{
	static const struct topo_request defaults;
	const char *s = getenv("LWP_SCHEDULERS");
	unsigned long long v;

	*out = req ? *req : defaults;
	if (out->schedulers > LWP_SCHEDULERS_MAX)
		return LWP_EINVAL;
	if (!out->schedulers && s) {
		if (!parse_dec(&s, LWP_SCHEDULERS_MAX, &v) || *s || !v)
			return LWP_EINVAL;
		out->schedulers = (unsigned)v;
	}
	if (out->pin == LWP_PIN_DEFAULT) {
		bool pin;

		if (env_bool("LWP_PIN", true, &pin))
			return LWP_EINVAL;
		out->pin = pin ? LWP_PIN_ON : LWP_PIN_OFF;
	}
	return out->pin == LWP_PIN_ON || out->pin == LWP_PIN_OFF ? 0 :
								   LWP_EINVAL;
}

/* ---- cgroup CPU quota ---------------------------------------------------- */

static bool read_at(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	size_t got;
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return false;
	f = fopen(path, "re");
	if (!f)
		return false;
	got = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[got] = '\0';
	return true;
}

/* All of s is a number, but for a trailing newline. */
static bool number(const char *s, unsigned long long *v)
{
	return parse_dec(&s, ULLONG_MAX, v) && s[strspn(s, "\n")] == '\0';
}

/* The quota set in one cgroup directory, rounded up to whole CPUs; 0 when
 * there is none or it cannot be read. */
static unsigned quota_in(const char *dir)
{
	char q[64], p[64], *space;
	unsigned long long quota, period, n;

	if (read_at(dir, "cpu.max", q, sizeof(q))) { /* v2: "QUOTA PERIOD" */
		space = strchr(q, ' ');
		if (!space)
			return 0;
		*space = '\0';
		snprintf(p, sizeof(p), "%s", space + 1);
	} else if (!read_at(dir, "cpu.cfs_quota_us", q, sizeof(q)) ||
		   !read_at(dir, "cpu.cfs_period_us", p, sizeof(p))) {
		return 0;
	}
	/* No limit is v2's "max" and v1's "-1": not numbers. */
	if (!number(q, &quota) || !number(p, &period) || !quota || !period)
		return 0;
	n = quota / period + (quota % period != 0);
	return n > UINT_MAX ? UINT_MAX : (unsigned)n;
}

static unsigned tighter(unsigned a, unsigned b)
{
	return !a || (b && b < a) ? b : a;
}

/* Limits are hierarchical: the tightest of base/path and its ancestors up
 * to base itself applies. */
static unsigned quota_up(const char *base, const char *path)
{
	char dir[PATH_MAX], *slash;
	size_t blen = strlen(base);
	unsigned cpus = 0;

	if ((size_t)snprintf(dir, sizeof(dir), "%s%s", base, path) >=
	    sizeof(dir))
		return 0;
	for (;;) {
		cpus = tighter(cpus, quota_in(dir));
		slash = strrchr(dir + blen, '/');
		if (!slash)
			return cpus;
		*slash = '\0';
	}
}

/* Is "cpu" one of a v1 line's comma-separated controllers? */
static bool lists_cpu(const char *ctl)
{
	size_t len;

	for (; *ctl; ctl += len + (ctl[len] == ',')) {
		len = strcspn(ctl, ",");
		if (len == 3 && !strncmp(ctl, "cpu", 3))
			return true;
	}
	return false;
}

unsigned topo_cgroup_cpus_in(const char *cgroup_root, const char *self_cgroup)
{
	char line[PATH_MAX + 64], base[PATH_MAX];
	unsigned cpus;
	FILE *f;

	/* The root itself (and v1's cpu mount under it) count too, for
	 * when the process's own group is not under this root. */
	snprintf(base, sizeof(base), "%s/cpu", cgroup_root);
	cpus = tighter(quota_in(cgroup_root), quota_in(base));
	f = fopen(self_cgroup, "re");
	if (!f)
		return cpus;
	/* "ID:CONTROLLERS:PATH".  v2's line has no controllers; a v1
	 * hierarchy is mounted at root/CONTROLLERS ("cpu,cpuacct"). */
	while (fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *path;

		if (!ctl || !(path = strchr(++ctl, ':')))
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if ((!*ctl || lists_cpu(ctl)) &&
		    (size_t)snprintf(base, sizeof(base), "%s%s%s", cgroup_root,
				     *ctl ? "/" : "", ctl) < sizeof(base))
			cpus = tighter(cpus, quota_up(base, path));
	}
	fclose(f);
	return cpus;
}

unsigned topo_cgroup_cpus(const char *cgroup_root)
{
	return topo_cgroup_cpus_in(cgroup_root, "/proc/self/cgroup");
}

/* ---- counts and steal orders --------------------------------------------- */

/* What the CPUs allow, lowered to this machine's cgroup quota (a plan of
 * another machine has none). */
static unsigned default_count(unsigned usable, bool local)
{
	unsigned quota = local ? topo_cgroup_cpus("/sys/fs/cgroup") : 0;

	if (quota && quota < usable)
		usable = quota;
	return usable ? usable : 1;
}

/* One allocation: the n scheduler records, then their n * (n - 1) steal
 * order entries. */
static must_check int alloc_plan(struct topo *t, unsigned n)
{
	size_t per = n - 1;
	unsigned *order;

	t->sched = malloc(n * (sizeof(*t->sched) + per * sizeof(*order)));
	if (!t->sched)
		return LWP_ENOMEM;
	order = (unsigned *)(t->sched + n);
	for (unsigned i = 0; i < n; i++)
		t->sched[i] = (struct topo_sched){ .node = -1,
						   .pu = -1,
						   .order = order + i * per,
						   .norder = n - 1 };
	t->n = n;
	return 0;
}

/* An index sorted by a key, ties by index. */
struct near {
	uint64_t key;
	unsigned j;
};

static int cmp_near(const void *a, const void *b)
{
	const struct near *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->j < y->j ? -1 : x->j > y->j;
}

/* How far scheduler j is from scheduler i: equal distances share a tier. */
typedef uint64_t distance_fn(const void *ctx, unsigned i, unsigned j);

static must_check int fill_orders(struct topo *t, distance_fn *distance,
				  const void *ctx)
{
	struct near *near = malloc(t->n * sizeof(*near));

	if (!near)
		return LWP_ENOMEM;
	for (unsigned i = 0; i < t->n; i++) {
		struct topo_sched *s = &t->sched[i];
		unsigned k = 0;

		for (unsigned j = 0; j < t->n; j++)
			if (j != i)
				near[k++] =
					(struct near){ distance(ctx, i, j), j };
		qsort(near, k, sizeof(*near), cmp_near);
		for (unsigned m = 0; m < k; m++) {
			/* Past TOPO_MAX_TIERS distances, the farthest
			 * share the last tier. */
			if ((!m || near[m].key != near[m - 1].key) &&
			    s->ntiers < TOPO_MAX_TIERS)
				s->ntiers++;
			s->order[m] = near[m].j;
			s->tier_end[s->ntiers - 1] = m + 1;
		}
	}
	free(near);
	return 0;
}

#if LWP_HAVE_HWLOC

struct impl {
	hwloc_topology_t topo; /* this_machine, or owned */
	hwloc_cpuset_t *set;   /* per scheduler: the CPUs it is bound to */
	hwloc_cpuset_t host;   /* the host thread's saved binding, or NULL */
	bool local;	       /* the topology of this machine */
};

/* Load the whole machine, disallowed PUs included, and apply the allowed
 * cpuset ourselves (usable()): the same code then serves this machine's
 * cgroup cpuset, an XML file's allowed_cpuset, and the caller's affinity,
 * which hwloc does not apply at all. */
static must_check int load_topology(hwloc_topology_t *topo, const char *source)
{
	int rc = 0;

	if (hwloc_topology_init(topo))
		return LWP_ENOMEM;
	if (hwloc_topology_set_flags(*topo,
				     HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED))
		rc = LWP_ESYS;
	else if (source &&
		 (access(source, F_OK) ?
			  hwloc_topology_set_synthetic(*topo, source) :
			  hwloc_topology_set_xml(*topo, source)))
		rc = LWP_EINVAL;
	else if (hwloc_topology_load(*topo))
		rc = source ? LWP_EINVAL : LWP_ESYS;
	if (rc)
		hwloc_topology_destroy(*topo);
	return rc;
}

/* This machine's topology, loaded by the first plan and kept for the
 * process's life: loading it reads much of /sys (about a millisecond), and
 * a program may start and stop the runtime many times.  What may change
 * between runs - the caller's affinity, the cgroup quota - is read anew by
 * each plan (usable(), topo_cgroup_cpus()). */
static hwloc_topology_t this_machine;
static pthread_mutex_t this_machine_lock = PTHREAD_MUTEX_INITIALIZER;

static must_check int load_this_machine(struct impl *im)
{
	int rc = 0;

	pthread_mutex_lock(&this_machine_lock);
	if (!this_machine) {
		rc = load_topology(&this_machine, NULL);
		if (rc)
			this_machine = NULL;
	}
	im->topo = this_machine;
	pthread_mutex_unlock(&this_machine_lock);
	if (!rc)
		im->local = hwloc_topology_is_thissystem(im->topo);
	return rc;
}

static must_check int load(struct impl *im, const char *source)
{
	int rc;

	if (!source)
		return load_this_machine(im);
	rc = load_topology(&im->topo, source);
	if (rc)
		im->topo = NULL;
	return rc;
}

/* The PUs we may use: allowed by the cgroup cpuset and, on this machine,
 * by the calling thread's affinity (taskset). */
static must_check int usable(const struct impl *im, hwloc_cpuset_t *out)
{
	hwloc_cpuset_t set, bound = hwloc_bitmap_alloc();

	*out = set =
		hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(im->topo));
	if (set && bound && im->local &&
	    !hwloc_get_cpubind(im->topo, bound, HWLOC_CPUBIND_THREAD))
		hwloc_bitmap_and(set, set, bound);
	hwloc_bitmap_free(bound);
	if (!set || !bound)
		return LWP_ENOMEM;
	return hwloc_bitmap_iszero(set) ? LWP_ESYS : 0;
}

/* Its core, or the object itself on a machine without cores. */
static hwloc_obj_t core_of(hwloc_topology_t topo, hwloc_obj_t obj)
{
	hwloc_obj_t core =
		hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, obj);

	return core ? core : obj;
}

/* The first NUMA node (in logical order: DRAM before HBM or PMEM sharing
 * its CPUs) whose CPUs include all of obj's. */
static hwloc_obj_t numa_of(hwloc_topology_t topo, hwloc_obj_t obj)
{
	hwloc_obj_t node = NULL;

	while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE,
						  node)))
		if (!hwloc_bitmap_iszero(node->cpuset) &&
		    hwloc_bitmap_isincluded(obj->cpuset, node->cpuset))
			return node;
	return NULL;
}

/* What the steal order needs to know of a scheduler. */
struct place {
	hwloc_obj_t core, numa;
	hwloc_obj_t llc; /* outermost data cache above it, or NULL */
};

/* Planning state, dropped once the plan is made. */
struct work {
	hwloc_topology_t topo;
	hwloc_cpuset_t usable;
	hwloc_obj_t *units; /* cores (PUs) with a usable PU, logical order */
	unsigned nunits;
	unsigned *pick;		       /* scheduler i's unit */
	struct place *pl;	       /* scheduler i's place */
	struct hwloc_distances_s *lat; /* NUMA latencies, if known */
};

/* A core's PUs are consecutive in logical order. */
static must_check int collect_units(struct work *w, bool per_thread)
{
	hwloc_obj_t pu = NULL, u;

	w->units =
		malloc((size_t)hwloc_get_nbobjs_by_type(w->topo, HWLOC_OBJ_PU) *
		       sizeof(*w->units));
	if (!w->units)
		return LWP_ENOMEM;
	while ((pu = hwloc_get_next_obj_by_type(w->topo, HWLOC_OBJ_PU, pu))) {
		u = per_thread ? pu : core_of(w->topo, pu);
		if (hwloc_bitmap_isset(w->usable, pu->os_index) &&
		    (!w->nunits || w->units[w->nunits - 1] != u))
			w->units[w->nunits++] = u;
	}
	return 0;
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

/* Fewer schedulers than units: take units in spread order (see the top of
 * this file), sorting on (rank in its node, the node's rank in its package,
 * package).  Nodes and packages are subtrees, so each covers consecutive
 * units and one pass ranks them. */
static must_check int spread(struct work *w, unsigned n)
{
	struct near *s = malloc(w->nunits * sizeof(*s));
	hwloc_obj_t numa, pkg, prev_numa = NULL, prev_pkg = NULL;
	uint64_t in_node = 0, node_in_pkg = 0;

	if (!s)
		return LWP_ENOMEM;
	for (unsigned u = 0; u < w->nunits; u++) {
		numa = numa_of(w->topo, w->units[u]);
		pkg = hwloc_get_ancestor_obj_by_type(w->topo, HWLOC_OBJ_PACKAGE,
						     w->units[u]);
		if (u && numa == prev_numa) {
			in_node++;
		} else {
			node_in_pkg = u && pkg == prev_pkg ? node_in_pkg + 1 :
							     0;
			in_node = 0;
		}
		s[u] = (struct near){ in_node << 42 | node_in_pkg << 21 |
					      (pkg ? pkg->logical_index : 0),
				      u };
		prev_numa = numa;
		prev_pkg = pkg;
	}
	qsort(s, w->nunits, sizeof(*s), cmp_near);
	for (unsigned i = 0; i < n; i++)
		w->pick[i] = s[i].j;
	free(s);
	qsort(w->pick, n, sizeof(*w->pick), cmp_unsigned);
	return 0;
}

/* Bind scheduler i to its unit's usable PUs: the whole core's, so that the
 * OS may run it on either hyperthread. */
static must_check int assign(struct topo *t, struct work *w)
{
	struct impl *im = t->impl;

	im->set = calloc(t->n, sizeof(*im->set));
	if (!im->set)
		return LWP_ENOMEM;
	for (unsigned i = 0; i < t->n; i++) {
		hwloc_obj_t u = w->units[w->pick[i]];
		struct place *p = &w->pl[i];

		im->set[i] = hwloc_bitmap_alloc();
		if (!im->set[i])
			return LWP_ENOMEM;
		hwloc_bitmap_and(im->set[i], u->cpuset, w->usable);
		*p = (struct place){ .core = core_of(w->topo, u),
				     .numa = numa_of(w->topo, u) };
		for (hwloc_obj_t o = u->parent; o; o = o->parent)
			if (hwloc_obj_type_is_dcache(o->type))
				p->llc = o;
		if (t->pinned) {
			t->sched[i].pu = hwloc_bitmap_first(im->set[i]);
			t->sched[i].node = p->numa ? (int)p->numa->os_index :
						     -1;
		}
	}
	return 0;
}

#define FAR (UINT64_MAX - 4) /* distances below: 0..3 + node distance */

static uint64_t node_distance(const struct work *w, hwloc_obj_t a,
			      hwloc_obj_t b)
{
	hwloc_uint64_t ab, ba;

	if (w->lat)
		return hwloc_distances_obj_pair_values(w->lat, a, b, &ab, &ba) ?
			       FAR :
			       (ab < FAR ? ab : FAR);
	/* No matrix: nodes under a deeper common ancestor (the same
	 * package, the same group) are nearer.  A node hangs off a normal
	 * object, maybe through memory-side caches (depth < 0). */
	while (a->depth < 0)
		a = a->parent;
	while (b->depth < 0)
		b = b->parent;
	return (uint64_t)(hwloc_topology_get_depth(w->topo) -
			  hwloc_get_common_ancestor_obj(w->topo, a, b)->depth);
}

/* Same core, same last-level cache (on the same node), same node, then
 * other nodes by distance; unknown nodes last. */
static uint64_t closeness(const void *ctx, unsigned i, unsigned j)
{
	const struct work *w = ctx;
	const struct place *a = &w->pl[i], *b = &w->pl[j];

	if (a->core == b->core)
		return 0;
	if (a->llc && a->llc == b->llc && a->numa == b->numa)
		return 1;
	if (!a->numa || !b->numa)
		return UINT64_MAX;
	if (a->numa == b->numa)
		return 2;
	return 3 + node_distance(w, a->numa, b->numa);
}

static must_check int plan_units(struct topo *t, struct work *w,
				 const struct topo_request *r)
{
	struct impl *im = t->impl;
	unsigned nr = 1;
	int rc = collect_units(w, r->per_thread);

	if (!rc)
		rc = alloc_plan(t, r->schedulers ?
					   r->schedulers :
					   default_count(w->nunits, im->local));
	if (rc)
		return rc;
	t->pinned = r->pin == LWP_PIN_ON;
	w->pick = malloc(t->n * sizeof(*w->pick));
	w->pl = malloc(t->n * sizeof(*w->pl));
	if (!w->pick || !w->pl)
		return LWP_ENOMEM;
	/* An explicit count above the units is allowed: schedulers wrap
	 * around, so i and i + nunits share a core (and each other's first
	 * steal tier). */
	for (unsigned i = 0; i < t->n; i++)
		w->pick[i] = i % w->nunits;
	rc = t->n < w->nunits ? spread(w, t->n) : 0;
	if (!rc)
		rc = assign(t, w);
	/* The first latency matrix, if any (none leaves w->lat NULL). */
	if (!rc)
		(void)hwloc_distances_get_by_type(
			w->topo, HWLOC_OBJ_NUMANODE, &nr, &w->lat,
			HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0);
	return rc ? rc : fill_orders(t, closeness, w);
}

static must_check int plan_machine(struct topo *t, const struct topo_request *r,
				   const char *source)
{
	struct work w = { 0 };
	struct impl *im = calloc(1, sizeof(*im));
	int rc;

	t->impl = im;
	if (!im)
		return LWP_ENOMEM;
	rc = load(im, source);
	w.topo = im->topo;
	if (!rc)
		rc = usable(im, &w.usable);
	if (!rc)
		rc = plan_units(t, &w, r);
	if (w.lat)
		hwloc_distances_release(w.topo, w.lat);
	hwloc_bitmap_free(w.usable);
	free(w.units);
	free(w.pick);
	free(w.pl);
	return rc;
}

int topo_bind(const struct topo *t, unsigned i)
{
	const struct impl *im = t->impl;

	if (i >= t->n)
		return LWP_EINVAL;
	if (!t->pinned)
		return 0;
	if (!im->local ||
	    hwloc_set_cpubind(im->topo, im->set[i], HWLOC_CPUBIND_THREAD))
		return LWP_ESYS;
	return 0;
}

void topo_save_host(struct topo *t)
{
	struct impl *im = t->impl;

	if (!im || !im->local || im->host)
		return;
	im->host = hwloc_bitmap_alloc();
	if (im->host &&
	    hwloc_get_cpubind(im->topo, im->host, HWLOC_CPUBIND_THREAD)) {
		hwloc_bitmap_free(im->host);
		im->host = NULL;
	}
}

void topo_restore_host(struct topo *t)
{
	struct impl *im = t->impl;

	if (!im || !im->host)
		return;
	/* Best effort: the host thread runs on, wherever it may. */
	(void)hwloc_set_cpubind(im->topo, im->host, HWLOC_CPUBIND_THREAD);
	hwloc_bitmap_free(im->host);
	im->host = NULL;
}

int topo_cpuset_str(const struct topo *t, unsigned i, char *buf, size_t len)
{
	const struct impl *im = t->impl;

	if (i >= t->n)
		return LWP_EINVAL;
	return hwloc_bitmap_list_snprintf(buf, len, im->set[i]);
}

static void free_impl(struct topo *t)
{
	struct impl *im = t->impl;

	if (!im)
		return;
	for (unsigned i = 0; im->set && i < t->n; i++)
		hwloc_bitmap_free(im->set[i]);
	free(im->set);
	hwloc_bitmap_free(im->host);
	if (im->topo && im->topo != this_machine)
		hwloc_topology_destroy(im->topo);
	free(im);
}

#else /* !LWP_HAVE_HWLOC */

static uint64_t flat(const void *ctx, unsigned i, unsigned j)
{
	(void)ctx, (void)i, (void)j;
	return 0;
}

/* Nothing tells cores from hyperthreads: count the CPUs of the calling
 * thread's affinity; nothing is bound, and there is one steal tier. */
static must_check int plan_machine(struct topo *t, const struct topo_request *r,
				   const char *source)
{
	cpu_set_t cpus;
	unsigned avail;
	int rc;

	if (source)
		return LWP_ESYS;
	avail = sched_getaffinity(0, sizeof(cpus), &cpus) ?
			(unsigned)sysconf(_SC_NPROCESSORS_ONLN) :
			(unsigned)CPU_COUNT(&cpus);
	rc = alloc_plan(t, r->schedulers ? r->schedulers :
					   default_count(avail, true));
	return rc ? rc : fill_orders(t, flat, NULL);
}

int topo_bind(const struct topo *t, unsigned i)
{
	return i < t->n ? 0 : LWP_EINVAL;
}

void topo_save_host(struct topo *t)
{
	(void)t;
}

void topo_restore_host(struct topo *t)
{
	(void)t;
}

int topo_cpuset_str(const struct topo *t, unsigned i, char *buf, size_t len)
{
	(void)buf, (void)len;
	return i < t->n ? LWP_ESYS : LWP_EINVAL;
}

static void free_impl(struct topo *t)
{
	(void)t;
}

#endif /* LWP_HAVE_HWLOC */

static must_check int plan(struct topo *t, const struct topo_request *req,
			   const char *source)
{
	struct topo_request r;
	int rc = resolve(req, &r);

	*t = (struct topo){ 0 };
	if (!rc)
		rc = plan_machine(t, &r, source);
	if (rc)
		topo_free(t);
	return rc;
}

int topo_plan(struct topo *t, const struct topo_request *req)
{
	return plan(t, req, NULL);
}

int topo_plan_from(struct topo *t, const struct topo_request *req,
		   const char *source)
{
	return plan(t, req, source);
}

void topo_free(struct topo *t)
{
	free_impl(t);
	free(t->sched);
	*t = (struct topo){ 0 };
}
