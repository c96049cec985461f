/*
 * test_sendafter.c - runtime timers (lwp_send_after, lwp_cancel_timer,
 * lwp_read_timer): delivery after the delay and in deadline order, the
 * sender and the payload, cancel and read, bogus refs and bad arguments,
 * dead addressees, timers that outlive their process or fire on another
 * scheduler, foreign threads, the cancel-versus-fire race, and stopping
 * with timers pending (the san build checks that nothing leaks).
 */
#include <inttypes.h>
#include <pthread.h>
#include <time.h>

#include "test_common.h"

TestSuite(sendafter, .timeout = 60 * T_SLOW);

#ifdef LWP_TEST_SCALE_DOWN
#define DOWN LWP_TEST_SCALE_DOWN
#else
#define DOWN 1
#endif

enum {
	TICK = 1,
	GO = 2,
	DONE = 3,
	RACE = 4
};

#define ARG_PID(arg) ((lwp_pid)(intptr_t)(arg))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static lwp_pid spawn_on(void (*fn)(void *), void *arg, unsigned sched)
{
	lwp_spawn_opts o = { .scheduler = sched };
	lwp_pid p = lwp_spawn_opt(fn, arg, &o);

	REQUIRE(p > 0, "spawn: %s", lwp_strerror((int)p));
	return p;
}

/* Expect no message with tag for `ns`. */
static void expect_none(uint64_t tag, int64_t ns)
{
	lwp_msg *m = lwp_receive_tag(tag, ns);

	CHECK(m == NULL, "an unexpected message, tag %" PRIu64, tag);
	CHECK_RC(lwp_last_error(), LWP_ETIMEDOUT);
	lwp_msg_free(m);
}

/* Sleep: lwp_sleep in a process, nanosleep on a foreign thread. */
static void nap(int64_t ns)
{
	struct timespec ts = { ns / SEC, ns % SEC };

	if (lwp_sleep(ns) == LWP_ENOTPROC)
		nanosleep(&ts, NULL);
}

/* ---- delivery ------------------------------------------------------------ */

static void delivers_after_delay(void *arg)
{
	char buf[] = "tick tock";
	lwp_pid self = lwp_self();
	int64_t t0 = lwp_now();

	(void)arg;
	lwp_timer_ref ref = lwp_send_after(20 * MS, self, TICK, buf, 10);
	REQUIRE(ref > 0, "send_after: %s", lwp_strerror((int)ref));
	memcpy(buf, "XXXXXXXXX", 10); /* the timer has its own copy */
	lwp_msg *m = RECV_TAG(TICK);
	int64_t took = lwp_now() - t0;
	CHECK(took >= 20 * MS, "arrived %" PRId64 " ns early", 20 * MS - took);
	CHECK(m->from == self, "from %s", lwp_pid_str(m->from).s);
	CHECK(m->size == 10 && memcmp(m->data, "tick tock", 10) == 0,
	      "payload %.*s", (int)m->size, (char *)m->data);
	lwp_msg_free(m);
	CHECK_RC(lwp_cancel_timer(ref), LWP_ENOTIMER); /* after it fired */
	CHECK_RC(lwp_read_timer(ref), LWP_ENOTIMER);
	/* No payload, and no delay. */
	CHECK(lwp_send_after(0, self, TICK, NULL, 0) > 0, "empty, at once");
	m = RECV_TAG(TICK);
	CHECK(m->size == 0 && m->from == self, "empty message");
	lwp_msg_free(m);
}

Test(sendafter, delivers_after_the_delay)
{
	t_watchdog(20, "send_after delivery");
	T_RUN(NULL, delivers_after_delay, NULL);
}

/* Payloads of every allocation class, and one the caches never hold. */
static void copies_payloads(void *arg)
{
	static const size_t sizes[] = {
		1, 8, 16, 17, 64, 200, 256, 1000, 70000
	};
	unsigned char *buf = malloc(70000);
	lwp_pid self = lwp_self();

	(void)arg;
	REQUIRE(buf != NULL, "malloc");
	for (size_t k = 0; k < ARRAY_LEN(sizes); k++) {
		for (size_t i = 0; i < sizes[k]; i++)
			buf[i] = (unsigned char)(k + i);
		CHECK(lwp_send_after(MS, self, k, buf, sizes[k]) > 0, "arm");
		memset(buf, 0xee, sizes[k]);
	}
	free(buf);
	for (size_t k = 0; k < ARRAY_LEN(sizes); k++) {
		lwp_msg *m = RECV_TAG(k);
		CHECK(m->size == sizes[k], "size %zu, want %zu", m->size,
		      sizes[k]);
		for (size_t i = 0; i < m->size; i++)
			if (m->data[i] != (unsigned char)(k + i)) {
				CHECK(false, "byte %zu of %zu", i, sizes[k]);
				break;
			}
		lwp_msg_free(m);
	}
}

