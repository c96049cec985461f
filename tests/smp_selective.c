/*
 * smp_selective - selective receive under concurrent senders.
 *
 * Part A (interleaved tags): several senders, spread over the schedulers,
 * each send a stream of messages with random tags 0..NTAGS-1, numbered per
 * (sender, tag), under a credit window so the mailbox stays a few hundred
 * long.  The receiver picks at random how it takes the next one: by tag,
 * by (sender, tag) with a match function, by a set of tags, or the oldest,
 * each with a timeout of 0, a few microseconds or a millisecond; so it
 * takes them in an order that differs from arrival.  For each (sender,
 * tag) the numbers must come 0, 1, 2, ... (nothing lost, duplicated or
 * reordered) up to the count the sender declares at its end.
 *
 * Part B (timeouts racing sends): pairs, the two sides usually on
 * different schedulers.  Each round the sender sends numbered messages
 * with tiny random gaps, noise with another tag, then DONE.  The receiver
 * receives with timeouts of 0-30 us, so timers fire while messages are on
 * their way, and stops at some point after DONE has come.  Every message
 * must then be either received (in order) or still in the mailbox:
 * lwp_mailbox_size() and lwp_flush() must count exactly the rest.
 */
#include "smp_common.h"

#define NSENDERS 6
#define NTAGS	 5
#define WINDOW	 128
#define CREDIT	 32

enum {
	DONE = 100,
	GO,
	CREDITS,
	REPORT,
	X = 200,
	NOISE,
	START
};

static lwp_pid boss_pid;
static long per_sender, pairs, rounds;
static _Atomic long taken_a, taken_b, flushed_b;
static _Atomic long progress; /* steps of both parts */

static void report(long what)
{
	CHECK_RC(lwp_send(boss_pid, REPORT, &what, sizeof(what)), 0);
}

/* ---- part A: interleaved tags --------------------------------------------- */

struct amsg {
	int sender;
	int tag;
	long seq;
	uint64_t check;
};

struct asender {
	int id;
	lwp_pid receiver;
	long sent, credited;
	long count[NTAGS];
};

static uint64_t a_check(int s, int t, long seq)
{
	return smp_mix((uint64_t)s << 56 ^ (uint64_t)t << 48 ^ (uint64_t)seq);
}

static void take_credits(struct asender *a, int64_t timeout)
{
	lwp_msg *m;

	while ((m = lwp_receive_tag(CREDITS, timeout))) {
		a->credited += *(long *)m->data;
		lwp_msg_free(m);
		timeout = 0;
	}
}

static void a_sender(void *arg)
{
	struct asender a = { .id = (int)(intptr_t)arg };
	uint64_t rng = smp_stream(1000 + (uint64_t)a.id);
	lwp_msg *go = SMP_RECV_TAG(GO, "go");

	a.receiver = go->from;
	lwp_msg_free(go);
	for (long i = 0; i < per_sender; i++) {
		int t = (int)smp_below(&rng, NTAGS);
		struct amsg m = { a.id, t, a.count[t]++, 0 };

		m.check = a_check(a.id, t, m.seq);
		take_credits(&a, 0);
		while (a.sent - a.credited >= WINDOW)
			take_credits(&a, SMP_WAIT);
		REQUIRE(a.sent - a.credited < WINDOW, "sender %d: no credit",
			a.id);
		CHECK_RC(lwp_send(a.receiver, (uint64_t)t, &m, sizeof(m)), 0);
		a.sent++;
		if (smp_one_in(&rng, 32))
			lwp_yield();
	}
	CHECK_RC(lwp_send(a.receiver, DONE, a.count, sizeof(a.count)), 0);
}

struct areceiver {
	lwp_pid pids[NSENDERS];
	long next[NSENDERS][NTAGS];
	long want[NSENDERS][NTAGS]; /* -1 until the sender's DONE */
	long taken[NSENDERS], credited[NSENDERS];
	int done, complete;
	uint64_t rng;
};

