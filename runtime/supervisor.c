/*
 * supervisor.c - Erlang/OTP supervisors (lwp.h, "Supervisors").
 *
 * A supervisor is an ordinary process that traps exits and runs `loop`
 * over a child table of its own (struct sup).  Only that process reads or
 * writes the table, so it needs no lock: everyone else reaches it by
 * message.  The table is built before the process runs (by the starter,
 * who hands it over with the spawn) or by the process itself
 * (lwp_supervisor_run), and freed by an on-exit handler, so that a
 * supervisor killed outright frees it too.
 *
 * Built on the public API except for two things that need the runtime:
 * spawning a child with options and a link (and a starter's monitor) in
 * one step (proc_spawn_tied), so that no child can end unlinked; and the
 * `supervisor` flag of the process block, which lets a call reject a
 * process that is not a supervisor instead of waiting for an answer that
 * never comes.
 *
 * Terminating a child follows OTP: monitor it, unlink it, send the exit
 * signal, wait for the DOWN.  Two steps keep a child the supervisor
 * ended from being restarted: after the unlink, its exit signal finds no
 * link and is dropped as it is drained, even one not yet sent (a child
 * that had died by itself just before, whose DOWN is then the monitor's
 * noproc, can still be on its way to telling its links); and an EXIT
 * drained before the unlink is removed once the DOWN is in.  Pids are
 * never reused, so no later EXIT can carry that pid.
 */
#include <stdlib.h>
#include <string.h>

#include "failure.h"
#include "proc.h"
#include "sched.h"
#include "stack.h"

/* The protocol's tags: LWP_TAG_SUP_FIRST .. LWP_TAG_MAX (lwp.h). */
enum {
	TAG_CALL = LWP_TAG_SUP_FIRST, /* a request: struct call */
	TAG_REPLY,		      /* its answer: struct reply + body */
	TAG_ACK,		      /* a new supervisor is up: an int */
	TAG_RETRY,		      /* to itself: start pending children */
};
_Static_assert(TAG_RETRY == LWP_TAG_MAX, "the protocol's tags");

enum op {
	OP_START_CHILD,
	OP_TERMINATE_CHILD,
	OP_RESTART_CHILD,
	OP_DELETE_CHILD,
	OP_WHICH_CHILDREN,
	OP_COUNT_CHILDREN,
	OP_STOP,
};

struct call {
	lwp_ref ref; /* the caller's monitor of the supervisor */
	enum op op;
	char id[LWP_NAME_MAX + 1];
	lwp_child_spec spec; /* OP_START_CHILD; its id is `id` */
};

struct reply {
	lwp_ref ref;
	int64_t result; /* a pid, a count or an LWP_E* code */
	/* then which_children's lwp_child_info, count_children's counts */
};

struct child {
	char id[LWP_NAME_MAX + 1];
	lwp_child_spec spec; /* spec.id unused: the table moves */
	lwp_pid pid;	     /* LWP_NOPID when not running */
	bool pending;	     /* to be started by start_pending */
};

struct sup {
	lwp_sup_strategy strategy;
	unsigned intensity;
	int64_t period_ns;
	lwp_pid parent; /* who started it, or LWP_NOPID */
	struct child *v;
	size_t n, cap;
	/* The times of the restarts within the last period_ns, oldest
	 * first, in a ring of `intensity` slots. */
	int64_t *restarts;
	unsigned first, nrestarts;
	bool retry_queued; /* a TAG_RETRY is on its way */
};

/* ---- specs --------------------------------------------------------------- */

static int check_id(const char *id)
{
	size_t len = id ? strnlen(id, LWP_NAME_MAX + 1) : 0;

	return len == 0 || len > LWP_NAME_MAX ? LWP_ENAME : 0;
}

