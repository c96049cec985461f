/*
 * trace.c - see trace.h: the rings, the tracing API and the JSON writer.
 *
 * The rings.  Each scheduler owns one ring of events and is its only
 * writer; threads that are not schedulers share one more, taking a mutex
 * to write (their events are rare: a send or a spawn from the host).  A
 * ring is an array of 2^k events and a count of events ever written
 * (head).  In full mode the writer stops at 2^k events since the session
 * began and counts the rest as dropped; in flight-recorder mode it wraps,
 * overwriting the oldest.  A reader (the JSON writer) may run while the
 * writers go on - lwp_trace_dump(), or a signal - so a ring is a seqlock
 * per slot, with head as the sequence:
 *
 *   writer: h = head;  release fence;  write slot h % 2^k;  head = h + 1
 *           (release)
 *   reader: h1 = head (acquire);  copy events [h1 - 2^k, h1);  acquire
 *           fence;  h2 = head;  keep only events >= h2 - 2^k + 1
 *
 * Invariant: every event below head is completely written, and the slot
 * of event j is overwritten (by event j + 2^k) only after head has passed
 * j + 2^k.  The release store of head publishes an event's words to a
 * reader that sees the new head (h1).  A copy that read any word of a
 * later event j' (an overwrite) read it after the writer's release fence,
 * so through the reader's acquire fence the reader's h2 sees a head of at
 * least j' + 1, and the event the overwrite may have torn, j' - 2^k, is
 * discarded; so is h2 - 2^k, whose slot event h2 may be writing now
 * (head is h2 while it does).  The slot words are relaxed atomics: a
 * torn copy is discarded, never undefined.  The writer may read back
 * its own last slot (trace_stamp_again): nobody else writes it.  A ring
 * belongs to the run of the runtime: a writer that loaded its ring
 * (sched.trace_ring, or tr.on for the foreign one) just before tracing
 * stopped may still append one event, so rings are freed only at
 * teardown, when no writer is left, and a session ignores events older
 * than its start.
 *
 * Time stamps are the CPU's counter where it is invariant and the same on
 * every core (x86-64's TSC with the invariant-TSC bit, aarch64's virtual
 * counter), else CLOCK_MONOTONIC; the writer converts them to nanoseconds
 * with two readings of both clocks, one at the start and one at the dump.
 *
 * The writer is async-signal-safe, for the flight recorder's dumps on a
 * signal or a crash: it takes no lock, calls no stdio, and gets its
 * scratch memory from mmap.  Outside a signal it also names processes
 * (registered name, else their function's symbol: symbol.c).
 */
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "env.h"
#include "fault.h"
#include "fdio.h"
#include "info.h"
#include "lwp.h"
#include "registry.h"
#include "runtime.h"
#include "symbol.h"

/*
 * A probe has a semaphore, which the kernel raises while a tracer (perf,
 * bpftrace) is attached to it: the event tests it, so that a probe's
 * arguments are computed only for a listener.
 */
#if LWP_TRACE && LWP_HAVE_SDT
#define _SDT_HAS_SEMAPHORES 1
/* Arguments in registers, constants too: perf reads no immediate. */
#define STAP_SDT_ARG_CONSTRAINT r
#include <sys/sdt.h>
#define PROBE_WANTED(n)	   lwp_##n##_semaphore
#define PROBE1(n, a)	   DTRACE_PROBE1(lwp, n, a)
#define PROBE2(n, a, b)	   DTRACE_PROBE2(lwp, n, a, b)
#define PROBE3(n, a, b, c) DTRACE_PROBE3(lwp, n, a, b, c)
#else
#define PROBE_WANTED(n)	   0
#define PROBE1(n, a)	   ((void)(a))
#define PROBE2(n, a, b)	   ((void)(a), (void)(b))
#define PROBE3(n, a, b, c) ((void)(a), (void)(b), (void)(c))
#endif

/* Every probe.  clang-format takes a list of X(...) for declarations and
 * reflows it differently each run. */
/* clang-format off */
#define PROBES(X)              \
	X(switch)              \
	X(spawn)               \
	X(exit)                \
	X(send)                \
	X(receive)             \
	X(steal)               \
	X(park)                \
	X(unpark)              \
	X(preempt_deferred)    \
	X(timer)               \
	X(register)            \
	X(long_schedule)
/* clang-format on */

/* The probes' semaphores: the kernel counts the tracers attached to each
 * (uprobe reference counters); the section is what sys/sdt.h's notes
 * point into.  Without probes, constant zeros. */
#if LWP_TRACE && LWP_HAVE_SDT
#define PROBE_DEFINE(n)                             \
	volatile unsigned short lwp_##n##_semaphore \
		__attribute__((section(".probes"), used));
#else
#define PROBE_DEFINE(n) const unsigned short lwp_##n##_semaphore;
#endif
PROBES(PROBE_DEFINE)

/* Events per ring, and the clock. */
#define EVENTS_MIN 16u
#define EVENTS_MAX (1u << 28)

/* The rings of a run: one per scheduler, then the foreign one.  A set is
 * replaced only between sessions (another size), and the old one waits
 * for teardown, as a late event may still reach it. */
struct ring_set {
	struct ring_set *old;
	unsigned n;
	struct trace_ring *r[];
};