Test(sendafter, payload_is_copied)
{
	t_watchdog(20, "send_after payloads");
	T_RUN(NULL, copies_payloads, NULL);
}

/* Armed out of order, received in deadline order. */
static void fires_in_order(void *arg)
{
	static const int64_t delays[] = { 50, 10, 40, 0, 30, 20, 60 };
	lwp_pid self = lwp_self();

	(void)arg;
	for (size_t i = 0; i < ARRAY_LEN(delays); i++)
		CHECK(lwp_send_after(delays[i] * MS, self, (uint64_t)delays[i],
				     NULL, 0) > 0,
		      "arm %zu", i);
	for (int64_t want = 0; want <= 60; want += 10) {
		lwp_msg *m = RECV(NULL, NULL);
		CHECK(m->tag == (uint64_t)want,
		      "got %" PRIu64 ", want %" PRId64, m->tag, want);
		lwp_msg_free(m);
	}
}

Test(sendafter, fires_in_deadline_order)
{
	t_watchdog(20, "send_after order");
	T_RUN(NULL, fires_in_order, NULL);
}

/* ---- the timer lives in the runtime -------------------------------------- */

static _Atomic lwp_pid armer;

static void arms_then_exits(void *arg)
{
	lwp_pid parent = ARG_PID(arg);

	atomic_store(&armer, lwp_self());
	CHECK(lwp_send_after(30 * MS, parent, TICK, "bye", 4) > 0, "arm");
}

static void outlives(void *arg)
{
	lwp_pid kid = lwp_spawn(arms_then_exits, (void *)(intptr_t)lwp_self());

	(void)arg;
	REQUIRE(kid > 0, "spawn");
	t_wait_dead(kid);
	lwp_msg *m = RECV_TAG(TICK);
	CHECK(m->from == kid && atomic_load(&armer) == kid,
	      "from %s, want the dead %s", lwp_pid_str(m->from).s,
	      lwp_pid_str(kid).s);
	CHECK(strcmp((char *)m->data, "bye") == 0, "payload");
	lwp_msg_free(m);
}

Test(sendafter, outlives_the_process_that_armed_it)
{
	t_watchdog(20, "timer of an exited process");
	T_RUN(NULL, outlives, NULL);
}

static void waits_for_go(void *arg)
{
	(void)arg;
	lwp_msg_free(RECV_TAG(GO));
}

/* Until ref has fired (its message delivered or dropped) or gone. */
static void await_fired(lwp_timer_ref ref)
{
	int64_t end = lwp_now() + T_WAIT;

	while (lwp_read_timer(ref) != LWP_ENOTIMER) {
		REQUIRE(lwp_now() < end, "a timer never fired");
		lwp_sleep(MS / 10);
	}
}

/* The next process in a dead one's slot: a timer of the dead one must
 * not reach it (they fired before its GO). */
static void gets_no_tick(void *arg)
{
	(void)arg;
	lwp_msg_free(RECV_TAG(GO));
	CHECK(lwp_receive_tag(TICK, 0) == NULL,
	      "a timer of the slot's last process arrived");
}

/* The addressee exits before the timer fires: the message is dropped
 * (and freed: the san build checks), even when the slot of its pid
 * already holds another process. */
static void to_the_dead(void *arg)
{
	(void)arg;
	for (int round = 0; round < 20; round++) {
		lwp_pid kid = lwp_spawn(waits_for_go, NULL);
		REQUIRE(kid > 0, "spawn");
		lwp_timer_ref r1 = lwp_send_after(2 * MS, kid, TICK, "lost", 5);
		lwp_timer_ref r2 = lwp_send_after(3 * MS, kid, TICK, NULL, 0);
		CHECK(r1 > 0 && r2 > 0, "arm");
		CHECK_RC(lwp_send(kid, GO, NULL, 0), 0);
		t_wait_dead(kid);
		/* Likely in kid's slot: it must not get kid's timers. */
		lwp_pid next = lwp_spawn(gets_no_tick, NULL);
		REQUIRE(next > 0, "spawn");
		await_fired(r1);
		await_fired(r2);
		CHECK_RC(lwp_send(next, GO, NULL, 0), 0);
		t_wait_dead(next);
	}
	/* The address is checked at fire time only. */
	lwp_pid gone = lwp_spawn(waits_for_go, NULL);
	REQUIRE(gone > 0, "spawn");
	CHECK_RC(lwp_send(gone, GO, NULL, 0), 0);
	t_wait_dead(gone);
	lwp_timer_ref ref = lwp_send_after(MS, gone, TICK, "x", 2);
	CHECK(ref > 0, "arm to the dead");
	await_fired(ref);
	expect_none(TICK, 0); /* nothing came here either */
}

Test(sendafter, dead_addressee_drops_the_message)
{
	t_watchdog(30, "timers to dead processes");
	T_RUN(NULL, to_the_dead, NULL);
}

