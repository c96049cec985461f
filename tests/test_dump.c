/*
 * test_dump.c - the process dump's backtraces (lwp_process_dump,
 * lwp_process_backtrace) and the dump on a signal (lwp_config.dump_signal,
 * LWP_DUMP_SIGNAL).
 *
 * The processes whose backtraces are checked run non-static, noinline
 * functions with distinctive names: the dump names them from the test
 * program's ELF symbol table (symbol.c), no -rdynamic needed.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_common.h"

#include "lwp_config.h"

TestSuite(dump, .timeout = 120 * T_SLOW);

enum {
	GO = 100,
	DONE = 101,
};

#define NOINLINE __attribute__((noinline))

static _Atomic bool stop_spinning;

/* ---- what the dumped processes run -------------------------------------- */

/* Blocked in a receive, two calls deep.  The asm statements keep the
 * calls from becoming tail calls (whose frames would be gone). */
NOINLINE void dump_test_waiter_level2(void)
{
	lwp_msg_free(RECV_TAG(GO));
	__asm__ volatile("" ::: "memory");
}

NOINLINE void dump_test_waiter_level1(void)
{
	dump_test_waiter_level2();
	__asm__ volatile("" ::: "memory");
}

void dump_test_waiter(void *arg)
{
	(void)arg;
	dump_test_waiter_level1();
	__asm__ volatile("" ::: "memory");
}

/* Runnable: gives way at once each time it runs. */
NOINLINE void dump_test_yielder_loop(void)
{
	while (!atomic_load(&stop_spinning))
		lwp_yield();
	__asm__ volatile("" ::: "memory");
}

void dump_test_yielder(void *arg)
{
	(void)arg;
	dump_test_yielder_loop();
	__asm__ volatile("" ::: "memory");
}

/* Spins without a runtime call: only preemption switches it out. */
NOINLINE void dump_test_spin_here(void)
{
	while (!atomic_load_explicit(&stop_spinning, memory_order_relaxed))
		__asm__ volatile("" ::: "memory");
	__asm__ volatile("" ::: "memory");
}

void dump_test_spinner(void *arg)
{
	(void)arg;
	dump_test_spin_here();
	__asm__ volatile("" ::: "memory");
}

/* ---- reading a dump ------------------------------------------------------ */

struct dumped {
	char text[65536];
};

/* The dump written by lwp_process_dump, read back. */
static void dump_into(struct dumped *d)
{
	char path[] = "/tmp/lwp-dump-XXXXXX";
	int fd = mkstemp(path);
	ssize_t len;
	long n;

	REQUIRE(fd >= 0, "mkstemp");
	unlink(path);
	n = lwp_process_dump(fd);
	CHECK(n > 0, "lwp_process_dump: %ld", n);
	len = pread(fd, d->text, sizeof(d->text) - 1, 0);
	REQUIRE(len > 0, "read the dump back");
	d->text[len] = '\0';
	close(fd);
}

/* Copy pid's entry (its line and its frames) of dump text into out. */
static bool entry_of(const char *text, lwp_pid pid, char *out, size_t len)
{
	const char *at = strstr(text, lwp_pid_str(pid).s), *end;

	if (!at)
		return false;
	/* Up to the next line that is not indented. */
	for (end = strchr(at, '\n'); end && end[1] == ' ';
	     end = strchr(end + 1, '\n'))
		;
	if (!end)
		end = at + strlen(at);
	snprintf(out, len, "%.*s", (int)(end - at), at);
	return true;
}

/* The status word of an entry (the line's second column). */
static bool status_is(const char *entry, const char *status)
{
	const char *s = strchr(entry, ' ');

	return s && strncmp(s + strspn(s, " "), status, strlen(status)) == 0;
}

/* Does the entry's backtrace name fn, as a frame "fn+0x..."? */
static bool has_frame(const char *entry, const char *fn)
{
	char want[128];

	snprintf(want, sizeof(want), " %s+0x", fn);
	return strstr(entry, want) != NULL;
}

/* ---- known processes, their states and backtraces ------------------------ */

static struct dumped dump1;
static char entry[8192];

