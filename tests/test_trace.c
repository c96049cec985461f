/*
 * test_trace.c - event tracing, statistics and long-schedule reports.
 *
 * The traces are checked by tests/check_trace.py (valid JSON, slices that
 * begin and end, times that rise per track, flows from a send to the run
 * it caused), run on files written by the workloads below.  The
 * statistics are checked against workloads whose counts are known.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lwp_config.h"
#include "test_common.h"

/* Built with -Dtrace=disabled, only the statistics are there. */
#define NO_TRACE (!LWP_TRACE)

#ifdef T_LSAN
#define T_ASAN_ON 1
#else
#define T_ASAN_ON 0
#endif

/* ---- helpers ---------------------------------------------------------- */

static char t_dir[256];

/* A fresh directory for this test's files; path of `name` in it. */
static const char *t_path(const char *name)
{
	static char buf[8][512];
	static int next;
	char *p = buf[next++ % 8];

	if (!t_dir[0]) {
		snprintf(t_dir, sizeof(t_dir), "/tmp/lwp-trace-XXXXXX");
		cr_assert_not_null(mkdtemp(t_dir));
	}
	snprintf(p, 512, "%s/%s", t_dir, name);
	return p;
}

/* After each test: its files go. */
static void t_cleanup(void)
{
	char path[600];
	struct dirent *e;
	DIR *d = t_dir[0] ? opendir(t_dir) : NULL;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", t_dir, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(t_dir);
}

TestSuite(trace, .fini = t_cleanup);
TestSuite(stats, .fini = t_cleanup);

