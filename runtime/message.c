/*
 * message.c - the messaging API: send, selective receive, flush.
 *
 * The mailbox data structure and its wakeup protocol are in mailbox.c;
 * this file is what processes call.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "failure.h"
#include "lwp.h"
#include "mailbox.h"
#include "proc.h"
#include "runtime.h"
#include "sched.h"
#include "trace.h"

/* Messages come from the scheduler's cache: not preemptible meanwhile.
 * Foreign threads use the allocator directly, running or not. */
lwp_msg *lwp_msg_alloc(size_t size)
{
	struct sched *s = sched_self();
	struct proc *self = sched_caller(s);
	struct msg_hdr *h;

	if (self)
		preempt_disable(self);
	h = msg_new(s, size);
	if (self)
		preempt_enable(self);
	error_set(h ? LWP_OK : LWP_ENOMEM);
	return h ? &h->m : NULL;
}

void lwp_msg_free(lwp_msg *m)
{
	struct sched *s;
	struct proc *self;

	if (!m)
		return;
	s = sched_self();
	self = sched_caller(s);
	if (self)
		preempt_disable(self);
	msg_delete(s, msg_hdr_of(m));
	if (self)
		preempt_enable(self);
}

/*
 * Backpressure: dst has INBOX_DEPTH_MAX arrivals or more that it has not
 * taken, so it is runnable but behind.  A process sending to it ends its
 * turn at its next runtime call after this send (the budget left covers
 * this send's charge alone), so that a crowd of senders cannot pile up its
 * mailbox while it waits its turn behind them: each gets two messages in
 * per round of the run queue until dst drains.  Not at this send: a
 * process that reports and exits (a spawned worker) should not pay for a
 * switch that helps no one.  Erlang once charged a sender for its
 * receiver's queue in the same spirit.  Not for a process sending to
 * itself, nor for a foreign thread.
 */
static void give_way(struct sched *s, struct proc *dst)
{
	if (s && s->current && s->current != dst && s->budget > 2)
		s->budget = 2;
}

/* msg_post, inline on the send path; `traced`, a constant, makes the
 * variant that tells trace.h of the send. */
static always_inline int push(struct sched *s, struct proc *dst,
			      struct msg_hdr *h, bool signal, bool next,
			      bool traced)
{
	/* Read before the push: from then on h is the receiver's. */
	lwp_pid to = traced ? h->to : 0;
	uint64_t tag = traced ? h->m.tag : 0;

	switch (mailbox_push(&dst->mbox, h, signal)) {
	case PUSHED_WAKE:
		if (traced)
			trace_send(s, to, tag, true);
		if (next)
			sched_ready_next(s, dst);
		else
			sched_ready(s, dst);
		return 0;
	case PUSH_CLOSED:
		return LWP_ENOPROC;
	case PUSHED_FULL:
		if (!signal)
			give_way(s, dst);
		__attribute__((fallthrough));
	case PUSHED:
		if (traced)
			trace_send(s, to, tag, false);
		break;
	}
	return 0;
}

static noinline int push_traced(struct sched *s, struct proc *dst,
				struct msg_hdr *h, bool signal, bool next)
{
	return push(s, dst, h, signal, next, true);
}

static always_inline int post(struct sched *s, struct proc *dst,
			      struct msg_hdr *h, bool signal, bool next)
{
	if (TRACING())
		return push_traced(s, dst, h, signal, next);
	return push(s, dst, h, signal, next, false);
}

int msg_post(struct sched *s, struct proc *dst, struct msg_hdr *h, bool signal,
	     bool next)
{
	return post(s, dst, h, signal, next);
}

/* Hand h over to dst from the caller.  LWP_ENOPROC if dst has exited
 * meanwhile: h is still the caller's. */
static always_inline int deliver(struct sched *s, struct proc *dst, lwp_pid to,
				 uint64_t tag, struct msg_hdr *h)
{
	struct proc *self = s ? s->current : NULL;
	int err;

	msg_address(h, to, pid_of(self), tag);
	err = post(s, dst, h, false, true);
	if (self) {
		store_relaxed(&s->sent, load_relaxed(&s->sent) + !err);
		sched_charge(s, self);
	}
	return err;
}