/* ---- cancel and read ----------------------------------------------------- */

static void cancels(void *arg)
{
	lwp_pid self = lwp_self();

	(void)arg;
	lwp_timer_ref ref = lwp_send_after(200 * MS, self, TICK, "no", 3);
	REQUIRE(ref > 0, "arm");
	int64_t r1 = lwp_read_timer(ref);
	CHECK(r1 > 150 * MS && r1 <= 200 * MS, "read %" PRId64, r1);
	lwp_sleep(20 * MS);
	int64_t r2 = lwp_read_timer(ref);
	CHECK(r2 >= 0 && r2 <= r1 - 20 * MS, "read %" PRId64 " after %" PRId64,
	      r2, r1);
	int64_t left = lwp_cancel_timer(ref);
	CHECK(left >= 0 && left <= r2,
	      "cancel: %" PRId64 " left, read %" PRId64, left, r2);
	CHECK_RC(lwp_cancel_timer(ref), LWP_ENOTIMER); /* twice */
	CHECK_RC(lwp_read_timer(ref), LWP_ENOTIMER);
	expect_none(TICK, 250 * MS); /* well past its deadline */
	/* A deadline already passed but not fired yet reads 0. */
	ref = lwp_send_after(0, self, TICK, NULL, 0);
	int64_t r0 = lwp_read_timer(ref);
	CHECK(r0 == 0 || r0 == LWP_ENOTIMER, "read of a due timer: %" PRId64,
	      r0);
	lwp_msg_free(RECV_TAG(TICK));
}

Test(sendafter, cancel_returns_the_time_left)
{
	t_watchdog(20, "cancel");
	T_RUN(NULL, cancels, NULL);
}

/* Slots are reused: a ref that was cancelled (or fired) must never reach
 * the later timers of its slot. */
#define REUSE 1000
static lwp_timer_ref reuse_refs[REUSE];

static void never_confused(void *arg)
{
	lwp_pid self = lwp_self();

	(void)arg;
	for (int i = 0; i < REUSE; i++) {
		reuse_refs[i] = lwp_send_after(SEC, self, TICK, &i, sizeof(i));
		REQUIRE(reuse_refs[i] > 0, "arm");
		if (i)
			CHECK(lwp_cancel_timer(reuse_refs[i - 1]) >= 0,
			      "cancel %d", i - 1);
	}
	for (int i = 0; i < REUSE - 1; i++) {
		CHECK_RC(lwp_cancel_timer(reuse_refs[i]), LWP_ENOTIMER);
		CHECK_RC(lwp_read_timer(reuse_refs[i]), LWP_ENOTIMER);
		for (int j = i + 1; j < REUSE && i % 50 == 0; j++)
			CHECK(reuse_refs[i] != reuse_refs[j], "ref reused");
	}
	lwp_timer_ref last = reuse_refs[REUSE - 1];
	CHECK(lwp_read_timer(last) > 0, "the last one is pending");
	/* Fired ones too: fire, then arm again (likely the same slot). */
	CHECK(lwp_cancel_timer(last) >= 0, "cancel the last");
	lwp_timer_ref fired = lwp_send_after(0, self, TICK, NULL, 0);
	lwp_msg_free(RECV_TAG(TICK));
	lwp_timer_ref next = lwp_send_after(SEC, self, TICK, NULL, 0);
	CHECK(next > 0 && next != fired, "a new ref");
	CHECK_RC(lwp_cancel_timer(fired), LWP_ENOTIMER);
	CHECK(lwp_cancel_timer(next) >= 0, "the new one is pending");
	expect_none(TICK, 0);
}

Test(sendafter, refs_are_never_confused_after_reuse)
{
	t_watchdog(20, "slot reuse");
	T_RUN(NULL, never_confused, NULL);
}

/* ---- bad input ------------------------------------------------------------ */

static lwp_timer_ref last_run_ref;

static void bogus_refs(void *arg)
{
	static const lwp_timer_ref bogus[] = {
		0,
		-1,
		LWP_ENOTIMER,
		INT64_MIN,
		INT64_MAX,
		1,			/* generation 0 */
		(lwp_timer_ref)1 << 32, /* slot 0, generation 1 */
		((lwp_timer_ref)1 << 32) | 0xffffffff, /* no such slot */
		((lwp_timer_ref)1 << 32) | 0x7fffffff,
		((lwp_timer_ref)0x7fffffff << 32) | 5,
	};
	lwp_pid self = lwp_self();

	(void)arg;
	/* One pending timer, so that the table is not empty. */
	lwp_timer_ref mine = lwp_send_after(SEC, self, TICK, NULL, 0);
	REQUIRE(mine > 0, "arm");
	for (size_t i = 0; i < ARRAY_LEN(bogus); i++) {
		if (bogus[i] == mine)
			continue;
		CHECK_RC(lwp_cancel_timer(bogus[i]), LWP_ENOTIMER);
		CHECK_RC(lwp_read_timer(bogus[i]), LWP_ENOTIMER);
	}
	/* The last run's timer was freed when that run stopped; its slot
	 * may hold ours now. */
	if (arg) {
		CHECK(mine != last_run_ref, "a ref of the last run came back");
		CHECK_RC(lwp_cancel_timer(last_run_ref), LWP_ENOTIMER);
		CHECK_RC(lwp_read_timer(last_run_ref), LWP_ENOTIMER);
	}
	CHECK(lwp_read_timer(mine) > 0, "still pending");
	last_run_ref = mine; /* left pending: the stop frees it */
}