/* Run check_trace.py on path with extra arguments; assert it passes. */
static void t_check(const char *path, const char *args)
{
	char cmd[2048];
	const char *src = getenv("LWP_SRCDIR");

	cr_assert_not_null(src, "LWP_SRCDIR is not set");
	snprintf(cmd, sizeof(cmd), "python3 %s/tests/check_trace.py %s %s", src,
		 path, args);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

static lwp_config scheds(unsigned n)
{
	return (lwp_config){ .schedulers = n };
}

static lwp_spawn_opts on(unsigned sched)
{
	return (lwp_spawn_opts){ .scheduler = LWP_ON_SCHEDULER(sched) };
}

/* ---- a workload with every kind of event ------------------------------ */

#define ROUNDS 200

/* Answers each message with its tag until tag 0. */
static void pong(void *arg)
{
	(void)arg;
	lwp_register("ponger", lwp_self());
	for (;;) {
		lwp_msg *m = RECV(NULL, NULL);
		uint64_t tag = m->tag;
		CHECK_RC(lwp_send(m->from, tag, NULL, 0), 0);
		lwp_msg_free(m);
		if (!tag)
			return;
	}
}

static void short_lived(void *arg)
{
	(void)arg;
}

/* Ping-pong across two schedulers (each reply wakes the other side:
 * flows between tracks), spawns and exits. */
static void workload(void *arg)
{
	lwp_spawn_opts there = on(lwp_scheduler_count() - 1);
	lwp_pid p = lwp_spawn_opt(pong, NULL, &there);

	(void)arg;
	REQUIRE(p > 0, "spawn pong");
	for (uint64_t i = ROUNDS; i-- > 0;) {
		CHECK_RC(lwp_send(p, i, NULL, 0), 0);
		lwp_msg_free(RECV_TAG(i));
	}
	for (int i = 0; i < 20; i++)
		REQUIRE(lwp_spawn(short_lived, NULL) > 0, "spawn");
	CHECK_RC(lwp_sleep(MS), 0); /* timers, idle, parking */
	t_wait_dead(p);
}

static void traced(void *arg)
{
	CHECK_RC(lwp_trace_start(arg, NULL), 0);
	workload(NULL);
	CHECK_RC(lwp_trace_stop(), 0);
}

/* Run fn under cfg, its argument the path of a fresh file `name` (watched
 * for 60 s), then check that file with check_trace.py's args. */
static void t_run_checked(lwp_config cfg, const char *name, void (*fn)(void *),
			  const char *args)
{
	const char *path = t_path(name);

	t_watchdog(60, "%s", name);
	T_RUN(&cfg, fn, (void *)path);
	t_check(path, args);
}

Test(trace, json_is_valid_and_consistent, .disabled = NO_TRACE)
{
	t_run_checked(scheds(2), "api.json", traced,
		      "--min-flows 10 --expect send --expect receive "
		      "--expect spawn --expect exit --expect timer "
		      "--expect-slice 'ponger <0.' --expect-slice traced");
}

Test(trace, lwp_trace_env_traces_a_whole_run, .disabled = NO_TRACE)
{
	lwp_config cfg = scheds(2);
	const char *path = t_path("env.json");

	setenv("LWP_TRACE", path, 1);
	t_watchdog(60, "LWP_TRACE ping-pong");
	T_RUN(&cfg, workload, NULL);
	unsetenv("LWP_TRACE");
	t_check(path, "--min-flows 10 --expect-slice workload");
}

/* ---- which receives read the clock ------------------------------------ */

/* User code that takes a while: far longer than a tick of any counter
 * (qemu's is 16 ns). */
static void work(void)
{
	int64_t until = lwp_now() + MS / 5;

	while (lwp_now() < until)
		;
}

static bool slow_tag_3(const lwp_msg *m, void *ctx)
{
	(void)ctx;
	work();
	return m->tag == 3;
}

/* Takes tag 1 on waking, works, takes tag 2 from its mailbox, then waits
 * for tag 3 through a match function that works too. */
static void stamped(void *arg)
{
	(void)arg;
	lwp_msg_free(RECV(NULL, NULL));
	work();
	lwp_msg_free(RECV(NULL, NULL));
	lwp_msg_free(RECV(slow_tag_3, NULL));
}

static void stamps(void *arg)
{
	lwp_pid p = lwp_spawn(stamped, NULL);

	REQUIRE(p > 0, "spawn");
	CHECK_RC(lwp_trace_start(arg, NULL), 0);
	(void)t_wait_info(p, t_is_waiting);
	CHECK_RC(lwp_send(p, 1, NULL, 0), 0);
	CHECK_RC(lwp_send(p, 2, NULL, 0), 0);
	lwp_yield();
	(void)t_wait_info(p, t_is_waiting);
	CHECK_RC(lwp_send(p, 3, NULL, 0), 0);
	t_wait_dead(p);
	CHECK_RC(lwp_trace_stop(), 0);
}

/* A receive that returns on waking, with no user code run since its
 * process was switched in, takes that switch's time stamp (trace.h);
 * one after user code (its own work, or a match function) reads the
 * clock. */
Test(trace, a_receive_on_waking_shares_its_switchs_stamp, .disabled = NO_TRACE)
{
	/* No preemption: work() stays in the slice it began in. */
	t_run_checked((lwp_config){ .schedulers = 1,
				    .timeslice_ns = LWP_INFINITY },
		      "stamps.json", stamps,
		      "--receive-at-switch 1 --receive-later 2 "
		      "--receive-later 3");
}

/* Still on when the runtime stops: written then. */
static void left_on(void *arg)
{
	CHECK_RC(lwp_trace_start(arg, NULL), 0);
	workload(NULL);
}

Test(trace, a_trace_left_on_is_written_at_stop, .disabled = NO_TRACE)
{
	t_run_checked(scheds(1), "left.json", left_on, "--expect send");
}

/* ---- flight recorder -------------------------------------------------- */

#define FLIGHT 64
#define SENDS  1000

static void sink(void *arg)
{
	(void)arg;
	for (;;) {
		lwp_msg *m = RECV(NULL, NULL);
		uint64_t tag = m->tag;
		lwp_msg_free(m);
		if (tag == SENDS - 1)
			return;
	}
}

/* SENDS messages with rising tags, through a ring of FLIGHT events: the
 * dump keeps only the last ones. */
static void flight(void *arg)
{
	lwp_trace_opts o = { .events = FLIGHT, .flight = true };
	lwp_pid p = lwp_spawn(sink, NULL);

	REQUIRE(p > 0, "spawn sink");
	CHECK_RC(lwp_trace_start(arg, &o), 0);
	for (uint64_t i = 0; i < SENDS; i++)
		CHECK_RC(lwp_send(p, i, NULL, 0), 0);
	CHECK_RC(lwp_trace_dump(t_path("flight-dump.json")), 0);
	t_wait_dead(p);
	CHECK_RC(lwp_trace_stop(), 0);
}

Test(trace, flight_recorder_keeps_the_last_events, .disabled = NO_TRACE)
{
	/* No preemption: the sends are the last events before the dump. */
	lwp_config cfg = { .schedulers = 1, .timeslice_ns = LWP_INFINITY };
	const char *path = t_path("flight.json");
	char args[64];

	t_watchdog(60, "flight recorder");
	T_RUN(&cfg, flight, (void *)path);
	/* Each send is one event: the ring cannot hold an older one. */
	snprintf(args, sizeof(args), "--tags-above %d", SENDS - 1 - FLIGHT);
	t_check(path, args); /* the last events: the sink's receives */
	strcat(args, " --expect send");
	t_check(t_path("flight-dump.json"), args);
}

/* The signal's dump rewrites the trace's file; copied aside before the
 * stop writes it again. */
static void copy_file(const char *from, const char *to)
{
	char buf[4096]; /* on a process's stack */
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT, 0644);
	ssize_t n;

	CHECK(in >= 0 && out >= 0, "open %s, %s", from, to);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		CHECK(write(out, buf, (size_t)n) == n, "write %s", to);
	close(in);
	close(out);
}

