/*
 * lwp_bench.c - the lwp micro-benchmarks: one run, one table.
 *
 * Each benchmark is a function that does one repetition in its own
 * lwp_main() call on a given number of schedulers and fills in one or more
 * figures (metrics); main() runs it R times for each scheduler count of -s
 * and prints the median and the min/max of each figure, with the target
 * from the issue where there is one.  To add a benchmark, write its
 * function and add a row to `benches` below.  See perf/README.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lwp.h"

/* Under callgrind, the timed region of each benchmark is dumped on its own
 * (callgrind.out.PID.N) with its operation count in the label, so that
 * perf/callgrind.sh can print instructions per operation. */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif

#define MAX_METRICS 4
#define MAX_REPS    1000
#define MAX_BENCHES 32
#define MAX_SCHEDS  8 /* scheduler counts in -s */
/* Latency samples a repetition reports for its distribution (--child). */
#define MAX_LAT 1000

/* Room in the process table beyond the processes a benchmark counts (the
 * first process, a timer process, ...). */
#define PROC_SLACK 64

/* A benchmark's return when it cannot run with this scheduler count
 * (positive, so that it is no LWP_E* code); r->note says why. */
#define BENCH_SKIP 1
/* A benchmark computed a wrong result (it says what on stderr). */
#define BENCH_EWRONG (-1000)

enum {
	TAG_TOKEN = 1,
	TAG_DONE,
	TAG_STOP,
	TAG_PING,
	TAG_PONG,
	TAG_SUM,
	TAG_SPAWNED,
	TAG_GO,
	TAG_DATA,
	TAG_WANTED,
};

/* One figure a benchmark reports. */
struct metric {
	const char *name;
	const char *unit;
	double target; /* 0: no target */
	bool at_least; /* the figure must be >= target; else <= target */
	/* The target holds with this many schedulers only; 0: with any. */
	unsigned target_sched;
};

/* One repetition: the parameters in, the figures out. */
struct rep {
	double scale;
	unsigned scheds;       /* schedulers asked for */
	unsigned ran;	       /* schedulers the runtime started */
	long ops;	       /* operations in the timed region */
	double v[MAX_METRICS]; /* one per metric */
	const char *note;      /* why, with BENCH_SKIP */
	/* A latency distribution of figure lat_metric (in its unit), for the
	 * driver's plots: nlat samples, 0 when the benchmark has none. */
	int lat_metric;
	long nlat;
	double lat[MAX_LAT];
};

struct bench {
	const char *name;
	const char *what; /* one line, for -l */
	int (*fn)(struct rep *r);
	/* Run each repetition in a freshly exec'd copy of this program, so
	 * that memory left mapped by earlier runs does not hide costs. */
	bool fresh_process;
	/* Run with the first scheduler count of -s only: the figure is about
	 * memory, which the count does not change. */
	bool once;
	struct metric m[MAX_METRICS];
};

/* ---- helpers ------------------------------------------------------------ */

static long scaled(double scale, long n)
{
	double v = (double)n * scale + 0.5;

	return v < 1 ? 1 : (long)v;
}

static double per_op(int64_t t0, int64_t t1, long ops)
{
	return (double)(t1 - t0) / (double)ops;
}

/* lwp_scheduler_count() as the first process saw it. */
static atomic_uint ran_scheds;

/* The timeslice of the runs (lwp_config.timeslice_ns; 0: the default). */
static int64_t timeslice;

struct first {
	void (*fn)(void *);
	void *arg;
};

/* Notes how many schedulers the runtime really started, so that a count it
 * did not honour shows in the table instead of passing for the one asked. */
static void first_main(void *arg)
{
	struct first *f = arg;

	atomic_store(&ran_scheds, lwp_scheduler_count());
	f->fn(f->arg);
}

/* Run fn(arg) as the first process of a fresh runtime on r->scheds
 * schedulers, with room for `procs` processes of `stack` bytes of stack
 * each (0: the default).  The table is sized to the run rather than left at
 * the default, so that a run needing more than the default still fits. */
static int run_lwp(struct rep *r, void (*fn)(void *), void *arg, long procs,
		   size_t stack)
{
	struct first f = { fn, arg };
	long max = procs + PROC_SLACK;
	lwp_config cfg = {
		.schedulers = r->scheds,
		.timeslice_ns = timeslice,
		.stack_size = stack,
		.max_procs = max > (long)LWP_MAX_PROCS_MAX ? LWP_MAX_PROCS_MAX :
							     (uint32_t)max,
	};
	int err;

	atomic_store(&ran_scheds, 0);
	err = lwp_main(&cfg, first_main, &f);
	r->ran = atomic_load(&ran_scheds);
	return err;
}

/* Spawn fn(arg) pinned on scheduler `sched`, never stolen: a figure about
 * one placement measures that placement whatever the scheduler count. */
static lwp_pid spawn_on(void (*fn)(void *), void *arg, unsigned sched)
{
	lwp_spawn_opts o = { .scheduler = LWP_ON_SCHEDULER(sched) };

	return lwp_spawn_opt(fn, arg, &o);
}

/* Record the first failure and stop the runtime: processes blocked on a
 * peer that failed would otherwise keep it running for ever. */
static void fail(atomic_int *slot, int err)
{
	int none = 0;

	atomic_compare_exchange_strong(slot, &none, err);
	lwp_stop();
}

/* The outcome of a run: the runtime's error, else the benchmark's own. */
static int outcome(int err, atomic_int *own)
{
	return err ? err : atomic_load(own);
}

/* The timed region: lwp_now() at both ends; under callgrind, the counts of
 * the region alone are dumped, labelled with the operation count. */
static int64_t region_begin(void)
{
#ifdef HAVE_CALLGRIND
	CALLGRIND_ZERO_STATS;
#endif
	return lwp_now();
}

static int64_t region_end(const char *name, long ops)
{
	int64_t t = lwp_now();
#ifdef HAVE_CALLGRIND
	if (RUNNING_ON_VALGRIND) {
		char label[128];
		snprintf(label, sizeof(label), "lwp-bench %s ops=%ld sched=%u",
			 name, ops, lwp_scheduler_count());
		CALLGRIND_DUMP_STATS_AT(label);
	}
#else
	(void)name;
	(void)ops;
#endif
	return t;
}

/* A "Vm...: N kB" field of /proc/self/status (e.g. "VmRSS") in bytes, or
 * -1. */