static int check_child(const lwp_child_spec *c)
{
	int err = check_id(c->id);

	if (err)
		return err;
	if (!c->fn || (unsigned)c->restart > LWP_TEMPORARY ||
	    (c->shutdown_ns < 0 && c->shutdown_ns != LWP_INFINITY))
		return LWP_EINVAL;
	if (c->opts.stack_size && !stack_round(c->opts.stack_size))
		return LWP_EINVAL;
	if (c->opts.scheduler > lwp_scheduler_count())
		return LWP_EINVAL;
	if (c->fn == lwp_supervisor_main && !c->arg)
		return LWP_EINVAL;
	return 0;
}

static size_t find_id(const struct sup *s, const char *id)
{
	size_t i = 0;

	while (i < s->n && strcmp(s->v[i].id, id) != 0)
		i++;
	return i;
}

static size_t find_pid(const struct sup *s, lwp_pid pid)
{
	size_t i = 0;

	while (i < s->n && s->v[i].pid != pid)
		i++;
	return i;
}

/* Append a checked spec.  LWP_EDUPCHILD, LWP_ENOMEM. */
static int add_child(struct sup *s, const lwp_child_spec *c)
{
	struct child *x;

	if (find_id(s, c->id) < s->n)
		return LWP_EDUPCHILD;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		struct child *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return LWP_ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	x = &s->v[s->n++];
	*x = (struct child){ .spec = *c, .pid = LWP_NOPID };
	x->spec.id = NULL;
	strcpy(x->id, c->id); /* check_id measured it */
	return 0;
}

static void remove_child(struct sup *s, size_t i)
{
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(s->v[0]));
	s->n--;
}

static void sup_clear(struct sup *s)
{
	free(s->v);
	free(s->restarts);
	s->v = NULL;
	s->restarts = NULL;
	s->n = s->cap = 0;
}

static void sup_free(void *arg)
{
	sup_clear(arg);
	free(arg);
}

static int set_intensity(struct sup *s, const lwp_sup_spec *spec)
{
	s->intensity = spec->intensity;
	s->period_ns = spec->period_ns;
	if (!s->intensity && !s->period_ns) {
		s->intensity = LWP_SUP_INTENSITY_DEFAULT;
		s->period_ns = LWP_SUP_PERIOD_DEFAULT;
	}
	if (s->intensity > LWP_SUP_INTENSITY_MAX || s->period_ns < 1 ||
	    s->period_ns > LWP_SUP_PERIOD_MAX)
		return LWP_EINVAL;
	if (s->intensity) {
		s->restarts = calloc(s->intensity, sizeof(*s->restarts));
		if (!s->restarts)
			return LWP_ENOMEM;
	}
	return 0;
}

/* A supervisor's table from spec, checked and copied; NULL and *err on
 * failure. */
static struct sup *sup_new(const lwp_sup_spec *spec, int *err)
{
	struct sup *s;

	*err = LWP_EINVAL;
	if (!spec || (unsigned)spec->strategy > LWP_REST_FOR_ONE ||
	    (!spec->children && spec->nchildren))
		return NULL;
	s = calloc(1, sizeof(*s));
	*err = s ? 0 : LWP_ENOMEM;
	if (!s)
		return NULL;
	s->strategy = spec->strategy;
	*err = set_intensity(s, spec);
	for (size_t i = 0; !*err && i < spec->nchildren; i++) {
		*err = check_child(&spec->children[i]);
		if (!*err)
			*err = add_child(s, &spec->children[i]);
	}
	if (*err) {
		sup_free(s);
		return NULL;
	}
	return s;
}

/* ---- messages ------------------------------------------------------------- */

static bool match_exit_from(const lwp_msg *m, void *ctx)
{
	return m->tag == LWP_TAG_EXIT && m->from == *(const lwp_pid *)ctx;
}

static bool match_down(const lwp_msg *m, void *ctx)
{
	const lwp_exit_info *x = lwp_exit_info_of(m);

	return m->tag == LWP_TAG_DOWN && x->ref == *(const lwp_ref *)ctx;
}

/* The DOWN of monitor ref, within timeout_ns.  True if it came. */
static bool await_down(lwp_ref ref, int64_t timeout_ns)
{
	lwp_msg *m = lwp_receive(match_down, &ref, timeout_ns);

	lwp_msg_free(m);
	return m != NULL;
}