static void on_signal_dump(void *arg)
{
	lwp_trace_opts o = { .flight = true, .signal = SIGUSR2 };

	CHECK_RC(lwp_trace_start(arg, &o), 0);
	workload(NULL);
	raise(SIGUSR2);
	copy_file(arg, t_path("signal-copy.json"));
	CHECK_RC(lwp_trace_stop(), 0);
}

Test(trace, flight_recorder_dumps_on_its_signal, .disabled = NO_TRACE)
{
	lwp_config cfg = scheds(2);

	t_watchdog(60, "signal dump");
	T_RUN(&cfg, on_signal_dump, (void *)t_path("signal.json"));
	t_check(t_path("signal-copy.json"), "--expect send --min-flows 1");
	/* The host's disposition is back. */
	struct sigaction sa;
	sigaction(SIGUSR2, NULL, &sa);
	cr_assert(sa.sa_handler == SIG_DFL);
}

static int *volatile nowhere; /* NULL, where the compiler cannot see */

static void crash(void *arg)
{
	lwp_trace_opts o = { .flight = true };

	CHECK_RC(lwp_trace_start(arg, &o), 0);
	workload(NULL);
	*nowhere = 1;
}

/* A crash writes the flight recorder (not under ASan: its own SIGSEGV
 * handler reports and aborts first). */
Test(trace, flight_recorder_dumps_on_a_crash, .disabled = NO_TRACE || T_ASAN_ON)
{
	lwp_config cfg = scheds(2);
	static char path[512];
	pid_t child;
	int status;

	snprintf(path, sizeof(path), "%s", t_path("crash.json"));
	t_watchdog(60, "crash dump");
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		lwp_main(&cfg, crash, path);
		_exit(0);
	}
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
		  "the child did not die of SIGSEGV (status %#x)", status);
	/* Written in a signal handler: processes are named by pid only. */
	t_check(path, "--expect send --expect-slice '<0.'");
}

/* ---- API errors -------------------------------------------------------- */