int lwp_send_msg(lwp_pid to, uint64_t tag, lwp_msg *m)
{
	struct sched *s = sched_self();
	struct proc *self = sched_caller(s), *dst;
	int err;

	if (!m || tag > LWP_TAG_MAX)
		return LWP_EINVAL;
	err = rt_enter(self);
	if (err)
		return err;
	err = proc_lookup(to, &dst);
	if (!err)
		err = deliver(s, dst, to, tag, msg_hdr_of(m));
	rt_leave(self);
	return err;
}

/* Most payloads are a word or two: copied inline, not through a call. */
static inline void copy_payload(void *dst, const void *src, size_t n)
{
	uint64_t a, b;

	if (n < 8 || n > 16) {
		memcpy(dst, src, n);
		return;
	}
	memcpy(&a, src, 8); /* two overlapping words cover 8..16 bytes */
	memcpy(&b, (const char *)src + n - 8, 8);
	memcpy(dst, &a, 8);
	memcpy((char *)dst + n - 8, &b, 8);
}

int lwp_send(lwp_pid to, uint64_t tag, const void *data, size_t size)
{
	struct sched *s = sched_self();
	struct proc *self = sched_caller(s), *dst;
	struct msg_hdr *h;
	int err;

	if ((!data && size) || tag > LWP_TAG_MAX)
		return LWP_EINVAL;
	err = rt_enter(self);
	if (err)
		return err;
	/* Look up first: a send to a dead pid should not cost a copy. */
	err = proc_lookup(to, &dst);
	if (!err) {
		h = msg_new(s, size);
		if (h) {
			if (size)
				copy_payload(h->m.data, data, size);
			err = deliver(s, dst, to, tag, h);
			if (err)
				msg_delete(s, h);
		} else {
			err = LWP_ENOMEM;
		}
	}
	rt_leave(self);
	return err;
}

static bool accepts(lwp_match_fn match, void *ctx, const struct msg_hdr *h)
{
	return !match || match(&h->m, ctx);
}

/* Scan the save queue from `from` (whose predecessor is prev) and take the
 * first message match accepts. */
static always_inline lwp_msg *take_match(struct mailbox *mb,
					 struct msg_hdr *prev,
					 struct msg_hdr *from,
					 lwp_match_fn match, void *ctx)
{
	for (struct msg_hdr *h = from; h; prev = h, h = h->next)
		if (accepts(match, ctx, h)) {
			mailbox_unlink(mb, prev, h);
			return &h->m;
		}
	return NULL;
}

static int deadline_of(int64_t timeout_ns, int64_t *deadline)
{
	if (timeout_ns == LWP_INFINITY)
		*deadline = TIMER_NEVER;
	else if (timeout_ns < 0)
		return LWP_EINVAL;
	else
		*deadline = timer_deadline(timeout_ns);
	return 0;
}

static always_inline lwp_msg *receive(struct sched *s, struct proc *p,
				      lwp_match_fn match, void *ctx,
				      int64_t timeout_ns)
{
	struct mailbox *mb;
	int64_t deadline = 0;
	bool woke = false;
	lwp_msg *m;
	int err;

	/* Charged up front: a yield for a spent budget then happens while
	 * the message is still the mailbox's.  Charged after taking it, the
	 * yield would leave it in the caller's hands alone, and lost if
	 * lwp_stop() discarded the caller there. */
	s = sched_charge(s, p);
	if (timeout_ns != 0) {
		err = deadline_of(timeout_ns, &deadline);
		if (err) {
			error_set(err);
			return NULL;
		}
	}
	mb = &p->mbox;
	m = take_match(mb, NULL, mb->first, match, ctx);
	while (!m) {
		struct msg_hdr *seen = mb->last;
		struct msg_hdr *fresh = mailbox_drain(mb, p->pid);

		failure_act(p);
		if (fresh) {
			m = take_match(mb, seen, fresh, match, ctx);
			continue;
		}
		if (timeout_ns == 0 ||
		    (deadline != TIMER_NEVER && timer_now() >= deadline)) {
			err = LWP_ETIMEDOUT;
			break;
		}
		err = sched_block(&s, p, deadline); /* s: where p resumed */
		if (err)
			break;
		woke = true;
	}
	p->last_error = m ? LWP_OK : err;
	if (m) {
		stats_count(&s->received);
		/* Taken on waking, no match function run: no user code ran
		 * since the switch that resumed p (trace.h). */
		TRACE(receive, s, m, woke && !match);
	}
	return m;
}

