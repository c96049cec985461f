/*
 * check_rc.h - CHECK_RC, for both test harnesses (test_common.h for the
 * Criterion suites, smp_common.h for the plain stress programs); include
 * it after the harness has defined CHECK.
 */
#ifndef LWP_CHECK_RC_H
#define LWP_CHECK_RC_H

#include "lwp.h"

/* CHECK that an integer-valued call returned want, naming both codes. */
#define CHECK_RC(call, want)                                                  \
	do {                                                                  \
		long long got_ = (long long)(call);                           \
		long long want_ = (long long)(want);                          \
		CHECK(got_ == want_, "%s returned %lld (%s), want %lld (%s)", \
		      #call, got_, lwp_strerror((int)got_), want_,            \
		      lwp_strerror((int)want_));                              \
	} while (0)

#endif /* LWP_CHECK_RC_H */
