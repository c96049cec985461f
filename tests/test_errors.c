/*
 * test_errors.c - every bad input the header documents, with its code, and
 * that a failed call changes nothing.
 */
#include <limits.h>
#include <pthread.h>
#include <sched.h>

#include "test_common.h"

TestSuite(errors, .timeout = 30 * T_SLOW);

static void nop(void *arg)
{
	(void)arg;
}

static _Atomic int ran;

static void mark(void *arg)
{
	(void)arg;
	atomic_store(&ran, 1);
}

/* A pid that cannot be one: zero, negative, generation 0, an index past
 * the largest table. */
static const lwp_pid malformed[] = {
	0,
	-5,
	LWP_NOPID,
	INT64_MIN,
	7,					/* generation 0 */
	((lwp_pid)1 << 32) | LWP_MAX_PROCS_MAX, /* index too big */
	((lwp_pid)1 << 32) | 0xffffffffu,
};
#define NMALFORMED (sizeof(malformed) / sizeof(malformed[0]))

/* ---- lwp_main -------------------------------------------------------------- */

Test(errors, main_null_fn)
{
	lwp_config cfg = { 0 };

	cr_assert_eq(lwp_main(NULL, NULL, NULL), LWP_EINVAL);
	cr_assert_eq(lwp_main(&cfg, NULL, NULL), LWP_EINVAL);
	T_RUN(NULL, mark, NULL); /* and it still starts */
	cr_assert_eq(atomic_load(&ran), 1);
}

Test(errors, main_bad_config)
{
	const lwp_config bad[] = {
		{ .stack_size = 1 },
		{ .stack_size = LWP_STACK_MIN - 1 },
		{ .stack_size = LWP_STACK_MAX + 1 },
		{ .stack_size = SIZE_MAX },
		{ .max_procs = LWP_MAX_PROCS_MAX + 1 },
		{ .max_procs = UINT32_MAX },
		{ .schedulers = LWP_SCHEDULERS_MAX + 1 },
		{ .schedulers = UINT_MAX },
		{ .pin = 2 },
		{ .pin = -2 },
		{ .pin = INT_MIN },
	};

	t_watchdog(20, "config");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = lwp_main(&bad[i], mark, NULL);
		cr_assert_eq(rc, LWP_EINVAL, "config %zu: %d (%s)", i, rc,
			     lwp_strerror(rc));
		cr_assert_eq(atomic_load(&ran), 0, "config %zu ran fn", i);
		cr_assert_eq(lwp_process_count(), 0);
	}
	/* The limits themselves are in range. */
	const lwp_config edge[] = {
		{ .stack_size = LWP_STACK_MIN },
		{ .stack_size = LWP_STACK_MAX },
		{ .max_procs = LWP_MAX_PROCS_MAX },
		{ .max_procs = 1 },
		{ .schedulers = 1 },
		{ .schedulers = 3, .pin = LWP_PIN_OFF },
		{ .pin = LWP_PIN_ON, .per_thread = true },
	};
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
		atomic_store(&ran, 0);
		T_RUN(&edge[i], mark, NULL);
		cr_assert_eq(atomic_load(&ran), 1, "edge config %zu", i);
	}
}

/* ---- spawn ------------------------------------------------------------------ */

static void bad_spawns(void *arg)
{
	lwp_spawn_opts o = { .stack_size = 0 };

	(void)arg;
	CHECK_RC(lwp_spawn(NULL, NULL), LWP_EINVAL);
	CHECK_RC(lwp_spawn_opt(NULL, NULL, &o), LWP_EINVAL);
	CHECK_RC(lwp_spawn_opt(NULL, NULL, NULL), LWP_EINVAL);
	o.stack_size = 1;
	CHECK_RC(lwp_spawn_opt(nop, NULL, &o), LWP_EINVAL);
	o.stack_size = SIZE_MAX;
	CHECK_RC(lwp_spawn_opt(nop, NULL, &o), LWP_EINVAL);
	o.stack_size = 0;
	o.scheduler = LWP_ON_SCHEDULER(lwp_scheduler_count());
	CHECK_RC(lwp_spawn_opt(nop, NULL, &o), LWP_EINVAL);
	o.scheduler = UINT_MAX;
	CHECK_RC(lwp_spawn_opt(nop, NULL, &o), LWP_EINVAL);
	CHECK_RC(lwp_process_count(), 1);
}