NOINLINE void dump_test_dumper(void)
{
	lwp_pid waiter = lwp_spawn(dump_test_waiter, NULL);
	lwp_pid yielder = lwp_spawn(dump_test_yielder, NULL);

	CHECK_RC(lwp_register("dump_waiter", waiter), 0);
	(void)t_wait_info(waiter, t_is_waiting);
	lwp_yield(); /* the yielder runs, yields back: runnable */
	dump_into(&dump1);

	REQUIRE(entry_of(dump1.text, waiter, entry, sizeof(entry)),
		"the waiter is not in:\n%s", dump1.text);
	CHECK(status_is(entry, "waiting"), "waiter: %s", entry);
	CHECK(strstr(entry, "'dump_waiter'") != NULL, "its name: %s", entry);
	if (LWP_HAVE_UNWIND) {
		CHECK(has_frame(entry, "dump_test_waiter_level2") &&
			      has_frame(entry, "dump_test_waiter_level1") &&
			      has_frame(entry, "dump_test_waiter"),
		      "waiter's frames:\n%s", entry);
		/* Innermost first. */
		CHECK(strstr(entry, "dump_test_waiter_level2+") <
			      strstr(entry, "dump_test_waiter_level1+"),
		      "frame order:\n%s", entry);
	}

	REQUIRE(entry_of(dump1.text, yielder, entry, sizeof(entry)),
		"the yielder is not in the dump");
	CHECK(status_is(entry, "runnable"), "yielder: %s", entry);
	if (LWP_HAVE_UNWIND)
		CHECK(has_frame(entry, "dump_test_yielder_loop"),
		      "yielder's frames:\n%s", entry);

	REQUIRE(entry_of(dump1.text, lwp_self(), entry, sizeof(entry)),
		"the caller is not in the dump");
	CHECK(status_is(entry, "running"), "caller: %s", entry);
	if (LWP_HAVE_UNWIND)
		CHECK(has_frame(entry, "dump_test_dumper"),
		      "the caller's own frames:\n%s", entry);
	else
		CHECK(strstr(dump1.text, "backtraces are unavailable"),
		      "no word of the missing unwinder:\n%s", dump1.text);

	atomic_store(&stop_spinning, true);
	CHECK_RC(lwp_send(waiter, GO, NULL, 0), 0);
}

static void dumper(void *arg)
{
	(void)arg;
	dump_test_dumper();
	__asm__ volatile("" ::: "memory");
}

Test(dump, lists_states_and_backtraces)
{
	/* One scheduler and no preemption: nothing runs but the dumper. */
	lwp_config cfg = { .schedulers = 1, .timeslice_ns = LWP_INFINITY };

	t_watchdog(60, "dump of a waiter, a yielder and the caller");
	T_RUN(&cfg, dumper, NULL);
}

/* ---- from the smallest stack -------------------------------------------- */

static void dumps_on_small_stack(void *arg)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	(void)arg;
	REQUIRE(fd >= 0, "open /dev/null");
	CHECK(lwp_process_dump(fd) >= 2, "the dump");
	close(fd);
	CHECK_RC(lwp_send((lwp_pid)(intptr_t)arg, DONE, NULL, 0), 0);
}

static void small_stack_main(void *arg)
{
	lwp_spawn_opts o = { .stack_size = LWP_STACK_MIN };
	lwp_pid waiter = lwp_spawn(dump_test_waiter, NULL);

	(void)arg;
	(void)t_wait_info(waiter, t_is_waiting);
	REQUIRE(lwp_spawn_opt(dumps_on_small_stack,
			      (void *)(intptr_t)lwp_self(), &o) > 0,
		"spawn");
	/* A stack overflow would end it before it says so. */
	lwp_msg_free(RECV_TAG(DONE));
	CHECK_RC(lwp_send(waiter, GO, NULL, 0), 0);
}

Test(dump, from_the_smallest_stack)
{
	t_watchdog(60, "a dump from a LWP_STACK_MIN stack");
	T_RUN(NULL, small_stack_main, NULL);
}

/* ---- lwp_process_backtrace ----------------------------------------------- */

static void backtraces(void *arg)
{
	lwp_pid waiter = lwp_spawn(dump_test_waiter, NULL);
	void *frames[64];
	long n;

	(void)arg;
	(void)t_wait_info(waiter, t_is_waiting);
	n = lwp_process_backtrace(waiter, frames, 64);
	if (!LWP_HAVE_UNWIND) {
		CHECK_RC(n, LWP_ENOTSUP);
	} else {
		bool level2 = false;
		CHECK(n >= 4, "%ld frames", n);
		/* A return address inside dump_test_waiter_level2, which is
		 * far shorter than 256 bytes. */
		for (long i = 0; i < n; i++)
			level2 |= (uintptr_t)frames[i] -
					  (uintptr_t)dump_test_waiter_level2 <
				  256;
		CHECK(level2, "no frame in dump_test_waiter_level2");
		CHECK_RC(lwp_process_backtrace(waiter, frames, 2), 2);
		CHECK_RC(lwp_process_backtrace(waiter, NULL, 0), 0);
		n = lwp_process_backtrace(lwp_self(), frames, 64);
		CHECK(n > 1, "own backtrace: %ld", n);
	}
	CHECK_RC(lwp_process_backtrace(waiter, NULL, 1), LWP_EINVAL);
	if (LWP_HAVE_UNWIND) {
		CHECK_RC(lwp_process_backtrace(-5, frames, 64), LWP_EBADPID);
		CHECK_RC(lwp_send(waiter, GO, NULL, 0), 0);
		t_wait_dead(waiter);
		CHECK_RC(lwp_process_backtrace(waiter, frames, 64),
			 LWP_ENOPROC);
	} else {
		CHECK_RC(lwp_send(waiter, GO, NULL, 0), 0);
	}
}

