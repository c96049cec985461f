/*
 * test_proc.c - processes: lwp_main, stop and restart, spawn, exit, pids,
 * per-process errno, stack sizes, the process limit.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <regex.h>

#include "test_common.h"

TestSuite(proc, .timeout = 60 * T_SLOW);

#define noinline __attribute__((noinline))

/* ---- lwp_main --------------------------------------------------------- */

static _Atomic int ran;

static void add_arg(void *arg)
{
	atomic_fetch_add(&ran, (int)(intptr_t)arg);
}

static void spawns_and_returns(void *arg)
{
	CHECK(arg == &ran, "the first process gets lwp_main's arg");
	CHECK_RC(lwp_process_count(), 1);
	for (intptr_t i = 1; i <= 10; i++)
		REQUIRE(lwp_spawn(add_arg, (void *)i) > 0, "spawn %d", (int)i);
	atomic_fetch_add(&ran, 1000);
	/* Returns while its children may still be runnable. */
}

Test(proc, main_returns_when_no_process_is_left)
{
	t_watchdog(20, "lwp_main did not return");
	cr_assert_eq(lwp_process_count(), 0);
	T_RUN(NULL, spawns_and_returns, &ran);
	cr_assert_eq(atomic_load(&ran), 1000 + 55,
		     "every process ran before lwp_main returned (%d)",
		     atomic_load(&ran));
}

/* Each process spawns the next and returns before it runs. */
static void chain(void *arg)
{
	intptr_t left = (intptr_t)arg;

	atomic_fetch_add(&ran, 1);
	if (left > 1)
		REQUIRE(lwp_spawn(chain, (void *)(left - 1)) > 0, "spawn");
}

Test(proc, main_waits_for_descendants_of_exited_processes)
{
	t_watchdog(20, "chain of 1000 processes");
	T_RUN(NULL, chain, (void *)1000);
	cr_assert_eq(atomic_load(&ran), 1000);
}

/* ---- lwp_stop ------------------------------------------------------------ */

static _Atomic int resumed_after_stop, blocked_woke;
static _Atomic int reached_stop;

static void block_forever(void *arg)
{
	lwp_pid parent = (lwp_pid)(intptr_t)arg;
	uint64_t never = 999;

	REQUIRE(lwp_send(parent, 1, NULL, 0) == 0, "ready");
	/* Blocks with the parent's unmatched messages queued. */
	lwp_msg *m = lwp_receive_tag(never, LWP_INFINITY);
	atomic_fetch_add(&blocked_woke, 1);
	lwp_msg_free(m);
}

static void sleep_forever(void *arg)
{
	lwp_pid parent = (lwp_pid)(intptr_t)arg;

	REQUIRE(lwp_send(parent, 1, NULL, 0) == 0, "ready");
	lwp_sleep(3600 * SEC);
	atomic_fetch_add(&blocked_woke, 1);
}

static void stops_while_others_block(void *arg)
{
	lwp_pid self = lwp_self();
	lwp_pid kids[10];
	char junk[100] = "queued at stop";

	(void)arg;
	for (int i = 0; i < 10; i++) {
		kids[i] = lwp_spawn(block_forever, (void *)(intptr_t)self);
		REQUIRE(kids[i] > 0, "spawn");
	}
	REQUIRE(lwp_spawn(sleep_forever, (void *)(intptr_t)self) > 0, "spawn");
	for (int i = 0; i < 11; i++)
		lwp_msg_free(RECV_TAG(1));
	/* Messages left in mailboxes at stop must be freed (LSan). */
	for (int i = 0; i < 10; i++)
		CHECK_RC(lwp_send(kids[i], 5, junk, sizeof(junk)), 0);
	CHECK_RC(lwp_process_count(), 12);
	/* The junk woke the kids, so our slice may be due: a preemption,
	 * even the one lwp_stop defers to its return, would discard us
	 * before the marker like any other process. */
	CHECK_RC(lwp_preempt_disable(), 0);
	CHECK_RC(lwp_stop(), 0);
	atomic_store(&reached_stop, 1);
	lwp_yield(); /* switches out for good */
	atomic_store(&resumed_after_stop, 1);
}

Test(proc, stop_returns_while_others_are_blocked)
{
	t_watchdog(20, "lwp_stop did not make lwp_main return");
	T_RUN(NULL, stops_while_others_block, NULL);
	cr_assert_eq(atomic_load(&reached_stop), 1,
		     "lwp_stop did not return to its caller");
	cr_assert_eq(atomic_load(&resumed_after_stop), 0,
		     "the stopping process ran after it switched out");
	cr_assert_eq(atomic_load(&blocked_woke), 0,
		     "a blocked process ran after lwp_stop");
	cr_assert_eq(lwp_stop(), LWP_ENOTRUNNING);
}

static void *stop_thread(void *arg)
{
	(void)arg;
	/* Not needed for correctness: it lets the runtime park first, so
	 * that this stops a runtime whose processes are all blocked. */
	usleep(20000);
	return (void *)(intptr_t)lwp_stop();
}

static pthread_t stopper;

static void blocks_until_foreign_stop(void *arg)
{
	(void)arg;
	REQUIRE(pthread_create(&stopper, NULL, stop_thread, NULL) == 0,
		"pthread_create");
	lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
	CHECK(0, "received %p after lwp_stop", (void *)m);
}

Test(proc, stop_from_a_foreign_thread)
{
	void *rc;

	t_watchdog(20, "lwp_stop from a foreign thread did not stop");
	T_RUN(NULL, blocks_until_foreign_stop, NULL);
	cr_assert_eq(pthread_join(stopper, &rc), 0);
	cr_assert_eq((intptr_t)rc, 0, "lwp_stop returned %d",
		     (int)(intptr_t)rc);
}