static struct {
	pthread_mutex_t lock;	      /* the API: start, stop, dump */
	pthread_mutex_t foreign_lock; /* writers of the foreign ring */
	_Atomic bool dumping;	      /* a writer runs (API or signal) */
	_Atomic bool on;	      /* a session is on */
	struct ring_set *_Atomic set;
	/* The session.  counter (and each ring's end) is read by the
	 * writers, one of which may be late from the session before (see
	 * the top): relaxed atomics, so that it reads an old value or a new
	 * one, and its event lands in a ring the new session starts after. */
	_Atomic bool flight;
	int fd;	   /* the trace file, open from start to stop */
	int signo; /* dump on this signal, or 0 */
	struct sigaction host;
	_Atomic bool counter; /* time stamps are the CPU's counter */
	uint64_t raw0;	      /* the counter at the start */
	int64_t ns0;	      /* CLOCK_MONOTONIC at the start */
} tr = { .lock = PTHREAD_MUTEX_INITIALIZER,
	 .foreign_lock = PTHREAD_MUTEX_INITIALIZER,
	 .fd = -1 };

/* The current set (a writer's or a reader's: see ring_set).  Acquire,
 * pairing with rings_get's release: a foreign writer may still see tr.on
 * from the session before and so hold no other ordering with the new
 * set's making (TSan caught one reading a ring it had not seen made). */
static struct ring_set *set_now(void)
{
	return atomic_load_explicit(&tr.set, memory_order_acquire);
}

#if LWP_TRACE
_Atomic uint8_t trace_wanted;

void trace_refresh(void)
{
#define PROBE_UP(n) || PROBE_WANTED(n)
	bool probes = false PROBES(PROBE_UP);
#undef PROBE_UP
	uint8_t want = TRACE_NONE;

	if (probes || (load_relaxed(&tr.on) && !load_relaxed(&tr.counter)))
		want = TRACE_CALLS;
	else if (load_relaxed(&tr.on))
		want = TRACE_RINGS;

	/* Written only on a change: every core keeps the line shared. */
	if (load_relaxed(&trace_wanted) != want)
		store_relaxed(&trace_wanted, want);
}
#endif

/* ---- the clock ----------------------------------------------------------- */

static bool counter_usable(void)
{
#if defined(__x86_64__)
	unsigned a, b, c, d;

	/* CPUID 0x80000007 EDX bit 8: the TSC ticks at a constant rate in
	 * every state and, by Linux's checks, alike on every core. */
	return __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8));
#elif defined(__aarch64__)
	return true; /* the architected counter is system-wide */
#else
	return false;
#endif
}

static uint64_t clock_raw(void)
{
	return load_relaxed(&tr.counter) ? trace_counter() :
					   (uint64_t)timer_now();
}

/* Raw stamps to ns since the session began: the two clocks read at the
 * start and now. */
struct clock_map {
	uint64_t raw0;
	double scale;
};

static struct clock_map clock_map_now(void)
{
	uint64_t raw1 = clock_raw();
	int64_t ns1 = timer_now();
	struct clock_map m = { .raw0 = tr.raw0, .scale = 1.0 };

	if (load_relaxed(&tr.counter) && raw1 > tr.raw0 && ns1 > tr.ns0)
		m.scale = (double)(ns1 - tr.ns0) / (double)(raw1 - tr.raw0);
	return m;
}

static int64_t to_ns(const struct clock_map *m, uint64_t raw)
{
	return (int64_t)((double)(raw - m->raw0) * m->scale);
}

/* ---- writing events ------------------------------------------------------ */

/* trace_put() stamping with CLOCK_MONOTONIC, for want of a counter: apart, so
 * that the call keeps no registers saved on the way of the others. */
static noinline void put_monotonic(struct trace_ring *r, uint64_t hdr,
				   uint64_t a, uint64_t b)
{
	trace_put(r, (uint64_t)timer_now(), hdr, a, b);
}

/* Another thread's event: its ring is shared, under a lock. */
static noinline void record_foreign(uint64_t hdr, uint64_t a, uint64_t b)
{
	struct ring_set *set;

	/* Acquire: pairs with the store of tr.on, after the rings and the
	 * session's settings were made. */
	if (!atomic_load_explicit(&tr.on, memory_order_acquire))
		return;
	set = set_now();
	pthread_mutex_lock(&tr.foreign_lock);
	trace_put(set->r[set->n - 1], clock_raw(), hdr, a, b);
	pthread_mutex_unlock(&tr.foreign_lock);
}

/* Append an event to s's ring, or (s NULL) to the foreign ring, if a
 * trace is on.  Inline: each event's function is a leaf on the way to
 * the scheduler's ring (the hot three append inline themselves when they
 * can: trace.h). */
static always_inline void record(struct sched *s, enum trace_type type,
				 uint64_t arg, uint64_t a, uint64_t b)
{
	uint64_t hdr = trace_hdr(type, arg);
	struct trace_ring *r;

	if (unlikely(!s)) {
		record_foreign(hdr, a, b);
		return;
	}
	/* Acquire: pairs with the release store of the ring, after the
	 * session's settings were made.  NULL: no trace is on. */
	r = atomic_load_explicit(&s->trace_ring, memory_order_acquire);
	if (!r)
		return;
	if (unlikely(!load_relaxed(&tr.counter)))
		put_monotonic(r, hdr, a, b);
	else
		trace_put(r, trace_counter(), hdr, a, b);
}

/* ---- the events (trace.h) ------------------------------------------------ */

void trace_switch_call(struct sched *s, const struct proc *out,
		       const struct proc *in, enum proc_after why)
{
	if (PROBE_WANTED(switch))
		PROBE3(switch, pid_of(out), pid_of(in), (int)why);
	record(s, TR_SWITCH, trace_switch_arg(in, why), (uint64_t)pid_of(out),
	       (uint64_t)pid_of(in));
}