/* Remove pid's EXIT message if one was queued before its link went. */
static void drop_exit(lwp_pid pid)
{
	lwp_msg_free(lwp_receive(match_exit_from, &pid, 0));
}

/* ---- starting and terminating ------------------------------------------ */

static void sup_entry(void *arg);

struct start_wait {
	lwp_pid pid;
	lwp_ref ref;
};

static bool match_start(const lwp_msg *m, void *ctx)
{
	const struct start_wait *w = ctx;

	return (m->tag == TAG_ACK && m->from == w->pid) ||
	       match_down(m, (void *)&w->ref);
}

/*
 * Start the supervisor of spec linked to the caller and wait until it has
 * started its children (its TAG_ACK) or died (the DOWN of the monitor it
 * was born with).  A supervisor that cannot start unlinks the caller
 * before it answers, so the caller gets no exit signal for it.
 */
static lwp_pid start_linked(const lwp_sup_spec *spec,
			    const lwp_spawn_opts *opts)
{
	struct spawn_ties t = { .link = true, .monitor = failure_ref() };
	struct start_wait w = { .ref = t.monitor };
	int err;
	struct sup *s = sup_new(spec, &err);
	lwp_msg *m;

	if (!s)
		return err;
	s->parent = lwp_self();
	w.pid = proc_spawn_tied(sup_entry, s, opts, &t);
	if (w.pid < 0) {
		sup_free(s);
		return w.pid;
	}
	m = lwp_receive(match_start, &w, LWP_INFINITY);
	if (m->tag == TAG_ACK) {
		memcpy(&err, m->data, sizeof(err));
		lwp_msg_free(m);
		(void)lwp_demonitor(w.ref, LWP_DEMONITOR_FLUSH);
		return err ? err : w.pid;
	}
	/* Died before it was up: killed. */
	lwp_msg_free(m);
	drop_exit(w.pid);
	return LWP_ENOPROC;
}

static lwp_pid spawn_child(const struct child *c)
{
	struct spawn_ties t = { .link = true };

	if (c->spec.fn == lwp_supervisor_main)
		return start_linked(c->spec.arg, &c->spec.opts);
	return proc_spawn_tied(c->spec.fn, c->spec.arg, &c->spec.opts, &t);
}

/* Stop c as OTP's shutdown does (see the top of the file); returns once it
 * has ended. */
static void terminate(struct child *c)
{
	lwp_pid pid = c->pid;
	lwp_ref ref;

	c->pid = LWP_NOPID;
	c->pending = false;
	if (!pid)
		return;
	ref = lwp_monitor(pid);
	(void)lwp_unlink(pid);
	if (ref < 0) {
		/* Out of memory for the monitor: end it and watch the pid
		 * (the kill cannot be trapped, so this ends). */
		(void)lwp_kill(pid, LWP_EXIT_KILL);
		while (lwp_is_alive(pid))
			(void)lwp_sleep(10000);
	} else if (c->spec.shutdown_ns == 0 ||
		   lwp_kill(pid, LWP_EXIT_SHUTDOWN) != 0 ||
		   !await_down(ref, c->spec.shutdown_ns)) {
		(void)lwp_kill(pid, LWP_EXIT_KILL);
		(void)await_down(ref, LWP_INFINITY);
	}
	drop_exit(pid);
}

/* Terminate the running children from the last down to index from; the
 * temporary ones are removed, the others marked to start again. */
static void terminate_from(struct sup *s, size_t from, bool mark)
{
	for (size_t i = s->n; i-- > from;) {
		struct child *c = &s->v[i];
		if (!c->pid)
			continue;
		terminate(c);
		if (c->spec.restart == LWP_TEMPORARY)
			remove_child(s, i);
		else
			c->pending = mark;
	}
}

/* Ask ourselves to retry the pending children after the messages queued
 * now, as OTP's try_again_restart. */
