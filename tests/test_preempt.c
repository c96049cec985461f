/*
 * test_preempt.c - preemption: a busy process does not hold its scheduler,
 * and a preempted process finds every register as it left it.
 *
 * Nothing here times anything: each test waits for events (a count of
 * preemptions, a message) under the watchdog, and asserts what happened.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>

#include "regs.h"
#include "test_common.h"

/* Enough preemptions to catch a register the switch loses now and then. */
#define PREEMPTIONS 2000

static lwp_config slice_config(unsigned scheds, int64_t slice)
{
	return (lwp_config){ .schedulers = scheds, .timeslice_ns = slice };
}

/* Preemptions performed so far, by every scheduler. */
static uint64_t preemptions(void)
{
	uint64_t n = 0;
	lwp_sched_stats st;

	for (unsigned i = 0; i < lwp_scheduler_count(); i++) {
		CHECK_RC(lwp_scheduler_stats(i, &st), 0);
		n += st.preemptions;
	}
	return n;
}

/* Sleep in small steps until `preemptions()` reaches n. */
static void await_preemptions(uint64_t n)
{
	while (preemptions() < n)
		lwp_sleep(MS);
}

static lwp_spawn_opts on(unsigned sched)
{
	return (lwp_spawn_opts){ .scheduler = LWP_ON_SCHEDULER(sched) };
}

/* ---- a busy process does not hold its scheduler ------------------------- */

static _Atomic uint64_t spun;

static void spin_forever(void *arg)
{
	(void)arg;
	for (;;)
		atomic_fetch_add_explicit(&spun, 1, memory_order_relaxed);
}

static void echo(void *arg)
{
	(void)arg;
	for (;;) {
		lwp_msg *m = RECV(NULL, NULL);
		if (m->tag == 0) {
			lwp_msg_free(m);
			return;
		}
		CHECK_RC(lwp_send(m->from, m->tag, m->data, m->size), 0);
		lwp_msg_free(m);
	}
}

static void reply_once(void *arg)
{
	CHECK_RC(lwp_send((lwp_pid)(intptr_t)arg, 7, NULL, 0), 0);
}

static void pingpong(int rounds)
{
	lwp_pid e = lwp_spawn(echo, NULL);

	REQUIRE(e > 0, "spawn echo");
	for (int i = 1; i <= rounds; i++) {
		CHECK_RC(lwp_send(e, (uint64_t)i, &i, sizeof(i)), 0);
		lwp_msg *m = RECV_TAG((uint64_t)i);
		CHECK(m->size == sizeof(i) && !memcmp(m->data, &i, sizeof(i)),
		      "round %d came back wrong", i);
		lwp_msg_free(m);
	}
	CHECK_RC(lwp_send(e, 0, NULL, 0), 0);
}

/* Two hogs pinned to every scheduler, the caller's included; then
 * ping-pong, timers, spawns and finally lwp_stop must all still work. */
static void among_hogs(void *arg)
{
	lwp_pid self = lwp_self();

	(void)arg;
	for (unsigned i = 0; i < lwp_scheduler_count(); i++)
		for (int k = 0; k < 2; k++) {
			lwp_spawn_opts o = on(i);
			REQUIRE(lwp_spawn_opt(spin_forever, NULL, &o) > 0,
				"spawn a hog");
		}
	CHECK_RC(lwp_yield(), 0); /* the hogs start */
	pingpong(1000);
	for (int i = 0; i < 10; i++) {
		int64_t t0 = lwp_now();
		CHECK_RC(lwp_sleep(MS), 0);
		CHECK(lwp_now() - t0 >= MS, "woke early");
	}
	for (int i = 0; i < 100; i++)
		REQUIRE(lwp_spawn(reply_once, (void *)(intptr_t)self) > 0,
			"spawn");
	for (int i = 0; i < 100; i++)
		lwp_msg_free(RECV_TAG(7));
	CHECK(preemptions() > 0, "the hogs were never preempted");
	CHECK(atomic_load(&spun) > 0, "the hogs never ran");
	CHECK_RC(lwp_stop(), 0); /* the hogs still spin */
}