Test(dump, process_backtrace)
{
	lwp_config cfg = { .schedulers = 1, .timeslice_ns = LWP_INFINITY };
	void *frames[4];

	cr_assert_eq(lwp_process_backtrace(1, frames, 4),
		     LWP_HAVE_UNWIND ? LWP_ENOTRUNNING : LWP_ENOTSUP);
	t_watchdog(60, "lwp_process_backtrace");
	T_RUN(&cfg, backtraces, NULL);
}

/* ---- a preempted process shows the code it was running ------------------ */

static struct dumped dump2;

static void dumps_spinner(void *arg)
{
	lwp_pid spinner = lwp_spawn(dump_test_spinner, NULL);
	lwp_sched_stats st;
	int64_t end = lwp_now() + T_WAIT;

	(void)arg;
	/* Sleep: the spinner runs until the timer is due, then it is
	 * preempted so that this process can run. */
	do {
		lwp_sleep(5 * MS);
		REQUIRE(lwp_scheduler_stats(0, &st) == 0, "stats");
		REQUIRE(lwp_now() < end, "the spinner is never preempted");
	} while (st.preemptions == 0);
	dump_into(&dump2);
	atomic_store(&stop_spinning, true);
	REQUIRE(entry_of(dump2.text, spinner, entry, sizeof(entry)),
		"the spinner is not in:\n%s", dump2.text);
	CHECK(status_is(entry, "runnable"), "spinner: %s", entry);
	CHECK(has_frame(entry, "dump_test_spin_here") &&
		      has_frame(entry, "dump_test_spinner"),
	      "spinner's frames:\n%s", entry);
	/* The trampoline's frame, just above the interrupted function. */
	CHECK(strstr(entry, " <signal frame>\n") != NULL &&
		      strstr(entry, " <signal frame>\n") <
			      strstr(entry, " dump_test_spin_here+"),
	      "no signal frame above the spinner's:\n%s", entry);
}

Test(dump, preempted_process_shows_where_it_spins)
{
	lwp_config cfg = { .schedulers = 1 };

	if (!LWP_HAVE_UNWIND)
		cr_skip_test("no libunwind in this build");
	t_watchdog(60, "dump of a preempted spinner");
	T_RUN(&cfg, dumps_spinner, NULL);
}

/* ---- the dump on a signal ------------------------------------------------ */

/* The child's stderr is a pipe while the runtime runs (signal_body), so
 * that it can read back what the dump thread wrote. */
static struct {
	int pipe; /* its read end, non-blocking */
	int real; /* the real stderr */
	char text[65536];
	size_t len;
} err_pipe = { .pipe = -1, .real = -1 };

/* Take in what the pipe holds now. */
static void err_pipe_read(void)
{
	ssize_t n;

	while (err_pipe.len < sizeof(err_pipe.text) - 1 &&
	       (n = read(err_pipe.pipe, err_pipe.text + err_pipe.len,
			 sizeof(err_pipe.text) - 1 - err_pipe.len)) > 0)
		err_pipe.len += (size_t)n;
	err_pipe.text[err_pipe.len] = '\0';
}

/* The dump has shown the waiter: its line, and its frames if unwound. */
static bool dump_shows_waiter(void)
{
	const char *d = strstr(err_pipe.text, "=PROCESS DUMP====\n");
	const char *w = d ? strstr(d, "'dump_waiter'") : NULL;

	if (!w || !strchr(w, '\n'))
		return false;
	return !LWP_HAVE_UNWIND || strstr(w, " dump_test_waiter_level2+0x");
}

