/*
 * test_registry.c - registered names: register, whereis, unregister,
 * send_name, registered, and their errors.
 */
#include <inttypes.h>
#include <pthread.h>

#include "test_common.h"

TestSuite(registry, .timeout = 30 * T_SLOW);

enum {
	GO = 1,
	DONE = 2
};

static void waits_for_go(void *arg)
{
	(void)arg;
	lwp_msg *m = lwp_receive_tag(GO, LWP_INFINITY);
	lwp_msg_free(m);
}

static lwp_pid spawn_waiter(void)
{
	lwp_pid p = lwp_spawn(waits_for_go, NULL);

	REQUIRE(p > 0, "spawn: %s", lwp_strerror((int)p));
	return p;
}

static void release(lwp_pid p)
{
	CHECK_RC(lwp_send(p, GO, NULL, 0), 0);
	t_wait_dead(p);
}

/* ---- register, whereis, unregister, send_name ----------------------------- */

static void basics(void *arg)
{
	lwp_pid self = lwp_self();

	(void)arg;
	lwp_pid a = spawn_waiter();
	CHECK_RC(lwp_whereis("a"), LWP_ENOTREG);
	CHECK_RC(lwp_register("a", a), 0);
	CHECK_RC(lwp_whereis("a"), a);
	CHECK_RC(lwp_register("me", self), 0);
	CHECK_RC(lwp_whereis("me"), self);
	/* send_name reaches the process. */
	CHECK_RC(lwp_send_name("me", 7, "x", 2), 0);
	lwp_msg *m = RECV_TAG(7);
	CHECK(m->from == self && m->size == 2, "send_name");
	lwp_msg_free(m);
	CHECK_RC(lwp_send_name("nobody", 7, NULL, 0), LWP_ENOTREG);
	/* unregister: the name goes, the process stays, and it may take a
	 * new name. */
	CHECK_RC(lwp_unregister("a"), 0);
	CHECK_RC(lwp_whereis("a"), LWP_ENOTREG);
	CHECK_RC(lwp_unregister("a"), LWP_ENOTREG);
	CHECK_RC(lwp_send_name("a", 7, NULL, 0), LWP_ENOTREG);
	CHECK(lwp_is_alive(a), "unregister killed it");
	CHECK_RC(lwp_register("a2", a), 0);
	CHECK_RC(lwp_register("a", self), LWP_EREGISTERED);
	/* And the old name can go to someone else. */
	lwp_pid b = spawn_waiter();
	CHECK_RC(lwp_register("a", b), 0);
	CHECK_RC(lwp_whereis("a"), b);
	release(a);
	release(b);
	CHECK_RC(lwp_unregister("me"), 0);
}

Test(registry, register_whereis_unregister_send_name)
{
	t_watchdog(20, "registry basics");
	T_RUN(NULL, basics, NULL);
}

static void freed_on_exit(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++) {
		lwp_pid p = spawn_waiter();
		CHECK_RC(lwp_register("worker", p), 0);
		CHECK_RC(lwp_whereis("worker"), p);
		release(p);
		CHECK_RC(lwp_whereis("worker"), LWP_ENOTREG);
		CHECK_RC(lwp_send_name("worker", 1, NULL, 0), LWP_ENOTREG);
		CHECK_RC(lwp_registered(NULL, 0), 0);
	}
	/* A process that exits with messages queued. */
	lwp_pid p = spawn_waiter();
	CHECK_RC(lwp_register("w", p), 0);
	CHECK_RC(lwp_send_name("w", 5, "junk", 5), 0);
	release(p);
	CHECK_RC(lwp_register("w", lwp_self()), 0);
	CHECK_RC(lwp_whereis("w"), lwp_self());
}

Test(registry, name_is_freed_when_its_process_exits)
{
	t_watchdog(20, "names of exited processes");
	T_RUN(NULL, freed_on_exit, NULL);
}

static void one_name_each(void *arg)
{
	lwp_pid self = lwp_self();

	(void)arg;
	lwp_pid a = spawn_waiter(), b = spawn_waiter();
	CHECK_RC(lwp_register("x", a), 0);
	CHECK_RC(lwp_register("y", a), LWP_EREGISTERED);
	CHECK_RC(lwp_whereis("y"), LWP_ENOTREG);
	CHECK_RC(lwp_register("x", b), LWP_ENAMETAKEN);
	CHECK_RC(lwp_register("x", self), LWP_ENAMETAKEN);
	CHECK_RC(lwp_whereis("x"), a);
	CHECK_RC(lwp_registered(NULL, 0), 1);
	release(a);
	release(b);
}

