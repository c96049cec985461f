/*
 * boom_link.c - Elixir processes tutorial, "spawn_link".
 *
 * A process spawned with spawn_link raises "boom!" when it gets :boom.
 * Linked, its crash reaches the caller.  In iex the shell dies of it and a
 * supervisor starts a new one; a C program has no supervisor around its
 * first process, so the shell here traps exits and receives the crash as
 * an EXIT message instead (examples/supervisor.c restarts a worker).
 * The runtime prints the crashed process's error report on stderr.
 * Output (stdout):
 *
 *     ** (EXIT from <0.1.1>) {1,"boom!"}
 *
 * and on stderr:
 *
 *     =ERROR REPORT==== 21-Nov-2026::16:49:14 ===
 *     Error in process <0.1.1> with exit value: {1,"boom!"}
 */
#include <stdio.h>

#include "lwp.h"

enum {
	BOOM = 1
}; /* :boom */

/* fn -> receive do :boom -> raise "boom!" end end */
static void boomer(void *arg)
{
	(void)arg;
	lwp_msg_free(lwp_receive_tag(BOOM, LWP_INFINITY));
	lwp_exit_text(1, "boom!");
}

static void shell(void *arg)
{
	(void)arg;
	lwp_trap_exits(true);
	lwp_pid pid = lwp_spawn_link(boomer, NULL);

	lwp_send(pid, BOOM, NULL, 0); /* pid <- :boom */

	lwp_msg *m = lwp_receive_tag(LWP_TAG_EXIT, LWP_INFINITY);
	const lwp_exit_info *x = lwp_exit_info_of(m);
	char why[128];

	lwp_reason_format(&x->reason, why, sizeof(why));
	printf("** (EXIT from %s) %s\n", lwp_pid_str(x->pid).s, why);
	lwp_msg_free(m);
}

int main(void)
{
	/* One scheduler: the pids, and so the output, are the same each run. */
	lwp_config cfg = { .schedulers = 1 };

	return lwp_main(&cfg, shell, NULL) < 0;
}
