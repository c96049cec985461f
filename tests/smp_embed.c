/*
 * smp_embed - the runtime embedded in a host program: lwp_start(), work
 * driven from host threads, lwp_stop() from the host; several cycles.
 *
 * Each cycle:
 *  1. lwp_start(); a second lwp_start() or lwp_main() is LWP_ERUNNING;
 *     lwp_scheduler_count() is the configured count.
 *  2. The host spawns a server process and registers it by name.  Host
 *     threads send numbered messages to it (by pid and by name) and spawn
 *     worker processes (some pinned) that each send it one message.  The
 *     server checks each thread's order and that each worker reported
 *     once, and publishes its counts; the host checks them, and that the
 *     processes and the name are gone once it is done.
 *  3. The host spawns busy processes (spinners pinned to each scheduler,
 *     a ping-pong pair, a spawner, blocked and sleeping ones) and a thread
 *     that keeps sending, waits until every scheduler has run a spinner,
 *     and calls lwp_stop() while all of them are busy.  Afterwards nothing
 *     runs any more, the counts are 0 and calls are LWP_ENOTRUNNING.
 */
#include <sched.h>

#include "smp_common.h"

#define NAME	 "smp_embed"
#define NTHREADS 4

enum {
	DATA = 1,
	WORKER,
	BALL
};

struct server {
	long per_thread, workers;
	long got[NTHREADS]; /* next seq wanted per thread */
	char *seen;	    /* workers seen */
	long bad;
	_Atomic long messages, worker_msgs;
	_Atomic int done;
};

struct tmsg {
	long thread, seq;
};

struct wmsg {
	long worker;
	lwp_pid self;
};

static struct server srv;
static lwp_pid server_pid;
static _Atomic unsigned long ran_on; /* schedulers that ran a spinner */
static _Atomic long spins;

/* ---- the server and its clients ------------------------------------------ */

static void server_take(lwp_msg *m)
{
	struct tmsg t;
	struct wmsg w;

	if (m->tag == DATA) {
		REQUIRE(m->size == sizeof(t), "data of %zu bytes", m->size);
		memcpy(&t, m->data, sizeof(t));
		REQUIRE(t.thread >= 0 && t.thread < NTHREADS, "thread %ld",
			t.thread);
		CHECK(t.seq == srv.got[t.thread], "thread %ld: #%ld, want #%ld",
		      t.thread, t.seq, srv.got[t.thread]);
		CHECK(m->from == LWP_NOPID, "thread message from %s",
		      lwp_pid_str(m->from).s);
		srv.got[t.thread] = t.seq + 1;
		atomic_fetch_add(&srv.messages, 1);
		return;
	}
	REQUIRE(m->tag == WORKER && m->size == sizeof(w), "tag %" PRIu64,
		m->tag);
	memcpy(&w, m->data, sizeof(w));
	REQUIRE(w.worker >= 0 && w.worker < srv.workers, "worker %ld",
		w.worker);
	CHECK(!srv.seen[w.worker], "worker %ld twice", w.worker);
	CHECK(m->from == w.self, "worker %ld: from %s, is %s", w.worker,
	      lwp_pid_str(m->from).s, lwp_pid_str(w.self).s);
	srv.seen[w.worker] = 1;
	atomic_fetch_add(&srv.worker_msgs, 1);
}

static void server(void *arg)
{
	long want = NTHREADS * srv.per_thread + srv.workers;

	(void)arg;
	for (long i = 0; i < want; i++) {
		lwp_msg *m = SMP_RECV(NULL, NULL, "a client's message");

		server_take(m);
		lwp_msg_free(m);
	}
	CHECK(lwp_receive(NULL, NULL, 0) == NULL, "server: extra messages");
	atomic_store(&srv.done, 1);
}

static void worker(void *arg)
{
	struct wmsg w = { (long)(intptr_t)arg, lwp_self() };

	if (w.worker % 7 == 0)
		lwp_yield();
	CHECK_RC(lwp_send(server_pid, WORKER, &w, sizeof(w)), 0);
}

static void spawn_worker(long w)
{
	lwp_spawn_opts o = smp_on(w % 2 ? w : -1);
	lwp_pid pid = lwp_spawn_opt(worker, (void *)(intptr_t)w, &o);

	REQUIRE(pid > 0, "spawn worker %ld from a host thread: %s", w,
		lwp_strerror((int)pid));
}

/* A host thread: numbered messages, by pid and by name, and workers
 * spawned in between. */