static void signals_itself(void *arg)
{
	lwp_pid waiter = lwp_spawn(dump_test_waiter, NULL);
	int64_t end = lwp_now() + T_WAIT;

	(void)arg;
	CHECK_RC(lwp_register("dump_waiter", waiter), 0);
	(void)t_wait_info(waiter, t_is_waiting);
	kill(getpid(), SIGQUIT);
	/* The dump thread writes it meanwhile; the waiter stays put until
	 * the dump has shown it. */
	for (err_pipe_read(); !dump_shows_waiter(); err_pipe_read()) {
		REQUIRE(lwp_now() < end, "no dump of the waiter");
		lwp_sleep(MS);
	}
	CHECK_RC(lwp_send(waiter, GO, NULL, 0), 0);
}

/* Exit codes of the child. */
enum {
	CHILD_OK = 0,
	CHILD_MAIN_FAILED = 3,
	CHILD_CHECK_FAILED = 4,
	CHILD_NOT_RESTORED = 5,
};

static void signal_body(void)
{
	lwp_config cfg = { .schedulers = 2 };
	struct sigaction host = { .sa_handler = SIG_DFL }, sa;
	int rc, fds[2];

	/* A host's disposition of its own, to find again. */
	sigemptyset(&host.sa_mask);
	host.sa_flags = SA_RESTART;
	if (sigaction(SIGQUIT, &host, NULL) != 0)
		_exit(CHILD_NOT_RESTORED);
	setenv("LWP_DUMP_SIGNAL", "QUIT", 1);
	if (pipe(fds) != 0 || fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0 ||
	    (err_pipe.real = dup(STDERR_FILENO)) < 0 ||
	    dup2(fds[1], STDERR_FILENO) < 0)
		_exit(CHILD_MAIN_FAILED);
	err_pipe.pipe = fds[0];
	rc = lwp_main(&cfg, signals_itself, NULL);
	/* Back to the real stderr, with everything the pipe took. */
	err_pipe_read();
	dup2(err_pipe.real, STDERR_FILENO);
	fputs(err_pipe.text, stderr);
	if (rc != 0)
		_exit(CHILD_MAIN_FAILED);
	if (atomic_load(&t_failures)) {
		fprintf(stderr, "%s\n", t_first);
		_exit(CHILD_CHECK_FAILED);
	}
	/* The host's disposition is back. */
	if (sigaction(SIGQUIT, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL ||
	    !(sa.sa_flags & SA_RESTART)) {
		fprintf(stderr, "SIGQUIT: handler %p, flags %#x\n",
			(void *)sa.sa_handler, (unsigned)sa.sa_flags);
		_exit(CHILD_NOT_RESTORED);
	}
}

Test(dump, on_signal)
{
	struct t_child *c = calloc(1, sizeof(*c));
	char *dump, *waiter;

	cr_assert_not_null(c);
	t_watchdog(60, "the dump on SIGQUIT");
	t_run_child(signal_body, c);
	cr_assert(WIFEXITED(c->status) && WEXITSTATUS(c->status) == CHILD_OK,
		  "the child ended with status %#x; its stderr:\n%s", c->status,
		  c->out);
	dump = strstr(c->out, "=PROCESS DUMP====\npid ");
	cr_assert_not_null(dump, "no dump in:\n%s", c->out);
	waiter = strstr(dump, "'dump_waiter'");
	cr_assert_not_null(waiter, "no waiter in:\n%s", c->out);
	cr_assert(strstr(dump, " waiting ") != NULL, "no waiting process:\n%s",
		  c->out);
	if (LWP_HAVE_UNWIND)
		cr_assert(strstr(waiter, " dump_test_waiter_level2+0x") != NULL,
			  "no waiter's frames in:\n%s", c->out);
	free(c);
}

/* ---- bad signals --------------------------------------------------------- */

static void nothing(void *arg)
{
	(void)arg;
}

/* With the environment's LWP_DUMP_SIGNAL=value, lwp_main and lwp_start
 * return rc. */
static void env_gives(const char *value, int rc)
{
	setenv("LWP_DUMP_SIGNAL", value, 1);
	cr_assert_eq(lwp_main(NULL, nothing, NULL), rc,
		     "lwp_main with LWP_DUMP_SIGNAL=%s", value);
	cr_assert_eq(lwp_start(NULL), rc, "lwp_start with LWP_DUMP_SIGNAL=%s",
		     value);
	if (rc == 0)
		cr_assert_eq(lwp_stop(), 0);
	unsetenv("LWP_DUMP_SIGNAL");
}

static void cfg_gives(int preempt_signal, int dump_signal, int rc)
{
	lwp_config cfg = { .preempt_signal = preempt_signal,
			   .dump_signal = dump_signal };

	cr_assert_eq(lwp_main(&cfg, nothing, NULL), rc,
		     "lwp_main with dump_signal %d, preempt_signal %d",
		     dump_signal, preempt_signal);
}

Test(dump, bad_signals)
{
	static const char
		*const
			bad[] = {
				"",    "FOO",  "SIGFOO",  "-1",
				"12x", "KILL", "SIGSTOP", "SEGV",
				"11",  "999",  "URG", /* the preemption signal */
			};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		env_gives(bad[i], LWP_EINVAL);
	env_gives("SIGUSR1", 0);
	env_gives("USR2", 0);
	env_gives("3", 0);
	env_gives("0", 0);

	cfg_gives(0, SIGSEGV, LWP_EINVAL);
	cfg_gives(0, SIGKILL, LWP_EINVAL);
	cfg_gives(0, -1, LWP_EINVAL);
	cfg_gives(0, 0x7fff, LWP_EINVAL);
	cfg_gives(0, SIGURG, LWP_EINVAL);
	cfg_gives(SIGUSR1, SIGUSR1, LWP_EINVAL);
	cfg_gives(SIGUSR1, SIGURG, 0);
	/* The config wins over the environment. */
	setenv("LWP_DUMP_SIGNAL", "FOO", 1);
	cfg_gives(0, SIGUSR2, 0);
	unsetenv("LWP_DUMP_SIGNAL");
}

static void trace_takes_dump_signal(void *arg)
{
	lwp_trace_opts o = { .signal = SIGUSR1 };
	char path[] = "/tmp/lwp-dump-trace-XXXXXX";
	int fd = mkstemp(path);

	(void)arg;
	REQUIRE(fd >= 0, "mkstemp");
	close(fd);
	CHECK_RC(lwp_trace_start(path, &o),
		 LWP_TRACE ? LWP_EINVAL : LWP_ENOTSUP);
	unlink(path);
}

Test(dump, trace_cannot_take_the_dump_signal)
{
	lwp_config cfg = { .dump_signal = SIGUSR1 };

	T_RUN(&cfg, trace_takes_dump_signal, NULL);
}

/* ---- dumps while processes come, go and move ----------------------------- */

#define CHURN_ROUNDS (2000 / T_SLOW)
#define CHURN_DUMPS  (200 / T_SLOW)

static _Atomic bool churn_done;

/* Lives a little: a receive that times out, yields, a spin, then ends. */
void dump_test_churner(void *arg)
{
	uintptr_t n = (uintptr_t)arg;

	if (n & 1)
		lwp_msg_free(lwp_receive(NULL, NULL, 10000));
	for (uintptr_t i = 0; i < n % 5; i++)
		lwp_yield();
	for (volatile unsigned i = 0; i < (n % 7) * 1000; i++)
		;
}

static void churn_spawner(void *arg)
{
	(void)arg;
	for (uintptr_t i = 0; i < CHURN_ROUNDS; i++) {
		lwp_pid p = lwp_spawn(dump_test_churner, (void *)i);
		REQUIRE(p > 0, "spawn: %s", lwp_strerror((int)p));
		if (i % 16 == 0)
			lwp_yield();
	}
	atomic_store(&churn_done, true);
}

static void churn_dumper(void *arg)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	lwp_pid pids[64];
	void *frames[32];

	(void)arg;
	REQUIRE(fd >= 0, "open /dev/null");
	for (int i = 0; i < CHURN_DUMPS || !atomic_load(&churn_done); i++) {
		long n = lwp_process_dump(fd);
		CHECK(n > 0, "dump %d: %ld", i, n);
		n = lwp_processes(pids, 64);
		for (long k = 0; k < n && k < 64; k++) {
			long d = lwp_process_backtrace(pids[k], frames, 32);
			CHECK(d >= 0 || d == LWP_EBUSY || d == LWP_ENOPROC ||
				      d == LWP_ENOTSUP,
			      "backtrace of %s: %ld", lwp_pid_str(pids[k]).s,
			      d);
		}
		lwp_yield();
	}
	close(fd);
}

static void churn_main(void *arg)
{
	(void)arg;
	REQUIRE(lwp_spawn(churn_spawner, NULL) > 0, "spawn");
	REQUIRE(lwp_spawn(churn_spawner, NULL) > 0, "spawn");
	REQUIRE(lwp_spawn(churn_dumper, NULL) > 0, "spawn");
}

Test(dump, dumps_while_processes_churn)
{
	lwp_config cfg = { .schedulers = 2 };

	t_watchdog(300, "dumps while processes churn");
	T_RUN(&cfg, churn_main, NULL);
}
