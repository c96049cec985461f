/*
 * smp_trace - the trace rings under concurrency (also under TSan).
 *
 * A flight recorder with small rings, so that every ring wraps over and
 * over, while processes on every scheduler ping-pong and spawn and host
 * threads send and spawn into the foreign ring; meanwhile a process and a
 * host thread dump the rings (lwp_trace_dump) and read the statistics of
 * every scheduler, again and again.  Each dump must succeed and end as a
 * JSON document does; the statistics must never go back.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "lwp_config.h"
#include "smp_common.h"

#define NAME	"smp_trace"
#define NPAIRS	4
#define THREADS 2

static long rounds, dumps;
static char dir[128];
static _Atomic bool done;

static void pong(void *arg)
{
	(void)arg;
	for (;;) {
		lwp_msg *m = SMP_RECV(NULL, NULL, "a ping");
		uint64_t tag = m->tag;
		CHECK_RC(lwp_send(m->from, tag, NULL, 0), 0);
		lwp_msg_free(m);
		if (!tag)
			return;
	}
}

static void nothing(void *arg)
{
	(void)arg;
}

static void ping(void *arg)
{
	long i = (long)(intptr_t)arg;
	lwp_pid p = smp_spawn(pong, NULL, i + 1);

	for (long r = rounds; r-- > 0;) {
		CHECK_RC(lwp_send(p, (uint64_t)r, NULL, 0), 0);
		lwp_msg_free(SMP_RECV_TAG((uint64_t)r, "a pong"));
		if (r % 64 == 0)
			CHECK(lwp_spawn(nothing, NULL) > 0, "spawn");
	}
}

/* The dump at path ends as the writer ends every document. */
static void check_dump(const char *path)
{
	char tail[4] = { 0 };
	int fd = open(path, O_RDONLY);
	off_t end;

	REQUIRE(fd >= 0, "open %s", path);
	end = lseek(fd, -4, SEEK_END);
	CHECK(end > 0 && pread(fd, tail, 4, end) == 4 &&
		      !memcmp(tail, "\n]}\n", 4),
	      "%s does not end as a trace", path);
	close(fd);
}

/* Dumps and statistics, from whatever thread calls it. */
static void observe(const char *who, lwp_sched_stats *last)
{
	char path[256];
	lwp_sched_stats st;

	snprintf(path, sizeof(path), "%s/%s.json", dir, who);
	for (long k = 0; k < dumps && !atomic_load(&done); k++) {
		int rc = lwp_trace_dump(path);
		CHECK(rc == 0 || rc == LWP_EBUSY, "dump: %s", lwp_strerror(rc));
		if (rc == 0)
			check_dump(path);
		for (unsigned i = 0; i < smp.scheds; i++) {
			CHECK_RC(lwp_scheduler_stats(i, &st), 0);
			CHECK(st.switches >= last[i].switches &&
				      st.sent >= last[i].sent &&
				      st.busy_ns + st.spin_ns + st.park_ns ==
					      st.uptime_ns,
			      "scheduler %u's statistics went back", i);
			last[i] = st;
		}
	}
}

static lwp_pid sink_pid;

static void *host(void *arg)
{
	lwp_sched_stats last[LWP_SCHEDULERS_MAX / 64] = { 0 };
	const char *who = arg;

	for (long k = 0; !atomic_load(&done); k++) {
		CHECK_RC(lwp_send(sink_pid, 1, NULL, 0), 0);
		if (k % 16 == 0)
			CHECK(lwp_spawn(nothing, NULL) > 0, "foreign spawn");
		if (k % 256 == 0)
			observe(who, last);
	}
	return NULL;
}

static void sink(void *arg)
{
	(void)arg;
	for (;;) {
		lwp_msg *m = SMP_RECV(NULL, NULL, "anything");
		uint64_t tag = m->tag;
		lwp_msg_free(m);
		if (!tag)
			return;
	}
}

static void boss(void *arg)
{
	lwp_trace_opts o = { .events = 256, .flight = true };
	lwp_sched_stats last[LWP_SCHEDULERS_MAX / 64] = { 0 };
	char path[256];
	pthread_t threads[THREADS];
	static const char *const hosts[THREADS] = { "host0", "host1" };
	lwp_ref ref;

	(void)arg;
	snprintf(path, sizeof(path), "%s/trace.json", dir);
	CHECK_RC(lwp_trace_start(path, &o), 0);
	sink_pid = smp_spawn(sink, NULL, 0);
	for (int i = 0; i < THREADS; i++)
		REQUIRE(pthread_create(&threads[i], NULL, host,
				       (void *)hosts[i]) == 0,
			"thread");
	for (long i = 0; i < NPAIRS; i++)
		REQUIRE(lwp_spawn_monitor(ping, (void *)(intptr_t)i, &ref) > 0,
			"spawn");
	observe("boss", last);
	for (long i = 0; i < NPAIRS; i++)
		lwp_msg_free(SMP_RECV_TAG(LWP_TAG_DOWN, "a ping's end"));
	atomic_store(&done, true);
	for (int i = 0; i < THREADS; i++)
		REQUIRE(pthread_join(threads[i], NULL) == 0, "join");
	CHECK_RC(lwp_send(sink_pid, 0, NULL, 0), 0);
	CHECK_RC(lwp_trace_stop(), 0);
	check_dump(path);
}

int main(int argc, char **argv)
{
	lwp_config cfg;

	smp_init(argc, argv, NAME);
	if (!LWP_TRACE) {
		printf("%s: built with -Dtrace=disabled: skipped\n", NAME);
		return 77; /* meson's SKIP */
	}
	if (smp.scheds > LWP_SCHEDULERS_MAX / 64) {
		fprintf(stderr, "%s: at most %u schedulers\n", NAME,
			LWP_SCHEDULERS_MAX / 64);
		return 2;
	}
	rounds = smp_scaled(5000, 200);
	dumps = smp_scaled(50, 5);
	snprintf(dir, sizeof(dir), "/tmp/smp_trace-XXXXXX");
	REQUIRE(mkdtemp(dir), "mkdtemp");
	cfg = smp_config();
	smp_watchdog(120, "%d ping-pongs of %ld rounds, traced", NPAIRS,
		     rounds);
	CHECK_RC(lwp_main(&cfg, boss, NULL), 0);
	for (const char *const *f =
		     (const char *const[]){ "trace", "boss", "host0", "host1",
					    NULL };
	     *f; f++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/%s.json", dir, *f);
		unlink(path);
	}
	rmdir(dir);
	return smp_done("%d ping-pongs of %ld rounds, %ld dumps each", NPAIRS,
			rounds, dumps);
}