/* ---- lwp_main twice ----------------------------------------------------- */

static void nop(void *arg)
{
	(void)arg;
}

static void *main_from_thread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)lwp_main(NULL, nop, NULL);
}

static void calls_main_again(void *arg)
{
	pthread_t t;
	void *rc;

	(void)arg;
	CHECK_RC(lwp_main(NULL, nop, NULL), LWP_ERUNNING);
	REQUIRE(pthread_create(&t, NULL, main_from_thread, NULL) == 0,
		"pthread_create");
	REQUIRE(pthread_join(t, &rc) == 0, "pthread_join");
	CHECK_RC((intptr_t)rc, LWP_ERUNNING);
	CHECK_RC(lwp_process_count(), 1); /* nop was not spawned */
}

Test(proc, main_twice_is_erunning)
{
	t_watchdog(20, "nested lwp_main");
	T_RUN(NULL, calls_main_again, NULL);
}

/* ---- start again after stop -------------------------------------------- */

static lwp_pid last_run_pids[6];
static _Atomic int runs;

static void echo_once(void *arg)
{
	(void)arg;
	lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
	if (m && m->tag == 77)
		CHECK_RC(lwp_send(m->from, m->tag, m->data, m->size), 0);
	lwp_msg_free(m);
}

static void run_then_stop(void *arg)
{
	bool stop = arg != NULL;
	int r = atomic_fetch_add(&runs, 1);
	lwp_pid self = lwp_self();

	/* Nothing of an earlier run survives in this one. */
	CHECK_RC(lwp_process_count(), 1);
	for (int i = 0; i < 6; i++) {
		if (r == 0)
			break;
		CHECK(!lwp_is_alive(last_run_pids[i]),
		      "run %d: %s of the last run is alive", r,
		      lwp_pid_str(last_run_pids[i]).s);
		CHECK(last_run_pids[i] != self, "run %d: pid reused", r);
		CHECK_RC(lwp_send(last_run_pids[i], 1, NULL, 0), LWP_ENOPROC);
	}
	CHECK_RC(lwp_whereis("run"), LWP_ENOTREG);
	CHECK_RC(lwp_register("run", self), 0);
	last_run_pids[0] = self;
	for (int i = 1; i < 6; i++) {
		last_run_pids[i] = lwp_spawn(echo_once, NULL);
		REQUIRE(last_run_pids[i] > 0, "spawn");
	}
	CHECK_RC(lwp_process_count(), 6);
	/* The runtime works: a round trip. */
	CHECK_RC(lwp_send(last_run_pids[1], 77, &r, sizeof(r)), 0);
	lwp_msg *m = RECV_TAG(77);
	CHECK(m->from == last_run_pids[1] && m->size == sizeof(r) &&
		      memcmp(m->data, &r, sizeof(r)) == 0,
	      "echo");
	lwp_msg_free(m);
	if (stop) /* four processes are still blocked */
		CHECK_RC(lwp_stop(), 0);
	else
		for (int i = 2; i < 6; i++)
			CHECK_RC(lwp_send(last_run_pids[i], 1, NULL, 0), 0);
}

Test(proc, start_again_after_stop)
{
	t_watchdog(30, "restart, run %d", atomic_load(&runs));
	for (int i = 0; i < 3; i++)
		T_RUN(NULL, run_then_stop, (void *)1);
	T_RUN(NULL, run_then_stop, NULL); /* one that ends by itself */
	T_RUN(NULL, run_then_stop, (void *)1);
	cr_assert_eq(atomic_load(&runs), 5);
}

/* ---- spawn, self, is_alive, exit ----------------------------------------- */

enum {
	GO = 10,
	REPORT = 11
};

static void reports_self(void *arg)
{
	lwp_pid parent = (lwp_pid)(intptr_t)arg;
	lwp_pid self = lwp_self();

	lwp_msg_free(RECV_TAG(GO));
	CHECK(lwp_is_alive(self), "a process is alive to itself");
	CHECK_RC(lwp_send(parent, REPORT, &self, sizeof(self)), 0);
	/* ... and ends by returning. */
}

static void spawn_self_alive(void *arg)
{
	lwp_pid self = lwp_self();

	(void)arg;
	CHECK(self > 0, "lwp_self: %" PRId64, self);
	CHECK(lwp_is_alive(self), "self alive");
	lwp_pid kid = lwp_spawn(reports_self, (void *)(intptr_t)self);
	REQUIRE(kid > 0, "spawn: %s", lwp_strerror((int)kid));
	CHECK(kid != self, "distinct pids");
	CHECK(lwp_is_alive(kid), "a fresh process is alive");
	CHECK_RC(lwp_process_count(), 2);
	CHECK_RC(lwp_send(kid, GO, NULL, 0), 0);
	lwp_msg *m = RECV_TAG(REPORT);
	lwp_pid said;
	memcpy(&said, m->data, sizeof(said));
	CHECK(said == kid, "child's lwp_self %" PRId64 " != spawn's %" PRId64,
	      said, kid);
	CHECK(m->from == kid, "m->from");
	lwp_msg_free(m);
	t_wait_dead(kid);
	CHECK(!lwp_is_alive(kid), "returned process is dead");
	CHECK_RC(lwp_process_count(), 1);
	CHECK_RC(lwp_send(kid, 1, NULL, 0), LWP_ENOPROC);
	CHECK(!lwp_is_alive(0) && !lwp_is_alive(-1) && !lwp_is_alive(INT64_MIN),
	      "bad pids are not alive");
}

Test(proc, spawn_self_is_alive)
{
	t_watchdog(20, "spawn/self");
	T_RUN(NULL, spawn_self_alive, NULL);
}