static void queue_retry(struct sup *s)
{
	if (!s->retry_queued && lwp_send(lwp_self(), TAG_RETRY, NULL, 0) == 0)
		s->retry_queued = true;
}

/* Start the pending children in order; at the first that fails, queue a
 * retry for it and those after it. */
static void start_pending(struct sup *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct child *c = &s->v[i];
		lwp_pid pid;

		if (!c->pending)
			continue;
		pid = spawn_child(c);
		if (pid < 0) {
			queue_retry(s);
			return;
		}
		c->pid = pid;
		c->pending = false;
	}
}

/* End the supervisor in order: its children in reverse, then itself.  Its
 * on-exit handler frees the table. */
static _Noreturn void shut_down(struct sup *s, int code, const char *text)
{
	terminate_from(s, 0, false);
	lwp_exit_text(code, text);
	abort(); /* lwp_exit_text returns only for LWP_EXIT_KILL */
}

/* Record a restart now, or give up if it is one too many. */
static void count_restart(struct sup *s)
{
	int64_t now = lwp_now();

	while (s->nrestarts && now - s->restarts[s->first] >= s->period_ns) {
		s->first = (s->first + 1) % s->intensity;
		s->nrestarts--;
	}
	if (s->nrestarts == s->intensity)
		shut_down(s, LWP_EXIT_SHUTDOWN,
			  "reached_max_restart_intensity");
	s->restarts[(s->first + s->nrestarts) % s->intensity] = now;
	s->nrestarts++;
}

static bool wants_restart(lwp_restart restart, int code)
{
	switch (restart) {
	case LWP_PERMANENT:
		return true;
	case LWP_TRANSIENT:
		return code != LWP_EXIT_NORMAL && code != LWP_EXIT_SHUTDOWN;
	default:
		return false;
	}
}

static void child_exited(struct sup *s, size_t i, int code)
{
	struct child *c = &s->v[i];

	c->pid = LWP_NOPID;
	if (!wants_restart(c->spec.restart, code)) {
		if (c->spec.restart == LWP_TEMPORARY)
			remove_child(s, i);
		return;
	}
	count_restart(s);
	c->pending = true;
	if (s->strategy == LWP_ONE_FOR_ALL)
		terminate_from(s, 0, true);
	else if (s->strategy == LWP_REST_FOR_ONE)
		terminate_from(s, i + 1, true);
	start_pending(s);
}

static void exit_message(struct sup *s, lwp_msg *m)
{
	lwp_reason r = lwp_exit_info_of(m)->reason;
	lwp_pid from = m->from; /* LWP_NOPID: lwp_kill from a thread */
	size_t i = from ? find_pid(s, from) : s->n;

	lwp_msg_free(m);
	if (from && from == s->parent)
		shut_down(s, r.code, r.text);
	if (i < s->n)
		child_exited(s, i, r.code);
	else if (r.code != LWP_EXIT_NORMAL)
		shut_down(s, r.code, r.text);
}

/* ---- calls: the supervisor's side --------------------------------------- */

/* Answer call c from `to` with result and body[0..size). */
static void reply(lwp_pid to, const struct call *c, int64_t result,
		  const void *body, size_t size)
{
	lwp_msg *m = lwp_msg_alloc(sizeof(struct reply) + size);
	struct reply r = { .ref = c->ref, .result = result };

	if (!m) {
		/* The caller waits for an answer: at least the error. */
		r.result = LWP_ENOMEM;
		(void)lwp_send(to, TAG_REPLY, &r, sizeof(r));
		return;
	}
	memcpy(m->data, &r, sizeof(r));
	if (size)
		memcpy(m->data + sizeof(r), body, size);
	if (lwp_send_msg(to, TAG_REPLY, m) != 0)
		lwp_msg_free(m);
}

static int64_t do_start_child(struct sup *s, struct call *c)
{
	lwp_pid pid;
	int err;

	c->spec.id = c->id;
	err = add_child(s, &c->spec);
	if (err)
		return err;
	pid = spawn_child(&s->v[s->n - 1]);
	if (pid < 0)
		s->n--;
	else
		s->v[s->n - 1].pid = pid;
	return pid;
}

