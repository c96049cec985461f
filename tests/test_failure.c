/*
 * test_failure.c - exit reasons, links, exit signals, trap_exits, lwp_kill,
 * monitors, on-exit handlers and error reports.
 */
#include <inttypes.h>
#include <pthread.h>

#include "test_common.h"

TestSuite(failure, .timeout = 60 * T_SLOW);

enum {
	GO = 1000,
	READY = 1001,
	CHAIN_LEN = 10000,
};

#define ARG_PID(arg) ((lwp_pid)(intptr_t)(arg))
#define PID_ARG(pid) ((void *)(intptr_t)(pid))

/* The DOWN message of ref; REQUIRE it comes.  Returns its reason code. */
static int down_code(lwp_ref ref, lwp_pid pid)
{
	lwp_msg *m = RECV_TAG(LWP_TAG_DOWN);
	const lwp_exit_info *x = lwp_exit_info_of(m);
	int code;

	REQUIRE(x != NULL, "a DOWN without exit info");
	CHECK(x->ref == ref, "ref %" PRId64 ", want %" PRId64, x->ref, ref);
	CHECK(x->pid == pid && m->from == pid, "DOWN from %s, want %s",
	      lwp_pid_str(x->pid).s, lwp_pid_str(pid).s);
	code = x->reason.code;
	lwp_msg_free(m);
	return code;
}

/* Run fn(arg) in a process (monitored from birth) and return the code it
 * ends with. */
static int exit_code_of(void (*fn)(void *), void *arg)
{
	lwp_ref ref;
	lwp_pid pid = lwp_spawn_monitor(fn, arg, &ref);

	REQUIRE(pid > 0, "spawn_monitor: %s", lwp_strerror((int)pid));
	return down_code(ref, pid);
}

static void wait_go_then_exit(void *arg)
{
	lwp_msg_free(RECV_TAG(GO));
	lwp_exit_text((int)(intptr_t)arg, "boom!");
}

static void waits_forever(void *arg)
{
	(void)arg;
	lwp_msg_free(lwp_receive(NULL, NULL, LWP_INFINITY));
	CHECK(false, "a killed process received");
}

static void returns(void *arg)
{
	(void)arg;
}

/* ---- links ----------------------------------------------------------- */

/* A linked child's abnormal exit ends the parent with the same reason. */
static void links_then_waits(void *arg)
{
	lwp_pid child = lwp_spawn_link(wait_go_then_exit, arg);

	REQUIRE(child > 0, "spawn_link: %s", lwp_strerror((int)child));
	CHECK_RC(lwp_send(child, GO, NULL, 0), 0);
	lwp_msg_free(lwp_receive(NULL, NULL, T_WAIT));
	CHECK(false, "outlived its linked child");
}

static void abnormal_exit_propagates(void *arg)
{
	(void)arg;
	CHECK(exit_code_of(links_then_waits, PID_ARG(7)) == 7,
	      "mid did not die of its child's 7");
}

Test(failure, abnormal_exit_propagates_through_a_link)
{
	t_watchdog(20, "abnormal_exit_propagates");
	T_RUN(NULL, abnormal_exit_propagates, NULL);
}

static void links_to_normal(void *arg)
{
	lwp_pid parent = ARG_PID(arg);
	lwp_pid child = lwp_spawn_link(returns, NULL);

	REQUIRE(child > 0, "spawn_link");
	t_wait_dead(child);
	CHECK_RC(lwp_send(parent, READY, NULL, 0), 0);
	lwp_msg_free(RECV_TAG(GO));
}

static void normal_exit_does_not(void *arg)
{
	(void)arg;
	lwp_pid mid = lwp_spawn(links_to_normal, PID_ARG(lwp_self()));
	lwp_ref ref = lwp_monitor(mid);

	lwp_msg_free(RECV_TAG(READY));
	CHECK(lwp_is_alive(mid), "a normal exit killed its link");
	CHECK_RC(lwp_send(mid, GO, NULL, 0), 0);
	CHECK(down_code(ref, mid) == LWP_EXIT_NORMAL, "mid's reason");
}

Test(failure, normal_exit_does_not_propagate)
{
	t_watchdog(20, "normal_exit_does_not");
	T_RUN(NULL, normal_exit_does_not, NULL);
}