static long vm_status(const char *field)
{
	char line[256];
	size_t len = strlen(field);
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':' &&
		    sscanf(line + len + 1, "%ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Yield until *counter reaches n (the processes counted have all run). */
static void yield_until(atomic_long *counter, long n)
{
	while (atomic_load(counter) < n)
		lwp_yield();
}

/* ---- switch: two processes yielding to each other ------------------------
 *
 * For `switch` both yielders run the same function, so each switch resumes
 * the other process at the call site it left from, and the `ret` that ends
 * lwp_yield() goes where the CPU's return stack predicts, as in any
 * symmetric coroutine benchmark (and the raw switch figure the target is set
 * against).  `switch-2fn` runs the loop in two different functions: every
 * switch then returns into the other function, which the CPU mispredicts.
 * A real program pays that too when its processes left from different
 * places; the difference between the two figures is that misprediction,
 * not the runtime's work.
 */

struct sw {
	long n;	      /* switches */
	bool two_fns; /* switch-2fn */
	atomic_int err;
	atomic_int arrived, finished;
	int64_t t0, t1;
};

/* The second to arrive starts the clock, the second to finish stops it.
 * `fig` also keeps the compiler from folding the two callers into one. */
static inline __attribute__((always_inline)) void sw_body(struct sw *s,
							  const char *fig)
{
	if (atomic_fetch_add(&s->arrived, 1) == 1)
		s->t0 = region_begin();
	while (atomic_load(&s->arrived) < 2)
		lwp_yield();
	for (long i = 0; i < s->n / 2; i++)
		lwp_yield(); /* to the other, which yields back: 2 switches */
	if (atomic_fetch_add(&s->finished, 1) == 1)
		s->t1 = region_end(fig, s->n);
}

static void sw_same(void *arg)
{
	sw_body(arg, "switch");
}

static void sw_other(void *arg)
{
	sw_body(arg, "switch-2fn");
}

/* Both yielders on scheduler 0: on another one, a process would yield to
 * nobody, and a yield would switch nothing. */
static void sw_main(void *arg)
{
	struct sw *s = arg;
	lwp_pid a = spawn_on(s->two_fns ? sw_other : sw_same, s, 0);
	lwp_pid b = spawn_on(sw_same, s, 0);

	if (a < 0 || b < 0)
		fail(&s->err, (int)(a < 0 ? a : b));
}

static int sw_run(struct rep *r, bool two_fns)
{
	struct sw s = { .n = scaled(r->scale, 10000000) & ~1L,
			.two_fns = two_fns };
	int err;

	if (s.n < 2)
		s.n = 2;
	err = outcome(run_lwp(r, sw_main, &s, 2, 0), &s.err);
	if (err)
		return err;
	r->ops = s.n;
	r->v[0] = per_op(s.t0, s.t1, s.n);
	return 0;
}

static int bench_switch(struct rep *r)
{
	return sw_run(r, false);
}

static int bench_switch_2fn(struct rep *r)
{
	return sw_run(r, true);
}

/* ---- spawn, spawn-exit: a million short-lived processes ------------------ */

struct sp {
	const char *name;
	long n;
	bool report; /* each child messages the parent before it exits */
	lwp_pid parent;
	atomic_int err;
	int64_t t0, t1;
};

static void sp_child(void *arg)
{
	struct sp *s = arg;
	int err = s->report ? lwp_send(s->parent, TAG_SPAWNED, NULL, 0) : 0;

	if (err)
		fail(&s->err, err);
}

/* Until every child has exited: its report received, or, without reports,
 * the process count down to us (a yield runs the queue ahead of us, and
 * other schedulers steal their share meanwhile). */
static int sp_wait(struct sp *s)
{
	for (long i = 0; s->report && i < s->n; i++) {
		lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
		if (!m)
			return lwp_last_error();
		lwp_msg_free(m);
	}
	while (lwp_process_count() > 1)
		lwp_yield();
	return 0;
}

static void sp_main(void *arg)
{
	struct sp *s = arg;
	int err = 0;

	s->parent = lwp_self();
	s->t0 = region_begin();
	for (long i = 0; i < s->n && !err; i++) {
		lwp_pid p = lwp_spawn(sp_child, s);
		err = p < 0 ? (int)p : 0;
	}
	if (!err)
		err = sp_wait(s);
	s->t1 = region_end(s->name, s->n);
	if (err)
		fail(&s->err, err);
}

static int sp_run(struct rep *r, const char *name, bool report)
{
	struct sp s = { .name = name,
			.n = scaled(r->scale, 1000000),
			.report = report };
	int err;

	/* Up to all n alive at once: small stacks keep that in memory. */
	err = outcome(run_lwp(r, sp_main, &s, s.n, LWP_STACK_MIN), &s.err);
	if (err)
		return err;
	r->ops = s.n;
	r->v[0] = per_op(s.t0, s.t1, s.n);
	return 0;
}

static int bench_spawn(struct rep *r)
{
	return sp_run(r, "spawn", true);
}

static int bench_spawn_exit(struct rep *r)
{
	return sp_run(r, "spawn-exit", false);
}

/* ---- ring: a token passed around a ring of processes --------------------- */

struct ring {
	const char *name;
	long size, hops;
	lwp_pid *pids;
	lwp_pid main;
	atomic_long ready;
	atomic_int err;
	int64_t t0, t1;
};

static struct ring ring;

/* Pass the token on, or report to main when it has made its hops. */
static int ring_pass(long i, lwp_pid *next, long left)
{
	if (left == 0)
		return lwp_send(ring.main, TAG_DONE, NULL, 0);
	left--;
	if (*next == LWP_NOPID) /* spawned after us: looked up on first use */
		*next = ring.pids[(i + 1) % ring.size];
	return lwp_send(*next, TAG_TOKEN, &left, sizeof(left));
}

static void ring_node(void *arg)
{
	long i = (long)(intptr_t)arg;
	lwp_pid next = LWP_NOPID;

	atomic_fetch_add(&ring.ready, 1);
	for (;;) {
		lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
		long left;
		int err;

		if (!m) {
			fail(&ring.err, lwp_last_error());
			return;
		}
		if (m->tag == TAG_STOP) {
			lwp_msg_free(m);
			return;
		}
		memcpy(&left, m->data, sizeof(left));
		lwp_msg_free(m);
		err = ring_pass(i, &next, left);
		if (err) {
			fail(&ring.err, err);
			return;
		}
	}
}

static void ring_main(void *arg)
{
	long hops = ring.hops;
	lwp_msg *m;

	(void)arg;
	ring.main = lwp_self();
	for (long i = 0; i < ring.size; i++) {
		ring.pids[i] = lwp_spawn(ring_node, (void *)(intptr_t)i);
		if (ring.pids[i] < 0) {
			fail(&ring.err, (int)ring.pids[i]);
			return;
		}
	}
	yield_until(&ring.ready, ring.size); /* all blocked in receive */
	ring.t0 = region_begin();
	if (lwp_send(ring.pids[0], TAG_TOKEN, &hops, sizeof(hops)) != 0) {
		fail(&ring.err, LWP_ENOPROC);
		return;
	}
	m = lwp_receive_tag(TAG_DONE, LWP_INFINITY);
	ring.t1 = region_end(ring.name, ring.hops);
	lwp_msg_free(m);
	for (long i = 0; i < ring.size; i++)
		lwp_send(ring.pids[i], TAG_STOP, NULL, 0);
}

/* `size` processes whatever the scale: only the hops are scaled. */
static int ring_run(struct rep *r, const char *name, long size)
{
	int err;

	memset(&ring, 0, sizeof(ring));
	ring.name = name;
	ring.size = size;
	ring.hops = scaled(r->scale, 1000000);
	ring.pids = calloc((size_t)ring.size, sizeof(*ring.pids));
	if (!ring.pids)
		return LWP_ENOMEM;
	err = outcome(run_lwp(r, ring_main, NULL, ring.size, 0), &ring.err);
	free(ring.pids);
	if (err)
		return err;
	r->ops = ring.hops;
	r->v[0] = per_op(ring.t0, ring.t1, ring.hops);
	return 0;
}

static int bench_ring(struct rep *r)
{
	return ring_run(r, "ring", 10000);
}

static int bench_ring100k(struct rep *r)
{
	return ring_run(r, "ring100k", 100000);
}

/* ---- pingpong: round trips between two processes ------------------------- */

struct pp {
	const char *name;
	long n;
	struct rep *r;		   /* for the latency samples */
	unsigned ping_on, pong_on; /* the schedulers they are pinned on */
	int pong_id;		   /* lwp_scheduler_id() seen by pong */
	bool skipped;
	atomic_int err;
	int64_t t0, t1;
};

static void pp_pong(void *arg)
{
	struct pp *s = arg;

	/* Read by ping after the first round trip, which orders it. */
	s->pong_id = lwp_scheduler_id();
	for (;;) {
		lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
		int err;

		if (!m) {
			fail(&s->err, lwp_last_error());
			return;
		}
		if (m->tag == TAG_STOP) {
			lwp_msg_free(m);
			return;
		}
		err = lwp_send(m->from, TAG_PONG, m->data, m->size);
		lwp_msg_free(m);
		if (err) {
			fail(&s->err, err);
			return;
		}
	}
}

/* One round trip; false on failure. */
static bool pp_round(lwp_pid peer, long i)
{
	lwp_msg *m;

	if (lwp_send(peer, TAG_PING, &i, sizeof(i)) != 0)
		return false;
	m = lwp_receive(NULL, NULL, LWP_INFINITY);
	lwp_msg_free(m);
	return m != NULL;
}

/* The timed round trips, in batches of n / MAX_LAT: each batch's time per
 * round trip is one latency sample (reading the clock at every round trip
 * would add a good part of what it measures). */
static bool pp_rounds(struct pp *s, lwp_pid peer)
{
	long batch = s->n / MAX_LAT > 0 ? s->n / MAX_LAT : 1;
	int64_t t = s->t0;

	for (long i = 0; i < s->n;) {
		long first = i, end = i + batch < s->n ? i + batch : s->n;
		int64_t now;

		for (; i < end; i++)
			if (!pp_round(peer, i))
				return false;
		now = lwp_now();
		if (s->r->nlat < MAX_LAT)
			s->r->lat[s->r->nlat++] =
				(double)(now - t) / (double)(end - first);
		t = now;
	}
	return true;
}

/* The figure means what its name says only if the pair ran where it was
 * pinned: a runtime that ignores LWP_ON_SCHEDULER fails loudly here. */
static int pp_placed(const struct pp *s)
{
	int ping_id = lwp_scheduler_id();

	if (ping_id == (int)s->ping_on && s->pong_id == (int)s->pong_on)
		return 0;
	fprintf(stderr,
		"lwp-bench: %s: WRONG PLACEMENT: ping on scheduler %d, pong "
		"on %d; pinned on %u and %u\n",
		s->name, ping_id, s->pong_id, s->ping_on, s->pong_on);
	return BENCH_EWRONG;
}

static void pp_ping(void *arg)
{
	struct pp *s = arg;
	lwp_pid peer = spawn_on(pp_pong, s, s->pong_on);
	int err;

	if (peer < 0 || !pp_round(peer, -1)) { /* the peer is running */
		fail(&s->err, peer < 0 ? (int)peer : LWP_ENOPROC);
		return;
	}
	err = pp_placed(s);
	if (err) {
		fail(&s->err, err);
		return;
	}
	s->t0 = region_begin();
	if (!pp_rounds(s, peer)) {
		fail(&s->err, LWP_ENOPROC);
		return;
	}
	s->t1 = region_end(s->name, s->n);
	lwp_send(peer, TAG_STOP, NULL, 0);
}

static void pp_main(void *arg)
{
	struct pp *s = arg;
	lwp_pid ping;

	if (s->pong_on >= lwp_scheduler_count()) {
		s->skipped = true; /* asked for more than the runtime runs */
		return;
	}
	ping = spawn_on(pp_ping, s, s->ping_on);
	if (ping < 0)
		fail(&s->err, (int)ping);
}

static int pp_run(struct rep *r, const char *name, unsigned pong_on)
{
	struct pp s = { .name = name, .n = scaled(r->scale, 1000000), .r = r };
	int err;

	s.pong_on = pong_on;
	err = outcome(run_lwp(r, pp_main, &s, 2, 0), &s.err);
	if (err)
		return err;
	if (s.skipped) {
		r->note = "skipped: the runtime started 1 scheduler";
		return BENCH_SKIP;
	}
	r->ops = s.n;
	r->v[0] = per_op(s.t0, s.t1, s.n);
	return 0;
}

/* Both on scheduler 0: no other scheduler is involved. */
static int bench_pingpong(struct rep *r)
{
	return pp_run(r, "pingpong", 0);
}

/* Ping on scheduler 0, pong on 1: every message wakes the other thread. */
static int bench_pingpong_x(struct rep *r)
{
	if (r->scheds < 2) {
		r->note = "skipped: needs 2 schedulers";
		return BENCH_SKIP;
	}
	return pp_run(r, "pingpong-x", 1);
}

/* ---- fairness: round trips and sleeps among processes that never yield -- */

#define FAIR_HOGS 4

struct fair {
	long n;
	atomic_bool stop; /* the hogs' end */
	atomic_int err;
	struct pp pong;	     /* the peer's state (pp_pong) */
	double *rtt, *slept; /* ns, one per round */
};

static void fair_hog(void *arg)
{
	struct fair *f = arg;

	while (!atomic_load_explicit(&f->stop, memory_order_relaxed))
		;
}

static void fair_round(struct fair *f, lwp_pid peer, long i)
{
	int64_t t0 = lwp_now(), t1;

	if (!pp_round(peer, i)) {
		fail(&f->err, LWP_ENOPROC);
		return;
	}
	t1 = lwp_now();
	lwp_sleep(1000000);
	f->rtt[i] = (double)(t1 - t0);
	f->slept[i] = (double)(lwp_now() - t1);
}

static void fair_main(void *arg)
{
	struct fair *f = arg;
	lwp_pid peer;

	for (int i = 0; i < FAIR_HOGS; i++)
		if (lwp_spawn(fair_hog, f) < 0) {
			fail(&f->err, LWP_ENOMEM);
			return;
		}
	peer = lwp_spawn(pp_pong, &f->pong);
	if (peer < 0) {
		fail(&f->err, (int)peer);
		return;
	}
	lwp_sleep(5000000); /* the hogs spread over the schedulers */
	for (long i = 0; i < f->n && !atomic_load(&f->err); i++)
		fair_round(f, peer, i);
	atomic_store(&f->stop, true);
	lwp_send(peer, TAG_STOP, NULL, 0);
}

/* The q-quantile of v[0..n), sorting v. */
static double quantile(double *v, long n, double q)
{
	long i = (long)(q * (double)(n - 1) + 0.5);

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[i];
}

/* The round trips' distribution, in us: up to MAX_LAT evenly spaced
 * order statistics of the sorted rtt[0..n). */
static void fair_lat(struct rep *r, const double *rtt, long n)
{
	r->nlat = n < MAX_LAT ? n : MAX_LAT;
	for (long k = 0; k < r->nlat; k++)
		r->lat[k] = rtt[k * n / r->nlat] / 1e3;
	r->lat_metric = 0; /* fair-rtt-p50's unit */
}

static int bench_fairness(struct rep *r)
{
	struct fair f = { .n = scaled(r->scale, 1000) };
	int err = LWP_ENOMEM;

	f.rtt = calloc((size_t)f.n, sizeof(*f.rtt));
	f.slept = calloc((size_t)f.n, sizeof(*f.slept));
	if (f.rtt && f.slept)
		err = outcome(run_lwp(r, fair_main, &f, FAIR_HOGS + 2, 0),
			      &f.err);
	if (!err) {
		r->ops = f.n;
		r->v[0] = quantile(f.rtt, f.n, 0.50) / 1e3;
		r->v[1] = quantile(f.rtt, f.n, 0.99) / 1e3;
		r->v[2] = quantile(f.slept, f.n, 0.50) / 1e6;
		r->v[3] = quantile(f.slept, f.n, 0.99) / 1e6;
		fair_lat(r, f.rtt, f.n); /* sorted by quantile() */
	}
	free(f.rtt);
	free(f.slept);
	return err;
}

/* ---- preempt-cost: the watchdog's price when nothing needs preempting ----- */

/* fn's figure with the default timeslice over its figure with preemption
 * off, as a percentage above 100; the two runs alternate, in one process,
 * so that the machine's drift hits both alike. */
static int on_vs_off(struct rep *r, int (*fn)(struct rep *r), double *pct)
{
	struct rep on = *r, off = *r;
	int err;

	timeslice = LWP_INFINITY;
	err = fn(&off);
	timeslice = 0;
	if (!err)
		err = fn(&on);
	if (err)
		return err;
	r->ran = on.ran;
	r->ops = on.ops;
	*pct = (on.v[0] / off.v[0] - 1) * 100;
	return 0;
}

static int bench_preempt_cost(struct rep *r)
{
	int err = on_vs_off(r, bench_ring, &r->v[0]);

	return err ? err : on_vs_off(r, bench_pingpong, &r->v[1]);
}

/* ---- skynet: a tree of a million leaves, 10 children a node -------------- */

#define SKYNET_FANOUT 10

/* A node's task: report the sum of num .. num + size - 1 to parent. */
struct sk_task {
	lwp_pid parent;
	long num, size;
};

struct skynet {
	long leaves;
	atomic_int err;
	int64_t t0, t1;
	long sum;
};

static struct skynet sk;

/* Stay blocked until the runtime stops: children spawned before a failure
 * read their tasks from our stack, which must outlive them. */
static void sk_park(void)
{
	for (;;)
		lwp_msg_free(lwp_receive(NULL, NULL, LWP_INFINITY));
}

static void sk_node(void *arg);

/* Spawn the children of task t and add up their sums.  Their tasks live on
 * our stack: we outlive them, since we wait for each one's sum. */
static int sk_children(const struct sk_task *t, long *sum)
{
	struct sk_task kids[SKYNET_FANOUT];
	long step = t->size / SKYNET_FANOUT;
	lwp_pid self = lwp_self();

	for (int i = 0; i < SKYNET_FANOUT; i++) {
		lwp_pid p;

		kids[i] = (struct sk_task){ self, t->num + i * step, step };
		p = lwp_spawn(sk_node, &kids[i]);
		if (p < 0)
			return (int)p;
	}
	*sum = 0;
	for (int i = 0; i < SKYNET_FANOUT; i++) {
		lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
		long v;

		if (!m)
			return lwp_last_error();
		memcpy(&v, m->data, sizeof(v));
		lwp_msg_free(m);
		*sum += v;
	}
	return 0;
}

static void sk_node(void *arg)
{
	struct sk_task t = *(const struct sk_task *)arg;
	long sum = t.num; /* a leaf's own number */
	int err = 0;

	if (t.size > 1)
		err = sk_children(&t, &sum);
	if (!err)
		err = lwp_send(t.parent, TAG_SUM, &sum, sizeof(sum));
	if (err) {
		fail(&sk.err, err);
		sk_park();
	}
}

static void sk_main(void *arg)
{
	struct sk_task root = { lwp_self(), 0, sk.leaves };
	long nodes = (SKYNET_FANOUT * sk.leaves - 1) / (SKYNET_FANOUT - 1);
	lwp_pid p;
	lwp_msg *m;

	(void)arg;
	sk.t0 = region_begin();
	p = lwp_spawn(sk_node, &root);
	if (p < 0) {
		fail(&sk.err, (int)p);
		return;
	}
	m = lwp_receive(NULL, NULL, LWP_INFINITY);
	sk.t1 = region_end("skynet", nodes);
	if (!m) {
		fail(&sk.err, lwp_last_error());
		sk_park(); /* the root may still read its task, on our stack */
	}
	memcpy(&sk.sum, m->data, sizeof(sk.sum));
	lwp_msg_free(m);
}

/* The sum must be 0 + 1 + ... + leaves - 1 (499999500000 for 1M). */
static int sk_verify(void)
{
	long want = sk.leaves * (sk.leaves - 1) / 2;

	if (sk.sum == want)
		return 0;
	fprintf(stderr, "lwp-bench: skynet: WRONG RESULT %ld, want %ld\n",
		sk.sum, want);
	return BENCH_EWRONG;
}

static int bench_skynet(struct rep *r)
{
	long want = scaled(r->scale, 1000000);
	long nodes;
	int err;

	memset(&sk, 0, sizeof(sk));
	/* A whole tree: the scaled count rounded down to a power of 10. */
	for (sk.leaves = SKYNET_FANOUT; sk.leaves * SKYNET_FANOUT <= want;)
		sk.leaves *= SKYNET_FANOUT;
	nodes = (SKYNET_FANOUT * sk.leaves - 1) / (SKYNET_FANOUT - 1);
	/* At worst every node is alive at once (1,111,111 for 1M leaves):
	 * small stacks keep that within memory. */
	err = outcome(run_lwp(r, sk_main, NULL, nodes, LWP_STACK_MIN), &sk.err);
	if (!err)
		err = sk_verify();
	if (err)
		return err;
	r->ops = nodes;
	r->v[0] = (double)(sk.t1 - sk.t0) / 1e6;
	return 0;
}

/* ---- fanin: many senders, one receiver ----------------------------------- */

#define FANIN_SENDERS 1000

/* What a sender sends: who it is and how many it sent before. */
struct fi_msg {
	long sender, seq;
};

struct fanin {
	long senders, per; /* senders, messages each */
	lwp_pid recv;
	lwp_pid *pids;
	long *next; /* per sender: the sequence number due next */
	atomic_long ready;
	atomic_int err;
	int64_t t0, t1;
};

static struct fanin fi;

static void fi_sender(void *arg)
{
	struct fi_msg v = { .sender = (long)(intptr_t)arg };
	lwp_msg *go;

	atomic_fetch_add(&fi.ready, 1);
	go = lwp_receive(NULL, NULL, LWP_INFINITY); /* all start together */
	if (!go) {
		fail(&fi.err, lwp_last_error());
		return;
	}
	lwp_msg_free(go);
	for (v.seq = 0; v.seq < fi.per; v.seq++) {
		int err = lwp_send(fi.recv, TAG_DATA, &v, sizeof(v));
		if (err) {
			fail(&fi.err, err);
			return;
		}
	}
}

/* Each message must be the next of its sender's: one sender's messages
 * arrive in the order sent. */
static int fi_take(const lwp_msg *m)
{
	struct fi_msg v = { -1, -1 };

	if (m->size == sizeof(v))
		memcpy(&v, m->data, sizeof(v));
	if (v.sender >= 0 && v.sender < fi.senders &&
	    v.seq == fi.next[v.sender]) {
		fi.next[v.sender]++;
		return 0;
	}
	fprintf(stderr,
		"lwp-bench: fanin: WRONG ORDER: sender %ld sequence %ld, "
		"want %ld\n",
		v.sender, v.seq,
		v.sender >= 0 && v.sender < fi.senders ? fi.next[v.sender] :
							 -1L);
	return BENCH_EWRONG;
}

/* Every sender's messages arrived, and nothing more. */
static int fi_count(void)
{
	for (long i = 0; i < fi.senders; i++)
		if (fi.next[i] != fi.per) {
			fprintf(stderr,
				"lwp-bench: fanin: WRONG COUNT: sender %ld: "
				"%ld messages, want %ld\n",
				i, fi.next[i], fi.per);
			return BENCH_EWRONG;
		}
	if (lwp_mailbox_size() != 0) {
		fprintf(stderr, "lwp-bench: fanin: WRONG COUNT: %ld extra\n",
			lwp_mailbox_size());
		return BENCH_EWRONG;
	}
	return 0;
}

static int fi_spawn(void)
{
	for (long i = 0; i < fi.senders; i++) {
		fi.pids[i] = lwp_spawn(fi_sender, (void *)(intptr_t)i);
		if (fi.pids[i] < 0)
			return (int)fi.pids[i];
	}
	return 0;
}

static void fi_main(void *arg)
{
	long total = fi.senders * fi.per;
	int err;

	(void)arg;
	fi.recv = lwp_self();
	err = fi_spawn();
	if (err) {
		fail(&fi.err, err);
		return;
	}
	yield_until(&fi.ready, fi.senders); /* all blocked in receive */
	fi.t0 = region_begin();
	for (long i = 0; i < fi.senders && !err; i++)
		err = lwp_send(fi.pids[i], TAG_GO, NULL, 0);
	for (long i = 0; i < total && !err; i++) {
		lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
		err = m ? fi_take(m) : lwp_last_error();
		lwp_msg_free(m);
	}
	fi.t1 = region_end("fanin", total);
	if (!err)
		err = fi_count();
	if (err)
		fail(&fi.err, err);
}

static int bench_fanin(struct rep *r)
{
	int err;

	memset(&fi, 0, sizeof(fi));
	fi.senders = FANIN_SENDERS;
	fi.per = scaled(r->scale, 1000);
	fi.pids = calloc((size_t)fi.senders, sizeof(*fi.pids));
	fi.next = calloc((size_t)fi.senders, sizeof(*fi.next));
	err = fi.pids && fi.next ? 0 : LWP_ENOMEM;
	if (!err)
		err = outcome(run_lwp(r, fi_main, NULL, fi.senders, 0),
			      &fi.err);
	free(fi.pids);
	free(fi.next);
	if (err)
		return err;
	r->ops = fi.senders * fi.per;
	r->v[0] = (double)r->ops * 1e3 / (double)(fi.t1 - fi.t0);
	return 0;
}

/* ---- selective: the wanted message behind 10,000 others ------------------
 *
 * Each round the process sends itself 10,000 "noise" messages and then the
 * one it wants (untimed), and times lwp_receive_tag() of the wanted one,
 * which scans the whole mailbox; then it drains the noise (untimed), which
 * must still be there in the order sent.
 */

#define SELECTIVE_NOISE 10000

/* Drain the noise, which must be 0 .. SELECTIVE_NOISE - 1, in order. */
static int sel_drain(long round)
{
	long want = 0;
	lwp_msg *m;

	while ((m = lwp_receive(NULL, NULL, 0))) {
		long v = -1;

		if (m->tag == TAG_DATA && m->size == sizeof(v))
			memcpy(&v, m->data, sizeof(v));
		lwp_msg_free(m);
		if (v != want) {
			fprintf(stderr,
				"lwp-bench: selective: WRONG ORDER: round %ld: "
				"noise %ld, want %ld\n",
				round, v, want);
			return BENCH_EWRONG;
		}
		want++;
	}
	if (want == SELECTIVE_NOISE)
		return 0;
	fprintf(stderr,
		"lwp-bench: selective: WRONG COUNT: round %ld: %ld left, want "
		"%d\n",
		round, want, SELECTIVE_NOISE);
	return BENCH_EWRONG;
}

/* One round; the receive's time is added to *ns. */
static int sel_round(long round, int64_t *ns)
{
	lwp_pid self = lwp_self();
	long got = -1;
	int64_t t0;
	lwp_msg *m;
	int err = 0;

	for (long i = 0; i < SELECTIVE_NOISE && !err; i++)
		err = lwp_send(self, TAG_DATA, &i, sizeof(i));
	if (!err)
		err = lwp_send(self, TAG_WANTED, &round, sizeof(round));
	if (err)
		return err;
	t0 = lwp_now();
	m = lwp_receive_tag(TAG_WANTED, LWP_INFINITY);
	*ns += lwp_now() - t0;
	if (!m)
		return lwp_last_error();
	if (m->size == sizeof(got))
		memcpy(&got, m->data, sizeof(got));
	lwp_msg_free(m);
	if (got != round) {
		fprintf(stderr,
			"lwp-bench: selective: WRONG MESSAGE %ld, want %ld\n",
			got, round);
		return BENCH_EWRONG;
	}
	return sel_drain(round);
}

struct sel {
	long rounds;
	int64_t ns;
	atomic_int err;
};

static void sel_main(void *arg)
{
	struct sel *s = arg;
	int err = 0;

	for (long r = 0; r < s->rounds && !err; r++)
		err = sel_round(r, &s->ns);
	if (err)
		fail(&s->err, err);
}

static int bench_selective(struct rep *r)
{
	struct sel s = { .rounds = scaled(r->scale, 100) };
	int err = outcome(run_lwp(r, sel_main, &s, 1, 0), &s.err);

	if (err)
		return err;
	r->ops = s.rounds;
	r->v[0] = (double)s.ns / (double)s.rounds;
	return 0;
}

/* ---- timers: 100,000 receives with a timeout at once ---------------------
 *
 * Each process, once told to go, waits in lwp_receive() with a 10 ms
 * timeout for a message that never comes and reports how late after its
 * deadline (go + 10 ms) it ran again.  timer-cost is the time from the
 * first go to the last report, less the 10 ms, per timer.
 */

#define TIMER_WAIT_NS 10000000

struct tmr {
	long n;
	lwp_pid main;
	lwp_pid *pids;
	double *late; /* ns, one per process */
	atomic_long ready;
	atomic_int err;
	int64_t t0, t1;
};

static struct tmr tm;

static void tm_proc(void *arg)
{
	int64_t deadline, late;
	lwp_msg *m;
	int err;

	(void)arg;
	atomic_fetch_add(&tm.ready, 1);
	lwp_msg_free(lwp_receive(NULL, NULL, LWP_INFINITY)); /* go */
	deadline = lwp_now() + TIMER_WAIT_NS;
	m = lwp_receive(NULL, NULL, TIMER_WAIT_NS);
	late = lwp_now() - deadline;
	if (m || lwp_last_error() != LWP_ETIMEDOUT) {
		fprintf(stderr, "lwp-bench: timers: WRONG: receive %s\n",
			m ? "got a message" : lwp_strerror(lwp_last_error()));
		lwp_msg_free(m);
		fail(&tm.err, BENCH_EWRONG);
		return;
	}
	err = lwp_send(tm.main, TAG_DATA, &late, sizeof(late));
	if (err)
		fail(&tm.err, err);
}

/* Collect the n reports; a timeout may not fire before its deadline. */
static int tm_collect(void)
{
	for (long i = 0; i < tm.n; i++) {
		lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
		int64_t late;

		if (!m)
			return lwp_last_error();
		memcpy(&late, m->data, sizeof(late));
		lwp_msg_free(m);
		if (late < 0) {
			fprintf(stderr,
				"lwp-bench: timers: WRONG TIMEOUT: fired "
				"%" PRId64 " ns early\n",
				-late);
			return BENCH_EWRONG;
		}
		tm.late[i] = (double)late;
	}
	return 0;
}

static void tm_main(void *arg)
{
	int err = 0;

	(void)arg;
	tm.main = lwp_self();
	for (long i = 0; i < tm.n && !err; i++) {
		tm.pids[i] = lwp_spawn(tm_proc, NULL);
		err = tm.pids[i] < 0 ? (int)tm.pids[i] : 0;
	}
	if (!err)
		yield_until(&tm.ready, tm.n);
	tm.t0 = lwp_now();
	for (long i = 0; i < tm.n && !err; i++)
		err = lwp_send(tm.pids[i], TAG_GO, NULL, 0);
	if (!err)
		err = tm_collect();
	tm.t1 = lwp_now();
	if (err)
		fail(&tm.err, err);
}

static int bench_timers(struct rep *r)
{
	int err = LWP_ENOMEM;

	memset(&tm, 0, sizeof(tm));
	tm.n = scaled(r->scale, 100000);
	tm.pids = calloc((size_t)tm.n, sizeof(*tm.pids));
	tm.late = calloc((size_t)tm.n, sizeof(*tm.late));
	if (tm.pids && tm.late)
		err = outcome(run_lwp(r, tm_main, NULL, tm.n, 0), &tm.err);
	if (!err) {
		r->ops = tm.n;
		r->v[0] = quantile(tm.late, tm.n, 0.50) / 1e3;
		r->v[1] = quantile(tm.late, tm.n, 0.99) / 1e3;
		r->v[2] = per_op(tm.t0 + TIMER_WAIT_NS, tm.t1, tm.n);
	}
	free(tm.pids);
	free(tm.late);
	return err;
}

/* ---- link-chain: an abnormal exit down a chain of 100,000 links ----------
 *
 * The root traps exits and spawn_links the first process; each spawn_links
 * the next and waits; the last ends with reason LC_REASON, and the exit
 * signal ends each process in turn, back to the root, which gets it as an
 * EXIT message.  link-chain: from the first spawn to that message, per
 * process; link-chain-prop: from the last process's exit to it.
 */

#define LC_REASON 42

struct lc {
	long n;
	atomic_long started;
	atomic_int reports; /* error reports: only the last one's */
	atomic_int err;
	int64_t t0, exited, t1;
};

static struct lc lc;

static void lc_node(void *arg)
{
	long depth = (long)(intptr_t)arg;
	lwp_pid next;

	atomic_fetch_add_explicit(&lc.started, 1, memory_order_relaxed);
	if (depth == lc.n) {
		lc.exited = lwp_now();
		lwp_exit(LC_REASON);
	}
	next = lwp_spawn_link(lc_node, (void *)(intptr_t)(depth + 1));
	if (next < 0) {
		fail(&lc.err, (int)next);
		return;
	}
	for (;;) /* until the exit signal ends us */
		lwp_msg_free(lwp_receive(NULL, NULL, LWP_INFINITY));
}

/* The one abnormal exit is expected: count it instead of printing it. */
static void lc_report(lwp_pid pid, const char *name, const lwp_reason *reason,
		      void *ctx)
{
	(void)pid;
	(void)name;
	(void)reason;
	(void)ctx;
	atomic_fetch_add(&lc.reports, 1);
}

/* The EXIT came from the first process, with the last one's reason, after
 * all n processes ran and exactly one exit was reported. */
static int lc_verify(const lwp_msg *m, lwp_pid first)
{
	const lwp_exit_info *x = m ? lwp_exit_info_of(m) : NULL;

	if (x && x->pid == first && x->reason.code == LC_REASON &&
	    atomic_load(&lc.started) == lc.n && atomic_load(&lc.reports) == 1)
		return 0;
	fprintf(stderr,
		"lwp-bench: link-chain: WRONG: exit reason %d from %s (want "
		"%d from the first), %ld of %ld processes ran, %d reports\n",
		x ? x->reason.code : 0, x && x->pid == first ? "it" : "another",
		LC_REASON, atomic_load(&lc.started), lc.n,
		atomic_load(&lc.reports));
	return BENCH_EWRONG;
}

static void lc_main(void *arg)
{
	lwp_pid first;
	lwp_msg *m;
	int err;

	(void)arg;
	lwp_trap_exits(true);
	lc.t0 = region_begin();
	first = lwp_spawn_link(lc_node, (void *)(intptr_t)1);
	if (first < 0) {
		fail(&lc.err, (int)first);
		return;
	}
	m = lwp_receive_tag(LWP_TAG_EXIT, LWP_INFINITY);
	lc.t1 = region_end("link-chain", lc.n);
	err = lc_verify(m, first);
	lwp_msg_free(m);
	if (err)
		fail(&lc.err, err);
}

static int bench_link_chain(struct rep *r)
{
	int err;

	memset(&lc, 0, sizeof(lc));
	lc.n = scaled(r->scale, 100000);
	lwp_set_report_fn(lc_report, NULL);
	/* All n alive at once: small stacks. */
	err = outcome(run_lwp(r, lc_main, NULL, lc.n, LWP_STACK_MIN), &lc.err);
	lwp_set_report_fn(NULL, NULL);
	if (err)
		return err;
	r->ops = lc.n;
	r->v[0] = per_op(lc.t0, lc.t1, lc.n);
	r->v[1] = per_op(lc.exited, lc.t1, lc.n);
	return 0;
}

/* ---- idle-rss: memory of processes blocked in receive -------------------- */

struct idle {
	long n;
	lwp_pid *pids;
	atomic_long ready;
	int err;
	long rss0, rss1, pte0, pte1;
	int64_t t0, t1;
};

static void idle_child(void *arg)
{
	struct idle *s = arg;

	atomic_fetch_add(&s->ready, 1);
	lwp_msg_free(lwp_receive(NULL, NULL, LWP_INFINITY));
}

static void idle_main(void *arg)
{
	struct idle *s = arg;

	s->rss0 = vm_status("VmRSS");
	s->pte0 = vm_status("VmPTE");
	s->t0 = region_begin();
	for (long i = 0; i < s->n; i++) {
		s->pids[i] = lwp_spawn(idle_child, s);
		if (s->pids[i] < 0) {
			s->err = (int)s->pids[i];
			lwp_stop();
			return;
		}
	}
	/* Each child counts itself, then blocks without running us in
	 * between; sleeping lets the queue of children run. */
	while (atomic_load(&s->ready) < s->n)
		lwp_sleep(100 * 1000);
	s->t1 = region_end("idle-rss", s->n);
	lwp_sleep(1000 * 1000); /* stragglers (other schedulers) block */
	s->rss1 = vm_status("VmRSS");
	s->pte1 = vm_status("VmPTE");
	for (long i = 0; i < s->n; i++)
		lwp_send(s->pids[i], TAG_STOP, NULL, 0);
}

static int bench_idle(struct rep *r)
{
	struct idle s = { .n = scaled(r->scale, 1000000) };
	int err;

	/* Touched now, so that the array is in the RSS before and after. */
	s.pids = malloc((size_t)s.n * sizeof(*s.pids));
	if (!s.pids)
		return LWP_ENOMEM;
	memset(s.pids, 0xff, (size_t)s.n * sizeof(*s.pids));
	err = run_lwp(r, idle_main, &s, s.n, 0);
	free(s.pids);
	if (err || s.err)
		return err ? err : s.err;
	if (s.rss0 < 0 || s.rss1 < 0 || s.pte0 < 0 || s.pte1 < 0)
		return LWP_ESYS;
	r->ops = s.n;
	r->v[0] = (double)(s.rss1 - s.rss0) / (double)s.n;
	r->v[1] = (double)(s.pte1 - s.pte0) / (double)s.n;
	r->v[2] = per_op(s.t0, s.t1, s.n);
	return 0;
}

/* ---- the table of benchmarks --------------------------------------------- */

static const struct bench benches[] = {
	{
		.name = "switch",
		.what = "two processes yielding to each other, 10M switches",
		.fn = bench_switch,
		.m = { { .name = "switch", .unit = "ns/switch", .target = 15 } },
	},
	{
		.name = "switch-2fn",
		.what = "the same, the two processes in different functions",
		.fn = bench_switch_2fn,
		.m = { { .name = "switch-2fn", .unit = "ns/switch" } },
	},
	{
		.name = "spawn-exit",
		.what = "spawn 1M processes that exit at once, until all exited",
		.fn = bench_spawn_exit,
		.m = { { .name = "spawn-exit",
			 .unit = "ns/spawn+exit",
			 .target = 100 } },
	},
	{
		.name = "spawn",
		.what = "spawn 1M processes that each message the parent and exit",
		.fn = bench_spawn,
		.m = { { .name = "spawn", .unit = "ns/process" } },
	},
	{
		.name = "ring",
		.what = "a token around a ring of 10,000 processes, 1M hops",
		.fn = bench_ring,
		.m = { { .name = "ring", .unit = "ns/hop", .target = 50 } },
	},
	{
		.name = "ring100k",
		.what = "a token around a ring of 100,000 processes, 1M hops",
		.fn = bench_ring100k,
		.m = { { .name = "ring100k", .unit = "ns/hop", .target = 0 } },
	},
	{
		.name = "pingpong",
		.what = "round trips between two processes on scheduler 0, 1M",
		.fn = bench_pingpong,
		.m = { { .name = "pingpong",
			 .unit = "ns/round-trip",
			 .target = 100 } },
	},
	{
		.name = "pingpong-x",
		.what = "round trips between schedulers 0 and 1, 1M",
		.fn = bench_pingpong_x,
		.m = { { .name = "pingpong-x",
			 .unit = "ns/round-trip",
			 .target = 1000 } },
	},
	{
		.name = "skynet",
		.what = "a tree of 1M leaves, 10 children a node, sums up",
		.fn = bench_skynet,
		.m = { { .name = "skynet",
			 .unit = "ms",
			 .target = 150,
			 .target_sched = 2 } },
	},
	{
		.name = "fanin",
		.what = "1,000 senders x 1,000 messages into one receiver",
		.fn = bench_fanin,
		.m = { { .name = "fanin",
			 .unit = "M msg/s",
			 .target = 25,
			 .at_least = true } },
	},
	{
		.name = "fairness",
		.what = "round trips and 1 ms sleeps, 1,000, among 4 spinning "
			"processes",
		.fn = bench_fairness,
		.m = { { .name = "fair-rtt-p50", .unit = "us" },
		       { .name = "fair-rtt-p99", .unit = "us", .target = 100 },
		       { .name = "fair-sleep-p50", .unit = "ms" },
		       { .name = "fair-sleep-p99",
			 .unit = "ms",
			 .target = 1.2 } },
	},
	{
		.name = "preempt-cost",
		.what = "ring and pingpong, preemption on vs off (% slower on)",
		.fn = bench_preempt_cost,
		.m = { { .name = "cost-ring", .unit = "% on/off", .target = 3 },
		       { .name = "cost-pingpong",
			 .unit = "% on/off",
			 .target = 3 } },
	},
	{
		.name = "selective",
		.what = "receive the one wanted message behind 10,000 others, "
			"100 rounds",
		.fn = bench_selective,
		.m = { { .name = "selective", .unit = "ns/receive" } },
	},
	{
		.name = "timers",
		.what = "100,000 processes in receive with a 10 ms timeout at "
			"once",
		.fn = bench_timers,
		.m = { { .name = "timer-late-p50", .unit = "us" },
		       { .name = "timer-late-p99", .unit = "us" },
		       { .name = "timer-cost", .unit = "ns/timer" } },
	},
	{
		.name = "link-chain",
		.what = "an abnormal exit down a chain of 100,000 linked "
			"processes",
		.fn = bench_link_chain,
		.m = { { .name = "link-chain", .unit = "ns/process" },
		       { .name = "link-chain-prop", .unit = "ns/process" } },
	},
	{
		.name = "idle-rss",
		.what = "1M processes blocked in receive: memory, setup time",
		.fn = bench_idle,
		.fresh_process = true,
		.once = true,
		.m = { { .name = "idle-rss",
			 .unit = "bytes/proc",
			 .target = 4710 },
		       { .name = "idle-pte", .unit = "bytes/proc", .target = 0 },
		       { .name = "idle-setup",
			 .unit = "ns/proc",
			 .target = 0 } },
	},
};

#define NBENCHES (sizeof(benches) / sizeof(benches[0]))

/* The benchmarks whose median with 2 schedulers must be no worse than with
 * 1: they have parallel work, so a second scheduler must not cost. */
static const char *const scaling_checks[] = { "skynet", "spawn", "spawn-exit" };

#define NCHECKS (sizeof(scaling_checks) / sizeof(scaling_checks[0]))

/* ---- statistics and output ----------------------------------------------- */

struct result {
	const struct bench *b;
	unsigned scheds; /* asked for */
	unsigned ran;	 /* started by the runtime, when it differs */
	int nreps;
	long ops;
	double samples[MAX_METRICS][MAX_REPS];
	double median[MAX_METRICS], min[MAX_METRICS], max[MAX_METRICS];
};

struct check {
	const char *bench;
	int pass; /* 1, 0, or -1: not computed (why says why) */
	char why[96];
};

static void summarise(struct result *res)
{
	double s[MAX_REPS];
	int n = res->nreps;

	for (int k = 0; k < MAX_METRICS && res->b->m[k].name; k++) {
		memcpy(s, res->samples[k], (size_t)n * sizeof(s[0]));
		qsort(s, (size_t)n, sizeof(s[0]), cmp_double);
		res->min[k] = s[0];
		res->max[k] = s[n - 1];
		res->median[k] = n % 2 ? s[n / 2] :
					 (s[n / 2 - 1] + s[n / 2]) / 2;
	}
}

/* Does m have a target with `scheds` schedulers? */
static bool has_target(const struct metric *m, unsigned scheds)
{
	return m->target > 0 && (!m->target_sched || m->target_sched == scheds);
}

static bool meets(const struct metric *m, double v)
{
	return m->at_least ? v >= m->target : v <= m->target;
}

static const char *fmt_value(char *buf, size_t len, double v)
{
	snprintf(buf, len, v < 10000 ? "%.1f" : "%.0f", v);
	return buf;
}

static void print_header(void)
{
	printf("%-15s %5s %10s %10s %10s  %-14s %8s\n", "benchmark", "sched",
	       "median", "min", "max", "unit", "target");
}

/* The sched column: the count asked for, starred when the runtime started
 * another (see print_footnote). */
static const char *fmt_sched(char *buf, size_t len, const struct result *res)
{
	snprintf(buf, len, "%u%s", res->scheds,
		 res->ran != res->scheds ? "*" : "");
	return buf;
}

static void print_rows(const struct result *res)
{
	for (int k = 0; k < MAX_METRICS && res->b->m[k].name; k++) {
		const struct metric *m = &res->b->m[k];
		char a[32], b[32], c[32], s[16], t[32] = "-";
		const char *status = ""; /* none: no trailing blanks */

		if (has_target(m, res->scheds)) {
			snprintf(t, sizeof(t), "%s %g",
				 m->at_least ? ">=" : "<=", m->target);
			status = meets(m, res->median[k]) ? "PASS" : "MISS";
		}
		printf("%-15s %5s %10s %10s %10s  %-14s %8s%s%s\n", m->name,
		       fmt_sched(s, sizeof(s), res),
		       fmt_value(a, sizeof(a), res->median[k]),
		       fmt_value(b, sizeof(b), res->min[k]),
		       fmt_value(c, sizeof(c), res->max[k]), m->unit, t,
		       *status ? "  " : "", status);
	}
	fflush(stdout);
}

static void print_skip(const struct bench *b, unsigned scheds, const char *note)
{
	printf("%-15s %5u  %s\n", b->m[0].name, scheds, note);
	fflush(stdout);
}

/* Explain the stars: a count the runtime did not honour makes figures that
 * are not what their sched column says. */
static void print_footnote(const struct result *res, int n)
{
	for (int i = 0; i < n; i++)
		if (res[i].ran != res[i].scheds) {
			printf("* the runtime started a number of schedulers "
			       "other than asked (e.g. %u for %u): those rows "
			       "measure that number\n",
			       res[i].ran, res[i].scheds);
			return;
		}
}

static const struct result *find_result(const struct result *res, int n,
					const char *name, unsigned scheds)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(res[i].b->name, name) && res[i].scheds == scheds)
			return &res[i];
	return NULL;
}