Test(sendafter, bogus_refs_are_enotimer)
{
	t_watchdog(20, "bogus refs");
	T_RUN(NULL, bogus_refs, NULL);
	/* Outside a run there is no timer at all. */
	cr_assert_eq(lwp_cancel_timer(last_run_ref), LWP_ENOTIMER);
	cr_assert_eq(lwp_read_timer(last_run_ref), LWP_ENOTIMER);
	T_RUN(NULL, bogus_refs, (void *)1);
}

static void bad_args(void *arg)
{
	lwp_pid self = lwp_self();
	char c = 'x';

	(void)arg;
	CHECK_RC(lwp_send_after(-1, self, TICK, NULL, 0), LWP_EINVAL);
	CHECK_RC(lwp_send_after(INT64_MIN, self, TICK, NULL, 0), LWP_EINVAL);
	CHECK_RC(lwp_send_after(LWP_INFINITY, self, TICK, NULL, 0), LWP_EINVAL);
	CHECK_RC(lwp_send_after(MS, self, TICK, NULL, 1), LWP_EINVAL);
	CHECK_RC(lwp_send_after(MS, self, LWP_TAG_MAX + 1, NULL, 0),
		 LWP_EINVAL);
	CHECK_RC(lwp_send_after(MS, self, UINT64_MAX, NULL, 0), LWP_EINVAL);
	CHECK_RC(lwp_send_after(MS, LWP_NOPID, TICK, NULL, 0), LWP_EBADPID);
	CHECK_RC(lwp_send_after(MS, -5, TICK, NULL, 0), LWP_EBADPID);
	CHECK_RC(lwp_send_after(MS, 5, TICK, NULL, 0), LWP_EBADPID); /* gen 0 */
	CHECK_RC(lwp_send_after(MS, (lwp_pid)1 << 32 | LWP_MAX_PROCS_MAX, TICK,
				NULL, 0),
		 LWP_EBADPID);
	CHECK_RC(lwp_send_after(MS, self, TICK, &c, LWP_MSG_MAX + 1),
		 LWP_ENOMEM);
	/* None of them armed anything; the largest tag and delay are fine. */
	expect_none(TICK, 10 * MS);
	lwp_timer_ref far = lwp_send_after(INT64_MAX, self, LWP_TAG_MAX, &c, 1);
	CHECK(far > 0, "longest delay: %s", lwp_strerror((int)far));
	CHECK(lwp_read_timer(far) > 100 * 365 * 24 * SEC * 3600, "years left");
	CHECK(lwp_cancel_timer(far) > 0, "cancel");
}

Test(sendafter, bad_arguments_have_their_codes)
{
	t_watchdog(20, "bad arguments");
	T_RUN(NULL, bad_args, NULL);
	/* Not running. */
	cr_assert_eq(lwp_send_after(MS, (lwp_pid)1 << 32, TICK, NULL, 0),
		     LWP_ENOTRUNNING);
	cr_assert_eq(lwp_send_after(-1, (lwp_pid)1 << 32, TICK, NULL, 0),
		     LWP_EINVAL);
}

/* ---- across schedulers ---------------------------------------------------- */

static _Atomic int64_t cross_deadline;

/* On scheduler 1: receive the timer that scheduler 0 fires. */
static void receives_on_1(void *arg)
{
	lwp_pid parent = ARG_PID(arg);

	lwp_msg *m = RECV_TAG(TICK);
	int64_t late = lwp_now() - atomic_load(&cross_deadline);
	CHECK(late >= 0, "%" PRId64 " ns early", -late);
	CHECK(lwp_scheduler_id() == 1, "pinned");
	lwp_msg_free(m);
	CHECK_RC(lwp_send(parent, DONE, &late, sizeof(late)), 0);
}

/* On scheduler 0: arm a timer for a process pinned on 1, then exit, so
 * that scheduler 0 goes to sleep until the deadline and fires from
 * there. */
static void arms_for_1(void *arg)
{
	lwp_pid to = ARG_PID(arg);

	atomic_store(&cross_deadline, lwp_now() + 30 * MS);
	CHECK(lwp_send_after(30 * MS, to, TICK, NULL, 0) > 0, "arm");
}

