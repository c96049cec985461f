/*
 * test_stress.c - big counts: many processes, many messages, random
 * selective receives checked against a model, a million processes blocked
 * at once.
 *
 * Counts are multiplied by the meson option stress_scale
 * (LWP_STRESS_SCALE) and divided by LWP_TEST_SCALE_DOWN in sanitizer and
 * qemu builds.  The million blocked processes are not multiplied: that test
 * is about fitting in memory and in the default vm.max_map_count.
 */
#include <inttypes.h>
#include <pthread.h>

#include "test_common.h"

#ifndef LWP_STRESS_SCALE
#define LWP_STRESS_SCALE 1
#endif
#ifdef LWP_TEST_SCALE_DOWN
#define DOWN LWP_TEST_SCALE_DOWN
#else
#define DOWN 1
#endif
#define SCALED(n) ((long)(n)*LWP_STRESS_SCALE / DOWN)

TestSuite(stress, .timeout = 300 * T_SLOW);

enum {
	GO = 1001,
	ACK = 1002,
	CTRL = 1003,
	DATA = 1004
}; /* not model tags */

/* ---- (a) many processes, one round trip each --------------------------- */

static lwp_pid *pids;

static void replies_once(void *arg)
{
	long i = (long)(intptr_t)arg;
	lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);

	REQUIRE(m && m->size == sizeof(long), "message");
	long v;
	memcpy(&v, m->data, sizeof(v));
	CHECK(v == i, "process %ld got %ld", i, v);
	v++;
	CHECK_RC(lwp_send(m->from, ACK, &v, sizeof(v)), 0);
	lwp_msg_free(m);
}

static void many_processes(void *arg)
{
	long n = (long)(intptr_t)arg;
	long sum = 0;

	for (long i = 0; i < n; i++) {
		pids[i] = lwp_spawn(replies_once, (void *)(intptr_t)i);
		REQUIRE(pids[i] > 0, "spawn %ld: %s", i,
			lwp_strerror((int)pids[i]));
	}
	for (long i = 0; i < n; i++)
		CHECK_RC(lwp_send(pids[i], GO, &i, sizeof(i)), 0);
	for (long k = 0; k < n; k++) {
		lwp_msg *m = RECV_TAG(ACK);
		long v;
		memcpy(&v, m->data, sizeof(v));
		REQUIRE(v >= 1 && v <= n, "reply %ld", v);
		CHECK(m->from == pids[v - 1], "reply %ld from %s, want %s", v,
		      lwp_pid_str(m->from).s, lwp_pid_str(pids[v - 1]).s);
		sum += v;
		lwp_msg_free(m);
	}
	CHECK(sum == n * (n + 1) / 2, "sum of replies %ld", sum);
	CHECK(lwp_receive(NULL, NULL, 0) == NULL, "extra replies");
}

Test(stress, many_processes)
{
	long n = SCALED(100000);

	t_watchdog(120, "%ld processes, one reply each", n);
	pids = malloc((size_t)n * sizeof(*pids));
	cr_assert_not_null(pids);
	T_RUN(NULL, many_processes, (void *)(intptr_t)n);
	free(pids);
}

/* ---- (b) many messages through a pair ------------------------------------- */

#define BATCH 1000

static void consumer(void *arg)
{
	long n = (long)(intptr_t)arg;
	lwp_pid producer = 0;

	for (long i = 0; i < n; i++) {
		lwp_msg *m = lwp_receive(NULL, NULL, T_WAIT);
		REQUIRE(m != NULL, "message %ld of %ld: %s", i, n,
			lwp_strerror(lwp_last_error()));
		long v;
		memcpy(&v, m->data, sizeof(v));
		REQUIRE(v == i, "message %ld is #%ld", i, v);
		producer = m->from;
		lwp_msg_free(m);
		if ((i + 1) % BATCH == 0)
			CHECK_RC(lwp_send(producer, ACK, &i, sizeof(i)), 0);
	}
}