void trace_spawn(struct sched *s, lwp_pid pid, void (*fn)(void *))
{
	if (PROBE_WANTED(spawn))
		PROBE2(spawn, pid, fn);
	record(s, TR_SPAWN, 0, (uint64_t)pid, (uint64_t)(uintptr_t)fn);
}

void trace_exit(struct sched *s, lwp_pid pid, int code)
{
	if (PROBE_WANTED(exit))
		PROBE2(exit, pid, code);
	record(s, TR_EXIT, 0, (uint64_t)pid, (uint64_t)(int64_t)code);
}

void trace_send_call(struct sched *s, lwp_pid to, uint64_t tag, bool woke)
{
	if (PROBE_WANTED(send))
		PROBE3(send, to, tag, woke);
	record(s, TR_SEND, woke, (uint64_t)to, tag);
}

void trace_receive_call(struct sched *s, const lwp_msg *m)
{
	if (PROBE_WANTED(receive))
		PROBE2(receive, m->from, m->tag);
	record(s, TR_RECV, 0, (uint64_t)m->from, m->tag);
}

void trace_steal(struct sched *s, unsigned victim, unsigned n)
{
	if (PROBE_WANTED(steal))
		PROBE3(steal, s->id, victim, n);
	record(s, TR_STEAL, 0, victim, n);
}

void trace_idle(struct sched *s, bool idle)
{
	record(s, idle ? TR_IDLE : TR_IDLE_END, 0, 0, 0);
}

void trace_park(struct sched *s)
{
	if (PROBE_WANTED(park))
		PROBE1(park, s->id);
	record(s, TR_PARK, 0, 0, 0);
}

void trace_unpark(struct sched *s, bool woken)
{
	if (PROBE_WANTED(unpark))
		PROBE2(unpark, s->id, woken);
	record(s, TR_UNPARK, woken, 0, 0);
}

void trace_deferred(struct sched *s, const struct proc *p)
{
	if (PROBE_WANTED(preempt_deferred))
		PROBE2(preempt_deferred, pid_of(p), s->id);
	record(s, TR_DEFERRED, 0, (uint64_t)pid_of(p), 0);
}

void trace_timer(struct sched *s, lwp_pid pid, uint64_t tag)
{
	if (PROBE_WANTED(timer))
		PROBE2(timer, pid, tag);
	record(s, TR_TIMER, 0, (uint64_t)pid, tag);
}

/* The name, 8 bytes an event (the NUL too). */
void trace_register(lwp_pid pid, const char *name)
{
	struct sched *s = sched_self();
	size_t n = strlen(name) + 1;

	if (PROBE_WANTED(register))
		PROBE2(register, pid, name);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t w = 0;
		memcpy(&w, name + i, n - i < 8 ? n - i : 8);
		record(s, TR_NAME, i / 8, w, (uint64_t)pid);
	}
}

void trace_long_schedule(lwp_pid pid, int64_t ns)
{
	if (PROBE_WANTED(long_schedule))
		PROBE2(long_schedule, pid, ns);
}

/* ---- the JSON writer ----------------------------------------------------- */

/* Memory from mmap (async-signal-safe, unlike malloc); `flags` may add
 * MAP_POPULATE. */
static void *scratch(size_t bytes, int flags)
{
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

/* An event copied out of a ring, in nanoseconds. */
struct ev {
	int64_t ns;
	uint64_t hdr, a, b;
};

/* One ring's copy and where the merge is in it. */
struct track {
	struct ev *ev;
	size_t n, next;
	lwp_pid cur; /* the process whose slice is open, or 0 */
	bool idle, parked;
};

/* What the writer knows of a process. */
struct pent {
	lwp_pid pid; /* 0: a free entry */
	uint64_t fn;
	int track;	/* where it last ran, or -1 */
	int flow_track; /* a waking send waits for its run, or -1 */
	int64_t flow_ns;
	const char *name; /* registered name, or NULL */
	bool resolved;	  /* name looked up */
};

/* A function's name, cached. */
struct fname {
	uint64_t fn;
	bool known;
	char name[64];
};

#define OUT_BUF (1u << 16)
#define NAMES	256 /* registered names a dump keeps */
#define FNCACHE 64  /* functions whose names it keeps */

struct writer {
	int fd, err;
	bool in_signal;
	int ospid;
	size_t len;
	char *buf;
	bool first;
	const struct ring_set *set;
	struct track *t;
	unsigned nt;
	struct pent *pids;
	size_t pmask;
	uint64_t flows;
	char (*names)[LWP_NAME_MAX + 1];
	unsigned nnames;
	struct fname *fcache;
};

static void flush(struct writer *w)
{
	if (!w->err && !write_all(w->fd, w->buf, w->len))
		w->err = LWP_ESYS;
	w->len = 0;
}

static void out_mem(struct writer *w, const char *s, size_t n)
{
	while (n) {
		size_t k = OUT_BUF - w->len < n ? OUT_BUF - w->len : n;
		memcpy(w->buf + w->len, s, k);
		w->len += k;
		s += k;
		n -= k;
		if (w->len == OUT_BUF)
			flush(w);
	}
}

static void out(struct writer *w, const char *s)
{
	out_mem(w, s, strlen(s));
}

static void out_u64(struct writer *w, uint64_t v)
{
	char d[20];
	int i = sizeof(d);

	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10));
	out_mem(w, d + i, sizeof(d) - (size_t)i);
}

