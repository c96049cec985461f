/*
 * test_info.c - lwp_process_info, lwp_processes and lwp_process_dump.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test_common.h"

TestSuite(info, .timeout = 60 * T_SLOW);

enum {
	GO = 100,
	HERE = 101,
	OTHER = 102
};

#define ARG_PID(arg) ((lwp_pid)(intptr_t)(arg))
#define PID_ARG(pid) ((void *)(intptr_t)(pid))

static lwp_proc_info info_of(lwp_pid pid)
{
	lwp_proc_info in;

	CHECK_RC(lwp_process_info(pid, &in), 0);
	return in;
}

static void waits_for_go(void *arg)
{
	(void)arg;
	lwp_msg_free(RECV_TAG(GO));
}

/* ---- the caller itself ------------------------------------------------- */

static void describes_itself(void *arg)
{
	lwp_pid self = lwp_self(), kids[3];
	lwp_proc_info in;
	lwp_ref ref;

	(void)arg;
	for (int i = 0; i < 3; i++)
		CHECK_RC(lwp_send(self, OTHER, "x", 1), 0);
	CHECK_RC(lwp_register("describer", self), 0);
	CHECK_RC(lwp_trap_exits(true), 0);
	for (int i = 0; i < 3; i++)
		kids[i] = lwp_spawn_link(waits_for_go, NULL);
	ref = lwp_monitor(kids[0]);
	CHECK(ref > 0, "monitor: %s", lwp_strerror((int)ref));

	in = info_of(self);
	CHECK(in.pid == self, "pid");
	CHECK(in.status == LWP_STATUS_RUNNING, "status %s",
	      lwp_status_name((int)in.status));
	CHECK(in.scheduler == lwp_scheduler_id(), "scheduler %d, want %d",
	      in.scheduler, lwp_scheduler_id());
	CHECK(in.home == -1, "home %d", in.home);
	CHECK(strcmp(in.name, "describer") == 0, "name '%s'", in.name);
	CHECK(in.mailbox == 3, "mailbox %ld, want 3 (exact for itself)",
	      in.mailbox);
	CHECK(in.links == 3 && in.monitors == 1, "links %u monitors %u",
	      in.links, in.monitors);
	CHECK(in.trap_exits, "trap_exits");
	CHECK(in.fn == describes_itself, "fn");
	CHECK(in.stack_size == LWP_STACK_DEFAULT, "stack size %zu",
	      in.stack_size);
	CHECK(in.stack_used > 0 && in.stack_used < in.stack_size,
	      "stack used %zu", in.stack_used);
	CHECK(in.stack_resident >= in.stack_used &&
		      in.stack_resident <= in.stack_size,
	      "stack resident %zu, used %zu", in.stack_resident, in.stack_used);

	/* Relations leave the counts as they go. */
	CHECK_RC(lwp_demonitor(ref, 0), 1);
	CHECK_RC(lwp_unlink(kids[1]), 0);
	in = info_of(self);
	CHECK(in.links == 2 && in.monitors == 0, "links %u monitors %u",
	      in.links, in.monitors);
	for (int i = 0; i < 3; i++)
		CHECK_RC(lwp_send(kids[i], GO, NULL, 0), 0);
	while (lwp_mailbox_size() > 0)
		lwp_msg_free(lwp_receive(NULL, NULL, 0));
}

Test(info, describes_the_caller)
{
	lwp_config cfg = { .schedulers = 1 };

	T_RUN(&cfg, describes_itself, NULL);
}

/* Each switch out counts once: n yields to the other yielder, and one
 * wait. */
static void yields_then_waits(void *arg)
{
	for (int i = 0; i < (int)(intptr_t)arg; i++)
		lwp_yield();
	lwp_msg_free(RECV_TAG(GO));
}

