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
 *  - close is one more operation in that order: a push ordered after it
 *    sees CLOSED and fails, one ordered before it is in what close takes.
 *  - mailbox_has_signal is the owner's relaxed look at its own word: a
 *    signal it misses is seen at its next look or drain.
 *  - The arrival count rides in the same CAS and publishes nothing: it is
 *    a hint to the sender that made it (backpressure), exact because each
 *    CAS reads the count the last one wrote.
 */
#include "mailbox.h"

#include "alloc.h"
#include "failure.h"
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

/* The arrivals' list in an inbox word, without its flags and count. */
static inline struct msg_hdr *inbox_list(uintptr_t word)
{
	return (struct msg_hdr *)(word & INBOX_PTR);
}

enum push_result mailbox_push(struct mailbox *mb, struct msg_hdr *h,
			      bool signal)
{
	uintptr_t old = atomic_load_explicit(&mb->inbox, memory_order_relaxed);
	uintptr_t mine = (uintptr_t)h | (signal ? INBOX_SIGNAL : 0);
	uintptr_t carry;

	do {
		if (old & INBOX_CLOSED)
			return PUSH_CLOSED;
		h->next = inbox_list(old);
		/* The SIGNAL bit and the count go on; with the bit below the
		 * count, "below INBOX_DEPTH" is "count not full". */
		carry = old & (INBOX_SIGNAL | INBOX_DEPTH);
		if (carry < INBOX_DEPTH)
			carry += INBOX_DEPTH_ONE;
	} while (!atomic_compare_exchange_weak_explicit(
		&mb->inbox, &old, mine | carry, memory_order_seq_cst,
		memory_order_relaxed));
	if (old & INBOX_WAITING)
		return PUSHED_WAKE;
	return carry >= INBOX_DEPTH ? PUSHED_FULL : PUSHED;
}

/* The inbox's LIFO list in arrival order, without what was sent to an
 * earlier incarnation than self (messages freed, signals refused).  *last
 * is its last entry (the newest kept), *n its length. */
static struct msg_hdr *arrivals(uintptr_t word, lwp_pid self,
				struct msg_hdr **last, long *n)
{
	struct msg_hdr *lifo = inbox_list(word);
	struct msg_hdr *fifo = NULL;

	*last = NULL;
	*n = 0;
	while (lifo) {
		struct msg_hdr *h = lifo;
		lifo = h->next;
		if (unlikely(h->to != self)) {
			if (msg_is_signal(h))
				failure_refuse(h);
			else
				msg_delete(sched_self(), h);
			continue;
		}
		if (!fifo)
			*last = h;
		h->next = fifo;
		fifo = h;
		++*n;
	}
	return fifo;
}

static void count_add(struct mailbox *mb, long n)
{
	store_relaxed(&mb->count, load_relaxed(&mb->count) + n);
}

/* Append the linked messages first .. last (n of them) to the save queue. */
static void append(struct mailbox *mb, struct msg_hdr *first,
		   struct msg_hdr *last, long n)
{
	if (mb->last)
		mb->last->next = first;
	else
		mb->first = first;
	mb->last = last;
	count_add(mb, n);
}

/* Arrivals with signals among them: each signal is acted on in its place,
 * and what it turns into (if anything) stays there. */
static struct msg_hdr *append_signalled(struct mailbox *mb, struct msg_hdr *h)
{
	struct msg_hdr *first = NULL, *next;

	for (; h; h = next) {
		next = h->next;
		if (unlikely(msg_is_signal(h)) && !failure_signal(mb, h))
			continue;
		h->next = NULL;
		append(mb, h, h, 1);
		if (!first)
			first = h;
	}
	return first;
}

struct msg_hdr *mailbox_drain_slow(struct mailbox *mb, lwp_pid self)
{
	uintptr_t word =
		atomic_exchange_explicit(&mb->inbox, 0, memory_order_acquire);
	struct msg_hdr *last, *h;
	long n;

	h = arrivals(word, self, &last, &n);
	if (unlikely(word & INBOX_SIGNAL))
		return append_signalled(mb, h);
	/* Messages alone: the list arrivals made is the save queue's tail
	 * as it is (its last entry links to NULL), one pass in all. */
	if (h)
		append(mb, h, last, n);
	return h;
}

void mailbox_unlink(struct mailbox *mb, struct msg_hdr *prev, struct msg_hdr *h)
{
	if (prev)
		prev->next = h->next;
	else
		mb->first = h->next;
	if (mb->last == h)
		mb->last = prev;
	count_add(mb, -1);
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

/* Free the save queue. */
static void forget_queue(struct mailbox *mb)
{
	free_list(mb->first);
	mb->first = mb->last = NULL;
	store_relaxed(&mb->count, 0);
}

void mailbox_clear(struct mailbox *mb)
{
	/* Usually empty: the relaxed look spares a locked exchange. */
	if (atomic_load_explicit(&mb->inbox, memory_order_relaxed)) {
		uintptr_t word = atomic_exchange_explicit(&mb->inbox, 0,
							  memory_order_acquire);
		free_list(inbox_list(word));
	}
	forget_queue(mb);
}

void mailbox_close(struct mailbox *mb)
{
	/* Acquire: the arrivals taken are read and freed here. */
	uintptr_t word = atomic_exchange_explicit(&mb->inbox, INBOX_CLOSED,
						  memory_order_acquire);
	struct msg_hdr *h = inbox_list(word), *next;

	for (; h; h = next) {
		next = h->next;
		if (msg_is_signal(h))
			failure_refuse(h);
		else
			msg_delete(sched_self(), h);
	}
	forget_queue(mb);
}

void mailbox_open(struct mailbox *mb)
{
	/* The queue is empty: slots are made zeroed, and closing or clearing
	 * a mailbox forgets its queue. */
	atomic_store_explicit(&mb->inbox, 0, memory_order_relaxed);
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