static _Atomic int after_exit;

static noinline void exit_deep(int depth, int reason)
{
	if (depth == 0) {
		lwp_exit(reason);
		atomic_store(&after_exit, 1);
	} else {
		exit_deep(depth - 1, reason);
	}
	atomic_store(&after_exit, 2);
}

static void exits_from_deep(void *arg)
{
	lwp_pid parent = (lwp_pid)(intptr_t)arg;

	/* Waits for GO so that the parent's messages reach it alive (it may
	 * run on another scheduler at once); they stay queued. */
	lwp_msg_free(RECV_TAG(GO));
	CHECK_RC(lwp_send(parent, GO, NULL, 0), 0);
	exit_deep(20, LWP_EXIT_NORMAL);
	atomic_store(&after_exit, 3);
}

static void exits_abnormally(void *arg)
{
	(void)arg;
	lwp_exit(42);
	atomic_store(&after_exit, 4);
}

static void exit_parent(void *arg)
{
	lwp_pid self = lwp_self();
	char junk[64] = { 0 };

	(void)arg;
	lwp_pid kid = lwp_spawn(exits_from_deep, (void *)(intptr_t)self);
	REQUIRE(kid > 0, "spawn");
	/* Queued for the child: freed when it exits (LSan). */
	for (int i = 0; i < 5; i++)
		CHECK_RC(lwp_send(kid, 99, junk, sizeof(junk)), 0);
	CHECK_RC(lwp_send(kid, GO, NULL, 0), 0);
	lwp_msg_free(RECV_TAG(GO));
	t_wait_dead(kid);
	kid = lwp_spawn(exits_abnormally, NULL);
	REQUIRE(kid > 0, "spawn");
	t_wait_dead(kid);
	CHECK_RC(lwp_process_count(), 1);
}

Test(proc, lwp_exit_ends_the_process)
{
	t_watchdog(20, "lwp_exit");
	T_RUN(NULL, exit_parent, NULL);
	cr_assert_eq(atomic_load(&after_exit), 0,
		     "code after lwp_exit ran (marker %d)",
		     atomic_load(&after_exit));
}

/* ---- pids ------------------------------------------------------------------ */

/* Parse "<0.ID.SERIAL>"; false if the text is not of that form. */
static bool pid_parse(lwp_pid pid, unsigned long *id, unsigned long *serial)
{
	regex_t re;
	regmatch_t mt[3];
	lwp_pid_text t = lwp_pid_str(pid);
	bool ok;

	if (regcomp(&re, "^<0\\.([0-9]+)\\.([0-9]+)>$", REG_EXTENDED) != 0)
		return false;
	ok = regexec(&re, t.s, 3, mt, 0) == 0;
	regfree(&re);
	if (ok) {
		*id = strtoul(t.s + mt[1].rm_so, NULL, 10);
		*serial = strtoul(t.s + mt[2].rm_so, NULL, 10);
	}
	return ok;
}

static void blocks_once(void *arg)
{
	(void)arg;
	lwp_msg_free(lwp_receive(NULL, NULL, LWP_INFINITY));
}

static void pid_text(void *arg)
{
	enum {
		N = 100
	};
	lwp_pid pids[N];
	char texts[N][sizeof(lwp_pid_text)];
	unsigned long id, serial;

	(void)arg;
	pids[0] = lwp_self();
	for (int i = 1; i < N; i++) {
		pids[i] = lwp_spawn(blocks_once, NULL);
		REQUIRE(pids[i] > 0, "spawn");
	}
	for (int i = 0; i < N; i++) {
		lwp_pid_text t = lwp_pid_str(pids[i]);
		CHECK(pid_parse(pids[i], &id, &serial),
		      "%s is not <0.ID.SERIAL>", t.s);
		CHECK(serial > 0, "serial of %s", t.s);
		memcpy(texts[i], t.s, sizeof(t.s));
		for (int j = 0; j < i; j++)
			CHECK(strcmp(texts[i], texts[j]) != 0,
			      "two live processes print as %s", t.s);
	}
	for (int i = 1; i < N; i++)
		CHECK_RC(lwp_send(pids[i], 0, NULL, 0), 0);
}

Test(proc, pids_print_as_erlang_pids)
{
	t_watchdog(20, "pid text");
	T_RUN(NULL, pid_text, NULL);
	cr_assert_str_eq(lwp_pid_str(0).s, "<bad pid>");
	cr_assert_str_eq(lwp_pid_str(-5).s, "<bad pid>");
	cr_assert_str_eq(lwp_pid_str(7).s, "<bad pid>"); /* generation 0 */
	cr_assert_str_eq(lwp_pid_str(INT64_MIN).s, "<bad pid>");
}

/* The first message must be REPORT; reply with what else is queued. */
static void reports_first_message(void *arg)
{
	lwp_pid parent = (lwp_pid)(intptr_t)arg;
	lwp_msg *m = lwp_receive(NULL, NULL, T_WAIT);

	REQUIRE(m != NULL, "receive");
	CHECK(m->tag == REPORT,
	      "%s got tag %" PRIu64 " meant for an earlier "
	      "process in its slot",
	      lwp_pid_str(lwp_self()).s, m->tag);
	lwp_msg_free(m);
	long queued = lwp_mailbox_size();
	CHECK_RC(lwp_send(parent, REPORT, &queued, sizeof(queued)), 0);
	/* Exits with whatever else came. */
}

/*
 * Short-lived processes come and go until one lands in the slot of one
 * that exited (any of them: with slot caches per scheduler, which slot
 * comes back first is the runtime's business).
 */
#define SLOTS_SEEN 4096