/* lwp_receive's body, inlined into the tag and pid variants too, so that
 * their scans compare in place rather than call a match function for each
 * message (a selective receive may scan thousands). */
static always_inline lwp_msg *receive_entry(lwp_match_fn match, void *ctx,
					    int64_t timeout_ns)
{
	struct sched *s = sched_self();
	struct proc *p = sched_caller(s);
	lwp_msg *m;

	if (!p) {
		error_set(LWP_ENOTPROC);
		return NULL;
	}
	preempt_disable(p);
	m = receive(s, p, match, ctx, timeout_ns);
	preempt_enable(p);
	return m;
}

lwp_msg *lwp_receive(lwp_match_fn match, void *ctx, int64_t timeout_ns)
{
	return receive_entry(match, ctx, timeout_ns);
}

/* The exported matchers may be interposed, so the compiler cannot inline
 * a call through them: the shorthands use these. */
static bool tag_is(const lwp_msg *m, void *ctx)
{
	return ctx && m->tag == *(const uint64_t *)ctx;
}

static bool from_is(const lwp_msg *m, void *ctx)
{
	return ctx && m->from == *(const lwp_pid *)ctx;
}

bool lwp_match_tag(const lwp_msg *m, void *ctx)
{
	return tag_is(m, ctx);
}

bool lwp_match_from(const lwp_msg *m, void *ctx)
{
	return from_is(m, ctx);
}

lwp_msg *lwp_receive_tag(uint64_t tag, int64_t timeout_ns)
{
	return receive_entry(tag_is, &tag, timeout_ns);
}

lwp_msg *lwp_receive_from(lwp_pid from, int64_t timeout_ns)
{
	return receive_entry(from_is, &from, timeout_ns);
}

long lwp_mailbox_size(void)
{
	struct proc *p = sched_current();
	long n;

	if (!p)
		return LWP_ENOTPROC;
	preempt_disable(p);
	mailbox_drain(&p->mbox, p->pid);
	failure_act(p);
	n = load_relaxed(&p->mbox.count);
	preempt_enable(p);
	return n;
}

/* Printable text, allowing one trailing NUL. */
static bool is_text(const unsigned char *d, size_t n)
{
	if (n && d[n - 1] == 0)
		n--;
	for (size_t i = 0; i < n; i++)
		if (!isprint(d[i]) && d[i] != '\n' && d[i] != '\t')
			return false;
	return true;
}

int lwp_msg_format(const lwp_msg *m, char *buf, size_t len)
{
	size_t n = m->size, used = 0;
	int w;

	if (n && is_text(m->data, n)) {
		if (m->data[n - 1] == 0)
			n--;
		return snprintf(buf, len, "\"%.*s\"", (int)n,
				(const char *)m->data);
	}
	/* <<1,2,3>>, written piecewise so that any len works (snprintf). */
#define PUT(...)                                                        \
	do {                                                            \
		w = snprintf(used < len ? buf + used : NULL,            \
			     used < len ? len - used : 0, __VA_ARGS__); \
		used += (size_t)w;                                      \
	} while (0)
	PUT("<<");
	for (size_t i = 0; i < n; i++)
		PUT(i ? ",%u" : "%u", m->data[i]);
	PUT(">>");
#undef PUT
	return (int)used;
}

static void print_shell(const lwp_msg *m, void *ctx)
{
	char small[256], *text = small;
	int n = lwp_msg_format(m, small, sizeof(small));

	(void)ctx;
	if ((size_t)n >= sizeof(small) && (text = malloc((size_t)n + 1)))
		lwp_msg_format(m, text, (size_t)n + 1);
	printf("Shell got %s\n", text ? text : small);
	if (text != small)
		free(text);
}

long lwp_flush(void (*print)(const lwp_msg *m, void *ctx), void *ctx)
{
	struct proc *p = sched_current();
	lwp_msg *m;
	long n = 0;

	if (!p)
		return LWP_ENOTPROC;
	while ((m = lwp_receive(NULL, NULL, 0))) {
		(print ? print : print_shell)(m, ctx);
		lwp_msg_free(m);
		n++;
	}
	return n;
}
