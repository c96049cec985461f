/*
 * test_message.c - messages: send, selective receive, timeouts, zero-copy,
 * flush and format, foreign senders, and receive's linear scanning; the
 * drain (internal: runtime/mailbox.h).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdalign.h>

#include "test_common.h"

#include "../runtime/mailbox.h"

#include <criterion/redirect.h>

TestSuite(message, .timeout = 60 * T_SLOW);

enum {
	GO = 1000,
	DONE = 1001,
	REPLY = 1002
};

static lwp_pid spawn_arg(void (*fn)(void *), lwp_pid arg)
{
	lwp_pid p = lwp_spawn(fn, (void *)(intptr_t)arg);

	REQUIRE(p > 0, "spawn: %s", lwp_strerror((int)p));
	return p;
}

#define ARG_PID(arg) ((lwp_pid)(intptr_t)(arg))

/* ---- payload copies ----------------------------------------------------- */

static void checks_copies(void *arg)
{
	lwp_pid parent = ARG_PID(arg);

	lwp_msg_free(RECV_TAG(GO)); /* all sent and overwritten by now */
	for (int i = 0; i < 3; i++) {
		lwp_msg *m = RECV_TAG((uint64_t)i);
		CHECK(m->from == parent, "from");
		CHECK(m->size == 6 && memcmp(m->data, "first", 6) == 0,
		      "message %d: %.*s", i, (int)m->size, (char *)m->data);
		lwp_msg_free(m);
	}
	/* Sizes and alignment. */
	for (size_t size = 0; size <= 100; size++) {
		lwp_msg *m = RECV_TAG(100 + size);
		CHECK(m->size == size, "size %zu, want %zu", m->size, size);
		CHECK((uintptr_t)m->data % alignof(max_align_t) == 0,
		      "data %p of a %zu-byte message is not aligned",
		      (void *)m->data, size);
		for (size_t i = 0; i < m->size; i++)
			CHECK(m->data[i] == (unsigned char)(size + i),
			      "byte %zu of %zu", i, size);
		lwp_msg_free(m);
	}
	lwp_msg *m = RECV_TAG(7);
	size_t big = (size_t)16 << 20;
	CHECK(m->size == big, "big size %zu", m->size);
	for (size_t i = 0; i < big; i += 4096)
		CHECK(m->data[i] == (unsigned char)(i >> 12), "big byte %zu",
		      i);
	lwp_msg_free(m);
	CHECK_RC(lwp_send(parent, DONE, NULL, 0), 0);
}

static void sends_copies(void *arg)
{
	char buf[6] = "first";
	unsigned char small[100];
	size_t big = (size_t)16 << 20;
	unsigned char *bigbuf = malloc(big);

	(void)arg;
	REQUIRE(bigbuf != NULL, "malloc");
	lwp_pid kid = spawn_arg(checks_copies, lwp_self());
	for (int i = 0; i < 3; i++) {
		memcpy(buf, "first", 6);
		CHECK_RC(lwp_send(kid, (uint64_t)i, buf, sizeof(buf)), 0);
		memcpy(buf, "XXXXX", 6);
	}
	for (size_t size = 0; size <= 100; size++) {
		for (size_t i = 0; i < size; i++)
			small[i] = (unsigned char)(size + i);
		CHECK_RC(lwp_send(kid, 100 + size, size ? small : NULL, size),
			 0);
		memset(small, 0xee, sizeof(small));
	}
	for (size_t i = 0; i < big; i += 4096)
		bigbuf[i] = (unsigned char)(i >> 12);
	CHECK_RC(lwp_send(kid, 7, bigbuf, big), 0);
	memset(bigbuf, 0, big);
	free(bigbuf);
	CHECK_RC(lwp_send(kid, GO, NULL, 0), 0);
	lwp_msg_free(RECV_TAG(DONE));
}

Test(message, payload_is_copied)
{
	t_watchdog(20, "payload copies");
	T_RUN(NULL, sends_copies, NULL);
}

static void to_self(void *arg)
{
	(void)arg;
	CHECK_RC(lwp_send(lwp_self(), 3, "me", 3), 0);
	CHECK_RC(lwp_mailbox_size(), 1);
	lwp_msg *m = lwp_receive(NULL, NULL, 0);
	REQUIRE(m != NULL, "message to self");
	CHECK(m->from == lwp_self() && m->tag == 3 && m->size == 3 &&
		      strcmp((char *)m->data, "me") == 0,
	      "message to self");
	lwp_msg_free(m);
	CHECK_RC(lwp_mailbox_size(), 0);
}

Test(message, send_to_self)
{
	t_watchdog(20, "send to self");
	T_RUN(NULL, to_self, NULL);
}

/* ---- ordering ------------------------------------------------------------- */

#define NSENDERS   4
#define PER_SENDER 20000

