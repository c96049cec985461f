/*
 * test_supervisor.c - supervisors: strategies, restart types, restart
 * intensity, orderly shutdown and its grace, dynamic children, nested
 * supervisors, exit signals from outside, bad input, and a crash storm.
 *
 * The children are `kid` processes.  Each tells the test process (the
 * collector) UP when it starts and DIED from an on-exit handler when it
 * ends, both with its index, so the collector sees every incarnation and
 * the order in which the supervisor terminated them: the supervisor
 * terminates one child only after the previous one has ended (after its
 * DIED was sent), so DIEDs arrive in termination order.
 */
#include <inttypes.h>
#include <pthread.h>
#include <time.h>

#include "test_common.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

TestSuite(supervisor, .timeout = 120 * T_SLOW);

enum {
	UP = 1,	 /* a kid started: int index */
	DIED,	 /* a kid is ending: int index */
	CRASH,	 /* to a kid: exit with the int code in the payload */
	CLEANED, /* a trapping kid cleaned up after a shutdown */
	SUP_PID, /* a helper tells the test its supervisor's pid */
	GO,	 /* a helper may go on */
	MAX_KIDS = 512,
};

/* How a kid behaves. */
enum kid_kind {
	PLAIN,	   /* does not trap exits */
	CLEANS_UP, /* traps exits; on the supervisor's shutdown: CLEANED, exit */
	STUBBORN,  /* traps exits and ignores them */
};

static lwp_pid collector;
static enum kid_kind kinds[MAX_KIDS];

#define IDX_ARG(i) ((void *)(intptr_t)(i))

static void died(void *arg)
{
	int idx = (int)(intptr_t)arg;

	(void)lwp_send(collector, DIED, &idx, sizeof(idx));
}

static void kid(void *arg)
{
	int idx = (int)(intptr_t)arg;

	if (kinds[idx] != PLAIN)
		lwp_trap_exits(true);
	CHECK_RC(lwp_on_exit(died, arg), 0);
	CHECK_RC(lwp_send(collector, UP, &idx, sizeof(idx)), 0);
	for (;;) {
		lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
		int code;
		if (m->tag == CRASH) {
			memcpy(&code, m->data, sizeof(code));
			lwp_msg_free(m);
			lwp_exit_text(code, "crash");
		}
		if (m->tag == LWP_TAG_EXIT && kinds[idx] == CLEANS_UP) {
			code = lwp_exit_info_of(m)->reason.code;
			lwp_msg_free(m);
			CHECK_RC(lwp_send(collector, CLEANED, &idx,
					  sizeof(idx)),
				 0);
			lwp_exit(code);
		}
		lwp_msg_free(m);
	}
}

/* Quiet error reports: the crashes are on purpose. */
static _Atomic long reports;

static void count_report(lwp_pid pid, const char *name, const lwp_reason *r,
			 void *ctx)
{
	(void)pid, (void)name, (void)r, (void)ctx;
	atomic_fetch_add(&reports, 1);
}

static void begin(void)
{
	collector = lwp_self();
	lwp_set_report_fn(count_report, NULL);
}

static bool match_idx(const lwp_msg *m, void *ctx)
{
	const int *want = ctx; /* {tag, idx} */
	int idx;

	if (m->tag != (uint64_t)want[0] || m->size != sizeof(idx))
		return false;
	memcpy(&idx, m->data, sizeof(idx));
	return idx == want[1];
}

/* The UP of kid idx: its pid. */
static lwp_pid up_of(int idx)
{
	int want[2] = { UP, idx };
	lwp_msg *m = RECV(match_idx, want);
	lwp_pid pid = m->from;

	lwp_msg_free(m);
	return pid;
}

/* The next UP or DIED message's index (of any kid). */
static int next_idx(uint64_t tag)
{
	lwp_msg *m = RECV_TAG(tag);
	int idx;

	memcpy(&idx, m->data, sizeof(idx));
	lwp_msg_free(m);
	return idx;
}

/* No UP or DIED waits (all that was due has been received). */
static void no_more_news(void)
{
	uint64_t tags[] = { UP, DIED };

	for (size_t i = 0; i < ARRAY_SIZE(tags); i++) {
		lwp_msg *m = lwp_receive_tag(tags[i], 0);
		CHECK(m == NULL, "an unexpected %s", i ? "DIED" : "UP");
		lwp_msg_free(m);
	}
}

static lwp_child_spec kid_spec(char *id, size_t len, int idx, lwp_restart r)
{
	snprintf(id, len, "kid%d", idx);
	return (lwp_child_spec){
		.id = id,
		.fn = kid,
		.arg = IDX_ARG(idx),
		.restart = r,
		.shutdown_ns = 5 * SEC,
	};
}

/* Up to MAX_KIDS specs of kids 0..n-1, with ids. */
struct kids {
	char ids[MAX_KIDS][16];
	lwp_child_spec v[MAX_KIDS];
};

static void make_kids(struct kids *k, int n, lwp_restart r)
{
	for (int i = 0; i < n; i++)
		k->v[i] = kid_spec(k->ids[i], sizeof(k->ids[i]), i, r);
}

/* Start a linked supervisor of kids 0..n-1. */
static lwp_pid start_sup(struct kids *k, int n, lwp_sup_strategy st,
			 unsigned intensity, int64_t period)
{
	lwp_sup_spec spec = {
		.strategy = st,
		.intensity = intensity,
		.period_ns = period,
		.children = k->v,
		.nchildren = (size_t)n,
	};
	lwp_pid sup = lwp_supervisor_start_link(&spec);

	REQUIRE(sup > 0, "start_link: %s", lwp_strerror((int)sup));
	return sup;
}

/* The same, from the collector, with the kids' UPs collected into pids. */
static lwp_pid start_kids(struct kids *k, int n, lwp_sup_strategy st,
			  unsigned intensity, int64_t period, lwp_pid *pids)
{
	lwp_pid sup = start_sup(k, n, st, intensity, period);

	for (int i = 0; i < n; i++)
		pids[i] = up_of(i);
	return sup;
}

static void crash(lwp_pid pid, int code)
{
	CHECK_RC(lwp_send(pid, CRASH, &code, sizeof(code)), 0);
}

static bool match_down(const lwp_msg *m, void *ctx)
{
	return m->tag == LWP_TAG_DOWN &&
	       lwp_exit_info_of(m)->ref == *(lwp_ref *)ctx;
}

