/*
 * lwp.h - Erlang-style lightweight processes for C.
 *
 * This header is the whole public API of liblwp and its manual.
 *
 * A program starts the runtime with lwp_main(), which runs a first process
 * and returns when the runtime stops.  Processes are plain C functions
 * running on small stacks of their own; they are cheap (a few KiB each, so
 * millions fit in memory), they share nothing by default, and they talk by
 * sending messages:
 *
 *     static void echo(void *arg)
 *     {
 *         lwp_msg *m = lwp_receive(NULL, NULL, LWP_INFINITY);
 *         lwp_send(m->from, m->tag, m->data, m->size);   // reply
 *         lwp_msg_free(m);
 *     }
 *
 *     static void first(void *arg)
 *     {
 *         lwp_pid p = lwp_spawn(echo, NULL);
 *         lwp_send(p, 42, "hi", 3);
 *         lwp_msg *r = lwp_receive_from(p, LWP_INFINITY);
 *         printf("%s\n", (char *)r->data);               // prints "hi"
 *         lwp_msg_free(r);
 *     }
 *
 *     int main(void) { return lwp_main(NULL, first, NULL) < 0; }
 *
 * Conventions used throughout:
 *  - A function that can fail returns a negative LWP_E* code (lwp_strerror()
 *    names it); 0 or a non-negative value means success.  Functions that
 *    return a pointer return NULL on failure and leave the code for
 *    lwp_last_error().  The runtime never aborts on a caller's bad input, and
 *    a failed call changes nothing.
 *  - Times are int64_t nanoseconds.  A timeout of 0 polls, LWP_INFINITY waits
 *    forever; any other negative value is LWP_EINVAL.
 *  - "Inside a process" means called from code running as an lwp process.
 *    lwp_send(), lwp_spawn() and the registry also work from any other
 *    thread (a thread the runtime does not own) while the runtime runs.
 *  - Thread-local storage.  Processes run on one scheduler thread per core,
 *    and a process that is not pinned (lwp_spawn_opts.scheduler) may resume
 *    on another thread after any lwp_* call (receive, sleep, yield, send,
 *    spawn...).  Compilers may keep the address of a thread-local variable
 *    across such a call - errno's too, since glibc declares
 *    __errno_location() const - so a process must not hold on to
 *    thread-local state across them.  errno itself is saved and restored
 *    per process, so a pinned process (or one on a runtime with one
 *    scheduler) keeps its own errno across calls.  Preemption (below)
 *    never moves a process to another thread.  docs/PREEMPTION.md has the
 *    whole story.
 */
#ifndef LWP_H
#define LWP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LWP_API	      __attribute__((visibility("default")))
#define LWP_NODISCARD __attribute__((warn_unused_result))
#else
#define LWP_API
#define LWP_NODISCARD
#endif

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

enum {
	LWP_OK = 0,
	LWP_EINVAL =
		-1, /* an argument is invalid (NULL function, bad timeout, ...) */
	LWP_ENOPROC =
		-2, /* no such process: it has exited (or never existed) */
	LWP_EBADPID =
		-3, /* the value is not a pid at all (zero, negative, malformed) */
	LWP_ENOTPROC = -4, /* must be called from inside a process */
	LWP_ENOMEM = -5, /* out of memory (payload too large, no stack, ...) */
	LWP_ELIMIT =
		-6, /* the process limit (lwp_config.max_procs) is reached */
	LWP_ENAME = -7,	      /* a name is empty or longer than LWP_NAME_MAX */
	LWP_ENAMETAKEN = -8,  /* the name is registered already */
	LWP_EREGISTERED = -9, /* the process has a registered name already */
	LWP_ENOTREG = -10,    /* no process is registered under that name */
	LWP_ERUNNING =
		-11, /* the runtime is running already (lwp_main called twice) */
	LWP_ENOTRUNNING = -12, /* the runtime is not running */
	LWP_ETIMEDOUT = -13,   /* a receive timed out (see lwp_last_error()) */
	LWP_ESYS =
		-14, /* the operating system refused (thread, mmap, signal) */
	LWP_ENOTIMER = -15,	 /* no such timer: it fired or was cancelled */
	LWP_ENOTSUP = -16,	 /* not a supervisor; not in this build */
	LWP_ENOCHILD = -17,	 /* the supervisor has no child with that id */
	LWP_EDUPCHILD = -18,	 /* the supervisor has a child with that id */
	LWP_ECHILDRUNNING = -19, /* the child is running (restart, delete) */
	LWP_EBUSY = -20, /* busy: a trace is on already, or being written */
};

/* A static, human-readable name for an LWP_E* code ("no such process"). */
LWP_API const char *lwp_strerror(int err);

/*
 * The reason the last call that returned NULL (lwp_receive*, lwp_msg_alloc)
 * failed: LWP_ETIMEDOUT, LWP_EINVAL, LWP_ENOTPROC, LWP_ENOMEM...  Kept per
 * process (per thread outside processes); LWP_OK after a success.
 */
LWP_API int lwp_last_error(void);

/* ------------------------------------------------------------------------ */
/* Pids                                                                      */
/* ------------------------------------------------------------------------ */

/*
 * A process identifier.  A valid pid is > 0; it names one process for ever:
 * it carries the generation (serial) of its slot in the process table, so a
 * pid of an exited process never reaches a later process that reuses the
 * slot.  Functions returning an lwp_pid return a negative LWP_E* code on
 * failure.  Pids print as Erlang's do: <0.ID.SERIAL>.
 */
typedef int64_t lwp_pid;

#define LWP_NOPID \
	((lwp_pid)0) /* "no process": a message from a foreign thread */

/* Big enough for any pid's text, with its NUL: "<0.4294967295.2147483647>". */
typedef struct lwp_pid_text {
	char s[32];
} lwp_pid_text;

/* The pid as text, for printf("%s", lwp_pid_str(p).s).  A bad pid prints as
 * "<bad pid>". */
LWP_API lwp_pid_text lwp_pid_str(lwp_pid pid);

/* ------------------------------------------------------------------------ */
/* The runtime                                                               */
/* ------------------------------------------------------------------------ */

#define LWP_INFINITY ((int64_t)-1)