/* 2 schedulers never slower than 1, from the medians of the first figure. */
static void check_scaling(struct check *c, const struct result *res, int n)
{
	const struct result *one = find_result(res, n, c->bench, 1);
	const struct result *two = find_result(res, n, c->bench, 2);
	const struct metric *m;
	char a[32], b[32];

	c->pass = -1;
	if (!one || !two) {
		snprintf(c->why, sizeof(c->why), "n/a: needs -s 1,2");
		return;
	}
	if (one->ran != 1 || two->ran != 2) {
		snprintf(c->why, sizeof(c->why),
			 "n/a: the runtime started %u and %u schedulers",
			 one->ran, two->ran);
		return;
	}
	m = &one->b->m[0];
	c->pass = m->at_least ? two->median[0] >= one->median[0] :
				two->median[0] <= one->median[0];
	snprintf(c->why, sizeof(c->why), "(1: %s, 2: %s %s)",
		 fmt_value(a, sizeof(a), one->median[0]),
		 fmt_value(b, sizeof(b), two->median[0]), m->unit);
}

static void print_checks(const struct check *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("check: %-7s 2 schedulers never slower than 1  %s  %s\n",
		       c[i].bench,
		       c[i].pass < 0 ? "-" :
		       c[i].pass     ? "PASS" :
				       "MISS",
		       c[i].why);
}