static void cross(void *arg)
{
	(void)arg;
	lwp_pid rx = spawn_on(receives_on_1, (void *)(intptr_t)lwp_self(),
			      LWP_ON_SCHEDULER(1));
	spawn_on(arms_for_1, (void *)(intptr_t)rx, LWP_ON_SCHEDULER(0));
	lwp_msg_free(RECV_TAG(DONE));
}

Test(sendafter, fires_for_a_process_on_another_scheduler)
{
	const lwp_config cfg = { .schedulers = 2 };

	t_watchdog(20, "timer across schedulers");
	T_RUN(&cfg, cross, NULL);
}

/* Many processes on 4 schedulers arm timers for themselves and keep
 * moving (yields, sleeps, stealing) until they come: each must come,
 * never early, wherever its process runs by then. */
#define MIGRANTS    32
#define PER_MIGRANT (200 / DOWN)
static _Atomic long moved;

static void migrant(void *arg)
{
	lwp_pid parent = ARG_PID(arg);
	uint64_t rng = (uint64_t)lwp_self() * 0x9e3779b97f4a7c15ull | 1;
	lwp_pid self = lwp_self();

	for (int i = 0; i < PER_MIGRANT; i++) {
		int64_t ns = (int64_t)(t_rand(&rng) % (2 * MS));
		int64_t due = lwp_now() + ns;
		int on = lwp_scheduler_id();
		CHECK(lwp_send_after(ns, self, TICK, &due, sizeof(due)) > 0,
		      "arm");
		for (int k = (int)(t_rand(&rng) % 4); k > 0; k--)
			lwp_yield();
		if (t_rand(&rng) % 2)
			lwp_sleep((int64_t)(t_rand(&rng) % (1 * MS)));
		lwp_msg *m = RECV_TAG(TICK);
		int64_t got = lwp_now();
		memcpy(&due, m->data, sizeof(due));
		CHECK(got >= due, "%" PRId64 " ns early", due - got);
		lwp_msg_free(m);
		if (lwp_scheduler_id() != on)
			atomic_fetch_add(&moved, 1);
	}
	CHECK_RC(lwp_send(parent, DONE, NULL, 0), 0);
}

static void migrants(void *arg)
{
	(void)arg;
	for (int i = 0; i < MIGRANTS; i++)
		REQUIRE(lwp_spawn(migrant, (void *)(intptr_t)lwp_self()) > 0,
			"spawn");
	for (int i = 0; i < MIGRANTS; i++)
		lwp_msg_free(RECV_TAG(DONE));
}

Test(sendafter, timers_of_migrating_processes_fire)
{
	const lwp_config cfg = { .schedulers = 4 };

	t_watchdog(30, "%d migrating processes x %d timers", MIGRANTS,
		   PER_MIGRANT);
	T_RUN(&cfg, migrants, NULL);
	cr_log_info("%ld of %d timers came on another scheduler",
		    atomic_load(&moved), MIGRANTS * PER_MIGRANT);
}

/* ---- foreign threads -------------------------------------------------------- */

static _Atomic long got_ticks;
static _Atomic int64_t last_tick_at;
static _Atomic int foreign_from_bad;

/* Counts TICKs (from foreign threads: from LWP_NOPID) until DONE. */
static void counts_ticks(void *arg)
{
	(void)arg;
	for (;;) {
		lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
		if (!m)
			return;
		uint64_t tag = m->tag;
		if (m->from != LWP_NOPID)
			atomic_fetch_add(&foreign_from_bad, 1);
		lwp_msg_free(m);
		if (tag == DONE)
			return;
		atomic_store(&last_tick_at, lwp_now());
		atomic_fetch_add(&got_ticks, 1);
	}
}

static int64_t wait_ticks(long n, int64_t limit)
{
	int64_t end = lwp_now() + limit;

	while (atomic_load(&got_ticks) < n && lwp_now() < end)
		nap(100000);
	return atomic_load(&last_tick_at);
}

#define FOREIGN_THREADS 4
#define PER_THREAD	(2000 / DOWN)
static _Atomic lwp_pid foreign_to;
static _Atomic long foreign_cancelled, foreign_bad;

/* Arm PER_THREAD timers, cancel every other one (from this thread too). */
static void *arms_from_thread(void *arg)
{
	uint64_t rng = (uint64_t)(intptr_t)arg * 7919 + 1;
	lwp_pid to = atomic_load(&foreign_to);

	for (int i = 0; i < PER_THREAD; i++) {
		int64_t ns = (int64_t)(t_rand(&rng) % (3 * MS));
		lwp_timer_ref r = lwp_send_after(ns, to, TICK, &i, sizeof(i));
		if (r <= 0) {
			atomic_fetch_add(&foreign_bad, 1);
			continue;
		}
		if (i % 2 && lwp_cancel_timer(r) >= 0)
			atomic_fetch_add(&foreign_cancelled, 1);
	}
	return NULL;
}