static void producer(void *arg)
{
	long n = (long)(intptr_t)arg, acks = 0;
	lwp_pid c = lwp_spawn(consumer, arg);

	REQUIRE(c > 0, "spawn");
	for (long i = 0; i < n; i++) {
		/* At most two batches in flight. */
		if (i >= 2 * BATCH && i % BATCH == 0) {
			lwp_msg_free(RECV_TAG(ACK));
			acks++;
		}
		REQUIRE(lwp_send(c, DATA, &i, sizeof(i)) == 0, "send %ld", i);
	}
	for (; acks < n / BATCH; acks++)
		lwp_msg_free(RECV_TAG(ACK));
}

static void ponger(void *arg)
{
	long n = (long)(intptr_t)arg;

	for (long i = 0; i < n; i++) {
		lwp_msg *m = lwp_receive(NULL, NULL, T_WAIT);
		REQUIRE(m != NULL, "ping %ld", i);
		REQUIRE(lwp_send(m->from, ACK, m->data, m->size) == 0, "pong");
		lwp_msg_free(m);
	}
}

static void ping_pong(void *arg)
{
	long n = (long)(intptr_t)arg;
	lwp_pid p = lwp_spawn(ponger, arg);

	REQUIRE(p > 0, "spawn");
	for (long i = 0; i < n; i++) {
		REQUIRE(lwp_send(p, GO, &i, sizeof(i)) == 0, "ping");
		lwp_msg *m = RECV_TAG(ACK);
		REQUIRE(*(long *)m->data == i, "pong %ld", i);
		lwp_msg_free(m);
	}
}

Test(stress, many_messages)
{
	long n = SCALED(1000000);

	t_watchdog(120, "%ld messages through a pair", n);
	T_RUN(NULL, producer, (void *)(intptr_t)n);
	n = SCALED(200000);
	t_watchdog(120, "%ld round trips", n);
	T_RUN(NULL, ping_pong, (void *)(intptr_t)n);
}

/* ---- (c) random selective receives against a model ---------------------- */

/*
 * A seeded PRNG drives sends with random tags to one receiver and
 * receives (timeout 0, now and then a short wait) with random predicates;
 * a plain array is the model of the mailbox.  Mode 0: the receiver sends
 * to itself.  Mode 1: another process sends, in lockstep (it tells the
 * receiver, with a CTRL message, when to do a receive), so the messages
 * arrive while the receiver waits.
 */
#define NTAGS	  8
#define MODEL_MAX 4096

struct model {
	uint64_t seed;
	long step;
	uint64_t rng;
	uint64_t tag[MODEL_MAX];
	long seq[MODEL_MAX];
	int n;
	long next_seq;
};

static struct model M;

enum pred_kind {
	P_ANY,
	P_TAG,
	P_MASK,
	P_GE,
	NPRED
};

struct pred {
	enum pred_kind kind;
	uint64_t arg;
	int64_t timeout;
};

static bool pred_ok(const struct pred *p, uint64_t tag)
{
	switch (p->kind) {
	case P_ANY:
		return true;
	case P_TAG:
		return tag == p->arg;
	case P_MASK:
		return (p->arg >> tag) & 1;
	case P_GE:
		return tag >= p->arg;
	default:
		return false;
	}
}

static bool match_mask(const lwp_msg *m, void *ctx)
{
	return m->tag < 64 && pred_ok(ctx, m->tag);
}

static struct pred pred_random(void)
{
	struct pred p = { .kind = (enum pred_kind)(t_rand(&M.rng) % NPRED) };

	p.arg = p.kind == P_MASK ? t_rand(&M.rng) & 0xff :
				   t_rand(&M.rng) % (NTAGS + 1);
	p.timeout = t_rand(&M.rng) % 64 == 0 ? 1000 : 0;
	return p;
}

