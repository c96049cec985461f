/*
 * failure.c - see failure.h.
 */
#include "failure.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "registry.h"
#include "runtime.h"
#include "sched.h"
#include "ties.h"

/* The signals, in the runtime's tag range (below LWP_TAG_DOWN). */
enum {
	SIG_LINK = LWP_TAG_MAX + 1, /* from links to me */
	SIG_UNLINK,		    /* from unlinked me */
	SIG_EXIT_LINKED,	    /* from, linked to me, ended */
	SIG_EXIT,		    /* lwp_kill(me, reason) by from */
	SIG_MONITOR,		    /* from monitors me with ref */
	SIG_DEMONITOR,		    /* from stopped monitor ref */
	SIG_DOWN,		    /* from, monitored by me with ref, ended */
};

struct on_exit {
	void (*fn)(void *arg);
	void *arg;
};

/* A process's relations, allocated on first use: most processes have
 * none, and pay one NULL pointer. */
struct proc_fail {
	struct ties links;
	struct ties monitors; /* mine: (target, ref) */
	struct ties watchers; /* on me: (watcher, ref) */
	struct on_exit *handlers;
	uint32_t nhandlers, handlers_cap;
};

/* Monitor refs.  Relaxed: each fetch_add still returns a value no other
 * one does, and nothing is published through the counter. */
static _Atomic int64_t next_ref = 1;

lwp_ref failure_ref(void)
{
	return atomic_fetch_add_explicit(&next_ref, 1, memory_order_relaxed);
}

static struct {
	pthread_mutex_t lock;
	lwp_report_fn fn;
	void *ctx;
} report = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- sets --------------------------------------------------------------- */

/* Relations for p, which are counted in p's block. */
static struct proc_fail *fail_new(struct proc *p)
{
	struct proc_fail *f = calloc(1, sizeof(*f));

	if (f) {
		f->links.shown = &p->nlinks;
		f->monitors.shown = &p->nmonitors;
	}
	return f;
}

static struct proc_fail *fail_of(struct proc *p)
{
	if (!p->fail)
		p->fail = fail_new(p);
	return p->fail;
}

static void fail_free(struct proc_fail *f)
{
	if (!f)
		return;
	ties_free(&f->links);
	ties_free(&f->monitors);
	ties_free(&f->watchers);
	free(f->handlers);
	free(f);
}

/* ---- sending signals ---------------------------------------------------- */

static lwp_exit_info *info_of(struct msg_hdr *h)
{
	return (lwp_exit_info *)(void *)h->m.data;
}

static void set_reason(lwp_reason *r, int code, const char *text)
{
	r->code = code;
	snprintf(r->text, sizeof(r->text), "%s", text ? text : "");
}

/* Send signal `kind` from `from` to `to`, with ref and reason (NULL:
 * normal).  0, or LWP_ENOPROC / LWP_EBADPID (not delivered), LWP_ENOMEM.
 * The caller is inside the runtime (rt_enter). */
static int send_signal(lwp_pid to, lwp_pid from, uint64_t kind, lwp_ref ref,
		       const lwp_reason *r)
{
	struct sched *s = sched_self();
	struct proc *dst;
	struct msg_hdr *h;
	int err = proc_lookup(to, &dst);

	if (err)
		return err;
	h = msg_new(s, sizeof(lwp_exit_info));
	if (!h)
		return LWP_ENOMEM;
	msg_address(h, to, from, kind);
	*info_of(h) = (lwp_exit_info){ .pid = from, .ref = ref };
	if (r)
		info_of(h)->reason = *r;
	err = msg_post(s, dst, h, true, true);
	if (err)
		msg_delete(s, h);
	return err;
}

static const lwp_reason noproc = { .code = LWP_EXIT_NOPROC };

void failure_refuse(struct msg_hdr *h)
{
	lwp_pid target = h->to, asker = h->m.from;

	/* The answers go to live processes or nowhere: a refused answer is
	 * not answered again. */
	if (h->m.tag == SIG_LINK)
		(void)send_signal(asker, target, SIG_EXIT_LINKED, 0, &noproc);
	else if (h->m.tag == SIG_MONITOR)
		(void)send_signal(asker, target, SIG_DOWN, info_of(h)->ref,
				  &noproc);
	msg_delete(sched_self(), h);
}