static void out_i64(struct writer *w, int64_t v)
{
	if (v < 0) {
		out(w, "-");
		out_u64(w, -(uint64_t)v);
	} else {
		out_u64(w, (uint64_t)v);
	}
}

static void out_hex(struct writer *w, uint64_t v)
{
	char d[18] = "0x";
	int n = 2;

	for (int sh = 60; sh >= 0; sh -= 4)
		if (v >> sh || sh == 0 || n > 2)
			d[n++] = "0123456789abcdef"[(v >> sh) & 15];
	out_mem(w, d, (size_t)n);
}

/* A JSON string's contents. */
static void out_esc(struct writer *w, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			out_mem(w, e, 2);
		} else if (c < 0x20) {
			char e[6] = { '\\',
				      'u',
				      '0',
				      '0',
				      "0123456789abcdef"[c >> 4],
				      "0123456789abcdef"[c & 15] };
			out_mem(w, e, 6);
		} else {
			out_mem(w, (const char *)&c, 1);
		}
	}
}

static void out_pid(struct writer *w, lwp_pid pid)
{
	out(w, "<0.");
	out_u64(w, PID_INDEX(pid));
	out(w, ".");
	out_u64(w, PID_GEN(pid));
	out(w, ">");
}

/* Microseconds, to the nanosecond: the trace-event format's unit. */
static void out_us(struct writer *w, int64_t ns)
{
	char f[4] = { '.', 0, 0, 0 };

	out_i64(w, ns / 1000);
	f[1] = (char)('0' + ns % 1000 / 100);
	f[2] = (char)('0' + ns % 100 / 10);
	f[3] = (char)('0' + ns % 10);
	out_mem(w, f, 4);
}

/* {"ph":PH,"pid":..,"tid":TID,"ts":..  - the caller adds the rest. */
static void ev_open(struct writer *w, const char *ph, int tid, int64_t ns)
{
	out(w, w->first ? "\n{\"ph\":\"" : ",\n{\"ph\":\"");
	w->first = false;
	out(w, ph);
	out(w, "\",\"pid\":");
	out_u64(w, (uint64_t)w->ospid);
	out(w, ",\"tid\":");
	out_u64(w, (uint64_t)tid);
	out(w, ",\"ts\":");
	out_us(w, ns);
}

static struct pent *pent_of(struct writer *w, lwp_pid pid)
{
	size_t i = ((uint64_t)pid * 0x9e3779b97f4a7c15ull >> 20) & w->pmask;

	while (w->pids[i].pid && w->pids[i].pid != pid)
		i = (i + 1) & w->pmask;
	if (!w->pids[i].pid)
		w->pids[i] = (struct pent){ .pid = pid,
					    .track = -1,
					    .flow_track = -1 };
	return &w->pids[i];
}

/* A function's name, through a small cache (NULL: unknown).  Not inside
 * a signal handler (symbol.h). */
static const char *fn_name(struct writer *w, uint64_t fn)
{
	struct fname *c = &w->fcache[(fn >> 4) % FNCACHE];

	if (w->in_signal || !fn)
		return NULL;
	if (c->fn != fn) {
		c->fn = fn;
		c->known = symbol_name((uintptr_t)fn, c->name, sizeof(c->name));
	}
	return c->known ? c->name : NULL;
}

/* A process's name: registered (if it is alive at the dump), else its
 * function's.  Neither inside a signal handler. */
static const char *name_of(struct writer *w, struct pent *e)
{
	struct proc *p;

	if (!e->resolved) {
		e->resolved = true;
		if (!w->in_signal && w->nnames < NAMES &&
		    proc_lookup(e->pid, &p) == 0 &&
		    registry_name_of(p, w->names[w->nnames]))
			e->name = w->names[w->nnames++];
	}
	return e->name ? e->name : fn_name(w, e->fn);
}

static const char *const why_out[] = {
	[AFTER_NONE] = "none",	   [AFTER_YIELD] = "yield",
	[AFTER_EXPIRE] = "budget", [AFTER_PREEMPT] = "preempted",
	[AFTER_BLOCK] = "receive", [AFTER_EXIT] = "exit",
};

static void slice_end(struct writer *w, int tid, int64_t ns, const char *why)
{
	ev_open(w, "E", tid, ns);
	if (why) {
		out(w, ",\"args\":{\"out\":\"");
		out(w, why);
		out(w, "\"}");
	}
	out(w, "}");
}

static void slice_begin(struct writer *w, int tid, int64_t ns, const char *name)
{
	ev_open(w, "B", tid, ns);
	out(w, ",\"cat\":\"sched\",\"name\":\"");
	out(w, name);
	out(w, "\"}");
}

/* An instant on a track; args is a JSON object's members, or NULL. */
static void instant(struct writer *w, int tid, int64_t ns, const char *name)
{
	ev_open(w, "i", tid, ns);
	out(w, ",\"s\":\"t\",\"name\":\"");
	out(w, name);
	out(w, "\",\"args\":{");
}

static void arg_pid(struct writer *w, const char *key, lwp_pid pid, bool more)
{
	out(w, "\"");
	out(w, key);
	out(w, "\":\"");
	out_pid(w, pid);
	out(w, more ? "\"," : "\"");
}

static void arg_u64(struct writer *w, const char *key, uint64_t v, bool more)
{
	out(w, "\"");
	out(w, key);
	out(w, "\":");
	out_u64(w, v);
	if (more)
		out(w, ",");
}