static void counts_switches(void *arg)
{
	int n = (int)(intptr_t)arg;
	lwp_pid kids[2];
	lwp_proc_info in;

	for (int i = 0; i < 2; i++) {
		kids[i] = lwp_spawn(yields_then_waits, arg);
		REQUIRE(kids[i] > 0, "spawn");
	}
	in = info_of(kids[0]);
	CHECK(in.status == LWP_STATUS_RUNNABLE && in.scheduler == -1 &&
		      in.switches == 0,
	      "before it ran: %s on %d, %llu switches",
	      lwp_status_name((int)in.status), in.scheduler,
	      (unsigned long long)in.switches);
	for (int i = 0; i < 2; i++) {
		in = t_wait_info(kids[i], t_is_waiting);
		CHECK(in.switches == (uint64_t)n + 1, "%llu switches, want %d",
		      (unsigned long long)in.switches, n + 1);
		CHECK(in.scheduler == 0, "ran on %d", in.scheduler);
		CHECK_RC(lwp_send(kids[i], GO, NULL, 0), 0);
	}
}

Test(info, counts_switches)
{
	/* No preemption: every switch is one the process asked for. */
	lwp_config cfg = { .schedulers = 1, .timeslice_ns = LWP_INFINITY };

	T_RUN(&cfg, counts_switches, (void *)(intptr_t)1000);
}

/* ---- other processes ----------------------------------------------------- */

static _Atomic bool spin_on;

static void spins(void *arg)
{
	(void)arg;
	while (atomic_load(&spin_on))
		;
}

static bool is_running(const lwp_proc_info *in)
{
	return in->status == LWP_STATUS_RUNNING;
}

/* A process spinning on scheduler 1 is seen running there. */
static void sees_running_elsewhere(void *arg)
{
	lwp_spawn_opts o = { .scheduler = LWP_ON_SCHEDULER(1) };
	lwp_pid kid;
	lwp_proc_info in;

	(void)arg;
	atomic_store(&spin_on, true);
	kid = lwp_spawn_opt(spins, NULL, &o);
	REQUIRE(kid > 0, "spawn");
	in = t_wait_info(kid, is_running);
	CHECK(in.scheduler == 1 && in.home == 1, "on %d, home %d", in.scheduler,
	      in.home);
	atomic_store(&spin_on, false);
	t_wait_dead(kid);
}

Test(info, sees_a_process_running_elsewhere)
{
	lwp_config cfg = { .schedulers = 2 };

	T_RUN(&cfg, sees_running_elsewhere, NULL);
}

static void sleeps(void *arg)
{
	(void)arg;
	lwp_sleep(T_WAIT);
}

/* What arrived is counted once the process has looked at it: a waiting
 * receive that does not match leaves it queued. */
static void waits_for_go_selectively(void *arg)
{
	(void)arg;
	lwp_msg_free(RECV_TAG(GO));
	while (lwp_mailbox_size() > 0)
		lwp_msg_free(lwp_receive(NULL, NULL, 0));
}

static bool has_five(const lwp_proc_info *in)
{
	return in->status == LWP_STATUS_WAITING && in->mailbox == 5;
}

static void sees_others(void *arg)
{
	lwp_pid sleeper = lwp_spawn(sleeps, NULL);
	lwp_pid picky = lwp_spawn(waits_for_go_selectively, NULL);
	lwp_proc_info in;
	lwp_ref ref;

	(void)arg;
	REQUIRE(sleeper > 0 && picky > 0, "spawn");
	in = t_wait_info(sleeper, t_is_waiting);
	CHECK(in.mailbox == 0 && in.links == 0 && !in.trap_exits,
	      "sleeper: mailbox %ld links %u", in.mailbox, in.links);
	(void)t_wait_info(picky, t_is_waiting);
	for (int i = 0; i < 5; i++)
		CHECK_RC(lwp_send(picky, OTHER, NULL, 0), 0);
	in = t_wait_info(picky, has_five);
	CHECK(in.fn == waits_for_go_selectively, "fn");
	CHECK(in.stack_used > 0 && in.stack_used < in.stack_size,
	      "stack used %zu of %zu", in.stack_used, in.stack_size);

	ref = lwp_monitor(picky);
	CHECK_RC(lwp_send(picky, GO, NULL, 0), 0);
	lwp_msg_free(RECV_TAG(LWP_TAG_DOWN));
	CHECK_RC(lwp_process_info(picky, &in), LWP_ENOPROC);
	(void)ref;
	CHECK_RC(lwp_kill(sleeper, LWP_EXIT_KILL), 0);
	t_wait_dead(sleeper);
}

