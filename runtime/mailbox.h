/*
 * mailbox.h - a process's mailbox: a lock-free inbox that any thread pushes
 * to, and a private save queue that only the owner reads.
 *
 * The inbox is one word: the head of a LIFO list of arrived messages, whose
 * bit 0 says "the owner is blocked waiting for a message", bit 1 "a signal
 * (failure.h) is among them" and bit 2 "the owner has exited", and whose
 * bits 48-55 count the arrivals, up to INBOX_DEPTH_MAX (no message's
 * address uses them: ALLOC_ADDR_SPARE; arm64's top-byte tags sit in bits
 * 56-63, which stay the pointer's).
 * That single word carries the whole wakeup protocol:
 *  - a sender links its message in with one CAS, which also bumps the
 *    count; if the word it replaced had the WAITING bit, that sender (and
 *    no one else) must make the owner runnable;
 *  - the owner takes every arrival with one exchange, reverses it into
 *    arrival order and appends it to the save queue;
 *  - the owner blocks by CAS'ing the empty word (0) to WAITING after it has
 *    switched out; the CAS fails if anything arrived, so no wakeup is lost;
 *  - a timer ends a wait by CAS'ing WAITING back to 0;
 *  - the exiting owner exchanges the word for CLOSED, taking what arrived;
 *    a push that finds CLOSED fails, so every message or signal either
 *    reaches the exit code or is refused to its sender.
 * Invariant: WAITING is set only while the owner is switched out and in no
 * run queue, and whoever clears it owns the duty to make the owner runnable.
 * The count is exact up to INBOX_DEPTH_MAX since the owner's last exchange:
 * a sender that finds it full knows the owner has fallen behind
 * (backpressure: message.c).
 *
 * Selective receive scans the save queue; a receive that has to wait only
 * scans what arrived since its last scan (Erlang's save pointer).
 */
#ifndef LWP_MAILBOX_H
#define LWP_MAILBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "alloc.h"
#include "compiler.h"
#include "lwp.h"

struct sched;

#define INBOX_WAITING	  ((uintptr_t)1)
#define INBOX_SIGNAL	  ((uintptr_t)2)
#define INBOX_CLOSED	  ((uintptr_t)4)
#define INBOX_FLAGS	  ((uintptr_t)7) /* messages are 16-byte aligned */
#define INBOX_DEPTH_SHIFT 48
#define INBOX_DEPTH_MAX	  ((uintptr_t)255) /* fills ALLOC_ADDR_SPARE */
#define INBOX_DEPTH	  ALLOC_ADDR_SPARE
#define INBOX_DEPTH_ONE	  ((uintptr_t)1 << INBOX_DEPTH_SHIFT)
#define INBOX_PTR	  (~(INBOX_FLAGS | INBOX_DEPTH))
_Static_assert(INBOX_DEPTH_MAX << INBOX_DEPTH_SHIFT == INBOX_DEPTH,
	       "the count fills the address bits the allocator leaves");

/* The runtime's header in front of every lwp_msg. */
struct msg_hdr {
	struct msg_hdr *next; /* inbox link, then save-queue link */
	lwp_pid to;	      /* the incarnation it was sent to */
	lwp_msg m;	      /* what the user sees; payload follows */
};

struct mailbox {
	_Atomic uintptr_t inbox; /* written by senders: see above */
	struct msg_hdr *first;	 /* save queue, owner only */
	struct msg_hdr *last;
	/* Messages in the save queue.  Written by the owner alone (relaxed
	 * load and store, no locked add); lwp_process_info() reads it. */
	_Atomic long count;
};

static inline struct msg_hdr *msg_hdr_of(const lwp_msg *m)
{
	return container_of(m, struct msg_hdr, m);
}

/* A message with room for size payload bytes, or NULL (LWP_ENOMEM); from
 * s's cache (s: the caller's scheduler, NULL on other threads). */
must_check struct msg_hdr *msg_new(struct sched *s, size_t size);
void msg_delete(struct sched *s, struct msg_hdr *h);

/* Address h to `to`, from `from` (LWP_NOPID: a thread that is not a
 * process), with its tag. */
static inline void msg_address(struct msg_hdr *h, lwp_pid to, lwp_pid from,
			       uint64_t tag)
{
	h->to = to;
	h->m.from = from;
	h->m.tag = tag;
}

enum push_result {
	PUSHED,	     /* queued */
	PUSHED_FULL, /* queued behind INBOX_DEPTH_MAX or more arrivals */
	PUSHED_WAKE, /* queued, and the caller must wake the owner */
	PUSH_CLOSED, /* the owner has exited: not queued, h is the caller's */
};

/* Link h, a message or (signal) a signal, into mb's inbox.  Any thread. */
must_check enum push_result mailbox_push(struct mailbox *mb, struct msg_hdr *h,
					 bool signal);

struct proc;

/* Hand h (to, from and tag set) to dst: push it, and make dst runnable if
 * it waited, on s (NULL: a foreign thread): next (runnext) when `next`,
 * else queued.  LWP_ENOPROC if dst has exited meanwhile: h is still the
 * caller's.  (message.c) */
must_check int msg_post(struct sched *s, struct proc *dst, struct msg_hdr *h,
			bool signal, bool next);

struct msg_hdr *mailbox_drain_slow(struct mailbox *mb, lwp_pid self);

/*
 * Owner: move every arrival into the save queue, in order, dropping (or, for
 * signals, refusing) those sent to an earlier incarnation than `self`.
 * Signals are acted on as they come (failure_signal), and stay only as the
 * messages they may turn into.  Returns the first message appended, or NULL
 * if none was.
 */
static inline struct msg_hdr *mailbox_drain(struct mailbox *mb, lwp_pid self)
{
	/* A cheap test first, inline: the exchange would dirty a line
	 * senders use, and an empty inbox is the common answer. */
	if (!atomic_load_explicit(&mb->inbox, memory_order_relaxed))
		return NULL;
	return mailbox_drain_slow(mb, self);
}

/* Owner: unlink h, whose predecessor in the save queue is prev (or NULL). */
void mailbox_unlink(struct mailbox *mb, struct msg_hdr *prev,
		    struct msg_hdr *h);

/* Free every message, queued or arrived (teardown). */
void mailbox_clear(struct mailbox *mb);

/* Owner, exiting: refuse all further pushes, free every message and refuse
 * every signal that arrived. */
void mailbox_close(struct mailbox *mb);

/* A new incarnation's mailbox: open and empty (published with its pid). */
void mailbox_open(struct mailbox *mb);

/* Owner: a signal is waiting in the inbox (a relaxed look). */
static inline bool mailbox_has_signal(struct mailbox *mb)
{
	return atomic_load_explicit(&mb->inbox, memory_order_relaxed) &
	       INBOX_SIGNAL;
}

/* After switching out: set WAITING if nothing arrived.  False: something did,
 * and the owner must stay runnable. */
must_check bool mailbox_block(struct mailbox *mb);

/* A timer ending a wait: clear WAITING.  True when the caller won the duty
 * to wake the owner. */
must_check bool mailbox_unblock(struct mailbox *mb);

#endif /* LWP_MAILBOX_H */
