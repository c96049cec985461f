/*
 * smp_common.h - helpers for the plain (no Criterion) stress executables
 * tests/smp_*.c, which also run under ThreadSanitizer.
 *
 * Every test:
 *  - takes the scheduler count as argv[1] (default 2) and "pin" as an
 *    optional argv[2] (scheduler threads bound to cores; default off, as
 *    meson runs several tests at once);
 *  - prints its seed first; LWP_SEED=<seed> in the environment replays it;
 *  - scales its big counts by LWP_STRESS_SCALE, and divides them by
 *    LWP_TEST_SCALE_DOWN (sanitizer and qemu builds define it) and by the
 *    environment's LWP_TEST_SCALE_DOWN;
 *  - arms a watchdog thread that prints what it was waiting for and the
 *    seed, then aborts, if a phase takes too long (a lost wakeup, a
 *    scheduler that never unparks);
 *  - records failed CHECK()s (the first few are printed at once) and exits
 *    0 only if none failed, after a one-line summary such as
 *    "smp_pingpong: 2000000 round trips, 4 schedulers, seed 123: ok".
 */
#ifndef LWP_SMP_COMMON_H
#define LWP_SMP_COMMON_H

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lwp.h"

#ifndef LWP_STRESS_SCALE
#define LWP_STRESS_SCALE 1
#endif
/* Sanitizer and qemu builds: smaller counts, longer watchdogs. */
#ifdef LWP_TEST_SCALE_DOWN
#define SMP_DOWN LWP_TEST_SCALE_DOWN
#define SMP_SLOW 5
#else
#define SMP_DOWN 1
#define SMP_SLOW 1
#endif

#define US  ((int64_t)1000)
#define MS  ((int64_t)1000000)
#define SEC ((int64_t)1000000000)
/* How long a receive that must succeed waits before it counts as lost. */
#define SMP_WAIT (20 * SEC * SMP_SLOW)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct smp {
	const char *name;
	uint64_t seed;
	unsigned scheds;
	int pin;
	long down; /* total divisor of the counts */
	_Atomic int failures;
	/* If set, prints what the test's processes are doing, when a
	 * REQUIRE fails or the watchdog fires. */
	void (*dump)(void);
	/* watchdog */
	pthread_t wd_thread;
	pthread_mutex_t wd_lock;
	char wd_msg[512];
	_Atomic int64_t wd_deadline; /* 0: disarmed */
};

static struct smp smp = { .wd_lock = PTHREAD_MUTEX_INITIALIZER };

static inline int64_t smp_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* Sleep on the calling thread (never inside a process: use lwp_sleep). */
static inline void smp_nap(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / SEC, .tv_nsec = ns % SEC };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* ---- randomness ---------------------------------------------------------- */

/* splitmix64: turns (seed, k) into a well-mixed, non-zero PRNG state. */
static inline uint64_t smp_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x ? x : 0x1234567ull;
}

/* A PRNG state for stream k of this run's seed. */
static inline uint64_t smp_stream(uint64_t k)
{
	return smp_mix(smp.seed ^ smp_mix(k));
}

/* xorshift64*. */
static inline uint64_t smp_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform-ish in [0, n). */
static inline uint64_t smp_below(uint64_t *s, uint64_t n)
{
	return n ? smp_rand(s) % n : 0;
}

/* True one time in n. */
static inline int smp_one_in(uint64_t *s, uint64_t n)
{
	return smp_below(s, n) == 0;
}

/* ---- checks --------------------------------------------------------------- */

#define SMP_PRINTED_FAILURES 10

__attribute__((format(printf, 3, 4), unused)) static void
smp_fail(const char *file, int line, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (atomic_fetch_add(&smp.failures, 1) >= SMP_PRINTED_FAILURES)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s:%d: FAIL: %s (seed %" PRIu64 ")\n", smp.name,
		file, line, buf, smp.seed);
}

