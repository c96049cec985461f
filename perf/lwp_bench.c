/*
 * lwp_bench.c - the lwp micro-benchmarks: one run, one table.
 *
 * Each benchmark is a function that does one repetition in its own
 * lwp_main() call and fills in one or more figures (metrics); main() runs
 * it R times and prints the median and the min/max of each figure, with the
 * target from the issue where there is one.  To add a benchmark, write its
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

#define MAX_METRICS 3
#define MAX_REPS    1000
#define MAX_BENCHES 32

enum {
	TAG_TOKEN = 1,
	TAG_DONE,
	TAG_STOP,
	TAG_PING,
	TAG_PONG,
};

/* One figure a benchmark reports. */
struct metric {
	const char *name;
	const char *unit;
	double target; /* the figure must be <= target; 0: no target */
};

/* One repetition: the parameters in, the figures out. */
struct rep {
	double scale;
	long ops;	       /* operations in the timed region */
	double v[MAX_METRICS]; /* one per metric */
};

struct bench {
	const char *name;
	const char *what; /* one line, for -l */
	int (*fn)(struct rep *r);
	/* Run each repetition in a freshly exec'd copy of this program, so
	 * that memory left mapped by earlier runs does not hide costs. */
	bool fresh_process;
	struct metric m[MAX_METRICS];
};

/* ---- helpers ------------------------------------------------------------ */

static long scaled(double scale, long n)
{
	double v = (double)n * scale + 0.5;

	return v < 1 ? 1 : (long)v;
}

/* Run fn(arg) as the first process of a fresh runtime on one scheduler with
 * room for `procs` processes. */