static void json_result(FILE *f, const struct result *r, int k, bool first)
{
	const struct metric *m = &r->b->m[k];

	fprintf(f, "%s\n    {\"name\": \"%s\", \"bench\": \"%s\", ",
		first ? "" : ",", m->name, r->b->name);
	fprintf(f, "\"sched\": %u, \"sched_ran\": %u, ", r->scheds, r->ran);
	fprintf(f, "\"unit\": \"%s\", \"ops\": %ld, ", m->unit, r->ops);
	fprintf(f, "\"median\": %.17g, \"min\": %.17g, ", r->median[k],
		r->min[k]);
	fprintf(f, "\"max\": %.17g, \"samples\": [", r->max[k]);
	for (int j = 0; j < r->nreps; j++)
		fprintf(f, "%s%.17g", j ? ", " : "", r->samples[k][j]);
	fprintf(f, "], \"target\": ");
	if (has_target(m, r->scheds))
		fprintf(f, "%.17g, \"at_least\": %s, \"pass\": %s}", m->target,
			m->at_least ? "true" : "false",
			meets(m, r->median[k]) ? "true" : "false");
	else
		fprintf(f, "null, \"at_least\": null, \"pass\": null}");
}

static void json_checks(FILE *f, const struct check *c, size_t n)
{
	fprintf(f, "  \"checks\": [");
	for (size_t i = 0; i < n; i++)
		fprintf(f,
			"%s\n    {\"name\": \"2 schedulers never slower than "
			"1\", \"bench\": \"%s\", \"pass\": %s}",
			i ? "," : "", c[i].bench,
			c[i].pass < 0 ? "null" :
			c[i].pass     ? "true" :
					"false");
	fprintf(f, "\n  ],\n");
}