/* Close what is open on track t: parked inside idle, or a process. */
static void close_idle(struct writer *w, struct track *t, int tid, int64_t ns)
{
	if (t->parked)
		slice_end(w, tid, ns, NULL);
	if (t->idle)
		slice_end(w, tid, ns, NULL);
	t->parked = t->idle = false;
}

static void switch_in(struct writer *w, struct track *t, int tid, int64_t ns,
		      lwp_pid pid)
{
	struct pent *e = pent_of(w, pid);
	const char *name = name_of(w, e);

	ev_open(w, "B", tid, ns);
	out(w, ",\"cat\":\"process\",\"name\":\"");
	if (name) {
		out_esc(w, name);
		out(w, " ");
	}
	out_pid(w, pid);
	out(w, "\",\"args\":{");
	arg_pid(w, "pid", pid, e->fn != 0);
	if (e->fn) {
		out(w, "\"fn\":\"");
		out_hex(w, e->fn);
		out(w, "\"");
	}
	out(w, "}}");
	t->cur = pid;
	if (e->track >= 0 && e->track != tid) {
		instant(w, tid, ns, "migrate");
		arg_pid(w, "pid", pid, true);
		arg_u64(w, "from", (uint64_t)e->track, true);
		arg_u64(w, "to", (uint64_t)tid, false);
		out(w, "}}");
	}
	e->track = tid;
	if (e->flow_track >= 0) { /* the send that woke it: an arrow */
		uint64_t id = ++w->flows;
		ev_open(w, "s", e->flow_track, e->flow_ns);
		out(w, ",\"cat\":\"wake\",\"name\":\"wake\",\"id\":");
		out_u64(w, id);
		out(w, "}");
		ev_open(w, "f", tid, ns);
		out(w,
		    ",\"bp\":\"e\",\"cat\":\"wake\",\"name\":\"wake\",\"id\":");
		out_u64(w, id);
		out(w, "}");
		e->flow_track = -1;
	}
}

static void on_switch(struct writer *w, struct track *t, int tid,
		      const struct ev *v)
{
	unsigned why = (unsigned)(v->hdr >> 8) & 0xff;
	struct pent *in = v->b ? pent_of(w, (lwp_pid)v->b) : NULL;

	if (in && !in->fn) /* spawned before the trace began */
		in->fn = v->hdr >> 16;

	close_idle(w, t, tid, v->ns);
	if (t->cur)
		slice_end(w, tid, v->ns,
			  why < ARRAY_SIZE(why_out) ? why_out[why] : NULL);
	t->cur = 0;
	if (why == AFTER_PREEMPT && v->a) {
		instant(w, tid, v->ns, "preempt");
		arg_pid(w, "pid", (lwp_pid)v->a, false);
		out(w, "}}");
	}
	if (v->b)
		switch_in(w, t, tid, v->ns, (lwp_pid)v->b);
}

static void on_send(struct writer *w, struct track *t, int tid,
		    const struct ev *v, bool foreign)
{
	bool woke = v->hdr >> 8;

	if (foreign) { /* a tiny slice, for the arrow to leave from */
		ev_open(w, "X", tid, v->ns);
		out(w, ",\"dur\":0.001,\"cat\":\"msg\",\"name\":\"send\"");
	} else {
		instant(w, tid, v->ns, "send");
		arg_pid(w, "to", (lwp_pid)v->a, true);
		arg_u64(w, "tag", v->b, true);
		arg_u64(w, "woke", woke, false);
		out(w, "}");
	}
	out(w, "}");
	if (woke && (t->cur || foreign)) {
		struct pent *e = pent_of(w, (lwp_pid)v->a);
		e->flow_track = tid;
		e->flow_ns = v->ns;
	}
}

/* A piece of a registered name: the arena holds the whole. */
static void on_name(struct writer *w, const struct ev *v)
{
	struct pent *e = pent_of(w, (lwp_pid)v->b);
	size_t at = (size_t)(v->hdr >> 8) * 8;

	if (!e->name && w->nnames < NAMES)
		e->name = w->names[w->nnames++];
	if (e->name && at + 8 <= LWP_NAME_MAX + 1)
		memcpy((char *)e->name + at, &v->a, 8);
	e->resolved = true;
}

/* The instant events: a marker on the track, with the event's args. */
static void on_instant(struct writer *w, int tid, const struct ev *v)
{
	switch ((enum trace_type)(v->hdr & 0xff)) {
	case TR_SPAWN:
		pent_of(w, (lwp_pid)v->a)->fn = v->b;
		instant(w, tid, v->ns, "spawn");
		arg_pid(w, "pid", (lwp_pid)v->a, false);
		break;
	case TR_EXIT:
		instant(w, tid, v->ns, "exit");
		arg_pid(w, "pid", (lwp_pid)v->a, true);
		out(w, "\"reason\":");
		out_i64(w, (int64_t)v->b);
		break;
	case TR_RECV:
		instant(w, tid, v->ns, "receive");
		if (v->a)
			arg_pid(w, "from", (lwp_pid)v->a, true);
		arg_u64(w, "tag", v->b, false);
		break;
	case TR_STEAL:
		instant(w, tid, v->ns, "steal");
		arg_u64(w, "victim", v->a, true);
		arg_u64(w, "count", v->b, false);
		break;
	case TR_DEFERRED:
		instant(w, tid, v->ns, "preempt deferred");
		arg_pid(w, "pid", (lwp_pid)v->a, false);
		break;
	case TR_TIMER:
		instant(w, tid, v->ns, "timer");
		arg_pid(w, "pid", (lwp_pid)v->a, false);
		break;
	default:
		return;
	}
	out(w, "}}");
}

