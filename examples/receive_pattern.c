/*
 * receive_pattern.c - LFE processes tutorial, 1.2 "Getting Classy with
 * receive".
 *
 * receive takes the first message that matches a pattern and leaves the
 * others in the mailbox.  In C the pattern is a match function for
 * lwp_receive(); its ctx says which shape of term to look for.  Output:
 *
 *     results: 1 2 3
 *     results: 3
 *     Shell got {1,2,3}
 *     Shell got {2,3}
 *     ok
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "lwp.h"
#include "terms.h"

/* A pattern such as (list a b c) or (tuple a): a kind of term and its
 * number of elements. */
struct pattern {
	uint64_t tag;
	size_t arity;
};

static bool matches(const lwp_msg *m, void *ctx)
{
	const struct pattern *p = ctx;

	return m->tag == p->tag && term_arity(m) == p->arity;
}

static void shell(void *arg)
{
	(void)arg;
	lwp_pid pid = lwp_self();
	lwp_msg *m;

	/* (! pid (list 1 2 3))
	 * (receive ((list a b c) (: io format '"results: ~p ~p ~p~n" ...))) */
	send_ints(pid, TAG_LIST, 3, (int64_t[]){ 1, 2, 3 });
	m = lwp_receive(matches, &(struct pattern){ TAG_LIST, 3 },
			LWP_INFINITY);
	const int64_t *abc = term_ints(m);
	printf("results: %" PRId64 " %" PRId64 " %" PRId64 "\n", abc[0], abc[1],
	       abc[2]);
	lwp_msg_free(m);

	/* Three tuples; receive skips the first two to reach (tuple a). */
	send_ints(pid, TAG_TUPLE, 3, (int64_t[]){ 1, 2, 3 });
	send_ints(pid, TAG_TUPLE, 2, (int64_t[]){ 2, 3 });
	send_ints(pid, TAG_TUPLE, 1, (int64_t[]){ 3 });
	m = lwp_receive(matches, &(struct pattern){ TAG_TUPLE, 1 },
			LWP_INFINITY);
	printf("results: %" PRId64 "\n", term_ints(m)[0]);
	lwp_msg_free(m);

	/* Only the last tuple was taken: the other two are still there. */
	lwp_flush(shell_got, NULL);
	puts("ok");
}

int main(void)
{
	return lwp_main(NULL, shell, NULL) < 0;
}
