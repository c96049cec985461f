/*
 * sendafter.h - timers that send a message: lwp_send_after,
 * lwp_cancel_timer, lwp_read_timer (Erlang's erlang:send_after/3 and
 * friends).
 *
 * A timer lives in a slot of a type-stable table (like the process table):
 * its ref is (generation << 32 | index), and the slot's generation moves on
 * each time the slot is freed, so a ref that fired or was cancelled never
 * names a later timer, not even one of a later run of the runtime.  The
 * slot's timer node sits in one scheduler's heap (timer.h): the caller's,
 * or for a foreign thread one picked by the addressee's pid.  Whoever takes
 * the node out of that heap, under the heap's lock, owns the timer: the
 * owning scheduler firing it (the message is sent), or a cancel (the
 * message is freed); the other finds it gone.
 */
#ifndef LWP_SENDAFTER_H
#define LWP_SENDAFTER_H

/* The runtime stops (no scheduler runs and no call is in flight): free
 * every pending timer and its message. */
void sendafter_stop(void);

#endif /* LWP_SENDAFTER_H */