Test(preempt, hogs_do_not_stop_pingpong_timers_spawns_or_stop_1)
{
	lwp_config cfg = slice_config(1, 0);

	t_watchdog(60, "a hog held the only scheduler");
	T_RUN(&cfg, among_hogs, NULL);
}

Test(preempt, hogs_do_not_stop_pingpong_timers_spawns_or_stop_2)
{
	lwp_config cfg = slice_config(2, 0);

	t_watchdog(60, "a hog held a scheduler");
	T_RUN(&cfg, among_hogs, NULL);
}

/* ---- register state ----------------------------------------------------- */

struct regs_job {
	uint64_t seed;
	int fpctl;
	lwp_pid parent;
	unsigned nbad;
	unsigned char bad[REGS_MAX];
};

static volatile int regs_stop;

static void regs_proc(void *arg)
{
	struct regs_job *j = arg;

	j->nbad = regs_spin(j->seed, &regs_stop, j->fpctl, j->bad);
	CHECK_RC(lwp_send(j->parent, 1, NULL, 0), 0);
}

/* Two processes holding different values in every register take turns on
 * scheduler 0, switched only by preemption, PREEMPTIONS times. */
static void regs_race(void *arg)
{
	struct regs_job *jobs = arg;

	regs_stop = 0;
	for (int i = 0; i < 2; i++) {
		lwp_spawn_opts o = on(0);
		jobs[i].parent = lwp_self();
		REQUIRE(lwp_spawn_opt(regs_proc, &jobs[i], &o) > 0, "spawn");
	}
	await_preemptions(PREEMPTIONS);
	regs_stop = 1;
	for (int i = 0; i < 2; i++)
		lwp_msg_free(RECV_TAG(1));
}

static void check_regs(const struct regs_job *jobs)
{
	for (int i = 0; i < 2; i++) {
		char names[512] = "";
		size_t len = 0;
		for (unsigned r = 0; r < REGS_MAX && len < sizeof(names) - 16;
		     r++)
			if (jobs[i].bad[r])
				len += (size_t)snprintf(names + len,
							sizeof(names) - len,
							" %s", regs_name(r));
		cr_assert_eq(jobs[i].nbad, 0,
			     "process %d lost %u register(s):%s", i,
			     jobs[i].nbad, names);
	}
}

static void run_regs(int fpctl)
{
	struct regs_job jobs[2] = {
		{ .seed = 0x1234567, .fpctl = fpctl },
		{ .seed = 0x89abcdef, .fpctl = fpctl },
	};
	lwp_config cfg = slice_config(1, 100000);

	t_watchdog(120, "%d preemptions of two register-holding processes",
		   PREEMPTIONS);
	T_RUN(&cfg, regs_race, jobs);
	check_regs(jobs);
}

Test(preempt, registers_survive_preemption)
{
	run_regs(0);
}

Test(preempt, registers_and_fp_control_survive_preemption)
{
	run_regs(1);
}

/* ---- safe points: libc, the allocator and the runtime ------------------- */

static FILE *devnull;
static volatile int hammer_stop;

/* malloc/free, printf and send/receive in a loop, checking every byte it
 * wrote: a preemption inside any of them would corrupt or deadlock. */
static void hammer(void *arg)
{
	lwp_pid parent = (lwp_pid)(intptr_t)arg, self = lwp_self();
	uint64_t rng = (uint64_t)self | 1;

	while (!hammer_stop) {
		size_t n = 1 + t_rand(&rng) % 4096;
		unsigned char *b = malloc(n);
		REQUIRE(b, "malloc");
		for (size_t i = 0; i < n; i++)
			b[i] = (unsigned char)(n + i);
		fprintf(devnull, "%zu bytes at %p\n", n, (void *)b);
		size_t sent = n < 256 ? n : 256;
		CHECK_RC(lwp_send(self, n, b, sent), 0);
		lwp_msg *m = lwp_receive_tag(n, 0);
		REQUIRE(m && m->size == sent, "my own message");
		CHECK(!memcmp(m->data, b, sent), "message corrupted");
		lwp_msg_free(m);
		for (size_t i = 0; i < n; i++)
			REQUIRE(b[i] == (unsigned char)(n + i),
				"block corrupted");
		free(b);
	}
	CHECK_RC(lwp_send(parent, 1, NULL, 0), 0);
}