/* ---- receiving signals -------------------------------------------------- */

/* Keep h as the message the user sees: tag, and who it is about. */
static bool becomes(struct msg_hdr *h, uint64_t tag)
{
	h->m.tag = tag;
	h->m.size = sizeof(lwp_exit_info);
	return true;
}

static bool drop(struct msg_hdr *h)
{
	msg_delete(sched_self(), h);
	return false;
}

/* Die of h at the next safe point (the first fatal signal wins). */
static bool die_of(struct proc *p, struct msg_hdr *h)
{
	if (p->exit_sig)
		return drop(h);
	p->exit_sig = h;
	return false;
}

static bool exit_signal(struct proc *p, struct msg_hdr *h)
{
	int code = info_of(h)->reason.code;
	bool direct = h->m.tag == SIG_EXIT;

	if (direct && code == LWP_EXIT_KILL) {
		set_reason(&info_of(h)->reason, LWP_EXIT_KILLED, NULL);
		return die_of(p, h);
	}
	if (load_relaxed(&p->trap_exits))
		return becomes(h, LWP_TAG_EXIT);
	if (code != LWP_EXIT_NORMAL ||
	    (direct && h->m.from == atomic_load(&p->pid)))
		return die_of(p, h);
	return drop(h);
}

static bool tie_signal(struct proc *p, struct msg_hdr *h)
{
	struct proc_fail *f = fail_of(p);
	lwp_pid from = h->m.from;
	lwp_ref ref = info_of(h)->ref;

	if (!f) {
		fprintf(stderr,
			"lwp: out of memory: a link or monitor of %s "
			"was lost\n",
			lwp_pid_str(from).s);
		return drop(h);
	}
	switch (h->m.tag) {
	case SIG_LINK:
		if (!ties_find(&f->links, from, 0) &&
		    ties_add(&f->links, from, 0) != 0)
			fprintf(stderr,
				"lwp: out of memory: a link was lost\n");
		break;
	case SIG_UNLINK:
		(void)ties_del(&f->links, from, 0);
		break;
	case SIG_MONITOR:
		if (ties_add(&f->watchers, from, ref) != 0)
			fprintf(stderr,
				"lwp: out of memory: a monitor was lost\n");
		break;
	case SIG_DEMONITOR:
		(void)ties_del(&f->watchers, from, ref);
		break;
	}
	return drop(h);
}

bool failure_signal(struct mailbox *mb, struct msg_hdr *h)
{
	struct proc *p = container_of(mb, struct proc, mbox);
	struct proc_fail *f = p->fail;

	switch (h->m.tag) {
	case SIG_EXIT_LINKED:
		/* A link undone since (lwp_unlink) carries nothing. */
		if (!f || !ties_del(&f->links, h->m.from, 0))
			return drop(h);
		return exit_signal(p, h);
	case SIG_EXIT:
		return exit_signal(p, h);
	case SIG_DOWN:
		/* One DOWN per monitor, none after lwp_demonitor. */
		if (!f || !ties_del(&f->monitors, 0, info_of(h)->ref))
			return drop(h);
		return becomes(h, LWP_TAG_DOWN);
	default:
		return tie_signal(p, h);
	}
}

_Noreturn void failure_die(struct proc *p)
{
	struct msg_hdr *h = p->exit_sig;
	lwp_reason r = info_of(h)->reason;

	p->exit_sig = NULL;
	msg_delete(sched_self(), h);
	proc_exit(p, &r, false);
}

void failure_poll_slow(struct proc *p)
{
	mailbox_drain(&p->mbox, p->pid);
	failure_act(p);
}

/* ---- exit ---------------------------------------------------------------- */

const char *lwp_reason_name(int code)
{
	switch (code) {
	case LWP_EXIT_NORMAL:
		return "normal";
	case LWP_EXIT_STACK_OVERFLOW:
		return "stack_overflow";
	case LWP_EXIT_KILL:
		return "kill";
	case LWP_EXIT_KILLED:
		return "killed";
	case LWP_EXIT_NOPROC:
		return "noproc";
	case LWP_EXIT_SHUTDOWN:
		return "shutdown";
	case LWP_EXIT_FAULT:
		return "fault";
	}
	return NULL;
}

