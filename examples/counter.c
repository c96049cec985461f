/*
 * counter.c - Elixir processes tutorial, "Holding State".
 *
 * A process holds state by passing it on to its next receive.  Elixir's
 * Counter.listen/1 calls itself with the new count; in C that recursion is
 * a loop around lwp_receive().  Output:
 *
 *     13
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "counter.h"
#include "lwp.h"

static void shell(void *arg)
{
	(void)arg;
	lwp_pid self = lwp_self();
	lwp_pid counter_pid = counter_start(10);

	lwp_send(counter_pid, INC, NULL, 0);
	lwp_send(counter_pid, INC, NULL, 0);
	lwp_send(counter_pid, INC, NULL, 0);
	lwp_send(counter_pid, VAL, &self, sizeof(self));

	/* receive do value -> value end */
	lwp_msg *value = lwp_receive(NULL, NULL, LWP_INFINITY);
	printf("%" PRId64 "\n", *(const int64_t *)value->data);
	lwp_msg_free(value);

	/* The counter listens for ever: stop the runtime to end the program. */
	lwp_stop();
}

int main(void)
{
	return lwp_main(NULL, shell, NULL) < 0;
}
