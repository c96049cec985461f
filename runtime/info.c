/*
 * info.c - see info.h.
 */
#include "info.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "env.h"
#include "failure.h"
#include "fault.h"
#include "fdio.h"
#include "proc.h"
#include "registry.h"
#include "runtime.h"
#include "sched.h"
#include "symbol.h"
#include "unwind.h"

static const char *const status_names[] = {
	[LWP_STATUS_RUNNING] = "running",
	[LWP_STATUS_RUNNABLE] = "runnable",
	[LWP_STATUS_WAITING] = "waiting",
	[LWP_STATUS_EXITING] = "exiting",
};

const char *lwp_status_name(int status)
{
	if (status < LWP_STATUS_RUNNING || status > LWP_STATUS_EXITING)
		return NULL;
	return status_names[status];
}

/* From what the process and its scheduler last said (sched.c): AFTER_NONE
 * while it runs, why it switched out otherwise; a blocked one is waiting
 * only once its inbox says so, a closed inbox means it is exiting. */
static lwp_status status_of(struct proc *p)
{
	uintptr_t inbox = load_relaxed(&p->mbox.inbox);

	if (inbox & INBOX_CLOSED)
		return LWP_STATUS_EXITING;
	switch (load_relaxed(&p->after)) {
	case AFTER_NONE:
		return LWP_STATUS_RUNNING;
	case AFTER_EXIT:
		return LWP_STATUS_EXITING;
	case AFTER_BLOCK:
		if (inbox & INBOX_WAITING)
			return LWP_STATUS_WAITING;
		break;
	}
	return LWP_STATUS_RUNNABLE;
}

/* Pages of [lo, lo + size) in memory, in bytes; 0 if mincore fails (the
 * stack went back to its pool and was released meanwhile). */
static size_t resident(const void *lo, size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 0;
	unsigned char vec[256];

	for (size_t off = 0; off < size; off += sizeof(vec) * page) {
		size_t len = size - off < sizeof(vec) * page ?
				     size - off :
				     sizeof(vec) * page;
		if (mincore((char *)lo + off, len, vec) != 0)
			return 0;
		for (size_t i = 0; i < (len + page - 1) / page; i++)
			n += vec[i] & 1;
	}
	return n * page;
}

/* The stack pointer p switched out with, or the caller's own. */
static uintptr_t stack_pointer(struct proc *p, struct proc *self)
{
	if (p == self)
		return (uintptr_t)__builtin_frame_address(0);
	/* Stored by arch_switch, out of the compiler's sight. */
	return (uintptr_t)__atomic_load_n(&p->ctx.sp, __ATOMIC_RELAXED);
}

/* What a reader may take of p's stack, and of p->fn and p->home: the
 * slot may be being reused meanwhile (proc.c stores them relaxed; the
 * caller checks the pid again and drops what it read). */
static struct stack stack_of(struct proc *p)
{
	return (struct stack){
		.lo = __atomic_load_n(&p->stack.lo, __ATOMIC_RELAXED),
		.size = __atomic_load_n(&p->stack.size, __ATOMIC_RELAXED),
	};
}

static void describe(struct proc *p, struct proc *self, lwp_proc_info *out)
{
	struct stack st = stack_of(p);
	uintptr_t top = (uintptr_t)stack_top(&st);
	uintptr_t sp = stack_pointer(p, self);
	uint16_t sched = load_relaxed(&p->sched_id);

	out->status = status_of(p);
	out->scheduler = sched == UINT16_MAX ? -1 : sched;
	out->home = __atomic_load_n(&p->home, __ATOMIC_RELAXED);
	out->mailbox = load_relaxed(&p->mbox.count);
	out->links = load_relaxed(&p->nlinks);
	out->monitors = load_relaxed(&p->nmonitors);
	out->trap_exits = load_relaxed(&p->trap_exits);
	out->switches = load_relaxed(&p->switches);
	out->fn = __atomic_load_n(&p->fn, __ATOMIC_RELAXED);
	out->stack_size = st.size;
	out->stack_used = sp >= (uintptr_t)st.lo && sp < top ? top - sp : 0;
}

/* ---- backtraces ---------------------------------------------------------- */

/* What frames_of() found instead of frames. */
enum {
	FRAMES_RUNNING = -1, /* on a scheduler now: its stack is in use */
	FRAMES_MOVED = -2,   /* it ran while being walked: frames discarded */
	FRAMES_EXITING = -3, /* its stack is being given back */
};

/* Has p (pid) run since its (switches, sp) were read?  Acquire fence: the
 * walk's reads of its stack come before these loads. */
static bool moved_on(struct proc *p, lwp_pid pid, uint64_t switches, void *sp)
{
	atomic_thread_fence(memory_order_acquire);
	return load_relaxed(&p->switches) != switches ||
	       load_relaxed(&p->after) == AFTER_NONE ||
	       __atomic_load_n(&p->ctx.sp, __ATOMIC_RELAXED) != sp ||
	       load_relaxed(&p->pid) != pid;
}

