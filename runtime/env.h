/*
 * env.h - the runtime's settings from the environment (LWP_TRACE_EVENTS,
 * LWP_SCHEDTRACE, ...).  A variable that is set must be valid: the caller
 * says so on stderr, or refuses, rather than guess what a typo meant.
 */
#ifndef LWP_ENV_H
#define LWP_ENV_H

#include <errno.h>
#include <stdlib.h>

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

#endif /* LWP_ENV_H */