/* The DOWN of monitor ref: the reason code. */
static int down_of(lwp_ref ref)
{
	lwp_msg *m = RECV(match_down, &ref);
	int code = lwp_exit_info_of(m)->reason.code;

	lwp_msg_free(m);
	return code;
}

/* Crash pid with code and wait until it has ended: the supervisor then
 * has its EXIT before any later call from here (pid sent it before our
 * DOWN). */
static void crash_and_wait(lwp_pid pid, int code)
{
	lwp_ref ref = lwp_monitor(pid);

	REQUIRE(ref > 0, "monitor");
	crash(pid, code);
	CHECK(down_of(ref) == code, "it ended with another reason");
}

/* The children of sup, REQUIREd to be n. */
static void which(lwp_pid sup, lwp_child_info *out, long n)
{
	long got = lwp_supervisor_which_children(sup, out, MAX_KIDS);

	REQUIRE(got == n, "which_children: %ld, want %ld", got, n);
}

/* The EXIT of pid (we trap exits): its reason. */
static lwp_reason exit_of(lwp_pid pid)
{
	lwp_msg *m = RECV(lwp_match_from, &pid);
	const lwp_exit_info *x = lwp_exit_info_of(m);
	lwp_reason r;

	REQUIRE(m->tag == LWP_TAG_EXIT && x, "not an EXIT: tag %" PRIu64,
		m->tag);
	r = x->reason;
	lwp_msg_free(m);
	return r;
}

static struct kids K; /* one test at a time: Criterion forks per test */

/* T_RUN of fn, which must also run to its end: a test process linked to
 * a supervisor that ends abnormally would otherwise die quietly, with
 * every check it had left unmade. */
static void (*body_fn)(void *);
static _Atomic bool finished;

static void body(void *arg)
{
	body_fn(arg);
	atomic_store(&finished, true);
}

#define SUP_RUN(cfg, fn)                                                    \
	do {                                                                \
		body_fn = (fn);                                             \
		T_RUN((cfg), body, NULL);                                   \
		cr_assert(atomic_load(&finished),                           \
			  "the test process ended early (an exit signal)"); \
	} while (0)

/* ---- strategies ---------------------------------------------------------- */

static void one_for_one(void *arg)
{
	lwp_pid pids[3], again;
	lwp_child_info info[MAX_KIDS];
	lwp_pid sup;

	(void)arg;
	begin();
	make_kids(&K, 3, LWP_PERMANENT);
	sup = start_kids(&K, 3, LWP_ONE_FOR_ONE, 10, 10 * SEC, pids);
	crash(pids[1], 1);
	CHECK(next_idx(DIED) == 1, "the crashed one died");
	again = up_of(1);
	CHECK(again != pids[1] && again > 0, "a new incarnation");
	which(sup, info, 3);
	CHECK(info[0].pid == pids[0] && info[1].pid == again &&
		      info[2].pid == pids[2],
	      "only the crashed child was restarted");
	CHECK(strcmp(info[1].id, "kid1") == 0, "start order kept");
	CHECK_RC(lwp_supervisor_stop(sup), 0);
	for (int i = 2; i >= 0; i--)
		CHECK_RC(next_idx(DIED), i);
	no_more_news();
}

Test(supervisor, one_for_one_restarts_the_crashed_child_only)
{
	t_watchdog(30, "one_for_one");
	SUP_RUN(NULL, one_for_one);
}

/* one_for_all and rest_for_one: crash kid 1 of 4; `from` is the first
 * index terminated with it (0 for all, 2 for the rest). */
static void group_restart(lwp_sup_strategy st, int from)
{
	lwp_pid pids[4], now[4];
	lwp_child_info info[MAX_KIDS];
	lwp_pid sup;

	begin();
	make_kids(&K, 4, LWP_PERMANENT);
	sup = start_kids(&K, 4, st, 10, 10 * SEC, pids);
	crash(pids[1], 3);
	CHECK_RC(next_idx(DIED), 1);
	/* the others, last first, skipping the one that crashed */
	for (int i = 3; i >= from; i--)
		if (i != 1)
			CHECK_RC(next_idx(DIED), i);
	for (int i = 0; i < 4; i++)
		now[i] = i == 1 || i >= from ? up_of(i) : pids[i];
	which(sup, info, 4);
	for (int i = 0; i < 4; i++) {
		bool restarted = i == 1 || i >= from;
		CHECK(info[i].pid == now[i], "kid %d: which_children", i);
		CHECK((now[i] != pids[i]) == restarted, "kid %d restarted: %d",
		      i, restarted);
		CHECK(lwp_is_alive(now[i]), "kid %d alive", i);
	}
	CHECK_RC(lwp_supervisor_stop(sup), 0);
	for (int i = 3; i >= 0; i--)
		CHECK_RC(next_idx(DIED), i);
	no_more_news();
}

static void one_for_all(void *arg)
{
	(void)arg;
	group_restart(LWP_ONE_FOR_ALL, 0);
}

static void rest_for_one(void *arg)
{
	(void)arg;
	group_restart(LWP_REST_FOR_ONE, 2);
}

Test(supervisor, one_for_all_restarts_every_child)
{
	t_watchdog(30, "one_for_all");
	SUP_RUN(NULL, one_for_all);
}

Test(supervisor, rest_for_one_restarts_the_later_children)
{
	t_watchdog(30, "rest_for_one");
	SUP_RUN(NULL, rest_for_one);
}

/* A child that ended on its own while others were being terminated for a
 * group restart is restarted once, not twice. */
static void group_no_double(void *arg)
{
	lwp_pid pids[3];
	lwp_pid sup;

	(void)arg;
	begin();
	make_kids(&K, 3, LWP_PERMANENT);
	kinds[2] = STUBBORN; /* holds the supervisor for its grace */
	K.v[2].shutdown_ns = 100 * MS;
	sup = start_kids(&K, 3, LWP_ONE_FOR_ALL, 10, 10 * SEC, pids);
	crash(pids[1], 1);
	/* while kid 2's grace runs (or, rarely, after kid 0 was terminated:
	 * then this finds it gone) */
	(void)lwp_send(pids[0], CRASH, &(int){ 1 }, sizeof(int));
	for (int i = 0; i < 3; i++)
		(void)up_of(i);
	CHECK_RC(lwp_supervisor_stop(sup), 0);
	/* three DIEDs of the crash round, three of the stop */
	for (int i = 0; i < 6; i++)
		(void)next_idx(DIED);
	no_more_news();
}

