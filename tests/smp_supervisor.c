/*
 * smp_supervisor.c - a supervisor under concurrent crashes, on several
 * schedulers, for ThreadSanitizer too.
 *
 * One one_for_one supervisor runs KIDS permanent kids; CRASHERS crasher
 * processes, spread over the schedulers, each own the kids i with
 * i % CRASHERS == their index.  A kid tells its crasher UP when it starts;
 * the crasher kills one of its kids at random (seeded) - by message, by
 * lwp_kill with a random reason, or outright - and waits for exactly that
 * kid's next UP, under a new pid.  Meanwhile a caller asks the supervisor
 * for its children without pause.  So restarts of different kids overlap,
 * and the supervisor's calls interleave with its restarts.  At the end
 * every kid runs under the pid its crasher last saw, and the starts add
 * up: KIDS plus one per crash.
 */
#include "smp_common.h"

enum {
	UP = 1, /* a kid started: long index */
	CRASH,	/* to a kid: exit abnormally */
	DONE,	/* a crasher finished */
	STOP,	/* to the caller */
	KIDS = 96,
	CRASHERS = 4,
};

static lwp_pid crashers[CRASHERS];
static _Atomic long starts, crashes, calls;
static lwp_pid sup;

static void kid(void *arg)
{
	long i = (long)(intptr_t)arg;

	atomic_fetch_add(&starts, 1);
	CHECK_RC(lwp_send(crashers[i % CRASHERS], UP, &i, sizeof(i)), 0);
	lwp_msg_free(lwp_receive_tag(CRASH, LWP_INFINITY));
	lwp_exit(1);
}

static bool match_up(const lwp_msg *m, void *ctx)
{
	long idx;

	if (m->tag != UP || m->size != sizeof(idx))
		return false;
	memcpy(&idx, m->data, sizeof(idx));
	return idx == *(long *)ctx;
}

/* Kid i's next UP: its pid.  Only the crash awaited is pending, so a
 * second UP of one kid would be left over (checked at the end). */
static lwp_pid up_of(long i)
{
	lwp_msg *m = SMP_RECV(match_up, &i, "a kid's UP");
	lwp_pid pid = m->from;

	lwp_msg_free(m);
	return pid;
}

struct crasher {
	long index;
	long rounds;
	lwp_pid parent;
	lwp_pid pids[KIDS]; /* of its own kids */
};

static void crasher(void *arg)
{
	struct crasher *c = arg;
	uint64_t rng = smp_stream((uint64_t)c->index);

	for (long i = c->index; i < KIDS; i += CRASHERS)
		c->pids[i] = up_of(i);
	for (long r = 0; r < c->rounds; r++) {
		long i = c->index +
			 (long)smp_below(&rng, KIDS / CRASHERS) * CRASHERS;
		lwp_pid now;
		switch (smp_below(&rng, 3)) {
		case 0:
			CHECK_RC(lwp_send(c->pids[i], CRASH, NULL, 0), 0);
			break;
		case 1:
			CHECK_RC(lwp_kill(c->pids[i],
					  2 + (int)smp_below(&rng, 5)),
				 0);
			break;
		default:
			CHECK_RC(lwp_kill(c->pids[i], LWP_EXIT_KILL), 0);
		}
		atomic_fetch_add(&crashes, 1);
		now = up_of(i);
		CHECK(now != c->pids[i], "kid %ld kept its pid", i);
		c->pids[i] = now;
	}
	CHECK(lwp_mailbox_size() == 0, "%ld messages too many",
	      lwp_mailbox_size());
	CHECK_RC(lwp_send(c->parent, DONE, NULL, 0), 0);
}

static void caller(void *arg)
{
	static lwp_child_info info[KIDS];
	lwp_msg *stop;

	(void)arg;
	while (!(stop = lwp_receive_tag(STOP, 0))) {
		long n = lwp_supervisor_which_children(sup, info, KIDS);
		CHECK(n == KIDS, "which_children: %ld", n);
		atomic_fetch_add(&calls, 1);
	}
	lwp_msg_free(stop);
}

static void quiet(lwp_pid pid, const char *name, const lwp_reason *r, void *ctx)
{
	(void)pid, (void)name, (void)r, (void)ctx;
}

static struct crasher cs[CRASHERS];

static void first(void *arg)
{
	static lwp_child_spec specs[KIDS];
	static char ids[KIDS][16];
	static lwp_child_info info[KIDS];
	lwp_sup_spec spec = {
		.strategy = LWP_ONE_FOR_ONE,
		.intensity = LWP_SUP_INTENSITY_MAX,
		.period_ns = 60 * SEC,
		.children = specs,
		.nchildren = KIDS,
	};
	long rounds = *(long *)arg;
	lwp_pid call;

	for (long i = 0; i < KIDS; i++) {
		snprintf(ids[i], sizeof(ids[i]), "kid%ld", i);
		specs[i] = (lwp_child_spec){ .id = ids[i],
					     .fn = kid,
					     .arg = (void *)(intptr_t)i,
					     .restart = LWP_PERMANENT };
	}
	/* the crashers first: the kids tell them UP */
	for (long c = 0; c < CRASHERS; c++) {
		cs[c] = (struct crasher){ .index = c,
					  .rounds = rounds,
					  .parent = lwp_self() };
		crashers[c] = smp_spawn(crasher, &cs[c], c);
		REQUIRE(crashers[c] > 0, "spawn a crasher");
	}
	sup = lwp_supervisor_start_link(&spec);
	REQUIRE(sup > 0, "start_link: %s", lwp_strerror((int)sup));
	call = lwp_spawn(caller, NULL);
	REQUIRE(call > 0, "spawn the caller");
	for (long c = 0; c < CRASHERS; c++)
		lwp_msg_free(smp_recv_progress(DONE, &crashes, "crashers"));
	CHECK_RC(lwp_send(call, STOP, NULL, 0), 0);
	CHECK(lwp_supervisor_which_children(sup, info, KIDS) == KIDS,
	      "children");
	for (long i = 0; i < KIDS; i++)
		CHECK(info[i].pid == cs[i % CRASHERS].pids[i] &&
			      lwp_is_alive(info[i].pid),
		      "kid %ld is not the one its crasher saw", i);
	CHECK_RC(lwp_supervisor_stop(sup), 0);
	CHECK(atomic_load(&starts) == KIDS + atomic_load(&crashes),
	      "%ld starts for %d kids and %ld crashes", atomic_load(&starts),
	      KIDS, atomic_load(&crashes));
}

int main(int argc, char **argv)
{
	lwp_config cfg;
	long rounds;

	smp_init(argc, argv, "smp_supervisor");
	cfg = smp_config();
	rounds = smp_scaled(5000, 50);
	lwp_set_report_fn(quiet, NULL);
	smp_watchdog(120, "the crash storm");
	CHECK_RC(lwp_main(&cfg, first, &rounds), 0);
	return smp_done("%ld crashes, %ld calls", atomic_load(&crashes),
			atomic_load(&calls));
}
