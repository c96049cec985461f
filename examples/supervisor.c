/*
 * supervisor.c - the Elixir tutorial's "boom!" worker, under a supervisor.
 *
 * The tutorial's spawn_link example ends with: "Our iex session stays
 * alive because it is internally restarted by a process Supervisor."
 * Here the worker is the one restarted: it waits for :boom and crashes
 * with {1,"boom!"} (the error report goes to stderr, as the tutorial
 * shows); the supervisor (one_for_one, at most 3 restarts in 5 s) starts
 * a new one.  The shell sends :boom twice, sees a new worker each time,
 * then stops the supervisor, which asks the worker to shut down and
 * gives it a second to clean up.  Pids differ from run to run, so the
 * program prints how they relate rather than what they are.  Output:
 *
 *     supervisor started, worker up
 *     shell: sending :boom
 *     worker: got :boom, raising "boom!"
 *     worker restarted: a new pid, the old one is dead
 *     shell: sending :boom
 *     worker: got :boom, raising "boom!"
 *     worker restarted: a new pid, the old one is dead
 *     which_children: worker, permanent, running
 *     shell: stopping the supervisor
 *     worker: shutting down, cleaning up
 *     supervisor stopped, worker gone
 */
#include <stdio.h>

#include "lwp.h"

enum {
	READY = 1, /* a worker is up: from is its pid */
	BOOM,	   /* :boom */
};

/* receive do :boom -> raise "boom!" end, reporting to the shell first */
static void worker(void *arg)
{
	lwp_pid shell = *(const lwp_pid *)arg;

	lwp_trap_exits(true); /* to clean up when the supervisor asks */
	lwp_send(shell, READY, NULL, 0);
	for (;;) {
		lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
		const lwp_exit_info *x = lwp_exit_info_of(m);
		if (m->tag == BOOM) {
			lwp_msg_free(m);
			puts("worker: got :boom, raising \"boom!\"");
			fflush(stdout);
			lwp_exit_text(1, "boom!");
		}
		if (x && x->reason.code == LWP_EXIT_SHUTDOWN) {
			lwp_msg_free(m);
			puts("worker: shutting down, cleaning up");
			lwp_exit(LWP_EXIT_SHUTDOWN);
		}
		lwp_msg_free(m);
	}
}

static lwp_pid wait_ready(void)
{
	lwp_msg *m = lwp_receive_tag(READY, LWP_INFINITY);
	lwp_pid pid = m->from;

	lwp_msg_free(m);
	return pid;
}

static void shell(void *arg)
{
	(void)arg;
	static lwp_pid self;
	self = lwp_self();
	const lwp_child_spec children[] = { {
		.id = "worker",
		.fn = worker,
		.arg = &self,
		.restart = LWP_PERMANENT,
		.shutdown_ns = 1000000000, /* 1 s to clean up */
	} };
	const lwp_sup_spec spec = {
		.strategy = LWP_ONE_FOR_ONE,
		.intensity = 3,
		.period_ns = 5000000000,
		.children = children,
		.nchildren = 1,
	};
	lwp_pid sup = lwp_supervisor_start_link(&spec);
	lwp_child_info info;

	if (sup < 0) {
		fprintf(stderr, "start_link: %s\n", lwp_strerror((int)sup));
		return;
	}
	lwp_pid pid = wait_ready();
	puts("supervisor started, worker up");
	for (int i = 0; i < 2; i++) {
		puts("shell: sending :boom");
		fflush(stdout);
		lwp_send(pid, BOOM, NULL, 0); /* pid <- :boom */
		lwp_pid now = wait_ready();
		printf("worker restarted: %s, the old one is %s\n",
		       now != pid ? "a new pid" : "the same pid",
		       lwp_is_alive(pid) ? "alive" : "dead");
		pid = now;
	}
	if (lwp_supervisor_which_children(sup, &info, 1) == 1)
		printf("which_children: %s, %s, %s\n", info.id,
		       info.restart == LWP_PERMANENT ? "permanent" : "other",
		       info.pid == pid ? "running" : "not running");
	puts("shell: stopping the supervisor");
	fflush(stdout);
	int err = lwp_supervisor_stop(sup);
	printf("supervisor %s, worker %s\n", err ? "not stopped" : "stopped",
	       lwp_is_alive(pid) ? "alive" : "gone");
}

int main(void)
{
	return lwp_main(NULL, shell, NULL) < 0;
}
