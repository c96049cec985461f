/*
 * test_fault.c - faults in processes: isolated to the process with
 * lwp_config.isolate_faults, else a crash report and the end of the
 * program (run in a forked child, whose stderr and end are checked).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_common.h"

#include "lwp_config.h"

TestSuite(fault, .timeout = 120 * T_SLOW);

#define ARG_FN(arg) ((void (*)(void))(uintptr_t)(arg))
#define FN_ARG(fn)  ((void *)(uintptr_t)(fn))

/* ---- faults ------------------------------------------------------------- */

/* Through a volatile pointer, so that the compiler cannot see it is bad. */
static volatile int *volatile bad_pointer = (volatile int *)8;

static void null_write(void)
{
	*bad_pointer = 1;
}

static void bad_instruction(void)
{
#if defined(__x86_64__)
	__asm__ volatile("ud2");
#elif defined(__aarch64__)
	__asm__ volatile(".inst 0x00000000"); /* udf #0 */
#endif
}

/* Read a page of a file that was cut short under its mapping. */
static char *volatile bus_map;

static void bus_error(void)
{
	char path[] = "/tmp/lwp-bus-XXXXXX";
	int fd = mkstemp(path);

	REQUIRE(fd >= 0, "mkstemp");
	unlink(path);
	REQUIRE(ftruncate(fd, 4096) == 0, "ftruncate");
	bus_map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	REQUIRE(bus_map != MAP_FAILED, "mmap");
	REQUIRE(ftruncate(fd, 0) == 0, "ftruncate");
	close(fd);
	(void)*(volatile char *)bus_map;
}

#if defined(__x86_64__) && !defined(T_LSAN)
/* aarch64 divides by zero without a trap. */
/* Both volatile: gcc turns 1 / x into a compare, which cannot trap. */
static volatile int numerator = 7, zero, quotient;

static void divide_by_zero(void)
{
	quotient = numerator / zero;
}
#endif

/* ---- isolated ------------------------------------------------------------ */

static _Atomic int cleaned, reported;
static lwp_reason last_report;

static void cleanup(void *arg)
{
	(void)arg;
	atomic_fetch_add(&cleaned, 1);
}

static void on_report(lwp_pid pid, const char *name, const lwp_reason *r,
		      void *ctx)
{
	(void)pid, (void)name, (void)ctx;
	last_report = *r;
	atomic_fetch_add(&reported, 1);
}

static void faults(void *arg)
{
	CHECK_RC(lwp_on_exit(cleanup, NULL), 0);
	lwp_msg_free(RECV_TAG(1)); /* once monitored */
	ARG_FN(arg)();
	CHECK(false, "survived its fault");
}

static void echo(void *arg)
{
	lwp_msg *m;

	(void)arg;
	while ((m = lwp_receive(NULL, NULL, T_WAIT)) && m->tag != 0) {
		CHECK_RC(lwp_send(m->from, m->tag, NULL, 0), 0);
		lwp_msg_free(m);
	}
	lwp_msg_free(m);
}

struct fault_case {
	void (*fn)(void);
	const char *text; /* how the reason's text begins */
};

/* Each fault ends its process only, as often as it happens, on each
 * scheduler; a bystander keeps answering. */