struct seq {
	int sender;
	int n;
};

static void sends_seq(void *arg)
{
	struct seq s = { .sender = (int)((intptr_t)arg & 0xff) };
	lwp_pid to = (lwp_pid)((intptr_t)arg >> 8);
	uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(s.sender + 1);

	for (s.n = 0; s.n < PER_SENDER; s.n++) {
		CHECK_RC(lwp_send(to, (uint64_t)s.sender, &s, sizeof(s)), 0);
		if (t_rand(&rng) % 16 == 0)
			lwp_yield();
	}
}

static void receives_seq(void *arg)
{
	int next[NSENDERS] = { 0 };
	lwp_pid self = lwp_self();

	(void)arg;
	for (intptr_t i = 0; i < NSENDERS; i++)
		REQUIRE(lwp_spawn(sends_seq,
				  (void *)((intptr_t)self << 8 | i)) > 0,
			"spawn");
	for (int k = 0; k < NSENDERS * PER_SENDER; k++) {
		lwp_msg *m = RECV(NULL, NULL);
		struct seq s;
		REQUIRE(m->size == sizeof(s), "size");
		memcpy(&s, m->data, sizeof(s));
		REQUIRE(s.sender >= 0 && s.sender < NSENDERS, "sender");
		CHECK(s.n == next[s.sender], "sender %d: got #%d, want #%d",
		      s.sender, s.n, next[s.sender]);
		next[s.sender] = s.n + 1;
		lwp_msg_free(m);
	}
}

Test(message, fifo_per_sender)
{
	t_watchdog(30, "fifo per sender");
	T_RUN(NULL, receives_seq, NULL);
}

static void selective(void *arg)
{
	static const uint64_t tags[] = { 1, 2, 3, 1, 2, 3, 4 };
	lwp_pid self = lwp_self();

	(void)arg;
	for (int i = 0; i < 7; i++)
		CHECK_RC(lwp_send(self, tags[i], &i, sizeof(i)), 0);
	/* Take the first 2 and the 4: the others stay, in order. */
	lwp_msg *m = RECV_TAG(2);
	CHECK(*(int *)m->data == 1, "first tag 2 is #1, got #%d",
	      *(int *)m->data);
	lwp_msg_free(m);
	m = RECV_TAG(4);
	CHECK(*(int *)m->data == 6, "tag 4");
	lwp_msg_free(m);
	CHECK_RC(lwp_mailbox_size(), 5);
	static const int rest[] = { 0, 2, 3, 4, 5 };
	for (int i = 0; i < 5; i++) {
		m = lwp_receive(NULL, NULL, 0);
		REQUIRE(m != NULL, "message %d of the rest", i);
		CHECK(*(int *)m->data == rest[i] && m->tag == tags[rest[i]],
		      "rest[%d]: #%d tag %" PRIu64, i, *(int *)m->data, m->tag);
		lwp_msg_free(m);
	}
	CHECK(lwp_receive(NULL, NULL, 0) == NULL, "empty");
}

Test(message, selective_receive_keeps_the_rest_in_order)
{
	t_watchdog(20, "selective receive");
	T_RUN(NULL, selective, NULL);
}

/* ---- receive_tag, receive_from, the match functions ------------------------ */

static void sends_two(void *arg)
{
	lwp_pid to = ARG_PID(arg);

	CHECK_RC(lwp_send(to, 1, "a", 2), 0);
	CHECK_RC(lwp_send(to, 2, "b", 2), 0);
}

static void from_and_tag(void *arg)
{
	lwp_pid self = lwp_self();

	(void)arg;
	lwp_pid a = spawn_arg(sends_two, self);
	lwp_pid_text at = lwp_pid_str(a);
	/* Let a send both before b starts. */
	while (lwp_mailbox_size() < 2)
		lwp_yield();
	lwp_pid b = spawn_arg(sends_two, self);
	lwp_msg *m = lwp_receive_from(b, T_WAIT);
	REQUIRE(m != NULL, "receive_from b");
	CHECK(m->from == b && m->tag == 1, "from b, tag 1");
	lwp_msg_free(m);
	m = lwp_receive_tag(2, T_WAIT);
	REQUIRE(m != NULL, "receive_tag 2");
	CHECK(m->from == a, "the oldest tag 2 is a's, got %s, a is %s",
	      lwp_pid_str(m->from).s, at.s);
	lwp_msg_free(m);
	m = lwp_receive_from(a, 0);
	REQUIRE(m != NULL, "receive_from a");
	CHECK(m->tag == 1, "a's other message");
	lwp_msg_free(m);
	m = lwp_receive_from(a, 0);
	CHECK(m == NULL && lwp_last_error() == LWP_ETIMEDOUT,
	      "a has no message left");
	m = lwp_receive_from(b, T_WAIT);
	REQUIRE(m != NULL, "b's second");
	CHECK(m->tag == 2, "b's tag 2");
	lwp_msg_free(m);
}