/* Trapped: the exit signal is an EXIT message with sender and reason. */
static void traps(void *arg)
{
	(void)arg;
	CHECK_RC(lwp_trap_exits(true), 0);
	CHECK_RC(lwp_trap_exits(true), 1);
	lwp_pid child = lwp_spawn_link(wait_go_then_exit, PID_ARG(42));
	CHECK_RC(lwp_send(child, GO, NULL, 0), 0);
	lwp_msg *m = RECV_TAG(LWP_TAG_EXIT);
	const lwp_exit_info *x = lwp_exit_info_of(m);
	REQUIRE(x, "EXIT without info");
	CHECK(m->from == child && x->pid == child, "from");
	CHECK(x->reason.code == 42 && strcmp(x->reason.text, "boom!") == 0,
	      "reason %d %s", x->reason.code, x->reason.text);
	char text[64];
	lwp_reason_format(&x->reason, text, sizeof(text));
	CHECK(strcmp(text, "{42,\"boom!\"}") == 0, "format %s", text);
	lwp_msg_free(m);
	CHECK_RC(lwp_trap_exits(false), 1);
}

Test(failure, trapped_exit_is_a_message)
{
	t_watchdog(20, "traps");
	T_RUN(NULL, traps, NULL);
}

/* Messages sent before an exit arrive before its EXIT. */
static void sends_then_dies(void *arg)
{
	lwp_pid parent = ARG_PID(arg);

	CHECK_RC(lwp_link(parent), 0);
	for (uint64_t i = 0; i < 100; i++)
		CHECK_RC(lwp_send(parent, i, NULL, 0), 0);
	lwp_exit(3);
}

static void order_kept(void *arg)
{
	(void)arg;
	lwp_trap_exits(true);
	lwp_spawn(sends_then_dies, PID_ARG(lwp_self()));
	for (uint64_t i = 0; i < 100; i++) {
		lwp_msg *m = RECV(NULL, NULL);
		CHECK(m->tag == i, "message %" PRIu64 " came as %" PRIu64, i,
		      m->tag);
		lwp_msg_free(m);
	}
	lwp_msg *m = RECV(NULL, NULL);
	CHECK(m->tag == LWP_TAG_EXIT, "the EXIT came last");
	lwp_msg_free(m);
}

Test(failure, signals_keep_their_order_with_messages)
{
	t_watchdog(20, "order_kept");
	T_RUN(NULL, order_kept, NULL);
}

/* lwp_unlink: the child's later exit no longer reaches the caller. */
static void unlinks(void *arg)
{
	(void)arg;
	lwp_trap_exits(true);
	lwp_pid child = lwp_spawn_link(wait_go_then_exit, PID_ARG(5));
	CHECK_RC(lwp_unlink(child), 0);
	CHECK_RC(lwp_unlink(child), 0); /* not linked: nothing */
	lwp_ref ref = lwp_monitor(child);
	CHECK_RC(lwp_send(child, GO, NULL, 0), 0);
	CHECK(down_code(ref, child) == 5, "child's reason");
	lwp_msg *m = lwp_receive_tag(LWP_TAG_EXIT, 50 * MS);
	CHECK(m == NULL, "an EXIT through an undone link");
	lwp_msg_free(m);
}

Test(failure, unlink_stops_exit_signals)
{
	t_watchdog(20, "unlinks");
	T_RUN(NULL, unlinks, NULL);
}

/* Linking a dead pid: noproc, as an EXIT when trapping... */
static void links_dead_trapping(void *arg)
{
	(void)arg;
	lwp_pid dead = lwp_spawn(returns, NULL);
	t_wait_dead(dead);
	lwp_trap_exits(true);
	CHECK_RC(lwp_link(dead), LWP_ENOPROC);
	lwp_msg *m = RECV_TAG(LWP_TAG_EXIT);
	const lwp_exit_info *x = lwp_exit_info_of(m);
	CHECK(x && x->pid == dead && x->reason.code == LWP_EXIT_NOPROC,
	      "EXIT noproc");
	lwp_msg_free(m);
}

/* ... else the caller ends with noproc. */
static void links_dead(void *arg)
{
	lwp_link(ARG_PID(arg));
	CHECK(false, "survived a link to a dead pid");
}

static void link_dead(void *arg)
{
	(void)arg;
	lwp_pid dead = lwp_spawn(returns, NULL);
	t_wait_dead(dead);
	CHECK(exit_code_of(links_dead_trapping, NULL) == LWP_EXIT_NORMAL,
	      "trapping linker ended");
	CHECK(exit_code_of(links_dead, PID_ARG(dead)) == LWP_EXIT_NOPROC,
	      "linker's reason");
}

