/*
 * ping_pong.c - Elixir processes tutorial, "Mailboxes".
 *
 * A common pattern: send a tuple with self in it, so that the receiver
 * knows whom to answer.  Here the atoms :ping and :pong are message tags,
 * and {self, :ping} is a PING message whose payload is the sender's pid.
 * Output:
 *
 *     Got ping
 *     Got pong back
 */
#include <stdio.h>

#include "lwp.h"

enum {
	PING = 1, /* :ping, payload: the pid to answer */
	PONG,	  /* :pong, no payload */
};

/* spawn fn -> receive do {sender, :ping} -> ... sender <- :pong end end */
static void ponger(void *arg)
{
	(void)arg;
	lwp_msg *m = lwp_receive_tag(PING, LWP_INFINITY);
	lwp_pid sender = *(const lwp_pid *)m->data;

	lwp_msg_free(m);
	puts("Got ping");
	lwp_send(sender, PONG, NULL, 0);
}

static void shell(void *arg)
{
	(void)arg;
	lwp_pid self = lwp_self();
	lwp_pid pid = lwp_spawn(ponger, NULL);

	lwp_send(pid, PING, &self, sizeof(self)); /* pid <- {self, :ping} */

	/* receive do message -> IO.puts "Got #{message} back" end */
	lwp_msg *message = lwp_receive(NULL, NULL, LWP_INFINITY);
	printf("Got %s back\n", message->tag == PONG ? "pong" : "something");
	lwp_msg_free(message);
}

int main(void)
{
	return lwp_main(NULL, shell, NULL) < 0;
}