static void api_errors(void *arg)
{
	lwp_trace_opts big = { .events = ((size_t)1 << 28) + 1 };
	lwp_trace_opts tiny = { .events = 15 };
	lwp_trace_opts kill = { .signal = SIGKILL };
	lwp_trace_opts segv = { .signal = SIGSEGV };

	CHECK_RC(lwp_trace_start(NULL, NULL), LWP_EINVAL);
	CHECK_RC(lwp_trace_start("", NULL), LWP_EINVAL);
	CHECK_RC(lwp_trace_start(arg, &big), LWP_EINVAL);
	CHECK_RC(lwp_trace_start(arg, &tiny), LWP_EINVAL);
	CHECK_RC(lwp_trace_start(arg, &kill), LWP_EINVAL);
	CHECK_RC(lwp_trace_start(arg, &segv), LWP_EINVAL);
	CHECK_RC(lwp_trace_start("/nonexistent-dir/x.json", NULL), LWP_ESYS);
	CHECK_RC(lwp_trace_stop(), LWP_EINVAL);
	CHECK_RC(lwp_trace_dump(NULL), LWP_EINVAL);
	CHECK_RC(lwp_trace_start(arg, NULL), 0);
	CHECK_RC(lwp_trace_start(arg, NULL), LWP_EBUSY);
	CHECK_RC(lwp_trace_dump(""), LWP_EINVAL);
	CHECK_RC(lwp_trace_dump("/nonexistent-dir/x.json"), LWP_ESYS);
	CHECK_RC(lwp_trace_dump(NULL), 0);
	CHECK_RC(lwp_trace_stop(), 0);
	CHECK_RC(lwp_trace_stop(), LWP_EINVAL);
	/* Again in the same run, with rings of another size. */
	CHECK_RC(lwp_trace_start(arg, &(lwp_trace_opts){ .events = 1024 }), 0);
	CHECK_RC(lwp_trace_stop(), 0);

	lwp_sched_stats st;
	CHECK_RC(lwp_scheduler_stats(0, NULL), LWP_EINVAL);
	CHECK_RC(lwp_scheduler_stats(lwp_scheduler_count(), &st), LWP_EINVAL);
}

Test(trace, api_errors, .disabled = NO_TRACE)
{
	lwp_config cfg = scheds(1);
	const char *path = t_path("errors.json");
	lwp_sched_stats st;

	cr_assert_eq(lwp_trace_start(path, NULL), LWP_ENOTRUNNING);
	cr_assert_eq(lwp_trace_stop(), LWP_ENOTRUNNING);
	cr_assert_eq(lwp_trace_dump(path), LWP_ENOTRUNNING);
	cr_assert_eq(lwp_scheduler_stats(0, &st), LWP_ENOTRUNNING);
	cr_assert_eq(lwp_set_long_schedule(-1, NULL, NULL), LWP_EINVAL);
	T_RUN(&cfg, api_errors, (void *)path);
	t_check(path, "");
}

/* The flight recorder's signal cannot be the one that preempts. */
static void preempt_signal_taken(void *arg)
{
	lwp_trace_opts usr2 = { .signal = SIGUSR2 };

	CHECK_RC(lwp_trace_start(arg, &usr2), LWP_EINVAL);
}

Test(trace, the_preemption_signal_is_taken, .disabled = NO_TRACE)
{
	lwp_config cfg = scheds(1);

	cfg.preempt_signal = SIGUSR2;
	T_RUN(&cfg, preempt_signal_taken, (void *)t_path("usr2.json"));
}

static void unsupported(void *arg)
{
	CHECK_RC(lwp_trace_start(arg, NULL), LWP_ENOTSUP);
	CHECK_RC(lwp_trace_stop(), LWP_ENOTSUP);
	CHECK_RC(lwp_trace_dump(arg), LWP_ENOTSUP);
}

Test(trace, a_build_without_tracing_says_so, .disabled = !NO_TRACE)
{
	lwp_config cfg = scheds(1);

	T_RUN(&cfg, unsupported, (void *)t_path("none.json"));
}

/* ---- settings from the environment ------------------------------------ */

static void quick(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++)
		if (lwp_spawn(short_lived, NULL) < 0)
			_exit(3);
}

/* A run with the environment as set; what it said on stderr. */
static void env_body(void)
{
	lwp_config cfg = { .schedulers = 1 };

	_exit(lwp_main(&cfg, quick, NULL) == 0 ? 0 : 2);
}