static void pid_generation(void *arg)
{
	static lwp_pid dead_at[SLOTS_SEEN]; /* slot -> pid that exited */
	lwp_pid self = lwp_self();
	unsigned long id, ser, id_old, ser_old;
	lwp_pid old = 0, reuse = 0;

	(void)arg;
	for (int i = 0; i < 10000 && !reuse; i++) {
		lwp_pid p = lwp_spawn(reports_first_message,
				      (void *)(intptr_t)self);
		REQUIRE(p > 0, "spawn");
		REQUIRE(pid_parse(p, &id, &ser), "parse");
		if (id < SLOTS_SEEN && dead_at[id]) {
			old = dead_at[id];
			reuse = p;
			break;
		}
		CHECK_RC(lwp_send(p, REPORT, NULL, 0), 0);
		/* Mail it may leave unread, and mail after its exit. */
		for (int k = 0; k < 3; k++) {
			int rc = lwp_send(p, 1, "stale", 6);
			CHECK(rc == 0 || rc == LWP_ENOPROC, "send: %s",
			      lwp_strerror(rc));
		}
		lwp_msg_free(RECV_TAG(REPORT));
		t_wait_dead(p);
		CHECK_RC(lwp_send(p, 1, "stale", 6), LWP_ENOPROC);
		if (id < SLOTS_SEEN)
			dead_at[id] = p;
	}
	REQUIRE(reuse, "10000 short-lived processes never reused a slot");
	REQUIRE(pid_parse(old, &id_old, &ser_old), "parse");
	CHECK(reuse != old, "slot reused with the same pid %s",
	      lwp_pid_str(old).s);
	CHECK(ser != ser_old, "same serial: %s and %s", lwp_pid_str(old).s,
	      lwp_pid_str(reuse).s);
	CHECK(!lwp_is_alive(old), "old pid alive");
	CHECK(lwp_is_alive(reuse), "new pid dead");
	CHECK_RC(lwp_send(old, 1, "stale", 6), LWP_ENOPROC);
	lwp_msg *m = lwp_msg_alloc(4);
	REQUIRE(m != NULL, "alloc");
	CHECK_RC(lwp_send_msg(old, 2, m), LWP_ENOPROC);
	lwp_msg_free(m); /* still ours after the failed send */
	/* The new process's first message is this one, and nothing else. */
	CHECK_RC(lwp_send(reuse, REPORT, NULL, 0), 0);
	m = RECV_TAG(REPORT);
	long queued;
	memcpy(&queued, m->data, sizeof(queued));
	CHECK(queued == 0, "%ld stale messages reached %s", queued,
	      lwp_pid_str(reuse).s);
	lwp_msg_free(m);
}

Test(proc, pid_generation_protects_reused_slots)
{
	t_watchdog(20, "pid generation");
	T_RUN(NULL, pid_generation, NULL);
}

/*
 * A foreign thread keeps sending to whatever pid `target` holds, tagging
 * each message with that pid, while processes come and go in what is
 * likely the same slot.  A message addressed to an exited process must
 * never reach the one that reuses its slot.
 */
static _Atomic lwp_pid target;
static _Atomic bool target_done;
static _Atomic long foreign_sent, foreign_enoproc;

/* At most this many to one pid: enough to have some in flight when it
 * exits, and a bound on its mailbox (unbounded, a loaded machine let it
 * grow to millions and the test time out). */
#define STALE_PER_PID 256

static void *stale_sender(void *arg)
{
	lwp_pid last = 0;
	int n = 0;

	(void)arg;
	while (!atomic_load(&target_done)) {
		lwp_pid to = atomic_load(&target);
		if (to != last)
			last = to, n = 0;
		if (n++ >= STALE_PER_PID) {
			sched_yield();
			continue;
		}
		int rc = lwp_send(to, (uint64_t)to, NULL, 0);
		CHECK(rc == 0 || rc == LWP_ENOPROC, "foreign send: %s",
		      lwp_strerror(rc));
		atomic_fetch_add(rc ? &foreign_enoproc : &foreign_sent, 1);
	}
	return NULL;
}

static void checks_tags(void *arg)
{
	lwp_pid self = lwp_self(), parent = (lwp_pid)(intptr_t)arg;
	lwp_msg *m;

	atomic_store(&target, self);
	m = lwp_receive(NULL, NULL, T_WAIT);
	REQUIRE(m != NULL, "no message from the foreign thread");
	CHECK(m->tag == (uint64_t)self && m->from == LWP_NOPID,
	      "%s got a message for %s", lwp_pid_str(self).s,
	      lwp_pid_str((lwp_pid)m->tag).s);
	lwp_msg_free(m);
	/* What has arrived so far: the sender may outpace a drain that
	 * waits for an empty mailbox. */
	for (long n = lwp_mailbox_size(); n > 0; n--) {
		m = lwp_receive(NULL, NULL, 0);
		REQUIRE(m != NULL, "a queued message vanished");
		CHECK(m->tag == (uint64_t)self, "%s got a message for %s",
		      lwp_pid_str(self).s, lwp_pid_str((lwp_pid)m->tag).s);
		lwp_msg_free(m);
	}
	CHECK_RC(lwp_send(parent, REPORT, NULL, 0), 0);
	/* Exits with more of them on the way. */
}

static void stale_pid_churn(void *arg)
{
	int rounds = (int)(intptr_t)arg;
	pthread_t t;
	lwp_pid self = lwp_self();

	atomic_store(&target, self); /* never tag-checked: REPORT only */
	REQUIRE(pthread_create(&t, NULL, stale_sender, NULL) == 0,
		"pthread_create");
	for (int i = 0; i < rounds; i++) {
		lwp_pid kid = lwp_spawn(checks_tags, (void *)(intptr_t)self);
		REQUIRE(kid > 0, "spawn");
		lwp_msg_free(RECV_TAG(REPORT));
		t_wait_dead(kid);
	}
	atomic_store(&target_done, true);
	REQUIRE(pthread_join(t, NULL) == 0, "join");
	while (lwp_mailbox_size() > 0) /* the sender's, tagged with us */
		lwp_msg_free(lwp_receive(NULL, NULL, 0));
}

