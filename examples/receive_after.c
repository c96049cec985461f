/*
 * receive_after.c - Elixir processes tutorial, receive ... after.
 *
 * A receive with a timeout: when no message comes within 5000 ms, the
 * after clause runs.  lwp_receive() returns NULL then, and lwp_last_error()
 * says LWP_ETIMEDOUT.  Output, after the wait:
 *
 *     Timeout, giving up
 *
 * Usage: receive_after [MS]   (the timeout; default 5000 as in the seed)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "lwp.h"

#define NS_PER_MS INT64_C(1000000)

static int status; /* main()'s exit status */

static void shell(void *arg)
{
	int64_t timeout = *(const int64_t *)arg * NS_PER_MS;
	int64_t start = lwp_now();

	/* receive do message -> IO.inspect message after 5000 -> ... end */
	lwp_msg *message = lwp_receive(NULL, NULL, timeout);
	if (message) {
		char text[256];

		lwp_msg_format(message, text, sizeof(text));
		puts(text);
		lwp_msg_free(message);
		return;
	}

	/* Make sure it was the timeout, and that it did wait that long. */
	if (lwp_last_error() != LWP_ETIMEDOUT) {
		fprintf(stderr, "receive: %s\n",
			lwp_strerror(lwp_last_error()));
		status = 1;
	} else if (lwp_now() - start < timeout) {
		fprintf(stderr,
			"receive: timed out after %" PRId64 " ns of %" PRId64
			"\n",
			lwp_now() - start, timeout);
		status = 1;
	} else {
		puts("Timeout, giving up");
	}
}

int main(int argc, char **argv)
{
	int64_t ms = 5000;

	if (argc > 1) {
		char *end;

		ms = strtoll(argv[1], &end, 10);
		if (argc > 2 || end == argv[1] || *end || ms < 0 ||
		    ms > INT64_MAX / NS_PER_MS) {
			fprintf(stderr, "usage: %s [TIMEOUT_MS]\n", argv[0]);
			return 2;
		}
	}
	if (lwp_main(NULL, shell, &ms) < 0)
		return 1;
	return status;
}
