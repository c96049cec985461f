/*
 * print_result.c - LFE processes tutorial, 1.3 "Shell spawn".
 *
 * print-result waits for one message and prints it.  The first process
 * spawns it and sends it a string.  Output:
 *
 *     Received message: 'Time is an illusion. Lunchtime doubly so.'
 */
#include <stdio.h>

#include "lwp.h"
#include "terms.h"

/* (defun print-result ()
 *   (receive (msg (: io format '"Received message: '~s'~n" (list msg))))) */
static void print_result(void *arg)
{
	(void)arg;
	lwp_msg *msg = lwp_receive(NULL, NULL, LWP_INFINITY);

	printf("Received message: '%s'\n", (const char *)msg->data);
	lwp_msg_free(msg);
}

static void shell(void *arg)
{
	(void)arg;
	lwp_pid pid = lwp_spawn(print_result, NULL);

	send_string(pid, "Time is an illusion. Lunchtime doubly so.");
	/* Nothing else to do: the runtime stops once print_result is done. */
}

int main(void)
{
	return lwp_main(NULL, shell, NULL) < 0;
}