Test(failure, linking_a_dead_pid_is_noproc)
{
	t_watchdog(20, "link_dead");
	T_RUN(NULL, link_dead, NULL);
}

/* A chain of linked processes dies entirely from its far end. */
static void chain_node(void *arg)
{
	intptr_t left = (intptr_t)arg;

	if (left > 0)
		REQUIRE(lwp_spawn_link(chain_node, (void *)(left - 1)) > 0,
			"spawn_link");
	else
		lwp_exit(9);
	lwp_msg_free(lwp_receive(NULL, NULL, LWP_INFINITY));
	CHECK(false, "a chain node received");
}

static void chain(void *arg)
{
	(void)arg;
	CHECK(exit_code_of(chain_node, (void *)(intptr_t)CHAIN_LEN) == 9,
	      "the head's reason");
	while (lwp_process_count() > 1)
		lwp_sleep(MS);
}

Test(failure, exit_runs_down_a_chain_of_links)
{
	t_watchdog(60, "chain of %d", CHAIN_LEN);
	lwp_config cfg = { .schedulers = 2 };
	T_RUN(&cfg, chain, NULL);
}

/* ---- lwp_kill ---------------------------------------------------------- */

static void spins(void *arg)
{
	(void)arg;
	for (volatile uint64_t i = 0;; i++)
		;
}

static void sleeps(void *arg)
{
	(void)arg;
	lwp_sleep(100 * SEC);
	CHECK(false, "a killed sleeper woke");
}

static void kills(void *arg)
{
	(void)arg;
	void (*fns[])(void *) = { waits_forever, sleeps, spins };

	for (unsigned i = 0; i < 3; i++)
		for (unsigned sched = 0; sched < 2; sched++) {
			lwp_spawn_opts o = { .scheduler =
						     LWP_ON_SCHEDULER(sched) };
			lwp_pid p = lwp_spawn_opt(fns[i], NULL, &o);
			lwp_ref ref = lwp_monitor(p);
			(void)t_wait_info(p, fns[i] == spins ? t_has_run :
							       t_is_waiting);
			CHECK_RC(lwp_kill(p, 11), 0);
			CHECK(down_code(ref, p) == 11, "victim %u on %u", i,
			      sched);
		}
}

Test(failure, kill_ends_waiting_sleeping_and_spinning_processes)
{
	t_watchdog(30, "kills");
	lwp_config cfg = { .schedulers = 2 };
	T_RUN(&cfg, kills, NULL);
}

/* kill cannot be trapped and reaches links as killed; other reasons are
 * trapped; normal is ignored unless trapped. */
static void trapper(void *arg)
{
	lwp_pid parent = ARG_PID(arg);

	lwp_trap_exits(true);
	CHECK_RC(lwp_link(parent), 0);
	CHECK_RC(lwp_send(parent, READY, NULL, 0), 0);
	for (;;) {
		lwp_msg *m = RECV_TAG(LWP_TAG_EXIT);
		CHECK_RC(lwp_send(parent, GO, m->data, m->size), 0);
		lwp_msg_free(m);
	}
}

static void kill_rules(void *arg)
{
	(void)arg;
	lwp_trap_exits(true);
	lwp_pid t = lwp_spawn(trapper, PID_ARG(lwp_self()));
	lwp_msg_free(RECV_TAG(READY));
	CHECK_RC(lwp_kill(t, 4), 0);
	lwp_msg *m = RECV_TAG(GO);
	CHECK(((lwp_exit_info *)m->data)->reason.code == 4, "trapped 4");
	lwp_msg_free(m);
	CHECK_RC(lwp_kill(t, LWP_EXIT_NORMAL), 0);
	m = RECV_TAG(GO);
	CHECK(((lwp_exit_info *)m->data)->reason.code == LWP_EXIT_NORMAL,
	      "trapped normal");
	lwp_msg_free(m);
	CHECK_RC(lwp_kill(t, LWP_EXIT_KILL), 0);
	m = RECV_TAG(LWP_TAG_EXIT);
	const lwp_exit_info *x = lwp_exit_info_of(m);
	CHECK(x && x->pid == t && x->reason.code == LWP_EXIT_KILLED,
	      "its link saw %d", x ? x->reason.code : 0);
	lwp_msg_free(m);
	/* Not trapping: normal is ignored. */
	lwp_pid w = lwp_spawn(waits_forever, NULL);
	CHECK_RC(lwp_kill(w, LWP_EXIT_NORMAL), 0);
	lwp_sleep(10 * MS);
	CHECK(lwp_is_alive(w), "normal killed a process");
	CHECK_RC(lwp_kill(w, LWP_EXIT_KILL), 0);
	t_wait_dead(w);
}