static void *client(void *arg)
{
	long id = (long)(intptr_t)arg, per = srv.workers / NTHREADS;
	long stride = srv.per_thread / per + 1, spawned = 0;
	uint64_t rng = smp_stream((uint64_t)id);

	for (long i = 0; i < srv.per_thread; i++) {
		struct tmsg t = { id, i };
		int rc = smp_one_in(&rng, 2) ?
				 lwp_send(server_pid, DATA, &t, sizeof(t)) :
				 lwp_send_name(NAME, DATA, &t, sizeof(t));

		REQUIRE(rc == 0, "thread %ld: send #%ld: %s", id, i,
			lwp_strerror(rc));
		if (i % stride == 0 && spawned < per)
			spawn_worker(id * per + spawned++);
	}
	while (spawned < per)
		spawn_worker(id * per + spawned++);
	return NULL;
}

static void serve_clients(int cycle)
{
	pthread_t t[NTHREADS];

	memset(srv.got, 0, sizeof(srv.got));
	memset(srv.seen, 0, (size_t)srv.workers);
	atomic_store(&srv.messages, 0);
	atomic_store(&srv.worker_msgs, 0);
	atomic_store(&srv.done, 0);
	server_pid = lwp_spawn(server, NULL);
	REQUIRE(server_pid > 0, "spawn from the host: %s",
		lwp_strerror((int)server_pid));
	CHECK_RC(lwp_register(NAME, server_pid), 0);
	for (long i = 0; i < NTHREADS; i++)
		REQUIRE(pthread_create(&t[i], NULL, client,
				       (void *)(intptr_t)i) == 0,
			"pthread_create");
	for (int i = 0; i < NTHREADS; i++)
		REQUIRE(pthread_join(t[i], NULL) == 0, "join");
	smp_watchdog(60, "cycle %d: server done (%ld messages, %ld workers)",
		     cycle, atomic_load(&srv.messages),
		     atomic_load(&srv.worker_msgs));
	while (!atomic_load(&srv.done))
		smp_nap(MS);
	CHECK(atomic_load(&srv.messages) == NTHREADS * srv.per_thread,
	      "cycle %d: %ld messages", cycle, atomic_load(&srv.messages));
	CHECK(atomic_load(&srv.worker_msgs) == srv.workers,
	      "cycle %d: %ld workers", cycle, atomic_load(&srv.worker_msgs));
	CHECK_RC(smp_wait_procs(0), 0);
	CHECK_RC(lwp_whereis(NAME), LWP_ENOTREG);
}

/* ---- busy processes, stopped from the host ------------------------------- */

static void spinner(void *arg)
{
	(void)arg;
	for (;;) {
		int id = lwp_scheduler_id();

		if (id >= 0 && id < 64)
			atomic_fetch_or(&ran_on, 1ul << id);
		atomic_fetch_add_explicit(&spins, 1, memory_order_relaxed);
		lwp_yield();
	}
}

static void bouncer(void *arg)
{
	lwp_pid peer = (lwp_pid)(intptr_t)arg;
	lwp_msg *m;

	if (peer > 0)
		CHECK_RC(lwp_send(peer, BALL, NULL, 0), 0);
	/* Freed before the send: a send may yield, and lwp_stop() discards
	 * a process with whatever it holds (lwp.h). */
	while ((m = lwp_receive_tag(BALL, LWP_INFINITY))) {
		lwp_pid from = m->from;
		lwp_msg_free(m);
		lwp_send(from, BALL, NULL, 0);
	}
}

static void short_lived(void *arg)
{
	(void)arg;
	atomic_fetch_add_explicit(&spins, 1, memory_order_relaxed);
}

static void spawner(void *arg)
{
	(void)arg;
	for (;;) {
		lwp_spawn(short_lived, NULL);
		lwp_sleep(10 * US);
	}
}

/* Never sent anything: it must never return. */
static void blocked(void *arg)
{
	(void)arg;
	lwp_msg_free(lwp_receive(NULL, NULL, LWP_INFINITY));
	CHECK(0, "a blocked process returned from its receive");
}

/* What the late sender sends to. */
static void sink(void *arg)
{
	(void)arg;
	for (;;)
		lwp_msg_free(lwp_receive(NULL, NULL, LWP_INFINITY));
}

static void sleeper(void *arg)
{
	(void)arg;
	lwp_sleep(60 * SEC);
	CHECK(0, "a sleeping process woke up early");
}

/* Send to a busy receiver until the runtime is gone. */
static void *late_sender(void *arg)
{
	lwp_pid to = (lwp_pid)(intptr_t)arg;
	long n = 0;
	int rc;

	while ((rc = lwp_send(to, DATA, &n, sizeof(n))) == 0 ||
	       rc == LWP_ENOPROC) {
		if (++n % 64 == 0)
			smp_nap(10 * US);
	}
	return (void *)(intptr_t)rc;
}