static void isolates(void *arg)
{
	const struct fault_case *c = arg;
	lwp_pid bystander = lwp_spawn(echo, NULL);

	REQUIRE(bystander > 0, "spawn");
	for (int round = 0; round < 6; round++) {
		lwp_spawn_opts o = { .scheduler = LWP_ON_SCHEDULER(round % 2) };
		lwp_pid pid = lwp_spawn_opt(faults, FN_ARG(c->fn), &o);
		lwp_ref ref = lwp_monitor(pid);
		lwp_msg *m;
		const lwp_exit_info *x;

		REQUIRE(pid > 0 && ref > 0, "spawn and monitor");
		CHECK_RC(lwp_send(pid, 1, NULL, 0), 0);
		m = RECV_TAG(LWP_TAG_DOWN);
		x = lwp_exit_info_of(m);
		REQUIRE(x != NULL, "DOWN without exit info");
		CHECK(x->reason.code == LWP_EXIT_FAULT,
		      "round %d: ended with %d", round, x->reason.code);
		CHECK(strncmp(x->reason.text, c->text, strlen(c->text)) == 0,
		      "round %d: reason text '%s', want '%s...'", round,
		      x->reason.text, c->text);
		lwp_msg_free(m);
		CHECK_RC(lwp_send(bystander, 7 + (uint64_t)round, NULL, 0), 0);
		lwp_msg_free(RECV_TAG(7 + (uint64_t)round));
	}
	CHECK(atomic_load(&cleaned) == 6, "%d on-exit handlers ran, want 6",
	      atomic_load(&cleaned));
	CHECK(atomic_load(&reported) == 6, "%d reports, want 6",
	      atomic_load(&reported));
	CHECK(last_report.code == LWP_EXIT_FAULT, "reported %d",
	      last_report.code);
	CHECK_RC(lwp_send(bystander, 0, NULL, 0), 0);
}

static void run_isolated(const struct fault_case *c)
{
	lwp_config cfg = { .schedulers = 2, .isolate_faults = true };

	t_watchdog(60, "isolated faults");
	lwp_set_report_fn(on_report, NULL);
	T_RUN(&cfg, isolates, (void *)c);
	lwp_set_report_fn(NULL, NULL);
	if (bus_map)
		munmap(bus_map, 4096);
}

Test(fault, isolates_segv)
{
	run_isolated(&(struct fault_case){ null_write, "SIGSEGV at 0x8" });
}

Test(fault, isolates_sigill)
{
	run_isolated(&(struct fault_case){ bad_instruction, "SIGILL at " });
}

Test(fault, isolates_sigbus)
{
	run_isolated(&(struct fault_case){ bus_error, "SIGBUS at " });
}

Test(fault, isolates_abort)
{
	run_isolated(&(struct fault_case){ abort, "SIGABRT (abort)" });
}

Test(fault, isolates_sigfpe)
{
#if !defined(__x86_64__)
	cr_skip_test("integer division by zero does not trap on this CPU");
#elif defined(T_LSAN)
	cr_skip_test("UBSan catches the division by zero first (abort)");
#else
	run_isolated(&(struct fault_case){ divide_by_zero, "SIGFPE at " });
#endif
}

Test(fault, isolation_from_the_environment)
{
	setenv("LWP_ISOLATE_FAULTS", "2", 1);
	cr_assert_eq(lwp_main(NULL, echo, NULL), LWP_EINVAL);
	setenv("LWP_ISOLATE_FAULTS", "1", 1);
	t_watchdog(60, "isolated from the environment");
	lwp_set_report_fn(on_report, NULL);
	lwp_config cfg = { .schedulers = 2 };
	struct fault_case c = { null_write, "SIGSEGV" };

	T_RUN(&cfg, isolates, &c);
	unsetenv("LWP_ISOLATE_FAULTS");
}

/* ---- fatal: a crash report, then the program ends ----------------------- */

/* It ended abnormally: by the signal, or (under ASan, whose handler the
 * runtime passes the fault on to) by ASan's own end. */
static void assert_died(const struct t_child *c, int sig)
{
#ifdef T_LSAN
	(void)sig;
	cr_assert(WIFSIGNALED(c->status) || WEXITSTATUS(c->status) != 0,
		  "the child survived; its stderr:\n%s", c->out);
#else
	cr_assert(
		WIFSIGNALED(c->status) && WTERMSIG(c->status) == sig,
		"the child ended with status %#x, want signal %d; stderr:\n%s",
		c->status, sig, c->out);
#endif
}

static void assert_has(const struct t_child *c, const char *text)
{
	cr_assert_not_null(strstr(c->out, text), "no \"%s\" in:\n%s", text,
			   c->out);
}

static void (*crash_fn)(void);
static bool crash_unpreemptible;

static void crasher(void *arg)
{
	(void)arg;
	CHECK_RC(lwp_register("crasher", lwp_self()), 0);
	if (crash_unpreemptible)
		CHECK_RC(lwp_preempt_disable(), 0);
	crash_fn();
}

