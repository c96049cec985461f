/*
 * sup_bench.c - lwp-sup-bench: supervisor restart latency.
 *
 * One one_for_one supervisor with one permanent child.  The bench process
 * tells the child to crash; the child notes the time (lwp_now()) and
 * exits abnormally; the supervisor gets its EXIT, spawns the replacement,
 * which answers the bench process at once.  The figure is the time from
 * the crash to that answer: exit, the exit signal, the supervisor's
 * restart (intensity bookkeeping, spawn, link), the new child's first run
 * and its message.  Median over many restarts, with the min and max, for
 * each scheduler count; one line per count for the perf driver:
 *
 *     RESULT sup-restart <median> ns <restarts>
 *
 * Options: -s N (only N schedulers; default 1 and 2), -n SCALE (multiply
 * the restart count, 20000).  Only a release build gives real figures.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lwp.h"

enum {
	READY = 1,
	CRASH,
	RESTARTS = 20000,
	WARMUP = 1000,
};

static _Atomic int64_t crashed_at;
static lwp_pid bench;
static int64_t *samples;
static long nsamples;

static void quiet(lwp_pid pid, const char *name, const lwp_reason *r, void *ctx)
{
	(void)pid, (void)name, (void)r, (void)ctx;
}

static void child(void *arg)
{
	(void)arg;
	lwp_send(bench, READY, NULL, 0);
	lwp_msg_free(lwp_receive_tag(CRASH, LWP_INFINITY));
	atomic_store_explicit(&crashed_at, lwp_now(), memory_order_relaxed);
	lwp_exit(1);
}

static lwp_pid ready(void)
{
	lwp_msg *m = lwp_receive_tag(READY, LWP_INFINITY);
	lwp_pid pid = m->from;

	lwp_msg_free(m);
	return pid;
}

static void run(void *arg)
{
	const lwp_child_spec c = { .id = "child",
				   .fn = child,
				   .restart = LWP_PERMANENT };
	const lwp_sup_spec spec = {
		.strategy = LWP_ONE_FOR_ONE,
		.intensity = LWP_SUP_INTENSITY_MAX,
		.period_ns = 1000000000,
		.children = &c,
		.nchildren = 1,
	};
	lwp_pid sup, pid;

	(void)arg;
	bench = lwp_self();
	sup = lwp_supervisor_start_link(&spec);
	if (sup < 0) {
		fprintf(stderr, "start_link: %s\n", lwp_strerror((int)sup));
		return;
	}
	pid = ready();
	for (long i = -WARMUP; i < nsamples; i++) {
		lwp_send(pid, CRASH, NULL, 0);
		pid = ready();
		if (i >= 0)
			samples[i] = lwp_now() -
				     atomic_load_explicit(&crashed_at,
							  memory_order_relaxed);
	}
	lwp_supervisor_stop(sup);
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int measure(unsigned scheds)
{
	lwp_config cfg = { .schedulers = scheds };
	int err;

	memset(samples, 0, (size_t)nsamples * sizeof(*samples));
	err = lwp_main(&cfg, run, NULL);
	if (err || !samples[nsamples - 1]) {
		fprintf(stderr, "lwp-sup-bench: run failed: %s\n",
			lwp_strerror(err));
		return 1;
	}
	qsort(samples, (size_t)nsamples, sizeof(*samples), cmp);
	printf("# sup-restart, %u scheduler(s): median %lld ns, min %lld, "
	       "max %lld, %ld restarts\n",
	       scheds, (long long)samples[nsamples / 2], (long long)samples[0],
	       (long long)samples[nsamples - 1], nsamples);
	printf("RESULT sup-restart %lld ns %ld\n",
	       (long long)samples[nsamples / 2], nsamples);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned only = 0;
	double scale = 1;
	int opt, rc = 0;

	while ((opt = getopt(argc, argv, "s:n:")) != -1) {
		if (opt == 's')
			only = (unsigned)strtoul(optarg, NULL, 10);
		else if (opt == 'n')
			scale = strtod(optarg, NULL);
		else {
			fprintf(stderr, "usage: %s [-s N] [-n SCALE]\n",
				argv[0]);
			return 2;
		}
	}
	nsamples = (long)(RESTARTS * scale);
	if (nsamples < 1 || optind < argc) {
		fprintf(stderr, "usage: %s [-s N] [-n SCALE]\n", argv[0]);
		return 2;
	}
	samples = calloc((size_t)nsamples, sizeof(*samples));
	if (!samples)
		return 1;
	lwp_set_report_fn(quiet, NULL);
	if (only)
		rc = measure(only);
	else
		rc = measure(1) | measure(2);
	free(samples);
	return rc;
}