Test(errors, spawn_bad_arguments)
{
	t_watchdog(20, "spawn");
	T_RUN(NULL, bad_spawns, NULL);
}

/* ---- timeouts ----------------------------------------------------------------- */

static void bad_timeouts(void *arg)
{
	static const int64_t bad[] = { -2, -1000, INT64_MIN };
	lwp_pid self = lwp_self();

	(void)arg;
	CHECK_RC(lwp_send(self, 1, NULL, 0), 0);
	for (int i = 0; i < 3; i++) {
		CHECK(lwp_receive(NULL, NULL, bad[i]) == NULL, "receive(%lld)",
		      (long long)bad[i]);
		CHECK_RC(lwp_last_error(), LWP_EINVAL);
		CHECK(lwp_receive_tag(1, bad[i]) == NULL, "receive_tag");
		CHECK_RC(lwp_last_error(), LWP_EINVAL);
		CHECK(lwp_receive_from(self, bad[i]) == NULL, "receive_from");
		CHECK_RC(lwp_last_error(), LWP_EINVAL);
		CHECK_RC(lwp_sleep(bad[i]), LWP_EINVAL);
	}
	CHECK_RC(lwp_sleep(-1), LWP_EINVAL); /* ns < 0, LWP_INFINITY too */
	/* The message is still there. */
	CHECK_RC(lwp_mailbox_size(), 1);
	lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
	CHECK(m != NULL && m->tag == 1, "the message");
	lwp_msg_free(m);
}

Test(errors, negative_timeouts)
{
	t_watchdog(20, "timeouts");
	T_RUN(NULL, bad_timeouts, NULL);
}

/* ---- send ---------------------------------------------------------------------- */

static void bad_sends(void *arg)
{
	lwp_pid self = lwp_self();
	char buf[16] = "x";

	(void)arg;
	lwp_pid dead = lwp_spawn(nop, NULL);
	REQUIRE(dead > 0, "spawn");
	t_wait_dead(dead);
	CHECK_RC(lwp_send(dead, 1, buf, 2), LWP_ENOPROC);
	CHECK_RC(lwp_send(dead, 1, NULL, 0), LWP_ENOPROC);
	for (size_t i = 0; i < NMALFORMED; i++) {
		CHECK(lwp_send(malformed[i], 1, buf, 2) == LWP_EBADPID,
		      "send to %lld: %s", (long long)malformed[i],
		      lwp_strerror(lwp_send(malformed[i], 1, buf, 2)));
		CHECK(!lwp_is_alive(malformed[i]), "alive");
	}
	/* A well-formed pid nobody ever had. */
	CHECK_RC(lwp_send(((lwp_pid)1 << 32) | (LWP_MAX_PROCS_MAX - 1), 1, NULL,
			  0),
		 LWP_ENOPROC);
	CHECK_RC(lwp_send(((lwp_pid)12345 << 32) | 0, 1, NULL, 0), LWP_ENOPROC);
	CHECK_RC(lwp_send(self, 1, NULL, 1), LWP_EINVAL);
	CHECK_RC(lwp_send(self, 1, NULL, SIZE_MAX), LWP_EINVAL);
	CHECK_RC(lwp_send(self, 1, buf, LWP_MSG_MAX + 1), LWP_ENOMEM);
	CHECK_RC(lwp_send(self, 1, buf, SIZE_MAX), LWP_ENOMEM);
	CHECK_RC(lwp_send(self, 1, buf, SIZE_MAX - 8), LWP_ENOMEM);
	CHECK_RC(lwp_mailbox_size(), 0); /* nothing was delivered */
	CHECK(lwp_receive(NULL, NULL, 0) == NULL, "delivered");
	CHECK_RC(lwp_send_msg(self, 1, NULL), LWP_EINVAL);
	CHECK(lwp_msg_alloc(LWP_MSG_MAX + 1) == NULL, "alloc too big");
	CHECK_RC(lwp_last_error(), LWP_ENOMEM);
	CHECK(lwp_msg_alloc(SIZE_MAX) == NULL, "alloc SIZE_MAX");
	CHECK_RC(lwp_last_error(), LWP_ENOMEM);
	lwp_msg *m = lwp_msg_alloc(8);
	CHECK(m != NULL, "alloc");
	CHECK_RC(lwp_last_error(), LWP_OK);
	for (size_t i = 0; i < NMALFORMED; i++)
		CHECK_RC(lwp_send_msg(malformed[i], 1, m), LWP_EBADPID);
	CHECK_RC(lwp_send_msg(dead, 1, m), LWP_ENOPROC);
	lwp_msg_free(m); /* still ours */
}