/* The scheduler's own states between processes: idle (spinning) and
 * parked slices. */
static void on_idle(struct writer *w, struct track *t, int tid,
		    const struct ev *v)
{
	switch ((enum trace_type)(v->hdr & 0xff)) {
	case TR_IDLE:
		if (!t->cur && !t->idle) {
			slice_begin(w, tid, v->ns, "idle");
			t->idle = true;
		}
		break;
	case TR_PARK:
		if (!t->cur && !t->parked) {
			slice_begin(w, tid, v->ns, "parked");
			t->parked = true;
		}
		break;
	case TR_UNPARK:
		if (t->parked)
			slice_end(w, tid, v->ns, NULL);
		t->parked = false;
		break;
	case TR_IDLE_END:
		close_idle(w, t, tid, v->ns);
		break;
	default:
		break;
	}
}

static void on_event(struct writer *w, struct track *t, int tid,
		     const struct ev *v)
{
	switch ((enum trace_type)(v->hdr & 0xff)) {
	case TR_SWITCH:
		on_switch(w, t, tid, v);
		break;
	case TR_SEND:
		on_send(w, t, tid, v, (unsigned)tid == w->nt - 1);
		break;
	case TR_NAME:
		on_name(w, v);
		break;
	case TR_IDLE:
	case TR_IDLE_END:
	case TR_PARK:
	case TR_UNPARK:
		on_idle(w, t, tid, v);
		break;
	default:
		on_instant(w, tid, v);
		break;
	}
}

static void metadata(struct writer *w)
{
	out(w, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"clock\":\"");
	out(w, load_relaxed(&tr.counter) ? "cpu counter" : "CLOCK_MONOTONIC");
	out(w, "\",\"mode\":\"");
	out(w, load_relaxed(&tr.flight) ? "flight recorder" : "full");
	out(w, "\",\"dropped\":");
	uint64_t dropped = 0;
	for (unsigned i = 0; i < w->set->n; i++)
		dropped += load_relaxed(&w->set->r[i]->dropped);
	out_u64(w, dropped);
	out(w, "},\n\"traceEvents\":[");
	w->first = true;
	ev_open(w, "M", 0, 0);
	out(w, ",\"name\":\"process_name\",\"args\":{\"name\":\"lwp\"}}");
	for (unsigned i = 0; i < w->nt; i++) {
		bool foreign = i == w->nt - 1;
		ev_open(w, "M", (int)i, 0);
		out(w, ",\"name\":\"thread_name\",\"args\":{\"name\":\"");
		if (foreign) {
			out(w, "foreign threads");
		} else {
			out(w, "scheduler ");
			out_u64(w, i);
		}
		out(w, "\"}}");
		ev_open(w, "M", (int)i, 0);
		out(w, ",\"name\":\"thread_sort_index\",\"args\":{"
		       "\"sort_index\":");
		out_u64(w, i);
		out(w, "}}");
	}
}

/* Copy ring r's events of this session into t (see the top for why the
 * two reads of head), in nanoseconds; drop those stamped before it. */
static void snapshot(struct trace_ring *r, struct track *t,
		     const struct clock_map *m)
{
	uint64_t h1 = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t lo = load_relaxed(&r->start), h2, keep;
	size_t n = 0;

	if (h1 - lo > r->mask + 1)
		lo = h1 - (r->mask + 1);
	for (uint64_t i = lo; i < h1; i++) {
		const struct trace_event *e = &r->ev[i & r->mask];
		t->ev[i - lo] =
			(struct ev){ .ns = (int64_t)load_relaxed(&e->ts),
				     .hdr = load_relaxed(&e->hdr),
				     .a = load_relaxed(&e->a),
				     .b = load_relaxed(&e->b) };
	}
	atomic_thread_fence(memory_order_acquire);
	h2 = load_relaxed(&r->head);
	/* Only a flight recorder overwrites: a full ring stops. */
	keep = load_relaxed(&tr.flight) && h2 > r->mask && h2 - r->mask > lo ?
		       h2 - r->mask :
		       lo;
	for (uint64_t i = keep; i < h1; i++) {
		struct ev v = t->ev[i - lo];

		if ((uint64_t)v.ns < m->raw0)
			continue; /* a late event of an old session */
		v.ns = to_ns(m, (uint64_t)v.ns);
		/* A clock that stepped back a little between cores (only the
		 * CLOCK_MONOTONIC fallback could) must not reorder a track. */
		if (n && v.ns < t->ev[n - 1].ns)
			v.ns = t->ev[n - 1].ns;
		t->ev[n++] = v;
	}
	t->n = n;
}

/* The track whose next event is the earliest, or -1 when all are done. */
static int earliest(const struct writer *w)
{
	int best = -1;

	for (unsigned i = 0; i < w->nt; i++) {
		const struct track *t = &w->t[i];
		if (t->next < t->n &&
		    (best < 0 ||
		     t->ev[t->next].ns < w->t[best].ev[w->t[best].next].ns))
			best = (int)i;
	}
	return best;
}