/* Everything zero means "the default"; pass NULL for all defaults. */
typedef struct lwp_config {
	/* Scheduler threads.  0: the environment's LWP_SCHEDULERS if set,
	 * else one per core (per hardware thread with per_thread) of the
	 * CPUs this program may use, lowered to a cgroup CPU quota. */
	unsigned schedulers;
	/* Bind each scheduler thread to its core.  LWP_PIN_DEFAULT: the
	 * environment's LWP_PIN (0 or 1) if set, else on.  Turn it off when
	 * several pinned programs share a machine. */
	int pin;
	/* One scheduler per hardware thread rather than per physical core. */
	bool per_thread;
	/* Default stack size of a process, in bytes, rounded up to pages.
	 * 0: LWP_STACK_DEFAULT.  Only the pages a process touches use memory. */
	size_t stack_size;
	/* Most processes alive at once.  0: LWP_MAX_PROCS_DEFAULT. */
	uint32_t max_procs;
	/* How long a process may run without a runtime call before it is
	 * preempted (see Preemption).  0: LWP_TIMESLICE_DEFAULT;
	 * LWP_INFINITY: never (processes give way only at runtime calls);
	 * otherwise LWP_TIMESLICE_MIN..LWP_TIMESLICE_MAX. */
	int64_t timeslice_ns;
	/* The signal that preempts.  0: SIGURG.  Not one the kernel sends
	 * for faults (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS),
	 * SIGABRT, SIGKILL, SIGSTOP or glibc's internal ones. */
	int preempt_signal;
	/* A process that faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL or abort())
	 * in its own code ends with LWP_EXIT_FAULT, and the rest runs on.
	 * Default (false), and always for faults inside the runtime, libc or
	 * a lwp_preempt_disable() region, which may hold locks: print a crash
	 * report (the process, a backtrace, the process table) and abort.
	 * A stack overflow ends only the process either way.  The
	 * environment's LWP_ISOLATE_FAULTS=1 also turns it on. */
	bool isolate_faults;
	/* Write the process dump (lwp_process_dump()) to stderr when this
	 * signal arrives, as a JVM does its thread dump on SIGQUIT.  0: the
	 * environment's LWP_DUMP_SIGNAL if set ("QUIT", "SIGQUIT" or a
	 * number; "0": none), else none.  Not the preemption signal, nor one
	 * preempt_signal may not be; a bad value makes lwp_main() and
	 * lwp_start() fail with LWP_EINVAL.  The host's disposition of the
	 * signal comes back when the runtime stops.  A flight-recorder trace
	 * (lwp_trace_opts.signal) cannot take the same signal. */
	int dump_signal;
} lwp_config;

enum {
	LWP_PIN_DEFAULT = 0,
	LWP_PIN_ON = 1,
	LWP_PIN_OFF = -1
};

#define LWP_SCHEDULERS_MAX    1024u
#define LWP_STACK_DEFAULT     ((size_t)64 * 1024)
#define LWP_STACK_MIN	      ((size_t)16 * 1024)
#define LWP_STACK_MAX	      ((size_t)1024 * 1024 * 1024)
#define LWP_MAX_PROCS_DEFAULT (1u << 22) /* 4,194,304 */
#define LWP_MAX_PROCS_MAX     (1u << 28)
#define LWP_TIMESLICE_DEFAULT ((int64_t)1000000)     /* 1 ms */
#define LWP_TIMESLICE_MIN     ((int64_t)10000)	     /* 10 us */
#define LWP_TIMESLICE_MAX     ((int64_t)10000000000) /* 10 s */

/*
 * Start the runtime on the calling thread, run fn(arg) as the first
 * process, and return when the runtime stops: when no process is left, or
 * when a process calls lwp_stop().  Returns 0, or LWP_ERUNNING if the
 * runtime is running already, LWP_EINVAL for a NULL fn or a config value out
 * of range, LWP_ENOMEM / LWP_ESYS if it cannot get its resources.  The
 * runtime can be started again after it stopped.  The calling thread is
 * scheduler 0 meanwhile: its CPU binding is restored at the end; with
 * jemalloc it keeps allocating from scheduler 0's arena afterwards.
 */
LWP_API int lwp_main(const lwp_config *cfg, void (*fn)(void *), void *arg);

/*
 * Embedding: start the runtime on threads of its own and return at once,
 * leaving the calling thread to the host program.  Any thread may then
 * spawn and send; lwp_stop() ends it.  Errors as lwp_main().
 */
LWP_API int lwp_start(const lwp_config *cfg);

/*
 * Stop the runtime.  Processes still alive are discarded without running
 * further; messages in their mailboxes are freed, but what a process holds
 * itself (a received message not yet freed, memory it allocated) is not.
 * From a process, or while lwp_main() runs: asks, and returns at once
 * (lwp_main() returns once every scheduler has left its process).  A
 * process that asks is discarded too, at its next switch: a call that
 * blocks or yields, or a preemption, which may come before lwp_stop()
 * returns; code that must run after the request belongs in a
 * lwp_preempt_disable() region.
 * After lwp_start(), from a thread that is not a scheduler: asks, waits
 * until every scheduler thread has ended and the runtime's resources are
 * freed, and returns; this is how the host ends it, and it may then start
 * it again.  LWP_ENOTRUNNING if it is not running.  The runtime is stopped
 * even when it returns LWP_ESYS or LWP_ENOMEM: a scheduler thread could
 * not set itself up (its signal stack), so its pinned processes never ran.
 */
LWP_API int lwp_stop(void);

/* Scheduler threads of the running runtime (0 when it is not running). */
LWP_API unsigned lwp_scheduler_count(void);

/* Index (0 ..  lwp_scheduler_count() - 1) of the scheduler running the
 * caller, or LWP_ENOTPROC outside a process.  A process that is not pinned
 * may move between schedulers at any runtime call. */
LWP_API int lwp_scheduler_id(void);

/* Live processes right now (0 when the runtime is not running). */
LWP_API size_t lwp_process_count(void);

/* ------------------------------------------------------------------------ */
/* Processes                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct lwp_spawn_opts {
	/* Stack size in bytes (LWP_STACK_MIN..LWP_STACK_MAX); 0: the runtime's
	 * default (lwp_config.stack_size). */
	size_t stack_size;
	/* LWP_ON_SCHEDULER(i): run only on scheduler i, never stolen.
	 * 0: anywhere, and idle schedulers may steal it. */
	unsigned scheduler;
} lwp_spawn_opts;

#define LWP_ON_SCHEDULER(i) ((unsigned)(i) + 1u)

/*
 * Create a process running fn(arg) and return its pid.  The new process is
 * runnable at once; the caller keeps running.  When fn returns, the process
 * exits normally.  Errors: LWP_EINVAL (NULL fn, bad stack size, no such
 * scheduler),
 * LWP_ELIMIT, LWP_ENOMEM, LWP_ENOTRUNNING.
 */
LWP_API lwp_pid lwp_spawn(void (*fn)(void *), void *arg);
LWP_API lwp_pid lwp_spawn_opt(void (*fn)(void *), void *arg,
			      const lwp_spawn_opts *opts);

/* The calling process's pid, or LWP_ENOTPROC outside a process. */
LWP_API lwp_pid lwp_self(void);

/* Is pid a live process?  False for bad and dead pids. */
LWP_API bool lwp_is_alive(lwp_pid pid);

/*
 * Exit reasons.  A process ends with a reason: a code and a short text.
 * LWP_EXIT_NORMAL is the only normal one; every other code, the runtime's
 * below and any of the user's own (use positive ones), is abnormal.
 */
enum {
	LWP_EXIT_NORMAL = 0,
	/* The process ran into the guard region below its stack. */
	LWP_EXIT_STACK_OVERFLOW = -1000,
	/* Only as lwp_kill()'s reason: ends the process whether it traps
	 * exits or not; its links then see LWP_EXIT_KILLED. */
	LWP_EXIT_KILL = -1001,
	/* The process was ended by LWP_EXIT_KILL. */
	LWP_EXIT_KILLED = -1002,
	/* The process to link or monitor did not exist (already exited). */
	LWP_EXIT_NOPROC = -1003,
	/* Asked to stop (by a supervisor); abnormal, but never reported. */
	LWP_EXIT_SHUTDOWN = -1004,
	/* A fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL, abort()) in the process's
	 * own code, isolated to it (lwp_config.isolate_faults); the text
	 * names the signal and the address. */
	LWP_EXIT_FAULT = -1005,
};

