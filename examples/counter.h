/*
 * counter.h - the Elixir tutorial's Counter module, shared by counter.c
 * ("Holding State") and registered_counter.c ("Registered Processes").
 *
 * A process holds state by passing it on to its next receive.  Elixir's
 * Counter.listen/1 calls itself with the new count; in C that recursion is
 * a loop around lwp_receive().
 */
#ifndef EXAMPLES_COUNTER_H
#define EXAMPLES_COUNTER_H

#include <stdbool.h>
#include <stdint.h>

#include "lwp.h"

/* The Counter's messages, as tags. */
enum {
	INC = 1, /* :inc */
	VAL,	 /* {sender, :val}: payload the sender's pid */
	COUNT,	 /* the answer to VAL: payload the count, an int64_t */
};

/* The patterns of listen's receive: :inc or {sender, :val}.  Anything else
 * stays in the mailbox, as in Elixir. */
static bool counter_msg(const lwp_msg *m, void *ctx)
{
	(void)ctx;
	return m->tag == INC || (m->tag == VAL && m->size == sizeof(lwp_pid));
}

/* def listen(count) */
static void counter_listen(void *arg)
{
	int64_t count = (intptr_t)arg;

	for (;;) {
		lwp_msg *m = lwp_receive(counter_msg, NULL, LWP_INFINITY);

		if (m->tag == INC) {
			count++; /* :inc -> listen(count + 1) */
		} else {
			/* {sender, :val} -> sender <- count; listen(count) */
			lwp_pid sender = *(const lwp_pid *)m->data;
			lwp_send(sender, COUNT, &count, sizeof(count));
		}
		lwp_msg_free(m);
	}
}

/* def start(initial_count): spawn fn -> listen(initial_count) end */
static lwp_pid counter_start(int64_t initial_count)
{
	return lwp_spawn(counter_listen, (void *)(intptr_t)initial_count);
}

#endif /* EXAMPLES_COUNTER_H */