Test(message, receive_from_and_receive_tag)
{
	t_watchdog(20, "receive_from");
	T_RUN(NULL, from_and_tag, NULL);
}

Test(message, match_functions)
{
	lwp_msg *m = lwp_msg_alloc(0);
	uint64_t tag = 42, other = 43;
	lwp_pid from = ((lwp_pid)3 << 32) | 9, nobody = 5;

	cr_assert_not_null(m);
	m->tag = 42;
	m->from = from;
	cr_assert(lwp_match_tag(m, &tag));
	cr_assert_not(lwp_match_tag(m, &other));
	cr_assert_not(lwp_match_tag(m, NULL));
	cr_assert(lwp_match_from(m, &from));
	cr_assert_not(lwp_match_from(m, &nobody));
	cr_assert_not(lwp_match_from(m, NULL));
	lwp_msg_free(m);
	lwp_msg_free(NULL);
}

/* ---- timeouts ---------------------------------------------------------------- */

static void polls(void *arg)
{
	lwp_pid self = lwp_self();

	(void)arg;
	lwp_msg *m = lwp_receive(NULL, NULL, 0);
	CHECK(m == NULL, "empty mailbox");
	CHECK_RC(lwp_last_error(), LWP_ETIMEDOUT);
	CHECK_RC(lwp_send(self, 1, NULL, 0), 0);
	m = lwp_receive_tag(2, 0);
	CHECK(m == NULL, "no tag 2");
	CHECK_RC(lwp_last_error(), LWP_ETIMEDOUT);
	CHECK_RC(lwp_mailbox_size(), 1);
	m = lwp_receive(NULL, NULL, 0);
	CHECK(m != NULL && m->tag == 1, "tag 1");
	CHECK_RC(lwp_last_error(), LWP_OK);
	lwp_msg_free(m);
}

Test(message, timeout_zero_polls)
{
	t_watchdog(20, "poll");
	T_RUN(NULL, polls, NULL);
}

static void trickles(void *arg)
{
	lwp_pid to = ARG_PID(arg);

	for (int i = 0; i < 10; i++) {
		lwp_sleep(2 * MS);
		CHECK_RC(lwp_send(to, 6, &i, sizeof(i)), 0);
	}
}

static void times_out(void *arg)
{
	static const int64_t timeouts[] = { 1, 1000, 1 * MS, 20 * MS };
	uint64_t five = 5;

	(void)arg;
	for (int i = 0; i < 4; i++) {
		int64_t t0 = lwp_now();
		lwp_msg *m = lwp_receive(NULL, NULL, timeouts[i]);
		int64_t dt = lwp_now() - t0;
		CHECK(m == NULL, "a message from nowhere");
		CHECK_RC(lwp_last_error(), LWP_ETIMEDOUT);
		CHECK(dt >= timeouts[i],
		      "timeout %" PRId64 " returned after %" PRId64,
		      timeouts[i], dt);
	}
	/* Non-matching messages keep arriving: the wait still ends on time,
	 * and they stay queued in order. */
	lwp_pid kid = spawn_arg(trickles, lwp_self());
	int64_t t0 = lwp_now();
	lwp_msg *m = lwp_receive(lwp_match_tag, &five, 50 * MS);
	int64_t dt = lwp_now() - t0;
	CHECK(m == NULL && lwp_last_error() == LWP_ETIMEDOUT, "timed out");
	CHECK(dt >= 50 * MS, "returned after %" PRId64 " ns", dt);
	t_wait_dead(kid);
	CHECK_RC(lwp_mailbox_size(), 10);
	for (int i = 0; i < 10; i++) {
		m = lwp_receive(NULL, NULL, 0);
		REQUIRE(m != NULL, "trickled %d", i);
		CHECK(m->tag == 6 && *(int *)m->data == i, "trickled %d", i);
		lwp_msg_free(m);
	}
}

Test(message, timeout_expires)
{
	t_watchdog(20, "timeouts");
	T_RUN(NULL, times_out, NULL);
}

static void sends_later(void *arg)
{
	lwp_pid to = ARG_PID(arg);

	lwp_sleep(10 * MS);
	CHECK_RC(lwp_send(to, 9, NULL, 0), 0);
}