#define LWP_REASON_TEXT_MAX 63 /* bytes of a reason's text, without NUL */

typedef struct lwp_reason {
	int code;
	char text[LWP_REASON_TEXT_MAX + 1]; /* "" when none was given */
} lwp_reason;

/* The name of a reason code: "normal", "kill", "killed", "noproc",
 * "stack_overflow", "shutdown", "fault", or NULL for a user code. */
LWP_API const char *lwp_reason_name(int code);

/* Write a reason as text ("normal", "{1,\"boom!\"}", ...) into buf
 * (snprintf rules; returns the length it needs). */
LWP_API int lwp_reason_format(const lwp_reason *r, char *buf, size_t len);

/*
 * End the calling process with reason code (LWP_EXIT_NORMAL, or any
 * abnormal code but LWP_EXIT_KILL).  On-exit handlers run (newest first),
 * its unreceived messages are freed, its registered name is released, and
 * its links and monitors are told.  An abnormal code of the process's own
 * also prints an error report (lwp_set_report_fn()).  Outside a process it
 * returns LWP_ENOTPROC, and LWP_EINVAL for LWP_EXIT_KILL: those are its
 * only returns.
 */
LWP_API int lwp_exit(int code);

/* The same with a text (truncated to LWP_REASON_TEXT_MAX bytes; NULL: ""). */
LWP_API int lwp_exit_text(int code, const char *text);

/*
 * Run fn(arg) when the calling process ends, however it ends: it returns or
 * exits, is killed, or dies of an exit signal or a stack overflow.
 * Handlers run newest first, inside the process, before its links and
 * monitors are told; they may free memory and close fds but not receive.
 * (After a stack overflow or an isolated fault they run on the scheduler's
 * signal stack, which has a few KiB.)  0, LWP_EINVAL (fn NULL), LWP_ENOMEM,
 * LWP_ENOTPROC.
 */
LWP_API int lwp_on_exit(void (*fn)(void *arg), void *arg);

/* Let other runnable processes run.  0, or LWP_ENOTPROC. */
LWP_API int lwp_yield(void);

/* Suspend the caller for ns nanoseconds (0: a yield).  Messages that arrive
 * meanwhile stay queued.  0, LWP_EINVAL (ns < 0) or LWP_ENOTPROC. */
LWP_API int lwp_sleep(int64_t ns);

/* Monotonic clock, in nanoseconds: the clock timeouts are measured on. */
LWP_API int64_t lwp_now(void);

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * A received message.  It belongs to the receiver until lwp_msg_free() (or
 * until it is forwarded with lwp_send_msg()).  data is aligned for any type.
 */
typedef struct lwp_msg {
	lwp_pid from; /* sender, LWP_NOPID when sent from a foreign thread */
	uint64_t tag; /* the sender's label for it */
	size_t size;  /* bytes in data */
	_Alignas(16) unsigned char data[];
} lwp_msg;

/* Largest tag a message may carry: the tags above it are the runtime's
 * (LWP_TAG_EXIT, LWP_TAG_DOWN and its own signals), and sending one is
 * LWP_EINVAL. */
#define LWP_TAG_MAX (UINT64_MAX - 16)

/* Largest payload: a larger one is LWP_ENOMEM. */
#define LWP_MSG_MAX ((size_t)1 << 40)

/*
 * Send a copy of data[0..size) with tag to pid.  Never blocks; messages from
 * one sender to one receiver arrive in the order sent.  Works inside and
 * outside processes.  Returns 0, or LWP_EBADPID, LWP_ENOPROC (the receiver
 * has exited; nothing is sent), LWP_EINVAL (data NULL with size > 0, or tag
 * above LWP_TAG_MAX), LWP_ENOMEM, LWP_ENOTRUNNING.  A receiver that exits
 * before receiving drops the message.
 *
 * Backpressure: never blocking is not never yielding.  A process that sends
 * to another whose mailbox holds 255 or more messages it has not yet looked
 * at ends its turn at its next runtime call (it stays runnable and goes on
 * after the processes queued before it), so that many senders cannot pile
 * up a receiver's mailbox while it waits its turn behind them.  Sends to
 * oneself and from foreign threads are exempt.
 */
LWP_API int lwp_send(lwp_pid to, uint64_t tag, const void *data, size_t size);

/*
 * Zero-copy: allocate a message with room for size bytes, fill m->data,
 * then hand it over with lwp_send_msg(), which sets from and tag.  On
 * success the message belongs to the receiver; on failure it stays the
 * caller's.  A received message can be forwarded the same way.
 * lwp_msg_alloc returns NULL (lwp_last_error(): LWP_ENOMEM) on failure.
 */
LWP_API lwp_msg *lwp_msg_alloc(size_t size);
LWP_API int lwp_send_msg(lwp_pid to, uint64_t tag, lwp_msg *m);

/* Free a received or allocated message.  NULL is ignored. */
LWP_API void lwp_msg_free(lwp_msg *m);

/*
 * A match function: return true to take the message.  It runs inside the
 * receiving process and must not call lwp_receive*.
 */
typedef bool (*lwp_match_fn)(const lwp_msg *m, void *ctx);

/*
 * Selective receive: the oldest message in the caller's mailbox that
 * match(m, ctx) accepts (match NULL: the oldest message).  Messages that do
 * not match stay, in order, for later receives.  Waits up to timeout_ns
 * (0: poll, LWP_INFINITY: forever) for a match and returns NULL when time
 * is up, with lwp_last_error() = LWP_ETIMEDOUT.  Also NULL with LWP_EINVAL
 * (bad timeout) or LWP_ENOTPROC.
 *
 * Each message is offered to the match function of one receive call at most
 * once: a receive that waits looks only at messages that arrived since its
 * last scan, so a long mailbox does not make receive quadratic.
 */
LWP_API lwp_msg *lwp_receive(lwp_match_fn match, void *ctx, int64_t timeout_ns);

/* Ready-made match functions: ctx points to the uint64_t tag / the lwp_pid
 * sender wanted. */
LWP_API bool lwp_match_tag(const lwp_msg *m, void *ctx);
LWP_API bool lwp_match_from(const lwp_msg *m, void *ctx);

/* Shorthands for lwp_receive(lwp_match_tag, &tag, t) and for _from. */
LWP_API lwp_msg *lwp_receive_tag(uint64_t tag, int64_t timeout_ns);
LWP_API lwp_msg *lwp_receive_from(lwp_pid from, int64_t timeout_ns);

/* Messages waiting in the caller's mailbox, or LWP_ENOTPROC. */
LWP_API long lwp_mailbox_size(void);

/*
 * Like Erlang's c:flush(): remove every message waiting in the caller's
 * mailbox, in order, calling print(m, ctx) for each before freeing it.
 * With print NULL, each is printed to stdout as "Shell got TERM" where TERM
 * is lwp_msg_format()'s text.  Returns how many were flushed, or
 * LWP_ENOTPROC.
 */