/*
 * The return addresses of p (pid) where it is suspended, innermost first:
 * their number, or FRAMES_*.  The caller's own (p == self) from here.
 *
 * Nothing stops p meanwhile: another scheduler may resume it and overwrite
 * the frames being read.  The walk cannot fault (unwind.h: bounded by p's
 * stack, and a fault ends it), and what it read counts only if p did not
 * switch meanwhile: its switch count, its saved stack pointer and its pid
 * are the same after the walk as before, and it is not running.  A switch
 * in progress (the count stored, the frame not yet) can still slip
 * through: the frames are then an older suspension's, which is harmless
 * in a diagnostic.
 */
static int frames_of(struct proc *p, lwp_pid pid, struct proc *self,
		     uintptr_t *pcs, int cap, uint64_t *sigframes)
{
	struct stack st;
	uint64_t switches;
	uint8_t after;
	void *sp;
	int n;

	if (p == self)
		return unwind_here(pcs, cap, sigframes);
	/* Acquire: the walk's reads stay after this one. */
	switches = atomic_load_explicit(&p->switches, memory_order_acquire);
	after = load_relaxed(&p->after);
	sp = __atomic_load_n(&p->ctx.sp, __ATOMIC_RELAXED);
	if (after == AFTER_NONE)
		return FRAMES_RUNNING;
	if (after == AFTER_EXIT)
		return FRAMES_EXITING;
	st = stack_of(p);
	n = unwind_suspended((uintptr_t)sp, (uintptr_t)st.lo,
			     (uintptr_t)stack_top(&st), pcs, cap, sigframes);
	if (n < 0 || moved_on(p, pid, switches, sp))
		return FRAMES_MOVED;
	return n;
}

long lwp_process_backtrace(lwp_pid pid, void **frames, size_t cap)
{
	struct proc *self = sched_current();
	uintptr_t pcs[UNWIND_FRAMES * 4];
	struct proc *p;
	int err, n = 0;

	if (!frames && cap)
		return LWP_EINVAL;
	if (!unwind_available())
		return LWP_ENOTSUP;
	err = rt_enter(self);
	if (err)
		return err;
	err = proc_lookup(pid, &p);
	if (!err) {
		n = frames_of(p, pid, self, pcs,
			      cap < ARRAY_SIZE(pcs) ? (int)cap :
						      (int)ARRAY_SIZE(pcs),
			      NULL);
		if (n == FRAMES_EXITING ||
		    atomic_load_explicit(&p->pid, memory_order_acquire) != pid)
			err = LWP_ENOPROC;
		else if (n < 0)
			err = LWP_EBUSY;
	}
	rt_leave(self);
	if (err)
		return err;
	for (int i = 0; i < n; i++)
		frames[i] = (void *)pcs[i];
	return n;
}

int lwp_process_info(lwp_pid pid, lwp_proc_info *out)
{
	struct proc *self = sched_current();
	struct stack st;
	struct proc *p;
	int err;

	if (!out)
		return LWP_EINVAL;
	err = rt_enter(self);
	if (err)
		return err;
	err = proc_lookup(pid, &p);
	if (!err) {
		memset(out, 0, sizeof(*out));
		out->pid = pid;
		if (p == self) { /* exact: take what arrived first */
			mailbox_drain(&p->mbox, pid);
			failure_act(p);
		}
		describe(p, self, out);
		st = stack_of(p);
		out->stack_resident = resident(st.lo, st.size);
		if (!registry_name_of(p, out->name))
			out->name[0] = '\0';
		/* The seqlock's check (proc.c, set_stack): the fence orders
		 * the field loads above before the pid's. */
		atomic_thread_fence(memory_order_acquire);
		if (load_relaxed(&p->pid) != pid)
			err = LWP_ENOPROC;
	}
	rt_leave(self);
	return err;
}

/* Call fn(p, pid, arg) for each live process, in table order, until it
 * returns false. */
static void each_proc(bool (*fn)(struct proc *, lwp_pid, void *), void *arg)
{
	uint32_t n = proc_carved();

	for (uint32_t i = 0; i < n; i++) {
		struct proc *p = proc_slot(i);
		lwp_pid pid =
			atomic_load_explicit(&p->pid, memory_order_acquire);
		if (pid != LWP_NOPID && !fn(p, pid, arg))
			return;
	}
}

struct pid_list {
	lwp_pid *out;
	size_t cap;
	long n;
};

static bool list_one(struct proc *p, lwp_pid pid, void *arg)
{
	struct pid_list *l = arg;

	(void)p;
	if ((size_t)l->n < l->cap)
		l->out[l->n] = pid;
	l->n++;
	return true;
}