static void waits(void *arg)
{
	(void)arg;
	/* A message that comes in time ends a finite wait. */
	spawn_arg(sends_later, lwp_self());
	int64_t t0 = lwp_now();
	lwp_msg *m = lwp_receive_tag(9, 60 * SEC);
	CHECK(m != NULL && lwp_last_error() == LWP_OK, "no message: %s",
	      lwp_strerror(lwp_last_error()));
	CHECK(lwp_now() - t0 >= 10 * MS, "too early");
	lwp_msg_free(m);
	/* ... and an infinite one. */
	spawn_arg(sends_later, lwp_self());
	m = lwp_receive_tag(9, LWP_INFINITY);
	CHECK(m != NULL, "no message with LWP_INFINITY");
	lwp_msg_free(m);
	/* A huge finite timeout is not an overflow into the past. */
	spawn_arg(sends_later, lwp_self());
	m = lwp_receive_tag(9, INT64_MAX);
	CHECK(m != NULL, "no message with INT64_MAX: %s",
	      lwp_strerror(lwp_last_error()));
	lwp_msg_free(m);
}

Test(message, wait_until_a_message_comes)
{
	t_watchdog(20, "waits");
	T_RUN(NULL, waits, NULL);
}

static void succeeds_meanwhile(void *arg)
{
	lwp_pid a = ARG_PID(arg);

	CHECK_RC(lwp_send(lwp_self(), 1, NULL, 0), 0);
	lwp_msg_free(lwp_receive(NULL, NULL, 0));
	CHECK_RC(lwp_last_error(), LWP_OK);
	CHECK_RC(lwp_send(a, GO, NULL, 0), 0);
}

static void last_error_is_mine(void *arg)
{
	(void)arg;
	CHECK(lwp_receive(NULL, NULL, 0) == NULL, "empty");
	spawn_arg(succeeds_meanwhile, lwp_self());
	lwp_yield();
	CHECK_RC(lwp_last_error(), LWP_ETIMEDOUT);
	lwp_msg_free(RECV_TAG(GO));
}

Test(message, last_error_is_per_process)
{
	t_watchdog(20, "last error");
	T_RUN(NULL, last_error_is_mine, NULL);
}

/* ---- zero copy ------------------------------------------------------------- */

static lwp_msg *sent_msg;

static void forwards(void *arg)
{
	lwp_pid to = ARG_PID(arg);
	lwp_msg *m = RECV_TAG(1);

	CHECK(m == sent_msg, "zero-copy: received %p, sent %p", (void *)m,
	      (void *)sent_msg);
	CHECK(m->size == 100 && m->data[99] == 99, "payload");
	CHECK_RC(lwp_send_msg(to, 2, m), 0); /* forward it, as it is */
}

static void zero_copy(void *arg)
{
	lwp_pid self = lwp_self();

	(void)arg;
	lwp_pid fwd = spawn_arg(forwards, self);
	lwp_msg *m = lwp_msg_alloc(100);
	REQUIRE(m != NULL, "alloc: %s", lwp_strerror(lwp_last_error()));
	CHECK((uintptr_t)m->data % alignof(max_align_t) == 0, "alignment");
	CHECK(m->size == 100, "size %zu", m->size);
	for (int i = 0; i < 100; i++)
		m->data[i] = (unsigned char)i;
	sent_msg = m;
	CHECK_RC(lwp_send_msg(fwd, 1, m), 0);
	m = RECV_TAG(2);
	CHECK(m == sent_msg, "forwarded as is");
	CHECK(m->from == fwd, "from is the forwarder");
	CHECK(m->size == 100 && m->data[0] == 0 && m->data[99] == 99,
	      "payload");
	/* Failures leave the message with the caller. */
	t_wait_dead(fwd);
	CHECK_RC(lwp_send_msg(fwd, 3, m), LWP_ENOPROC);
	CHECK_RC(lwp_send_msg(0, 3, m), LWP_EBADPID);
	CHECK_RC(lwp_send_msg(self, 3, NULL), LWP_EINVAL);
	CHECK(m->size == 100 && m->data[99] == 99, "still ours");
	lwp_msg_free(m);
	/* An empty one. */
	m = lwp_msg_alloc(0);
	REQUIRE(m != NULL, "alloc 0");
	CHECK_RC(lwp_send_msg(self, 4, m), 0);
	m = RECV_TAG(4);
	CHECK(m->size == 0 && m->from == self, "empty message");
	lwp_msg_free(m);
}

Test(message, zero_copy_and_forwarding)
{
	t_watchdog(20, "zero copy");
	T_RUN(NULL, zero_copy, NULL);
}

/* ---- flush and format ------------------------------------------------------ */

struct flushed {
	int n;
	uint64_t tags[10];
};

static void record(const lwp_msg *m, void *ctx)
{
	struct flushed *f = ctx;

	if (f->n < 10)
		f->tags[f->n] = m->tag;
	f->n++;
}