struct opts {
	int reps;
	double scale;
	unsigned scheds[MAX_SCHEDS]; /* -s */
	int nscheds;
	const char *only[MAX_BENCHES]; /* -b */
	int nonly;
	const char *json, *child;
};

static int write_json(const struct opts *o, const struct result *res, int n,
		      const struct check *c, size_t nc)
{
	FILE *f = fopen(o->json, "w");
	bool first = true;

	if (!f) {
		fprintf(stderr, "lwp-bench: %s: %s\n", o->json,
			strerror(errno));
		return -1;
	}
	fprintf(f, "{\n  \"tool\": \"lwp-bench\",\n  \"scale\": %.17g,\n",
		o->scale);
	fprintf(f, "  \"reps\": %d,\n  \"schedulers\": [", o->reps);
	for (int j = 0; j < o->nscheds; j++)
		fprintf(f, "%s%u", j ? ", " : "", o->scheds[j]);
	fprintf(f, "],\n");
	json_checks(f, c, nc);
	fprintf(f, "  \"results\": [");
	for (int i = 0; i < n; i++)
		for (int k = 0; k < MAX_METRICS && res[i].b->m[k].name; k++) {
			json_result(f, &res[i], k, first);
			first = false;
		}
	fprintf(f, "\n  ]\n}\n");
	if (fclose(f) != 0) {
		fprintf(stderr, "lwp-bench: %s: %s\n", o->json,
			strerror(errno));
		return -1;
	}
	return 0;
}

