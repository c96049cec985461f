/*
 * unwind.h - backtraces of processes, for the process dump and
 * lwp_process_backtrace().
 *
 * A suspended process's registers are in the frame arch_switch() left on
 * its stack (arch/<cpu>/switch.S): the callee-saved ones, the stack pointer
 * and the return address, which is all a DWARF unwinder needs to start
 * from the function that switched out.  Release builds have no frame
 * pointers, so the walk is libunwind's (the call-frame information of
 * .eh_frame); a preempted process's walk goes on through the preemption
 * handler's frames and the kernel's signal frame into the code the signal
 * interrupted.  Without libunwind (-Dunwind=disabled, or not installed)
 * only the innermost frame is known: the function that switched out.
 */
#ifndef LWP_UNWIND_H
#define LWP_UNWIND_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

/* Frames a dump prints of one process. */
#define UNWIND_FRAMES 32

/* Does this build have backtraces? */
bool unwind_available(void);

/* Set the unwinder up (no caching: nothing it does takes a lock or
 * allocates), before the first walk. */
void unwind_init(void);

/*
 * The return addresses of a context that arch_switch() suspended with
 * stack pointer sp on the stack [lo, top), innermost first, at most cap.
 * The walk reads nothing outside [lo, top) knowingly and stops at a frame
 * whose stack pointer leaves it; should it fault anyway (the process ran
 * meanwhile and left garbage where frames were), the fault handler ends
 * the walk (unwind_recover).  Returns the number of frames (1 at most
 * without an unwinder), or LWP_EBUSY (it faulted).  Bit i of *sigframes
 * (if not NULL; frames below 64) is set if a signal interrupted frame i:
 * its pc is the interrupted instruction, not a return address, and frame
 * i - 1 is the signal trampoline's.
 */
must_check int unwind_suspended(uintptr_t sp, uintptr_t lo, uintptr_t top,
				uintptr_t *pcs, int cap, uint64_t *sigframes);

/* The caller's own return addresses, its caller's first, at most cap (1
 * at most without an unwinder). */
must_check int unwind_here(uintptr_t *pcs, int cap, uint64_t *sigframes);

/* From the SIGSEGV/SIGBUS handler: if this thread was walking a stack,
 * end the walk (does not return).  Otherwise returns at once. */
void unwind_recover(int sig, const siginfo_t *si);

#endif /* LWP_UNWIND_H */