static void flushes(void *arg)
{
	struct flushed f = { 0 };
	lwp_pid self = lwp_self();

	(void)arg;
	CHECK_RC(lwp_flush(record, &f), 0);
	for (uint64_t t = 1; t <= 5; t++)
		CHECK_RC(lwp_send(self, t * 10, NULL, 0), 0);
	CHECK_RC(lwp_flush(record, &f), 5);
	CHECK(f.n == 5, "printer called %d times", f.n);
	for (int i = 0; i < 5 && i < f.n; i++)
		CHECK(f.tags[i] == (uint64_t)(i + 1) * 10,
		      "flushed #%d has tag %" PRIu64, i, f.tags[i]);
	CHECK_RC(lwp_mailbox_size(), 0);
	/* The default printer: Erlang's shell. */
	CHECK_RC(lwp_send(self, 1, "hello", 6), 0);
	CHECK_RC(lwp_send(self, 2, "\1\2\3", 3), 0);
	CHECK_RC(lwp_flush(NULL, NULL), 2);
	fflush(stdout);
}

Test(message, flush, .init = cr_redirect_stdout)
{
	t_watchdog(20, "flush");
	T_RUN(NULL, flushes, NULL);
	cr_assert_stdout_eq_str("Shell got \"hello\"\nShell got <<1,2,3>>\n");
}

static lwp_msg *msg_of(const void *data, size_t size)
{
	lwp_msg *m = lwp_msg_alloc(size);

	cr_assert_not_null(m);
	if (size)
		memcpy(m->data, data, size);
	return m;
}

/* lwp_msg_format(m) must say `want`, and truncate like snprintf at every
 * buffer length. */
static void format_is(const void *data, size_t size, const char *want)
{
	lwp_msg *m = msg_of(data, size);
	size_t n = strlen(want);
	char buf[256];

	cr_assert_eq(lwp_msg_format(m, NULL, 0), (int)n);
	for (size_t len = 0; len <= n + 2; len++) {
		memset(buf, '#', sizeof(buf));
		int r = lwp_msg_format(m, buf, len);
		cr_assert_eq(r, (int)n, "len %zu: returned %d, want %zu", len,
			     r, n);
		if (len == 0) {
			cr_assert_eq(buf[0], '#', "len 0 wrote");
			continue;
		}
		size_t kept = len - 1 < n ? len - 1 : n;
		cr_assert(memcmp(buf, want, kept) == 0 && buf[kept] == 0,
			  "len %zu: \"%.*s\", want \"%.*s\"", len, (int)kept,
			  buf, (int)kept, want);
		cr_assert_eq(buf[kept + 1], '#', "len %zu: wrote past the end",
			     len);
	}
	lwp_msg_free(m);
}

Test(message, msg_format)
{
	format_is("hello", 5, "\"hello\"");
	format_is("hello", 6, "\"hello\""); /* with its NUL */
	format_is("\1\2\3", 3, "<<1,2,3>>");
	format_is("\x64\xc8\xff\0", 4, "<<100,200,255,0>>");
	format_is("a\0b", 3, "<<97,0,98>>");	 /* a NUL inside: not text */
	format_is("ab\0\0", 4, "<<97,98,0,0>>"); /* only one trailing NUL */
}

/* ---- mailbox size ------------------------------------------------------------ */

static void sizes(void *arg)
{
	lwp_pid self = lwp_self();

	(void)arg;
	CHECK_RC(lwp_mailbox_size(), 0);
	for (int i = 0; i < 100; i++) {
		CHECK_RC(lwp_send(self, (uint64_t)i, NULL, 0), 0);
		CHECK_RC(lwp_mailbox_size(), i + 1);
	}
	lwp_msg_free(RECV_TAG(50));
	CHECK_RC(lwp_mailbox_size(), 99);
	CHECK(lwp_receive_tag(50, 0) == NULL, "gone");
	CHECK_RC(lwp_mailbox_size(), 99);
	struct flushed f = { 0 };
	CHECK_RC(lwp_flush(record, &f), 99);
	CHECK_RC(lwp_mailbox_size(), 0);
}

Test(message, mailbox_size)
{
	t_watchdog(20, "mailbox size");
	T_RUN(NULL, sizes, NULL);
}

/* ---- foreign threads ---------------------------------------------------------- */

#define NTHREADS   4
#define PER_THREAD (100000 / T_SLOW)

/* Each thread's messages sent but not yet received, kept small so that
 * the receiver often finds its mailbox empty and waits: every such wait is
 * a chance to lose a wakeup.  (Per thread: a receive that waits for one
 * thread's message must not wait behind the others' window.) */
#define WINDOW 16

static _Atomic lwp_pid foreign_to;
static _Atomic long in_flight[NTHREADS];

static void *foreign_sender(void *arg)
{
	int id = (int)(intptr_t)arg;
	lwp_pid to = atomic_load(&foreign_to);

	for (int n = 0; n < PER_THREAD; n++) {
		while (atomic_load(&in_flight[id]) >= WINDOW)
			sched_yield();
		atomic_fetch_add(&in_flight[id], 1);
		int rc = lwp_send(to, (uint64_t)id, &n, sizeof(n));
		CHECK(rc == 0, "thread %d: send #%d: %s", id, n,
		      lwp_strerror(rc));
	}
	return NULL;
}