static size_t pow2_at_least(size_t n)
{
	size_t p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

/* Write the rings as JSON to fd.  0, LWP_ENOMEM or LWP_ESYS. */
static int write_json(int fd, bool in_signal)
{
	struct ring_set *set = set_now();
	struct writer w = { .fd = fd,
			    .in_signal = in_signal,
			    .ospid = (int)getpid(),
			    .set = set,
			    .nt = set->n };
	struct clock_map m = clock_map_now();
	size_t events = 0, bytes, off;
	char *mem;
	int64_t end = 0;
	int i;

	for (unsigned k = 0; k < set->n; k++)
		events += set->r[k]->mask + 1;
	w.pmask = pow2_at_least(2 * events) - 1;
	bytes = OUT_BUF + sizeof(struct track) * w.nt +
		sizeof(struct ev) * events +
		sizeof(struct pent) * (w.pmask + 1) + sizeof(*w.names) * NAMES +
		sizeof(struct fname) * FNCACHE;
	mem = scratch(bytes, 0);
	if (!mem)
		return LWP_ENOMEM;
	w.buf = mem;
	w.t = (struct track *)(void *)(mem + OUT_BUF);
	off = OUT_BUF + sizeof(struct track) * w.nt;
	for (unsigned k = 0; k < w.nt; k++) {
		w.t[k].ev = (struct ev *)(void *)(mem + off);
		off += sizeof(struct ev) * (set->r[k]->mask + 1);
		snapshot(set->r[k], &w.t[k], &m);
		if (w.t[k].n && w.t[k].ev[w.t[k].n - 1].ns > end)
			end = w.t[k].ev[w.t[k].n - 1].ns;
	}
	w.pids = (struct pent *)(void *)(mem + off);
	off += sizeof(struct pent) * (w.pmask + 1);
	w.names = (char(*)[LWP_NAME_MAX + 1])(void *)(mem + off);
	off += sizeof(*w.names) * NAMES;
	w.fcache = (struct fname *)(void *)(mem + off);

	metadata(&w);
	while ((i = earliest(&w)) >= 0) {
		struct track *t = &w.t[i];
		on_event(&w, t, i, &t->ev[t->next++]);
	}
	for (unsigned k = 0; k < w.nt; k++) { /* close what is still open */
		close_idle(&w, &w.t[k], (int)k, end);
		if (w.t[k].cur)
			slice_end(&w, (int)k, end, NULL);
	}
	out(&w, "\n]}\n");
	flush(&w);
	munmap(mem, bytes);
	return w.err;
}

/* Write the trace to fd from the start (a dump rewrites the file). */
static int dump_fd(int fd, bool in_signal)
{
	if (lseek(fd, 0, SEEK_SET) < 0 || ftruncate(fd, 0) < 0)
		return LWP_ESYS;
	return write_json(fd, in_signal);
}

/* One writer at a time: false if another runs. */
static bool dump_begin(void)
{
	return !atomic_exchange(&tr.dumping, true);
}

static void dump_end(void)
{
	atomic_store(&tr.dumping, false);
}

/* ---- rings: allocating, starting a session ------------------------------- */

static struct trace_ring *ring_new(size_t events)
{
	size_t bytes =
		sizeof(struct trace_ring) + events * sizeof(struct trace_event);
	/* Populated now, not at the first write of each page: a page fault
	 * costs as much as a few hundred events. */
	struct trace_ring *r = scratch(bytes, MAP_POPULATE);

	if (r) {
		r->mask = events - 1;
		r->bytes = bytes;
	}
	return r;
}

static void ring_free(struct trace_ring *r)
{
	munmap(r, r->bytes);
}

static void set_free(struct ring_set *set)
{
	for (unsigned i = 0; i < set->n; i++)
		ring_free(set->r[i]);
	free(set);
}

/* Under tr.lock, tracing off: rings of `events` for this run. */
static int rings_get(size_t events)
{
	struct ring_set *cur = set_now(), *set;
	unsigned n = rt.nscheds + 1;

	if (cur && cur->r[0]->mask + 1 == events)
		return 0;
	set = calloc(1, sizeof(*set) + n * sizeof(set->r[0]));
	if (!set)
		return LWP_ENOMEM;
	for (; set->n < n; set->n++) {
		set->r[set->n] = ring_new(events);
		if (!set->r[set->n]) {
			set_free(set);
			return LWP_ENOMEM;
		}
	}
	set->old = cur;
	atomic_store_explicit(&tr.set, set, memory_order_release);
	return 0;
}

static void on_dump_signal(int signo)
{
	int saved = errno;

	(void)signo;
	if (atomic_load(&tr.on) && dump_begin()) {
		(void)dump_fd(tr.fd, true);
		dump_end();
	}
	errno = saved;
}

static int check_opts(const char *path, const lwp_trace_opts *o)
{
	size_t ev = o->events;

	if (!path || !*path || (ev && (ev < EVENTS_MIN || ev > EVENTS_MAX)) ||
	    (o->signal &&
	     (fault_reserved(o->signal) || o->signal == info_dump_signal() ||
	      o->signal == preempt_signal_in_use())))
		return LWP_EINVAL;
	return 0;
}

/* Under tr.lock, the runtime running, no session on. */
static int start_locked(const char *path, const lwp_trace_opts *o)
{
	size_t events = o->events ? pow2_at_least(o->events) :
				    LWP_TRACE_EVENTS_DEFAULT;
	int fd, err;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return LWP_ESYS;
	err = rings_get(events);
	if (!err && o->signal) {
		struct sigaction sa = { .sa_handler = on_dump_signal,
					.sa_flags = SA_RESTART | SA_ONSTACK };
		sigemptyset(&sa.sa_mask);
		if (sigaction(o->signal, &sa, &tr.host))
			err = LWP_ESYS;
	}
	if (err) {
		close(fd);
		return err;
	}
	tr.fd = fd;
	tr.signo = o->signal;
	store_relaxed(&tr.flight, o->flight);
	store_relaxed(&tr.counter, counter_usable());
	for (unsigned i = 0; i < set_now()->n; i++) {
		struct trace_ring *r = set_now()->r[i];
		uint64_t h = load_relaxed(&r->head);

		store_relaxed(&r->start, h);
		store_relaxed(&r->dropped, 0);
		store_relaxed(&r->end,
			      o->flight ? UINT64_MAX : h + r->mask + 1);
	}
	tr.raw0 = clock_raw();
	tr.ns0 = timer_now();
	/* Release, each: the rings and settings above, for record() on the
	 * schedulers, for record_foreign() and a signal's dump (tr.on). */
	for (unsigned i = 0; i < rt.nscheds; i++)
		atomic_store_explicit(&rt.scheds[i].trace_ring, set_now()->r[i],
				      memory_order_release);
	atomic_store(&tr.on, true);
	trace_refresh();
	return 0;
}

/* Under tr.lock, a session on: end it, write the file. */
static int stop_locked(void)
{
	int err;

	atomic_store(&tr.on, false);
	for (unsigned i = 0; i < rt.nscheds; i++)
		store_relaxed(&rt.scheds[i].trace_ring, NULL);
	trace_refresh();
	if (tr.signo)
		sigaction(tr.signo, &tr.host, NULL);
	/* A signal's dump may be running: wait for it. */
	while (!dump_begin())
		sched_yield();
	err = dump_fd(tr.fd, false);
	dump_end();
	close(tr.fd);
	tr.fd = -1;
	tr.signo = 0;
	return err;
}

/* ---- the public API ------------------------------------------------------ */

/* Bracket an API call: the runtime's state and the session's lock. */
static int api_enter(struct proc *self)
{
	int err = rt_enter(self);

	if (!err)
		pthread_mutex_lock(&tr.lock);
	return err;
}

static void api_leave(struct proc *self)
{
	pthread_mutex_unlock(&tr.lock);
	rt_leave(self);
}

int lwp_trace_start(const char *path, const lwp_trace_opts *opts)
{
	lwp_trace_opts none = { 0 };
	struct proc *self = sched_current();
	int err;

	if (!LWP_TRACE)
		return LWP_ENOTSUP;
	if (!opts)
		opts = &none;
	err = check_opts(path, opts);
	if (!err)
		err = api_enter(self);
	if (err)
		return err;
	err = atomic_load(&tr.on) ? LWP_EBUSY : start_locked(path, opts);
	api_leave(self);
	return err;
}

int lwp_trace_stop(void)
{
	struct proc *self = sched_current();
	int err;

	if (!LWP_TRACE)
		return LWP_ENOTSUP;
	err = api_enter(self);
	if (err)
		return err;
	err = atomic_load(&tr.on) ? stop_locked() : LWP_EINVAL;
	api_leave(self);
	return err;
}

int lwp_trace_dump(const char *path)
{
	struct proc *self = sched_current();
	int err, fd;

	if (!LWP_TRACE)
		return LWP_ENOTSUP;
	if (path && !*path)
		return LWP_EINVAL;
	err = api_enter(self);
	if (err)
		return err;
	if (!atomic_load(&tr.on)) {
		err = LWP_EINVAL;
	} else if (!dump_begin()) {
		err = LWP_EBUSY;
	} else {
		fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				 0644) :
			    tr.fd;
		err = fd < 0 ? LWP_ESYS : dump_fd(fd, false);
		if (path && fd >= 0)
			close(fd);
		dump_end();
	}
	api_leave(self);
	return err;
}