Test(supervisor, a_child_ending_during_a_group_restart_restarts_once)
{
	t_watchdog(30, "group_no_double");
	SUP_RUN(NULL, group_no_double);
}

/* ---- restart types -------------------------------------------------------- */

struct restart_case {
	lwp_restart restart;
	int code;
	bool restarted;
	bool kept; /* its spec stays */
};

static const struct restart_case restart_cases[] = {
	{ LWP_PERMANENT, LWP_EXIT_NORMAL, true, true },
	{ LWP_PERMANENT, 5, true, true },
	{ LWP_PERMANENT, LWP_EXIT_SHUTDOWN, true, true },
	{ LWP_TRANSIENT, LWP_EXIT_NORMAL, false, true },
	{ LWP_TRANSIENT, 5, true, true },
	{ LWP_TRANSIENT, LWP_EXIT_SHUTDOWN, false, true },
	{ LWP_TEMPORARY, LWP_EXIT_NORMAL, false, false },
	{ LWP_TEMPORARY, 5, false, false },
	{ LWP_TEMPORARY, LWP_EXIT_SHUTDOWN, false, false },
};

static void restart_types(void *arg)
{
	(void)arg;
	begin();
	for (size_t c = 0; c < ARRAY_SIZE(restart_cases); c++) {
		const struct restart_case *rc = &restart_cases[c];
		lwp_child_info info[MAX_KIDS];
		lwp_pid pids[2], sup;
		long n;

		make_kids(&K, 2, rc->restart);
		sup = start_kids(&K, 2, LWP_ONE_FOR_ONE, 10, 10 * SEC, pids);
		crash_and_wait(pids[0], rc->code);
		CHECK_RC(next_idx(DIED), 0);
		n = lwp_supervisor_which_children(sup, info, MAX_KIDS);
		CHECK(n == (rc->kept ? 2 : 1), "case %zu: %ld children", c, n);
		if (rc->kept) {
			lwp_pid now = rc->restarted ? up_of(0) : LWP_NOPID;
			CHECK(info[0].pid == now, "case %zu: pid", c);
			CHECK(strcmp(info[0].id, "kid0") == 0, "case %zu", c);
		} else {
			CHECK(strcmp(info[0].id, "kid1") == 0, "case %zu", c);
		}
		CHECK(info[0].restart == rc->restart || !rc->kept, "type");
		CHECK_RC(lwp_supervisor_stop(sup), 0);
		for (int i = rc->restarted ? 2 : 1; i > 0; i--)
			(void)next_idx(DIED);
		no_more_news();
	}
}

Test(supervisor, restart_types_and_exit_reasons)
{
	t_watchdog(60, "restart_types");
	SUP_RUN(NULL, restart_types);
}

/* ---- restart intensity ---------------------------------------------------- */

/* intensity restarts within the period are allowed; one more ends the
 * supervisor, which terminates the others (reverse order) first. */
static void gives_up(unsigned intensity, int64_t period, unsigned allowed)
{
	lwp_pid pids[3], sup;

	begin();
	lwp_trap_exits(true);
	make_kids(&K, 3, LWP_PERMANENT);
	sup = start_kids(&K, 3, LWP_ONE_FOR_ONE, intensity, period, pids);
	for (unsigned i = 0; i < allowed; i++) {
		crash(pids[1], 1);
		CHECK_RC(next_idx(DIED), 1);
		pids[1] = up_of(1);
	}
	crash(pids[1], 1);
	CHECK_RC(next_idx(DIED), 1);
	lwp_reason r = exit_of(sup);
	CHECK(r.code == LWP_EXIT_SHUTDOWN &&
		      strcmp(r.text, "reached_max_restart_intensity") == 0,
	      "reason %d %s", r.code, r.text);
	CHECK_RC(next_idx(DIED), 2);
	CHECK_RC(next_idx(DIED), 0);
	for (int i = 0; i < 3; i++)
		CHECK(!lwp_is_alive(pids[i]), "kid %d outlived it", i);
	CHECK(!lwp_is_alive(sup), "the supervisor lives");
	no_more_news();
}

static void intensity_reached(void *arg)
{
	(void)arg;
	gives_up(3, 60 * SEC, 3);
}

static void intensity_zero(void *arg)
{
	(void)arg;
	gives_up(0, SEC, 0);
}

static void intensity_default(void *arg)
{
	(void)arg;
	gives_up(0, 0, LWP_SUP_INTENSITY_DEFAULT);
}

Test(supervisor, intensity_reached_ends_the_supervisor)
{
	t_watchdog(30, "intensity_reached");
	SUP_RUN(NULL, intensity_reached);
}

Test(supervisor, intensity_zero_allows_no_restart)
{
	t_watchdog(30, "intensity_zero");
	SUP_RUN(NULL, intensity_zero);
}

Test(supervisor, intensity_defaults_to_one_in_five_seconds)
{
	t_watchdog(30, "intensity_default");
	SUP_RUN(NULL, intensity_default);
}

/* Restarts spread wider than the period never add up. */
static void window_slides(void *arg)
{
	const int64_t period = 30 * MS;
	lwp_pid pids[1], sup;

	(void)arg;
	begin();
	make_kids(&K, 1, LWP_PERMANENT);
	sup = start_kids(&K, 1, LWP_ONE_FOR_ONE, 1, period, pids);
	for (int i = 0; i < 5; i++) {
		crash(pids[0], 1);
		CHECK_RC(next_idx(DIED), 0);
		pids[0] = up_of(0);
		CHECK_RC(lwp_sleep(period + period / 2), 0);
	}
	CHECK(lwp_is_alive(sup), "the window did not slide");
	CHECK_RC(lwp_supervisor_stop(sup), 0);
	CHECK_RC(next_idx(DIED), 0);
	no_more_news();
}

Test(supervisor, intensity_window_slides)
{
	t_watchdog(30, "window_slides");
	SUP_RUN(NULL, window_slides);
}

/* ---- shutdown --------------------------------------------------------------- */