static int64_t do_by_id(struct sup *s, const struct call *c)
{
	size_t i = find_id(s, c->id);
	struct child *x;
	lwp_pid pid;

	if (i == s->n)
		return LWP_ENOCHILD;
	x = &s->v[i];
	if (c->op == OP_TERMINATE_CHILD) {
		terminate(x);
		if (x->spec.restart == LWP_TEMPORARY)
			remove_child(s, i);
		return 0;
	}
	if (x->pid)
		return LWP_ECHILDRUNNING;
	if (c->op == OP_DELETE_CHILD) {
		remove_child(s, i);
		return 0;
	}
	pid = spawn_child(x);
	if (pid > 0) {
		x->pid = pid;
		x->pending = false;
	}
	return pid;
}

static void which_children(struct sup *s, lwp_pid from, const struct call *c)
{
	lwp_child_info *v = calloc(s->n ? s->n : 1, sizeof(*v));

	if (!v) {
		reply(from, c, LWP_ENOMEM, NULL, 0);
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		memcpy(v[i].id, s->v[i].id, sizeof(v[i].id));
		v[i].pid = s->v[i].pid;
		v[i].restart = s->v[i].spec.restart;
		v[i].supervisor = s->v[i].spec.fn == lwp_supervisor_main;
	}
	reply(from, c, (int64_t)s->n, v, s->n * sizeof(*v));
	free(v);
}

static void count_children(struct sup *s, lwp_pid from, const struct call *c)
{
	lwp_child_counts k = { .specs = s->n };

	for (size_t i = 0; i < s->n; i++) {
		k.active += s->v[i].pid != LWP_NOPID;
		k.supervisors += s->v[i].spec.fn == lwp_supervisor_main;
	}
	k.workers = k.specs - k.supervisors;
	reply(from, c, 0, &k, sizeof(k));
}

/* Take the request out of m (freed); false if m is not one. */
static bool take_call(lwp_msg *m, struct call *c, lwp_pid *from)
{
	bool ok = m->size == sizeof(*c);

	if (ok)
		memcpy(c, m->data, sizeof(*c));
	*from = m->from;
	lwp_msg_free(m);
	return ok;
}

static void call_message(struct sup *s, lwp_msg *m)
{
	struct call c;
	lwp_pid from;

	if (!take_call(m, &c, &from))
		return;
	switch (c.op) {
	case OP_START_CHILD:
		reply(from, &c, do_start_child(s, &c), NULL, 0);
		break;
	case OP_TERMINATE_CHILD:
	case OP_RESTART_CHILD:
	case OP_DELETE_CHILD:
		reply(from, &c, do_by_id(s, &c), NULL, 0);
		break;
	case OP_WHICH_CHILDREN:
		which_children(s, from, &c);
		break;
	case OP_COUNT_CHILDREN:
		count_children(s, from, &c);
		break;
	case OP_STOP:
		/* No reply: the caller's DOWN, normal, is the answer. */
		shut_down(s, LWP_EXIT_NORMAL, NULL);
	}
}

/* The retry start_pending queued: another restart, if any child still
 * waits for one (a terminate_child or delete_child may have come first). */
static void retry(struct sup *s)
{
	size_t i = 0;

	s->retry_queued = false;
	while (i < s->n && !s->v[i].pending)
		i++;
	if (i == s->n)
		return;
	count_restart(s);
	start_pending(s);
}

static _Noreturn void loop(struct sup *s)
{
	for (;;) {
		lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);

		switch (m->tag) {
		case LWP_TAG_EXIT:
			exit_message(s, m);
			break;
		case TAG_CALL:
			call_message(s, m);
			break;
		case TAG_RETRY:
			lwp_msg_free(m);
			retry(s);
			break;
		default: /* not for a supervisor */
			lwp_msg_free(m);
		}
	}
}

