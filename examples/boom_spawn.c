/*
 * boom_spawn.c - Elixir processes tutorial, "spawn_link", second half.
 *
 * The same process started with plain spawn: its crash reaches no one,
 * and all that shows is the runtime's error report on stderr; the shell
 * carries on.  (To know when to go on, the shell here monitors the process,
 * which iex's prompt did not need.)  Output (stdout):
 *
 *     shell <0.0.1> carries on
 *
 * and on stderr:
 *
 *     =ERROR REPORT==== 21-Nov-2026::16:49:50 ===
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
	lwp_pid pid = lwp_spawn(boomer, NULL);

	lwp_monitor(pid);
	lwp_send(pid, BOOM, NULL, 0); /* pid <- :boom */
	lwp_msg_free(lwp_receive_tag(LWP_TAG_DOWN, LWP_INFINITY));
	printf("shell %s carries on\n", lwp_pid_str(lwp_self()).s);
}

int main(void)
{
	/* One scheduler: the pids, and so the output, are the same each run. */
	lwp_config cfg = { .schedulers = 1 };

	return lwp_main(&cfg, shell, NULL) < 0;
}