static void receives_foreign(void *arg)
{
	pthread_t t[NTHREADS];
	int next[NTHREADS] = { 0 };
	uint64_t rng = 0x1234567;

	(void)arg;
	atomic_store(&foreign_to, lwp_self());
	for (intptr_t i = 0; i < NTHREADS; i++)
		REQUIRE(pthread_create(&t[i], NULL, foreign_sender,
				       (void *)i) == 0,
			"pthread_create");
	for (int k = 0; k < NTHREADS * PER_THREAD; k++) {
		lwp_msg *m;
		/* Mostly the oldest message, sometimes one thread's. */
		uint64_t pick = t_rand(&rng) % (NTHREADS * 4);
		if (pick < NTHREADS) {
			while (next[pick] == PER_THREAD)
				pick = (pick + 1) % NTHREADS;
			m = RECV_TAG(pick);
		} else {
			m = RECV(NULL, NULL);
		}
		REQUIRE(m->tag < NTHREADS && m->size == sizeof(int),
			"tag %" PRIu64, m->tag);
		CHECK(m->from == LWP_NOPID, "from %s", lwp_pid_str(m->from).s);
		int n = *(int *)m->data;
		CHECK(n == next[m->tag], "thread %d: got #%d, want #%d",
		      (int)m->tag, n, next[m->tag]);
		next[m->tag] = n + 1;
		atomic_fetch_sub(&in_flight[m->tag], 1);
		lwp_msg_free(m);
	}
	for (int i = 0; i < NTHREADS; i++)
		REQUIRE(pthread_join(t[i], NULL) == 0, "join");
	CHECK(lwp_receive(NULL, NULL, 0) == NULL, "extra messages");
}

Test(message, foreign_thread_senders)
{
	t_watchdog(60, "%d foreign threads x %d messages (lost wakeup?)",
		   NTHREADS, PER_THREAD);
	T_RUN(NULL, receives_foreign, NULL);
}

/* ---- exit with a full mailbox -------------------------------------------------- */

static void exits_with_mail(void *arg)
{
	lwp_pid parent = ARG_PID(arg);
	uint64_t never = 12345;

	/* Drain what came so far into the save queue, then exit with it and
	 * whatever arrives later. */
	CHECK(lwp_receive(lwp_match_tag, &never, 0) == NULL, "no match");
	CHECK_RC(lwp_send(parent, DONE, NULL, 0), 0);
	lwp_msg_free(RECV_TAG(GO));
}

static void fills_mailbox(void *arg)
{
	char payload[200] = "leak me";
	lwp_pid self = lwp_self();

	(void)arg;
	for (int k = 0; k < 10; k++) {
		lwp_pid kid = spawn_arg(exits_with_mail, self);
		for (int i = 0; i < 50; i++)
			CHECK_RC(lwp_send(kid, 1, payload, sizeof(payload)), 0);
		lwp_msg_free(RECV_TAG(DONE));
		for (int i = 0; i < 50; i++)
			CHECK_RC(lwp_send(kid, 2, payload, sizeof(payload)), 0);
		CHECK_RC(lwp_send(kid, GO, NULL, 0), 0);
		for (int i = 0; i < 50; i++) /* after GO: maybe to the dead */
			CHECK(lwp_send(kid, 3, payload, sizeof(payload)) <= 0,
			      "send");
		t_wait_dead(kid);
		CHECK_RC(lwp_send(kid, 4, payload, sizeof(payload)),
			 LWP_ENOPROC);
	}
}

Test(message, exit_frees_queued_messages)
{
	t_watchdog(20, "exit with queued messages");
	T_RUN(NULL, fills_mailbox, NULL);
}

/* ---- sleep ---------------------------------------------------------------------- */

static void sends_during_sleep(void *arg)
{
	lwp_pid to = ARG_PID(arg);

	for (int i = 0; i < 3; i++) {
		CHECK_RC(lwp_send(to, 5, &i, sizeof(i)), 0);
		lwp_sleep(1 * MS);
	}
}

static void sleeps(void *arg)
{
	(void)arg;
	lwp_pid kid = spawn_arg(sends_during_sleep, lwp_self());
	int64_t t0 = lwp_now();
	CHECK_RC(lwp_sleep(30 * MS), 0);
	int64_t dt = lwp_now() - t0;
	CHECK(dt >= 30 * MS, "slept %" PRId64 " ns", dt);
	t_wait_dead(kid);
	CHECK_RC(lwp_mailbox_size(), 3);
	for (int i = 0; i < 3; i++) {
		lwp_msg *m = lwp_receive(NULL, NULL, 0);
		REQUIRE(m != NULL, "message %d sent during sleep", i);
		CHECK(*(int *)m->data == i, "order");
		lwp_msg_free(m);
	}
	t0 = lwp_now();
	CHECK_RC(lwp_sleep(1), 0);
	CHECK(lwp_now() - t0 >= 1, "1 ns");
	CHECK_RC(lwp_sleep(0), 0);
}

