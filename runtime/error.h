/*
 * error.h - lwp_last_error() bookkeeping.
 */
#ifndef LWP_ERROR_H
#define LWP_ERROR_H

/* Record err as the calling process's (or thread's) last error. */
void error_set(int err);

#endif /* LWP_ERROR_H */