Test(errors, send_bad_arguments)
{
	t_watchdog(20, "send");
	T_RUN(NULL, bad_sends, NULL);
}

/* ---- outside a process --------------------------------------------------------- */

/* Every process-only call, from a thread that is not a process. */
static void not_in_a_process(void)
{
	CHECK(lwp_receive(NULL, NULL, 0) == NULL, "receive");
	CHECK_RC(lwp_last_error(), LWP_ENOTPROC);
	CHECK(lwp_receive(NULL, NULL, LWP_INFINITY) == NULL, "receive inf");
	CHECK_RC(lwp_last_error(), LWP_ENOTPROC);
	CHECK(lwp_receive_tag(1, 1000) == NULL, "receive_tag");
	CHECK_RC(lwp_last_error(), LWP_ENOTPROC);
	CHECK(lwp_receive_from(((lwp_pid)1 << 32) | 1, 0) == NULL,
	      "receive_from");
	CHECK_RC(lwp_last_error(), LWP_ENOTPROC);
	CHECK_RC(lwp_self(), LWP_ENOTPROC);
	CHECK_RC(lwp_yield(), LWP_ENOTPROC);
	CHECK_RC(lwp_sleep(0), LWP_ENOTPROC);
	CHECK_RC(lwp_sleep(1000), LWP_ENOTPROC);
	CHECK_RC(lwp_exit(0), LWP_ENOTPROC);
	CHECK_RC(lwp_exit(7), LWP_ENOTPROC);
	CHECK_RC(lwp_mailbox_size(), LWP_ENOTPROC);
	CHECK_RC(lwp_flush(NULL, NULL), LWP_ENOTPROC);
	CHECK_RC(lwp_scheduler_id(), LWP_ENOTPROC);
	/* lwp_last_error() is per thread here: a success resets it. */
	lwp_msg *m = lwp_msg_alloc(1);
	CHECK(m != NULL, "alloc outside a process");
	CHECK_RC(lwp_last_error(), LWP_OK);
	lwp_msg_free(m);
}

Test(errors, outside_a_process_when_stopped)
{
	not_in_a_process();
	T_CHECKED();
}

static void *foreign_thread(void *arg)
{
	(void)arg;
	not_in_a_process();
	return NULL;
}

static void foreign(void *arg)
{
	pthread_t t;

	(void)arg;
	REQUIRE(pthread_create(&t, NULL, foreign_thread, NULL) == 0,
		"pthread_create");
	REQUIRE(pthread_join(t, NULL) == 0, "join");
}

Test(errors, outside_a_process_while_running)
{
	t_watchdog(20, "foreign thread");
	T_RUN(NULL, foreign, NULL);
}

/* ---- the runtime not running ------------------------------------------------------ */