static const char *bench_strerror(int err)
{
	return err == BENCH_EWRONG ? "wrong result" : lwp_strerror(err);
}

/* ---- running a repetition in a fresh process ------------------------------ */

/* The child side (--child): run one repetition and print its figures in
 * the protocol the peers speak (perf/peers/README.md), one line each:
 *
 *     RESULT <figure> <value> <unit> <ops>
 *
 * then "SCHEDULERS <count the runtime started>" and, when the benchmark
 * has a latency distribution, "SAMPLES <figure> <unit> <value>...".  A
 * skip prints "SKIP <why>" and exits 0, as the peers do. */
static void print_rep(const struct bench *b, const struct rep *r)
{
	for (int k = 0; k < MAX_METRICS && b->m[k].name; k++)
		printf("RESULT %s %.17g %s %ld\n", b->m[k].name, r->v[k],
		       b->m[k].unit, r->ops);
	printf("SCHEDULERS %u\n", r->ran);
	if (r->nlat > 0) {
		printf("SAMPLES %s %s", b->m[r->lat_metric].name,
		       b->m[r->lat_metric].unit);
		for (long i = 0; i < r->nlat; i++)
			printf(" %.6g", r->lat[i]);
		printf("\n");
	}
}

static int child_main(const char *name, double scale, unsigned scheds)
{
	for (size_t i = 0; i < NBENCHES; i++) {
		static struct rep r;
		int err;

		if (strcmp(benches[i].name, name) != 0)
			continue;
		r = (struct rep){ .scale = scale, .scheds = scheds };
		err = benches[i].fn(&r);
		if (err == BENCH_SKIP) {
			printf("SKIP %s\n", r.note);
			return 0;
		}
		if (err) {
			fprintf(stderr, "lwp-bench: %s: %s\n", name,
				bench_strerror(err));
			return 1;
		}
		print_rep(&benches[i], &r);
		return 0;
	}
	fprintf(stderr, "lwp-bench: no benchmark %s\n", name);
	return 2;
}

