/*
 * fault.h - turning a process's stack overflow into its exit.
 *
 * A process that runs into the guard region below its stack takes SIGSEGV.
 * The handler runs on a per-thread alternate signal stack (the faulting
 * stack has no room left), recognises the guard hit, and ends the process
 * with LWP_EXIT_STACK_OVERFLOW; the runtime carries on.  Any other fault is
 * passed on to the handler the host program had, or to the default action.
 */
#ifndef LWP_FAULT_H
#define LWP_FAULT_H

#include <stdbool.h>

#include "compiler.h"

/* Install the SIGSEGV/SIGBUS handler (process-wide); restore the host's. */
must_check int fault_start(void);
void fault_stop(void);

/* Is signo unfit for the runtime's own uses (preemption, dumps)?  The
 * kernel reserves it or sends it for faults (this file catches those),
 * abort() raises it, or glibc keeps it (32 .. SIGRTMIN - 1). */
bool fault_reserved(int signo);

/* Give the calling scheduler thread its alternate signal stack. */
must_check int fault_thread_start(void);
void fault_thread_stop(void);

#endif /* LWP_FAULT_H */
