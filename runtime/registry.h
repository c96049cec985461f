/*
 * registry.h - registered names (Erlang's register/whereis).
 *
 * A hash table under one mutex: registering and looking up names is not on
 * the message hot path, and lwp_send_name() does one locked lookup.
 */
#ifndef LWP_REGISTRY_H
#define LWP_REGISTRY_H

#include "compiler.h"

struct proc;

#include <stdbool.h>

/* Copy p's registered name into buf (LWP_NAME_MAX + 1 bytes); false if it
 * has none. */
bool registry_name_of(struct proc *p, char *buf);
/* The same, but false at once if the registry is busy: for the crash
 * report, whose thread may have faulted holding the registry's lock. */
bool registry_name_peek(struct proc *p, char *buf);
/* Release p's name (p is exiting). */
void registry_release(struct proc *p);
/* Forget every name (the runtime stopped). */
void registry_clear(void);

#endif /* LWP_REGISTRY_H */
