/* SPDX-License-Identifier: MIT */
/* The cancel token: an atomic flag for checks, an eventfd so that sleeps wake at once. */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "dfumgr/cancel.h"

struct dfumgr_cancel {
	atomic_int set;
	int fd;
};

DFUMGR_EXPORT int dfumgr_cancel_new(struct dfumgr_cancel **ret)
{
	struct dfumgr_cancel *c;

	if (!ret)
		return -DFUMGR_E_INVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -DFUMGR_E_NOMEM;
	atomic_init(&c->set, 0);
	c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->fd < 0) {
		free(c);
		return -DFUMGR_E_IO;
	}
	*ret = c;
	return 0;
}

DFUMGR_EXPORT struct dfumgr_cancel *dfumgr_cancel_free(struct dfumgr_cancel *c)
{
	if (c) {
		close(c->fd);
		free(c);
	}
	return NULL;
}

DFUMGR_EXPORT void dfumgr_cancel_trigger(struct dfumgr_cancel *c)
{
	uint64_t one = 1;
	int saved = errno; /* a signal handler must leave errno as it found it */

	if (!c)
		return;
	if (atomic_exchange(&c->set, 1) == 0) {
		ssize_t n = write(c->fd, &one, sizeof(one));

		(void)n; /* a full counter is still readable: nothing to do about a failure */
	}
	errno = saved;
}

DFUMGR_EXPORT bool dfumgr_cancel_is_set(const struct dfumgr_cancel *c)
{
	return c && atomic_load(&((struct dfumgr_cancel *)c)->set) != 0;
}

DFUMGR_EXPORT int dfumgr_cancel_fd(const struct dfumgr_cancel *c)
{
	return c ? c->fd : -1;
}

DFUMGR_EXPORT void dfumgr_cancel_reset(struct dfumgr_cancel *c)
{
	uint64_t v;

	if (!c)
		return;
	while (read(c->fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
	atomic_store(&c->set, 0);
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

DFUMGR_EXPORT int dfumgr_cancel_sleep(const struct dfumgr_cancel *c, uint64_t timeout_us)
{
	uint64_t end = mono_us() + timeout_us;

	for (;;) {
		uint64_t now = mono_us();
		struct pollfd p = {.fd = c ? c->fd : -1, .events = POLLIN};
		uint64_t left_ms;

		if (dfumgr_cancel_is_set(c))
			return -DFUMGR_E_CANCELLED;
		if (now >= end)
			return 0;
		/* poll() counts milliseconds: round up so that the sleep is never short */
		left_ms = (end - now + 999) / 1000;
		if (poll(&p, c ? 1 : 0, left_ms > 60000 ? 60000 : (int)left_ms) < 0 &&
		    errno != EINTR)
			return -DFUMGR_E_IO;
	}
}