/* Read what the child printed into out (NUL-terminated). */
static void read_all(int fd, char *out, size_t cap)
{
	size_t len = 0;
	ssize_t got;

	while (len < cap - 1 &&
	       (got = read(fd, out + len, cap - 1 - len)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			break;
		len += (size_t)got;
	}
	out[len] = 0;
}

/* Parse the child's RESULT and SCHEDULERS lines (see print_rep) into r;
 * false if a figure of b is missing. */
static bool parse_rep(const struct bench *b, char *out, struct rep *r)
{
	int found = 0, want = 0;

	while (want < MAX_METRICS && b->m[want].name)
		want++;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char fig[64];
		double v;

		if (sscanf(line, "SCHEDULERS %u", &r->ran) == 1)
			continue;
		if (sscanf(line, "RESULT %63s %lf", fig, &v) != 2)
			continue;
		for (int k = 0; k < want; k++)
			if (!strcmp(fig, b->m[k].name)) {
				r->v[k] = v;
				r->ops = strtol(strrchr(line, ' '), NULL, 10);
				found++;
			}
	}
	return found == want;
}

static int run_fresh(const struct bench *b, struct rep *r)
{
	char scale[64], scheds[16], slice[32], out[MAX_METRICS * 128 + 64];
	char *argv[] = { "lwp-bench", "--child", (char *)b->name, "-n",
			 scale,	      "-s",	 scheds,	  "-t",
			 slice,	      NULL };
	int fd[2], status;
	pid_t pid;

	snprintf(scale, sizeof(scale), "%.17g", r->scale);
	snprintf(scheds, sizeof(scheds), "%u", r->scheds);
	if (timeslice == LWP_INFINITY)
		snprintf(slice, sizeof(slice), "off");
	else
		snprintf(slice, sizeof(slice), "%lld", (long long)timeslice);
	fflush(stdout);
	if (pipe(fd) != 0)
		return LWP_ESYS;
	pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		return LWP_ESYS;
	}
	if (pid == 0) {
		dup2(fd[1], STDOUT_FILENO);
		close(fd[0]);
		close(fd[1]);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fd[1]);
	read_all(fd[0], out, sizeof(out));
	close(fd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    !parse_rep(b, out, r))
		return LWP_ESYS;
	return 0;
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lwp-bench [-r REPS] [-b NAME]... [-n SCALE] [-s LIST] "
		"[-t NS] [--json FILE] [-l]\n"
		"  -r REPS      repetitions of each benchmark (default 5)\n"
		"  -b NAME      run only this benchmark (repeatable)\n"
		"  -n SCALE     multiply every operation count (0.01: 1/100 of "
		"the work)\n"
		"  -s LIST      scheduler counts to run each benchmark with "
		"(default 1,2)\n"
		"  -t NS        the runtime's timeslice in ns (default: lwp's); "
		"off: no preemption\n"
		"  --json FILE  also write the results to FILE\n"
		"  -l           list the benchmarks\n"
		"  --figures    list the benchmarks and figures for a driver\n"
		"  --child NAME run one repetition of NAME with the first "
		"count of -s and\n"
		"               print its figures as RESULT lines (the "
		"driver's protocol)\n");
}