LWP_API long lwp_flush(void (*print)(const lwp_msg *m, void *ctx), void *ctx);

/*
 * Write m's payload as an Erlang-like term into buf (snprintf rules; returns
 * the length it needs): printable text as "a string" (a trailing NUL is not
 * shown), anything else as a binary <<1,2,3>>.
 */
LWP_API int lwp_msg_format(const lwp_msg *m, char *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* Links, monitors and exit signals                                          */
/* ------------------------------------------------------------------------ */

/*
 * Erlang's failure model.  A link joins two processes both ways: when one
 * ends, the other gets an exit signal carrying its reason.  An exit signal
 * with an abnormal reason ends its receiver with that reason, and so on
 * along its links; one with LWP_EXIT_NORMAL is ignored.  A process that
 * traps exits (lwp_trap_exits(true)) gets each exit signal as a message
 * instead: tag LWP_TAG_EXIT, from = the sender, data = an lwp_exit_info.
 * LWP_EXIT_KILL cannot be trapped.
 *
 * A monitor is one way and one shot: when the monitored process ends (or
 * if it did not exist), the watcher gets one message, tag LWP_TAG_DOWN,
 * from = that process, data = an lwp_exit_info with the monitor's ref.
 *
 * Signals (link, unlink, exit, monitor, demonitor, DOWN) travel through
 * the receiver's mailbox with its messages: between two processes, all
 * arrive in the order they were sent.  A process acts on the signals that
 * reached it whenever it enters the runtime or is preempted, and at once
 * if it waits in receive or sleep; one that computes without ever calling
 * the runtime acts within a timeslice (if it can be preempted: see
 * Preemption).
 */

#define LWP_TAG_EXIT (UINT64_MAX - 1) /* a trapped exit signal */
#define LWP_TAG_DOWN (UINT64_MAX - 2) /* a monitor fired */

/* A monitor reference: > 0, unique for the runtime's life. */
typedef int64_t lwp_ref;

/* The payload of LWP_TAG_EXIT and LWP_TAG_DOWN messages. */
typedef struct lwp_exit_info {
	lwp_pid pid;	   /* the process that ended (or sent the signal) */
	lwp_ref ref;	   /* DOWN: the monitor's ref; EXIT: 0 */
	lwp_reason reason; /* why */
} lwp_exit_info;

/* m's exit info if m is an EXIT or DOWN message, else NULL. */
LWP_API const lwp_exit_info *lwp_exit_info_of(const lwp_msg *m);

/*
 * Link the caller and pid (nothing if they are linked already, or pid is
 * the caller).  If pid has already ended, the caller gets an exit signal
 * with reason LWP_EXIT_NOPROC, as in Erlang: trapped, an EXIT message;
 * else the caller ends with noproc.  0, LWP_ENOPROC (pid had ended; the
 * caller traps exits), LWP_EBADPID, LWP_ENOTPROC.
 */
LWP_API int lwp_link(lwp_pid pid);

/* Remove the link between the caller and pid, if any: no exit signal
 * through it arrives after this returns (a trapped one already queued
 * stays queued).  0, LWP_EBADPID, LWP_ENOTPROC. */
LWP_API int lwp_unlink(lwp_pid pid);

/* lwp_spawn() plus lwp_link(), at once: the child cannot end unlinked. */
LWP_API lwp_pid lwp_spawn_link(void (*fn)(void *), void *arg);

/* Trap exits (on true) or not.  Returns the previous setting (0 or 1), or
 * LWP_ENOTPROC. */
LWP_API int lwp_trap_exits(bool on);

/*
 * Send pid an exit signal with reason code, as Erlang's exit/2: an
 * abnormal code ends pid (or reaches it as an EXIT message if it traps
 * exits); LWP_EXIT_KILL ends it even then, as LWP_EXIT_KILLED;
 * LWP_EXIT_NORMAL is ignored unless pid traps exits or is the caller
 * (which then ends normally).  Works on processes running, waiting or
 * spinning, on any scheduler, and from foreign threads.  0, LWP_ENOPROC,
 * LWP_EBADPID, LWP_ENOTRUNNING.
 */
LWP_API int lwp_kill(lwp_pid pid, int code);

/*
 * Monitor pid: when it ends, the caller gets one DOWN message with its
 * reason; at once with LWP_EXIT_NOPROC if it had already ended.  Returns
 * the monitor's ref, or LWP_EBADPID, LWP_ENOMEM, LWP_ENOTPROC.  Each call
 * makes another monitor.
 */
LWP_API lwp_ref lwp_monitor(lwp_pid pid);

#define LWP_DEMONITOR_FLUSH 1u /* also remove its DOWN message if queued */

/*
 * Turn a monitor off: no DOWN for it arrives after this returns.  With
 * LWP_DEMONITOR_FLUSH, a DOWN already queued is removed too.  Returns 1 if
 * the monitor was still on, 0 if it had fired (or ref is not the caller's
 * monitor), LWP_EINVAL (bad ref or flags), LWP_ENOTPROC.
 */
LWP_API int lwp_demonitor(lwp_ref ref, unsigned flags);

/* lwp_spawn() plus lwp_monitor(), at once; the ref goes to *ref. */
LWP_API lwp_pid lwp_spawn_monitor(void (*fn)(void *), void *arg, lwp_ref *ref);

/*
 * Error reports.  A process that ends abnormally by itself (lwp_exit()
 * with an abnormal code other than shutdown, a stack overflow, or an
 * isolated fault) is reported, as Erlang's error logger does:
 *
 *     =ERROR REPORT==== 21-Nov-2026::16:49:14 ===
 *     Error in process <0.64.1> (registered as 'worker') with exit value: {1,"boom!"}
 *
 * on stderr.  Processes ended by exit signals are not reported (their
 * links' reports tell why).  lwp_set_report_fn() installs fn instead (NULL:
 * back to the default); fn runs in the ending process (after a stack
 * overflow or an isolated fault, on its scheduler's signal stack) and must
 * not call the runtime.
 */
typedef void (*lwp_report_fn)(lwp_pid pid, const char *name,
			      const lwp_reason *reason, void *ctx);
LWP_API void lwp_set_report_fn(lwp_report_fn fn, void *ctx);

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */
/* ------------------------------------------------------------------------ */

/* A timer reference: > 0, unique for the runtime's life. */
typedef int64_t lwp_timer_ref;

/*
 * Send a copy of data[0..size) with tag to pid after ns nanoseconds, as
 * Erlang's erlang:send_after/3: from is the caller (LWP_NOPID from a
 * foreign thread).  The timer lives in the runtime, not the caller: it
 * fires whether or not the caller still runs, wherever processes migrate.
 * pid is checked when it fires (a dead pid drops the message).  Returns the
 * timer's ref, or LWP_EINVAL (ns < 0, data NULL with size > 0, tag above
 * LWP_TAG_MAX),
 * LWP_EBADPID, LWP_ENOMEM, LWP_ENOTRUNNING.
 */
LWP_API lwp_timer_ref lwp_send_after(int64_t ns, lwp_pid pid, uint64_t tag,
				     const void *data, size_t size);

/*
 * Cancel a timer: returns the nanoseconds it had left (>= 0), or
 * LWP_ENOTIMER if it had fired or been cancelled already (or never
 * existed).  Its message is freed unsent.
 */
LWP_API int64_t lwp_cancel_timer(lwp_timer_ref ref);

/* Nanoseconds left on a timer, or LWP_ENOTIMER as lwp_cancel_timer. */
LWP_API int64_t lwp_read_timer(lwp_timer_ref ref);

/* ------------------------------------------------------------------------ */
/* Preemption                                                                */
/* ------------------------------------------------------------------------ */

/*
 * A process that computes without calling the runtime does not hold its
 * scheduler: once it has run for a timeslice (lwp_config.timeslice_ns), or
 * for 50 us while another process is due on that scheduler (its timer
 * expired, it was woken from elsewhere), a watchdog thread sends its
 * scheduler thread the preemption signal (SIGURG by default), and the
 * handler switches the process out.  Every register is kept: general,
 * flags, FP/SIMD (AVX, SVE...) and the FP control state.  Processes woken
 * meanwhile run before it; it resumes later, on the same thread.  Runtime
 * calls also count a budget and give way cooperatively, as Erlang's
 * reductions do.
 *
 * The signal switches a process out only at a safe point: in the program's
 * own code (and in libraries registered with lwp_preempt_allow()), never
 * inside the C library, the allocator, the dynamic linker, the vDSO, the
 * runtime itself, or a lwp_preempt_disable() region.  A process
 * interrupted elsewhere is preempted when it next calls the runtime or
 * leaves the region.  So code that keeps thread-local state (its own
 * __thread variables, a library's per-thread cache) in a consistent state
 * only between its own calls is safe; code that hands a per-thread
 * resource from one statement to the next (a lock it holds, a pointer into
 * another library's thread-local data) must not be preempted in between:
 * wrap it in lwp_preempt_disable()/lwp_preempt_enable(), or pin it.
 *
 * The handler a program installed for the signal before the runtime
 * started is still called for every signal that is not a preemption; the
 * dispositions are restored when the runtime stops.  A scheduler thread
 * blocked in a system call is not signalled.  Preemption is off, and only
 * the cooperative half remains, in programs linked fully statically (libc's
 * code would be indistinguishable from the program's) and under
 * ThreadSanitizer (which defers signals).  docs/PREEMPTION.md says more.
 */

/* Make the caller not preemptible until the matching lwp_preempt_enable().
 * Nests.  It still gives way at runtime calls that block or yield.  0, or
 * LWP_ENOTPROC outside a process. */
LWP_API int lwp_preempt_disable(void);

/* Undo one lwp_preempt_disable(); on the outermost, take a preemption that
 * was deferred meanwhile (the caller yields).  0, LWP_EINVAL if the caller
 * has not disabled preemption, LWP_ENOTPROC outside a process. */
LWP_API int lwp_preempt_enable(void);

/*
 * Let processes be preempted in the code of the shared library (or the
 * program) that contains `code` (any address in it, e.g. a function of
 * its), as they are in the program's own code.  Only for code that is
 * safe to switch away from at any instruction (see above).  Lasts for the
 * life of the program, across runs.  0, or LWP_EINVAL (NULL, an address in
 * no loaded object, or in liblwp), LWP_ENOMEM (too many ranges: 64).
 */
LWP_API int lwp_preempt_allow(const void *code);

/* ------------------------------------------------------------------------ */
/* Tracing and statistics                                                    */
/* ------------------------------------------------------------------------ */

/*
 * Event tracing.  While a trace is on, every scheduler records what it
 * does in a ring buffer of its own: switches (a process in, a process out
 * and why: receive, yield, budget spent, preempted, exit), spawns, exits
 * with their reason, sends (and whether they woke the receiver),
 * receives, steals (victim and count), going idle, sleeping and waking,
 * preemptions deferred, timers firing.  Threads that are not schedulers
 * share one more ring (their sends and spawns).  The trace is written as
 * Chrome/Perfetto trace-event JSON: open it at https://ui.perfetto.dev or
 * in chrome://tracing.  Each scheduler is a track ("thread") of process
 * slices named by registered name or function; an arrow leads from each
 * send that woke a process to where it ran next; steals, preemptions,
 * migrations, spawns, exits, sends and receives are instants.
 * docs/profiling.md shows how to read it.
 *
 * Off (the default) it costs one predictable branch per event point.  On,
 * each event costs a read of the CPU's counter and five stores (inline
 * for switches, sends and receives; a call for the rarer events).  The
 * rings (events x 32 bytes per scheduler) are allocated and touched when
 * the trace starts, not as it fills.  perf/README.md has the costs
 * measured.  The environment turns it on for a whole run:
 * LWP_TRACE=out.json (written when the runtime stops), LWP_TRACE_EVENTS=N
 * (ring size), LWP_TRACE_FLIGHT=1 (flight recorder; 0 or 1),
 * LWP_TRACE_SIGNAL=USR2 (dump on that signal: a name or a number).  A bad
 * setting is named on stderr and the run goes on untraced.
 *
 * A full trace keeps the first `events` of each scheduler and counts the
 * rest as dropped (the JSON's otherData.dropped).  A flight recorder keeps
 * the last `events` of each, and writes them on lwp_trace_dump(), on its
 * signal, when it stops, and when a process crashes with SIGSEGV, SIGBUS,
 * SIGFPE, SIGILL or SIGABRT that nobody handles (not on a stack overflow,
 * which only ends the process).  Written from a signal, processes are
 * named by pid only.
 */
typedef struct lwp_trace_opts {
	/* Events each ring keeps, rounded up to a power of two (32 bytes
	 * each; 16..2^28).  0: LWP_TRACE_EVENTS_DEFAULT. */
	size_t events;
	/* A flight recorder: keep the last events, not the first. */
	bool flight;
	/* Write the trace to its file on this signal (0: none).  Not one the
	 * kernel sends for faults, SIGABRT, SIGKILL, SIGSTOP or glibc's, nor
	 * the preemption signal or the dump signal (LWP_EINVAL). */
	int signal;
} lwp_trace_opts;

#define LWP_TRACE_EVENTS_DEFAULT ((size_t)1 << 18)

/*
 * Start a trace to be written to path (created or truncated now; opts
 * NULL: a full trace, defaults).  0, or LWP_EINVAL (path NULL or empty,
 * opts out of range), LWP_EBUSY (a trace is on), LWP_ESYS (path cannot
 * be opened, the signal's handler cannot be set), LWP_ENOMEM,
 * LWP_ENOTRUNNING, LWP_ENOTSUP (built with -Dtrace=disabled).
 */
LWP_API int lwp_trace_start(const char *path, const lwp_trace_opts *opts);

/* Stop the trace and write it to its file.  A trace still on when the
 * runtime stops is stopped and written then.  0, or LWP_EINVAL (no trace
 * is on), LWP_ESYS (writing failed: the trace is stopped all the same),
 * LWP_ENOMEM, LWP_ENOTRUNNING, LWP_ENOTSUP. */
LWP_API int lwp_trace_stop(void);

/* Write what the rings hold now, tracing on, to path (NULL: the trace's
 * own file).  0, or LWP_EINVAL (no trace is on, path ""), LWP_EBUSY
 * (another dump is being written), LWP_ESYS, LWP_ENOMEM,
 * LWP_ENOTRUNNING, LWP_ENOTSUP. */
LWP_API int lwp_trace_dump(const char *path);

/*
 * Statistics: what a scheduler has counted and timed since the runtime
 * started (Erlang's scheduler_wall_time and microstate accounting, Go's
 * schedtrace).  Times are wall-clock, read at the scheduler's changes of
 * state only: uptime = busy + spinning + parked.  Busy is running
 * processes (their own code and the runtime calls they make, which are
 * not told apart: that would take a clock read per call) and the
 * scheduler's own work between them; signal_ns, a part of it, is the
 * preemption handler's own work.  LWP_SCHEDTRACE=MS in the environment
 * prints one line per scheduler every MS milliseconds on stderr, with
 * each state's share of the interval and the counts during it.
 */
typedef struct lwp_sched_stats {
	uint64_t preemptions;	   /* processes switched out by the signal */
	uint64_t preempt_deferred; /* signals that found no safe point */
	uint64_t switches;	   /* context switches (loop and processes) */
	uint64_t steal_attempts;   /* victims with work it tried to steal */
	uint64_t steals;	   /* of those, successful */
	uint64_t stolen;	   /* processes they brought */
	uint64_t parks;		   /* times it went to sleep, idle */
	uint64_t wakeups;	   /* of those, ended by another thread */
	uint64_t sent;		   /* messages its processes sent */
	uint64_t received;	   /* messages its processes received */
	uint64_t spawned;	   /* processes spawned by its processes */
	uint64_t exited;	   /* processes that ended on it */
	uint64_t long_schedules;   /* runs reported (lwp_set_long_schedule) */
	size_t runq;		   /* processes queued where thieves see them */
	int64_t uptime_ns;	   /* since its thread started */
	int64_t busy_ns;	   /* running processes, and between them */
	int64_t spin_ns;	   /* idle, looking for work */
	int64_t park_ns;	   /* idle, asleep */
	int64_t signal_ns;	   /* in the preemption handler (in busy_ns) */
} lwp_sched_stats;

/* Scheduler `id`'s figures.  0, or LWP_EINVAL (no such scheduler, out
 * NULL), LWP_ENOTRUNNING. */
LWP_API int lwp_scheduler_stats(unsigned id, lwp_sched_stats *out);

/*
 * Long schedules (Erlang's long_schedule monitor): a process that runs
 * longer than threshold_ns without giving way - it computes in a
 * lwp_preempt_disable() region or inside a library, where preemption is
 * deferred, or blocks its scheduler in a system call - is reported once
 * per run, while it still runs: fn(pid, name, scheduler, ran_ns, ctx)
 * on the watchdog thread (name: its registered name or function's symbol,
 * or NULL; pid LWP_NOPID when it is blocked in a system call, which the
 * runtime cannot tell apart: reported again with its pid if it turns out
 * to run after all).  fn must not call the runtime but
 * lwp_pid_str().  NULL fn: a line on stderr.  Found by the preemption
 * watchdog, to within a timeslice: nothing is reported while preemption is
 * off (timeslice LWP_INFINITY, TSan, static programs).  threshold_ns 0:
 * off (the default, or LWP_LONG_SCHEDULE=MS in the environment).  Lasts
 * across runs.  0, or LWP_EINVAL (threshold_ns < 0).
 */
typedef void (*lwp_long_schedule_fn)(lwp_pid pid, const char *name,
				     unsigned scheduler, int64_t ran_ns,
				     void *ctx);
LWP_API int lwp_set_long_schedule(int64_t threshold_ns, lwp_long_schedule_fn fn,
				  void *ctx);

/* ------------------------------------------------------------------------ */
/* Registered names                                                          */
/* ------------------------------------------------------------------------ */

#define LWP_NAME_MAX 63 /* bytes, without the NUL */

/*
 * Register pid under name (1..LWP_NAME_MAX bytes).  A process has at most
 * one name; the name is released when the process exits.  Errors: LWP_ENAME,
 * LWP_ENAMETAKEN, LWP_EREGISTERED (pid has a name), LWP_EBADPID,
 * LWP_ENOPROC (pid has exited), LWP_ENOTRUNNING.
 */
LWP_API int lwp_register(const char *name, lwp_pid pid);

/* Remove a name.  0, LWP_ENAME or LWP_ENOTREG. */
LWP_API int lwp_unregister(const char *name);

/* The pid registered under name; LWP_ENOTREG or LWP_ENAME if none. */
LWP_API lwp_pid lwp_whereis(const char *name);

/* lwp_send() to the process registered under name; LWP_ENOTREG if none. */
LWP_API int lwp_send_name(const char *name, uint64_t tag, const void *data,
			  size_t size);

typedef struct lwp_reg_entry {
	char name[LWP_NAME_MAX + 1];
	lwp_pid pid;
} lwp_reg_entry;

/*
 * Copy up to cap registered names (sorted by name) into out and return how
 * many there are in all (which may exceed cap, as with snprintf).
 */
LWP_API long lwp_registered(lwp_reg_entry *out, size_t cap);

/* ------------------------------------------------------------------------ */
/* Process information                                                       */
/* ------------------------------------------------------------------------ */

typedef enum lwp_status {
	LWP_STATUS_RUNNING = 1, /* on a scheduler now */
	LWP_STATUS_RUNNABLE,	/* in a run queue, or about to be */
	LWP_STATUS_WAITING,	/* blocked in receive or sleep */
	LWP_STATUS_EXITING,	/* its exit is under way */
} lwp_status;

/* The name of a status: "running", "runnable", "waiting", "exiting"; NULL
 * for anything else. */
LWP_API const char *lwp_status_name(int status);

typedef struct lwp_proc_info {
	lwp_pid pid;
	lwp_status status;
	/* The scheduler it runs on (RUNNING), else the one it last ran on;
	 * -1 if it has not run yet. */
	int scheduler;
	int home;		     /* the scheduler it is pinned to, or -1 */
	char name[LWP_NAME_MAX + 1]; /* its registered name, "" if none */
	long mailbox;		     /* messages waiting: see below */
	uint32_t links;		     /* processes linked to it */
	uint32_t monitors;	     /* monitors it holds on others */
	bool trap_exits;
	uint64_t switches; /* times it switched out: yields, waits, preemptions */
	void (*fn)(void *); /* the function it was spawned with */
	/* Bytes of stack in use where it last switched out (for the caller:
	 * now), in memory (pages it has touched), and reserved (the stack's
	 * size, without its guard). */
	size_t stack_used, stack_resident, stack_size;
} lwp_proc_info;

/*
 * Describe pid, as Erlang's process_info/1.  Any thread may ask, about any
 * process; the process is not stopped, so for one running elsewhere the
 * figures are each of some recent moment.  mailbox counts the messages pid
 * has taken into its mailbox; ones that arrived since it last looked (it
 * does, at its next receive) are not yet counted, except for the caller's
 * own, which is exact.  0, LWP_EINVAL (out NULL), LWP_EBADPID, LWP_ENOPROC
 * (pid has ended, also if it ended while being described), LWP_ENOTRUNNING.
 */
LWP_API int lwp_process_info(lwp_pid pid, lwp_proc_info *out);

/*
 * Copy up to cap pids of live processes into out (in table order) and
 * return how many were found in all, which may exceed cap.  Processes
 * spawned or ended meanwhile may be missed or listed.  LWP_EINVAL (out NULL
 * with cap > 0), LWP_ENOTRUNNING.
 */
LWP_API long lwp_processes(lwp_pid *out, size_t cap);

/*
 * Write every live process to fd, as the crash report does: a header line,
 * then per process one line - pid, status, scheduler, mailbox, links,
 * monitors, switches, stack in use and reserved, the function it was
 * spawned with and its registered name - followed by its backtrace, one
 * indented line per frame, innermost first, at most 32:
 *
 *   pid              status   sched mailbox links  mons   switches ...
 *   <0.1.1>          waiting      0       0     0     0          1 ...
 *       #0  0x7f73008f8f43 switch_out+0xc3
 *       #1  0x7f73008fa015 sched_block+0x75
 *       #2  0x7f730090235c lwp_receive+0xfc
 *       #3  0x561a1fe15294 wait_for_orders+0x14
 *       #4  0x561a1fe152b9 worker+0x9
 *       ...
 *
 * A frame is its return address and "function+offset", or "object+offset"
 * where no symbol is known (addr2line -e object offset).  The frames start
 * in the runtime, where the process switched out; a preempted process's go
 * on through the preemption signal's frames (the trampoline's marked
 * "<signal frame>") into the instruction it was interrupted at.
 * A process running on another scheduler right now cannot be walked: its
 * line is followed by "running on scheduler N".  One that ran while being
 * walked gets "(ran while being walked: no backtrace)".  The caller's own
 * frames start here.  Function names come from the dynamic symbols and,
 * for functions that are not exported, from the ELF symbol table of the
 * file (a stripped program shows object+offset).  Backtraces need
 * libunwind (the build option unwind); without it the header is followed
 * by a line saying so, and each process shows only the function it
 * switched out in.  The dump also goes to stderr on lwp_config.dump_signal
 * and into the crash report.
 *
 * Returns the number of processes written, LWP_ESYS (a write failed;
 * errno says why), LWP_ENOTRUNNING.  A process with the smallest stack
 * (LWP_STACK_MIN) may call it.
 */
LWP_API long lwp_process_dump(int fd);

/*
 * Copy into frames up to cap return addresses of pid's stack where it is
 * suspended, innermost first (as the dump prints them; the caller's own
 * from here), and return how many.  LWP_EINVAL (frames NULL with cap > 0),
 * LWP_EBADPID, LWP_ENOPROC, LWP_EBUSY (pid is running on another scheduler
 * now, or ran while its stack was being walked: try again),
 * LWP_ENOTSUP (no libunwind in this build), LWP_ENOTRUNNING.  At most 128
 * frames.
 */
LWP_API long lwp_process_backtrace(lwp_pid pid, void **frames, size_t cap);

/* ------------------------------------------------------------------------ */
/* Supervisors                                                               */
/* ------------------------------------------------------------------------ */

/*
 * Erlang/OTP's supervisor, in C.  A supervisor is a process that starts
 * child processes from specifications, links to them, traps exits, and
 * restarts children that end, by a strategy:
 *
 *   LWP_ONE_FOR_ONE   only the child that ended is restarted.
 *   LWP_ONE_FOR_ALL   the other running children are terminated too, then
 *                     all of them are restarted.
 *   LWP_REST_FOR_ONE  the children started after it are terminated too,
 *                     then it and they are restarted.
 *
 * Children are kept in start order (the spec's order, then dynamic
 * children in the order they were added).  Terminating several goes in
 * reverse start order; restarting several, in start order.  A child the
 * supervisor terminates itself (for a strategy, lwp_supervisor_terminate_
 * child, a shutdown) is never restarted for that exit.
 *
 * Whether a child that ended is restarted depends on its restart type:
 *
 *   LWP_PERMANENT  always.
 *   LWP_TRANSIENT  only after an abnormal exit other than
 *                  LWP_EXIT_SHUTDOWN; otherwise its spec stays, not running.
 *   LWP_TEMPORARY  never; its spec is removed when it ends.
 *
 * Restart intensity: if more than `intensity` restarts happen within any
 * `period_ns`, the supervisor gives up: it terminates its children (in
 * reverse order, each with its shutdown) and exits with LWP_EXIT_SHUTDOWN
 * and the text "reached_max_restart_intensity", which its links (its
 * parent supervisor, or the process that started it) see as an exit
 * signal.  A child that cannot be started again (LWP_ELIMIT, LWP_ENOMEM,
 * a child supervisor that cannot start) counts as a restart; it is
 * retried after the messages the supervisor has queued (as OTP's
 * try_again_restart), until it starts or the intensity is reached.
 *
 * Terminating a child: with shutdown_ns 0 the supervisor kills it
 * (LWP_EXIT_KILL).  Otherwise it sends the exit signal LWP_EXIT_SHUTDOWN
 * (a child that does not trap exits ends at once, with reason shutdown; one
 * that traps gets an EXIT message and may clean up and exit) and waits up
 * to shutdown_ns for it to end, then kills it; LWP_INFINITY waits for
 * ever (use it for child supervisors, which terminate their own children
 * first).  It monitors the child meanwhile, so a child that unlinked
 * itself is waited for too.
 *
 * Exit signals: a supervisor traps exits.  An EXIT from its parent (the
 * process that started it with lwp_supervisor_start_link(), or the
 * supervisor that started it as a child) ends it in order with that
 * signal's reason, whatever it is (normal too, as in OTP).  An EXIT from a
 * process that is neither a child nor the parent acts as it would on a
 * process that does not trap exits, except that the children are
 * terminated first: an abnormal reason ends the supervisor in order with
 * that reason, a normal one is ignored.  LWP_EXIT_KILL ends it at once,
 * and its children then die of their links (reason killed) unless they
 * trap exits.
 *
 * Calls.  The lwp_supervisor_* functions that take a supervisor's pid are
 * requests: a message to the supervisor and a reply matched by a unique
 * ref (selective receive), so they work from any process, and other
 * messages stay queued meanwhile.  The caller monitors the supervisor
 * during the call, so one that dies gives LWP_ENOPROC instead of a hang.
 * A call waits as long as the supervisor takes (terminating a child may
 * take its shutdown_ns).  Common errors of every call: LWP_ENOTPROC
 * (called outside a process: from a foreign thread), LWP_EBADPID,
 * LWP_ENOPROC (no such process, or it died before it answered),
 * LWP_ENOTSUP (a live process that is not a supervisor: checked before
 * anything is sent, so no call waits on a process that will never
 * answer), LWP_EINVAL (the caller is the supervisor itself), LWP_ENOMEM.
 * A process is a supervisor from the moment it starts its children until
 * it exits; a call it receives while starting them waits until they are.
 *
 * A supervisor's child table is touched by that process alone (no lock):
 * everything else goes through these calls.
 *
 * Departures from OTP: child specs have no `type` or `modules` (a child
 * whose fn is lwp_supervisor_main is a supervisor, started synchronously:
 * its start returns once its own children are up); a supervisor ignores
 * messages it does not understand (OTP logs them); under one_for_all a
 * child that was not running (terminated, or transient and ended
 * normally) stays stopped when the others restart.
 */

typedef enum lwp_sup_strategy {
	LWP_ONE_FOR_ONE,
	LWP_ONE_FOR_ALL,
	LWP_REST_FOR_ONE,
} lwp_sup_strategy;

typedef enum lwp_restart {
	LWP_PERMANENT,
	LWP_TRANSIENT,
	LWP_TEMPORARY,
} lwp_restart;

/* How to start and stop one child. */
typedef struct lwp_child_spec {
	/* 1..LWP_NAME_MAX bytes, unique within the supervisor; copied. */
	const char *id;
	/* The child runs fn(arg), spawned with opts and linked to the
	 * supervisor.  fn lwp_supervisor_main with arg an lwp_sup_spec makes
	 * the child a supervisor (arg, like any arg, must stay valid while
	 * the child may be restarted). */
	void (*fn)(void *);
	void *arg;
	lwp_restart restart;
	/* How long a child asked to stop (LWP_EXIT_SHUTDOWN) may take before
	 * it is killed: 0 kills it at once, LWP_INFINITY waits for ever. */
	int64_t shutdown_ns;
	lwp_spawn_opts opts;
} lwp_child_spec;

typedef struct lwp_sup_spec {
	lwp_sup_strategy strategy;
	/* Restarts allowed within period_ns (0..LWP_SUP_INTENSITY_MAX).  Both
	 * zero: OTP's defaults, LWP_SUP_INTENSITY_DEFAULT restarts within
	 * LWP_SUP_PERIOD_DEFAULT.  Otherwise period_ns is 1 ns ..
	 * LWP_SUP_PERIOD_MAX, and intensity 0 makes the first restart one
	 * too many. */
	unsigned intensity;
	int64_t period_ns;
	/* The children, started in this order; copied at the start. */
	const lwp_child_spec *children;
	size_t nchildren;
} lwp_sup_spec;

#define LWP_SUP_INTENSITY_DEFAULT 1u
#define LWP_SUP_PERIOD_DEFAULT	  ((int64_t)5000000000) /* 5 s */
#define LWP_SUP_INTENSITY_MAX	  1000000u
#define LWP_SUP_PERIOD_MAX	  ((int64_t)31536000 * 1000000000) /* a year */

/*
 * Start a supervisor process linked to the caller, as supervisor:start_link:
 * it starts spec's children in order, and only then does this return its
 * pid.  If a child cannot be started, the children already started are
 * terminated (reverse order), the supervisor ends without an exit signal
 * to the caller, and the child's error is returned.  Errors: LWP_EINVAL
 * (spec NULL, a bad strategy, restart type or shutdown_ns, fn NULL, a bad
 * stack size or scheduler in opts, intensity or period out of range,
 * children NULL with nchildren > 0), LWP_ENAME (an id NULL, empty or
 * longer than LWP_NAME_MAX), LWP_EDUPCHILD (two children with one id),
 * LWP_ENOTPROC (outside a process), LWP_ENOPROC (the supervisor was
 * killed while starting), and a child's spawn error (LWP_ELIMIT,
 * LWP_ENOMEM...).
 */
LWP_API lwp_pid lwp_supervisor_start_link(const lwp_sup_spec *spec);

/*
 * Run a supervisor in the calling process: start spec's children, then
 * supervise them until the supervisor ends, which ends the calling
 * process (the reasons above).  It returns only if it could not start:
 * the errors of lwp_supervisor_start_link(), after terminating the
 * children it had started; the caller's trap_exits setting is then as it
 * was, and it is no longer a supervisor (calls that reached it meanwhile
 * are answered LWP_ENOTSUP).
 */
LWP_API int lwp_supervisor_run(const lwp_sup_spec *spec);

/*
 * lwp_supervisor_run(arg) as a process function: for child specs (the
 * child is then a supervisor), lwp_main() and lwp_spawn().  If the
 * supervisor cannot start, the process exits with LWP_EXIT_SHUTDOWN and
 * the text "failed_to_start_child" (a bad spec: "bad_spec").
 */
LWP_API void lwp_supervisor_main(void *spec);

/*
 * Orderly shutdown: terminate the children in reverse start order, each
 * with its shutdown_ns, then end the supervisor with LWP_EXIT_NORMAL.
 * Returns 0 once it has ended, or a call's error.
 */
LWP_API int lwp_supervisor_stop(lwp_pid sup);

/*
 * Add a child (its spec is copied) and start it at once, as
 * supervisor:start_child.  Returns its pid, or LWP_EINVAL / LWP_ENAME for a
 * bad spec, LWP_EDUPCHILD if the id is taken (running or not), its spawn
 * error (the spec is then not kept), or a call's error.
 */
LWP_API lwp_pid lwp_supervisor_start_child(lwp_pid sup,
					   const lwp_child_spec *spec);

/*
 * Terminate the child with that id as a shutdown would, and keep its spec
 * (a temporary child's is removed).  0 (also if it was not running),
 * LWP_ENAME, LWP_ENOCHILD, or a call's error.
 */
LWP_API int lwp_supervisor_terminate_child(lwp_pid sup, const char *id);

/*
 * Start again a child whose spec is kept but which is not running (it was
 * terminated, or is transient and ended normally).  Does not count
 * towards the restart intensity.  Returns its new pid, or LWP_ENAME,
 * LWP_ENOCHILD, LWP_ECHILDRUNNING, its spawn error, or a call's error.
 */
LWP_API lwp_pid lwp_supervisor_restart_child(lwp_pid sup, const char *id);

/* Remove the spec of a child that is not running.  0, LWP_ENAME,
 * LWP_ENOCHILD, LWP_ECHILDRUNNING, or a call's error. */
LWP_API int lwp_supervisor_delete_child(lwp_pid sup, const char *id);

typedef struct lwp_child_info {
	char id[LWP_NAME_MAX + 1];
	lwp_pid pid; /* LWP_NOPID when not running */
	lwp_restart restart;
	bool supervisor; /* its fn is lwp_supervisor_main */
} lwp_child_info;

/*
 * Copy up to cap children, in start order, into out, and return how many
 * there are in all (which may exceed cap, as with snprintf); or
 * LWP_EINVAL (out NULL with cap > 0) or a call's error.
 */
LWP_API long lwp_supervisor_which_children(lwp_pid sup, lwp_child_info *out,
					   size_t cap);

typedef struct lwp_child_counts {
	size_t specs;	    /* children, running or not */
	size_t active;	    /* running */
	size_t supervisors; /* specs whose fn is lwp_supervisor_main */
	size_t workers;	    /* the other specs */
} lwp_child_counts;

/* supervisor:count_children.  0, LWP_EINVAL (out NULL) or a call's error. */
LWP_API int lwp_supervisor_count_children(lwp_pid sup, lwp_child_counts *out);

/* The supervisor protocol's messages carry the tags LWP_TAG_SUP_FIRST ..
 * LWP_TAG_MAX: other processes should not send them.  A supervisor drops
 * any other message. */
#define LWP_TAG_SUP_FIRST (LWP_TAG_MAX - 3)

#ifdef __cplusplus
}
#endif

#endif /* LWP_H */
