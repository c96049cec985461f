/*
 * flush.c - LFE processes tutorial, 1.1 "Dump and flush".
 *
 * The LFE REPL is a process like any other: messages sent to (self) wait in
 * its mailbox until (: c flush) prints and removes them.  Here the first
 * process plays the REPL.  Output:
 *
 *     Shell got "Test1"
 *     Shell got "Testing: 1, 2, 3!"
 *     Shell got "This is another test message..."
 *     Shell got [1,2,3]
 *     ok
 */
#include <stdio.h>

#include "lwp.h"
#include "terms.h"

static void shell(void *arg)
{
	(void)arg;
	lwp_pid pid = lwp_self(); /* (set pid (self)) */

	/* The seed's flush also shows "Test1", sent before the excerpt. */
	send_string(pid, "Test1");
	send_string(pid, "Testing: 1, 2, 3!");
	send_string(pid, "This is another test message...");
	send_ints(pid, TAG_LIST, 3, (int64_t[]){ 1, 2, 3 });

	/* The messages sit in the mailbox; (: c flush) prints them in order. */
	lwp_flush(shell_got, NULL);
	puts("ok");
}

int main(void)
{
	return lwp_main(NULL, shell, NULL) < 0;
}