static void hammers(void *arg)
{
	int n = 3 * (int)lwp_scheduler_count();

	(void)arg;
	hammer_stop = 0;
	for (int i = 0; i < n; i++)
		REQUIRE(lwp_spawn(hammer, (void *)(intptr_t)lwp_self()) > 0,
			"spawn");
	await_preemptions(PREEMPTIONS);
	hammer_stop = 1;
	for (int i = 0; i < n; i++)
		lwp_msg_free(RECV_TAG(1));
}

Test(preempt, libc_allocator_and_runtime_calls_are_not_broken_into)
{
	lwp_config cfg = slice_config(2, 100000);

	devnull = fopen("/dev/null", "w");
	cr_assert(devnull);
	t_watchdog(120, "processes hammering malloc, printf and send while "
			"preempted (a deadlock?)");
	T_RUN(&cfg, hammers, NULL);
	fclose(devnull);
}

/* The preemption signal may come from elsewhere too (the host program's
 * own SIGURG, another runtime's tgkill): a storm of them at the scheduler
 * lands inside the handler again and again.  One that landed before the
 * handler had raised the count used to preempt the process from inside
 * the handler, whose interrupted frame could be in the allocator holding
 * its lock: a deadlock under qemu, a crash natively. */
static _Atomic pid_t storm_target;
static _Atomic bool storm_stop;

static void *storm(void *arg)
{
	(void)arg;
	while (!atomic_load(&storm_target) && !atomic_load(&storm_stop))
		sched_yield();
	while (!atomic_load(&storm_stop))
		syscall(SYS_tgkill, getpid(), atomic_load(&storm_target),
			SIGURG);
	return NULL;
}

static void hammers_in_a_storm(void *arg)
{
	atomic_store(&storm_target, gettid()); /* the one scheduler's */
	hammers(arg);
}

Test(preempt, signals_back_to_back_never_break_into_the_allocator)
{
	lwp_config cfg = slice_config(1, LWP_TIMESLICE_MIN);
	pthread_t t;

	devnull = fopen("/dev/null", "w");
	cr_assert(devnull);
	atomic_store(&storm_target, 0);
	atomic_store(&storm_stop, false);
	cr_assert_eq(pthread_create(&t, NULL, storm, NULL), 0);
	t_watchdog(120, "processes hammering malloc under a storm of "
			"preemption signals (a deadlock?)");
	T_RUN(&cfg, hammers_in_a_storm, NULL);
	atomic_store(&storm_stop, true);
	pthread_join(t, NULL);
	fclose(devnull);
}

/* ---- lwp_preempt_disable ------------------------------------------------- */

static _Atomic int neighbour_ran;

static void neighbour(void *arg)
{
	(void)arg;
	atomic_store(&neighbour_ran, 1);
}

static uint64_t deferred(void)
{
	lwp_sched_stats st;

	CHECK_RC(lwp_scheduler_stats(0, &st), 0);
	return st.preempt_deferred;
}

/* One scheduler: the neighbour can run only if the caller gives way. */
static void disabled_region(void *arg)
{
	lwp_spawn_opts o = on(0);
	uint64_t before;

	(void)arg;
	CHECK_RC(lwp_preempt_enable(), LWP_EINVAL);
	CHECK_RC(lwp_preempt_disable(), 0);
	CHECK_RC(lwp_preempt_disable(), 0); /* nests */
	REQUIRE(lwp_spawn_opt(neighbour, NULL, &o) > 0, "spawn");
	before = deferred();
	while (deferred() == before) /* a signal came and was refused */
		;
	CHECK(!atomic_load(&neighbour_ran), "preempted while disabled");
	CHECK_RC(lwp_preempt_enable(), 0);
	CHECK(!atomic_load(&neighbour_ran), "an inner enable gave way");
	CHECK_RC(lwp_preempt_enable(), 0); /* takes the deferred preemption */
	CHECK(atomic_load(&neighbour_ran), "the deferred preemption was lost");
	CHECK_RC(lwp_preempt_enable(), LWP_EINVAL);
}

Test(preempt, disabled_regions_nest_and_enable_takes_what_was_deferred)
{
	lwp_config cfg = slice_config(1, 100000);

	atomic_store(&neighbour_ran, 0);
	t_watchdog(60, "a preemption signal inside a disabled region");
	T_RUN(&cfg, disabled_region, NULL);
}

