/*
 * smp_links - links, monitors and kills racing across schedulers.
 *
 * Part A (kill mid-send): each round a victim streams numbered messages
 * to the checker while a killer on another scheduler kills it after a
 * random number of yields.  The checker monitors the victim from birth;
 * between two processes signals keep the order of messages, so the
 * victim's messages must arrive numbered 0, 1, 2, ... with no gap or
 * repeat, and none after its DOWN, whose reason is killed.
 *
 * Part B (mutual links dying at once): pairs linked across two
 * schedulers both exit abnormally on one GO, each with its own code.
 * Each must end with its own reason or its partner's (it died of the
 * link first), and the watcher gets exactly one DOWN for each.
 *
 * Part C (a link racing an exit): a process that traps exits links to
 * one that is exiting on another scheduler at that moment.  Whether the
 * link came in time (EXIT with the target's reason) or not (noproc), it
 * gets exactly one EXIT from the target.
 */
#include "smp_common.h"

enum {
	SEQ = 1,
	GO,
	DONE,
	PARTNER,
	LINKED,
};

static long rounds_a, pairs_b, rounds_c;
static lwp_pid boss_pid;
static _Atomic long sent_a, killed_a, own_b, partner_b, refused_c, linked_c;
static _Atomic long reports;

/* Processes that end by their own abnormal exit are reported; those
 * killed or taken down by a link are not. */
static void count_report(lwp_pid pid, const char *name, const lwp_reason *r,
			 void *ctx)
{
	(void)pid, (void)name, (void)r, (void)ctx;
	atomic_fetch_add(&reports, 1);
}

/* ---- part A: kill mid-send -------------------------------------------------- */

static void streams(void *arg)
{
	lwp_pid to = (lwp_pid)(intptr_t)arg;

	for (long n = 0;; n++) {
		int rc = lwp_send(to, SEQ, &n, sizeof(n));
		CHECK(rc == 0, "victim send: %s", lwp_strerror(rc));
		atomic_fetch_add(&sent_a, 1);
		if (n % 64 == 63)
			lwp_yield();
	}
}

struct kill_order {
	lwp_pid victim;
	long yields;
};

static void kills(void *arg)
{
	struct kill_order k;
	lwp_msg *m = SMP_RECV(lwp_match_tag, &(uint64_t){ GO }, "kill order");

	(void)arg;
	memcpy(&k, m->data, sizeof(k));
	lwp_msg_free(m);
	for (long i = 0; i < k.yields; i++)
		lwp_yield();
	CHECK_RC(lwp_kill(k.victim, LWP_EXIT_KILL), 0);
}

static void kill_mid_send(uint64_t *rng)
{
	for (long r = 0; r < rounds_a; r++) {
		lwp_ref ref;
		lwp_pid killer = smp_spawn(kills, NULL, 0);
		lwp_pid victim = lwp_spawn_monitor(
			streams, (void *)(intptr_t)lwp_self(), &ref);
		struct kill_order k = { victim, (long)smp_below(rng, 200) };
		long next = 0;
		lwp_msg *m;

		REQUIRE(victim > 0, "spawn_monitor");
		CHECK_RC(lwp_send(killer, GO, &k, sizeof(k)), 0);
		for (;;) {
			m = SMP_RECV(NULL, NULL, "victim's stream");
			if (m->tag == LWP_TAG_DOWN)
				break;
			CHECK(m->from == victim && m->tag == SEQ,
			      "a stranger's message");
			CHECK(*(long *)m->data == next, "got %ld, want %ld",
			      *(long *)m->data, next);
			next++;
			lwp_msg_free(m);
		}
		CHECK(lwp_exit_info_of(m)->reason.code == LWP_EXIT_KILLED,
		      "victim ended with %d", lwp_exit_info_of(m)->reason.code);
		lwp_msg_free(m);
		CHECK(lwp_mailbox_size() == 0, "messages after the DOWN");
		atomic_fetch_add(&killed_a, 1);
	}
}

/* ---- part B: mutual links dying at once ------------------------------------ */

/* Link to the partner named (if any), say so, then die on GO. */
static void links_then_dies(void *arg)
{
	lwp_msg *m = SMP_RECV(lwp_match_tag, &(uint64_t){ PARTNER }, "partner");
	lwp_pid partner = *(lwp_pid *)m->data;

	lwp_msg_free(m);
	if (partner)
		CHECK_RC(lwp_link(partner), 0);
	CHECK_RC(lwp_send(boss_pid, LINKED, NULL, 0), 0);
	lwp_msg_free(SMP_RECV(lwp_match_tag, &(uint64_t){ GO }, "GO"));
	lwp_exit((int)(intptr_t)arg);
}