static void shutdown_grace(void *arg)
{
	/* kid: kind, shutdown_ns, the reason it must end with */
	static const struct {
		enum kid_kind kind;
		int64_t shutdown_ns;
		int code;
	} g[] = {
		{ CLEANS_UP, 10 * SEC, LWP_EXIT_SHUTDOWN },
		{ STUBBORN, 50 * MS, LWP_EXIT_KILLED },
		{ PLAIN, 10 * SEC, LWP_EXIT_SHUTDOWN },
		{ PLAIN, 0, LWP_EXIT_KILLED },
		{ CLEANS_UP, LWP_INFINITY, LWP_EXIT_SHUTDOWN },
		{ CLEANS_UP, 0, LWP_EXIT_KILLED },
	};
	const int n = (int)ARRAY_SIZE(g);
	lwp_pid pids[ARRAY_SIZE(g)], sup;
	lwp_ref refs[ARRAY_SIZE(g)];
	int64_t t0;

	(void)arg;
	begin();
	make_kids(&K, n, LWP_PERMANENT);
	for (int i = 0; i < n; i++) {
		kinds[i] = g[i].kind;
		K.v[i].shutdown_ns = g[i].shutdown_ns;
	}
	sup = start_kids(&K, n, LWP_ONE_FOR_ONE, 1, SEC, pids);
	for (int i = 0; i < n; i++)
		refs[i] = lwp_monitor(pids[i]);
	t0 = lwp_now();
	CHECK_RC(lwp_supervisor_stop(sup), 0);
	CHECK(lwp_now() - t0 >= 50 * MS, "the stubborn kid's grace");
	CHECK(!lwp_is_alive(sup), "stopped but alive");
	for (int i = n - 1; i >= 0; i--) {
		int code = down_of(refs[i]);
		CHECK_RC(next_idx(DIED), i);
		CHECK(code == g[i].code, "kid %d ended with %d, want %d", i,
		      code, g[i].code);
	}
	for (int i = 0; i < n; i++) {
		int want[2] = { CLEANED, i };
		lwp_msg *m = lwp_receive(match_idx, want, 0);
		bool cleaned = g[i].kind == CLEANS_UP && g[i].shutdown_ns;
		CHECK((m != NULL) == cleaned, "kid %d cleaned up: %d", i,
		      m != NULL);
		lwp_msg_free(m);
	}
	no_more_news();
}

Test(supervisor, orderly_shutdown_with_grace_then_kill)
{
	t_watchdog(30, "shutdown_grace");
	SUP_RUN(NULL, shutdown_grace);
}

/* The parent's exit, whatever its reason, ends the supervisor in order
 * with that reason. */
static void parent_then_exits(void *arg)
{
	lwp_pid sup = start_sup(&K, 3, LWP_ONE_FOR_ONE, 1, SEC);

	CHECK_RC(lwp_send(collector, SUP_PID, &sup, sizeof(sup)), 0);
	lwp_msg_free(RECV_TAG(GO));
	lwp_exit_text((int)(intptr_t)arg, "parent");
}

static void parent_exit(void *arg)
{
	const int codes[] = { 7, LWP_EXIT_NORMAL };

	(void)arg;
	begin();
	make_kids(&K, 3, LWP_PERMANENT);
	for (size_t c = 0; c < ARRAY_SIZE(codes); c++) {
		lwp_pid parent = lwp_spawn(parent_then_exits,
					   (void *)(intptr_t)codes[c]);
		lwp_msg *m;
		lwp_pid sup;
		lwp_ref ref;

		REQUIRE(parent > 0, "spawn");
		/* the parent's UPs come to us, the collector */
		for (int i = 0; i < 3; i++)
			(void)up_of(i);
		m = RECV_TAG(SUP_PID);
		memcpy(&sup, m->data, sizeof(sup));
		lwp_msg_free(m);
		ref = lwp_monitor(sup);
		CHECK_RC(lwp_send(parent, GO, NULL, 0), 0);
		for (int i = 2; i >= 0; i--)
			CHECK_RC(next_idx(DIED), i);
		m = RECV_TAG(LWP_TAG_DOWN);
		CHECK(lwp_exit_info_of(m)->ref == ref &&
			      lwp_exit_info_of(m)->reason.code == codes[c],
		      "supervisor ended with %d, want %d",
		      lwp_exit_info_of(m)->reason.code, codes[c]);
		lwp_msg_free(m);
	}
	no_more_news();
}

Test(supervisor, parent_exit_shuts_it_down_with_that_reason)
{
	t_watchdog(30, "parent_exit");
	SUP_RUN(NULL, parent_exit);
}

/* Exit signals from strangers: an abnormal one ends it in order, a
 * normal one does nothing (as for a process that does not trap exits). */
static void stranger(void *arg)
{
	lwp_pid sup = *(lwp_pid *)arg;

	CHECK_RC(lwp_link(sup), 0);
	lwp_msg_free(RECV_TAG(GO));
	lwp_exit(9);
}

static void normal_killer(void *arg)
{
	CHECK_RC(lwp_kill(*(lwp_pid *)arg, LWP_EXIT_NORMAL), 0);
}

static void strangers(void *arg)
{
	lwp_pid pids[2], sup, s;
	lwp_child_counts k;
	lwp_ref ref;

	(void)arg;
	begin();
	lwp_trap_exits(true);
	make_kids(&K, 2, LWP_PERMANENT);
	sup = start_kids(&K, 2, LWP_ONE_FOR_ONE, 1, SEC, pids);
	s = lwp_spawn_monitor(normal_killer, &sup, &ref);
	CHECK(down_of(ref) == LWP_EXIT_NORMAL, "the killer");
	CHECK_RC(lwp_supervisor_count_children(sup, &k), 0);
	CHECK(k.active == 2, "a normal exit signal from a stranger acted");
	s = lwp_spawn(stranger, &sup);
	ref = lwp_monitor(s);
	CHECK_RC(lwp_send(s, GO, NULL, 0), 0);
	CHECK(down_of(ref) == 9, "the stranger's exit");
	CHECK_RC(next_idx(DIED), 1);
	CHECK_RC(next_idx(DIED), 0);
	CHECK(exit_of(sup).code == 9, "the stranger's reason");

	/* lwp_kill(sup, shutdown), as a parent that only knows its pid */
	sup = start_kids(&K, 2, LWP_ONE_FOR_ONE, 1, SEC, pids);
	CHECK_RC(lwp_kill(sup, LWP_EXIT_SHUTDOWN), 0);
	CHECK_RC(next_idx(DIED), 1);
	CHECK_RC(next_idx(DIED), 0);
	CHECK(exit_of(sup).code == LWP_EXIT_SHUTDOWN, "shutdown");
	no_more_news();
}

