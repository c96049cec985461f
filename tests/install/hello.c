/*
 * hello.c - a program outside the lwp tree, built by tests/install-test.sh
 * against an installed liblwp with nothing but
 *
 *     cc hello.c $(pkg-config --cflags --libs lwp)
 *
 * The first process prints its pid, spawns a child and waits for the
 * child's message.  Expected output (pids vary):
 *
 *     hello from <0.1.0>
 *     spawned <0.2.0>
 *     got "hi parent" (tag 7) from <0.2.0>
 */
#include <lwp.h>

#include <stdio.h>
#include <string.h>

#define TAG_HI 7
#define SECOND ((int64_t)1000000000)

static int status = 1; /* set to 0 by the first process when all went well */

static void child(void *arg)
{
	lwp_pid parent = *(const lwp_pid *)arg;
	const char *text = "hi parent";
	int rc = lwp_send(parent, TAG_HI, text, strlen(text));

	if (rc < 0)
		fprintf(stderr, "child: lwp_send: %s\n", lwp_strerror(rc));
}

static void first(void *arg)
{
	static lwp_pid self; /* outlives this stack frame, for the child */
	lwp_pid kid;
	lwp_msg *m;

	(void)arg;
	self = lwp_self();
	printf("hello from %s\n", lwp_pid_str(self).s);

	kid = lwp_spawn(child, &self);
	if (kid < 0) {
		fprintf(stderr, "lwp_spawn: %s\n", lwp_strerror((int)kid));
		return;
	}
	printf("spawned %s\n", lwp_pid_str(kid).s);

	m = lwp_receive_from(kid, 10 * SECOND);
	if (m == NULL) {
		fprintf(stderr, "no message from the child: %s\n",
			lwp_strerror(lwp_last_error()));
		return;
	}
	printf("got \"%.*s\" (tag %llu) from %s\n", (int)m->size,
	       (const char *)m->data, (unsigned long long)m->tag,
	       lwp_pid_str(m->from).s);
	lwp_msg_free(m);
	fflush(stdout);
	status = 0;
}

int main(void)
{
	int rc = lwp_main(NULL, first, NULL);

	if (rc < 0) {
		fprintf(stderr, "lwp_main: %s\n", lwp_strerror(rc));
		return 1;
	}
	return status;
}
