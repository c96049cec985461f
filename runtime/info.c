/*
 * info.c - see info.h.
 */
#include "info.h"

#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "failure.h"
#include "proc.h"
#include "registry.h"
#include "runtime.h"
#include "sched.h"

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

static void describe(struct proc *p, struct proc *self, lwp_proc_info *out)
{
	uintptr_t top = (uintptr_t)stack_top(&p->stack);
	uintptr_t sp = stack_pointer(p, self);
	uint16_t sched = load_relaxed(&p->sched_id);

	out->status = status_of(p);
	out->scheduler = sched == UINT16_MAX ? -1 : sched;
	out->home = p->home;
	out->mailbox = load_relaxed(&p->mbox.count);
	out->links = load_relaxed(&p->nlinks);
	out->monitors = load_relaxed(&p->nmonitors);
	out->trap_exits = load_relaxed(&p->trap_exits);
	out->switches = load_relaxed(&p->switches);
	out->fn = p->fn;
	out->stack_size = p->stack.size;
	out->stack_used = sp >= (uintptr_t)p->stack.lo && sp < top ? top - sp :
								     0;
}

int lwp_process_info(lwp_pid pid, lwp_proc_info *out)
{
	struct proc *self = sched_current();
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
		out->stack_resident = resident(p->stack.lo, p->stack.size);
		if (!registry_name_of(p, out->name))
			out->name[0] = '\0';
		/* Acquire: pairs with the release of the slot's next pid. */
		if (atomic_load_explicit(&p->pid, memory_order_acquire) != pid)
			err = LWP_ENOPROC;
	}
	rt_leave(self);
	return err;
}

/* Call fn(p, pid, arg) for each live process, in table order, until it
 * returns false. */
static void each_proc(bool (*fn)(struct proc *, lwp_pid, void *), void *arg)
{
	for (size_t c = 0; c < PROC_NCHUNKS; c++) {
		struct proc *chunk = atomic_load_explicit(&proc_chunks[c],
							  memory_order_acquire);
		if (!chunk)
			continue;
		for (size_t i = 0; i < PROC_CHUNK_PROCS; i++) {
			lwp_pid pid = atomic_load_explicit(
				&chunk[i].pid, memory_order_acquire);
			if (pid != LWP_NOPID && !fn(&chunk[i], pid, arg))
				return;
		}
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
	long written, total;
	int err;
};

static bool write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* "symbol+0x0" or "object+0x1234" for a function: a static function has
 * no dynamic symbol (dladdr's nearest one below would be another's name),
 * and addr2line finds it from the object's offset. */
static void fn_text(void (*fn)(void *), char *buf, size_t len)
{
	void *addr = (void *)(uintptr_t)fn;
	const ElfW(Sym) *sym = NULL;
	const char *base;
	Dl_info dl;

	if (!dladdr1(addr, &dl, (void **)&sym, RTLD_DL_SYMENT) ||
	    !dl.dli_fname) {
		snprintf(buf, len, "%p", addr);
	} else if (dl.dli_sname && sym &&
		   (char *)addr < (char *)dl.dli_saddr + sym->st_size) {
		snprintf(buf, len, "%s+%#lx", dl.dli_sname,
			 (unsigned long)((char *)addr - (char *)dl.dli_saddr));
	} else {
		base = strrchr(dl.dli_fname, '/');
		snprintf(buf, len, "%s+%#lx", base ? base + 1 : dl.dli_fname,
			 (unsigned long)((char *)addr - (char *)dl.dli_fbase));
	}
}

static bool dump_one(struct proc *p, lwp_pid pid, void *arg)
{
	struct dump *d = arg;
	lwp_proc_info in = { .pid = pid };
	char line[LWP_NAME_MAX + 256], fn[128], name[LWP_NAME_MAX + 1];
	int n;

	if ((size_t)d->total++ >= d->max)
		return true; /* only counted */
	describe(p, NULL, &in);
	fn_text(in.fn, fn, sizeof(fn));
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
	if (!write_all(d->fd, line,
		       (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1))
		d->err = LWP_ESYS;
	else
		d->written++;
	return d->err == 0;
}

long info_dump(int fd, size_t max, bool crash)
{
	static const char head[] =
		"pid              status   sched mailbox links  mons   "
		"switches   stack  reserved  function 'name'\n";
	struct dump d = { .fd = fd, .max = max, .crash = crash };
	char tail[96];

	if (!write_all(fd, head, sizeof(head) - 1))
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
	n = info_dump(fd, SIZE_MAX, false);
	rt_leave(self);
	return n;
}