Test(supervisor, exit_signals_from_other_processes)
{
	t_watchdog(30, "strangers");
	SUP_RUN(NULL, strangers);
}

/* ---- dynamic children ------------------------------------------------------- */

static void dynamic(void *arg)
{
	lwp_pid pids[1], sup, p, q;
	lwp_child_info info[MAX_KIDS];
	lwp_child_counts k;
	char id[16];
	lwp_child_spec extra;

	(void)arg;
	begin();
	make_kids(&K, 1, LWP_PERMANENT);
	sup = start_kids(&K, 1, LWP_ONE_FOR_ONE, 5, 10 * SEC, pids);
	extra = kid_spec(id, sizeof(id), 1, LWP_PERMANENT);
	p = lwp_supervisor_start_child(sup, &extra);
	CHECK(p > 0, "start_child: %s", lwp_strerror((int)p));
	CHECK(up_of(1) == p, "the new child's pid");
	CHECK_RC(lwp_supervisor_start_child(sup, &extra), LWP_EDUPCHILD);
	which(sup, info, 2);
	CHECK(strcmp(info[1].id, "kid1") == 0 && info[1].pid == p,
	      "added last");
	/* a dynamic child is restarted like the others */
	crash(p, 4);
	CHECK_RC(next_idx(DIED), 1);
	p = up_of(1);
	/* terminate keeps the spec; restart starts it again */
	CHECK_RC(lwp_supervisor_terminate_child(sup, "kid1"), 0);
	CHECK_RC(next_idx(DIED), 1);
	CHECK(!lwp_is_alive(p), "terminated but alive");
	CHECK_RC(lwp_supervisor_terminate_child(sup, "kid1"), 0);
	CHECK_RC(lwp_supervisor_start_child(sup, &extra), LWP_EDUPCHILD);
	which(sup, info, 2);
	CHECK(info[1].pid == LWP_NOPID, "terminated child has a pid");
	CHECK_RC(lwp_supervisor_count_children(sup, &k), 0);
	CHECK(k.specs == 2 && k.active == 1 && k.workers == 2 &&
		      k.supervisors == 0,
	      "counts %zu %zu %zu %zu", k.specs, k.active, k.workers,
	      k.supervisors);
	q = lwp_supervisor_restart_child(sup, "kid1");
	CHECK(q > 0 && q != p, "restart_child: %s", lwp_strerror((int)q));
	CHECK(up_of(1) == q, "restarted pid");
	CHECK_RC(lwp_supervisor_restart_child(sup, "kid1"), LWP_ECHILDRUNNING);
	CHECK_RC(lwp_supervisor_delete_child(sup, "kid1"), LWP_ECHILDRUNNING);
	CHECK_RC(lwp_supervisor_terminate_child(sup, "kid1"), 0);
	CHECK_RC(next_idx(DIED), 1);
	CHECK_RC(lwp_supervisor_delete_child(sup, "kid1"), 0);
	CHECK_RC(lwp_supervisor_delete_child(sup, "kid1"), LWP_ENOCHILD);
	CHECK_RC(lwp_supervisor_restart_child(sup, "kid1"), LWP_ENOCHILD);
	CHECK_RC(lwp_supervisor_terminate_child(sup, "kid1"), LWP_ENOCHILD);
	which(sup, info, 1);
	/* a temporary child's spec goes with its termination */
	extra = kid_spec(id, sizeof(id), 2, LWP_TEMPORARY);
	p = lwp_supervisor_start_child(sup, &extra);
	CHECK(up_of(2) == p, "temporary child");
	CHECK_RC(lwp_supervisor_terminate_child(sup, "kid2"), 0);
	CHECK_RC(next_idx(DIED), 2);
	which(sup, info, 1);
	/* which_children copies at most cap, and counts them all */
	CHECK_RC(lwp_supervisor_which_children(sup, NULL, 0), 1);
	CHECK_RC(lwp_supervisor_stop(sup), 0);
	CHECK_RC(next_idx(DIED), 0);
	no_more_news();
}

Test(supervisor, dynamic_children)
{
	t_watchdog(30, "dynamic");
	SUP_RUN(NULL, dynamic);
}

/* ---- nested supervisors ----------------------------------------------------- */

/* top: kid0, sub (kid1, kid2; intensity 1), kid3 */
static lwp_sup_spec sub_spec;

static void nested(void *arg)
{
	lwp_child_spec top[3];
	lwp_child_info info[MAX_KIDS];
	lwp_pid pids[4], sup, sub;
	lwp_child_counts k;
	lwp_sup_spec spec = {
		.strategy = LWP_ONE_FOR_ONE,
		.intensity = 5,
		.period_ns = 10 * SEC,
		.children = top,
		.nchildren = 3,
	};

	(void)arg;
	begin();
	make_kids(&K, 4, LWP_PERMANENT);
	sub_spec = (lwp_sup_spec){
		.strategy = LWP_ONE_FOR_ALL,
		.intensity = 1,
		.period_ns = 60 * SEC,
		.children = &K.v[1],
		.nchildren = 2,
	};
	top[0] = K.v[0];
	top[1] = (lwp_child_spec){ .id = "sub",
				   .fn = lwp_supervisor_main,
				   .arg = &sub_spec,
				   .restart = LWP_PERMANENT,
				   .shutdown_ns = LWP_INFINITY };
	top[2] = K.v[3];
	sup = lwp_supervisor_start_link(&spec);
	REQUIRE(sup > 0, "start_link: %s", lwp_strerror((int)sup));
	which(sup, info, 3);
	sub = info[1].pid;
	CHECK(info[1].supervisor && !info[0].supervisor, "types");
	/* started synchronously: the sub's children exist already */
	CHECK_RC(lwp_supervisor_count_children(sub, &k), 0);
	CHECK(k.active == 2, "sub has %zu running", k.active);
	CHECK_RC(lwp_supervisor_count_children(sup, &k), 0);
	CHECK(k.supervisors == 1 && k.workers == 2, "top counts");
	for (int i = 0; i < 4; i++)
		pids[i] = up_of(i);
	/* the sub restarts its own (one_for_all: both) */
	crash(pids[2], 1);
	CHECK_RC(next_idx(DIED), 2);
	CHECK_RC(next_idx(DIED), 1);
	pids[1] = up_of(1);
	pids[2] = up_of(2);
	which(sup, info, 3);
	CHECK(info[1].pid == sub, "the top restarted the sub");
	/* the sub gives up; the top restarts it, with new children */
	crash(pids[1], 1);
	CHECK_RC(next_idx(DIED), 1);
	CHECK_RC(next_idx(DIED), 2);
	pids[1] = up_of(1);
	pids[2] = up_of(2);
	which(sup, info, 3);
	CHECK(info[1].pid != sub && info[1].pid > 0, "sub restarted");
	CHECK(!lwp_is_alive(sub), "the old sub lives");
	CHECK(lwp_is_alive(pids[0]) && lwp_is_alive(pids[3]), "the others");
	/* orderly: kid3, then the sub's (kid2, kid1), then kid0 */
	CHECK_RC(lwp_supervisor_stop(sup), 0);
	CHECK_RC(next_idx(DIED), 3);
	CHECK_RC(next_idx(DIED), 2);
	CHECK_RC(next_idx(DIED), 1);
	CHECK_RC(next_idx(DIED), 0);
	no_more_news();
}