Test(errors, not_running)
{
	lwp_pid some = ((lwp_pid)1 << 32) | 1;

	for (int round = 0; round < 2; round++) {
		cr_assert_eq(lwp_send(some, 1, "x", 2), LWP_ENOTRUNNING);
		cr_assert_eq(lwp_send(some, 1, NULL, 0), LWP_ENOTRUNNING);
		lwp_msg *m = lwp_msg_alloc(4);
		cr_assert_not_null(m);
		cr_assert_eq(lwp_send_msg(some, 1, m), LWP_ENOTRUNNING);
		lwp_msg_free(m);
		cr_assert_eq(lwp_spawn(nop, NULL), LWP_ENOTRUNNING);
		cr_assert_eq(lwp_spawn_opt(nop, NULL, NULL), LWP_ENOTRUNNING);
		cr_assert_eq(lwp_register("n", some), LWP_ENOTRUNNING);
		cr_assert_eq(lwp_stop(), LWP_ENOTRUNNING);
		cr_assert_eq(lwp_process_count(), 0);
		cr_assert_eq(lwp_scheduler_count(), 0);
		cr_assert_not(lwp_is_alive(some));
		/* The same after a run. */
		T_RUN(NULL, nop, NULL);
	}
}

/* ---- lwp_start ---------------------------------------------------------------------- */

static void start_inside(void *arg)
{
	(void)arg;
	CHECK_RC(lwp_start(NULL), LWP_ERUNNING);
	CHECK_RC(lwp_main(NULL, nop, NULL), LWP_ERUNNING);
}

Test(errors, start_errors)
{
	const lwp_config bad = { .pin = 5 };

	t_watchdog(20, "lwp_start");
	cr_assert_eq(lwp_start(&bad), LWP_EINVAL);
	cr_assert_eq(lwp_scheduler_count(), 0);
	cr_assert_eq(lwp_start(NULL), 0);
	cr_assert_eq(lwp_start(NULL), LWP_ERUNNING);
	cr_assert_eq(lwp_main(NULL, nop, NULL), LWP_ERUNNING);
	cr_assert_gt(lwp_spawn(start_inside, NULL), 0);
	while (lwp_process_count() > 0)
		sched_yield();
	cr_assert_eq(lwp_stop(), 0);
	cr_assert_eq(lwp_stop(), LWP_ENOTRUNNING);
	T_RUN(NULL, nop, NULL); /* and lwp_main works after it */
	T_CHECKED();
}

/* ---- lwp_strerror ------------------------------------------------------------------ */

Test(errors, strerror_names_every_code)
{
	const char *unknown = lwp_strerror(-1000);
	/* LWP_EBUSY is the last code. */
	const char *names[1 - LWP_EBUSY];

	cr_assert_not_null(unknown);
	cr_assert_gt(strlen(unknown), 0);
	for (int code = 0; code >= LWP_EBUSY; code--) {
		const char *s = lwp_strerror(code);
		cr_assert_not_null(s, "code %d", code);
		cr_assert_gt(strlen(s), 0, "code %d", code);
		cr_assert_str_neq(s, unknown, "code %d is \"%s\"", code, s);
		for (int k = 0; k < -code; k++)
			cr_assert_str_neq(s, names[k],
					  "codes %d and %d: \"%s\"", code, -k,
					  s);
		names[-code] = s;
	}
	const int odd[] = { 1, 42, LWP_EBUSY - 1, -100, INT_MIN, INT_MAX };
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		const char *s = lwp_strerror(odd[i]);
		cr_assert_not_null(s, "code %d", odd[i]);
		cr_assert_gt(strlen(s), 0, "code %d", odd[i]);
	}
}

/* ---- pid text -------------------------------------------------------------------------- */

Test(errors, pid_str_of_malformed_pids)
{
	for (size_t i = 0; i < NMALFORMED; i++)
		cr_expect_str_eq(lwp_pid_str(malformed[i]).s, "<bad pid>",
				 "lwp_pid_str(%#llx) (lwp_send says EBADPID)",
				 (unsigned long long)malformed[i]);
}