Test(info, describes_waiting_processes)
{
	lwp_config cfg = { .schedulers = 2 };

	T_RUN(&cfg, sees_others, NULL);
}

/* The stack a process has used where it waits, and its size.  ASan may
 * keep the frames' arrays on its fake stack instead. */
#ifdef T_LSAN
#define FRAME_MIN 100
#else
#define FRAME_MIN 1024
#endif

static void deep_then_wait(int depth)
{
	volatile char pad[1024];

	pad[0] = (char)depth;
	if (depth > 0)
		deep_then_wait(depth - 1);
	else
		lwp_msg_free(RECV_TAG(GO));
	pad[1] = pad[0];
}

static void goes_deep(void *arg)
{
	deep_then_wait((int)(intptr_t)arg);
}

static void measures_stacks(void *arg)
{
	lwp_spawn_opts o = { .stack_size = 256 * 1024 };
	lwp_pid kid = lwp_spawn_opt(goes_deep, (void *)(intptr_t)100, &o);
	lwp_proc_info in;

	(void)arg;
	REQUIRE(kid > 0, "spawn");
	in = t_wait_info(kid, t_is_waiting);
	CHECK(in.stack_size == 256 * 1024, "size %zu", in.stack_size);
	CHECK(in.stack_used >= FRAME_MIN * 100 && in.stack_used < 200 * 1024,
	      "100 frames of 1 KiB use %zu bytes", in.stack_used);
	CHECK(in.stack_resident >= in.stack_used &&
		      in.stack_resident <= in.stack_size,
	      "resident %zu, used %zu", in.stack_resident, in.stack_used);
	CHECK_RC(lwp_send(kid, GO, NULL, 0), 0);
}

Test(info, measures_stacks)
{
	T_RUN(NULL, measures_stacks, NULL);
}

/* ---- from a foreign thread, and bad input ------------------------------- */

static void *describe_from_thread(void *arg)
{
	lwp_proc_info in;
	int rc = lwp_process_info(ARG_PID(arg), &in);

	CHECK(rc == 0, "foreign lwp_process_info: %s", lwp_strerror(rc));
	CHECK(rc != 0 || in.pid == ARG_PID(arg), "pid");
	return NULL;
}

static void bad_input(void *arg)
{
	lwp_pid kid = lwp_spawn(waits_for_go, NULL);
	lwp_pid dead = lwp_spawn(waits_for_go, NULL);
	lwp_proc_info in;
	pthread_t t;

	(void)arg;
	REQUIRE(kid > 0 && dead > 0, "spawn");
	CHECK_RC(lwp_process_info(kid, NULL), LWP_EINVAL);
	CHECK_RC(lwp_process_info(0, &in), LWP_EBADPID);
	CHECK_RC(lwp_process_info(-5, &in), LWP_EBADPID);
	CHECK_RC(lwp_process_info(LWP_NOPID, &in), LWP_EBADPID);
	CHECK_RC(lwp_send(dead, GO, NULL, 0), 0);
	t_wait_dead(dead);
	CHECK_RC(lwp_process_info(dead, &in), LWP_ENOPROC);
	REQUIRE(pthread_create(&t, NULL, describe_from_thread, PID_ARG(kid)) ==
			0,
		"pthread_create");
	REQUIRE(pthread_join(t, NULL) == 0, "join");
	CHECK_RC(lwp_send(kid, GO, NULL, 0), 0);
}

Test(info, bad_input_and_foreign_threads)
{
	lwp_proc_info in;
	lwp_pid pids[4];

	T_RUN(NULL, bad_input, NULL);
	cr_assert_eq(lwp_process_info(1, &in), LWP_ENOTRUNNING);
	cr_assert_eq(lwp_processes(pids, 4), LWP_ENOTRUNNING);
	cr_assert_eq(lwp_process_dump(STDOUT_FILENO), LWP_ENOTRUNNING);
}