/* ---- becoming a supervisor ------------------------------------------------ */

static bool match_call(const lwp_msg *m, void *ctx)
{
	(void)ctx;
	return m->tag == TAG_CALL;
}

/* Tell the starter, if any, how the start went.  A supervisor that could
 * not start unlinks it first, so that it gets no exit signal. */
static void tell_starter(struct sup *s, int err)
{
	if (!s->parent)
		return;
	if (err)
		(void)lwp_unlink(s->parent);
	(void)lwp_send(s->parent, TAG_ACK, &err, sizeof(err));
}

/* A failed start: undo it, answer the calls that came meanwhile, tell the
 * starter, and leave the (emptied) table to the on-exit handler. */
static int fail_start(struct sup *s, struct proc *p, bool trapped, int err)
{
	lwp_msg *m;

	terminate_from(s, 0, false);
	atomic_store_explicit(&p->supervisor, false, memory_order_relaxed);
	while ((m = lwp_receive(match_call, NULL, 0))) {
		struct call c;
		lwp_pid from;
		if (take_call(m, &c, &from))
			reply(from, &c, LWP_ENOTSUP, NULL, 0);
	}
	(void)lwp_trap_exits(trapped);
	tell_starter(s, err);
	sup_clear(s);
	return err;
}

/* Become the supervisor s (built by sup_new, owned from now on).  Returns
 * only if it could not start. */
static int run(struct sup *s)
{
	struct proc *p = sched_current();
	int err = lwp_on_exit(sup_free, s);
	bool trapped;

	if (err) {
		tell_starter(s, err);
		sup_free(s);
		return err;
	}
	trapped = lwp_trap_exits(true);
	/* Relaxed: set before anyone is told the pid by a message from here
	 * (the ACK), whose send orders it for all who learn the pid later.
	 * A process that learns the pid otherwise may see it unset for a
	 * while: LWP_ENOTSUP, as documented. */
	atomic_store_explicit(&p->supervisor, true, memory_order_relaxed);
	for (size_t i = 0; i < s->n; i++) {
		lwp_pid pid = spawn_child(&s->v[i]);
		if (pid < 0)
			return fail_start(s, p, trapped, (int)pid);
		s->v[i].pid = pid;
	}
	tell_starter(s, 0);
	loop(s);
}

static void sup_entry(void *arg)
{
	(void)run(arg);
}

int lwp_supervisor_run(const lwp_sup_spec *spec)
{
	int err;
	struct sup *s;

	if (!sched_current())
		return LWP_ENOTPROC;
	s = sup_new(spec, &err);
	return s ? run(s) : err;
}

void lwp_supervisor_main(void *spec)
{
	int err = lwp_supervisor_run(spec);

	(void)lwp_exit_text(LWP_EXIT_SHUTDOWN,
			    err == LWP_EINVAL || err == LWP_ENAME ||
					    err == LWP_EDUPCHILD ?
				    "bad_spec" :
				    "failed_to_start_child");
}

lwp_pid lwp_supervisor_start_link(const lwp_sup_spec *spec)
{
	if (!sched_current())
		return LWP_ENOTPROC;
	return start_linked(spec, NULL);
}

/* ---- calls: the caller's side -------------------------------------------- */

/* Is sup a live supervisor? */
static int check_sup(lwp_pid sup)
{
	struct proc *p;
	int err = proc_lookup(sup, &p);

	if (err)
		return err;
	return atomic_load_explicit(&p->supervisor, memory_order_relaxed) ?
		       0 :
		       LWP_ENOTSUP;
}

static bool match_reply(const lwp_msg *m, void *ctx)
{
	struct reply r;

	if (m->tag != TAG_REPLY || m->size < sizeof(r))
		return match_down(m, ctx);
	memcpy(&r, m->data, sizeof(r));
	return r.ref == *(const lwp_ref *)ctx;
}

/*
 * Send c to sup and wait for the answer, as gen:call: under a monitor
 * whose ref tags the call.  Returns the reply (its result in *result), or
 * NULL with the error in *result; for OP_STOP, NULL with 0 once sup has
 * ended normally.
 */
