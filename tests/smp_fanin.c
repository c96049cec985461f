/*
 * smp_fanin - thousands of senders into one mailbox.
 *
 * Sender i tags its messages i and numbers them 0, 1, 2, ...; the payload
 * also carries i, the sender's own pid and a check value, because senders
 * that are foreign threads (lwp_send from outside a process) arrive with
 * from = LWP_NOPID.  Processes are pinned to a scheduler or free; they send
 * with lwp_send, with lwp_msg_alloc + lwp_send_msg (a block allocated on
 * one scheduler and freed on another) or with lwp_send_name, and now and
 * then yield or sleep.  All start at once on a GO.  The receiver (the
 * first process) mostly takes the oldest message and now and then one
 * sender's next message (selective receive by tag), and checks each
 * sender's order, every payload and the exact total.
 */
#include <sched.h>

#include "smp_common.h"

#define NAME	 "smp_fanin"
#define NTHREADS 4

enum {
	GO = 1u << 30
};

struct fan {
	uint32_t id;
	uint32_t seq;
	lwp_pid self;
	uint64_t check;
};

static long nprocs, per_proc, per_thread, nsenders, total;
static lwp_pid boss_pid;
static _Atomic int go;

static uint64_t fan_check(uint32_t id, uint32_t seq)
{
	return smp_mix((uint64_t)id << 32 | seq);
}

/* Send one message, in one of three ways; 0 or an LWP_E* code. */
static int fan_send(uint32_t id, uint32_t seq, uint64_t how)
{
	struct fan f = { id, seq, lwp_self(), fan_check(id, seq) };
	lwp_msg *m;
	int rc;

	if (f.self < 0)
		f.self = LWP_NOPID;
	switch (how % 3) {
	case 0:
		return lwp_send(boss_pid, id, &f, sizeof(f));
	case 1:
		m = lwp_msg_alloc(sizeof(f));
		if (!m)
			return lwp_last_error();
		memcpy(m->data, &f, sizeof(f));
		rc = lwp_send_msg(boss_pid, id, m);
		if (rc)
			lwp_msg_free(m);
		return rc;
	default:
		return lwp_send_name(NAME, id, &f, sizeof(f));
	}
}

static void sender(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	uint64_t rng = smp_stream(id);
	long on = id % 3 == 0 ? (long)id : -1;

	lwp_msg_free(SMP_RECV_TAG(GO, "go"));
	smp_check_pinned(on);
	for (uint32_t seq = 0; seq < per_proc; seq++) {
		int rc = fan_send(id, seq, id % 4 == 3 ? smp_rand(&rng) : id);

		REQUIRE(rc == 0, "sender %u: #%u: %s", id, seq,
			lwp_strerror(rc));
		if (smp_one_in(&rng, 16))
			lwp_yield();
		else if (smp_one_in(&rng, 512))
			lwp_sleep((int64_t)smp_below(&rng, 100 * US));
	}
	smp_check_pinned(on);
}

static void *foreign_sender(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	uint64_t rng = smp_stream(id);

	while (!atomic_load(&go))
		smp_nap(100 * US);
	for (uint32_t seq = 0; seq < per_thread; seq++) {
		int rc = fan_send(id, seq, smp_rand(&rng));

		REQUIRE(rc == 0, "thread %u: #%u: %s", id, seq,
			lwp_strerror(rc));
		if (smp_one_in(&rng, 64))
			sched_yield();
	}
	return NULL;
}

struct collector {
	lwp_pid *pids;	/* LWP_NOPID for threads */
	uint32_t *next; /* next seq wanted, per sender */
	uint32_t *want; /* how many each sends */
	long got;
	uint64_t rng;
};

static void check_msg(struct collector *c, lwp_msg *m)
{
	struct fan f;

	REQUIRE(m->size == sizeof(f), "message of %zu bytes", m->size);
	memcpy(&f, m->data, sizeof(f));
	REQUIRE(m->tag == f.id && f.id < nsenders,
		"tag %" PRIu64 " carries sender %u", m->tag, f.id);
	CHECK(f.seq == c->next[f.id], "sender %u: got #%u, want #%u", f.id,
	      f.seq, c->next[f.id]);
	CHECK(f.check == fan_check(f.id, f.seq), "sender %u #%u: bad payload",
	      f.id, f.seq);
	CHECK(m->from == c->pids[f.id] && f.self == c->pids[f.id],
	      "sender %u: from %s, says %s, want %s", f.id,
	      lwp_pid_str(m->from).s, lwp_pid_str(f.self).s,
	      lwp_pid_str(c->pids[f.id]).s);
	c->next[f.id] = f.seq + 1;
	c->got++;
}