Test(info, status_names)
{
	cr_assert_str_eq(lwp_status_name(LWP_STATUS_RUNNING), "running");
	cr_assert_str_eq(lwp_status_name(LWP_STATUS_RUNNABLE), "runnable");
	cr_assert_str_eq(lwp_status_name(LWP_STATUS_WAITING), "waiting");
	cr_assert_str_eq(lwp_status_name(LWP_STATUS_EXITING), "exiting");
	cr_assert_null(lwp_status_name(0));
	cr_assert_null(lwp_status_name(LWP_STATUS_EXITING + 1));
}

/* ---- the process list and the dump -------------------------------------- */

#define NKIDS 50

static bool listed(const lwp_pid *v, long n, lwp_pid pid)
{
	for (long i = 0; i < n; i++)
		if (v[i] == pid)
			return true;
	return false;
}

static void lists_processes(void *arg)
{
	lwp_pid kids[NKIDS], all[NKIDS + 8];
	long n;

	(void)arg;
	for (int i = 0; i < NKIDS; i++) {
		kids[i] = lwp_spawn(waits_for_go, NULL);
		REQUIRE(kids[i] > 0, "spawn");
	}
	n = lwp_processes(all, NKIDS + 8);
	CHECK(n == NKIDS + 1, "%ld processes listed, want %d", n, NKIDS + 1);
	CHECK(listed(all, n, lwp_self()), "the caller is not listed");
	for (int i = 0; i < NKIDS; i++)
		CHECK(listed(all, n, kids[i]), "kid %d is not listed", i);
	CHECK(lwp_processes(all, 3) == NKIDS + 1, "a short list counts all");
	CHECK(lwp_processes(NULL, 0) == NKIDS + 1, "counting only");
	CHECK_RC(lwp_processes(NULL, 1), LWP_EINVAL);
	for (int i = 0; i < NKIDS; i++)
		CHECK_RC(lwp_send(kids[i], GO, NULL, 0), 0);
}

Test(info, lists_processes)
{
	T_RUN(NULL, lists_processes, NULL);
}

static void dumps_processes(void *arg)
{
	char path[] = "/tmp/lwp-dump-XXXXXX", buf[16384], *eol;
	int fd = mkstemp(path);
	lwp_pid kids[3];
	ssize_t len;
	long n;

	(void)arg;
	REQUIRE(fd >= 0, "mkstemp");
	unlink(path);
	for (int i = 0; i < 3; i++)
		kids[i] = lwp_spawn(waits_for_go, NULL);
	CHECK_RC(lwp_register("dumped", kids[1]), 0);
	for (int i = 0; i < 3; i++)
		(void)t_wait_info(kids[i], t_is_waiting);
	n = lwp_process_dump(fd);
	CHECK(n == 4, "dumped %ld processes, want 4", n);
	len = pread(fd, buf, sizeof(buf) - 1, 0);
	REQUIRE(len > 0, "read the dump back");
	buf[len] = '\0';
	CHECK(strncmp(buf, "pid ", 4) == 0, "no header: %.40s", buf);
	for (int i = 0; i < 3; i++) {
		char *line = strstr(buf, lwp_pid_str(kids[i]).s);
		REQUIRE(line != NULL, "kid %d is not in the dump", i);
		CHECK(strncmp(strchr(line, ' ') +
				      strspn(strchr(line, ' '), " "),
			      "waiting", 7) == 0,
		      "kid %d: %.60s", i, line);
		/* A static function: its object and offset, on its line. */
		eol = strchr(line, '\n');
		REQUIRE(eol != NULL, "kid %d's line has no end", i);
		CHECK(memmem(line, (size_t)(eol - line), "+0x", 3) != NULL,
		      "kid %d's function: %.*s", i, (int)(eol - line), line);
	}
	CHECK(strstr(buf, "'dumped'") != NULL, "the registered name");
	CHECK(strstr(buf, "running") != NULL, "the caller runs");
	close(fd);
	CHECK_RC(lwp_process_dump(-1), LWP_ESYS);
	for (int i = 0; i < 3; i++)
		CHECK_RC(lwp_send(kids[i], GO, NULL, 0), 0);
}

Test(info, dumps_processes)
{
	T_RUN(NULL, dumps_processes, NULL);
}