Test(failure, kill_is_untrappable_and_normal_is_ignored)
{
	t_watchdog(20, "kill_rules");
	T_RUN(NULL, kill_rules, NULL);
}

static void kills_itself(void *arg)
{
	(void)arg;
	lwp_kill(lwp_self(), LWP_EXIT_NORMAL);
	CHECK(false, "lwp_kill(self, normal) returned");
}

static void kill_self(void *arg)
{
	(void)arg;
	CHECK(exit_code_of(kills_itself, NULL) == LWP_EXIT_NORMAL,
	      "self-kill reason");
}

Test(failure, killing_oneself_with_normal_ends_the_caller)
{
	t_watchdog(20, "kill_self");
	T_RUN(NULL, kill_self, NULL);
}

/* From a foreign thread. */
static void *foreign_kill(void *arg)
{
	CHECK_RC(lwp_kill(ARG_PID(arg), 6), 0);
	return NULL;
}

static void kill_foreign(void *arg)
{
	(void)arg;
	pthread_t t;
	lwp_pid p = lwp_spawn(waits_forever, NULL);
	lwp_ref ref = lwp_monitor(p);
	REQUIRE(pthread_create(&t, NULL, foreign_kill, PID_ARG(p)) == 0,
		"pthread_create");
	CHECK(down_code(ref, p) == 6, "foreign kill");
	pthread_join(t, NULL);
}

Test(failure, kill_from_a_foreign_thread)
{
	t_watchdog(20, "kill_foreign");
	T_RUN(NULL, kill_foreign, NULL);
}

/* ---- monitors ---------------------------------------------------------- */

static void monitors(void *arg)
{
	(void)arg;
	lwp_pid c = lwp_spawn(wait_go_then_exit, PID_ARG(8));
	lwp_ref r1 = lwp_monitor(c), r2 = lwp_monitor(c);
	CHECK(r1 > 0 && r2 > 0 && r1 != r2, "refs %" PRId64 " %" PRId64, r1,
	      r2);
	CHECK_RC(lwp_send(c, GO, NULL, 0), 0);
	/* One DOWN per monitor. */
	lwp_msg *a = RECV_TAG(LWP_TAG_DOWN), *b = RECV_TAG(LWP_TAG_DOWN);
	lwp_ref ra = lwp_exit_info_of(a)->ref, rb = lwp_exit_info_of(b)->ref;
	CHECK((ra == r1 && rb == r2) || (ra == r2 && rb == r1), "refs");
	lwp_msg_free(a);
	lwp_msg_free(b);
	CHECK(lwp_receive_tag(LWP_TAG_DOWN, 20 * MS) == NULL, "a third DOWN");
	CHECK_RC(lwp_demonitor(r1, 0), 0); /* fired already */
	/* A dead pid: DOWN noproc at once. */
	lwp_ref r3 = lwp_monitor(c);
	CHECK(down_code(r3, c) == LWP_EXIT_NOPROC, "noproc");
}

Test(failure, monitors_fire_once_each)
{
	t_watchdog(20, "monitors");
	T_RUN(NULL, monitors, NULL);
}

