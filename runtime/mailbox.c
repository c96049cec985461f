/*
 * mailbox.c - see mailbox.h for the protocol.
 *
 * Memory orderings:
 *  - push: the message (payload, links) is written with plain stores, then
 *    published by a CAS that is a release (and seq_cst, see below); the
 *    owner's exchange in drain is an acquire, so it sees whole messages.
 *  - block/unblock/push all CAS the one word, so they are totally ordered
 *    by the word's modification order: exactly one party sees WAITING and
 *    replaces it.  They are seq_cst so that a wakeup also publishes what
 *    the waker did before it (a timer's, a sender's writes) to the process
 *    it makes runnable; the run queue hand-off then carries that on.
 */
#include "mailbox.h"

#include "alloc.h"
#include "sched.h"

static size_t msg_bytes(size_t size)
{
	return sizeof(struct msg_hdr) + size;
}

struct msg_hdr *msg_new(struct sched *s, size_t size)
{
	struct msg_hdr *h;

	if (size > LWP_MSG_MAX)
		return NULL;
	h = alloc_bytes(s ? &s->msgs : NULL, msg_bytes(size));
	if (h)
		h->m.size = size;
	return h;
}

void msg_delete(struct sched *s, struct msg_hdr *h)
{
	alloc_free(s ? &s->msgs : NULL, h, msg_bytes(h->m.size));
}

bool mailbox_push(struct mailbox *mb, struct msg_hdr *h)
{
	uintptr_t old = atomic_load_explicit(&mb->inbox, memory_order_relaxed);

	do
		h->next = (struct msg_hdr *)(old & ~INBOX_WAITING);
	while (!atomic_compare_exchange_weak_explicit(
		&mb->inbox, &old, (uintptr_t)h, memory_order_seq_cst,
		memory_order_relaxed));
	return old & INBOX_WAITING;
}

struct msg_hdr *mailbox_drain_slow(struct mailbox *mb, lwp_pid self)
{
	uintptr_t word;
	struct msg_hdr *lifo, *fifo = NULL, *tail = NULL;
	long n = 0;

	word = atomic_exchange_explicit(&mb->inbox, 0, memory_order_acquire);
	lifo = (struct msg_hdr *)word;
	while (lifo) {
		struct msg_hdr *h = lifo;
		lifo = h->next;
		if (unlikely(h->to != self)) { /* for an earlier incarnation */
			msg_delete(sched_self(), h);
			continue;
		}
		h->next = fifo;
		fifo = h;
		if (!tail)
			tail = h;
		n++;
	}
	if (!fifo)
		return NULL;
	if (mb->last)
		mb->last->next = fifo;
	else
		mb->first = fifo;
	mb->last = tail;
	mb->count += n;
	return fifo;
}

void mailbox_unlink(struct mailbox *mb, struct msg_hdr *prev, struct msg_hdr *h)
{
	if (prev)
		prev->next = h->next;
	else
		mb->first = h->next;
	if (mb->last == h)
		mb->last = prev;
	mb->count--;
	h->next = NULL;
}

static void free_list(struct msg_hdr *h)
{
	while (h) {
		struct msg_hdr *next = h->next;
		msg_delete(sched_self(), h);
		h = next;
	}
}

void mailbox_clear(struct mailbox *mb)
{
	/* Usually empty: the relaxed look spares a locked exchange per exit.
	 * A message that lands after it is freed by the slot's next
	 * incarnation (its `to` is this one's) or at teardown. */
	if (atomic_load_explicit(&mb->inbox, memory_order_relaxed)) {
		uintptr_t word = atomic_exchange_explicit(&mb->inbox, 0,
							  memory_order_acquire);
		free_list((struct msg_hdr *)(word & ~INBOX_WAITING));
	}
	free_list(mb->first);
	mb->first = mb->last = NULL;
	mb->count = 0;
}

bool mailbox_block(struct mailbox *mb)
{
	uintptr_t empty = 0;

	return atomic_compare_exchange_strong(&mb->inbox, &empty,
					      INBOX_WAITING);
}

bool mailbox_unblock(struct mailbox *mb)
{
	uintptr_t waiting = INBOX_WAITING;

	return atomic_compare_exchange_strong(&mb->inbox, &waiting, 0);
}
