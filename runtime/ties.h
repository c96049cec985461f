/*
 * ties.h - a process's set of relations of one kind (links, monitors it
 * holds, monitors on it): (pid, ref) pairs, found by ref, or by pid where
 * ref is 0 (links).  Owner only, so no locks.
 *
 * An open-addressing hash table with linear probing, at most half full: a
 * supervisor with a hundred thousand linked children links, unlinks and
 * finds each in constant time, where a list would make every restart scan
 * them all.  Empty slots have pid 0 (no pid is 0).
 */
#ifndef LWP_TIES_H
#define LWP_TIES_H

#include <stdint.h>

#include "compiler.h"
#include "lwp.h"

/* One end of a relation: the other process, and the monitor's ref. */
struct tie {
	lwp_pid pid;
	lwp_ref ref; /* 0 for links */
};

struct ties {
	struct tie *v;		 /* cap slots, or NULL while empty */
	uint32_t n, cap;	 /* cap: 0 or a power of two */
	_Atomic uint32_t *shown; /* the process's count of them, or NULL */
};

/* The tie with this ref (ref 0: this pid); with a ref, pid (if not 0) must
 * match too.  NULL if none. */
struct tie *ties_find(const struct ties *t, lwp_pid pid, lwp_ref ref);

/* Add (pid, ref), which is not in t.  0 or LWP_ENOMEM (t unchanged). */
must_check int ties_add(struct ties *t, lwp_pid pid, lwp_ref ref);

/* Remove the tie ties_find() finds and return its pid; 0 if none. */
lwp_pid ties_del(struct ties *t, lwp_pid pid, lwp_ref ref);

/* The next tie from slot *i on (start with *i = 0), or NULL at the end. */
static inline const struct tie *ties_next(const struct ties *t, uint32_t *i)
{
	for (; *i < t->cap; (*i)++)
		if (t->v[*i].pid)
			return &t->v[(*i)++];
	return NULL;
}

void ties_free(struct ties *t);

#endif /* LWP_TIES_H */