static void spawn_busy(pthread_t *t)
{
	lwp_pid a, b;

	for (unsigned i = 0; i < smp.scheds; i++)
		smp_spawn(spinner, NULL, i);
	smp_spawn(spinner, NULL, -1);
	a = smp_spawn(bouncer, (void *)(intptr_t)0, -1);
	b = smp_spawn(bouncer, (void *)(intptr_t)a, -1);
	(void)b;
	smp_spawn(spawner, NULL, -1);
	smp_spawn(sleeper, NULL, -1);
	smp_spawn(blocked, NULL, 0);
	smp_spawn(blocked, NULL, -1);
	a = smp_spawn(sink, NULL, smp.scheds - 1);
	REQUIRE(pthread_create(t, NULL, late_sender, (void *)(intptr_t)a) == 0,
		"pthread_create");
}

static void stop_busy(int cycle)
{
	unsigned long all = smp.scheds >= 64 ? ~0ul : (1ul << smp.scheds) - 1;
	uint64_t rng = smp_stream((uint64_t)cycle);
	pthread_t t;
	void *rc;
	long s;

	atomic_store(&ran_on, 0);
	spawn_busy(&t);
	smp_watchdog(30, "cycle %d: every scheduler runs a spinner (%lx)",
		     cycle, atomic_load(&ran_on));
	while ((atomic_load(&ran_on) & all) != all)
		smp_nap(100 * US);
	smp_nap((int64_t)smp_below(&rng, 5) * MS);
	smp_watchdog(30, "cycle %d: lwp_stop with busy processes", cycle);
	CHECK_RC(lwp_stop(), 0);
	pthread_join(t, &rc);
	CHECK_RC((intptr_t)rc, LWP_ENOTRUNNING);
	CHECK_RC(lwp_process_count(), 0);
	CHECK_RC(lwp_scheduler_count(), 0);
	CHECK_RC(lwp_spawn(short_lived, NULL), LWP_ENOTRUNNING);
	CHECK_RC(lwp_send(server_pid, DATA, NULL, 0), LWP_ENOTRUNNING);
	CHECK_RC(lwp_stop(), LWP_ENOTRUNNING);
	s = atomic_load(&spins);
	smp_nap(20 * MS);
	CHECK(atomic_load(&spins) == s, "cycle %d: processes ran after stop",
	      cycle);
}

/* ---- cycles -------------------------------------------------------------- */

static void check_start(lwp_config *cfg, int cycle)
{
	lwp_spawn_opts bad = { .scheduler = LWP_ON_SCHEDULER(smp.scheds) };

	CHECK_RC(lwp_scheduler_count(), 0);
	CHECK_RC(lwp_process_count(), 0);
	CHECK_RC(lwp_stop(), LWP_ENOTRUNNING);
	REQUIRE(lwp_start(cfg) == 0, "cycle %d: lwp_start", cycle);
	CHECK_RC(lwp_start(cfg), LWP_ERUNNING);
	CHECK_RC(lwp_main(cfg, short_lived, NULL), LWP_ERUNNING);
	CHECK_RC(lwp_scheduler_count(), smp.scheds);
	CHECK_RC(lwp_scheduler_id(), LWP_ENOTPROC);
	CHECK_RC(lwp_self(), LWP_ENOTPROC);
	CHECK_RC(lwp_spawn_opt(short_lived, NULL, &bad), LWP_EINVAL);
	/* Nothing to run: the runtime stays up all the same. */
	smp_nap(2 * MS);
	CHECK_RC(lwp_scheduler_count(), smp.scheds);
}

int main(int argc, char **argv)
{
	lwp_config cfg, bad;
	long cycles;

	smp_init(argc, argv, "smp_embed");
	cycles = smp_scaled(20, 4);
	srv.per_thread = smp_scaled(20000, 500);
	srv.workers = NTHREADS * smp_scaled(500, 20);
	srv.seen = malloc((size_t)srv.workers);
	REQUIRE(srv.seen, "malloc");
	cfg = smp_config();
	bad = cfg;
	bad.schedulers = LWP_SCHEDULERS_MAX + 1;
	CHECK_RC(lwp_start(&bad), LWP_EINVAL);
	for (int c = 0; c < cycles; c++) {
		smp_watchdog(60, "cycle %d: start", c);
		check_start(&cfg, c);
		serve_clients(c);
		stop_busy(c);
	}
	free(srv.seen);
	return smp_done("%ld start/stop cycles, %ld messages and %ld workers "
			"each",
			cycles, NTHREADS * srv.per_thread, srv.workers);
}