/* For perf/bench.py: "BENCH <name> <once> <what>" for each benchmark, then
 * "FIGURE <bench> <figure> <target> <at_least> <target_sched> <unit>" for
 * each of its figures (target 0: none; the unit last, as it may have a
 * space). */
static void list_figures(void)
{
	for (size_t i = 0; i < NBENCHES; i++) {
		const struct bench *b = &benches[i];

		printf("BENCH %s %d %s\n", b->name, b->once, b->what);
		for (int k = 0; k < MAX_METRICS && b->m[k].name; k++)
			printf("FIGURE %s %s %g %d %u %s\n", b->name,
			       b->m[k].name, b->m[k].target, b->m[k].at_least,
			       b->m[k].target_sched, b->m[k].unit);
	}
}

/* "1,2" into o->scheds; false if it is not a list of counts. */
static bool parse_scheds(const char *v, struct opts *o)
{
	o->nscheds = 0;
	for (;;) {
		char *end;
		unsigned long n = strtoul(v, &end, 10);

		if (end == v || n < 1 || n > LWP_SCHEDULERS_MAX ||
		    o->nscheds == MAX_SCHEDS)
			return false;
		o->scheds[o->nscheds++] = (unsigned)n;
		if (!*end)
			return true;
		if (*end != ',')
			return false;
		v = end + 1;
	}
}

/* One option with its value; false if the value is bad. */
static bool parse_opt(const char *a, const char *v, struct opts *o)
{
	char *end;

	if (!strcmp(a, "-r")) {
		o->reps = (int)strtol(v, &end, 10);
		return !*end && o->reps >= 1 && o->reps <= MAX_REPS;
	} else if (!strcmp(a, "-n")) {
		o->scale = strtod(v, &end);
		return !*end && o->scale > 0;
	} else if (!strcmp(a, "-s")) {
		return parse_scheds(v, o);
	} else if (!strcmp(a, "-t")) {
		timeslice = strcmp(v, "off") ? strtoll(v, &end, 10) :
					       LWP_INFINITY;
		return !strcmp(v, "off") || (!*end && timeslice >= 0);
	} else if (!strcmp(a, "-b")) {
		if (o->nonly == MAX_BENCHES)
			return false;
		o->only[o->nonly++] = v;
	} else if (!strcmp(a, "--json")) {
		o->json = v;
	} else if (!strcmp(a, "--child")) {
		o->child = v;
	} else {
		return false;
	}
	return true;
}

/* -1 to go on, else the exit status (after -h, -l or a bad option). */
static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-l")) {
			for (size_t j = 0; j < NBENCHES; j++)
				printf("%-10s %s\n", benches[j].name,
				       benches[j].what);
			return 0;
		} else if (!strcmp(a, "--figures")) {
			list_figures();
			return 0;
		} else if (!v) {
			usage(stderr);
			return 2;
		} else if (!parse_opt(a, v, o)) {
			fprintf(stderr, "lwp-bench: bad %s %s\n", a, v);
			usage(stderr);
			return 2;
		}
	}
	return -1;
}

static bool wanted(const struct opts *o, const struct bench *b)
{
	bool want = o->nonly == 0;

	for (int j = 0; j < o->nonly; j++)
		want = want || !strcmp(o->only[j], b->name);
	return want;
}

/* Every -b names a benchmark. */
static bool names_known(const struct opts *o)
{
	for (int j = 0; j < o->nonly; j++) {
		size_t i = 0;
		while (i < NBENCHES && strcmp(benches[i].name, o->only[j]) != 0)
			i++;
		if (i == NBENCHES) {
			fprintf(stderr,
				"lwp-bench: no benchmark %s (-l lists)\n",
				o->only[j]);
			return false;
		}
	}
	return true;
}

static void record(struct result *res, const struct rep *r)
{
	res->ops = r->ops;
	/* Keep a count the runtime did not honour, should it vary. */
	if (res->nreps == 0 || r->ran != res->scheds)
		res->ran = r->ran;
	for (int m = 0; m < MAX_METRICS; m++)
		res->samples[m][res->nreps] = r->v[m];
	res->nreps++;
}

/* All repetitions of b with `scheds` schedulers, into res.  0, BENCH_SKIP
 * (*note says why) or -1 when one failed. */
static int run_reps(const struct bench *b, unsigned scheds,
		    const struct opts *o, struct result *res, const char **note)
{
	memset(res, 0, sizeof(*res));
	res->b = b;
	res->scheds = scheds;
	for (int k = 0; k < o->reps; k++) {
		struct rep r = { .scale = o->scale, .scheds = scheds };
		int err = b->fresh_process ? run_fresh(b, &r) : b->fn(&r);

		if (err == BENCH_SKIP) {
			*note = r.note;
			return BENCH_SKIP;
		}
		if (err) {
			fprintf(stderr,
				"lwp-bench: %s with %u scheduler(s) FAILED: "
				"%s\n",
				b->name, scheds, bench_strerror(err));
			return -1;
		}
		record(res, &r);
	}
	summarise(res);
	return 0;
}

/* Run b with each scheduler count, printing its rows; the results are
 * appended at res[*n].  false if a run failed. */
static bool run_bench(const struct bench *b, const struct opts *o,
		      struct result *res, int *n)
{
	bool ok = true;

	for (int j = 0; j < (b->once ? 1 : o->nscheds); j++) {
		const char *note = "";
		int err = run_reps(b, o->scheds[j], o, &res[*n], &note);

		if (err == BENCH_SKIP) {
			print_skip(b, o->scheds[j], note);
		} else if (err) {
			ok = false;
		} else {
			print_rows(&res[*n]);
			(*n)++;
		}
	}
	return ok;
}

static void print_banner(const struct opts *o)
{
	printf("lwp-bench: %d repetitions, scale %g, schedulers ", o->reps,
	       o->scale);
	for (int j = 0; j < o->nscheds; j++)
		printf("%s%u", j ? "," : "", o->scheds[j]);
	printf("\n");
}

int main(int argc, char **argv)
{
	static struct result results[NBENCHES * MAX_SCHEDS];
	static struct opts o = {
		.reps = 5, .scale = 1, .scheds = { 1, 2 }, .nscheds = 2
	};
	struct check checks[NCHECKS];
	int rc = parse_args(argc, argv, &o), nres = 0;
	bool ok = true;

	if (rc >= 0)
		return rc;
	if (o.child)
		return child_main(o.child, o.scale, o.scheds[0]);
	if (!names_known(&o))
		return 2;
	print_banner(&o);
	print_header();
	for (size_t i = 0; i < NBENCHES; i++)
		if (wanted(&o, &benches[i]))
			ok = run_bench(&benches[i], &o, results, &nres) && ok;
	print_footnote(results, nres);
	for (size_t i = 0; i < NCHECKS; i++) {
		checks[i].bench = scaling_checks[i];
		check_scaling(&checks[i], results, nres);
	}
	print_checks(checks, NCHECKS);
	if (o.json && write_json(&o, results, nres, checks, NCHECKS) != 0)
		ok = false;
	return !ok;
}