Test(proc, stale_pids_under_slot_reuse)
{
	int rounds = 20000 / T_SLOW;

	t_watchdog(60, "stale pid churn");
	T_RUN(NULL, stale_pid_churn, (void *)(intptr_t)rounds);
	cr_log_info("foreign sends: %ld delivered, %ld ENOPROC",
		    atomic_load(&foreign_sent), atomic_load(&foreign_enoproc));
}

/* ---- errno ----------------------------------------------------------------- */

static void errno_b(void *arg)
{
	(void)arg;
	CHECK(errno == 0, "a new process starts with errno 0, not %d", errno);
	for (int i = 0; i < 100; i++) {
		errno = 7000 + i;
		if (i % 2)
			lwp_yield();
		else
			lwp_sleep(10000);
		CHECK(errno == 7000 + i, "B: errno %d, want %d", errno,
		      7000 + i);
	}
}

/* Both on scheduler 0: a process that may migrate cannot count on errno
 * across a switch (lwp.h, thread-local storage), since the compiler may
 * keep errno's address from the thread it ran on before. */
static const lwp_spawn_opts on_0 = { .scheduler = LWP_ON_SCHEDULER(0) };

static void errno_a(void *arg)
{
	(void)arg;
	errno = 99;
	REQUIRE(lwp_spawn_opt(errno_b, NULL, &on_0) > 0, "spawn");
	errno = 5;
	lwp_yield();
	CHECK(errno == 5, "A: errno %d after B set its own", errno);
	for (int i = 0; i < 100; i++) {
		errno = 5000 + i;
		if (i % 3)
			lwp_yield();
		else
			lwp_sleep(10000);
		CHECK(errno == 5000 + i, "A: errno %d, want %d", errno,
		      5000 + i);
	}
}

static void errno_first(void *arg)
{
	(void)arg;
	REQUIRE(lwp_spawn_opt(errno_a, NULL, &on_0) > 0, "spawn");
}

Test(proc, errno_is_per_process)
{
	t_watchdog(20, "errno");
	T_RUN(NULL, errno_first, NULL);
}

/* ---- stacks ------------------------------------------------------------------- */

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

/* Recurse, touching 4 KiB a frame, until `want` bytes below top are in
 * use; returns the depth in bytes reached. */
static noinline size_t use_stack(uintptr_t top, size_t want)
{
	volatile char buf[4096];
	size_t used = (size_t)(top - (uintptr_t)buf);

	for (size_t i = 0; i < sizeof(buf); i += 64)
		buf[i] = (char)i;
	if (used < want)
		used = use_stack(top, want);
	return used + (size_t)(buf[0] & 0); /* no tail call */
}

struct stack_job {
	size_t want;
	size_t got;
};

static void stack_user(void *arg)
{
	struct stack_job *j = arg;

	j->got = use_stack((uintptr_t)__builtin_frame_address(0), j->want);
}

static void stack_sizes(void *arg)
{
	struct stack_job big = { .want = 7 * MiB };
	struct stack_job min = { .want = 8 * KiB };
	struct stack_job dflt = { .want = 40 * KiB };
	struct stack_job max = { .want = 64 * KiB };
	lwp_spawn_opts o = { 0 };
	lwp_pid p;

	(void)arg;
	o.stack_size = 8 * MiB;
	REQUIRE((p = lwp_spawn_opt(stack_user, &big, &o)) > 0, "8 MiB: %s",
		lwp_strerror((int)p));
	t_wait_dead(p);
	CHECK(big.got >= 7 * MiB, "8 MiB stack: used only %zu", big.got);

	o.stack_size = LWP_STACK_MIN;
	REQUIRE((p = lwp_spawn_opt(stack_user, &min, &o)) > 0, "min: %s",
		lwp_strerror((int)p));
	t_wait_dead(p);
	CHECK(min.got >= 8 * KiB, "min stack: used %zu", min.got);

	o.stack_size = LWP_STACK_MAX;
	REQUIRE((p = lwp_spawn_opt(stack_user, &max, &o)) > 0, "max: %s",
		lwp_strerror((int)p));
	t_wait_dead(p);
	CHECK(max.got >= 64 * KiB, "max stack: used %zu", max.got);

	o.stack_size = 0; /* the default */
	REQUIRE((p = lwp_spawn_opt(stack_user, &dflt, &o)) > 0, "0: %s",
		lwp_strerror((int)p));
	t_wait_dead(p);
	CHECK(dflt.got >= 40 * KiB, "default stack: used %zu", dflt.got);

	o.stack_size = LWP_STACK_MIN + 1; /* rounded up to pages */
	REQUIRE((p = lwp_spawn_opt(stack_user, &min, &o)) > 0, "min+1: %s",
		lwp_strerror((int)p));
	t_wait_dead(p);

	const size_t bad[] = { 1, LWP_STACK_MIN - 1, LWP_STACK_MAX + 1,
			       SIZE_MAX };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.stack_size = bad[i];
		CHECK_RC(lwp_spawn_opt(stack_user, &min, &o), LWP_EINVAL);
	}
	CHECK_RC(lwp_process_count(), 1);
	p = lwp_spawn_opt(nop, NULL, NULL); /* NULL opts: the defaults */
	CHECK(p > 0, "spawn_opt without opts: %s", lwp_strerror((int)p));
}