int lwp_reason_format(const lwp_reason *r, char *buf, size_t len)
{
	const char *name = lwp_reason_name(r->code);
	char code[16];

	if (!name) {
		snprintf(code, sizeof(code), "%d", r->code);
		name = code;
	}
	if (!r->text[0])
		return snprintf(buf, len, "%s", name);
	return snprintf(buf, len, "{%s,\"%s\"}", name, r->text);
}

static void default_report(lwp_pid pid, const char *name,
			   const lwp_reason *reason, void *ctx)
{
	char when[64], why[128], as[LWP_NAME_MAX + 32] = "";
	time_t now = time(NULL);
	struct tm tm;

	(void)ctx;
	strftime(when, sizeof(when), "%d-%b-%Y::%H:%M:%S",
		 localtime_r(&now, &tm));
	lwp_reason_format(reason, why, sizeof(why));
	if (name)
		snprintf(as, sizeof(as), " (registered as %s)", name);
	/* One write per report, so that reports from several schedulers do
	 * not interleave. */
	fprintf(stderr,
		"=ERROR REPORT==== %s ===\nError in process %s%s with exit "
		"value: %s\n\n",
		when, lwp_pid_str(pid).s, as, why);
}

void lwp_set_report_fn(lwp_report_fn fn, void *ctx)
{
	pthread_mutex_lock(&report.lock);
	report.fn = fn;
	report.ctx = ctx;
	pthread_mutex_unlock(&report.lock);
}

static void report_exit(struct proc *p, const lwp_reason *r)
{
	char name[LWP_NAME_MAX + 1];
	bool named = registry_name_of(p, name);

	pthread_mutex_lock(&report.lock);
	(report.fn ? report.fn : default_report)(
		atomic_load(&p->pid), named ? name : NULL, r, report.ctx);
	pthread_mutex_unlock(&report.lock);
}

void failure_before_death(struct proc *p, const lwp_reason *r, bool report)
{
	struct proc_fail *f = p->fail;

	/* Popped one by one: a handler may register another. */
	while (f && f->nhandlers) {
		struct on_exit h = f->handlers[--f->nhandlers];
		h.fn(h.arg);
	}
	if (report && r->code != LWP_EXIT_NORMAL &&
	    r->code != LWP_EXIT_SHUTDOWN)
		report_exit(p, r);
}

/* Send signal sig from pid, with each tie's ref and reason r, to each. */
static void tell_all(const struct ties *t, lwp_pid pid, uint64_t sig,
		     const lwp_reason *r)
{
	const struct tie *x;
	uint32_t i = 0;

	while ((x = ties_next(t, &i)))
		(void)send_signal(x->pid, pid, sig, x->ref, r);
}

/* Drop a fatal signal never taken (a second one, or one left by a stop)
 * and the trap flag: the slot's next process starts without them.  s:
 * the caller's scheduler, for its message cache, or NULL. */
static void forget_exit(struct sched *s, struct proc *p)
{
	if (p->exit_sig)
		msg_delete(s, p->exit_sig);
	p->exit_sig = NULL;
	store_relaxed(&p->trap_exits, false);
}

void failure_after_death(struct proc *p, lwp_pid pid, const lwp_reason *r)
{
	struct proc_fail *f = p->fail;

	mailbox_close(&p->mbox);
	forget_exit(sched_self(), p);
	p->fail = NULL;
	if (!f)
		return;
	tell_all(&f->links, pid, SIG_EXIT_LINKED, r);
	tell_all(&f->watchers, pid, SIG_DOWN, r);
	tell_all(&f->monitors, pid, SIG_DEMONITOR, NULL);
	fail_free(f);
}

void failure_discard(struct proc *p)
{
	forget_exit(NULL, p);
	fail_free(p->fail);
	p->fail = NULL;
}

/* ---- spawn ties ---------------------------------------------------------- */