static void env_run(const char *trace, const char *var, const char *value,
		    struct t_child *c)
{
	setenv("LWP_TRACE", trace, 1);
	if (var)
		setenv(var, value, 1);
	t_run_child(env_body, c);
	unsetenv("LWP_TRACE");
	if (var)
		unsetenv(var);
	cr_assert(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0,
		  "the run failed (status %#x): %s", c->status, c->out);
}

/* A bad setting is named on stderr; the run goes on, untraced. */
static void refused(const char *var, const char *value)
{
	const char *path = t_path("refused.json");
	struct t_child c;
	char want[600];

	env_run(var ? path : "/nonexistent-dir/x.json", var, value, &c);
	snprintf(want, sizeof(want),
		 "lwp: LWP_TRACE=%s: ", var ? path : "/nonexistent-dir/x.json");
	cr_assert(strstr(c.out, want) && strstr(c.out, "; not tracing"),
		  "%s=%s: no complaint: %s", var ? var : "LWP_TRACE",
		  var ? value : "", c.out);
	cr_assert(access(path, F_OK) != 0, "%s=%s: a trace was written", var,
		  value);
}

Test(trace, bad_environment_is_refused_and_the_run_goes_on,
     .disabled = NO_TRACE)
{
	t_watchdog(60, "bad LWP_TRACE");
	refused(NULL, NULL); /* a path that cannot be created */
	refused("LWP_TRACE_EVENTS", "lots");
	refused("LWP_TRACE_EVENTS", "15");
	refused("LWP_TRACE_FLIGHT", "yes");
	refused("LWP_TRACE_FLIGHT", "");
	refused("LWP_TRACE_SIGNAL", "SIGKILL");
	refused("LWP_TRACE_SIGNAL", "NOSUCH");
}

/* LWP_TRACE_FLIGHT=1 and LWP_TRACE_SIGNAL by name are taken. */
Test(trace, environment_sets_flight_and_signal, .disabled = NO_TRACE)
{
	const char *path = t_path("env.json");
	struct t_child c;
	char buf[256] = "";
	int fd;

	t_watchdog(60, "LWP_TRACE_FLIGHT");
	setenv("LWP_TRACE_SIGNAL", "USR2", 1);
	env_run(path, "LWP_TRACE_FLIGHT", "1", &c);
	unsetenv("LWP_TRACE_SIGNAL");
	cr_assert(!strstr(c.out, "not tracing"), "refused: %s", c.out);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "no trace written");
	cr_assert_gt(read(fd, buf, sizeof(buf) - 1), 0);
	close(fd);
	cr_assert(strstr(buf, "\"mode\":\"flight recorder\""),
		  "not a flight recorder: %.200s", buf);
	t_check(path, "--expect spawn");
}

/* ---- statistics ------------------------------------------------------- */

#define YIELDS 1000

static void yielder(void *arg)
{
	(void)arg;
	for (int i = 0; i < YIELDS; i++)
		CHECK_RC(lwp_yield(), 0);
	for (int i = 0; i < YIELDS; i++)
		lwp_msg_free(RECV(NULL, NULL));
}

/* Two processes on one scheduler, nothing else: each yield switches to
 * the other; then YIELDS messages one way. */
static void counted(void *arg)
{
	lwp_sched_stats a, b;
	lwp_pid y;

	(void)arg;
	CHECK_RC(lwp_scheduler_stats(0, &a), 0);
	y = lwp_spawn(yielder, NULL);
	REQUIRE(y > 0, "spawn");
	for (int i = 0; i < YIELDS; i++)
		CHECK_RC(lwp_yield(), 0);
	CHECK_RC(lwp_scheduler_stats(0, &b), 0);
	/* Our first yield starts the yielder; its last returns to us. */
	CHECK(b.switches - a.switches == 2 * YIELDS,
	      "%llu switches, expected %d",
	      (unsigned long long)(b.switches - a.switches), 2 * YIELDS);
	CHECK(b.spawned - a.spawned == 1, "spawned");
	for (int i = 0; i < YIELDS; i++)
		CHECK_RC(lwp_send(y, (uint64_t)i, NULL, 0), 0);
	t_wait_dead(y);
	CHECK_RC(lwp_scheduler_stats(0, &b), 0);
	CHECK(b.sent - a.sent == YIELDS, "%llu sent",
	      (unsigned long long)(b.sent - a.sent));
	CHECK(b.received - a.received == YIELDS, "%llu received",
	      (unsigned long long)(b.received - a.received));
	CHECK(b.exited - a.exited == 1, "exited");
}