/* Two bystanders waiting, then the crasher. */
static void crash_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2; i++)
		REQUIRE(lwp_spawn(echo, NULL) > 0, "spawn");
	lwp_sleep(10 * MS);
	REQUIRE(lwp_spawn(crasher, NULL) > 0, "spawn");
	lwp_msg_free(lwp_receive(NULL, NULL, T_WAIT));
}

static bool crash_isolate;

static void crash_body(void)
{
	lwp_config cfg = { .schedulers = 1, .isolate_faults = crash_isolate };

	(void)lwp_main(&cfg, crash_main, NULL);
}

/* The report names the process and the fault, has a backtrace and the
 * process table. */
static void assert_report(const struct t_child *c, const char *what)
{
	assert_has(c, "=CRASH REPORT==== ");
	assert_has(c, what);
	assert_has(c, "in process <");
	assert_has(c, "(registered as 'crasher') on scheduler 0");
	assert_has(c, "\nbacktrace:\n");
	assert_has(c, "\nprocesses:\npid ");
	assert_has(c, " 'crasher'\n    running on scheduler 0\n");
	/* The bystanders, blocked in a receive: crash_main and two echoes. */
	int waiting = 0;
	for (const char *at = c->out; (at = strstr(at, " waiting ")); at++)
		waiting++;
	cr_assert_geq(waiting, 3, "%d waiting processes in:\n%s", waiting,
		      c->out);
	if (LWP_HAVE_UNWIND)
		assert_has(c, "\n    #2  0x");
	else
		assert_has(c, "\n    #0  0x");
	assert_has(c, "lwp: aborting\n");
}

/* A child whose crasher calls fn reports `what` and dies of sig. */
static void crash_reports(void (*fn)(void), const char *what, int sig)
{
	struct t_child c;

	crash_fn = fn;
	t_run_child(crash_body, &c);
	assert_report(&c, what);
	assert_died(&c, sig);
}

Test(fault, segv_reports_and_aborts)
{
	crash_reports(null_write, "lwp: SIGSEGV (address 0x8, pc ", SIGSEGV);
}

Test(fault, abort_reports_and_aborts)
{
	crash_reports(abort, "lwp: SIGABRT (address ", SIGABRT);
}

/* Isolation never covers code that may hold a lock. */
Test(fault, no_isolation_without_preemption)
{
	crash_isolate = true;
	crash_unpreemptible = true;
	crash_reports(null_write, "lwp: SIGSEGV (address 0x8, pc ", SIGSEGV);
}

/* A fault outside the schedulers is the host's business: no report. */
static void *thread_faults(void *arg)
{
	(void)arg;
	null_write();
	return NULL;
}

static void foreign_fault_main(void *arg)
{
	pthread_t t;

	(void)arg;
	REQUIRE(pthread_create(&t, NULL, thread_faults, NULL) == 0, "thread");
	lwp_msg_free(lwp_receive(NULL, NULL, T_WAIT));
}

/* A fault signal sent with kill() is no fault of the process running:
 * no report, and its default action (the host set none) ends the
 * program rather than the signal being lost. */
static void kill_segv_main(void *arg)
{
	(void)arg;
	kill(getpid(), SIGSEGV);
	lwp_sleep(T_WAIT); /* the signal ends the program first */
}

static void kill_segv_body(void)
{
	(void)lwp_main(NULL, kill_segv_main, NULL);
}

Test(fault, a_fault_signal_sent_by_kill_takes_its_default_action)
{
	struct t_child c;

	t_run_child(kill_segv_body, &c);
#ifndef T_LSAN /* ASan's handler is the host's: it reports and aborts */
	cr_assert_null(strstr(c.out, "CRASH REPORT"), "reported:\n%s", c.out);
#endif
	assert_died(&c, SIGSEGV);
}

static void foreign_fault_body(void)
{
	(void)lwp_main(NULL, foreign_fault_main, NULL);
}

Test(fault, foreign_thread_faults_are_not_reported)
{
	struct t_child c;

	t_run_child(foreign_fault_body, &c);
	cr_assert_null(strstr(c.out, "CRASH REPORT"), "reported:\n%s", c.out);
	assert_died(&c, SIGSEGV);
}