struct amatch {
	lwp_pid from;
	uint64_t tag, mask;
};

static bool match_from_tag(const lwp_msg *m, void *ctx)
{
	const struct amatch *a = ctx;

	return m->from == a->from && m->tag == a->tag;
}

static bool match_tag_set(const lwp_msg *m, void *ctx)
{
	const struct amatch *a = ctx;

	return m->tag < 64 && (a->mask >> m->tag & 1);
}

static int a_sender_of(struct areceiver *r, lwp_pid pid)
{
	for (int s = 0; s < NSENDERS; s++)
		if (r->pids[s] == pid)
			return s;
	return -1;
}

static void a_done(struct areceiver *r, int s, lwp_msg *m)
{
	REQUIRE(m->size == sizeof(r->want[s]), "DONE of %zu bytes", m->size);
	CHECK(r->want[s][0] < 0, "sender %d: two DONEs", s);
	memcpy(r->want[s], m->data, sizeof(r->want[s]));
	r->done++;
}

/* Give sender s credit for what was taken from it.  A sender that has
 * exited had sent its DONE: that must be in the mailbox already. */
static void a_credit(struct areceiver *r, int s)
{
	long c = r->taken[s] - r->credited[s];
	int rc = lwp_send(r->pids[s], CREDITS, &c, sizeof(c));
	struct amatch a = { .from = r->pids[s], .tag = DONE };
	lwp_msg *m;

	r->credited[s] += c;
	if (rc != LWP_ENOPROC) {
		CHECK_RC(rc, 0);
		return;
	}
	if (r->want[s][0] >= 0)
		return;
	m = lwp_receive(match_from_tag, &a, 0);
	REQUIRE(m, "sender %d has exited, but its DONE is not here", s);
	a_done(r, s, m);
	lwp_msg_free(m);
}

static void a_take(struct areceiver *r, int s, lwp_msg *m)
{
	struct amsg a;

	REQUIRE(m->size == sizeof(a) && m->tag < NTAGS, "tag %" PRIu64, m->tag);
	memcpy(&a, m->data, sizeof(a));
	REQUIRE(a.sender == s && a.tag == (int)m->tag,
		"message of sender %d tag %d from sender %d tag %" PRIu64,
		a.sender, a.tag, s, m->tag);
	CHECK(a.seq == r->next[s][a.tag], "sender %d tag %d: #%ld, want #%ld",
	      s, a.tag, a.seq, r->next[s][a.tag]);
	CHECK(a.check == a_check(s, a.tag, a.seq), "sender %d: bad payload", s);
	r->next[s][a.tag] = a.seq + 1;
	atomic_fetch_add_explicit(&taken_a, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&progress, 1, memory_order_relaxed);
	if (++r->taken[s] - r->credited[s] >= CREDIT)
		a_credit(r, s);
}

/* One receive, chosen at random; NULL when it timed out. */
static lwp_msg *a_receive(struct areceiver *r)
{
	static const int64_t timeouts[] = { 0, 5 * US, MS };
	int64_t t = timeouts[smp_below(&r->rng, ARRAY_SIZE(timeouts))];
	struct amatch a = { .tag = smp_below(&r->rng, NTAGS) };
	lwp_msg *m;

	switch (smp_below(&r->rng, 4)) {
	case 0:
		m = lwp_receive_tag(a.tag, t);
		CHECK(!m || m->tag == a.tag, "by tag");
		break;
	case 1:
		a.from = r->pids[smp_below(&r->rng, NSENDERS)];
		m = lwp_receive(match_from_tag, &a, t);
		CHECK(!m || (m->from == a.from && m->tag == a.tag), "by match");
		break;
	case 2:
		a.mask = smp_rand(&r->rng);
		m = lwp_receive(match_tag_set, &a, t);
		CHECK(!m || match_tag_set(m, &a), "by tag set");
		break;
	default:
		m = lwp_receive(NULL, NULL, t);
	}
	if (!m)
		CHECK_RC(lwp_last_error(), LWP_ETIMEDOUT);
	return m;
}