Test(message, sleep_keeps_messages_queued)
{
	t_watchdog(20, "sleep");
	T_RUN(NULL, sleeps, NULL);
}

/* ---- no quadratic rescans ---------------------------------------------------- */

struct counting {
	uint64_t want;
	long calls;
};

static bool counting_match(const lwp_msg *m, void *ctx)
{
	struct counting *c = ctx;

	c->calls++;
	return m->tag == c->want;
}

#define QUEUED	1000
#define TRICKLE 200

static void counts_scans(void *arg)
{
	lwp_pid parent = ARG_PID(arg);
	struct counting c = { .want = DONE };

	lwp_msg *m = lwp_receive(counting_match, &c, T_WAIT);
	REQUIRE(m != NULL, "no DONE");
	lwp_msg_free(m);
	CHECK_RC(lwp_send(parent, REPLY, &c.calls, sizeof(c.calls)), 0);
	/* A second receive scans the old ones once more, then each arrival
	 * once. */
	c.calls = 0;
	m = lwp_receive(counting_match, &c, T_WAIT);
	REQUIRE(m != NULL, "no second DONE");
	lwp_msg_free(m);
	CHECK_RC(lwp_send(parent, REPLY, &c.calls, sizeof(c.calls)), 0);
	/* Leave the rest for exit to free. */
}

static void drives_scans(void *arg)
{
	long calls;
	int pad = 0;

	(void)arg;
	lwp_pid kid = spawn_arg(counts_scans, lwp_self());
	for (int i = 0; i < QUEUED; i++)
		CHECK_RC(lwp_send(kid, 1, &pad, sizeof(pad)), 0);
	/* Now trickle, letting it wake and wait again after each. */
	for (int i = 0; i < TRICKLE; i++) {
		CHECK_RC(lwp_send(kid, 2, &pad, sizeof(pad)), 0);
		if (i % 2)
			lwp_yield();
		else
			lwp_sleep(10000);
	}
	CHECK_RC(lwp_send(kid, DONE, NULL, 0), 0);
	lwp_msg *m = RECV_TAG(REPLY);
	memcpy(&calls, m->data, sizeof(calls));
	CHECK(calls == QUEUED + TRICKLE + 1,
	      "waiting for a tag among %d queued and %d trickled messages "
	      "called the match function %ld times, want %d",
	      QUEUED, TRICKLE, calls, QUEUED + TRICKLE + 1);
	lwp_msg_free(m);
	for (int i = 0; i < 50; i++) {
		CHECK_RC(lwp_send(kid, 3, &pad, sizeof(pad)), 0);
		lwp_sleep(10000);
	}
	CHECK_RC(lwp_send(kid, DONE, NULL, 0), 0);
	m = RECV_TAG(REPLY);
	memcpy(&calls, m->data, sizeof(calls));
	CHECK(calls == QUEUED + TRICKLE + 50 + 1,
	      "a second wait over %d old and 50 new messages called the "
	      "match function %ld times, want %d",
	      QUEUED + TRICKLE, calls, QUEUED + TRICKLE + 50 + 1);
	lwp_msg_free(m);
}

Test(message, no_quadratic_rescans)
{
	t_watchdog(20, "rescans");
	T_RUN(NULL, drives_scans, NULL);
}

/* ---- the drain (internal: runtime/mailbox.h) ----------------------------- */

/* Push a message with tag, addressed to `to`, into mb, which is open and
 * has no waiting owner: it is queued, full or not (the result says). */
static enum push_result push_to(struct mailbox *mb, lwp_pid to, uint64_t tag)
{
	struct msg_hdr *h = msg_new(NULL, 0);
	enum push_result r;

	cr_assert_not_null(h);
	msg_address(h, to, LWP_NOPID, tag);
	r = mailbox_push(mb, h, false);
	cr_assert(r == PUSHED || r == PUSHED_FULL, "push: %d", (int)r);
	return r;
}

/* mb's save queue is exactly tags[0 .. n-1], its count n, and its last
 * entry ends it. */