Test(stats, switches_and_messages_add_up)
{
	lwp_config cfg = { .schedulers = 1, .timeslice_ns = LWP_INFINITY };

	t_watchdog(60, "yields");
	T_RUN(&cfg, counted, NULL);
}

/* Asleep on its only scheduler: the time is parked (or spinning), and
 * the states add up to the uptime. */
static void sleeper(void *arg)
{
	lwp_sched_stats a, b;

	(void)arg;
	CHECK_RC(lwp_scheduler_stats(0, &a), 0);
	CHECK_RC(lwp_sleep(50 * MS), 0);
	CHECK_RC(lwp_scheduler_stats(0, &b), 0);
	CHECK(b.busy_ns + b.spin_ns + b.park_ns == b.uptime_ns,
	      "states do not add up");
	CHECK(b.spin_ns + b.park_ns - a.spin_ns - a.park_ns >= 40 * MS,
	      "idle %lld ns of a 50 ms sleep",
	      (long long)(b.spin_ns + b.park_ns - a.spin_ns - a.park_ns));
	CHECK(b.parks > a.parks, "never parked");
	CHECK(b.busy_ns >= 0 && b.signal_ns <= b.busy_ns, "busy");
}

Test(stats, idle_time_is_spinning_and_parked)
{
	lwp_config cfg = scheds(1);

	t_watchdog(60, "sleep");
	T_RUN(&cfg, sleeper, NULL);
}

/* ---- long schedules ----------------------------------------------------- */

static struct {
	_Atomic lwp_pid pid;
	char name[LWP_NAME_MAX + 1];
	int64_t ran;
} reported;

static void on_long(lwp_pid pid, const char *name, unsigned sched,
		    int64_t ran_ns, void *ctx)
{
	(void)sched;
	(void)ctx;
	if (!pid || atomic_load(&reported.pid))
		return; /* a loaded machine may not name it at once */
	snprintf(reported.name, sizeof(reported.name), "%s", name ? name : "");
	reported.ran = ran_ns;
	atomic_store(&reported.pid, pid);
}

/* Computes where preemption is deferred until it is reported. */
static void hog(void *arg)
{
	int64_t end = lwp_now() + SEC * T_SLOW; /* or until reported */

	(void)arg;
	CHECK_RC(lwp_preempt_disable(), 0);
	while (lwp_now() < end && !atomic_load(&reported.pid))
		;
	CHECK_RC(lwp_preempt_enable(), 0);
}

static lwp_pid hog_pid;

static void long_run(void *arg)
{
	(void)arg;
	hog_pid = lwp_spawn(hog, NULL);
	REQUIRE(hog_pid > 0, "spawn");
	t_wait_dead(hog_pid);
}

Test(stats, a_long_schedule_is_reported)
{
	lwp_config cfg = scheds(1);

	cr_assert_eq(lwp_set_long_schedule(5 * MS, on_long, NULL), 0);
	t_watchdog(60, "long schedule");
	T_RUN(&cfg, long_run, NULL);
	cr_assert_eq(lwp_set_long_schedule(0, NULL, NULL), 0);
	cr_assert_eq(atomic_load(&reported.pid), hog_pid,
		     "reported %s, the hog was %s",
		     lwp_pid_str(atomic_load(&reported.pid)).s,
		     lwp_pid_str(hog_pid).s);
	cr_assert_str_eq(reported.name, "hog");
	cr_assert_geq(reported.ran, 5 * MS);
}
