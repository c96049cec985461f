/*
 * fdio.h - writing to a file descriptor from anywhere: the process dump,
 * the crash report and the trace writer, some of them in signal handlers
 * (write(2) is async-signal-safe; stdio is not).
 */
#ifndef LWP_FDIO_H
#define LWP_FDIO_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <unistd.h>

/* Write all of buf[0..len) to fd, going on after EINTR and short writes.
 * False if a write failed (errno says why). */
static inline bool write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

#endif /* LWP_FDIO_H */