/*
 * One message: usually the oldest, now and then a given sender's next
 * (not often: the scan for it may have to pass most of a long mailbox),
 * half of these a thread's.
 */
static void collect_one(struct collector *c)
{
	lwp_msg *m;

	if (smp_one_in(&c->rng, 256)) {
		uint32_t id = (uint32_t)smp_below(&c->rng, nsenders);

		if (smp_one_in(&c->rng, 2))
			id = (uint32_t)(nprocs + smp_below(&c->rng, NTHREADS));
		while (c->next[id] == c->want[id])
			id = (id + 1) % nsenders;
		m = SMP_RECV_TAG(id, "one sender's next");
		CHECK(m->tag == id, "asked for tag %u, got %" PRIu64, id,
		      m->tag);
	} else {
		m = SMP_RECV(NULL, NULL, "the oldest");
	}
	check_msg(c, m);
	lwp_msg_free(m);
}

static void start_senders(struct collector *c, pthread_t *threads)
{
	for (long i = 0; i < nprocs; i++) {
		c->pids[i] = smp_spawn(sender, (void *)(uintptr_t)i,
				       i % 3 == 0 ? i : -1);
		c->want[i] = (uint32_t)per_proc;
	}
	for (long i = nprocs; i < nsenders; i++) {
		c->pids[i] = LWP_NOPID;
		c->want[i] = (uint32_t)per_thread;
		REQUIRE(pthread_create(&threads[i - nprocs], NULL,
				       foreign_sender,
				       (void *)(uintptr_t)i) == 0,
			"pthread_create");
	}
	for (long i = 0; i < nprocs; i++)
		CHECK_RC(lwp_send(c->pids[i], GO, NULL, 0), 0);
	atomic_store(&go, 1);
}

static void boss(void *arg)
{
	struct collector c = { .rng = smp_stream(~0ull) };
	pthread_t threads[NTHREADS];

	(void)arg;
	boss_pid = lwp_self();
	CHECK_RC(lwp_register(NAME, boss_pid), 0);
	c.pids = calloc((size_t)nsenders, sizeof(*c.pids));
	c.next = calloc((size_t)nsenders, sizeof(*c.next));
	c.want = calloc((size_t)nsenders, sizeof(*c.want));
	REQUIRE(c.pids && c.next && c.want, "calloc");
	start_senders(&c, threads);
	while (c.got < total) {
		collect_one(&c);
		if (c.got % 10000 == 0)
			smp_watchdog(60, "%ld of %ld messages received", c.got,
				     total);
	}
	for (int i = 0; i < NTHREADS; i++)
		REQUIRE(pthread_join(threads[i], NULL) == 0, "join");
	for (long i = 0; i < nsenders; i++)
		CHECK(c.next[i] == c.want[i], "sender %ld: %u of %u", i,
		      c.next[i], c.want[i]);
	CHECK(lwp_receive(NULL, NULL, 0) == NULL, "extra messages");
	CHECK_RC(smp_wait_procs(1), 1);
	free(c.pids);
	free(c.next);
	free(c.want);
}

int main(int argc, char **argv)
{
	lwp_config cfg;

	smp_init(argc, argv, "smp_fanin");
	nprocs = smp_scaled(2000, 40);
	per_proc = 200;
	per_thread = smp_scaled(25000, 500);
	nsenders = nprocs + NTHREADS;
	total = nprocs * per_proc + NTHREADS * per_thread;
	cfg = smp_config();
	smp_watchdog(120, "%ld senders, %ld messages (lost wakeup?)", nsenders,
		     total);
	CHECK_RC(lwp_main(&cfg, boss, NULL), 0);
	CHECK_RC(lwp_process_count(), 0);
	return smp_done("%ld messages from %ld processes and %d threads", total,
			nprocs, NTHREADS);
}