long lwp_processes(lwp_pid *out, size_t cap)
{
	struct proc *self = sched_current();
	struct pid_list l = { out, cap, 0 };
	int err;

	if (!out && cap)
		return LWP_EINVAL;
	err = rt_enter(self);
	if (err)
		return err;
	each_proc(list_one, &l);
	rt_leave(self);
	return l.n;
}

/* ---- the dump ------------------------------------------------------------ */

struct dump {
	int fd;
	size_t max;
	bool crash;
	struct proc *self;
	long written, total;
	int err;
};

/* "symbol+0x0" or "object+0x1234" for a code address, its offset
 * printed plus adj: a static function has no dynamic symbol (dladdr's
 * nearest one below would be another's name), and addr2line finds it
 * from the object's offset. */
static void addr_text(void *addr, unsigned long adj, char *buf, size_t len)
{
	struct symbol_dl dl;
	const char *base;

	if (!symbol_dladdr((uintptr_t)addr, &dl)) {
		snprintf(buf, len, "%p", (void *)((char *)addr + adj));
	} else if (dl.name) {
		snprintf(buf, len, "%s+0x%lx", dl.name,
			 (unsigned long)dl.off + adj);
	} else {
		base = strrchr(dl.object, '/');
		snprintf(buf, len, "%s+0x%lx", base ? base + 1 : dl.object,
			 (unsigned long)dl.obj_off + adj);
	}
}

/* A return address as text.  It is looked up one byte back, inside the
 * call: a call to a function that does not return may be the last
 * instruction of its function.  exact: an interrupted instruction's
 * address, looked up as it is.  Outside a crash the ELF symbol table
 * names static functions too (symbol.h); in a crash only dladdr, whose
 * lock is the one backtrace_symbols_fd takes. */
static void pc_text(uintptr_t pc, bool exact, bool crash, char *buf, size_t len)
{
	uintptr_t back = exact ? 0 : 1, off;

	if (!crash && pc && symbol_find(pc - back, buf, len, &off)) {
		size_t n = strlen(buf);
		snprintf(buf + n, len - n, "+0x%lx",
			 (unsigned long)(off + back));
		return;
	}
	addr_text((void *)(pc - back), back, buf, len);
}

static bool put(struct dump *d, const char *line, int n, size_t size)
{
	if (n < 0)
		return true;
	if (!write_all(d->fd, line, (size_t)n < size ? (size_t)n : size - 1)) {
		d->err = LWP_ESYS;
		return false;
	}
	return true;
}

static bool put_str(struct dump *d, const char *s)
{
	return put(d, s, (int)strlen(s), SIZE_MAX);
}

/* p's backtrace under its line, or why there is none. */
static void dump_frames(struct dump *d, struct proc *p, lwp_pid pid, int sched)
{
	uintptr_t pcs[UNWIND_FRAMES];
	char line[LWP_NAME_MAX + 256], where[LWP_NAME_MAX + 200];
	uint64_t sig;
	int n = frames_of(p, pid, d->self, pcs, UNWIND_FRAMES, &sig), len;

	switch (n) {
	case FRAMES_RUNNING:
		len = snprintf(line, sizeof(line),
			       "    running on scheduler %d\n", sched);
		put(d, line, len, sizeof(line));
		return;
	case FRAMES_MOVED:
		put_str(d, "    (ran while being walked: no backtrace)\n");
		return;
	case FRAMES_EXITING:
		return;
	}
	for (int i = 0; i < n && !d->err; i++) {
		/* Interrupted by a signal: the instruction itself, below
		 * the trampoline's frame. */
		bool exact = sig >> i & 1;
		pc_text(pcs[i], exact, d->crash, where, sizeof(where));
		len = snprintf(line, sizeof(line), "    #%-2d %#014lx %s%s\n",
			       i, (unsigned long)pcs[i], where,
			       i < 63 && (sig >> (i + 1) & 1) ?
				       " <signal frame>" :
				       "");
		put(d, line, len, sizeof(line));
	}
	if (n == UNWIND_FRAMES && !d->err)
		put_str(d, "    ...\n");
}

static bool dump_one(struct proc *p, lwp_pid pid, void *arg)
{
	struct dump *d = arg;
	lwp_proc_info in = { .pid = pid };
	char line[LWP_NAME_MAX + 256], fn[128], name[LWP_NAME_MAX + 1];
	int n;

	if ((size_t)d->total++ >= d->max)
		return true; /* only counted */
	describe(p, d->self, &in);
	pc_text((uintptr_t)in.fn, true, d->crash, fn, sizeof(fn));
	if (!(d->crash ? registry_name_peek(p, name) :
			 registry_name_of(p, name)))
		name[0] = '\0';
	n = snprintf(line, sizeof(line),
		     "%-16s %-8s %5d %7ld %5u %5u %10llu %7zu %8zu  %s%s%s%s\n",
		     lwp_pid_str(pid).s, lwp_status_name((int)in.status),
		     in.scheduler, in.mailbox, in.links, in.monitors,
		     (unsigned long long)in.switches, in.stack_used,
		     in.stack_size, fn, name[0] ? " '" : "", name,
		     name[0] ? "'" : "");
	if (put(d, line, n, sizeof(line))) {
		d->written++;
		dump_frames(d, p, pid, in.scheduler);
	}
	return d->err == 0;
}

