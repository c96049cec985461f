/*
 * proc.h - the process control block, the process table and pids.
 *
 * The table is type-stable: blocks are carved in chunks that are never
 * freed, so any thread holding a pid may read the slot it names at any time
 * and compare the slot's current pid with it.  A pid is (generation << 32 |
 * index); the generation is bumped each time a slot is freed, so a stale pid
 * never matches the slot's next process.
 */
#ifndef LWP_PROC_H
#define LWP_PROC_H

#include <stdint.h>

#include "arch.h"
#include "compiler.h"
#include "lwp.h"
#include "mailbox.h"
#include "stack.h"
#include "timer.h"

struct sched;
struct reg_name;

/* What the next context must do for a process that just switched out. */
enum proc_after {
	AFTER_NONE,
	AFTER_YIELD,  /* put it back on the run queue */
	AFTER_EXPIRE, /* budget spent: behind everything queued, also globally */
	AFTER_PREEMPT, /* preempted by signal: resumes on this thread only */
	AFTER_BLOCK,   /* block it in its mailbox unless a message arrived */
	AFTER_EXIT,    /* free its stack and its slot */
};

struct proc {
	/* Read or written by senders, possibly on other cores. */
	_Atomic lwp_pid pid; /* LWP_NOPID while the slot is free */
	struct mailbox mbox;
	/* Owner only, but rarely written, so they share the senders' line
	 * (failure.h): links, monitors, on-exit handlers, and a drained exit
	 * signal to die of.  Keeps the block at three lines. */
	struct proc_fail *fail;
	struct msg_hdr *exit_sig;
	/* How many links and monitors (its own) it has, for
	 * lwp_process_info(): stored by the owner as they change. */
	_Atomic uint32_t nlinks, nmonitors;

	/* Owner and scheduler only, but for the relaxed fields, which
	 * lwp_process_info() reads from anywhere. */
	cacheline_aligned arch_ctx ctx;
	struct proc *next; /* run queue link */
	void (*fn)(void *);
	void *arg;
	_Atomic uint64_t switches; /* times it switched out */
	_Atomic uint8_t after;	   /* enum proc_after: AFTER_NONE runs */
	_Atomic bool resched; /* a preemption was deferred: yield when able */
	_Atomic bool trap_exits;
	/* Runs a supervisor: set by itself, read by its callers
	 * (supervisor.c), cleared at spawn. */
	_Atomic bool supervisor;
	int16_t home;		   /* the scheduler it is pinned to, or -1 */
	_Atomic uint16_t sched_id; /* the scheduler it runs or last ran on */
	/* Not preemptible while > 0 (preempt.h); read by the preemption
	 * handler on the thread the process runs on. */
	int preempt_off;
	int last_error;
	uint32_t gen;
	uint32_t index; /* in the table */

	struct stack stack;
	struct timer timer;	       /* receive-after and sleep */
	struct reg_name *_Atomic name; /* registered name, if any */
#if LWP_TSAN
	void *tsan_fiber;
#endif
};

/* Pid fields. */
#define PID_INDEX(pid) ((uint32_t)((uint64_t)(pid)&0xffffffffu))
#define PID_GEN(pid)   ((uint32_t)((uint64_t)(pid) >> 32))

/* Per-scheduler cache of free slot indices. */
struct slot_cache {
	uint32_t idx[256];
	unsigned count;
};

/* A scheduler's part of the process count (proc.c).  Written by its owner
 * at every spawn and exit; read by whoever counts the processes, and the
 * reserve emptied by a spawn that finds the limit reached. */
struct proc_count {
	_Atomic uint64_t spawned, exited; /* ever, on this scheduler */
	_Atomic long reserve;		  /* units of the limit held here */
};

/* Start/stop the table for one run of the runtime. */
void proc_table_start(void);
void proc_table_stop(void);

/* The table: chunks of PROC_CHUNK_PROCS blocks, published with release
 * once initialised and never freed (proc.c). */
#define PROC_CHUNK_SHIFT 13
#define PROC_CHUNK_PROCS (1u << PROC_CHUNK_SHIFT)
#define PROC_NCHUNKS	 (LWP_MAX_PROCS_MAX >> PROC_CHUNK_SHIFT)
#define PROC_GEN_MAX	 0x7fffffffu /* pids stay positive */
extern lib_private struct proc *_Atomic proc_chunks[PROC_NCHUNKS];

/* Slots 0 .. proc_carved() - 1 have been initialised: a scan of the table
 * (info.c) looks at no other. */
uint32_t proc_carved(void);

/* The block of slot idx, or NULL if its chunk was never carved. */
static inline struct proc *proc_slot(uint32_t idx)
{
	struct proc *c = atomic_load_explicit(
		&proc_chunks[idx >> PROC_CHUNK_SHIFT], memory_order_acquire);
	return c ? &c[idx & (PROC_CHUNK_PROCS - 1)] : NULL;
}

/* p's pid, LWP_NOPID for none (a thread that is not a process, or the
 * scheduler's loop). */
static always_inline lwp_pid pid_of(const struct proc *p)
{
	return p ? atomic_load_explicit(&p->pid, memory_order_relaxed) :
		   LWP_NOPID;
}

/* Could pid name a process at all? */
static inline bool proc_pid_valid(lwp_pid pid)
{
	return pid > 0 && PID_GEN(pid) != 0 && PID_GEN(pid) <= PROC_GEN_MAX &&
	       PID_INDEX(pid) < LWP_MAX_PROCS_MAX;
}

/*
 * The live process named by pid.  LWP_EBADPID if pid cannot be a pid,
 * LWP_ENOPROC if its process has exited.  Inline: every send starts here.
 */
static inline must_check int proc_lookup(lwp_pid pid, struct proc **out)
{
	struct proc *p;

	if (!proc_pid_valid(pid))
		return LWP_EBADPID;
	p = proc_slot(PID_INDEX(pid));
	/* Acquire: pairs with the release in proc_spawn, so a sender sees an
	 * initialised process once it sees its pid. */
	if (!p || atomic_load_explicit(&p->pid, memory_order_acquire) != pid)
		return LWP_ENOPROC;
	*out = p;
	return 0;
}

struct spawn_ties;

/* Create a process (runnable) and return its pid or a negative error.
 * home: the scheduler to pin it to, or -1.  ties: links and monitors to
 * the caller it is born with (NULL: none). */
lwp_pid proc_spawn(void (*fn)(void *), void *arg, size_t stack_size, int home,
		   const struct spawn_ties *ties);

/* lwp_spawn_opt() tied to the calling process (failure.c, supervisor.c);
 * LWP_ENOTPROC outside one. */
lwp_pid proc_spawn_tied(void (*fn)(void *), void *arg,
			const lwp_spawn_opts *opts,
			const struct spawn_ties *ties);

/* End p (the caller) with reason r; report: p ends itself abnormally, and
 * an error report is due.  Never returns. */
_Noreturn void proc_exit(struct proc *p, const lwp_reason *r, bool report);

/* Return the slot and stack of a process that has switched out for good. */
void proc_reap(struct proc *p);

/* Live processes: never less than the true count, and exact when no spawn
 * or exit runs concurrently, so 0 means none is left. */
size_t proc_live(void);

#endif /* LWP_PROC_H */
