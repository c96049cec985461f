/*
 * registry.c - see registry.h.
 *
 * A name and its process point at each other (proc->name).  The one race
 * is registering a process while it exits: register stores proc->name and
 * then re-checks the pid; exit clears the pid and then loads proc->name.
 * Both are seq_cst, so at least one of them sees the other and the name is
 * removed, by register (LWP_ENOPROC) or by the exit.
 */
#include "registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lwp.h"
#include "proc.h"
#include "runtime.h"
#include "sched.h"
#include "trace.h"

struct reg_name {
	struct reg_name *next; /* bucket chain */
	struct proc *proc;
	lwp_pid pid;
	char name[LWP_NAME_MAX + 1];
};

static struct {
	pthread_mutex_t lock;
	struct reg_name **buckets;
	size_t nbuckets; /* a power of two, or 0 */
	size_t count;
} reg = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t hash(const char *s)
{
	size_t h = 14695981039346656037ull; /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static int check_name(const char *name)
{
	if (!name)
		return LWP_EINVAL;
	size_t n = strnlen(name, LWP_NAME_MAX + 1);
	return n == 0 || n > LWP_NAME_MAX ? LWP_ENAME : 0;
}

/* Under reg.lock: the link that points at name's entry (or at NULL). */
static struct reg_name **find(const char *name)
{
	struct reg_name **link;

	if (!reg.nbuckets)
		return NULL;
	link = &reg.buckets[hash(name) & (reg.nbuckets - 1)];
	while (*link && strcmp((*link)->name, name) != 0)
		link = &(*link)->next;
	return link;
}

/* Under reg.lock: make room for one more name. */
static int grow(void)
{
	size_t n = reg.nbuckets ? 2 * reg.nbuckets : 64;
	struct reg_name **b;

	if (reg.count < reg.nbuckets)
		return 0;
	b = calloc(n, sizeof(*b));
	if (!b)
		return LWP_ENOMEM;
	for (size_t i = 0; i < reg.nbuckets; i++) {
		struct reg_name *e = reg.buckets[i];
		while (e) {
			struct reg_name *next = e->next;
			size_t k = hash(e->name) & (n - 1);
			e->next = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(reg.buckets);
	reg.buckets = b;
	reg.nbuckets = n;
	return 0;
}

/* Under reg.lock. */
static void unlink_entry(struct reg_name **link)
{
	struct reg_name *e = *link;

	*link = e->next;
	atomic_store(&e->proc->name, NULL);
	reg.count--;
	free(e);
}

/* Take reg.lock for a call that works without a running runtime.  A
 * process holding it is not preemptible: another process on its thread
 * would wait for it for ever. */
static struct proc *lock(void)
{
	struct proc *self = sched_current();

	if (self)
		preempt_disable(self);
	pthread_mutex_lock(&reg.lock);
	return self;
}

static void unlock(struct proc *self)
{
	pthread_mutex_unlock(&reg.lock);
	if (self)
		preempt_enable(self);
}

/* Under reg.lock. */
static int add(const char *name, struct proc *p, lwp_pid pid)
{
	struct reg_name **link = find(name);
	struct reg_name *e;

	if (link && *link)
		return LWP_ENAMETAKEN;
	if (atomic_load(&p->name))
		return LWP_EREGISTERED;
	if (grow() != 0 || !(e = malloc(sizeof(*e))))
		return LWP_ENOMEM;
	strcpy(e->name, name);
	e->proc = p;
	e->pid = pid;
	link = find(name);
	e->next = *link;
	*link = e;
	reg.count++;
	atomic_store(&p->name, e);
	if (atomic_load(&p->pid) != pid) { /* it is exiting: see above */
		unlink_entry(find(name));
		return LWP_ENOPROC;
	}
	return 0;
}

int lwp_register(const char *name, lwp_pid pid)
{
	struct proc *p;
	int err = check_name(name);

	if (err)
		return err;
	struct proc *self = sched_current();
	err = rt_enter(self);
	if (err)
		return err;
	err = proc_lookup(pid, &p);
	if (!err) {
		pthread_mutex_lock(&reg.lock);
		err = add(name, p, pid);
		pthread_mutex_unlock(&reg.lock);
	}
	if (!err)
		TRACE(register, pid, name);
	rt_leave(self);
	return err;
}

int lwp_unregister(const char *name)
{
	struct reg_name **link;
	struct proc *self;
	int err = check_name(name);

	if (err)
		return err;
	self = lock();
	link = find(name);
	if (link && *link)
		unlink_entry(link);
	else
		err = LWP_ENOTREG;
	unlock(self);
	return err;
}

lwp_pid lwp_whereis(const char *name)
{
	struct reg_name **link;
	lwp_pid pid = LWP_ENOTREG;
	struct proc *self;
	int err = check_name(name);

	if (err)
		return err;
	self = lock();
	link = find(name);
	if (link && *link)
		pid = (*link)->pid;
	unlock(self);
	return pid;
}

int lwp_send_name(const char *name, uint64_t tag, const void *data, size_t size)
{
	lwp_pid pid = lwp_whereis(name);

	return pid < 0 ? (int)pid : lwp_send(pid, tag, data, size);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const lwp_reg_entry *)a)->name,
		      ((const lwp_reg_entry *)b)->name);
}

long lwp_registered(lwp_reg_entry *out, size_t cap)
{
	lwp_reg_entry *all;
	struct proc *self;
	size_t n = 0;

	if (!out && cap)
		return LWP_EINVAL;
	self = lock();
	all = malloc((reg.count ? reg.count : 1) * sizeof(*all));
	if (!all) {
		unlock(self);
		return LWP_ENOMEM;
	}
	for (size_t i = 0; i < reg.nbuckets; i++)
		for (struct reg_name *e = reg.buckets[i]; e; e = e->next) {
			memcpy(all[n].name, e->name, sizeof(all[n].name));
			all[n++].pid = e->pid;
		}
	unlock(self);
	qsort(all, n, sizeof(*all), by_name);
	if (out)
		memcpy(out, all, (n < cap ? n : cap) * sizeof(*all));
	free(all);
	return (long)n;
}

static bool name_copy(struct proc *p, char *buf, bool wait)
{
	struct reg_name *e;

	if (!atomic_load(&p->name))
		return false;
	if (wait)
		pthread_mutex_lock(&reg.lock);
	else if (pthread_mutex_trylock(&reg.lock) != 0)
		return false;
	e = atomic_load(&p->name);
	if (e)
		memcpy(buf, e->name, sizeof(e->name));
	pthread_mutex_unlock(&reg.lock);
	return e != NULL;
}

bool registry_name_of(struct proc *p, char *buf)
{
	return name_copy(p, buf, true);
}

bool registry_name_peek(struct proc *p, char *buf)
{
	return name_copy(p, buf, false);
}

void registry_release(struct proc *p)
{
	pthread_mutex_lock(&reg.lock);
	struct reg_name *e = atomic_load(&p->name);
	if (e)
		unlink_entry(find(e->name));
	pthread_mutex_unlock(&reg.lock);
}

void registry_clear(void)
{
	pthread_mutex_lock(&reg.lock);
	for (size_t i = 0; i < reg.nbuckets; i++)
		while (reg.buckets[i])
			unlink_entry(&reg.buckets[i]);
	free(reg.buckets);
	reg.buckets = NULL;
	reg.nbuckets = 0;
	pthread_mutex_unlock(&reg.lock);
}