/* Count a failure unless cond holds; the message is a printf format. */
#define CHECK(cond, ...)                                           \
	do {                                                       \
		if (!(cond))                                       \
			smp_fail(__FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

/* CHECK, and on failure end the program: nothing sensible is left to do. */
#define REQUIRE(cond, ...)                                         \
	do {                                                       \
		if (!(cond)) {                                     \
			smp_fail(__FILE__, __LINE__, __VA_ARGS__); \
			smp_bail();                                \
		}                                                  \
	} while (0)

#include "check_rc.h"

__attribute__((noreturn, unused)) static void smp_bail(void)
{
	if (smp.dump)
		smp.dump();
	fprintf(stderr, "%s: %u schedulers, seed %" PRIu64 ": FAILED\n",
		smp.name, smp.scheds, smp.seed);
	fflush(NULL);
	_exit(1);
}

/* ---- watchdog ---------------------------------------------------------- */

static void *smp_wd_main(void *arg)
{
	(void)arg;
	for (;;) {
		int64_t d = atomic_load(&smp.wd_deadline);

		if (d && smp_clock() > d)
			break;
		smp_nap(50 * MS);
	}
	pthread_mutex_lock(&smp.wd_lock);
	fprintf(stderr,
		"%s: watchdog: %s (%u schedulers, seed %" PRIu64
		"; replay with LWP_SEED=%" PRIu64 ")\n",
		smp.name, smp.wd_msg, smp.scheds, smp.seed, smp.seed);
	if (smp.dump)
		smp.dump();
	fflush(NULL);
	abort();
}

/*
 * (Re)arm the watchdog: abort unless smp_watchdog() or smp_watchdog_off()
 * is called again within secs seconds (times SMP_SLOW).  The message says
 * what the test was waiting for.
 */
__attribute__((format(printf, 2, 3), unused)) static void
smp_watchdog(unsigned secs, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&smp.wd_lock);
	va_start(ap, fmt);
	vsnprintf(smp.wd_msg, sizeof(smp.wd_msg), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&smp.wd_lock);
	atomic_store(&smp.wd_deadline, smp_clock() + secs * SMP_SLOW * SEC);
}

__attribute__((unused)) static void smp_watchdog_off(void)
{
	atomic_store(&smp.wd_deadline, 0);
}

/* ---- setup and summary -------------------------------------------------- */

static uint64_t smp_env_u64(const char *var, uint64_t dflt)
{
	const char *s = getenv(var);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return dflt;
	v = strtoull(s, &end, 0);
	if (*end) {
		fprintf(stderr, "%s: bad %s=%s\n", smp.name, var, s);
		exit(2);
	}
	return v;
}

/* argv: [schedulers [pin]]. */
static void smp_init(int argc, char **argv, const char *name)
{
	uint64_t env_down;

	smp.name = name;
	smp.scheds = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
	smp.pin = argc > 2 && !strcmp(argv[2], "pin") ? LWP_PIN_ON :
							LWP_PIN_OFF;
	if (smp.scheds < 1 || smp.scheds > LWP_SCHEDULERS_MAX) {
		fprintf(stderr, "usage: %s [SCHEDULERS [pin]]\n", name);
		exit(2);
	}
	smp.seed = smp_env_u64("LWP_SEED", 0);
	if (!smp.seed)
		smp.seed = smp_mix((uint64_t)time(NULL) ^
				   (uint64_t)smp_clock() ^ (uint64_t)getpid()) %
				   1000000000 +
			   1;
	env_down = smp_env_u64("LWP_TEST_SCALE_DOWN", 1);
	smp.down = (long)SMP_DOWN * (long)(env_down ? env_down : 1);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("%s: seed %" PRIu64 ", %u schedulers%s, counts x%d/%ld "
	       "(replay: LWP_SEED=%" PRIu64 ")\n",
	       name, smp.seed, smp.scheds,
	       smp.pin == LWP_PIN_ON ? " (pinned)" : "", LWP_STRESS_SCALE,
	       smp.down, smp.seed);
	if (pthread_create(&smp.wd_thread, NULL, smp_wd_main, NULL)) {
		fprintf(stderr, "%s: cannot start the watchdog\n", name);
		exit(2);
	}
	pthread_detach(smp.wd_thread);
}

/* n scaled by LWP_STRESS_SCALE and the scale-downs, at least min. */
static inline long smp_scaled(long n, long min)
{
	long v = n * LWP_STRESS_SCALE / smp.down;

	return v < min ? min : v;
}

static inline lwp_config smp_config(void)
{
	lwp_config cfg = { .schedulers = smp.scheds, .pin = smp.pin };

	return cfg;
}

/* Print the summary line; the exit status: 0 if every check held. */
__attribute__((format(printf, 1, 2), unused)) static int
smp_done(const char *fmt, ...)
{
	int failed = atomic_load(&smp.failures);
	char what[256];
	va_list ap;

	smp_watchdog_off();
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (failed)
		printf("%s: %s, %u schedulers, seed %" PRIu64
		       ": FAILED (%d checks)\n",
		       smp.name, what, smp.scheds, smp.seed, failed);
	else
		printf("%s: %s, %u schedulers, seed %" PRIu64 ": ok\n",
		       smp.name, what, smp.scheds, smp.seed);
	fflush(NULL);
	return failed ? 1 : 0;
}

/* ---- runtime helpers ----------------------------------------------------- */

/* Spawn options for a process pinned to scheduler i (mod the count), or
 * free to move when i < 0. */
static inline lwp_spawn_opts smp_on(long i)
{
	lwp_spawn_opts o = { 0 };

	if (i >= 0)
		o.scheduler = LWP_ON_SCHEDULER((unsigned long)i % smp.scheds);
	return o;
}

/* Spawn fn(arg) pinned to scheduler i (i < 0: free); REQUIRE success. */
static inline lwp_pid smp_spawn(void (*fn)(void *), void *arg, long i)
{
	lwp_spawn_opts o = smp_on(i);
	lwp_pid pid = lwp_spawn_opt(fn, arg, &o);

	REQUIRE(pid > 0, "spawn (scheduler %ld): %s", i,
		lwp_strerror((int)pid));
	return pid;
}

/* In a process pinned with smp_on(i): CHECK it runs where it was put. */
static inline void smp_check_pinned(long i)
{
	int want, id;

	if (i < 0)
		return;
	want = (int)((unsigned long)i % smp.scheds);
	id = lwp_scheduler_id();
	CHECK(id == want, "process pinned to scheduler %d runs on %d", want,
	      id);
}

/* Receive a message that must come within SMP_WAIT. */
#define SMP_RECV(match, ctx, what)                                   \
	({                                                           \
		lwp_msg *m_ = lwp_receive((match), (ctx), SMP_WAIT); \
		REQUIRE(m_ != NULL, "receive %s: %s", (what),        \
			lwp_strerror(lwp_last_error()));             \
		m_;                                                  \
	})
#define SMP_RECV_TAG(tag, what)                       \
	({                                            \
		uint64_t tag_ = (tag);                \
		SMP_RECV(lwp_match_tag, &tag_, what); \
	})

/*
 * In a process: receive a message tagged tag, waiting as long as
 * *progress keeps changing (a long run is fine, a stall of SMP_WAIT is
 * not: 2 * SMP_WAIT, after any receive in the process it waits for
 * has failed).  The watchdog is rearmed at each change.
 */
static inline lwp_msg *smp_recv_progress(uint64_t tag, _Atomic long *progress,
					 const char *what)
{
	int64_t since = smp_clock();
	long last = atomic_load(progress), now;
	lwp_msg *m;

	while (!(m = lwp_receive_tag(tag, 100 * MS))) {
		now = atomic_load(progress);
		if (now != last) {
			last = now;
			since = smp_clock();
			smp_watchdog(60, "%s (progress %ld)", what, now);
		}
		REQUIRE(smp_clock() - since < 2 * SMP_WAIT,
			"%s: no progress (%ld) for %lld s", what, now,
			(long long)(2 * SMP_WAIT / SEC));
	}
	return m;
}

/*
 * Wait until lwp_process_count() is want, polling (from inside a process
 * with lwp_sleep, from a thread with nanosleep) up to SMP_WAIT; return the
 * last count seen.
 */
static inline size_t smp_wait_procs(size_t want)
{
	int64_t end = smp_clock() + SMP_WAIT;
	size_t n;

	while ((n = lwp_process_count()) != want && smp_clock() < end) {
		if (lwp_sleep(100 * US) == LWP_ENOTPROC)
			smp_nap(100 * US);
	}
	return n;
}

#endif /* LWP_SMP_COMMON_H */
