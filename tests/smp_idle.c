/*
 * smp_idle - idle schedulers park instead of spinning.
 *
 * The runtime is embedded (lwp_start) so that the host thread measures.
 * After a burst of work has finished, with one process blocked in
 * lwp_receive(..., LWP_INFINITY) and one in lwp_sleep(500 ms), the whole
 * program's CPU time (CLOCK_PROCESS_CPUTIME_ID: utime + stime of every
 * thread) over a 300 ms window must stay under 5% of one CPU; then the
 * sleeper must wake on time, the blocked process on a message from the
 * host, and with no process at all the schedulers must be idle again.  On
 * failure the CPU time of each thread in the window is printed.
 *
 * Not for TSan (its background thread and slowdown blur the numbers).
 */
#include <dirent.h>

#include "smp_common.h"

#define WINDOW	(300 * MS)
#define SLEEP	(500 * MS)
#define MAX_CPU 0.05
#define MAX_TID 256

static _Atomic long burst_left, woke;
static _Atomic int64_t slept = -1;

static int64_t cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* ---- per-thread CPU, for the failure message ---------------------------- */

struct tcpu {
	int n;
	long tid[MAX_TID];
	int64_t ns[MAX_TID];
};

static void threads_cpu(struct tcpu *t)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	t->n = 0;
	while (d && (e = readdir(d)) && t->n < MAX_TID) {
		char path[300];
		long long ns;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%lld", &ns) == 1) {
			t->tid[t->n] = atol(e->d_name);
			t->ns[t->n++] = ns;
		}
		fclose(f);
	}
	if (d)
		closedir(d);
}

static void print_threads(const struct tcpu *a, const struct tcpu *b)
{
	for (int i = 0; i < b->n; i++) {
		int64_t before = 0;

		for (int j = 0; j < a->n; j++)
			if (a->tid[j] == b->tid[i])
				before = a->ns[j];
		fprintf(stderr, "%s:   thread %ld: %.2f ms on CPU\n", smp.name,
			b->tid[i], (double)(b->ns[i] - before) / MS);
	}
}

/* The share of one CPU the program used over a window of idleness. */
static double idle_cpu(const char *what)
{
	struct tcpu ta, tb;
	int64_t c0, t0, c1, t1;
	double share;

	threads_cpu(&ta);
	c0 = cpu_now();
	t0 = smp_clock();
	smp_nap(WINDOW);
	c1 = cpu_now();
	t1 = smp_clock();
	threads_cpu(&tb);
	share = (double)(c1 - c0) / (double)(t1 - t0);
	printf("%s: %s: %.2f%% of a CPU over %.0f ms\n", smp.name, what,
	       100 * share, (double)(t1 - t0) / MS);
	CHECK(share < MAX_CPU,
	      "%s: %.2f%% of a CPU: schedulers spin instead of parking", what,
	      100 * share);
	if (share >= MAX_CPU)
		print_threads(&ta, &tb);
	return share;
}

/* ---- processes ------------------------------------------------------------ */

static void burst_child(void *arg)
{
	for (long i = 0; i < (long)(intptr_t)arg; i++)
		lwp_yield();
	atomic_fetch_sub(&burst_left, 1);
}

static void burst(void *arg)
{
	long n = (long)(intptr_t)arg;

	for (long i = 0; i < n; i++)
		smp_spawn(burst_child, (void *)(intptr_t)(i * 10),
			  i % 2 ? i : -1);
	for (long i = 0; i < 1000; i++)
		lwp_yield();
	atomic_fetch_sub(&burst_left, 1);
}

static void blocked(void *arg)
{
	lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);

	(void)arg;
	CHECK(m && m->from == LWP_NOPID && m->tag == 7, "blocked: woke by %s",
	      m ? lwp_pid_str(m->from).s : "nothing");
	lwp_msg_free(m);
	atomic_store(&woke, 1);
}

static void sleeper(void *arg)
{
	int64_t t0 = lwp_now();

	(void)arg;
	CHECK_RC(lwp_sleep(SLEEP), 0);
	atomic_store(&slept, lwp_now() - t0);
}

/* ---- the host ----------------------------------------------------------- */

static void run_burst(void)
{
	long n = 8 * (long)smp.scheds;

	atomic_store(&burst_left, n + n * (n / 2));
	for (long i = 0; i < n; i++)
		REQUIRE(lwp_spawn(burst, (void *)(intptr_t)(n / 2)) > 0,
			"spawn");
	smp_watchdog(30, "a burst of work");
	while (atomic_load(&burst_left) > 0)
		smp_nap(MS);
	CHECK_RC(smp_wait_procs(0), 0);
}

static void wait_flag(_Atomic long *flag, const char *what)
{
	smp_watchdog(10, "%s", what);
	while (!atomic_load(flag))
		smp_nap(MS);
}

int main(int argc, char **argv)
{
	lwp_config cfg;
	lwp_pid b;
	int64_t t0;
	double busy, empty;

	smp_init(argc, argv, "smp_idle");
	cfg = smp_config();
	REQUIRE(lwp_start(&cfg) == 0, "lwp_start");
	run_burst();
	b = lwp_spawn(blocked, NULL);
	REQUIRE(b > 0 && lwp_spawn(sleeper, NULL) > 0, "spawn");
	t0 = smp_clock();
	smp_nap(50 * MS); /* let them block and the schedulers settle */
	busy = idle_cpu("blocked + sleeping process");
	CHECK(atomic_load(&slept) < 0, "the sleeper woke after %lld ms",
	      (long long)(atomic_load(&slept) / MS));
	smp_watchdog(10, "the sleeper wakes");
	while (atomic_load(&slept) < 0)
		smp_nap(MS);
	CHECK(atomic_load(&slept) >= SLEEP &&
		      smp_clock() - t0 < SLEEP + 500 * MS * SMP_SLOW,
	      "the sleeper slept %lld ms, woken after %lld ms",
	      (long long)(atomic_load(&slept) / MS),
	      (long long)((smp_clock() - t0) / MS));
	CHECK_RC(lwp_send(b, 7, NULL, 0), 0);
	wait_flag(&woke, "the blocked process wakes on a message");
	CHECK_RC(smp_wait_procs(0), 0);
	smp_nap(20 * MS);
	empty = idle_cpu("no process");
	CHECK_RC(lwp_stop(), 0);
	return smp_done("idle CPU %.2f%% (blocked + sleeping), %.2f%% (none)",
			100 * busy, 100 * empty);
}
