/*
 * info.h - describing processes: lwp_process_info(), lwp_processes() and
 * the process dump that lwp_process_dump() and the crash report print.
 *
 * Nothing here stops the process described.  What is read of it was
 * either written before its pid was published (fn, home, stack: the
 * acquire load of the pid orders them) or is kept by its owner in relaxed
 * atomics for this purpose (status, scheduler, switches, counts).  The pid
 * is read again at the end, so a process that ended meanwhile, whose slot
 * may already hold another, is reported as gone rather than mixed up.
 */
#ifndef LWP_INFO_H
#define LWP_INFO_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"
#include "lwp.h"

struct proc;

/*
 * Write the process table to fd, at most max processes, each line followed
 * by the process's backtrace, then a line saying how many were left out.
 * crash: called from the crash report (a fault handler), which must not
 * wait for a lock its own thread may hold.  self: the calling process, or
 * NULL.  Returns the processes written, or LWP_ESYS.
 */
long info_dump(int fd, size_t max, bool crash, struct proc *self);

/* The dump on a signal: the signal cfg or LWP_DUMP_SIGNAL asks for (0:
 * none), LWP_EINVAL for a bad one or the preemption signal, preempt_signo. */
must_check int info_config(const lwp_config *cfg, int preempt_signo,
			   int *signo);
/* Install the handler and start the thread that writes the dump; restore
 * the host's disposition and end the thread at the end of the run. */
must_check int info_start(int signo);
void info_stop(void);
/* The dump signal while the runtime runs, or 0 (trace.c must not take it). */
int info_dump_signal(void);

#endif /* LWP_INFO_H */
