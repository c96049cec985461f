/*
 * fault.h - faults on the schedulers: SIGSEGV, SIGBUS, SIGFPE, SIGILL and
 * SIGABRT, one handler on a per-thread alternate signal stack (a faulting
 * stack may have no room left).
 *
 * A process that runs into the guard region below its stack ends with
 * LWP_EXIT_STACK_OVERFLOW and the runtime carries on.  With isolate_faults,
 * a fault in the program's own code ends only its process, with
 * LWP_EXIT_FAULT.  Any other fault on a scheduler prints the crash report
 * (and writes the flight recorder) before it goes on to the handler the
 * host program had, or to the default action; faults elsewhere, and fault
 * signals sent with kill, go there directly.
 */
#ifndef LWP_FAULT_H
#define LWP_FAULT_H

#include <stdbool.h>

#include "compiler.h"

/* Install the handler (process-wide); restore the host's. */
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
