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

#include <stddef.h>

#include "lwp.h"

/*
 * Write the process table to fd, at most max lines of processes, then a
 * line saying how many were left out.  crash: called from the crash
 * report (a fault handler), which must not wait for a lock its own thread
 * may hold.  Returns the processes written, or LWP_ESYS.
 */
long info_dump(int fd, size_t max, bool crash);

#endif /* LWP_INFO_H */