Test(sendafter, from_foreign_threads)
{
	const lwp_config cfg = { .schedulers = 2 };
	pthread_t t[FOREIGN_THREADS];
	long n = FOREIGN_THREADS * PER_THREAD;

	t_watchdog(30, "send_after from foreign threads");
	cr_assert_eq(lwp_start(&cfg), 0);
	lwp_pid rx = lwp_spawn(counts_ticks, NULL);
	cr_assert_gt(rx, 0);
	atomic_store(&foreign_to, rx);
	for (intptr_t i = 0; i < FOREIGN_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, arms_from_thread,
					    (void *)i),
			     0);
	for (int i = 0; i < FOREIGN_THREADS; i++)
		cr_assert_eq(pthread_join(t[i], NULL), 0);
	long want = n - atomic_load(&foreign_cancelled);
	wait_ticks(want, T_WAIT);
	nap(10 * MS); /* none of the cancelled ones comes late */
	cr_assert_eq(lwp_send(rx, DONE, NULL, 0), 0);
	cr_assert_eq(lwp_stop(), 0);
	T_CHECKED();
	T_NO_LEAKS();
	cr_assert_eq(atomic_load(&foreign_bad), 0);
	cr_assert_eq(atomic_load(&foreign_from_bad), 0);
	cr_assert_eq(atomic_load(&got_ticks), want,
		     "%ld timers came, %ld armed, %ld cancelled",
		     atomic_load(&got_ticks), n,
		     atomic_load(&foreign_cancelled));
}

/* A sleeping scheduler wakes for a timer a foreign thread arms before its
 * own next deadline (here: a timer an hour away, or none at all). */
Test(sendafter, foreign_timer_wakes_a_sleeping_scheduler)
{
	const lwp_config cfg = { .schedulers = 1 };

	t_watchdog(30, "a sleeping scheduler missed a foreign timer");
	atomic_store(&got_ticks, 0);
	cr_assert_eq(lwp_start(&cfg), 0);
	lwp_pid rx = lwp_spawn(counts_ticks, NULL);
	cr_assert_gt(rx, 0);
	for (int round = 0; round < 2; round++) {
		nap(20 * MS); /* the scheduler goes to sleep */
		int64_t due = lwp_now() + 20 * MS;
		cr_assert_gt(lwp_send_after(20 * MS, rx, TICK, NULL, 0), 0);
		int64_t at = wait_ticks(round + 1, T_WAIT);
		cr_assert_eq(atomic_load(&got_ticks), round + 1,
			     "round %d: the timer did not come", round);
		cr_assert_geq(at, due, "early");
		cr_assert_lt(at - due, SEC * T_SLOW, "%" PRId64 " ns late",
			     at - due);
		/* Next round, the scheduler sleeps until an hour from now. */
		cr_assert_gt(lwp_send_after(3600 * SEC, rx, TICK, NULL, 0), 0);
	}
	cr_assert_eq(lwp_send(rx, DONE, NULL, 0), 0);
	cr_assert_eq(lwp_stop(), 0); /* frees the hour-long timers */
	T_CHECKED();
	T_NO_LEAKS();
	cr_assert_eq(atomic_load(&foreign_from_bad), 0);
}

/* ---- cancel versus fire ---------------------------------------------------- */

/*
 * One process arms timers due within microseconds while another process
 * (or a foreign thread) cancels them as they come: each timer must end
 * exactly one way, delivered or cancelled, never both, never neither.
 */
#define RACE_N (100000 / DOWN)
static _Atomic lwp_timer_ref race_refs[RACE_N];
static _Atomic long race_armed;
static _Atomic unsigned char race_fate[RACE_N]; /* 1 sent, 2 cancelled */
static _Atomic long race_sent, race_cancelled, race_both;
static uint64_t race_seed;

static void race_reset(void)
{
	for (long i = 0; i < RACE_N; i++) {
		atomic_store(&race_refs[i], 0);
		atomic_store(&race_fate[i], 0);
	}
	atomic_store(&race_armed, 0);
	atomic_store(&race_sent, 0);
	atomic_store(&race_cancelled, 0);
	atomic_store(&race_both, 0);
}

static void fate(long i, unsigned char how)
{
	if (atomic_fetch_or(&race_fate[i], how))
		atomic_fetch_add(&race_both, 1);
	atomic_fetch_add(how == 1 ? &race_sent : &race_cancelled, 1);
}

static void race_receiver(void *arg)
{
	(void)arg;
	for (;;) {
		lwp_msg *m = RECV(NULL, NULL);
		uint64_t tag = m->tag;
		long i;
		if (tag == RACE) {
			memcpy(&i, m->data, sizeof(i));
			fate(i, 1);
		}
		lwp_msg_free(m);
		if (tag == DONE)
			return;
	}
}

