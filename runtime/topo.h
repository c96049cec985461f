/*
 * topo.h - the scheduler placement plan: how many schedulers, which core
 * each one is bound to, its NUMA node, and the order in which it tries the
 * others when it steals.
 *
 * The plan is computed once, before any scheduler thread exists, from the
 * hwloc topology of the machine restricted to the CPUs this program may use
 * (the cgroup cpuset, and the calling thread's affinity: taskset).  Without
 * hwloc (-Dhwloc=disabled) the plan only has a count and flat steal orders.
 */
#ifndef LWP_TOPO_H
#define LWP_TOPO_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"

#define TOPO_MAX_TIERS 8

struct topo_request {
	/* 0: LWP_SCHEDULERS from the environment if set, else the default
	 * count (see topo_plan). */
	unsigned schedulers;
	/* LWP_PIN_ON / LWP_PIN_OFF / LWP_PIN_DEFAULT (then the environment's
	 * LWP_PIN=0|1 if set, else on). */
	int pin;
	/* One scheduler per PU (hardware thread) instead of per core. */
	bool per_thread;
};

struct topo_sched {
	/* OS index of the NUMA node holding its core; -1 when unknown, and
	 * always when the plan is not pinned (an unbound thread has none). */
	int node;
	/* OS index of the first PU of its binding; -1 when unpinned. */
	int pu;
	/* The other schedulers' indices, nearest first, in tiers: tier k is
	 * order[k ? tier_end[k - 1] : 0 .. tier_end[k]).  Each other
	 * scheduler appears exactly once; no tier is empty.  The stealer
	 * picks a random start inside each tier. */
	unsigned *order;
	unsigned norder; /* n - 1 */
	unsigned tier_end[TOPO_MAX_TIERS];
	unsigned ntiers;
};

struct topo {
	unsigned n; /* schedulers planned */
	bool pinned;
	struct topo_sched *sched;
	void *impl; /* hwloc topology, cpusets, saved host binding */
};

/*
 * Plan for this machine.  The default count is the number of cores with at
 * least one usable PU (usable PUs with per_thread), lowered to the cgroup
 * CPU quota (topo_cgroup_cpus("/sys/fs/cgroup")), at least 1.  Tiers:
 * schedulers on the same core (per_thread siblings, or a core shared by two
 * schedulers when there are more schedulers than cores), then those sharing
 * its last-level cache, then the rest of its NUMA node, then the other nodes
 * nearest first (hwloc latency distances if the machine reports them, else
 * nodes of the same package first).  On failure *t is left zeroed.
 * Errors: LWP_EINVAL (bad request, bad LWP_SCHEDULERS or LWP_PIN, more than
 * LWP_SCHEDULERS_MAX), LWP_ENOMEM, LWP_ESYS (hwloc could not load, or no
 * usable CPU).
 */
must_check int topo_plan(struct topo *t, const struct topo_request *req);

/*
 * The same for another machine, for tests: `source` is an hwloc synthetic
 * description ("pack:2 numa:2 l3:2 core:8 pu:2") or, if a file of that
 * name exists, an hwloc XML topology (its allowed_cpuset is honoured; the
 * caller's affinity and cgroup quota are not).  Such a plan can be
 * inspected but not applied: topo_bind returns LWP_ESYS on it when pinned,
 * and topo_save_host / topo_restore_host do nothing.
 * Errors: those of topo_plan, LWP_EINVAL for a source hwloc cannot read,
 * LWP_ESYS without hwloc.
 */
must_check int topo_plan_from(struct topo *t, const struct topo_request *req,
			      const char *source);

/* Bind the calling thread to scheduler i's planned CPUs.  0 and no effect
 * when the plan is not pinned; LWP_EINVAL for a bad i; LWP_ESYS if the OS
 * refuses or the plan is not of this machine.  Scheduler threads may call
 * this at the same time; the plan is read-only to them. */
must_check int topo_bind(const struct topo *t, unsigned i);

/* Save the calling (host) thread's CPU binding, and put it back (at stop).
 * Nothing to do without hwloc, where nothing is ever bound. */
void topo_save_host(struct topo *t);
void topo_restore_host(struct topo *t);

/* Scheduler i's planned CPUs as a list ("0-1,8") into buf; returns what
 * snprintf would, LWP_EINVAL for a bad i, LWP_ESYS without hwloc. */
int topo_cpuset_str(const struct topo *t, unsigned i, char *buf, size_t len);

/* Free the plan and zero *t; a zeroed topo may be freed again. */
void topo_free(struct topo *t);

/*
 * CPUs allowed by the cgroup CPU quota, rounded up ("150000 100000" -> 2);
 * 0 when there is no limit or it cannot be read.  Looks for cgroup v2
 * cpu.max and v1 cpu.cfs_quota_us / cpu.cfs_period_us in the process's own
 * cgroup (from /proc/self/cgroup) under cgroup_root and in each of its
 * ancestors up to cgroup_root itself (and cgroup_root/cpu for v1), and
 * returns the tightest limit found.
 */
unsigned topo_cgroup_cpus(const char *cgroup_root);

/* The same with another file in place of /proc/self/cgroup; for tests. */
unsigned topo_cgroup_cpus_in(const char *cgroup_root, const char *self_cgroup);

#endif /* LWP_TOPO_H */