int failure_tie(struct proc *p, struct proc *child, lwp_pid pid,
		const struct spawn_ties *t)
{
	struct proc_fail *mine = fail_of(p);
	struct proc_fail *theirs = fail_new(child);
	int err = mine && theirs ? 0 : LWP_ENOMEM;

	lwp_pid parent = atomic_load_explicit(&p->pid, memory_order_relaxed);

	if (!err && t->link) {
		err = ties_add(&mine->links, pid, 0);
		if (!err && (err = ties_add(&theirs->links, parent, 0)))
			(void)ties_del(&mine->links, pid, 0);
	}
	if (!err && t->monitor) {
		err = ties_add(&mine->monitors, pid, t->monitor);
		if (!err &&
		    (err = ties_add(&theirs->watchers, parent, t->monitor))) {
			(void)ties_del(&mine->monitors, pid, t->monitor);
			if (t->link)
				(void)ties_del(&mine->links, pid, 0);
		}
	}
	if (err) {
		fail_free(theirs);
		return err;
	}
	child->fail = theirs;
	return 0;
}

/* ---- the public API ------------------------------------------------------ */

/* The calling process, inside the runtime; NULL (and *err) outside one. */
static struct proc *enter_self(int *err)
{
	struct proc *p = sched_current();

	*err = p ? 0 : LWP_ENOTPROC;
	if (p)
		preempt_disable(p);
	return p;
}

static int leave_self(struct proc *p, int ret)
{
	preempt_enable(p);
	return ret;
}

const lwp_exit_info *lwp_exit_info_of(const lwp_msg *m)
{
	if (!m || (m->tag != LWP_TAG_EXIT && m->tag != LWP_TAG_DOWN) ||
	    m->size != sizeof(lwp_exit_info))
		return NULL;
	return (const lwp_exit_info *)(const void *)m->data;
}

int lwp_link(lwp_pid pid)
{
	int err;
	struct proc *p = enter_self(&err);
	struct proc_fail *f;
	lwp_pid self;

	if (!p)
		return err;
	self = atomic_load(&p->pid);
	if (!proc_pid_valid(pid))
		return leave_self(p, LWP_EBADPID);
	f = fail_of(p);
	if (!f)
		return leave_self(p, LWP_ENOMEM);
	if (pid == self || ties_find(&f->links, pid, 0))
		return leave_self(p, 0);
	err = ties_add(&f->links, pid, 0);
	if (err)
		return leave_self(p, err);
	err = send_signal(pid, self, SIG_LINK, 0, NULL);
	if (err == LWP_ENOMEM) {
		(void)ties_del(&f->links, pid, 0);
		return leave_self(p, err);
	}
	if (err) {
		/* As if pid had refused it: the link breaks with noproc,
		 * which ends the caller unless it traps exits. */
		err = send_signal(self, pid, SIG_EXIT_LINKED, 0, &noproc);
		failure_poll(p);
		return leave_self(p, err ? err : LWP_ENOPROC);
	}
	return leave_self(p, 0);
}

int lwp_unlink(lwp_pid pid)
{
	int err;
	struct proc *p = enter_self(&err);

	if (!p)
		return err;
	if (!proc_pid_valid(pid))
		return leave_self(p, LWP_EBADPID);
	if (p->fail && ties_del(&p->fail->links, pid, 0))
		(void)send_signal(pid, atomic_load(&p->pid), SIG_UNLINK, 0,
				  NULL);
	return leave_self(p, 0);
}

int lwp_trap_exits(bool on)
{
	struct proc *p = sched_current();
	bool was;

	if (!p)
		return LWP_ENOTPROC;
	was = load_relaxed(&p->trap_exits);
	store_relaxed(&p->trap_exits, on);
	return was;
}

int lwp_kill(lwp_pid pid, int code)
{
	struct sched *s = sched_self();
	struct proc *self = sched_caller(s);
	lwp_reason r = { .code = code };
	int err = rt_enter(self);

	if (err)
		return err;
	err = send_signal(pid, self ? atomic_load(&self->pid) : LWP_NOPID,
			  SIG_EXIT, 0, &r);
	/* Killing oneself takes effect now, as Erlang's exit(self(), R). */
	if (!err && self && pid == atomic_load(&self->pid))
		failure_poll(self);
	rt_leave(self);
	return err;
}