/* ---- the timeslice ------------------------------------------------------- */

/* Spin for `ns`, then say whether the neighbour ran meanwhile. */
static bool neighbour_ran_during_spin(int64_t ns)
{
	lwp_spawn_opts o = on(0);
	int64_t end;

	atomic_store(&neighbour_ran, 0);
	REQUIRE(lwp_spawn_opt(neighbour, NULL, &o) > 0, "spawn");
	end = lwp_now() + ns;
	while (lwp_now() < end)
		;
	return atomic_load(&neighbour_ran);
}

static void never_preempted(void *arg)
{
	(void)arg;
	CHECK(!neighbour_ran_during_spin(20 * MS), "preempted");
	CHECK_RC(preemptions(), 0);
}

Test(preempt, infinite_timeslice_turns_preemption_off)
{
	lwp_config cfg = slice_config(1, LWP_INFINITY);

	t_watchdog(60, "20 ms of spinning");
	T_RUN(&cfg, never_preempted, NULL);
}

static void preempted_by_default(void *arg)
{
	lwp_spawn_opts o = on(0);

	(void)arg;
	atomic_store(&neighbour_ran, 0);
	REQUIRE(lwp_spawn_opt(neighbour, NULL, &o) > 0, "spawn");
	while (!atomic_load(&neighbour_ran)) /* only preemption ends it */
		;
	/* Performed, or deferred and taken at the end of a runtime call
	 * (on a slow machine the slice may end inside lwp_spawn_opt). */
	CHECK(preemptions() + deferred() > 0, "not counted");
}

Test(preempt, default_timeslice_preempts)
{
	lwp_config cfg = slice_config(1, 0);

	t_watchdog(60, "a spinning process was never preempted");
	T_RUN(&cfg, preempted_by_default, NULL);
}

/* ---- the host's own handler --------------------------------------------- */

static _Atomic int host_calls;

static void host_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)si, (void)uc;
	atomic_fetch_add(&host_calls, 1);
}

/* Raise SIGURG until the host's handler has seen it: a standard signal
 * sent while another (a preemption, say) is pending for the same thread
 * merges with it, so a send may have to be repeated. */
static void send_until_seen(pid_t tid)
{
	int before = atomic_load(&host_calls);

	while (atomic_load(&host_calls) == before) {
		if (tid)
			syscall(SYS_tgkill, getpid(), tid, SIGURG);
		else
			kill(getpid(), SIGURG);
		sched_yield();
	}
}

static void *kill_from_outside(void *arg)
{
	(void)arg;
	for (int i = 0; i < 5; i++)
		send_until_seen(0);
	return NULL;
}

/* Scheduler 1 has two hogs, to be preempted in turns; the caller raises
 * SIGURG itself, and a foreign thread sends it to the program. */
static void host_signals(void *arg)
{
	lwp_spawn_opts o = on(1);
	pthread_t t;

	(void)arg;
	for (int i = 0; i < 2; i++)
		REQUIRE(lwp_spawn_opt(spin_forever, NULL, &o) > 0, "spawn");
	for (int i = 0; i < 10; i++)
		send_until_seen(gettid()); /* from inside a process */
	REQUIRE(pthread_create(&t, NULL, kill_from_outside, NULL) == 0,
		"thread");
	pthread_join(t, NULL);
	await_preemptions(20);
	CHECK_RC(lwp_stop(), 0);
}

Test(preempt, host_handler_is_chained_and_restored)
{
	struct sigaction sa, host, after;
	lwp_config cfg = slice_config(2, 100000);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = host_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGURG, &sa, &host), 0);
	t_watchdog(60, "the host's SIGURG handler was not called");
	T_RUN(&cfg, host_signals, NULL);
	cr_assert_eq(sigaction(SIGURG, NULL, &after), 0);
	cr_assert(after.sa_sigaction == host_handler,
		  "the host's handler was not restored");
	cr_assert_eq(sigaction(SIGURG, &host, NULL), 0);
}

/* ---- bad input ---------------------------------------------------------- */