static void demonitors(void *arg)
{
	(void)arg;
	lwp_pid c = lwp_spawn(wait_go_then_exit, PID_ARG(8));
	lwp_ref r = lwp_monitor(c);
	CHECK_RC(lwp_demonitor(r, 0), 1);
	CHECK_RC(lwp_send(c, GO, NULL, 0), 0);
	t_wait_dead(c);
	CHECK(lwp_receive_tag(LWP_TAG_DOWN, 20 * MS) == NULL,
	      "DOWN after demonitor");
	/* Flush: a DOWN already queued goes too. */
	c = lwp_spawn(returns, NULL);
	r = lwp_monitor(c);
	t_wait_dead(c);
	for (int64_t end = lwp_now() + T_WAIT; lwp_mailbox_size() < 1;) {
		REQUIRE(lwp_now() < end, "no DOWN queued");
		lwp_sleep(MS);
	}
	CHECK_RC(lwp_demonitor(r, LWP_DEMONITOR_FLUSH), 0);
	CHECK_RC(lwp_mailbox_size(), 0);
	CHECK(lwp_receive_tag(LWP_TAG_DOWN, 20 * MS) == NULL,
	      "DOWN after demonitor with flush");
	lwp_ref ref;
	c = lwp_spawn_monitor(wait_go_then_exit, PID_ARG(2), &ref);
	REQUIRE(c > 0, "spawn_monitor");
	CHECK_RC(lwp_send(c, GO, NULL, 0), 0);
	CHECK(down_code(ref, c) == 2, "spawn_monitor's DOWN");
}

Test(failure, demonitor_and_flush)
{
	t_watchdog(20, "demonitors");
	T_RUN(NULL, demonitors, NULL);
}

/* Demonitor with flush racing the DOWN: never a DOWN afterwards. */
static void demonitor_race(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2000 / T_SLOW; i++) {
		lwp_spawn_opts o = { .scheduler = LWP_ON_SCHEDULER(i % 2) };
		lwp_pid c = lwp_spawn_opt(returns, NULL, &o);
		lwp_ref r = lwp_monitor(c);
		int on = lwp_demonitor(r, LWP_DEMONITOR_FLUSH);
		CHECK(on == 0 || on == 1, "demonitor %d", on);
	}
	CHECK(lwp_receive_tag(LWP_TAG_DOWN, 50 * MS) == NULL,
	      "a DOWN after demonitor with flush");
}

Test(failure, demonitor_flush_races_down)
{
	t_watchdog(30, "demonitor_race");
	lwp_config cfg = { .schedulers = 2 };
	T_RUN(&cfg, demonitor_race, NULL);
}

/* ---- on-exit handlers and reports -------------------------------------- */

static char order[8];
static _Atomic int norder;

static void mark(void *arg)
{
	order[atomic_fetch_add(&norder, 1)] = (char)(intptr_t)arg;
}

static void registers_handlers(void *arg)
{
	(void)arg;
	CHECK_RC(lwp_on_exit(mark, (void *)'a'), 0);
	CHECK_RC(lwp_on_exit(mark, (void *)'b'), 0);
	CHECK_RC(lwp_on_exit(mark, (void *)'c'), 0);
	CHECK_RC(lwp_on_exit(NULL, NULL), LWP_EINVAL);
	lwp_msg_free(lwp_receive(NULL, NULL, LWP_INFINITY));
}

static void handlers(void *arg)
{
	(void)arg;
	lwp_pid p = lwp_spawn(registers_handlers, NULL);
	lwp_ref ref = lwp_monitor(p);
	(void)t_wait_info(p, t_is_waiting); /* its handlers are set */
	CHECK_RC(lwp_kill(p, LWP_EXIT_KILL), 0);
	CHECK(down_code(ref, p) == LWP_EXIT_KILLED, "killed");
	CHECK(atomic_load(&norder) == 3 && memcmp(order, "cba", 3) == 0,
	      "handlers ran as %.*s", atomic_load(&norder), order);
}

Test(failure, on_exit_handlers_run_newest_first_when_killed)
{
	t_watchdog(20, "handlers");
	T_RUN(NULL, handlers, NULL);
}

static struct {
	_Atomic int n;
	lwp_pid pid;
	char name[LWP_NAME_MAX + 1];
	lwp_reason reason;
} reported;

static void record_report(lwp_pid pid, const char *name, const lwp_reason *r,
			  void *ctx)
{
	CHECK(ctx == &reported, "ctx");
	atomic_fetch_add(&reported.n, 1);
	reported.pid = pid;
	snprintf(reported.name, sizeof(reported.name), "%s", name ? name : "");
	reported.reason = *r;
}

static void named_then_exit(void *arg)
{
	(void)arg;
	CHECK_RC(lwp_register("worker", lwp_self()), 0);
	lwp_exit_text(1, "boom!");
}