static void assert_queue(const struct mailbox *mb, const uint64_t *tags, long n)
{
	const struct msg_hdr *h = mb->first;

	for (long i = 0; i < n; i++, h = h->next) {
		cr_assert_not_null(h, "queue ends at %ld of %ld", i, n);
		cr_assert_eq(h->m.tag, tags[i], "entry %ld: tag %" PRIu64, i,
			     h->m.tag);
		if (i == n - 1)
			cr_assert_eq(h, mb->last, "last is not the tail");
	}
	cr_assert_null(h, "queue longer than %ld", n);
	cr_assert_eq(atomic_load(&mb->count), n);
}

/* A batch of messages alone is appended in one piece: its tail must be
 * the newest message kept, even when newer ones were for an earlier
 * incarnation and dropped, and the next batch must link behind it. */
Test(message, drain_appends_batches_in_order_without_stale_mail)
{
	const lwp_pid self = ((lwp_pid)5 << 32) | 3;
	const lwp_pid stale = ((lwp_pid)4 << 32) | 3;
	static const uint64_t first[] = { 1, 3 }, both[] = { 1, 3, 6, 7 };
	struct mailbox mb = { 0 };
	struct msg_hdr *h;

	push_to(&mb, self, 1);
	push_to(&mb, stale, 2);
	push_to(&mb, self, 3);
	push_to(&mb, stale, 4); /* the newest: dropped */
	h = mailbox_drain(&mb, self);
	cr_assert(h && h->m.tag == 1, "first appended");
	assert_queue(&mb, first, 2);

	push_to(&mb, stale, 5); /* the oldest: dropped */
	push_to(&mb, self, 6);
	push_to(&mb, self, 7);
	h = mailbox_drain(&mb, self);
	cr_assert(h && h->m.tag == 6, "first of the second batch");
	assert_queue(&mb, both, 4);

	cr_assert_null(mailbox_drain(&mb, self), "nothing arrived");
	push_to(&mb, stale, 8);
	cr_assert_null(mailbox_drain(&mb, self), "only stale mail arrived");
	assert_queue(&mb, both, 4);
	mailbox_clear(&mb);
}

/* The inbox counts arrivals up to INBOX_DEPTH_MAX: every push from the
 * one that fills it says PUSHED_FULL, and a drain starts the count again. */
Test(message, inbox_counts_arrivals_until_a_drain)
{
	const lwp_pid self = ((lwp_pid)1 << 32) | 1;
	const long n = (long)INBOX_DEPTH_MAX + 45;
	struct mailbox mb = { 0 };
	struct msg_hdr *h;
	long i = 0;

	for (long k = 1; k <= n; k++)
		cr_assert_eq(push_to(&mb, self, (uint64_t)k),
			     k < (long)INBOX_DEPTH_MAX ? PUSHED : PUSHED_FULL,
			     "push %ld", k);
	for (h = mailbox_drain(&mb, self); h; h = h->next)
		cr_assert_eq(h->m.tag, (uint64_t)++i, "message %ld", i);
	cr_assert_eq(i, n);
	cr_assert_eq(push_to(&mb, self, 0), PUSHED); /* first since the drain */
	cr_assert_eq(atomic_load(&mb.inbox) & INBOX_DEPTH, INBOX_DEPTH_ONE);
	mailbox_clear(&mb);
}

/* ---- backpressure ------------------------------------------------------------ */

#define FLOOD_SENDERS 50
#define FLOOD_EACH    (4000 / T_SLOW)

static _Atomic lwp_pid flood_to;

static void floods(void *arg)
{
	(void)arg;
	for (int i = 0; i < FLOOD_EACH; i++)
		CHECK_RC(lwp_send(atomic_load(&flood_to), 1, &i, sizeof(i)), 0);
}

/* The receiver queues itself behind its senders, each of which could
 * send a whole budget's worth in its turn.  A full inbox ends a sender's
 * turn after one more message, so the backlog stays near INBOX_DEPTH_MAX
 * plus two messages per sender, instead of every sender's turn. */
static void flooded(void *arg)
{
	const long total = (long)FLOOD_SENDERS * FLOOD_EACH;
	const long bound = 2 * ((long)INBOX_DEPTH_MAX + FLOOD_SENDERS);
	long most = 0;

	(void)arg;
	atomic_store(&flood_to, lwp_self());
	for (int i = 0; i < FLOOD_SENDERS; i++)
		REQUIRE(lwp_spawn(floods, NULL) > 0, "spawn");
	CHECK_RC(lwp_yield(), 0); /* behind them */
	for (long i = 0; i < total; i++) {
		lwp_msg_free(RECV(NULL, NULL));
		if (lwp_mailbox_size() > most)
			most = lwp_mailbox_size();
	}
	CHECK(most <= bound, "a backlog of %ld messages (bound %ld)", most,
	      bound);
}

Test(message, a_full_inbox_ends_the_senders_turn)
{
	const lwp_config cfg = { .schedulers = 1 };

	t_watchdog(30, "flood");
	T_RUN(&cfg, flooded, NULL);
}