lwp_ref lwp_monitor(lwp_pid pid)
{
	int err;
	struct proc *p = enter_self(&err);
	struct proc_fail *f;
	lwp_ref ref;
	lwp_pid self;

	if (!p)
		return err;
	if (!proc_pid_valid(pid))
		return leave_self(p, LWP_EBADPID);
	f = fail_of(p);
	if (!f)
		return leave_self(p, LWP_ENOMEM);
	self = atomic_load(&p->pid);
	ref = failure_ref();
	err = ties_add(&f->monitors, pid, ref);
	if (err)
		return leave_self(p, err);
	err = send_signal(pid, self, SIG_MONITOR, ref, NULL);
	if (err == LWP_ENOPROC)
		/* As if refused: DOWN with noproc, through our own inbox. */
		err = send_signal(self, pid, SIG_DOWN, ref, &noproc);
	if (err) {
		(void)ties_del(&f->monitors, pid, ref);
		return leave_self(p, err);
	}
	preempt_enable(p);
	return ref;
}

/* Remove a queued DOWN message for ref, if any. */
static void flush_down(struct mailbox *mb, lwp_ref ref)
{
	struct msg_hdr *prev = NULL;

	for (struct msg_hdr *h = mb->first; h; prev = h, h = h->next) {
		const lwp_exit_info *x = lwp_exit_info_of(&h->m);
		if (h->m.tag == LWP_TAG_DOWN && x && x->ref == ref) {
			mailbox_unlink(mb, prev, h);
			msg_delete(sched_self(), h);
			return;
		}
	}
}

int lwp_demonitor(lwp_ref ref, unsigned flags)
{
	int err;
	struct proc *p = enter_self(&err);
	lwp_pid target = 0;

	if (!p)
		return err;
	if (ref <= 0 || (flags & ~LWP_DEMONITOR_FLUSH))
		return leave_self(p, LWP_EINVAL);
	if (p->fail)
		target = ties_del(&p->fail->monitors, 0, ref);
	if (target)
		(void)send_signal(target, atomic_load(&p->pid), SIG_DEMONITOR,
				  ref, NULL);
	if (flags & LWP_DEMONITOR_FLUSH) {
		/* A DOWN still in the inbox is dropped as it is drained
		 * (its monitor is gone); one drained already is removed. */
		mailbox_drain(&p->mbox, p->pid);
		flush_down(&p->mbox, ref);
		failure_act(p);
	}
	return leave_self(p, target != 0);
}

int lwp_on_exit(void (*fn)(void *arg), void *arg)
{
	int err;
	struct proc *p = enter_self(&err);
	struct proc_fail *f;

	if (!p)
		return err;
	if (!fn)
		return leave_self(p, LWP_EINVAL);
	f = fail_of(p);
	if (!f)
		return leave_self(p, LWP_ENOMEM);
	if (f->nhandlers == f->handlers_cap) {
		uint32_t cap = f->handlers_cap ? 2 * f->handlers_cap : 4;
		struct on_exit *v = realloc(f->handlers, cap * sizeof(*v));
		if (!v)
			return leave_self(p, LWP_ENOMEM);
		f->handlers = v;
		f->handlers_cap = cap;
	}
	f->handlers[f->nhandlers++] = (struct on_exit){ fn, arg };
	return leave_self(p, 0);
}

static lwp_pid spawn_tied(void (*fn)(void *), void *arg, bool link,
			  lwp_ref *ref)
{
	struct spawn_ties t = {
		.link = link,
		.monitor = ref ? failure_ref() : 0,
	};
	lwp_pid pid = proc_spawn_tied(fn, arg, NULL, &t);

	if (pid > 0 && ref)
		*ref = t.monitor;
	return pid;
}

lwp_pid lwp_spawn_link(void (*fn)(void *), void *arg)
{
	return spawn_tied(fn, arg, true, NULL);
}

lwp_pid lwp_spawn_monitor(void (*fn)(void *), void *arg, lwp_ref *ref)
{
	if (!ref)
		return LWP_EINVAL;
	return spawn_tied(fn, arg, false, ref);
}
