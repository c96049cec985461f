/*
 * failure.h - links, monitors, exit signals, on-exit handlers and error
 * reports: Erlang's way of letting processes fail and others react.
 *
 * Every relation is kept by both ends in their own private sets, each end
 * changing only its own: a link is in the link sets of both processes, a
 * monitor in the watcher's `monitors` and the target's `watchers`.  The
 * ends tell each other through signals: messages with a runtime tag (above
 * LWP_TAG_MAX) that travel through the receiver's inbox, so that between
 * two processes signals and messages keep the order they were sent in.
 * The receiver acts on a signal when its mailbox is drained
 * (failure_signal): it updates its sets, turns an exit signal into an EXIT
 * message or a pending exit, and a DOWN signal into a DOWN message.  A
 * pending exit is carried out at the next safe point (failure_act): after
 * a drain in receive or sleep, and wherever failure_poll runs (yield, a
 * spent budget, preemption).
 *
 * A signal that cannot be delivered (its target has exited: closed inbox,
 * dead pid, or a later incarnation) is refused: a link or monitor request
 * is answered with an exit signal or DOWN with reason noproc, so either
 * the target's exit saw the request or the requester learns it came too
 * late.  There is no third case.
 */
#ifndef LWP_FAILURE_H
#define LWP_FAILURE_H

#include <stdbool.h>

#include "compiler.h"
#include "lwp.h"
#include "mailbox.h"
#include "proc.h"

/* Ties a new process gets at birth (lwp_spawn_link, lwp_spawn_monitor). */
struct spawn_ties {
	bool link;
	lwp_ref monitor; /* > 0: parent monitors the child with this ref */
};

/* A new monitor ref, unique for the runtime's life. */
lwp_ref failure_ref(void);

static inline bool msg_is_signal(const struct msg_hdr *h)
{
	return h->m.tag > LWP_TAG_MAX && h->m.tag < LWP_TAG_DOWN;
}

/* Owner, draining: act on signal h.  True if h became a message (EXIT,
 * DOWN) to append to the save queue; false if it was consumed. */
bool failure_signal(struct mailbox *mb, struct msg_hdr *h);

/* h could not reach its target: answer it (noproc) if it asks for an
 * answer, then free it.  Any context. */
void failure_refuse(struct msg_hdr *h);

/* Set up the ties of child (not yet published) to its parent p, the
 * caller.  LWP_ENOMEM leaves neither side changed. */
must_check int failure_tie(struct proc *p, struct proc *child, lwp_pid pid,
			   const struct spawn_ties *t);

_Noreturn void failure_die(struct proc *p);

/* After a drain: if a signal left p an exit to take, take it. */
static inline void failure_act(struct proc *p)
{
	if (unlikely(p->exit_sig != NULL))
		failure_die(p);
}

void failure_poll_slow(struct proc *p);

/* At a safe point (p runs, holds nothing, receives nothing): act on any
 * signal that arrived.  May end p. */
static inline void failure_poll(struct proc *p)
{
	if (unlikely(mailbox_has_signal(&p->mbox)))
		failure_poll_slow(p);
}

/* The exit of p with reason r, in two steps around the death of its pid
 * (proc_exit).  Before: run its on-exit handlers, and report r if p ended
 * itself abnormally (report).  After: close its mailbox, tell its links
 * and monitors, free its sets. */
void failure_before_death(struct proc *p, const lwp_reason *r, bool report);
void failure_after_death(struct proc *p, lwp_pid pid, const lwp_reason *r);

/* Teardown: forget p's relations without telling anyone. */
void failure_discard(struct proc *p);

#endif /* LWP_FAILURE_H */