static void race_armer(void *arg)
{
	lwp_pid rx = ARG_PID(arg);
	uint64_t rng = race_seed;

	for (long i = 0; i < RACE_N; i++) {
		int64_t ns = (int64_t)(t_rand(&rng) % 50000);
		lwp_timer_ref r = lwp_send_after(ns, rx, RACE, &i, sizeof(i));
		REQUIRE(r > 0, "arm: %s", lwp_strerror((int)r));
		atomic_store(&race_refs[i], r);
		atomic_store(&race_armed, i + 1);
		if (i % 16 == 0)
			lwp_yield(); /* fires what is due here */
	}
}

/* Cancel timers in order as they are armed, from a process or a foreign
 * thread: sometimes at once, sometimes after a few spins. */
static void cancel_all(void)
{
	uint64_t rng = race_seed ^ 0x5555;

	for (long i = 0; i < RACE_N; i++) {
		while (atomic_load(&race_armed) <= i)
			if (lwp_yield() == LWP_ENOTPROC)
				sched_yield();
		for (int k = (int)(t_rand(&rng) % 64); k > 0; k--)
			__asm__ volatile("" ::: "memory");
		int64_t left = lwp_cancel_timer(atomic_load(&race_refs[i]));
		if (left >= 0)
			fate(i, 2);
		else
			CHECK_RC(left, LWP_ENOTIMER);
	}
}

static void race_canceller(void *arg)
{
	(void)arg;
	cancel_all();
}

static void race_wait_settled(void)
{
	int64_t end = lwp_now() + T_WAIT;

	while (atomic_load(&race_sent) + atomic_load(&race_cancelled) <
		       RACE_N &&
	       lwp_now() < end)
		nap(100000);
	nap(5 * MS); /* a late duplicate would come by now */
}

static void race_check(const char *who)
{
	long sent = atomic_load(&race_sent), can = atomic_load(&race_cancelled);

	cr_log_info("seed %#" PRIx64 ", %s: %ld sent, %ld cancelled", race_seed,
		    who, sent, can);
	cr_assert_eq(atomic_load(&race_both), 0,
		     "seed %#" PRIx64 ": %ld timers both sent and cancelled",
		     race_seed, atomic_load(&race_both));
	cr_assert_eq(sent + can, RACE_N,
		     "seed %#" PRIx64 ": %ld sent + %ld cancelled of %d",
		     race_seed, sent, can, RACE_N);
}

static void race_main(void *arg)
{
	(void)arg;
	lwp_pid rx = spawn_on(race_receiver, NULL, 0);
	spawn_on(race_armer, (void *)(intptr_t)rx, LWP_ON_SCHEDULER(0));
	spawn_on(race_canceller, NULL, LWP_ON_SCHEDULER(1));
	race_wait_settled();
	CHECK_RC(lwp_send(rx, DONE, NULL, 0), 0);
}

Test(sendafter, cancel_races_fire_between_processes)
{
	const lwp_config cfg = { .schedulers = 2 };

	race_seed = 0x7ea5e1ull;
	race_reset();
	t_watchdog(60, "cancel vs fire race, seed %#" PRIx64 " (a timer lost?)",
		   race_seed);
	T_RUN(&cfg, race_main, NULL);
	race_check("processes");
}

static void *race_foreign(void *arg)
{
	(void)arg;
	cancel_all();
	return NULL;
}

