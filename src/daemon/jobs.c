/* SPDX-License-Identifier: MIT */
/*
 * Jobs: USB scans, bundle checks and updates block for seconds to minutes, so each runs in a
 * thread of its own and the loop stays free for the socket, signals and hotplug. A thread never
 * touches struct daemon: it posts messages to a queue, an eventfd wakes the loop, and the loop
 * applies them in order. A finished thread is joined by the loop when its MSG_DONE arrives.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon.h"

/* Threads need little stack: the deepest user is the update engine with its 4 KiB blocks. */
#define JOB_STACK_SIZE (256 * 1024)

static void *job_thread(void *arg)
{
	struct job *job = arg;
	struct msg *m;

	job->ops->run(job);
	m = calloc(1, sizeof(*m));
	if (!m)
		abort(); /* nothing else could tell the loop that this thread ended */
	m->kind = MSG_DONE;
	m->job = job;
	jobs_post(job->d, m);
	return NULL;
}

void jobs_post(struct daemon *d, struct msg *m)
{
	uint64_t one = 1;
	ssize_t n;

	m->next = NULL;
	pthread_mutex_lock(&d->queue_lock);
	*d->queue_tail = m;
	d->queue_tail = &m->next;
	pthread_mutex_unlock(&d->queue_lock);
	do
		n = write(d->queue_fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

int jobs_start(struct daemon *d, struct job *job)
{
	pthread_attr_t attr;
	int rc;

	job->d = d;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, JOB_STACK_SIZE);
	/* the loop's signal mask (SIGTERM, SIGINT, SIGHUP blocked) is inherited: signals stay
	 * the loop's (sd-event's signalfd) */
	rc = pthread_create(&job->thread, &attr, job_thread, job);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		return -rc;
	d->jobs_running++;
	return 0;
}

static int on_queue(sd_event_source *s, int fd, uint32_t revents, void *user)
{
	struct daemon *d = user;
	uint64_t count;
	struct msg *m;

	(void)s;
	(void)revents;
	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		daemon_log(d, 3, "Failed to read the job queue's eventfd: %s", strerror(errno));
	pthread_mutex_lock(&d->queue_lock);
	m = d->queue_head;
	d->queue_head = NULL;
	d->queue_tail = &d->queue_head;
	pthread_mutex_unlock(&d->queue_lock);
	while (m) {
		struct msg *next = m->next;

		if (m->kind == MSG_DONE) {
			struct job *job = m->job;

			pthread_join(job->thread, NULL);
			d->jobs_running--;
			job->ops->done(d, job);
			/* the threads' malloc arenas held the bundles and USB contexts they freed:
			 * give those pages back, so that an idle daemon is small again */
			if (d->jobs_running == 0)
				malloc_trim(0);
		} else {
			worker_on_msg(d, m);
		}
		free(m);
		m = next;
	}
	daemon_maybe_exit(d);
	return 0;
}

int jobs_init(struct daemon *d)
{
	int rc;

	pthread_mutex_init(&d->queue_lock, NULL);
	d->queue_head = NULL;
	d->queue_tail = &d->queue_head;
	d->queue_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->queue_fd < 0)
		return -errno;
	rc = sd_event_add_io(d->loop, &d->queue_src, d->queue_fd, EPOLLIN, on_queue, d);
	if (rc < 0)
		return rc;
	/* before the socket and the watches: results are applied before new work is taken */
	return sd_event_source_set_priority(d->queue_src, SD_EVENT_PRIORITY_IMPORTANT);
}

void jobs_done(struct daemon *d)
{
	struct msg *m = d->queue_head;

	while (m) {
		struct msg *next = m->next;

		free(m);
		m = next;
	}
	d->queue_head = NULL;
	d->queue_src = sd_event_source_disable_unref(d->queue_src);
	if (d->queue_fd >= 0)
		close(d->queue_fd);
	d->queue_fd = -1;
	pthread_mutex_destroy(&d->queue_lock);
}