static lwp_msg *call(lwp_pid sup, struct call *c, int64_t *result)
{
	lwp_pid self = lwp_self();
	lwp_msg *m;
	int err;

	if (self < 0)
		err = (int)self;
	else if (sup == self)
		err = LWP_EINVAL;
	else
		err = check_sup(sup);
	if (!err) {
		c->ref = lwp_monitor(sup);
		if (c->ref < 0)
			err = (int)c->ref;
	}
	if (!err) {
		err = lwp_send(sup, TAG_CALL, c, sizeof(*c));
		if (err)
			(void)lwp_demonitor(c->ref, LWP_DEMONITOR_FLUSH);
	}
	*result = err;
	if (err)
		return NULL;
	m = lwp_receive(match_reply, &c->ref, LWP_INFINITY);
	if (m->tag == LWP_TAG_DOWN) {
		bool stopped = c->op == OP_STOP &&
			       lwp_exit_info_of(m)->reason.code ==
				       LWP_EXIT_NORMAL;
		lwp_msg_free(m);
		*result = stopped ? 0 : LWP_ENOPROC;
		return NULL;
	}
	(void)lwp_demonitor(c->ref, LWP_DEMONITOR_FLUSH);
	memcpy(result, m->data + offsetof(struct reply, result),
	       sizeof(*result));
	return m;
}

/* A call whose answer is its result alone. */
static int64_t call_result(lwp_pid sup, struct call *c)
{
	int64_t result;

	lwp_msg_free(call(sup, c, &result));
	return result;
}

/* A call about the child with that id. */
static int64_t call_id(lwp_pid sup, enum op op, const char *id)
{
	struct call c = { .op = op };
	int err = check_id(id);

	if (err)
		return err;
	strcpy(c.id, id);
	return call_result(sup, &c);
}

int lwp_supervisor_stop(lwp_pid sup)
{
	struct call c = { .op = OP_STOP };

	return (int)call_result(sup, &c);
}

lwp_pid lwp_supervisor_start_child(lwp_pid sup, const lwp_child_spec *spec)
{
	struct call c = { .op = OP_START_CHILD };
	int err = spec ? check_child(spec) : LWP_EINVAL;

	if (err)
		return err;
	c.spec = *spec;
	c.spec.id = NULL; /* the supervisor points it at its copy */
	strcpy(c.id, spec->id);
	return call_result(sup, &c);
}

int lwp_supervisor_terminate_child(lwp_pid sup, const char *id)
{
	return (int)call_id(sup, OP_TERMINATE_CHILD, id);
}

lwp_pid lwp_supervisor_restart_child(lwp_pid sup, const char *id)
{
	return call_id(sup, OP_RESTART_CHILD, id);
}

int lwp_supervisor_delete_child(lwp_pid sup, const char *id)
{
	return (int)call_id(sup, OP_DELETE_CHILD, id);
}

long lwp_supervisor_which_children(lwp_pid sup, lwp_child_info *out, size_t cap)
{
	struct call c = { .op = OP_WHICH_CHILDREN };
	int64_t n;
	lwp_msg *m;

	if (!out && cap)
		return LWP_EINVAL;
	m = call(sup, &c, &n);
	if (m && n > 0 && cap)
		memcpy(out, m->data + sizeof(struct reply),
		       ((size_t)n < cap ? (size_t)n : cap) * sizeof(*out));
	lwp_msg_free(m);
	return (long)n;
}

int lwp_supervisor_count_children(lwp_pid sup, lwp_child_counts *out)
{
	struct call c = { .op = OP_COUNT_CHILDREN };
	int64_t err;
	lwp_msg *m;

	if (!out)
		return LWP_EINVAL;
	m = call(sup, &c, &err);
	if (m && err == 0)
		memcpy(out, m->data + sizeof(struct reply), sizeof(*out));
	lwp_msg_free(m);
	return (int)err;
}