static bool a_finished(struct areceiver *r)
{
	if (r->done < NSENDERS)
		return false;
	for (int s = 0; s < NSENDERS; s++)
		for (int t = 0; t < NTAGS; t++)
			if (r->next[s][t] != r->want[s][t])
				return false;
	return true;
}

static void a_receiver(void *arg)
{
	struct areceiver *r = calloc(1, sizeof(*r));

	(void)arg;
	REQUIRE(r, "calloc");
	r->rng = smp_stream(999);
	memset(r->want, 0xff, sizeof(r->want));
	for (int s = 0; s < NSENDERS; s++)
		r->pids[s] = smp_spawn(a_sender, (void *)(intptr_t)s,
				       s % 2 ? s : -1);
	for (int s = 0; s < NSENDERS; s++)
		CHECK_RC(lwp_send(r->pids[s], GO, NULL, 0), 0);
	while (!a_finished(r)) {
		lwp_msg *m = a_receive(r);
		int s;

		if (!m)
			continue;
		s = a_sender_of(r, m->from);
		REQUIRE(s >= 0, "message from %s", lwp_pid_str(m->from).s);
		if (m->tag == DONE)
			a_done(r, s, m);
		else
			a_take(r, s, m);
		lwp_msg_free(m);
	}
	CHECK(lwp_mailbox_size() == 0, "part A: %ld extra messages",
	      lwp_mailbox_size());
	free(r);
	report(0);
}

/* ---- part B: timeouts racing sends ---------------------------------------- */

/* What one side of a pair is doing, for the report on a stall. */
struct where {
	_Atomic(const char *) what;
	_Atomic long round;
	_Atomic int64_t since;
};

struct bpair {
	long id;
	long on; /* scheduler of the receiver, -1: both free */
	lwp_pid receiver, sender;
	struct where rwhere, swhere;
};

static struct bpair *bpairs;

static void at(struct where *w, const char *what, long round)
{
	atomic_store_explicit(&w->what, what, memory_order_relaxed);
	atomic_store_explicit(&w->round, round, memory_order_relaxed);
	atomic_store_explicit(&w->since, smp_clock(), memory_order_relaxed);
}

static void print_where(long pair, const char *side, struct where *w)
{
	const char *what = atomic_load(&w->what);
	int64_t ago = smp_clock() - atomic_load(&w->since);

	fprintf(stderr, "%s:   pair %ld %s: round %ld: %s, for %.1f ms\n",
		smp.name, pair, side, atomic_load(&w->round),
		what ? what : "not started", (double)ago / MS);
}

/* Part B's pairs: what each side does, and since when. */
static void b_stalled(void)
{
	for (long i = 0; i < pairs; i++) {
		print_where(i, "receiver", &bpairs[i].rwhere);
		print_where(i, "sender", &bpairs[i].swhere);
	}
}

struct bdone {
	long sent, noise;
};

/* A gap of 0-30 us: spinning, yielding or sleeping. */
static void b_gap(struct where *w, long r, uint64_t *rng)
{
	int64_t until;

	switch (smp_below(rng, 4)) {
	case 0:
		until = lwp_now() + (int64_t)smp_below(rng, 30 * US);
		while (lwp_now() < until)
			;
		break;
	case 1:
		at(w, "yields", r);
		lwp_yield();
		break;
	case 2:
		at(w, "sleeps", r);
		lwp_sleep((int64_t)smp_below(rng, 30 * US));
		break;
	}
	at(w, "sends", r);
}

