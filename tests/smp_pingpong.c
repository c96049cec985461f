/*
 * smp_pingpong - many ping-pong pairs spread over the schedulers.
 *
 * Each pair is a pinger and a ponger.  Pair i is placed by i % 4: both
 * pinned to one scheduler, pinned to two different schedulers, pinger
 * pinned and ponger free (stealable), or both free.  The pinger keeps a
 * window of 1..4 pings in flight; every ping and pong carries the pair, a
 * sequence number and a value derived from both, and both sides check all
 * three and the sender's pid.  Both sides now and then yield, sleep a few
 * microseconds, or try a receive with a short timeout that may race with
 * the reply; pinned processes check that they never leave their
 * scheduler.  The first process counts the round trips each pair reports.
 */
#include "smp_common.h"

enum {
	PING = 1,
	PONG,
	GO,
	DONE
};

struct pair {
	long id;
	long rounds;
	unsigned window;
	long on_pinger, on_ponger; /* scheduler, or -1: free */
	lwp_pid pinger, ponger, boss;
};

struct ping {
	long pair;
	long seq;
	uint64_t val;
};

#define MAX_PAIRS 250

static struct pair pairs[MAX_PAIRS];
static _Atomic long round_trips;

static uint64_t ping_val(long pair, long seq)
{
	return smp_mix((uint64_t)pair << 40 ^ (uint64_t)seq);
}

static uint64_t pong_val(uint64_t v)
{
	return ~v * 3;
}

/* Now and then let others run, or sleep a little. */
static void jitter(uint64_t *rng)
{
	uint64_t r = smp_below(rng, 1024);

	if (r < 16)
		lwp_yield();
	else if (r == 16)
		lwp_sleep((int64_t)smp_below(rng, 50 * US));
	else if (r == 17)
		lwp_sleep(0);
}

/* The next message tagged tag: sometimes first a short wait that may time
 * out while the message is on its way; then a finite or infinite wait. */
static lwp_msg *recv_tag(uint64_t *rng, uint64_t tag)
{
	lwp_msg *m;

	if (smp_one_in(rng, 32)) {
		m = lwp_receive_tag(tag, (int64_t)smp_below(rng, 20 * US));
		if (m)
			return m;
		CHECK_RC(lwp_last_error(), LWP_ETIMEDOUT);
	}
	if (smp_one_in(rng, 2))
		return lwp_receive_tag(tag, LWP_INFINITY);
	return SMP_RECV_TAG(tag, tag == PING ? "ping" : "pong");
}

static void send_ping(struct pair *p, uint64_t tag, long seq, uint64_t val)
{
	struct ping pg = { .pair = p->id, .seq = seq, .val = val };
	lwp_pid to = tag == PING ? p->ponger : p->pinger;
	int rc = lwp_send(to, tag, &pg, sizeof(pg));

	REQUIRE(rc == 0, "pair %ld: send %s #%ld: %s", p->id,
		tag == PING ? "ping" : "pong", seq, lwp_strerror(rc));
}

/* Check a ping or pong against what it must be. */
static void check_ping(struct pair *p, lwp_msg *m, lwp_pid from, long seq,
		       uint64_t val)
{
	struct ping pg;

	REQUIRE(m->size == sizeof(pg), "pair %ld: message of %zu bytes", p->id,
		m->size);
	memcpy(&pg, m->data, sizeof(pg));
	CHECK(m->from == from, "pair %ld: message from %s, want %s", p->id,
	      lwp_pid_str(m->from).s, lwp_pid_str(from).s);
	REQUIRE(pg.pair == p->id && pg.seq == seq,
		"pair %ld: tag %" PRIu64 " #%ld of pair %ld, want #%ld", p->id,
		m->tag, pg.seq, pg.pair, seq);
	CHECK(pg.val == val,
	      "pair %ld: #%ld carries %" PRIx64 ", want %" PRIx64, p->id, seq,
	      pg.val, val);
}

static void ponger(void *arg)
{
	struct pair *p = arg;
	uint64_t rng = smp_stream((uint64_t)p->id * 2 + 1);

	smp_check_pinned(p->on_ponger);
	for (long i = 0; i < p->rounds; i++) {
		lwp_msg *m = recv_tag(&rng, PING);

		REQUIRE(m, "pair %ld: ping #%ld lost", p->id, i);
		check_ping(p, m, p->pinger, i, ping_val(p->id, i));
		lwp_msg_free(m);
		send_ping(p, PONG, i, pong_val(ping_val(p->id, i)));
		jitter(&rng);
		if (i % 256 == 0)
			smp_check_pinned(p->on_ponger);
	}
	smp_check_pinned(p->on_ponger);
}