static void mutual_links(void)
{
	for (long i = 0; i < pairs_b; i++) {
		int code[2] = { (int)(1000 + i), (int)(1000000 + i) };
		lwp_pid pid[2];
		lwp_ref ref[2];

		for (int k = 0; k < 2; k++) {
			pid[k] = smp_spawn(links_then_dies,
					   (void *)(intptr_t)code[k], k);
			ref[k] = lwp_monitor(pid[k]);
		}
		CHECK_RC(lwp_send(pid[0], PARTNER, &pid[1], sizeof(lwp_pid)),
			 0);
		CHECK_RC(lwp_send(pid[1], PARTNER, &(lwp_pid){ 0 },
				  sizeof(lwp_pid)),
			 0);
		for (int k = 0; k < 2; k++)
			lwp_msg_free(SMP_RECV(lwp_match_tag,
					      &(uint64_t){ LINKED }, "linked"));
		for (int k = 0; k < 2; k++)
			CHECK_RC(lwp_send(pid[k], GO, NULL, 0), 0);
		for (int n = 0; n < 2; n++) {
			lwp_msg *m = SMP_RECV(lwp_match_tag,
					      &(uint64_t){ LWP_TAG_DOWN },
					      "DOWN");
			const lwp_exit_info *x = lwp_exit_info_of(m);
			int k = x->ref == ref[1];

			CHECK(x->ref == ref[k], "a DOWN of another monitor");
			CHECK(x->reason.code == code[k] ||
				      x->reason.code == code[1 - k],
			      "pair %ld: ended with %d", i, x->reason.code);
			atomic_fetch_add(x->reason.code == code[k] ? &own_b :
								     &partner_b,
					 1);
			lwp_msg_free(m);
		}
	}
}

/* ---- part C: a link racing an exit ----------------------------------------- */

static void exits_on_go(void *arg)
{
	lwp_msg_free(SMP_RECV(lwp_match_tag, &(uint64_t){ GO }, "GO"));
	lwp_exit((int)(intptr_t)arg);
}

/* Trapping exits, link to a target told to exit at about that moment. */
static void links_to_the_dying(void *arg)
{
	uint64_t rng = smp_stream((uint64_t)(intptr_t)arg);
	int code = 7;
	lwp_pid target = smp_spawn(exits_on_go, (void *)(intptr_t)code, 1);
	lwp_ref ref = lwp_monitor(target);
	long spin = (long)smp_below(&rng, 64);
	const lwp_exit_info *x;
	lwp_msg *m;
	int rc;

	CHECK_RC(lwp_trap_exits(true), 0);
	CHECK_RC(lwp_send(target, GO, NULL, 0), 0);
	for (long i = 0; i < spin; i++)
		lwp_yield();
	rc = lwp_link(target);
	CHECK(rc == 0 || rc == LWP_ENOPROC, "link: %s", lwp_strerror(rc));
	m = SMP_RECV(lwp_match_tag, &(uint64_t){ LWP_TAG_DOWN }, "DOWN");
	CHECK(lwp_exit_info_of(m)->ref == ref, "DOWN of another monitor");
	lwp_msg_free(m);
	/* The target sends its EXIT before its DOWN; a refusal may come
	 * after it, but comes. */
	m = SMP_RECV(lwp_match_tag, &(uint64_t){ LWP_TAG_EXIT }, "EXIT");
	x = lwp_exit_info_of(m);
	CHECK(x->pid == target, "EXIT from a stranger");
	CHECK(x->reason.code == code || x->reason.code == LWP_EXIT_NOPROC,
	      "EXIT reason %d", x->reason.code);
	CHECK(rc == 0 || x->reason.code == LWP_EXIT_NOPROC,
	      "link failed, yet the EXIT is not noproc");
	atomic_fetch_add(
		x->reason.code == LWP_EXIT_NOPROC ? &refused_c : &linked_c, 1);
	lwp_msg_free(m);
	lwp_sleep(100 * US);
	CHECK(lwp_mailbox_size() == 0, "a second EXIT");
	CHECK_RC(lwp_send(boss_pid, DONE, NULL, 0), 0);
}

static void link_races_exit(void)
{
	for (long r = 0; r < rounds_c; r++) {
		smp_spawn(links_to_the_dying, (void *)(intptr_t)r, 0);
		lwp_msg_free(SMP_RECV(lwp_match_tag, &(uint64_t){ DONE },
				      "round done"));
	}
}

static void boss(void *arg)
{
	uint64_t rng = smp_stream(0);

	(void)arg;
	boss_pid = lwp_self();
	kill_mid_send(&rng);
	mutual_links();
	link_races_exit();
}

int main(int argc, char **argv)
{
	lwp_config cfg;

	smp_init(argc, argv, "smp_links");
	rounds_a = smp_scaled(2000, 50);
	pairs_b = smp_scaled(5000, 100);
	rounds_c = smp_scaled(5000, 100);
	cfg = smp_config();
	lwp_set_report_fn(count_report, NULL);
	smp_watchdog(240, "A: %ld kills, B: %ld pairs, C: %ld links", rounds_a,
		     pairs_b, rounds_c);
	CHECK_RC(lwp_main(&cfg, boss, NULL), 0);
	CHECK_RC(lwp_process_count(), 0);
	CHECK(atomic_load(&own_b) + atomic_load(&partner_b) == 2 * pairs_b,
	      "B: %ld DOWNs, want %ld",
	      atomic_load(&own_b) + atomic_load(&partner_b), 2 * pairs_b);
	CHECK(atomic_load(&reports) == atomic_load(&own_b) + rounds_c,
	      "%ld error reports, want %ld", atomic_load(&reports),
	      atomic_load(&own_b) + rounds_c);
	return smp_done("A: %ld kills mid-send (%ld messages), B: %ld pairs "
			"(%ld own reason, %ld the partner's), C: %ld linked + "
			"%ld refused",
			atomic_load(&killed_a), atomic_load(&sent_a), pairs_b,
			atomic_load(&own_b), atomic_load(&partner_b),
			atomic_load(&linked_c), atomic_load(&refused_c));
}