static void reports(void *arg)
{
	(void)arg;
	lwp_set_report_fn(record_report, &reported);
	lwp_ref ref;
	lwp_pid p = lwp_spawn_monitor(named_then_exit, NULL, &ref);
	CHECK(down_code(ref, p) == 1, "reason");
	CHECK(atomic_load(&reported.n) == 1 && reported.pid == p &&
		      strcmp(reported.name, "worker") == 0 &&
		      reported.reason.code == 1 &&
		      strcmp(reported.reason.text, "boom!") == 0,
	      "report %d %s %s %d", atomic_load(&reported.n),
	      lwp_pid_str(reported.pid).s, reported.name, reported.reason.code);
	/* Killed, normal and shutdown exits are not reported. */
	p = lwp_spawn(waits_forever, NULL);
	lwp_sleep(MS);
	lwp_kill(p, 3);
	t_wait_dead(p);
	p = lwp_spawn(wait_go_then_exit, PID_ARG(LWP_EXIT_SHUTDOWN));
	lwp_send(p, GO, NULL, 0);
	t_wait_dead(p);
	CHECK(atomic_load(&reported.n) == 1, "%d reports",
	      atomic_load(&reported.n));
	lwp_set_report_fn(NULL, NULL);
}

Test(failure, abnormal_exits_are_reported)
{
	t_watchdog(20, "reports");
	T_RUN(NULL, reports, NULL);
}

/* ---- bad input ----------------------------------------------------------- */

static void bad_input(void *arg)
{
	(void)arg;
	lwp_ref ref;

	CHECK_RC(lwp_link(0), LWP_EBADPID);
	CHECK_RC(lwp_link(-5), LWP_EBADPID);
	CHECK_RC(lwp_link(lwp_self()), 0);
	CHECK_RC(lwp_unlink(0), LWP_EBADPID);
	CHECK_RC(lwp_monitor(0), LWP_EBADPID);
	CHECK_RC(lwp_kill(0, 1), LWP_EBADPID);
	lwp_pid dead = lwp_spawn(returns, NULL);
	t_wait_dead(dead);
	CHECK_RC(lwp_kill(dead, 1), LWP_ENOPROC);
	CHECK_RC(lwp_demonitor(0, 0), LWP_EINVAL);
	CHECK_RC(lwp_demonitor(-1, 0), LWP_EINVAL);
	CHECK_RC(lwp_demonitor(123456789, 0), 0);
	CHECK_RC(lwp_demonitor(1, 8), LWP_EINVAL);
	CHECK_RC(lwp_spawn_link(NULL, NULL), LWP_EINVAL);
	CHECK_RC(lwp_spawn_monitor(NULL, NULL, &ref), LWP_EINVAL);
	CHECK_RC(lwp_spawn_monitor(returns, NULL, NULL), LWP_EINVAL);
	CHECK_RC(lwp_exit(LWP_EXIT_KILL), LWP_EINVAL);
	CHECK_RC(lwp_send(lwp_self(), LWP_TAG_EXIT, NULL, 0), LWP_EINVAL);
	CHECK_RC(lwp_send(lwp_self(), LWP_TAG_MAX + 1, NULL, 0), LWP_EINVAL);
	CHECK_RC(lwp_send(lwp_self(), LWP_TAG_MAX, NULL, 0), 0);
	lwp_msg_free(RECV_TAG(LWP_TAG_MAX));
	CHECK(lwp_exit_info_of(NULL) == NULL, "info of NULL");
}

Test(failure, bad_input_gets_error_codes)
{
	t_watchdog(20, "bad_input");
	T_RUN(NULL, bad_input, NULL);
}

Test(failure, calls_outside_a_process)
{
	lwp_ref ref;

	cr_assert_eq(lwp_link(1), LWP_ENOTPROC);
	cr_assert_eq(lwp_unlink(1), LWP_ENOTPROC);
	cr_assert_eq(lwp_monitor(1), LWP_ENOTPROC);
	cr_assert_eq(lwp_demonitor(1, 0), LWP_ENOTPROC);
	cr_assert_eq(lwp_trap_exits(true), LWP_ENOTPROC);
	cr_assert_eq(lwp_on_exit(mark, NULL), LWP_ENOTPROC);
	cr_assert_eq(lwp_spawn_link(returns, NULL), LWP_ENOTPROC);
	cr_assert_eq(lwp_spawn_monitor(returns, NULL, &ref), LWP_ENOTPROC);
	cr_assert_eq(lwp_exit_text(1, "x"), LWP_ENOTPROC);
	cr_assert_eq(lwp_kill(1 | (1ll << 32), 1), LWP_ENOTRUNNING);
}