static int run_with(int64_t slice, int signo)
{
	lwp_config cfg = { .timeslice_ns = slice, .preempt_signal = signo };

	return lwp_main(&cfg, neighbour, NULL);
}

Test(preempt, bad_timeslices_and_signals_are_refused)
{
	cr_assert_eq(run_with(LWP_TIMESLICE_MIN - 1, 0), LWP_EINVAL);
	cr_assert_eq(run_with(LWP_TIMESLICE_MAX + 1, 0), LWP_EINVAL);
	cr_assert_eq(run_with(-2, 0), LWP_EINVAL);
	cr_assert_eq(run_with(0, -1), LWP_EINVAL);
	cr_assert_eq(run_with(0, 4096), LWP_EINVAL);
	cr_assert_eq(run_with(0, SIGKILL), LWP_EINVAL);
	cr_assert_eq(run_with(0, SIGSEGV), LWP_EINVAL);
	cr_assert_eq(run_with(0, SIGBUS), LWP_EINVAL);
	cr_assert_eq(run_with(LWP_TIMESLICE_MIN, 0), 0);
	cr_assert_eq(run_with(0, SIGRTMIN + 3), 0);
	cr_assert_eq(run_with(LWP_INFINITY, 0), 0);
}

static void stats_in_a_process(void *arg)
{
	lwp_sched_stats st;

	(void)arg;
	CHECK_RC(lwp_scheduler_stats(0, NULL), LWP_EINVAL);
	CHECK_RC(lwp_scheduler_stats(lwp_scheduler_count(), &st), LWP_EINVAL);
	CHECK_RC(lwp_scheduler_stats(0, &st), 0);
}

Test(preempt, preempt_calls_check_their_caller_and_arguments)
{
	lwp_sched_stats st;
	int local;

	cr_assert_eq(lwp_preempt_disable(), LWP_ENOTPROC);
	cr_assert_eq(lwp_preempt_enable(), LWP_ENOTPROC);
	cr_assert_eq(lwp_scheduler_stats(0, &st), LWP_ENOTRUNNING);
	cr_assert_eq(lwp_scheduler_stats(0, NULL), LWP_EINVAL);
	cr_assert_eq(lwp_preempt_allow(NULL), LWP_EINVAL);
	cr_assert_eq(lwp_preempt_allow(&local), LWP_EINVAL);
	cr_assert_eq(lwp_preempt_allow((const void *)hammer), 0);
	T_RUN(NULL, stats_in_a_process, NULL);
}

/* ---- a signal frame that does not fit ------------------------------------ */

static _Atomic int spun_to_the_end;

static __attribute__((__noinline__)) void spin_low(volatile char *pad,
						   int64_t until)
{
	while (lwp_now() < until)
		;
	pad[0] = 1;
	atomic_store(&spun_to_the_end, 1);
}

/* Spin with 256 bytes of stack left: less than any signal frame, so the
 * kernel cannot deliver the preemption signal and sends SIGSEGV instead.
 * Stacks are whole pages whose top is page-aligned, so the lowest byte is
 * known from any address in the top page. */
static void spin_near_the_guard(void *arg)
{
	char here;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t top = ((uintptr_t)&here + page - 1) & ~(page - 1);
	uintptr_t lo = top - LWP_STACK_MIN;
	size_t fill = (size_t)((uintptr_t)&here - lo) - 256;
	volatile char pad[fill];

	(void)arg;
	spin_low(pad, lwp_now() + T_WAIT);
}

static void overflow_in_a_signal_frame(void *arg)
{
	lwp_spawn_opts o = { .stack_size = LWP_STACK_MIN,
			     .scheduler = LWP_ON_SCHEDULER(0) };
	lwp_pid p = lwp_spawn_opt(spin_near_the_guard, NULL, &o);

	(void)arg;
	REQUIRE(p > 0, "spawn");
	t_wait_dead(p);
	CHECK(!atomic_load(&spun_to_the_end),
	      "it spun to the end: no preemption signal came");
}

Test(preempt, a_signal_frame_that_does_not_fit_ends_only_its_process)
{
	lwp_config cfg = slice_config(1, 100000);

	t_watchdog(60, "a process spinning at the end of its stack");
	T_RUN(&cfg, overflow_in_a_signal_frame, NULL);
}
