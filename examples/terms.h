/*
 * terms.h - a tiny term encoding shared by the tutorial examples.
 *
 * An Erlang message is any term; an lwp message is a tag and some bytes.
 * The LFE examples need three kinds of term, so the tag says which kind
 * and the payload holds it:
 *
 *     tag          prints as   payload
 *     TAG_STRING   "text"      the characters and their NUL
 *     TAG_LIST     [1,2,3]     the elements, as int64_t
 *     TAG_TUPLE    {1,2,3}     the elements, as int64_t
 *
 * term_print() writes a term the way the Erlang shell prints it, and
 * shell_got() is a printer for lwp_flush() that looks like c:flush().
 */
#ifndef EXAMPLES_TERMS_H
#define EXAMPLES_TERMS_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lwp.h"

enum {
	TAG_STRING = 1,
	TAG_LIST,
	TAG_TUPLE,
};

/* (! pid '"text"): send a string. */
static inline int send_string(lwp_pid to, const char *s)
{
	return lwp_send(to, TAG_STRING, s, strlen(s) + 1);
}

/* (! pid (list 1 2 3)) is send_ints(pid, TAG_LIST, 3, (int64_t[]){ 1, 2, 3 });
 * with TAG_TUPLE it is (! pid (tuple 1 2 3)). */
static inline int send_ints(lwp_pid to, uint64_t tag, size_t n,
			    const int64_t *v)
{
	return lwp_send(to, tag, v, n * sizeof(*v));
}

/* The elements of a list or tuple, and how many there are. */
static inline const int64_t *term_ints(const lwp_msg *m)
{
	return (const int64_t *)m->data; /* data is aligned for any type */
}

static inline size_t term_arity(const lwp_msg *m)
{
	return m->size / sizeof(int64_t);
}

/* Print m as an Erlang term: "text", [1,2,3] or {1,2,3}. */
static inline void term_print(FILE *f, const lwp_msg *m)
{
	switch (m->tag) {
	case TAG_STRING:
		fprintf(f, "\"%.*s\"",
			(int)strnlen((const char *)m->data, m->size),
			(const char *)m->data);
		break;
	case TAG_LIST:
	case TAG_TUPLE:
		fputc(m->tag == TAG_LIST ? '[' : '{', f);
		for (size_t i = 0; i < term_arity(m); i++)
			fprintf(f, "%s%" PRId64, i ? "," : "", term_ints(m)[i]);
		fputc(m->tag == TAG_LIST ? ']' : '}', f);
		break;
	default:
		fprintf(f, "<<tag %" PRIu64 ", %zu bytes>>", m->tag, m->size);
	}
}

/* lwp_flush(shell_got, NULL) prints the mailbox as (: c flush) does. */
static inline void shell_got(const lwp_msg *m, void *ctx)
{
	(void)ctx;
	fputs("Shell got ", stdout);
	term_print(stdout, m);
	putchar('\n');
}

#endif /* EXAMPLES_TERMS_H */
