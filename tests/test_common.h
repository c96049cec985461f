/*
 * test_common.h - helpers shared by the Criterion suites that run the
 * runtime (test_proc.c, test_message.c, ...).
 *
 * Criterion leaves a failed cr_assert() with longjmp, which must not happen
 * on a process's own stack (or on a foreign thread).  So code that runs
 * inside a process or on a foreign thread uses CHECK()/REQUIRE(): a failed
 * check is recorded (the first one with its message) and the test body
 * asserts on the record once lwp_main() has returned (T_RUN, T_CHECKED).
 * REQUIRE() also stops the runtime and ends the calling process, for
 * checks whose failure leaves nothing sensible to do.
 *
 * Every test that waits for something arms a watchdog (t_watchdog): a hang
 * (a lost wakeup) aborts the test with a message that says what it was
 * waiting for and, for seeded tests, the seed.
 */
#ifndef LWP_TEST_COMMON_H
#define LWP_TEST_COMMON_H

#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lwp.h"

/* Sanitizer and qemu builds are slower: LWP_TEST_SCALE_DOWN divides the
 * big counts and T_SLOW stretches the watchdogs, and with them each suite's
 * Criterion .timeout, the backstop that must not fire before them. */
#ifdef LWP_TEST_SCALE_DOWN
#define T_SLOW 5
#else
#define T_SLOW 1
#endif

#define MS  ((int64_t)1000000)
#define SEC ((int64_t)1000000000)
/* How long a receive that must succeed waits before it counts as lost. */
#define T_WAIT (10 * SEC * T_SLOW)

/* ---- failure record ---------------------------------------------------- */

static _Atomic int t_failures;
static char t_first[1024];

__attribute__((format(printf, 4, 5), unused)) static void
t_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (atomic_fetch_add(&t_failures, 1) != 0)
		return;
	n = snprintf(t_first, sizeof(t_first),
		     "%s:%d: CHECK(%s) failed: ", file, line, expr);
	if (n < 0 || (size_t)n >= sizeof(t_first))
		return;
	va_start(ap, fmt);
	vsnprintf(t_first + n, sizeof(t_first) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Record a failure unless cond holds; the message is a printf format. */
#define CHECK(cond, ...)                                                \
	do {                                                            \
		if (!(cond))                                            \
			t_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

/* CHECK, and on failure stop the runtime and end the calling process. */
#define REQUIRE(cond, ...)                                              \
	do {                                                            \
		if (!(cond)) {                                          \
			t_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
			lwp_stop();                                     \
			lwp_exit(1);                                    \
			abort(); /* REQUIRE outside a process */        \
		}                                                       \
	} while (0)

#include "check_rc.h"

/* In the test body, after the runtime has stopped. */
#define T_CHECKED()                                                    \
	cr_assert_eq(atomic_load(&t_failures), 0,                      \
		     "%d check(s) failed in processes; the first: %s", \
		     atomic_load(&t_failures), t_first)

/*
 * Under ASan, fail the test if anything leaked so far: LeakSanitizer's own
 * report at exit comes after Criterion has counted the test as passed.
 */
#if defined(__SANITIZE_ADDRESS__)
#define T_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_LSAN 1
#endif
#endif
#ifdef T_LSAN
#include <sanitizer/lsan_interface.h>
#define T_NO_LEAKS()                                        \
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, \
		     "LeakSanitizer found leaks (its report is above)")
#else
#define T_NO_LEAKS() ((void)0)
#endif

/* Run the runtime to its end and assert that it went well (and, under
 * ASan, that it left no leak behind). */
#define T_RUN(cfg, fn, arg)                                            \
	do {                                                           \
		int rc_ = lwp_main((cfg), (fn), (arg));                \
		T_CHECKED();                                           \
		cr_assert_eq(rc_, 0, "lwp_main returned %d (%s)", rc_, \
			     lwp_strerror(rc_));                       \
		cr_assert_eq(lwp_process_count(), 0);                  \
		T_NO_LEAKS();                                          \
	} while (0)

/* ---- watchdog ----------------------------------------------------------- */

static char t_wd_msg[512];
static size_t t_wd_len;

static void t_wd_fire(int sig)
{
	ssize_t w;

	(void)sig;
	w = write(STDERR_FILENO, t_wd_msg, t_wd_len);
	(void)w;
	abort();
}

/* Abort the test after secs (times T_SLOW) seconds, printing what it was
 * doing. */
__attribute__((format(printf, 2, 3), unused)) static void
t_watchdog(unsigned secs, const char *fmt, ...)
{
	va_list ap;
	int n;

	secs *= T_SLOW;
	n = snprintf(t_wd_msg, sizeof(t_wd_msg), "watchdog (%u s): ", secs);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(t_wd_msg))
		n += vsnprintf(t_wd_msg + n, sizeof(t_wd_msg) - (size_t)n, fmt,
			       ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(t_wd_msg) - 1)
		n = (int)sizeof(t_wd_msg) - 2;
	t_wd_msg[n++] = '\n';
	t_wd_len = (size_t)n;
	signal(SIGALRM, t_wd_fire);
	alarm(secs);
}