Test(proc, spawn_opt_stack_sizes)
{
	t_watchdog(30, "stack sizes");
	T_RUN(NULL, stack_sizes, NULL);
}

static void config_stack_first(void *arg)
{
	struct stack_job *j = arg;

	j->got = use_stack((uintptr_t)__builtin_frame_address(0), j->want);
	lwp_pid p = lwp_spawn(stack_user, j + 1);
	REQUIRE(p > 0, "spawn");
	t_wait_dead(p);
}

Test(proc, config_stack_size_is_the_default)
{
	lwp_config cfg = { .stack_size = 1 * MiB };
	struct stack_job jobs[2] = { { .want = 900 * KiB },
				     { .want = 900 * KiB } };

	t_watchdog(30, "config stack size");
	T_RUN(&cfg, config_stack_first, jobs);
	cr_assert_geq(jobs[0].got, 900 * KiB);
	cr_assert_geq(jobs[1].got, 900 * KiB);

	cfg.stack_size = LWP_STACK_MIN;
	jobs[0].want = jobs[1].want = 8 * KiB;
	T_RUN(&cfg, config_stack_first, jobs);
	cr_assert_geq(jobs[1].got, 8 * KiB);
}

/* ---- the process limit ------------------------------------------------------- */

static void *spawn_from_thread(void *arg)
{
	return (void *)(intptr_t)lwp_spawn(nop, arg);
}

static void limit_first(void *arg)
{
	uint32_t max = (uint32_t)(intptr_t)arg;
	lwp_pid kids[16];
	pthread_t t;
	void *rc;

	for (uint32_t i = 1; i < max; i++) {
		kids[i] = lwp_spawn(blocks_once, NULL);
		REQUIRE(kids[i] > 0, "spawn %u of %u: %s", i, max,
			lwp_strerror((int)kids[i]));
	}
	CHECK_RC(lwp_process_count(), max);
	CHECK_RC(lwp_spawn(blocks_once, NULL), LWP_ELIMIT);
	CHECK_RC(lwp_process_count(), max);
	REQUIRE(pthread_create(&t, NULL, spawn_from_thread, NULL) == 0,
		"pthread_create");
	REQUIRE(pthread_join(t, &rc) == 0, "join");
	CHECK_RC((intptr_t)rc, LWP_ELIMIT);
	if (max == 1)
		return;
	/* A freed slot can be used again, over and over. */
	CHECK_RC(lwp_send(kids[1], 0, NULL, 0), 0);
	t_wait_dead(kids[1]);
	CHECK_RC(lwp_process_count(), max - 1);
	for (int i = 0; i < 1000; i++) {
		/* It blocks: another scheduler may run a child at once, and
		 * a nop could be gone before the second spawn. */
		lwp_pid p = lwp_spawn(blocks_once, NULL);
		REQUIRE(p > 0, "respawn %d: %s", i, lwp_strerror((int)p));
		CHECK_RC(lwp_spawn(nop, NULL), LWP_ELIMIT);
		CHECK_RC(lwp_send(p, 0, NULL, 0), 0);
		t_wait_dead(p);
	}
	for (uint32_t i = 2; i < max; i++)
		CHECK_RC(lwp_send(kids[i], 0, NULL, 0), 0);
}

Test(proc, max_procs_is_enforced)
{
	lwp_config cfg = { .max_procs = 8 };

	t_watchdog(30, "max_procs");
	T_RUN(&cfg, limit_first, (void *)(intptr_t)8);
	cfg.max_procs = 1;
	T_RUN(&cfg, limit_first, (void *)(intptr_t)1);
	cfg.max_procs = 16; /* a new run, a new limit */
	T_RUN(&cfg, limit_first, (void *)(intptr_t)16);
}

/* Schedulers take units of the limit in batches; the limit stays exact
 * whichever schedulers spawn, and a unit freed on one is found by a spawn
 * on another. */
enum {
	SPREAD_MAX = 300,
	SPREAD_SPAWNERS = 4
};

static struct {
	lwp_pid kids[SPREAD_MAX];
	_Atomic int made;
	_Atomic int done;
} spread;

static void spawns_to_the_limit(void *arg)
{
	(void)arg;
	/* All spawners exist before any spawns: else the first could take
	 * the whole limit before the last is spawned. */
	lwp_msg_free(lwp_receive(NULL, NULL, LWP_INFINITY));
	for (int i = 0;; i++) {
		lwp_pid p = lwp_spawn(blocks_once, NULL);
		if (p == LWP_ELIMIT)
			break;
		REQUIRE(p > 0, "spawn: %s", lwp_strerror((int)p));
		spread.kids[atomic_fetch_add(&spread.made, 1)] = p;
		if (i % 3 == 0)
			lwp_yield(); /* interleave with the other spawners */
	}
	atomic_fetch_add(&spread.done, 1);
	lwp_msg_free(lwp_receive(NULL, NULL, LWP_INFINITY));
}