static void pinger(void *arg)
{
	struct pair *p = arg;
	uint64_t rng = smp_stream((uint64_t)p->id * 2);
	long sent = 0, got = 0;

	lwp_msg_free(SMP_RECV_TAG(GO, "go"));
	smp_check_pinned(p->on_pinger);
	while (got < p->rounds) {
		while (sent < p->rounds && sent - got < (long)p->window) {
			send_ping(p, PING, sent, ping_val(p->id, sent));
			sent++;
		}
		lwp_msg *m = recv_tag(&rng, PONG);
		REQUIRE(m, "pair %ld: pong #%ld lost", p->id, got);
		check_ping(p, m, p->ponger, got,
			   pong_val(ping_val(p->id, got)));
		lwp_msg_free(m);
		got++;
		atomic_fetch_add_explicit(&round_trips, 1,
					  memory_order_relaxed);
		jitter(&rng);
		if (got % 256 == 0)
			smp_check_pinned(p->on_pinger);
	}
	CHECK(lwp_mailbox_size() == 0, "pair %ld: %ld extra messages", p->id,
	      lwp_mailbox_size());
	CHECK_RC(lwp_send(p->boss, DONE, &p->id, sizeof(p->id)), 0);
}

/* Pair i: 0 both on one scheduler, 1 on two, 2 pinger pinned and ponger
 * free, 3 both free. */
static void place(struct pair *p, uint64_t *rng)
{
	long s = (long)smp_below(rng, smp.scheds);

	p->on_pinger = p->id % 4 == 3 ? -1 : s;
	p->on_ponger = p->id % 4 == 0 ? s : p->id % 4 == 1 ? s + 1 : -1;
	p->window = 1 + (unsigned)smp_below(rng, 4);
}

static void start_pairs(long npairs, long rounds)
{
	uint64_t rng = smp_stream(~0ull);

	for (long i = 0; i < npairs; i++) {
		struct pair *p = &pairs[i];

		p->id = i;
		p->rounds = rounds;
		p->boss = lwp_self();
		place(p, &rng);
		p->ponger = smp_spawn(ponger, p, p->on_ponger);
		p->pinger = smp_spawn(pinger, p, p->on_pinger);
	}
	/* The pids are stored: let the pairs go. */
	for (long i = 0; i < npairs; i++)
		CHECK_RC(lwp_send(pairs[i].pinger, GO, NULL, 0), 0);
}

static void collect(long npairs)
{
	char done[MAX_PAIRS] = { 0 };

	for (long k = 0; k < npairs; k++) {
		lwp_msg *m = SMP_RECV_TAG(DONE, "a pair's done");
		long id;

		REQUIRE(m->size == sizeof(id), "done of %zu bytes", m->size);
		memcpy(&id, m->data, sizeof(id));
		REQUIRE(id >= 0 && id < npairs, "done from pair %ld", id);
		CHECK(!done[id], "pair %ld done twice", id);
		CHECK(m->from == pairs[id].pinger, "done of pair %ld from %s",
		      id, lwp_pid_str(m->from).s);
		done[id] = 1;
		lwp_msg_free(m);
		smp_watchdog(60, "%ld of %ld pairs done, %ld round trips",
			     k + 1, npairs, atomic_load(&round_trips));
	}
}

static void boss(void *arg)
{
	long npairs = ((long *)arg)[0], rounds = ((long *)arg)[1];

	CHECK_RC(lwp_scheduler_count(), smp.scheds);
	start_pairs(npairs, rounds);
	collect(npairs);
	CHECK_RC(smp_wait_procs(1), 1);
	CHECK(lwp_mailbox_size() == 0, "boss: %ld extra messages",
	      lwp_mailbox_size());
}

int main(int argc, char **argv)
{
	long arg[2];
	lwp_config cfg;
	int64_t t0;

	smp_init(argc, argv, "smp_pingpong");
	long total = smp_scaled(2000000, 2000);
	arg[0] = total >= MAX_PAIRS * 100 ? MAX_PAIRS : 16;
	arg[1] = total / arg[0];
	total = arg[0] * arg[1];
	cfg = smp_config();
	smp_watchdog(300, "%ld round trips in %ld pairs (lost wakeup?)", total,
		     arg[0]);
	t0 = smp_clock();
	CHECK_RC(lwp_main(&cfg, boss, arg), 0);
	CHECK_RC(lwp_process_count(), 0);
	CHECK(atomic_load(&round_trips) == total, "%ld round trips, want %ld",
	      atomic_load(&round_trips), total);
	return smp_done("%ld round trips, %ld pairs, %.2f s", total, arg[0],
			(double)(smp_clock() - t0) / SEC);
}