Test(registry, one_name_per_process_and_per_name)
{
	t_watchdog(20, "EREGISTERED / ENAMETAKEN");
	T_RUN(NULL, one_name_each, NULL);
}

/* ---- name lengths and bad arguments --------------------------------------- */

static void names(void *arg)
{
	lwp_pid self = lwp_self();
	char n63[64], n64[65], n200[201];

	(void)arg;
	memset(n63, 'a', 63);
	n63[63] = 0;
	memset(n64, 'b', 64);
	n64[64] = 0;
	memset(n200, 'c', 200);
	n200[200] = 0;
	CHECK_RC(lwp_register("", self), LWP_ENAME);
	CHECK_RC(lwp_register(n64, self), LWP_ENAME);
	CHECK_RC(lwp_register(n200, self), LWP_ENAME);
	CHECK_RC(lwp_register(NULL, self), LWP_EINVAL);
	CHECK_RC(lwp_registered(NULL, 0), 0);
	CHECK_RC(lwp_register(n63, self), 0);
	CHECK_RC(lwp_whereis(n63), self);

	CHECK_RC(lwp_whereis(""), LWP_ENAME);
	CHECK_RC(lwp_whereis(n64), LWP_ENAME);
	CHECK_RC(lwp_whereis(NULL), LWP_EINVAL);
	CHECK_RC(lwp_unregister(""), LWP_ENAME);
	CHECK_RC(lwp_unregister(n64), LWP_ENAME);
	CHECK_RC(lwp_unregister(NULL), LWP_EINVAL);
	CHECK_RC(lwp_send_name("", 1, NULL, 0), LWP_ENAME);
	CHECK_RC(lwp_send_name(n64, 1, NULL, 0), LWP_ENAME);
	CHECK_RC(lwp_send_name(NULL, 1, NULL, 0), LWP_EINVAL);
	CHECK_RC(lwp_send_name(n63, 1, NULL, 5), LWP_EINVAL);
	CHECK_RC(lwp_mailbox_size(), 0);

	lwp_reg_entry e;
	CHECK_RC(lwp_registered(&e, 1), 1);
	CHECK(strcmp(e.name, n63) == 0 && e.pid == self, "entry %s", e.name);
}

Test(registry, name_lengths_and_null)
{
	t_watchdog(20, "names");
	T_RUN(NULL, names, NULL);
}

static void bad_pids(void *arg)
{
	(void)arg;
	lwp_pid dead = spawn_waiter();
	release(dead);
	CHECK_RC(lwp_register("dead", dead), LWP_ENOPROC);
	CHECK_RC(lwp_whereis("dead"), LWP_ENOTREG);
	CHECK_RC(lwp_register("p", 0), LWP_EBADPID);
	CHECK_RC(lwp_register("p", -5), LWP_EBADPID);
	CHECK_RC(lwp_register("p", 7), LWP_EBADPID); /* generation 0 */
	CHECK_RC(lwp_register("p", ((lwp_pid)1 << 32) | LWP_MAX_PROCS_MAX),
		 LWP_EBADPID);
	CHECK_RC(lwp_registered(NULL, 0), 0);
}

Test(registry, dead_and_malformed_pids)
{
	t_watchdog(20, "bad pids");
	T_RUN(NULL, bad_pids, NULL);
}

/* ---- lwp_registered --------------------------------------------------------- */

static void lists(void *arg)
{
	static const char *order[] = { "delta", "alpha", "echo", "charlie",
				       "bravo" };
	static const char *sorted[] = { "alpha", "bravo", "charlie", "delta",
					"echo" };
	lwp_pid pids[5];
	lwp_reg_entry out[8];

	(void)arg;
	for (int i = 0; i < 5; i++) {
		pids[i] = spawn_waiter();
		CHECK_RC(lwp_register(order[i], pids[i]), 0);
	}
	CHECK_RC(lwp_registered(NULL, 0), 5);
	/* All of them, sorted. */
	memset(out, 0x55, sizeof(out));
	CHECK_RC(lwp_registered(out, 8), 5);
	for (int i = 0; i < 5; i++) {
		CHECK(strcmp(out[i].name, sorted[i]) == 0, "out[%d] = %.64s", i,
		      out[i].name);
		int k = 0;
		while (k < 5 && strcmp(order[k], sorted[i]) != 0)
			k++;
		CHECK(k < 5 && out[i].pid == pids[k], "pid of %s", sorted[i]);
	}
	CHECK(out[5].pid == (lwp_pid)0x5555555555555555ll,
	      "wrote past the names");
	/* A small cap: the first ones, and the count of all. */
	memset(out, 0x55, sizeof(out));
	CHECK_RC(lwp_registered(out, 2), 5);
	CHECK(strcmp(out[0].name, "alpha") == 0 &&
		      strcmp(out[1].name, "bravo") == 0,
	      "first two");
	CHECK(out[2].pid == (lwp_pid)0x5555555555555555ll, "wrote past cap");
	CHECK_RC(lwp_registered(out, 0), 5);
	for (int i = 0; i < 5; i++)
		release(pids[i]);
	CHECK_RC(lwp_registered(out, 8), 0);
}