Test(supervisor, nested_supervisors)
{
	t_watchdog(30, "nested");
	SUP_RUN(NULL, nested);
}

/* ---- bad input ---------------------------------------------------------------- */

static void idle(void *arg)
{
	(void)arg;
	lwp_msg_free(RECV_TAG(GO));
}

/* Every call of the API on sup must give err. */
static void calls_fail(lwp_pid sup, int err)
{
	lwp_child_info info[2];
	lwp_child_counts k;
	char id[16];
	lwp_child_spec c = kid_spec(id, sizeof(id), 0, LWP_PERMANENT);

	CHECK_RC(lwp_supervisor_stop(sup), err);
	CHECK_RC(lwp_supervisor_start_child(sup, &c), err);
	CHECK_RC(lwp_supervisor_terminate_child(sup, "kid0"), err);
	CHECK_RC(lwp_supervisor_restart_child(sup, "kid0"), err);
	CHECK_RC(lwp_supervisor_delete_child(sup, "kid0"), err);
	CHECK_RC(lwp_supervisor_which_children(sup, info, 2), err);
	CHECK_RC(lwp_supervisor_count_children(sup, &k), err);
}

/* Spoil spec (child c[0]) the i-th way and return the error it must give;
 * 1 past the last. */
static int spoil(int i, lwp_sup_spec *s, lwp_child_spec *c, const char *l)
{
	switch (i) {
	case 0:
		s->strategy = (lwp_sup_strategy)3;
		return LWP_EINVAL;
	case 1:
		s->strategy = (lwp_sup_strategy)-1;
		return LWP_EINVAL;
	case 2:
		s->intensity = LWP_SUP_INTENSITY_MAX + 1;
		s->period_ns = SEC;
		return LWP_EINVAL;
	case 3:
		s->intensity = 5;
		return LWP_EINVAL; /* period 0 */
	case 4:
		s->period_ns = -SEC;
		return LWP_EINVAL;
	case 5:
		s->period_ns = LWP_SUP_PERIOD_MAX + 1;
		return LWP_EINVAL;
	case 6:
		s->children = NULL;
		return LWP_EINVAL;
	case 7:
		c->fn = NULL;
		return LWP_EINVAL;
	case 8:
		c->id = NULL;
		return LWP_ENAME;
	case 9:
		c->id = "";
		return LWP_ENAME;
	case 10:
		c->id = l;
		return LWP_ENAME;
	case 11:
		c->restart = (lwp_restart)3;
		return LWP_EINVAL;
	case 12:
		c->shutdown_ns = -5;
		return LWP_EINVAL;
	case 13:
		c->opts.stack_size = 1;
		return LWP_EINVAL;
	case 14:
		c->opts.scheduler = LWP_ON_SCHEDULER(999);
		return LWP_EINVAL;
	case 15:
		c->fn = lwp_supervisor_main;
		return LWP_EINVAL; /* arg NULL */
	case 16:
		s->nchildren = 2;
		c[1] = c[0];
		return LWP_EDUPCHILD;
	}
	return 1;
}

static void bad_specs(void *arg)
{
	char long_id[LWP_NAME_MAX + 2];
	int err;

	(void)arg;
	begin();
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = 0;
	CHECK_RC(lwp_supervisor_start_link(NULL), LWP_EINVAL);
	CHECK_RC(lwp_supervisor_run(NULL), LWP_EINVAL);
	for (int i = 0;; i++) {
		lwp_child_spec c[2];
		char id[16];
		lwp_sup_spec spec = { .children = c, .nchildren = 1 };
		c[0] = kid_spec(id, sizeof(id), 0, LWP_PERMANENT);
		err = spoil(i, &spec, c, long_id);
		if (err > 0)
			break;
		CHECK_RC(lwp_supervisor_start_link(&spec), err);
		CHECK_RC(lwp_supervisor_run(&spec), err);
		if (spec.nchildren == 1 && err != LWP_EDUPCHILD) {
			/* the same child spec, added at run time */
			lwp_pid sup = start_sup(&K, 0, LWP_ONE_FOR_ONE, 1, SEC);
			if (i >= 7)
				CHECK_RC(lwp_supervisor_start_child(sup, c),
					 err);
			CHECK_RC(lwp_supervisor_stop(sup), 0);
		}
	}
	CHECK(lwp_trap_exits(false) == 0, "run left exits trapped");
	no_more_news();
}

Test(supervisor, bad_specs)
{
	t_watchdog(30, "bad_specs");
	SUP_RUN(NULL, bad_specs);
}

static void bad_calls(void *arg)
{
	lwp_pid pids[1], sup, plain, dead;
	lwp_child_info info[1];

	(void)arg;
	begin();
	make_kids(&K, 1, LWP_PERMANENT);
	sup = start_kids(&K, 1, LWP_ONE_FOR_ONE, 1, SEC, pids);
	plain = lwp_spawn(idle, NULL);
	dead = start_sup(&K, 0, LWP_ONE_FOR_ONE, 1, SEC);
	CHECK_RC(lwp_supervisor_stop(dead), 0);
	calls_fail(dead, LWP_ENOPROC);
	calls_fail(plain, LWP_ENOTSUP);
	calls_fail(lwp_self(), LWP_EINVAL);
	calls_fail(pids[0], LWP_ENOTSUP); /* a child is no supervisor */
	calls_fail(0, LWP_EBADPID);
	calls_fail(-7, LWP_EBADPID);
	CHECK_RC(lwp_supervisor_terminate_child(sup, NULL), LWP_ENAME);
	CHECK_RC(lwp_supervisor_restart_child(sup, ""), LWP_ENAME);
	CHECK_RC(lwp_supervisor_delete_child(sup, "no such kid"), LWP_ENOCHILD);
	CHECK_RC(lwp_supervisor_start_child(sup, NULL), LWP_EINVAL);
	CHECK_RC(lwp_supervisor_which_children(sup, NULL, 1), LWP_EINVAL);
	CHECK_RC(lwp_supervisor_count_children(sup, NULL), LWP_EINVAL);
	CHECK_RC(lwp_supervisor_which_children(sup, info, 1), 1);
	CHECK(info[0].pid == pids[0], "the child survived the bad calls");
	CHECK_RC(lwp_send(plain, GO, NULL, 0), 0);
	CHECK_RC(lwp_supervisor_stop(sup), 0);
	CHECK_RC(next_idx(DIED), 0);
	no_more_news();
}