static void limit_spread(void *arg)
{
	lwp_pid spawners[SPREAD_SPAWNERS];
	int64_t deadline = lwp_now() + T_WAIT;

	(void)arg;
	for (unsigned i = 0; i < SPREAD_SPAWNERS; i++) {
		lwp_spawn_opts o = { .scheduler = LWP_ON_SCHEDULER(i) };
		spawners[i] = lwp_spawn_opt(spawns_to_the_limit, NULL, &o);
		REQUIRE(spawners[i] > 0, "spawner %u", i);
	}
	for (unsigned i = 0; i < SPREAD_SPAWNERS; i++)
		CHECK_RC(lwp_send(spawners[i], 0, NULL, 0), 0);
	while (atomic_load(&spread.done) < SPREAD_SPAWNERS &&
	       lwp_now() < deadline)
		lwp_sleep(MS);
	REQUIRE(atomic_load(&spread.done) == SPREAD_SPAWNERS, "spawners hang");
	/* Us, the spawners and their children: the limit, exactly. */
	CHECK_RC(1 + SPREAD_SPAWNERS + atomic_load(&spread.made), SPREAD_MAX);
	CHECK_RC(lwp_process_count(), SPREAD_MAX);
	CHECK_RC(lwp_spawn(nop, NULL), LWP_ELIMIT);
	for (int round = 0; round < 20; round++) {
		lwp_pid gone = spread.kids[round];
		CHECK_RC(lwp_send(gone, 0, NULL, 0), 0);
		t_wait_dead(gone);
		spread.kids[round] = lwp_spawn(blocks_once, NULL);
		REQUIRE(spread.kids[round] > 0, "respawn %d: %s", round,
			lwp_strerror((int)spread.kids[round]));
		CHECK_RC(lwp_spawn(nop, NULL), LWP_ELIMIT);
	}
	for (int i = 0; i < atomic_load(&spread.made); i++)
		CHECK_RC(lwp_send(spread.kids[i], 0, NULL, 0), 0);
	for (unsigned i = 0; i < SPREAD_SPAWNERS; i++)
		CHECK_RC(lwp_send(spawners[i], 0, NULL, 0), 0);
}

Test(proc, max_procs_is_exact_across_schedulers)
{
	const lwp_config cfg = { .schedulers = SPREAD_SPAWNERS,
				 .max_procs = SPREAD_MAX };

	t_watchdog(30, "max_procs across schedulers");
	T_RUN(&cfg, limit_spread, NULL);
}

static void counts(void *arg)
{
	lwp_pid kids[50];

	(void)arg;
	CHECK_RC(lwp_process_count(), 1);
	for (int i = 0; i < 50; i++) {
		kids[i] = lwp_spawn(blocks_once, NULL);
		REQUIRE(kids[i] > 0, "spawn");
		CHECK_RC(lwp_process_count(), 2 + i);
	}
	for (int i = 0; i < 50; i++) {
		CHECK_RC(lwp_send(kids[i], 0, NULL, 0), 0);
		t_wait_dead(kids[i]);
		CHECK_RC(lwp_process_count(), 50 - i);
	}
}

Test(proc, process_count)
{
	t_watchdog(20, "process count");
	cr_assert_eq(lwp_process_count(), 0);
	T_RUN(NULL, counts, NULL);
}

/* ---- foreign threads spawn ---------------------------------------------------- */

static void greets(void *arg)
{
	lwp_pid to = (lwp_pid)(intptr_t)arg;

	CHECK_RC(lwp_send(to, GO, "hello", 6), 0);
}

static void *spawns_greeter(void *arg)
{
	return (void *)(intptr_t)lwp_spawn(greets, arg);
}

static void spawned_by_thread(void *arg)
{
	pthread_t t;
	void *pid;

	(void)arg;
	REQUIRE(pthread_create(&t, NULL, spawns_greeter,
			       (void *)(intptr_t)lwp_self()) == 0,
		"pthread_create");
	lwp_msg *m = RECV_TAG(GO);
	REQUIRE(pthread_join(t, &pid) == 0, "join");
	CHECK((lwp_pid)(intptr_t)pid > 0 && m->from == (lwp_pid)(intptr_t)pid,
	      "from %s, spawned %s", lwp_pid_str(m->from).s,
	      lwp_pid_str((lwp_pid)(intptr_t)pid).s);
	CHECK(m->size == 6 && strcmp((char *)m->data, "hello") == 0, "data");
	lwp_msg_free(m);
}

Test(proc, spawn_from_a_foreign_thread)
{
	t_watchdog(20, "spawn from a foreign thread");
	T_RUN(NULL, spawned_by_thread, NULL);
}

/* ---- yield and timers ------------------------------------------------------- */

static _Atomic int slept;

static void sleeps_briefly(void *arg)
{
	(void)arg;
	lwp_sleep(5 * MS);
	atomic_store(&slept, 1);
}

/* A process that polls with lwp_yield() must not keep a sleeping process
 * from waking: its deadline has passed, so it is runnable. */
static void yields_until_woken(void *arg)
{
	int64_t end = lwp_now() + 2 * SEC;

	(void)arg;
	REQUIRE(lwp_spawn(sleeps_briefly, NULL) > 0, "spawn");
	while (!atomic_load(&slept) && lwp_now() < end)
		lwp_yield();
	CHECK(atomic_load(&slept),
	      "a process sleeping 5 ms did not wake in 2 s while another "
	      "process yielded");
}

Test(proc, yield_lets_timers_fire)
{
	t_watchdog(20, "yield vs timers");
	T_RUN(NULL, yields_until_woken, NULL);
}

/* ---- lwp_stop racing with the end of a run --------------------------------- */

/*
 * lwp_stop() is "callable from anywhere", so a foreign thread may call it
 * just as a run ends by itself.  It must not touch what the ending run
 * frees (under ASan a use-after-free shows up here within a few thousand
 * runs).  Each run starts and joins the scheduler threads, so runs cost
 * a few hundred microseconds; 4000 of them take a few seconds.  Beside
 * other programs pinned to the same cores (meson runs two tests at once)
 * a run can cost ten times that, so the loop also ends after RACE_FOR,
 * once it has raced at least RACE_MIN runs.
 */
#define RACE_RUNS (4000 / T_SLOW)
#define RACE_MIN  (200 / T_SLOW)
#define RACE_FOR  (15 * SEC * T_SLOW)

static _Atomic bool racing_done;

static void *stops_in_a_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&racing_done)) {
		int rc = lwp_stop();
		CHECK(rc == 0 || rc == LWP_ENOTRUNNING, "lwp_stop: %s",
		      lwp_strerror(rc));
	}
	return NULL;
}

