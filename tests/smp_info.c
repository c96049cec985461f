/*
 * smp_info - describing processes while they change (also under TSan).
 *
 * Processes on every scheduler spawn short-lived children, yield, block
 * and exit, so that slots are freed and reused all the time; meanwhile
 * host threads and a process describe random recent pids
 * (lwp_process_info), list them (lwp_processes) and dump the table
 * (lwp_process_dump, to /dev/null).  A description must be of the pid
 * asked for or say LWP_ENOPROC; its figures must be in range.
 */
#include <fcntl.h>
#include <unistd.h>

#include "smp_common.h"

#define NAME	"smp_info"
#define WORKERS 4
#define THREADS 2
#define RECENT	64

static long rounds;
static _Atomic lwp_pid recent[RECENT];
static _Atomic long described, gone, dumped;
static _Atomic bool done;

static void child(void *arg)
{
	(void)arg;
	lwp_yield();
	(void)lwp_receive(NULL, NULL, 0); /* polls: nothing comes */
}

static void worker(void *arg)
{
	uint64_t rng = smp_stream((uint64_t)(intptr_t)arg);

	for (long r = 0; r < rounds; r++) {
		lwp_pid p = lwp_spawn(child, NULL);
		REQUIRE(p > 0, "spawn: %s", lwp_strerror((int)p));
		atomic_store(&recent[smp_below(&rng, RECENT)], p);
		if (smp_one_in(&rng, 8))
			lwp_yield();
	}
}

/* One description: of the pid asked for, or gone; figures in range. */
static void describe(lwp_pid pid)
{
	lwp_proc_info in;
	int rc;

	if (pid <= 0)
		return;
	rc = lwp_process_info(pid, &in);
	if (rc == LWP_ENOPROC) {
		atomic_fetch_add(&gone, 1);
		return;
	}
	CHECK(rc == 0, "lwp_process_info: %s", lwp_strerror(rc));
	if (rc)
		return;
	CHECK(in.pid == pid, "described another pid");
	CHECK(in.status >= LWP_STATUS_RUNNING &&
		      in.status <= LWP_STATUS_EXITING,
	      "status %d", (int)in.status);
	CHECK(in.scheduler >= -1 && in.scheduler < (int)smp.scheds,
	      "scheduler %d", in.scheduler);
	CHECK(in.stack_used <= in.stack_size, "stack %zu of %zu", in.stack_used,
	      in.stack_size);
	atomic_fetch_add(&described, 1);
}

static void watch(uint64_t *rng, int devnull)
{
	lwp_pid list[256];

	for (int i = 0; i < 16; i++)
		describe(atomic_load(&recent[smp_below(rng, RECENT)]));
	CHECK(lwp_processes(list, 256) >= 0, "lwp_processes");
	if (smp_one_in(rng, 16)) {
		CHECK(lwp_process_dump(devnull) >= 0, "lwp_process_dump");
		atomic_fetch_add(&dumped, 1);
	}
}

static void *watcher_thread(void *arg)
{
	uint64_t rng = smp_stream(100 + (uint64_t)(intptr_t)arg);
	int devnull = open("/dev/null", O_WRONLY);

	while (!atomic_load(&done))
		watch(&rng, devnull);
	close(devnull);
	return NULL;
}

static void watcher(void *arg)
{
	uint64_t rng = smp_stream(200);
	int devnull = open("/dev/null", O_WRONLY);

	(void)arg;
	while (!atomic_load(&done)) {
		watch(&rng, devnull);
		lwp_yield();
	}
	close(devnull);
}

static void boss(void *arg)
{
	lwp_pid w[WORKERS];
	lwp_ref ref[WORKERS];
	pthread_t t[THREADS];

	(void)arg;
	for (int i = 0; i < THREADS; i++)
		REQUIRE(pthread_create(&t[i], NULL, watcher_thread,
				       (void *)(intptr_t)i) == 0,
			"pthread_create");
	smp_spawn(watcher, NULL, 0);
	for (int i = 0; i < WORKERS; i++) {
		w[i] = smp_spawn(worker, (void *)(intptr_t)i, i);
		ref[i] = lwp_monitor(w[i]);
	}
	for (int i = 0; i < WORKERS; i++)
		lwp_msg_free(SMP_RECV(lwp_match_tag,
				      &(uint64_t){ LWP_TAG_DOWN }, "a DOWN"));
	atomic_store(&done, true);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	(void)ref;
}

int main(int argc, char **argv)
{
	lwp_config cfg;

	smp_init(argc, argv, NAME);
	rounds = smp_scaled(20000, 500);
	cfg = smp_config();
	smp_watchdog(120, "%d workers x %ld spawns", WORKERS, rounds);
	CHECK_RC(lwp_main(&cfg, boss, NULL), 0);
	return smp_done("%ld described, %ld gone, %ld dumps",
			atomic_load(&described), atomic_load(&gone),
			atomic_load(&dumped));
}