static void b_sender(void *arg)
{
	struct bpair *p = arg;
	uint64_t rng = smp_stream(2000 + (uint64_t)p->id);

	for (long r = 0; r < rounds; r++) {
		struct bdone d = { 1 + (long)smp_below(&rng, 64), 0 };
		lwp_msg *go;

		at(&p->swhere, "waits for START", r);
		go = SMP_RECV_TAG(START, "start of a round");
		lwp_msg_free(go);
		at(&p->swhere, "sends", r);
		for (long i = 0; i < d.sent; i++) {
			if (smp_one_in(&rng, 8)) {
				CHECK_RC(lwp_send(p->receiver, NOISE, &r,
						  sizeof(r)),
					 0);
				d.noise++;
			}
			CHECK_RC(lwp_send(p->receiver, X, &i, sizeof(i)), 0);
			b_gap(&p->swhere, r, &rng);
		}
		CHECK_RC(lwp_send(p->receiver, DONE, &d, sizeof(d)), 0);
	}
	at(&p->swhere, "has ended", rounds);
}

struct bflush {
	long next, x, noise;
};

static void b_count(const lwp_msg *m, void *ctx)
{
	struct bflush *f = ctx;

	if (m->tag == NOISE) {
		f->noise++;
		return;
	}
	CHECK(m->tag == X, "flushed tag %" PRIu64, m->tag);
	CHECK(*(long *)m->data == f->next, "flushed #%ld, want #%ld",
	      *(long *)m->data, f->next);
	f->next++;
	f->x++;
}

/* Receive X (by tag, or by sender and tag) with timeouts of 0-30 us
 * until DONE has come, then maybe a few more; return how many X came. */
static long b_receive(struct bpair *p, long r, uint64_t *rng, struct bdone *d)
{
	struct amatch want = { .from = p->sender, .tag = X };
	lwp_msg *m, *done = NULL;
	long got = 0, seq;
	int64_t end = smp_clock() + SMP_WAIT;

	while (!done || smp_one_in(rng, 2)) {
		int64_t t = (int64_t)smp_below(rng, 30 * US);

		REQUIRE(done || smp_clock() < end,
			"pair %ld round %ld: no DONE (%ld received, %ld in "
			"the mailbox)",
			p->id, r, got, lwp_mailbox_size());
		if (smp_one_in(rng, 2)) {
			at(&p->rwhere, "receive_tag(X, < 30 us)", r);
			m = lwp_receive_tag(X, t);
		} else {
			at(&p->rwhere, "receive(from and X, < 30 us)", r);
			m = lwp_receive(match_from_tag, &want, t);
		}
		at(&p->rwhere, "receives", r);
		if (m) {
			REQUIRE(m->tag == X && m->size == sizeof(seq),
				"tag %" PRIu64, m->tag);
			memcpy(&seq, m->data, sizeof(seq));
			CHECK(seq == got, "pair %ld: #%ld, want #%ld", p->id,
			      seq, got);
			got++;
			lwp_msg_free(m);
		} else {
			CHECK_RC(lwp_last_error(), LWP_ETIMEDOUT);
		}
		if (!done && (!m || smp_one_in(rng, 16)))
			done = lwp_receive_tag(DONE, 0);
	}
	REQUIRE(done->size == sizeof(*d), "DONE of %zu bytes", done->size);
	memcpy(d, done->data, sizeof(*d));
	lwp_msg_free(done);
	return got;
}