/* One receive with p; compare with the model. */
static void model_receive(const struct pred *p)
{
	lwp_msg *m;
	int want = -1;

	for (int i = 0; i < M.n && want < 0; i++)
		if (pred_ok(p, M.tag[i]))
			want = i;
	switch (p->kind) {
	case P_ANY:
		m = lwp_receive(NULL, NULL, p->timeout);
		break;
	case P_TAG:
		m = lwp_receive_tag(p->arg, p->timeout);
		break;
	default:
		m = lwp_receive(match_mask, (void *)p, p->timeout);
		break;
	}
	if (want < 0) {
		REQUIRE(m == NULL,
			"seed %#" PRIx64 " step %ld: predicate %d/%" PRIu64
			" took tag %" PRIu64 ", the model has no match",
			M.seed, M.step, (int)p->kind, p->arg, m ? m->tag : 0);
		REQUIRE(lwp_last_error() == LWP_ETIMEDOUT,
			"seed %#" PRIx64 " step %ld: last error %d", M.seed,
			M.step, lwp_last_error());
	} else {
		REQUIRE(m != NULL,
			"seed %#" PRIx64 " step %ld: predicate %d/%" PRIu64
			" found nothing, the model has #%ld tag %" PRIu64,
			M.seed, M.step, (int)p->kind, p->arg, M.seq[want],
			M.tag[want]);
		long seq;
		memcpy(&seq, m->data, sizeof(seq));
		REQUIRE(seq == M.seq[want] && m->tag == M.tag[want],
			"seed %#" PRIx64 " step %ld: predicate %d/%" PRIu64
			" took #%ld tag %" PRIu64 ", the model says #%ld tag "
			"%" PRIu64,
			M.seed, M.step, (int)p->kind, p->arg, seq, m->tag,
			M.seq[want], M.tag[want]);
		lwp_msg_free(m);
		memmove(&M.tag[want], &M.tag[want + 1],
			(size_t)(M.n - want - 1) * sizeof(M.tag[0]));
		memmove(&M.seq[want], &M.seq[want + 1],
			(size_t)(M.n - want - 1) * sizeof(M.seq[0]));
		M.n--;
	}
	REQUIRE(lwp_mailbox_size() == M.n,
		"seed %#" PRIx64 " step %ld: mailbox has %ld, the model %d",
		M.seed, M.step, lwp_mailbox_size(), M.n);
}

static void model_send(lwp_pid to)
{
	uint64_t tag = t_rand(&M.rng) % NTAGS;

	REQUIRE(M.n < MODEL_MAX, "model full");
	REQUIRE(lwp_send(to, tag, &M.next_seq, sizeof(M.next_seq)) == 0,
		"send");
	M.tag[M.n] = tag;
	M.seq[M.n++] = M.next_seq++;
}

/* Sends outnumber receives a little while the mailbox is short, so it
 * grows and shrinks. */
static bool next_is_send(void)
{
	unsigned r = (unsigned)(t_rand(&M.rng) % 100);

	return M.n < 16 ? r < 60 : M.n > 1000 ? r < 30 : r < 50;
}

static void model_drain(void)
{
	struct pred any = { .kind = P_ANY };

	while (M.n > 0)
		model_receive(&any);
	model_receive(&any); /* and then nothing */
}

static void model_self(void *arg)
{
	long steps = (long)(intptr_t)arg;

	for (M.step = 0; M.step < steps; M.step++) {
		if (next_is_send()) {
			model_send(lwp_self());
			REQUIRE(lwp_mailbox_size() == M.n,
				"seed %#" PRIx64 " step %ld: mailbox has %ld "
				"after a send, the model %d",
				M.seed, M.step, lwp_mailbox_size(), M.n);
		} else {
			struct pred p = pred_random();
			model_receive(&p);
		}
	}
	model_drain();
}

static void model_receiver(void *arg)
{
	lwp_pid driver = (lwp_pid)(intptr_t)arg;

	for (;;) {
		lwp_msg *c = RECV_TAG(CTRL);
		struct pred p;
		bool last = c->size == 0;
		if (!last)
			memcpy(&p, c->data, sizeof(p));
		lwp_msg_free(c);
		if (last)
			break;
		model_receive(&p);
		REQUIRE(lwp_send(driver, ACK, NULL, 0) == 0, "ack");
	}
	model_drain();
	REQUIRE(lwp_send(driver, ACK, NULL, 0) == 0, "ack");
}