long info_dump(int fd, size_t max, bool crash, struct proc *self)
{
	static const char head[] =
		"pid              status   sched mailbox links  mons   "
		"switches   stack  reserved  function 'name'\n";
	static const char no_unwind[] =
		"(backtraces are unavailable in this build, no libunwind: "
		"only the function each process switched out in)\n";
	struct dump d = { .fd = fd, .max = max, .crash = crash, .self = self };
	char tail[96];

	if (!write_all(fd, head, sizeof(head) - 1) ||
	    (!unwind_available() &&
	     !write_all(fd, no_unwind, sizeof(no_unwind) - 1)))
		return LWP_ESYS;
	each_proc(dump_one, &d);
	if (d.err)
		return d.err;
	if (d.total > d.written) {
		int n = snprintf(tail, sizeof(tail), "... and %ld more\n",
				 d.total - d.written);
		if (!write_all(fd, tail, (size_t)n))
			return LWP_ESYS;
	}
	return d.written;
}

long lwp_process_dump(int fd)
{
	struct proc *self = sched_current();
	long n;
	int err = rt_enter(self);

	if (err)
		return err;
	n = info_dump(fd, SIZE_MAX, false, self);
	rt_leave(self);
	return n;
}

/* ---- the dump on a signal ------------------------------------------------ */

/*
 * The handler only posts a semaphore (async-signal-safe); a thread of the
 * runtime's waits on it and writes the dump to stderr.  The dump itself
 * takes the registry's lock, the dynamic loader's (dladdr, the unwinder's
 * tables) and maps files (symbol.c): none of that may run in whatever code
 * the signal interrupted.
 */
static struct {
	int signo; /* while started, else 0 */
	pthread_t thread;
	sem_t wake;
	_Atomic bool quit;
	struct sigaction host; /* the disposition we replaced */
} sig;

int info_config(const lwp_config *cfg, int preempt_signo, int *signo)
{
	int err = 0;

	if (cfg && cfg->dump_signal)
		*signo = cfg->dump_signal;
	else
		err = env_signal("LWP_DUMP_SIGNAL", signo);
	if (err ||
	    (*signo && (fault_reserved(*signo) || *signo == preempt_signo)))
		return LWP_EINVAL;
	return 0;
}

static void on_dump_signal(int signo)
{
	int saved = errno;

	(void)signo;
	sem_post(&sig.wake);
	errno = saved;
}

static void *dump_thread(void *arg)
{
	static const char head[] = "=PROCESS DUMP====\n";

	(void)arg;
	for (;;) {
		while (sem_wait(&sig.wake) != 0)
			; /* EINTR */
		if (atomic_load(&sig.quit))
			return NULL;
		/* Not in rt_enter: teardown waits for the dump to finish. */
		if (rt_enter_foreign() != 0)
			continue;
		if (write_all(STDERR_FILENO, head, sizeof(head) - 1))
			(void)info_dump(STDERR_FILENO, SIZE_MAX, false, NULL);
		rt_leave_foreign();
	}
}

int info_start(int signo)
{
	struct sigaction sa = { .sa_handler = on_dump_signal,
				.sa_flags = SA_RESTART };
	sigset_t all, old;
	int err;

	unwind_init();
	if (!signo)
		return 0;
	if (sem_init(&sig.wake, 0, 0) != 0)
		return LWP_ESYS;
	atomic_store(&sig.quit, false);
	/* The thread takes no signal of its own: the dump signal and the
	 * preemption signal go to the threads that handle them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&sig.thread, NULL, dump_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		sem_destroy(&sig.wake);
		return LWP_ESYS;
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(signo, &sa, &sig.host) != 0) {
		info_stop();
		return LWP_ESYS;
	}
	sig.signo = signo;
	return 0;
}

void info_stop(void)
{
	if (sig.signo)
		sigaction(sig.signo, &sig.host, NULL);
	sig.signo = 0;
	if (!sig.thread)
		return;
	atomic_store(&sig.quit, true);
	sem_post(&sig.wake);
	pthread_join(sig.thread, NULL);
	sem_destroy(&sig.wake);
	sig.thread = 0;
}

int info_dump_signal(void)
{
	return sig.signo;
}