Test(sendafter, cancel_races_fire_from_a_foreign_thread)
{
	const lwp_config cfg = { .schedulers = 2 };
	pthread_t t;

	race_seed = 0xf0e1a5ull;
	race_reset();
	t_watchdog(60, "cancel vs fire race, seed %#" PRIx64 " (a timer lost?)",
		   race_seed);
	cr_assert_eq(lwp_start(&cfg), 0);
	lwp_pid rx = lwp_spawn(race_receiver, NULL);
	cr_assert_gt(rx, 0);
	cr_assert_eq(pthread_create(&t, NULL, race_foreign, NULL), 0);
	lwp_spawn_opts o = { .scheduler = LWP_ON_SCHEDULER(0) };
	cr_assert_gt(lwp_spawn_opt(race_armer, (void *)(intptr_t)rx, &o), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	race_wait_settled();
	cr_assert_eq(lwp_send(rx, DONE, NULL, 0), 0);
	cr_assert_eq(lwp_stop(), 0);
	T_CHECKED();
	T_NO_LEAKS();
	race_check("foreign thread");
}

/*
 * When cancel reports a timer fired, its message is in the mailbox by then:
 * the addressee, cancelling timers that fire meanwhile on another
 * scheduler, finds each one it could not cancel already queued, and never
 * one it cancelled.
 */
#define QUEUED_N (5000 / DOWN)
enum {
	REF = 5,
	BASE = 100 /* tag of timer i: BASE + i */
};
static const uint64_t queued_seed = 0x9e11ed;

static void arms_for_addressee(void *arg)
{
	lwp_pid to = ARG_PID(arg);
	uint64_t rng = queued_seed;

	for (long i = 0; i < QUEUED_N; i++) {
		int64_t ns = (int64_t)(t_rand(&rng) % 10000);
		lwp_timer_ref r = lwp_send_after(ns, to, BASE + i, NULL, 0);
		REQUIRE(r > 0, "arm: %s", lwp_strerror((int)r));
		CHECK_RC(lwp_send(to, REF, &r, sizeof(r)), 0);
		lwp_msg_free(RECV_TAG(DONE)); /* idle here: it fires */
	}
}

/* Pinned on scheduler 0, the armer on 1: its messages wake us here. */
static void cancels_as_they_fire(void *arg)
{
	lwp_pid parent = ARG_PID(arg);
	uint64_t rng = queued_seed ^ 0xffff;
	long fired = 0;

	lwp_pid armer = spawn_on(arms_for_addressee,
				 (void *)(intptr_t)lwp_self(),
				 LWP_ON_SCHEDULER(1));
	for (long i = 0; i < QUEUED_N; i++) {
		lwp_msg *m = RECV_TAG(REF);
		lwp_timer_ref r;
		memcpy(&r, m->data, sizeof(r));
		lwp_msg_free(m);
		/* Aim at the moment it fires: its deadline, give or take. */
		int64_t at = lwp_read_timer(r);
		at = lwp_now() + (at > 0 ? at : 0) +
		     (int64_t)(t_rand(&rng) % 4000) - 1000;
		while (lwp_now() < at)
			;
		int64_t left = lwp_cancel_timer(r);
		m = lwp_receive_tag(BASE + i, 0);
		if (left == LWP_ENOTIMER)
			CHECK(m != NULL,
			      "seed %#" PRIx64 ": timer %ld fired "
			      "but its message is not queued",
			      queued_seed, i);
		else
			CHECK(left >= 0 && m == NULL,
			      "seed %#" PRIx64 ": timer %ld: cancel %" PRId64
			      ", message %p",
			      queued_seed, i, left, (void *)m);
		fired += left == LWP_ENOTIMER;
		lwp_msg_free(m);
		CHECK_RC(lwp_send(armer, DONE, NULL, 0), 0);
	}
	CHECK(lwp_receive(NULL, NULL, 10 * MS) == NULL,
	      "a cancelled timer came");
	cr_log_info("seed %#" PRIx64 ": %ld of %d fired before their cancel",
		    queued_seed, fired, QUEUED_N);
	CHECK_RC(lwp_send(parent, DONE, NULL, 0), 0);
}

static void queued_main(void *arg)
{
	(void)arg;
	spawn_on(cancels_as_they_fire, (void *)(intptr_t)lwp_self(),
		 LWP_ON_SCHEDULER(0));
	lwp_msg_free(RECV_TAG(DONE));
}

Test(sendafter, a_timer_reported_fired_has_queued_its_message)
{
	const lwp_config cfg = { .schedulers = 2 };

	t_watchdog(30, "cancel as timers fire, seed %#" PRIx64, queued_seed);
	T_RUN(&cfg, queued_main, NULL);
}

/* ---- stopping with timers pending ----------------------------------------- */

#define PENDING 1000

static void leaves_timers(void *arg)
{
	lwp_pid self = lwp_self();
	static char big[5000];

	for (int i = 0; i < PENDING; i++) {
		size_t size = (size_t)(i * 7) % sizeof(big);
		lwp_timer_ref r =
			lwp_send_after(10 * SEC + i, self, TICK, big, size);
		REQUIRE(r > 0, "arm");
		if (i % 3 == 0)
			CHECK(lwp_cancel_timer(r) >= 0, "cancel");
	}
	if (arg)
		CHECK_RC(lwp_stop(), 0);
	/* else lwp_main ends here: no process is left */
}

Test(sendafter, stop_frees_pending_timers)
{
	t_watchdog(20, "stop with pending timers");
	T_RUN(NULL, leaves_timers, NULL);      /* the last process returns */
	T_RUN(NULL, leaves_timers, (void *)1); /* lwp_stop() */
	/* Embedded, with foreign timers pending too. */
	cr_assert_eq(lwp_start(NULL), 0);
	lwp_pid p = lwp_spawn(waits_for_go, NULL);
	cr_assert_gt(p, 0);
	for (int i = 0; i < PENDING; i++)
		cr_assert_gt(lwp_send_after(10 * SEC, p, TICK, "x", 2), 0);
	cr_assert_eq(lwp_stop(), 0);
	T_CHECKED();
	T_NO_LEAKS();
}