Test(registry, registered_is_sorted_and_counts_all)
{
	t_watchdog(20, "lwp_registered");
	T_RUN(NULL, lists, NULL);
}

/* Many names: the table grows; everything stays findable. */
static void many(void *arg)
{
	enum {
		N = 3000
	};
	static lwp_pid pids[N];
	char name[32];

	(void)arg;
	for (int i = 0; i < N; i++) {
		pids[i] = spawn_waiter();
		snprintf(name, sizeof(name), "p%05d", i);
		CHECK_RC(lwp_register(name, pids[i]), 0);
	}
	CHECK_RC(lwp_registered(NULL, 0), N);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "p%05d", i);
		CHECK_RC(lwp_whereis(name), pids[i]);
	}
	for (int i = 0; i < N; i += 2)
		release(pids[i]);
	CHECK_RC(lwp_registered(NULL, 0), N / 2);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "p%05d", i);
		CHECK_RC(lwp_whereis(name), i % 2 ? pids[i] : LWP_ENOTREG);
	}
	for (int i = 1; i < N; i += 2)
		release(pids[i]);
}

Test(registry, many_names)
{
	t_watchdog(30, "3000 names");
	T_RUN(NULL, many, NULL);
}

/* ---- foreign threads, and the runtime not running -------------------------- */

static void *registers_from_thread(void *arg)
{
	lwp_pid p = (lwp_pid)(intptr_t)arg;

	CHECK_RC(lwp_register("foreign", p), 0);
	CHECK_RC(lwp_whereis("foreign"), p);
	CHECK_RC(lwp_send_name("foreign", DONE, "t", 2), 0);
	return NULL;
}

static void foreign(void *arg)
{
	pthread_t t;

	(void)arg;
	REQUIRE(pthread_create(&t, NULL, registers_from_thread,
			       (void *)(intptr_t)lwp_self()) == 0,
		"pthread_create");
	lwp_msg *m = RECV_TAG(DONE);
	CHECK(m->from == LWP_NOPID, "from a foreign thread");
	lwp_msg_free(m);
	REQUIRE(pthread_join(t, NULL) == 0, "join");
	CHECK_RC(lwp_unregister("foreign"), 0);
}

Test(registry, from_a_foreign_thread)
{
	t_watchdog(20, "registry from a foreign thread");
	T_RUN(NULL, foreign, NULL);
}

static void registers_then_stops(void *arg)
{
	(void)arg;
	CHECK_RC(lwp_register("stays", lwp_self()), 0);
	lwp_pid p = spawn_waiter();
	CHECK_RC(lwp_register("blocked", p), 0);
	CHECK_RC(lwp_stop(), 0);
}

static void finds_nothing(void *arg)
{
	(void)arg;
	CHECK_RC(lwp_whereis("stays"), LWP_ENOTREG);
	CHECK_RC(lwp_whereis("blocked"), LWP_ENOTREG);
	CHECK_RC(lwp_registered(NULL, 0), 0);
	CHECK_RC(lwp_register("stays", lwp_self()), 0);
}

Test(registry, not_running)
{
	t_watchdog(20, "registry while stopped");
	cr_assert_eq(lwp_register("x", ((lwp_pid)1 << 32) | 1),
		     LWP_ENOTRUNNING);
	cr_assert_eq(lwp_registered(NULL, 0), 0);
	cr_assert_eq(lwp_whereis("x"), LWP_ENOTREG);
	cr_assert_eq(lwp_send_name("x", 1, NULL, 0), LWP_ENOTREG);
	cr_assert_eq(lwp_unregister("x"), LWP_ENOTREG);
	/* Bad names are still bad. */
	cr_assert_eq(lwp_register("", 1), LWP_ENAME);
	cr_assert_eq(lwp_register(NULL, 1), LWP_EINVAL);
	/* Names do not outlive the run that registered them. */
	T_RUN(NULL, registers_then_stops, NULL);
	cr_assert_eq(lwp_whereis("stays"), LWP_ENOTREG);
	cr_assert_eq(lwp_registered(NULL, 0), 0);
	T_RUN(NULL, finds_nothing, NULL);
}