Test(proc, stop_from_a_thread_races_with_the_end_of_runs)
{
	int64_t end = lwp_now() + RACE_FOR;
	pthread_t t;
	int i;

	t_watchdog(60, "runs racing with lwp_stop");
	cr_assert_eq(pthread_create(&t, NULL, stops_in_a_loop, NULL), 0);
	for (i = 0; i < RACE_RUNS && (i < RACE_MIN || lwp_now() < end); i++) {
		int rc = lwp_main(NULL, nop, NULL);
		if (rc != 0) {
			atomic_store(&racing_done, true);
			pthread_join(t, NULL);
			cr_assert_fail("run %d: lwp_main returned %d (%s)", i,
				       rc, lwp_strerror(rc));
		}
	}
	atomic_store(&racing_done, true);
	cr_assert_eq(pthread_join(t, NULL), 0);
	T_CHECKED();
	cr_log_info("%d runs raced with lwp_stop", i);
}

/* ---- stack overflow -------------------------------------------------------- */

static volatile int overflow_limit = INT32_MAX; /* never reached */

static noinline int overflow(int depth)
{
	volatile char buf[1024];

	buf[0] = (char)depth;
	if (depth == overflow_limit)
		return 0;
	return overflow(depth + 1) + buf[0];
}

static void overflows(void *arg)
{
	(void)arg;
	atomic_store(&after_exit, overflow(0));
}

static void survives_overflow(void *arg)
{
	lwp_spawn_opts o = { .stack_size = LWP_STACK_MIN };

	(void)arg;
	for (int i = 0; i < 3; i++) {
		lwp_pid p = lwp_spawn_opt(overflows, NULL, i ? &o : NULL);
		REQUIRE(p > 0, "spawn");
		t_wait_dead(p);
		CHECK_RC(lwp_process_count(), 1);
	}
	/* The runtime goes on: a round trip still works. */
	lwp_pid e = lwp_spawn(echo_once, NULL);
	REQUIRE(e > 0, "spawn");
	CHECK_RC(lwp_send(e, 77, "x", 2), 0);
	lwp_msg_free(RECV_TAG(77));
}

Test(proc, stack_overflow_ends_only_that_process)
{
	t_watchdog(20, "stack overflow");
	T_RUN(NULL, survives_overflow, NULL);
	cr_assert_eq(atomic_load(&after_exit), 0, "overflow returned");
}

/* ---- schedulers ---------------------------------------------------------------- */

#define PINNED_ROUNDS 2000

/* Echo every message back, checking each time that we are still on our
 * scheduler, until told to stop. */
static void pinned_echo(void *arg)
{
	int home = (int)(intptr_t)arg;
	lwp_msg *m;

	while ((m = lwp_receive(NULL, NULL, T_WAIT)) && m->tag != 0) {
		CHECK_RC(lwp_scheduler_id(), home);
		CHECK_RC(lwp_send(m->from, m->tag, NULL, 0), 0);
		lwp_msg_free(m);
	}
	REQUIRE(m != NULL, "pinned echo: no message");
	lwp_msg_free(m);
}

static void pins_hold(void *arg)
{
	unsigned n = lwp_scheduler_count();
	lwp_pid echo[4];

	(void)arg;
	CHECK_RC(n, 3);
	for (unsigned i = 0; i < n; i++) {
		lwp_spawn_opts o = { .scheduler = LWP_ON_SCHEDULER(i) };
		echo[i] = lwp_spawn_opt(pinned_echo, (void *)(intptr_t)i, &o);
		REQUIRE(echo[i] > 0, "spawn pinned");
	}
	/* We move freely; they must not, whoever wakes them. */
	for (uint64_t r = 1; r <= PINNED_ROUNDS; r++) {
		unsigned i = (unsigned)(r % n);
		CHECK_RC(lwp_send(echo[i], r, NULL, 0), 0);
		lwp_msg_free(RECV_TAG(r));
		if (r % 7 == 0)
			lwp_yield();
	}
	for (unsigned i = 0; i < n; i++)
		CHECK_RC(lwp_send(echo[i], 0, NULL, 0), 0);
}

Test(proc, pinned_processes_stay_on_their_scheduler)
{
	const lwp_config cfg = { .schedulers = 3 };

	t_watchdog(30, "pinned processes");
	T_RUN(&cfg, pins_hold, NULL);
}

/* Busy processes that yield must spread over every scheduler: an idle
 * scheduler steals.  Each marks the schedulers it has run on. */
static _Atomic unsigned long ran_on;
static _Atomic bool spread_done;

static void marks_schedulers(void *arg)
{
	(void)arg;
	while (!atomic_load(&spread_done)) {
		atomic_fetch_or(&ran_on, 1ul << lwp_scheduler_id());
		lwp_yield();
	}
}

static void spreads(void *arg)
{
	unsigned long all = (1ul << lwp_scheduler_count()) - 1;
	int64_t deadline = lwp_now() + T_WAIT;

	(void)arg;
	for (int i = 0; i < 8; i++)
		REQUIRE(lwp_spawn(marks_schedulers, NULL) > 0, "spawn");
	while ((atomic_load(&ran_on) & all) != all && lwp_now() < deadline)
		lwp_sleep(MS);
	CHECK(atomic_load(&ran_on) == all, "ran on %#lx of %#lx",
	      atomic_load(&ran_on), all);
	atomic_store(&spread_done, true);
}

Test(proc, work_spreads_over_schedulers)
{
	const lwp_config cfg = { .schedulers = 2 };

	t_watchdog(30, "work stealing");
	T_RUN(&cfg, spreads, NULL);
}
