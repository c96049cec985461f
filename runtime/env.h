/*
 * env.h - the runtime's settings from the environment (LWP_TRACE_EVENTS,
 * LWP_SCHEDTRACE, ...).  A variable that is set must be valid: the caller
 * says so on stderr, or refuses, rather than guess what a typo meant.
 */
#ifndef LWP_ENV_H
#define LWP_ENV_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lwp.h"

/* A positive decimal: 0 if name is unset or empty, -1 if malformed. */
static inline long env_positive(const char *name)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	return errno || *end || n <= 0 ? -1 : n;
}

/* A signal, "QUIT", "SIGQUIT" or a number, into *signo (unset: 0).  0,
 * or LWP_EINVAL if malformed (empty too). */
static inline int env_signal(const char *name, int *signo)
{
	const char *v = getenv(name);
	char *end;
	long n;

	*signo = 0;
	if (!v)
		return 0;
	if (!strncmp(v, "SIG", 3))
		v += 3;
	for (int i = 1; i < 32; i++) {
		const char *abbrev = sigabbrev_np(i);
		if (abbrev && !strcmp(v, abbrev)) {
			*signo = i;
			return 0;
		}
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 0 || n > SIGRTMAX)
		return LWP_EINVAL;
	*signo = (int)n;
	return 0;
}

/* A switch, "0" or "1", into *on (unset: dflt).  0, or LWP_EINVAL. */
static inline int env_bool(const char *name, bool dflt, bool *on)
{
	const char *v = getenv(name);

	*on = dflt;
	if (!v)
		return 0;
	if (strcmp(v, "0") && strcmp(v, "1"))
		return LWP_EINVAL;
	*on = *v == '1';
	return 0;
}

#endif /* LWP_ENV_H */