static void model_driver(void *arg)
{
	long steps = (long)(intptr_t)arg;
	lwp_pid r = lwp_spawn(model_receiver, (void *)(intptr_t)lwp_self());

	REQUIRE(r > 0, "spawn");
	for (M.step = 0; M.step < steps; M.step++) {
		if (next_is_send()) {
			model_send(r);
		} else {
			struct pred p = pred_random();
			REQUIRE(lwp_send(r, CTRL, &p, sizeof(p)) == 0, "ctrl");
			lwp_msg_free(RECV_TAG(ACK));
		}
	}
	REQUIRE(lwp_send(r, CTRL, NULL, 0) == 0, "ctrl");
	lwp_msg_free(RECV_TAG(ACK));
}

Test(stress, selective_receive_model)
{
	static const uint64_t seeds[] = {
		0x1,
		0x9e3779b97f4a7c15,
		0xdeadbeefcafe,
		0x243f6a8885a308d3,
		0x13198a2e03707344,
		0xa4093822299f31d0,
		0x82efa98ec4e6c894,
		0x452821e638d01377,
	};
	long steps = SCALED(40000);

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		for (int mode = 0; mode < 2; mode++) {
			memset(&M, 0, sizeof(M));
			M.seed = M.rng = seeds[i];
			t_watchdog(60, "model, seed %#" PRIx64 " mode %d",
				   M.seed, mode);
			T_RUN(NULL, mode ? model_driver : model_self,
			      (void *)(intptr_t)steps);
		}
	}
}

/* ---- (d) a million processes blocked at once ------------------------------- */

static _Atomic long waiting, woken;

static void blocks(void *arg)
{
	long i = (long)(intptr_t)arg;

	atomic_fetch_add_explicit(&waiting, 1, memory_order_relaxed);
	lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
	if (!m || m->size != sizeof(long) || *(long *)m->data != i)
		CHECK(0, "process %ld got a wrong message", i);
	lwp_msg_free(m);
	atomic_fetch_add_explicit(&woken, 1, memory_order_relaxed);
}

static void million(void *arg)
{
	long n = (long)(intptr_t)arg;
	int64_t t0 = lwp_now();

	for (long i = 0; i < n; i++) {
		pids[i] = lwp_spawn(blocks, (void *)(intptr_t)i);
		REQUIRE(pids[i] > 0, "spawn %ld of %ld: %s", i, n,
			lwp_strerror((int)pids[i]));
	}
	int64_t t1 = lwp_now();
	/* Let every one of them reach its receive. */
	while (atomic_load(&waiting) < n)
		lwp_sleep(1000000);
	CHECK(lwp_process_count() == (size_t)n + 1,
	      "%zu processes alive, want %ld", lwp_process_count(), n + 1);
	CHECK(atomic_load(&woken) == 0, "woke without a message");
	int64_t t2 = lwp_now();
	for (long i = 0; i < n; i++)
		REQUIRE(lwp_send(pids[i], GO, &i, sizeof(i)) == 0, "send %ld",
			i);
	while (lwp_process_count() > 1)
		lwp_sleep(1000000);
	int64_t t3 = lwp_now();
	CHECK(atomic_load(&woken) == n, "%ld of %ld woke", atomic_load(&woken),
	      n);
	cr_log_info("%ld processes: spawn %.2f s, block %.2f s, wake and "
		    "exit %.2f s",
		    n, (double)(t1 - t0) / 1e9, (double)(t2 - t1) / 1e9,
		    (double)(t3 - t2) / 1e9);
}

Test(stress, million_blocked_processes, .timeout = 600)
{
	long n = 1000000 / DOWN;

#ifdef LWP_TEST_MPROTECT_GUARDS
	if (n > 30000) /* see tests/meson.build */
		n = 30000;
#endif
	t_watchdog(300, "%ld blocked processes", n);
	pids = malloc((size_t)n * sizeof(*pids));
	cr_assert_not_null(pids);
	T_RUN(NULL, million, (void *)(intptr_t)n);
	free(pids);
}
