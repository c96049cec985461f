/*
 * steal.h - work stealing: an idle scheduler takes half of another's queue.
 */
#ifndef LWP_STEAL_H
#define LWP_STEAL_H

struct sched;
struct proc;

/*
 * One pass over the other schedulers in s's steal order (runtime/topo.h:
 * nearest tier first, each tier from a random victim on); steal half of the
 * first non-empty ring found into s's own and return one of those
 * processes, or NULL.  s's ring must be empty.
 */
struct proc *steal_work(struct sched *s);

#endif /* LWP_STEAL_H */