/* ---- odds and ends ------------------------------------------------------ */

/* xorshift64*: a small seeded PRNG (never seed with 0). */
static inline uint64_t t_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Receive a message that must come (within T_WAIT); REQUIRE it did. */
#define RECV(match, ctx)                                           \
	({                                                         \
		lwp_msg *m_ = lwp_receive((match), (ctx), T_WAIT); \
		REQUIRE(m_ != NULL, "receive: %s",                 \
			lwp_strerror(lwp_last_error()));           \
		m_;                                                \
	})
#define RECV_TAG(tag)                       \
	({                                  \
		uint64_t tag_ = (tag);      \
		RECV(lwp_match_tag, &tag_); \
	})

/* Wait until pid has exited: yield once, then poll every 50 us (sleeping,
 * so that the scheduler also runs timers meanwhile). */
__attribute__((unused)) static void t_wait_dead(lwp_pid pid)
{
	int64_t end = lwp_now() + T_WAIT;

	if (!lwp_is_alive(pid))
		return;
	lwp_yield();
	while (lwp_is_alive(pid)) {
		REQUIRE(lwp_now() < end, "%s did not exit", lwp_pid_str(pid).s);
		lwp_sleep(50000);
	}
}

/* pid's description once ok() holds of it, polled every 100 us (sleeping,
 * so that this scheduler runs others meanwhile); REQUIRE it comes. */
__attribute__((unused)) static lwp_proc_info
t_wait_info(lwp_pid pid, bool (*ok)(const lwp_proc_info *))
{
	int64_t end = lwp_now() + T_WAIT;
	lwp_proc_info in;

	for (;;) {
		REQUIRE(lwp_process_info(pid, &in) == 0, "%s vanished",
			lwp_pid_str(pid).s);
		if (ok(&in))
			return in;
		REQUIRE(lwp_now() < end, "%s stays %s", lwp_pid_str(pid).s,
			lwp_status_name((int)in.status));
		lwp_sleep(100000);
	}
}

__attribute__((unused)) static bool t_is_waiting(const lwp_proc_info *in)
{
	return in->status == LWP_STATUS_WAITING;
}

/* It was switched in at least once (a spinner: it spins). */
__attribute__((unused)) static bool t_has_run(const lwp_proc_info *in)
{
	return in->scheduler >= 0;
}

/* ---- child programs ---------------------------------------------------- */

/* What a forked child wrote on stderr, and how it ended. */
struct t_child {
	char out[65536];
	int status;
};

/* Run body() in a forked child, for what ends or takes over a program
 * (crash reports, dumps on a signal); collect its stderr and status. */
__attribute__((unused)) static void t_run_child(void (*body)(void),
						struct t_child *c)
{
	int fds[2];
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0, "fork");
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		body();
		_exit(0);
	}
	close(fds[1]);
	/* To the end, keeping what fits: a child blocked on a full pipe
	 * would never exit. */
	for (;;) {
		char *at = c->out + len, rest[4096];
		size_t room = sizeof(c->out) - 1 - len;

		n = read(fds[0], room ? at : rest, room ? room : sizeof(rest));
		if (n <= 0)
			break;
		if (room)
			len += (size_t)n;
	}
	c->out[len] = '\0';
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &c->status, 0), pid);
}

#endif /* LWP_TEST_COMMON_H */