Test(supervisor, bad_calls)
{
	t_watchdog(30, "bad_calls");
	SUP_RUN(NULL, bad_calls);
}

static void *foreign(void *arg)
{
	calls_fail(*(lwp_pid *)arg, LWP_ENOTPROC);
	CHECK_RC(lwp_supervisor_run(&(lwp_sup_spec){ 0 }), LWP_ENOTPROC);
	CHECK_RC(lwp_supervisor_start_link(&(lwp_sup_spec){ 0 }), LWP_ENOTPROC);
	return NULL;
}

static void from_a_thread(void *arg)
{
	lwp_pid sup;
	pthread_t t;

	(void)arg;
	begin();
	sup = start_sup(&K, 0, LWP_ONE_FOR_ONE, 1, SEC);
	REQUIRE(pthread_create(&t, NULL, foreign, &sup) == 0, "thread");
	/* joined from a process: ok, the thread makes no lwp call that
	 * waits for this one */
	pthread_join(t, NULL);
	CHECK_RC(lwp_supervisor_stop(sup), 0);
}

Test(supervisor, calls_outside_a_process)
{
	lwp_pid nobody = 1;

	t_watchdog(30, "from_a_thread");
	/* before the runtime runs */
	calls_fail(nobody, LWP_ENOTPROC);
	cr_assert_eq(lwp_supervisor_run(&(lwp_sup_spec){ 0 }), LWP_ENOTPROC);
	cr_assert_eq(lwp_supervisor_start_link(&(lwp_sup_spec){ 0 }),
		     LWP_ENOTPROC);
	T_CHECKED();
	/* from a foreign thread while it runs */
	SUP_RUN(NULL, from_a_thread);
}

Test(supervisor, error_codes_have_names)
{
	const int codes[] = { LWP_ENOTSUP, LWP_ENOCHILD, LWP_EDUPCHILD,
			      LWP_ECHILDRUNNING };

	for (size_t i = 0; i < ARRAY_SIZE(codes); i++)
		cr_assert_str_neq(lwp_strerror(codes[i]), lwp_strerror(-1000));
}

/* ---- failing starts ------------------------------------------------------------- */

/* A start that cannot spawn its third child (the process limit) fails
 * cleanly: the two started are terminated (last first), the caller gets
 * the error and no exit signal, and nothing is left. */
static void start_fails(void *arg)
{
	lwp_msg *m;
	int64_t end;

	(void)arg;
	begin();
	lwp_trap_exits(true);
	make_kids(&K, 3, LWP_PERMANENT);
	CHECK_RC(lwp_supervisor_start_link(
			 &(lwp_sup_spec){ .children = K.v, .nchildren = 3 }),
		 LWP_ELIMIT);
	(void)up_of(0);
	(void)up_of(1);
	CHECK_RC(next_idx(DIED), 1);
	CHECK_RC(next_idx(DIED), 0);
	end = lwp_now() + T_WAIT;
	while (lwp_process_count() > 1) {
		REQUIRE(lwp_now() < end, "the failed supervisor lingers");
		lwp_sleep(100000);
	}
	m = lwp_receive_tag(LWP_TAG_EXIT, 0);
	CHECK(m == NULL, "an exit signal from a supervisor that failed");
	lwp_msg_free(m);
	/* and in the calling process (one process fewer): the error, exits
	 * trapped or not as before */
	lwp_trap_exits(false);
	make_kids(&K, 4, LWP_PERMANENT);
	CHECK_RC(lwp_supervisor_run(
			 &(lwp_sup_spec){ .children = K.v, .nchildren = 4 }),
		 LWP_ELIMIT);
	for (int i = 0; i < 3; i++)
		(void)up_of(i);
	CHECK_RC(next_idx(DIED), 2);
	CHECK_RC(next_idx(DIED), 1);
	CHECK_RC(next_idx(DIED), 0);
	CHECK_RC(lwp_trap_exits(false), 0);
	no_more_news();
}

Test(supervisor, a_start_that_cannot_spawn_fails_cleanly)
{
	/* This process, the supervisor, two kids.  The supervisor ends its
	 * kids at once, maybe before they ran: a kid with the exit signal
	 * pending dies at its first safe point.  Without preemption that is
	 * the receive after its UP (and its handler's DIED); with it, a
	 * preemption on the way (slow code under qemu) ended kids before
	 * their UP, and up_of() waited for nothing. */
	lwp_config cfg = { .max_procs = 4, .timeslice_ns = LWP_INFINITY };

	t_watchdog(30, "start_fails");
	SUP_RUN(&cfg, start_fails);
}

/* A restart that cannot start is retried, and each retry counts: a child
 * supervisor whose spec has turned bad fails every time, until its
 * parent reaches its intensity and gives up. */