/* ---- the runtime's side -------------------------------------------------- */

void trace_runtime_start(void)
{
	const char *path = getenv("LWP_TRACE");
	long events = env_positive("LWP_TRACE_EVENTS");
	lwp_trace_opts o = { .events = events > 0 ? (size_t)events : 0 };
	int err;

	if (!path || !*path)
		return;
	err = env_signal("LWP_TRACE_SIGNAL", &o.signal);
	if (!err)
		err = env_bool("LWP_TRACE_FLIGHT", false, &o.flight);
	if (!err)
		err = events < 0 ? LWP_EINVAL : check_opts(path, &o);
	if (!LWP_TRACE)
		err = LWP_ENOTSUP;
	if (!err) {
		pthread_mutex_lock(&tr.lock);
		err = start_locked(path, &o);
		pthread_mutex_unlock(&tr.lock);
	}
	if (err)
		fprintf(stderr, "lwp: LWP_TRACE=%s: %s; not tracing\n", path,
			lwp_strerror(err));
}

void trace_runtime_stop(void)
{
	pthread_mutex_lock(&tr.lock);
	if (atomic_load(&tr.on)) {
		int err = stop_locked();
		if (err)
			fprintf(stderr, "lwp: writing the trace: %s\n",
				lwp_strerror(err));
	}
	for (struct ring_set *set = set_now(), *old; set; set = old) {
		old = set->old;
		set_free(set);
	}
	atomic_store_explicit(&tr.set, NULL, memory_order_relaxed);
	pthread_mutex_unlock(&tr.lock);
}

void trace_crash(void)
{
	static _Atomic bool dumped; /* once, however many paths lead here */

	if (atomic_load(&tr.on) && load_relaxed(&tr.flight) &&
	    !atomic_exchange(&dumped, true) && dump_begin()) {
		(void)dump_fd(tr.fd, true);
		dump_end();
	}
}