static int run_lwp(void (*fn)(void *), void *arg, long procs)
{
	lwp_config cfg = { .schedulers = 1 };

	if (procs + 16 > (long)LWP_MAX_PROCS_DEFAULT)
		cfg.max_procs = procs + 16 > (long)LWP_MAX_PROCS_MAX ?
					LWP_MAX_PROCS_MAX :
					(uint32_t)(procs + 16);
	return lwp_main(&cfg, fn, arg);
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
		snprintf(label, sizeof(label), "lwp-bench %s ops=%ld", name,
			 ops);
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

/* Yield until *counter reaches n (the processes counted have all run). */
static void yield_until(atomic_long *counter, long n)
{
	while (atomic_load(counter) < n)
		lwp_yield();
}

/* ---- switch: two processes yielding to each other ------------------------ */

struct sw {
	long n; /* switches */
	int err;
	atomic_bool done;
	int64_t t0, t1;
};

static void sw_partner(void *arg)
{
	struct sw *s = arg;

	while (!atomic_load_explicit(&s->done, memory_order_relaxed))
		lwp_yield();
}

static void sw_main(void *arg)
{
	struct sw *s = arg;
	long rounds = s->n / 2;
	lwp_pid partner = lwp_spawn(sw_partner, s);

	if (partner < 0) {
		s->err = (int)partner;
		return;
	}
	lwp_yield(); /* the partner starts and yields back */
	s->t0 = region_begin();
	for (long i = 0; i < rounds; i++)
		lwp_yield(); /* to the partner, which yields back: 2 switches */
	s->t1 = region_end("switch", s->n);
	atomic_store(&s->done, true);
}

static int bench_switch(struct rep *r)
{
	struct sw s = { .n = scaled(r->scale, 10000000) & ~1L };
	int err;

	if (s.n < 2)
		s.n = 2;
	err = run_lwp(sw_main, &s, 2);
	if (err || s.err)
		return err ? err : s.err;
	r->ops = s.n;
	r->v[0] = (double)(s.t1 - s.t0) / (double)s.n;
	return 0;
}

/* ---- spawn: spawn processes that exit at once ---------------------------- */

struct sp {
	long n;
	int err;
	int64_t t0, t1;
};

static void sp_child(void *arg)
{
	(void)arg;
}

static void sp_main(void *arg)
{
	struct sp *s = arg;

	s->t0 = region_begin();
	for (long i = 0; i < s->n; i++) {
		lwp_pid p = lwp_spawn(sp_child, NULL);
		if (p < 0) {
			s->err = (int)p;
			return;
		}
	}
	/* Every child is runnable, and a yield runs the queue ahead of us. */
	while (lwp_process_count() > 1)
		lwp_yield();
	s->t1 = region_end("spawn", s->n);
}

static int bench_spawn(struct rep *r)
{
	struct sp s = { .n = scaled(r->scale, 1000000) };
	int err = run_lwp(sp_main, &s, s.n + 1);

	if (err || s.err)
		return err ? err : s.err;
	r->ops = s.n;
	r->v[0] = (double)(s.t1 - s.t0) / (double)s.n;
	return 0;
}

/* ---- ring: a token passed around a ring of processes --------------------- */

#define RING_SIZE 10000

struct ring {
	long size, hops;
	lwp_pid *pids;
	lwp_pid main;
	atomic_long ready;
	int err;
	int64_t t0, t1;
};

static struct ring ring;

static void ring_fail(int err)
{
	if (!ring.err)
		ring.err = err;
	lwp_stop();
}

static void ring_node(void *arg)
{
	long i = (long)(intptr_t)arg;
	lwp_pid next = LWP_NOPID; /* spawned after us: looked up on use */

	atomic_fetch_add(&ring.ready, 1);
	for (;;) {
		lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
		long left;
		int err;

		if (!m)
			return ring_fail(lwp_last_error());
		if (m->tag == TAG_STOP) {
			lwp_msg_free(m);
			return;
		}
		memcpy(&left, m->data, sizeof(left));
		lwp_msg_free(m);
		if (left == 0) {
			err = lwp_send(ring.main, TAG_DONE, NULL, 0);
		} else {
			left--;
			if (next == LWP_NOPID)
				next = ring.pids[(i + 1) % ring.size];
			err = lwp_send(next, TAG_TOKEN, &left, sizeof(left));
		}
		if (err)
			return ring_fail(err);
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
		if (ring.pids[i] < 0)
			return ring_fail((int)ring.pids[i]);
	}
	yield_until(&ring.ready, ring.size); /* all blocked in receive */
	ring.t0 = region_begin();
	if (lwp_send(ring.pids[0], TAG_TOKEN, &hops, sizeof(hops)) != 0)
		return ring_fail(LWP_ENOPROC);
	m = lwp_receive_tag(TAG_DONE, LWP_INFINITY);
	ring.t1 = region_end("ring", ring.hops);
	lwp_msg_free(m);
	for (long i = 0; i < ring.size; i++)
		lwp_send(ring.pids[i], TAG_STOP, NULL, 0);
}

static int bench_ring(struct rep *r)
{
	int err;

	memset(&ring, 0, sizeof(ring));
	ring.size = RING_SIZE;
	ring.hops = scaled(r->scale, 1000000);
	ring.pids = calloc((size_t)ring.size, sizeof(*ring.pids));
	if (!ring.pids)
		return LWP_ENOMEM;
	err = run_lwp(ring_main, NULL, ring.size + 1);
	free(ring.pids);
	if (err || ring.err)
		return err ? err : ring.err;
	r->ops = ring.hops;
	r->v[0] = (double)(ring.t1 - ring.t0) / (double)ring.hops;
	return 0;
}

/* ---- pingpong: round trips between two processes ------------------------- */

struct pp {
	long n;
	int err;
	int64_t t0, t1;
};

static void pp_pong(void *arg)
{
	struct pp *s = arg;

	for (;;) {
		lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
		if (!m) {
			s->err = lwp_last_error();
			lwp_stop(); /* the main process waits for us */
			return;
		}
		if (m->tag == TAG_STOP) {
			lwp_msg_free(m);
			return;
		}
		int err = lwp_send(m->from, TAG_PONG, m->data, m->size);
		lwp_msg_free(m);
		if (err) {
			s->err = err;
			lwp_stop();
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

static void pp_main(void *arg)
{
	struct pp *s = arg;
	lwp_pid peer = lwp_spawn(pp_pong, s);

	if (peer < 0 || !pp_round(peer, -1)) { /* the peer is running */
		s->err = peer < 0 ? (int)peer : LWP_ENOPROC;
		return;
	}
	s->t0 = region_begin();
	for (long i = 0; i < s->n; i++)
		if (!pp_round(peer, i)) {
			s->err = LWP_ENOPROC;
			return;
		}
	s->t1 = region_end("pingpong", s->n);
	lwp_send(peer, TAG_STOP, NULL, 0);
}

static int bench_pingpong(struct rep *r)
{
	struct pp s = { .n = scaled(r->scale, 1000000) };
	int err = run_lwp(pp_main, &s, 2);

	if (err || s.err)
		return err ? err : s.err;
	r->ops = s.n;
	r->v[0] = (double)(s.t1 - s.t0) / (double)s.n;
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
	err = run_lwp(idle_main, &s, s.n + 1);
	free(s.pids);
	if (err || s.err)
		return err ? err : s.err;
	if (s.rss0 < 0 || s.rss1 < 0 || s.pte0 < 0 || s.pte1 < 0)
		return LWP_ESYS;
	r->ops = s.n;
	r->v[0] = (double)(s.rss1 - s.rss0) / (double)s.n;
	r->v[1] = (double)(s.pte1 - s.pte0) / (double)s.n;
	r->v[2] = (double)(s.t1 - s.t0) / (double)s.n;
	return 0;
}

/* ---- the table of benchmarks --------------------------------------------- */

static const struct bench benches[] = {
	{
		.name = "switch",
		.what = "two processes yielding to each other, 10M switches",
		.fn = bench_switch,
		.m = { { "switch", "ns/switch", 15 } },
	},
	{
		.name = "spawn",
		.what = "spawn 1M processes that exit at once, until all exited",
		.fn = bench_spawn,
		.m = { { "spawn", "ns/spawn+exit", 100 } },
	},
	{
		.name = "ring",
		.what = "a token around a ring of 10,000 processes, 1M hops",
		.fn = bench_ring,
		.m = { { "ring", "ns/hop", 50 } },
	},
	{
		.name = "pingpong",
		.what = "round trips between two processes, 1M",
		.fn = bench_pingpong,
		.m = { { "pingpong", "ns/round-trip", 0 } },
	},
	{
		.name = "idle-rss",
		.what = "1M processes blocked in receive: memory, setup time",
		.fn = bench_idle,
		.fresh_process = true,
		.m = { { "idle-rss", "bytes/proc", 4710 },
		       { "idle-pte", "bytes/proc", 0 },
		       { "idle-setup", "ns/proc", 0 } },
	},
};

#define NBENCHES (sizeof(benches) / sizeof(benches[0]))

/* ---- statistics and output ----------------------------------------------- */

struct result {
	const struct bench *b;
	int nreps;
	long ops;
	double samples[MAX_METRICS][MAX_REPS];
	double median[MAX_METRICS], min[MAX_METRICS], max[MAX_METRICS];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

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

static const char *fmt_value(char *buf, size_t len, double v)
{
	snprintf(buf, len, v < 10000 ? "%.1f" : "%.0f", v);
	return buf;
}

static void print_header(void)
{
	printf("%-12s %10s %10s %10s  %-14s %8s  %s\n", "benchmark", "median",
	       "min", "max", "unit", "target", "");
}

static void print_rows(const struct result *res)
{
	for (int k = 0; k < MAX_METRICS && res->b->m[k].name; k++) {
		const struct metric *m = &res->b->m[k];
		char a[32], b[32], c[32], t[32] = "-";
		const char *status = "";

		if (m->target > 0) {
			snprintf(t, sizeof(t), "<= %g", m->target);
			status = res->median[k] <= m->target ? "PASS" : "MISS";
		}
		printf("%-12s %10s %10s %10s  %-14s %8s  %s\n", m->name,
		       fmt_value(a, sizeof(a), res->median[k]),
		       fmt_value(b, sizeof(b), res->min[k]),
		       fmt_value(c, sizeof(c), res->max[k]), m->unit, t,
		       status);
	}
	fflush(stdout);
}

static int write_json(const char *path, const struct result *res, int n,
		      double scale, int reps)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "lwp-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "{\n  \"tool\": \"lwp-bench\",\n  \"scale\": %.17g,\n",
		scale);
	fprintf(f, "  \"reps\": %d,\n  \"results\": [", reps);
	for (int i = 0, first = 1; i < n; i++) {
		const struct result *r = &res[i];
		for (int k = 0; k < MAX_METRICS && r->b->m[k].name; k++) {
			const struct metric *m = &r->b->m[k];
			fprintf(f,
				"%s\n    {\"name\": \"%s\", \"bench\": \"%s\", ",
				first ? "" : ",", m->name, r->b->name);
			fprintf(f, "\"unit\": \"%s\", \"ops\": %ld, ", m->unit,
				r->ops);
			fprintf(f, "\"median\": %.17g, \"min\": %.17g, ",
				r->median[k], r->min[k]);
			fprintf(f, "\"max\": %.17g, \"samples\": [", r->max[k]);
			for (int j = 0; j < r->nreps; j++)
				fprintf(f, "%s%.17g", j ? ", " : "",
					r->samples[k][j]);
			fprintf(f, "], \"target\": ");
			if (m->target > 0)
				fprintf(f, "%.17g, \"pass\": %s}", m->target,
					r->median[k] <= m->target ? "true" :
								    "false");
			else
				fprintf(f, "null, \"pass\": null}");
			first = 0;
		}
	}
	fprintf(f, "\n  ]\n}\n");
	if (fclose(f) != 0) {
		fprintf(stderr, "lwp-bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- running a repetition in a fresh process ------------------------------ */

/* The child side: run one repetition, print "ops v0 v1 ...". */
static int child_main(const char *name, double scale)
{
	for (size_t i = 0; i < NBENCHES; i++) {
		struct rep r = { .scale = scale };
		int err;

		if (strcmp(benches[i].name, name) != 0)
			continue;
		err = benches[i].fn(&r);
		if (err) {
			fprintf(stderr, "lwp-bench: %s: %s\n", name,
				lwp_strerror(err));
			return 1;
		}
		printf("%ld", r.ops);
		for (int k = 0; k < MAX_METRICS; k++)
			printf(" %.17g", r.v[k]);
		printf("\n");
		return 0;
	}
	fprintf(stderr, "lwp-bench: no benchmark %s\n", name);
	return 2;
}

static int run_fresh(const struct bench *b, struct rep *r)
{
	char scale[64], line[512], *end;
	char *argv[] = { "lwp-bench", "--child", (char *)b->name,
			 "-n",	      scale,	 NULL };
	int fd[2], status;
	ssize_t got;
	size_t len = 0;
	pid_t pid;

	snprintf(scale, sizeof(scale), "%.17g", r->scale);
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
	while (len < sizeof(line) - 1 &&
	       (got = read(fd[0], line + len, sizeof(line) - 1 - len)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			break;
		len += (size_t)got;
	}
	line[len] = 0;
	close(fd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return LWP_ESYS;
	r->ops = strtol(line, &end, 10);
	for (int k = 0; k < MAX_METRICS; k++)
		r->v[k] = strtod(end, &end);
	return 0;
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lwp-bench [-r REPS] [-b NAME]... [-n SCALE] "
		"[--json FILE] [-l]\n"
		"  -r REPS      repetitions of each benchmark (default 5)\n"
		"  -b NAME      run only this benchmark (repeatable)\n"
		"  -n SCALE     multiply every operation count (0.01: 1/100 of "
		"the work)\n"
		"  --json FILE  also write the results to FILE\n"
		"  -l           list the benchmarks\n");
}

int main(int argc, char **argv)
{
	static struct result results[NBENCHES];
	const char *only[MAX_BENCHES], *json = NULL, *child = NULL;
	int nonly = 0, reps = 5, nres = 0, failed = 0;
	double scale = 1;

	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-l")) {
			for (size_t j = 0; j < NBENCHES; j++)
				printf("%-10s %s\n", benches[j].name,
				       benches[j].what);
			return 0;
		} else if (!v) {
			usage(stderr);
			return 2;
		} else if (!strcmp(a, "-r")) {
			reps = (int)strtol(v, &end, 10);
			if (*end || reps < 1 || reps > MAX_REPS) {
				fprintf(stderr, "lwp-bench: bad -r %s\n", v);
				return 2;
			}
		} else if (!strcmp(a, "-n")) {
			scale = strtod(v, &end);
			if (*end || !(scale > 0)) {
				fprintf(stderr, "lwp-bench: bad -n %s\n", v);
				return 2;
			}
		} else if (!strcmp(a, "-b")) {
			if (nonly == MAX_BENCHES) {
				usage(stderr);
				return 2;
			}
			only[nonly++] = v;
		} else if (!strcmp(a, "--json")) {
			json = v;
		} else if (!strcmp(a, "--child")) {
			child = v;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (child)
		return child_main(child, scale);
	for (int j = 0; j < nonly; j++) {
		size_t i = 0;
		while (i < NBENCHES && strcmp(benches[i].name, only[j]) != 0)
			i++;
		if (i == NBENCHES) {
			fprintf(stderr,
				"lwp-bench: no benchmark %s (-l lists)\n",
				only[j]);
			return 2;
		}
	}

	printf("lwp-bench: %d repetitions, scale %g, 1 scheduler\n", reps,
	       scale);
	print_header();
	for (size_t i = 0; i < NBENCHES; i++) {
		const struct bench *b = &benches[i];
		struct result *res = &results[nres];
		bool want = nonly == 0;

		for (int j = 0; j < nonly; j++)
			want = want || !strcmp(only[j], b->name);
		if (!want)
			continue;
		memset(res, 0, sizeof(*res));
		res->b = b;
		for (int k = 0; k < reps; k++) {
			struct rep r = { .scale = scale };
			int err = b->fresh_process ? run_fresh(b, &r) :
						     b->fn(&r);
			if (err) {
				fprintf(stderr, "lwp-bench: %s failed: %s\n",
					b->name, lwp_strerror(err));
				break;
			}
			res->ops = r.ops;
			for (int m = 0; m < MAX_METRICS; m++)
				res->samples[m][k] = r.v[m];
			res->nreps++;
		}
		if (res->nreps < reps) {
			failed = 1;
			continue;
		}
		summarise(res);
		print_rows(res);
		nres++;
	}
	if (json && write_json(json, results, nres, scale, reps) != 0)
		failed = 1;
	return failed;
}