Test(failure, reason_names_and_format)
{
	char buf[128];
	lwp_reason r = { .code = LWP_EXIT_STACK_OVERFLOW };

	cr_assert_str_eq(lwp_reason_name(LWP_EXIT_NORMAL), "normal");
	cr_assert_str_eq(lwp_reason_name(LWP_EXIT_KILL), "kill");
	cr_assert_str_eq(lwp_reason_name(LWP_EXIT_KILLED), "killed");
	cr_assert_str_eq(lwp_reason_name(LWP_EXIT_NOPROC), "noproc");
	cr_assert_str_eq(lwp_reason_name(LWP_EXIT_SHUTDOWN), "shutdown");
	cr_assert_str_eq(lwp_reason_name(LWP_EXIT_FAULT), "fault");
	cr_assert_null(lwp_reason_name(17));
	lwp_reason_format(&r, buf, sizeof(buf));
	cr_assert_str_eq(buf, "stack_overflow");
	r = (lwp_reason){ .code = 17 };
	lwp_reason_format(&r, buf, sizeof(buf));
	cr_assert_str_eq(buf, "17");
	cr_assert_eq(lwp_reason_format(&r, NULL, 0), 2);
}

/* ---- stack overflow, with links firing ----------------------------------- */

static volatile int never = -1;
static _Atomic int overflow_cleanups;

/* Recurse until the guard, working at each level so that preemption
 * signals arrive at every depth: one that finds no room for its frame
 * near the guard is an overflow too (the kernel's SIGSEGV). */
static __attribute__((noinline)) int recurse(int depth, int work)
{
	volatile char buf[512];

	buf[0] = (char)depth;
	for (volatile int i = 0; i < work; i++)
		;
	if (depth == never)
		return 0;
	return recurse(depth + 1, work) + buf[0];
}

static void quiet_report(lwp_pid pid, const char *name, const lwp_reason *r,
			 void *ctx)
{
	(void)pid, (void)name, (void)r, (void)ctx;
}

static void overflow_cleanup(void *arg)
{
	(void)arg;
	atomic_fetch_add(&overflow_cleanups, 1);
}

static void overflows_linked(void *arg)
{
	CHECK_RC(lwp_on_exit(overflow_cleanup, NULL), 0);
	lwp_msg_free(RECV_TAG(GO));
	(void)recurse(0, (int)(intptr_t)arg);
}

/* Linked to the overflowing process without trapping: dies with it. */
static void partner(void *arg)
{
	CHECK_RC(lwp_link(ARG_PID(arg)), 0);
	CHECK_RC(lwp_send(ARG_PID(arg), GO, NULL, 0), 0);
	lwp_msg_free(lwp_receive(NULL, NULL, T_WAIT));
	CHECK(false, "outlived the overflow it was linked to");
}

static void overflows_fire_links(void *arg)
{
	(void)arg;
	CHECK_RC(lwp_trap_exits(true), 0);
	for (int round = 0; round < 20; round++) {
		int work = round % 2 ? 20000 : 0;
		lwp_pid pid = lwp_spawn_link(overflows_linked,
					     (void *)(intptr_t)work);
		lwp_ref ref;
		lwp_pid other = lwp_spawn_monitor(partner, PID_ARG(pid), &ref);
		lwp_msg *m;

		REQUIRE(pid > 0 && other > 0, "spawn");
		m = RECV_TAG(LWP_TAG_EXIT);
		CHECK(lwp_exit_info_of(m)->reason.code ==
			      LWP_EXIT_STACK_OVERFLOW,
		      "round %d: EXIT %d", round,
		      lwp_exit_info_of(m)->reason.code);
		lwp_msg_free(m);
		CHECK(down_code(ref, other) == LWP_EXIT_STACK_OVERFLOW,
		      "round %d: the partner did not die of the overflow",
		      round);
	}
	CHECK(atomic_load(&overflow_cleanups) == 20, "%d cleanups, want 20",
	      atomic_load(&overflow_cleanups));
}

Test(failure, stack_overflow_fires_links_under_preemption)
{
	lwp_config cfg = { .schedulers = 2, .timeslice_ns = LWP_TIMESLICE_MIN };

	t_watchdog(60, "overflows with links");
	lwp_set_report_fn(quiet_report, NULL);
	T_RUN(&cfg, overflows_fire_links, NULL);
	lwp_set_report_fn(NULL, NULL);
}