static void retries(void *arg)
{
	lwp_child_spec top[1] = { {
		.id = "sub",
		.fn = lwp_supervisor_main,
		.arg = &sub_spec,
		.restart = LWP_PERMANENT,
		.shutdown_ns = LWP_INFINITY,
	} };
	lwp_child_info info[1];
	lwp_pid sup;
	lwp_ref ref;
	lwp_reason r;

	(void)arg;
	begin();
	lwp_trap_exits(true);
	make_kids(&K, 1, LWP_PERMANENT);
	sub_spec = (lwp_sup_spec){ .children = K.v, .nchildren = 1 };
	sup = lwp_supervisor_start_link(&(lwp_sup_spec){ .intensity = 3,
							 .period_ns = 60 * SEC,
							 .children = top,
							 .nchildren = 1 });
	REQUIRE(sup > 0, "start_link: %s", lwp_strerror((int)sup));
	(void)up_of(0);
	which(sup, info, 1);
	/* ordered before the restart by the messages between */
	sub_spec.strategy = (lwp_sup_strategy)42;
	ref = lwp_monitor(info[0].pid);
	CHECK_RC(lwp_kill(info[0].pid, 3), 0);
	CHECK(down_of(ref) == 3, "the sub's reason");
	CHECK_RC(next_idx(DIED), 0);
	r = exit_of(sup);
	CHECK(r.code == LWP_EXIT_SHUTDOWN &&
		      strcmp(r.text, "reached_max_restart_intensity") == 0,
	      "reason %d %s", r.code, r.text);
	no_more_news();
}

Test(supervisor, failed_restarts_are_retried_and_counted)
{
	t_watchdog(30, "retries");
	SUP_RUN(NULL, retries);
}

/* ---- crash storm ------------------------------------------------------------------ */

/*
 * Hundreds of kids on two schedulers crash at random (seeded; LWP_SEED
 * replays) for many rounds under one_for_one: by message with random
 * reasons, or killed outright.  Some rounds also crash a kid and
 * terminate it at once through the supervisor, then restart it.  Checks:
 * every crash is followed by exactly one restart (one UP, a new pid); a
 * kid the supervisor terminated is not started again until restart_child
 * (at most the one restart of a crash that came first, which the
 * termination then ends); at the end every kid runs under the pid it last
 * reported, and no UP is left over.
 */
#define STORM_KIDS   200
#define STORM_ROUNDS (3000 / T_SLOW)
#define STORM_BURST  16

static uint64_t storm_seed;
static long storm_restarts;

/* The DIEDs so far: the storm does not look at them. */
static void drop_died(void)
{
	lwp_msg *m;

	while ((m = lwp_receive_tag(DIED, 0)))
		lwp_msg_free(m);
}

static void storm_round(lwp_pid sup, lwp_pid *pids, uint64_t *rng)
{
	static const int codes[] = { 1, 2, LWP_EXIT_SHUTDOWN, LWP_EXIT_NORMAL };
	bool victim[STORM_KIDS] = { false };
	int nv = 1 + (int)(t_rand(rng) % STORM_BURST), waiting = 0;
	int t = -1, t_extra = 0;
	lwp_pid t_final = 0;

	for (int i = 0; i < nv; i++) {
		int v = (int)(t_rand(rng) % STORM_KIDS);
		if (victim[v])
			continue;
		victim[v] = true;
		waiting++;
		if (t_rand(rng) % 4 == 0)
			CHECK_RC(lwp_kill(pids[v], LWP_EXIT_KILL), 0);
		else
			crash(pids[v], codes[t_rand(rng) % ARRAY_SIZE(codes)]);
	}
	if (t_rand(rng) % 4 == 0) {
		char id[16];
		t = (int)(t_rand(rng) % STORM_KIDS);
		if (victim[t]) {
			t = -1;
		} else {
			snprintf(id, sizeof(id), "kid%d", t);
			if (t_rand(rng) % 2)
				crash(pids[t], 1);
			CHECK_RC(lwp_supervisor_terminate_child(sup, id), 0);
			CHECK(!lwp_is_alive(pids[t]), "terminated kid %d", t);
			t_final = lwp_supervisor_restart_child(sup, id);
			CHECK(t_final > 0, "restart_child: %s",
			      lwp_strerror((int)t_final));
			waiting++;
		}
	}
	while (waiting) {
		lwp_msg *m = RECV_TAG(UP);
		int idx;
		memcpy(&idx, m->data, sizeof(idx));
		storm_restarts++;
		if (idx == t && m->from == t_final) {
			pids[idx] = m->from;
			waiting--;
		} else if (idx == t) {
			/* the crash's restart, before the termination */
			CHECK(t_extra++ == 0 && !lwp_is_alive(m->from),
			      "kid %d restarted after its termination (seed "
			      "%" PRIu64 ")",
			      idx, storm_seed);
		} else {
			CHECK(idx >= 0 && idx < STORM_KIDS && victim[idx],
			      "kid %d restarted, never crashed (seed %" PRIu64
			      ")",
			      idx, storm_seed);
			CHECK(m->from != pids[idx], "an old pid");
			victim[idx] = false;
			pids[idx] = m->from;
			waiting--;
		}
		lwp_msg_free(m);
	}
	drop_died();
}

static void storm(void *arg)
{
	static lwp_child_info info[STORM_KIDS];
	lwp_pid pids[STORM_KIDS], sup;
	uint64_t rng = storm_seed;

	(void)arg;
	begin();
	make_kids(&K, STORM_KIDS, LWP_PERMANENT);
	sup = start_kids(&K, STORM_KIDS, LWP_ONE_FOR_ONE, LWP_SUP_INTENSITY_MAX,
			 60 * SEC, pids);
	for (int r = 0; r < STORM_ROUNDS; r++)
		storm_round(sup, pids, &rng);
	which(sup, info, STORM_KIDS);
	for (int i = 0; i < STORM_KIDS; i++)
		CHECK(info[i].pid == pids[i] && lwp_is_alive(pids[i]),
		      "kid %d is not the one that reported (seed %" PRIu64 ")",
		      i, storm_seed);
	{
		lwp_msg *m = lwp_receive_tag(UP, 0);
		CHECK(m == NULL, "an UP too many (seed %" PRIu64 ")",
		      storm_seed);
		lwp_msg_free(m);
	}
	fprintf(stderr, "crash_storm: %ld restarts in %d rounds\n",
		storm_restarts, STORM_ROUNDS);
	CHECK_RC(lwp_supervisor_stop(sup), 0);
	for (int i = 0; i < STORM_KIDS; i++)
		CHECK(!lwp_is_alive(pids[i]), "kid %d outlived the stop", i);
	drop_died();
}

Test(supervisor, crash_storm)
{
	lwp_config cfg = { .schedulers = 2 };
	const char *env = getenv("LWP_SEED");

	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	storm_seed =
		env ? strtoull(env, NULL, 0) :
		      (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	storm_seed |= 1;
	fprintf(stderr, "crash_storm: seed %" PRIu64 "\n", storm_seed);
	t_watchdog(240, "crash_storm, seed %" PRIu64, storm_seed);
	SUP_RUN(&cfg, storm);
}
