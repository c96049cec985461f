/*
 * error.c - names of the LWP_E* codes.
 */
#include "error.h"
#include "lwp.h"
#include "proc.h"
#include "sched.h"

const char *lwp_strerror(int err)
{
	switch (err) {
	case LWP_OK:
		return "success";
	case LWP_EINVAL:
		return "invalid argument";
	case LWP_ENOPROC:
		return "no such process";
	case LWP_EBADPID:
		return "not a valid pid";
	case LWP_ENOTPROC:
		return "not called from inside a process";
	case LWP_ENOMEM:
		return "out of memory";
	case LWP_ELIMIT:
		return "process limit reached";
	case LWP_ENAME:
		return "invalid name (empty or too long)";
	case LWP_ENAMETAKEN:
		return "name already registered";
	case LWP_EREGISTERED:
		return "process already has a registered name";
	case LWP_ENOTREG:
		return "name not registered";
	case LWP_ERUNNING:
		return "runtime already running";
	case LWP_ENOTRUNNING:
		return "runtime not running";
	case LWP_ETIMEDOUT:
		return "timed out";
	case LWP_ESYS:
		return "operating system error";
	case LWP_ENOTIMER:
		return "no such timer (fired or cancelled)";
	case LWP_ENOTSUP:
		return "not supported (the process is not a supervisor, or "
		       "this build lacks the feature)";
	case LWP_ENOCHILD:
		return "no child with that id";
	case LWP_EDUPCHILD:
		return "a child with that id exists already";
	case LWP_ECHILDRUNNING:
		return "the child is running";
	case LWP_EBUSY:
		return "busy (a trace is on, or being written)";
	}
	return "unknown error";
}

/* Outside processes the last error is the thread's. */
static __thread int thread_last_error;

void error_set(int err)
{
	struct proc *p = sched_current();

	if (p)
		p->last_error = err;
	else
		thread_last_error = err;
}

int lwp_last_error(void)
{
	struct proc *p = sched_current();

	return p ? p->last_error : thread_last_error;
}
