/*
 * registered_counter.c - Elixir processes tutorial, "Registered Processes".
 *
 * The Counter of counter.c, registered under the name "count" so that
 * messages can be sent to the name instead of the pid.  Output:
 *
 *     true
 *     true
 *     11
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lwp.h"

#include "counter.h" /* the Counter, as in counter.c */

static void shell(void *arg)
{
	(void)arg;
	lwp_pid self = lwp_self();
	lwp_pid pid = counter_start(10);

	/* Process.register pid, :count */
	puts(lwp_register("count", pid) == 0 ? "true" : "false");
	/* Process.whereis(:count) == pid */
	puts(lwp_whereis("count") == pid ? "true" : "false");

	/* :count <- :inc, then ask for the value, by name too */
	lwp_send_name("count", INC, NULL, 0);
	lwp_send_name("count", VAL, &self, sizeof(self));

	/* receive do value -> value end */
	lwp_msg *value = lwp_receive(NULL, NULL, LWP_INFINITY);
	printf("%" PRId64 "\n", *(const int64_t *)value->data);
	lwp_msg_free(value);

	lwp_stop(); /* the counter would listen for ever */
}

int main(void)
{
	return lwp_main(NULL, shell, NULL) < 0;
}