static void b_receiver(void *arg)
{
	struct bpair *p = arg;
	uint64_t rng = smp_stream(3000 + (uint64_t)p->id);

	/* The boss stored both pids before this GO. */
	lwp_msg_free(SMP_RECV_TAG(GO, "go"));
	smp_check_pinned(p->on);
	for (long r = 0; r < rounds; r++) {
		struct bdone d = { 0, 0 };
		struct bflush f = { 0 };
		long got, left;

		CHECK_RC(lwp_send(p->sender, START, NULL, 0), 0);
		got = b_receive(p, r, &rng, &d);
		at(&p->rwhere, "flushes", r);
		f.next = got;
		left = d.sent - got + d.noise;
		CHECK(lwp_mailbox_size() == left,
		      "pair %ld round %ld: %ld in the mailbox, want %ld sent - "
		      "%ld received + %ld noise",
		      p->id, r, lwp_mailbox_size(), d.sent, got, d.noise);
		CHECK_RC(lwp_flush(b_count, &f), left);
		CHECK(f.x == d.sent - got && f.next == d.sent,
		      "pair %ld round %ld: flushed %ld up to #%ld, sent %ld, "
		      "received %ld",
		      p->id, r, f.x, f.next, d.sent, got);
		CHECK(f.noise == d.noise, "pair %ld: %ld noise, want %ld",
		      p->id, f.noise, d.noise);
		CHECK_RC(lwp_mailbox_size(), 0);
		atomic_fetch_add(&taken_b, got);
		atomic_fetch_add(&flushed_b, f.x);
		atomic_fetch_add(&progress, 1);
	}
	at(&p->rwhere, "has ended", rounds);
	smp_check_pinned(p->on);
	report(1);
}

static void b_start(struct bpair *b)
{
	for (long i = 0; i < pairs; i++) {
		b[i].id = i;
		b[i].on = i % 3 == 2 ? -1 : i;
		b[i].receiver = smp_spawn(b_receiver, &b[i], b[i].on);
		b[i].sender = smp_spawn(b_sender, &b[i],
					b[i].on < 0 ? -1 : b[i].on + 1);
	}
	for (long i = 0; i < pairs; i++)
		CHECK_RC(lwp_send(b[i].receiver, GO, NULL, 0), 0);
}

static void boss(void *arg)
{
	struct bpair *b = calloc((size_t)pairs, sizeof(*b));
	long parts[2] = { 0, 0 };

	(void)arg;
	REQUIRE(b, "calloc");
	bpairs = b;
	smp.dump = b_stalled;
	boss_pid = lwp_self();
	CHECK_RC(lwp_scheduler_count(), smp.scheds);
	smp_spawn(a_receiver, NULL, -1);
	b_start(b);
	for (long i = 0; i < 1 + pairs; i++) {
		lwp_msg *m = smp_recv_progress(REPORT, &progress, "reports");
		long part = *(long *)m->data;

		REQUIRE(part == 0 || part == 1, "report %ld", part);
		parts[part]++;
		lwp_msg_free(m);
		printf("%s: part %c done: A %ld taken, B %ld received + %ld "
		       "flushed\n",
		       smp.name, part ? 'B' : 'A', atomic_load(&taken_a),
		       atomic_load(&taken_b), atomic_load(&flushed_b));
	}
	CHECK(parts[0] == 1 && parts[1] == pairs, "reports %ld, %ld", parts[0],
	      parts[1]);
	CHECK_RC(smp_wait_procs(1), 1);
	free(b);
}

int main(int argc, char **argv)
{
	lwp_config cfg;

	smp_init(argc, argv, "smp_selective");
	per_sender = smp_scaled(40000, 1000);
	pairs = 8;
	rounds = smp_scaled(2000, 100);
	cfg = smp_config();
	smp_watchdog(120, "A: %d senders x %ld, B: %ld pairs x %ld rounds",
		     NSENDERS, per_sender, pairs, rounds);
	CHECK_RC(lwp_main(&cfg, boss, NULL), 0);
	CHECK_RC(lwp_process_count(), 0);
	CHECK(atomic_load(&taken_a) == NSENDERS * per_sender,
	      "A: %ld taken, want %ld", atomic_load(&taken_a),
	      NSENDERS * per_sender);
	return smp_done("A: %ld interleaved, B: %ld received + %ld left "
			"in %ld rounds",
			atomic_load(&taken_a), atomic_load(&taken_b),
			atomic_load(&flushed_b), pairs * rounds);
}
