/* SPDX-License-Identifier: MIT */
/*
 * The incoming directory. A publisher (`dfu-mgr fetch`, a script, a person) makes a complete
 * bundle directory somewhere on the same file system and renames it into incoming/ in one
 * step, as maildir does with tmp/ and new/. inotify reports that rename (IN_MOVED_TO); the
 * entry is then checked in a job thread (no symlinks, the manifest's signature, every image's
 * hash and MCUboot structure) and moved, again by rename, either into the release store or
 * into rejected/ next to a NAME.reason file. Nothing a user dropped is ever deleted.
 *
 * A directory created in place (IN_CREATE) may still be growing: it is left alone. Names
 * starting with '.' are staging names and never looked at. At start (and after an inotify
 * overflow) the entries already there are looked at once nothing in them changed for
 * `settle` seconds, and taken only when they check out: their arrival was not seen, so a
 * failing one may be a copy still in progress, and it is left where it is (and logged).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "daemon.h"
#include "dfumgr/bundle.h"
#include "dfumgr/keyring.h"

#define NAME_MAX_LEN  255
#define PENDING_MAX   256 /* entries waiting for a check; more wait for the next rescan */
#define LEFT_MAX      256 /* entries left alone, remembered so that they are not retried */
#define REJECT_SUFFIX 1000

struct pending_entry {
	char name[NAME_MAX_LEN + 1];
	bool settle; /* found by a scan, not seen arriving */
	struct pending_entry *next;
};

enum check_outcome { CHECK_GONE, CHECK_LEAVE, CHECK_WAIT, CHECK_REJECT, CHECK_OK };

struct check_job {
	struct job base;
	int incoming_fd;
	char name[NAME_MAX_LEN + 1];
	bool settle;
	unsigned settle_s;
	char keys[4096];
	/* results */
	enum check_outcome outcome;
	int err; /* positive dfumgr_err for CHECK_REJECT */
	char message[1024];
	uint64_t wait_ms;
	struct release rel;
};

static char left[LEFT_MAX][NAME_MAX_LEN + 1];
static size_t n_left;

static bool is_left(const char *name)
{
	for (size_t i = 0; i < n_left; i++)
		if (!strcmp(left[i], name))
			return true;
	return false;
}

static void leave(const char *name)
{
	if (!is_left(name) && n_left < LEFT_MAX)
		snprintf(left[n_left++], sizeof(left[0]), "%s", name);
}

static void forget_left(const char *name)
{
	for (size_t i = 0; i < n_left; i++)
		if (!strcmp(left[i], name)) {
			memmove(left[i], left[n_left - 1], sizeof(left[0]));
			n_left--;
			return;
		}
}

/* ---- the check, in a job thread ---- */

static int64_t mtime_ms(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

/*
 * Walks the bundle directory's entries (not recursively: a bundle is flat): no symlinks or
 * special files anywhere in it, and the newest change time for the settle rule.
 */
static int inspect(struct check_job *c, int dfd, int64_t *ret_newest)
{
	struct dirent *e;
	struct stat st;
	int64_t newest = 0;
	DIR *dir;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		snprintf(c->message, sizeof(c->message), "%s: cannot read the directory: %s",
			 c->name, strerror(errno));
		return -DFUMGR_E_IO;
	}
	if (fstat(dfd, &st) == 0)
		newest = mtime_ms(&st);
	while ((e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (mtime_ms(&st) > newest)
			newest = mtime_ms(&st);
		if (rc)
			continue;
		if (S_ISLNK(st.st_mode)) {
			snprintf(c->message, sizeof(c->message),
				 "%s/%s: is a symbolic link (not allowed in a bundle: it could "
				 "point anywhere)",
				 c->name, e->d_name);
			rc = -DFUMGR_E_UNSAFE_PATH;
		} else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
			snprintf(c->message, sizeof(c->message), "%s/%s: not a regular file",
				 c->name, e->d_name);
			rc = -DFUMGR_E_FORMAT;
		}
	}
	closedir(dir);
	*ret_newest = newest;
	return rc;
}

static void check_run(struct job *job)
{
	struct check_job *c = (struct check_job *)job;
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_keyring *ring = NULL;
	struct dfumgr_bundle *b = NULL;
	const struct dfumgr_manifest *m;
	struct stat st;
	int64_t newest = 0;
	int dfd = -1, rc;

	if (!ctx) {
		c->outcome = CHECK_WAIT;
		c->wait_ms = 1000;
		return;
	}
	if (fstatat(c->incoming_fd, c->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		c->outcome = CHECK_GONE;
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		c->outcome = CHECK_REJECT;
		c->err = DFUMGR_E_UNSAFE_PATH;
		snprintf(c->message, sizeof(c->message),
			 "%s: is a symbolic link: a bundle is a directory renamed into the "
			 "incoming directory",
			 c->name);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		c->outcome = CHECK_LEAVE;
		snprintf(c->message, sizeof(c->message),
			 "%s: not a directory: left alone (a bundle is a directory)", c->name);
		goto out;
	}
	dfd = openat(c->incoming_fd, c->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		c->outcome = errno == ENOENT ? CHECK_GONE : CHECK_LEAVE;
		snprintf(c->message, sizeof(c->message), "%s: cannot open: %s", c->name,
			 strerror(errno));
		goto out;
	}
	rc = inspect(c, dfd, &newest);
	if (c->settle) {
		int64_t age = now_ms() - newest;

		if (age < (int64_t)c->settle_s * 1000) {
			c->outcome = CHECK_WAIT;
			c->wait_ms = (uint64_t)((int64_t)c->settle_s * 1000 - age) + 100;
			goto out;
		}
	}
	if (rc < 0) {
		c->outcome = CHECK_REJECT;
		c->err = -rc;
		goto out;
	}
	rc = dfumgr_keyring_load(ctx, c->keys, &ring);
	if (rc < 0) {
		c->outcome = CHECK_REJECT;
		c->err = -rc;
		snprintf(c->message, sizeof(c->message),
			 "no trusted key to check its signature with: %s", dfumgr_ctx_errmsg(ctx));
		goto out;
	}
	rc = dfumgr_bundle_openat(ctx, c->incoming_fd, c->name, ring, 0, NULL, &b);
	if (rc < 0) {
		c->outcome = CHECK_REJECT;
		c->err = -rc;
		snprintf(c->message, sizeof(c->message), "%s", dfumgr_ctx_errmsg(ctx));
		goto out;
	}
	m = dfumgr_bundle_manifest(b);
	if (!dfumgr_manifest_image(m, 0) || !dfumgr_manifest_image(m, 1)) {
		c->outcome = CHECK_REJECT;
		c->err = DFUMGR_E_FORMAT;
		snprintf(c->message, sizeof(c->message),
			 "%s: holds %zu image(s): dfu-mgrd installs pairs (image 0 and image 1)",
			 c->name, m->n_images);
		goto out;
	}
	c->outcome = CHECK_OK;
	snprintf(c->rel.product, sizeof(c->rel.product), "%s", m->product);
	snprintf(c->rel.release, sizeof(c->rel.release), "%s", m->release);
	c->rel.vid = m->vid;
	c->rel.pid = m->pid;
	for (unsigned i = 0; i < 2; i++)
		c->rel.version[i] = dfumgr_manifest_image(m, i)->version;
	c->rel.top = dfumgr_version_cmp(&c->rel.version[0], &c->rel.version[1]) >= 0
			 ? c->rel.version[0]
			 : c->rel.version[1];
	memcpy(c->rel.manifest_sha256, dfumgr_bundle_manifest_sha256(b), 32);
	snprintf(c->rel.signer, sizeof(c->rel.signer), "%s",
		 dfumgr_bundle_signer(b) ? dfumgr_bundle_signer(b) : "");
	{
		char hex[13];

		for (int i = 0; i < 6; i++)
			snprintf(hex + 2 * i, 3, "%02x", c->rel.manifest_sha256[i]);
		snprintf(c->rel.id, sizeof(c->rel.id), "%s_%s", m->release, hex);
	}
out:
	if (dfd >= 0)
		close(dfd);
	dfumgr_bundle_free(b);
	dfumgr_keyring_free(ring);
	dfumgr_ctx_free(ctx);
}

/* ---- moving entries, on the loop ---- */

static void sync_fd(int fd)
{
	if (fd >= 0)
		(void)fsync(fd);
}

/* Writes text to dirfd/name atomically (temporary name, fsync, rename). */
static int write_at(int dirfd, const char *name, const char *text)
{
	char tmp[2 * NAME_MAX_LEN];
	size_t len = strlen(text), done = 0;
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		done += (size_t)n;
	}
	if (!err && fsync(fd) < 0)
		err = errno;
	close(fd);
	if (!err && renameat(dirfd, tmp, dirfd, name) < 0)
		err = errno;
	if (err) {
		unlinkat(dirfd, tmp, 0);
		return -err;
	}
	return 0;
}

static bool exists_at(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void reject(struct daemon *d, const char *name, int err, const char *message)
{
	struct dfumgr_history_record rec = {.size = sizeof(rec), .event = DFUMGR_HISTORY_REJECT};
	char target[NAME_MAX_LEN + 16], reason_name[NAME_MAX_LEN + 32], when[32];
	char *reason = NULL;
	cJSON *ev;
	int rc = -EEXIST;

	snprintf(target, sizeof(target), "%s", name);
	for (unsigned i = 1; i <= REJECT_SUFFIX; i++) {
		snprintf(reason_name, sizeof(reason_name), "%s.reason", target);
		if (!exists_at(d->rejected_fd, target) && !exists_at(d->rejected_fd, reason_name)) {
			rc = 0;
			break;
		}
		snprintf(target, sizeof(target), "%s.%u", name, i);
	}
	if (rc == 0) {
		/* the reason first: a crash before the rename leaves the entry in incoming/,
		 * where the next start checks it again and writes the reason again */
		if (asprintf(&reason,
			     "Rejected: %s\n"
			     "Error: %s (%d)\n"
			     "Entry: %s (moved from the incoming directory)\n"
			     "Time: %s\n",
			     message, dfumgr_strerror(err), err, name,
			     dfumgr_history_time_format(now_ms(), when)) < 0)
			reason = NULL;
		rc = reason ? write_at(d->rejected_fd, reason_name, reason) : -ENOMEM;
		free(reason);
	}
	if (rc == 0 && renameat(d->incoming_fd, name, d->rejected_fd, target) < 0) {
		rc = -errno;
		unlinkat(d->rejected_fd, reason_name, 0);
	}
	sync_fd(d->rejected_fd);
	sync_fd(d->incoming_fd);
	snprintf(rec.name, sizeof(rec.name), "%s", name);
	rec.error = err;
	snprintf(rec.message, sizeof(rec.message), "%s", message);
	if (rc == 0) {
		snprintf(rec.moved_to, sizeof(rec.moved_to), "rejected/%s", target);
		daemon_log(d, 4, "Rejected bundle %s (moved to rejected/%s): %s", name, target,
			   message);
	} else {
		leave(name);
		daemon_log(d, 3,
			   "Rejected bundle %s, but failed to move it aside: %s (it stays in the "
			   "incoming directory): %s",
			   name, strerror(-rc), message);
	}
	(void)state_append(d, &rec);
	ev = cJSON_CreateObject();
	if (ev) {
		cJSON_AddStringToObject(ev, "event", "reject");
		cJSON_AddStringToObject(ev, "name", name);
		cJSON_AddNumberToObject(ev, "error", err);
		cJSON_AddStringToObject(ev, "error_name", dfumgr_strerror(err));
		cJSON_AddStringToObject(ev, "message", message);
		if (rec.moved_to[0])
			cJSON_AddStringToObject(ev, "moved_to", rec.moved_to);
		control_event(d, ev);
	}
}

static void accept_release(struct daemon *d, const char *name, struct release *r)
{
	const struct release *cur = store_current(d, r->product);
	char v1[DFUMGR_VERSION_STRING_MAX], v2[DFUMGR_VERSION_STRING_MAX], msg[1024];
	cJSON *ev;
	int pfd, c, err = 0;

	for (size_t i = 0; i < d->n_releases; i++) {
		const struct release *o = &d->releases[i];

		if (!strcmp(o->product, r->product) &&
		    !memcmp(o->manifest_sha256, r->manifest_sha256, 32)) {
			snprintf(msg, sizeof(msg),
				 "the same bundle (manifest SHA-256) was accepted before, as "
				 "releases/%s/%s",
				 o->product, o->id);
			reject(d, name, DFUMGR_E_EXISTS, msg);
			return;
		}
	}
	if (cur) {
		dfumgr_version_format(&r->top, v1);
		dfumgr_version_format(&cur->top, v2);
		c = dfumgr_version_cmp(&r->top, &cur->top);
		if (c < 0 && !d->cfg.allow_downgrade) {
			snprintf(msg, sizeof(msg),
				 "release %s (version %s) is older than the current release %s of "
				 "%s (version %s): downgrades are off (allow_downgrade in "
				 "dfu-mgrd.conf)",
				 r->release, v1, cur->release, r->product, v2);
			reject(d, name, DFUMGR_E_DOWNGRADE, msg);
			return;
		}
		if (c == 0) {
			snprintf(msg, sizeof(msg),
				 "release %s has version %s, as the current release %s of %s, but "
				 "other content: a board could not tell them apart. Give the new "
				 "build a new version",
				 r->release, v1, cur->release, r->product);
			reject(d, name, DFUMGR_E_REFUSED, msg);
			return;
		}
	}
	if (mkdirat(d->releases_fd, r->product, 0750) < 0 && errno != EEXIST) {
		daemon_log(d, 3, "Failed to create releases/%s: %s", r->product, strerror(errno));
		leave(name);
		return;
	}
	pfd = openat(d->releases_fd, r->product, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		err = errno;
	else if (exists_at(pfd, r->id))
		err = EEXIST; /* the duplicate check above makes this a store edited by hand */
	else if (renameat(d->incoming_fd, name, pfd, r->id) < 0)
		err = errno;
	if (err) {
		daemon_log(d, 3,
			   "Failed to move bundle %s into releases/%s/%s: %s (it stays in the "
			   "incoming directory; the daemon's user needs write access to it)",
			   name, r->product, r->id, strerror(err));
		if (pfd >= 0)
			close(pfd);
		leave(name);
		return;
	}
	sync_fd(pfd);
	sync_fd(d->releases_fd);
	sync_fd(d->incoming_fd);
	close(pfd);
	if (store_add(d, r, name) < 0)
		daemon_log(d, 3, "Failed to record release %s (releases/%s/%s)", r->release,
			   r->product, r->id);
	cur = store_current(d, r->product);
	dfumgr_version_format(&r->top, v1);
	daemon_log(d, 6, "Accepted bundle %s: %s release %s (%s) as releases/%s/%s%s", name,
		   r->product, r->release, v1, r->product, r->id,
		   cur && !strcmp(cur->id, r->id) ? ", now the current release" : "");
	ev = cJSON_CreateObject();
	if (ev) {
		cJSON_AddStringToObject(ev, "event", "release");
		cJSON_AddStringToObject(ev, "name", name);
		store_release_json(r, ev);
		cJSON_AddBoolToObject(ev, "current", cur && !strcmp(cur->id, r->id));
		control_event(d, ev);
	}
	policy_run(d);
}

/* ---- the queue of entries to check ---- */

static int on_settle(sd_event_source *s, uint64_t usec, void *user);

static void rescan_later(struct daemon *d, uint64_t delay_us)
{
	int enabled = SD_EVENT_OFF;

	if (!d->settle_src) {
		if (sd_event_add_time_relative(d->loop, &d->settle_src, CLOCK_MONOTONIC, delay_us,
					       100 * 1000, on_settle, d) < 0)
			daemon_log(d, 3, "Failed to arm a timer: entries in %s wait for a restart",
				   d->cfg.paths[PATH_INCOMING]);
		return;
	}
	/* one rescan covers every entry: keep an earlier one */
	sd_event_source_get_enabled(d->settle_src, &enabled);
	if (enabled != SD_EVENT_OFF) {
		uint64_t at = 0, now = 0;

		sd_event_source_get_time(d->settle_src, &at);
		sd_event_now(d->loop, CLOCK_MONOTONIC, &now);
		if (at <= now + delay_us)
			return;
	}
	sd_event_source_set_time_relative(d->settle_src, delay_us);
	sd_event_source_set_enabled(d->settle_src, SD_EVENT_ONESHOT);
}

static void check_next(struct daemon *d);

static void check_done(struct daemon *d, struct job *job)
{
	struct check_job *c = (struct check_job *)job;

	d->checking = false;
	if (!d->stopping) {
		switch (c->outcome) {
		case CHECK_GONE:
			break;
		case CHECK_LEAVE:
			leave(c->name);
			daemon_log(d, 4, "%s", c->message);
			break;
		case CHECK_WAIT:
			/* still changing: look at everything again once it may have settled */
			rescan_later(d, c->wait_ms * 1000);
			break;
		case CHECK_REJECT:
			if (c->settle) {
				/* its arrival was not seen: it may be a copy still in progress */
				leave(c->name);
				daemon_log(d, 4,
					   "Leaving %s in the incoming directory: %s (found there, "
					   "not renamed in, so maybe still being written; publish "
					   "bundles by renaming a complete directory into it)",
					   c->name, c->message);
				break;
			}
			reject(d, c->name, c->err, c->message);
			break;
		case CHECK_OK:
			accept_release(d, c->name, &c->rel);
			break;
		}
	}
	free(c);
	daemon_update_status(d);
	check_next(d);
}

static const struct job_ops check_ops = {"check", check_run, check_done};

static void check_next(struct daemon *d)
{
	struct pending_entry *p = d->pending;
	struct check_job *c;

	if (d->checking || !p || d->stopping)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	d->pending = p->next;
	c->base.ops = &check_ops;
	c->incoming_fd = d->incoming_fd;
	snprintf(c->name, sizeof(c->name), "%s", p->name);
	c->settle = p->settle;
	c->settle_s = d->cfg.settle_s;
	snprintf(c->keys, sizeof(c->keys), "%s", d->cfg.paths[PATH_KEYS]);
	free(p);
	if (jobs_start(d, &c->base) < 0) {
		daemon_log(d, 3, "Failed to start a thread to check bundle %s", c->name);
		free(c);
		return;
	}
	d->checking = true;
}

static void enqueue(struct daemon *d, const char *name, bool settle)
{
	struct pending_entry **pp = &d->pending, *p;
	size_t n = 0;

	if (name[0] == '.' || strlen(name) > NAME_MAX_LEN)
		return;
	for (; *pp; pp = &(*pp)->next, n++)
		if (!strcmp((*pp)->name, name)) {
			(*pp)->settle = (*pp)->settle && settle;
			return;
		}
	if (n >= PENDING_MAX)
		return; /* the next rescan finds it */
	p = calloc(1, sizeof(*p));
	if (!p)
		return;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->settle = settle;
	*pp = p;
	check_next(d);
}

void incoming_rescan(struct daemon *d)
{
	struct dirent *e;
	DIR *dir;
	int fd = openat(d->incoming_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		daemon_log(d, 3, "Failed to read the incoming directory %s: %s",
			   d->cfg.paths[PATH_INCOMING], strerror(errno));
		return;
	}
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.' && !is_left(e->d_name))
			enqueue(d, e->d_name, true);
	closedir(dir);
}

static int on_settle(sd_event_source *s, uint64_t usec, void *user)
{
	(void)s;
	(void)usec;
	incoming_rescan(user);
	return 0;
}

static int on_inotify(sd_event_source *s, const struct inotify_event *ev, void *user)
{
	struct daemon *d = user;

	(void)s;
	if (ev->mask & IN_Q_OVERFLOW) {
		daemon_log(d, 4,
			   "Too many changes in the incoming directory at once: reading it "
			   "again");
		incoming_rescan(d);
		return 0;
	}
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
		daemon_log(d, 3, "The incoming directory %s was removed or moved: stopping",
			   d->cfg.paths[PATH_INCOMING]);
		sd_event_exit(d->loop, 1);
		return 0;
	}
	if (!ev->len)
		return 0;
	if (ev->mask & IN_MOVED_FROM) {
		forget_left(ev->name);
		return 0;
	}
	if (ev->mask & IN_MOVED_TO) {
		/* renamed in: complete by the publishing rule, checked at once */
		forget_left(ev->name);
		enqueue(d, ev->name, false);
	} else if ((ev->mask & IN_CREATE) && (ev->mask & IN_ISDIR) && ev->name[0] != '.') {
		daemon_log(d, 7,
			   "Ignoring %s: created in place, so maybe still being written "
			   "(publish bundles by renaming a complete directory into %s)",
			   ev->name, d->cfg.paths[PATH_INCOMING]);
	}
	return 0;
}

int incoming_start(struct daemon *d)
{
	const char *path = d->cfg.paths[PATH_INCOMING];
	int rc;

	if (mkdir(path, 0750) < 0 && errno != EEXIST) {
		daemon_log(d, 3, "Failed to create the incoming directory %s: %s", path,
			   strerror(errno));
		return -errno;
	}
	d->incoming_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->incoming_fd < 0) {
		daemon_log(d, 3, "Failed to open the incoming directory %s: %s", path,
			   strerror(errno));
		return -errno;
	}
	rc = sd_event_add_inotify_fd(d->loop, &d->inotify_src, d->incoming_fd,
				     IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE_SELF |
					 IN_MOVE_SELF | IN_ONLYDIR,
				     on_inotify, d);
	if (rc < 0) {
		daemon_log(d, 3, "Failed to watch the incoming directory %s: %s", path,
			   strerror(-rc));
		return rc;
	}
	/* what arrived while the daemon was down */
	incoming_rescan(d);
	return 0;
}

void incoming_stop(struct daemon *d)
{
	struct pending_entry *p = d->pending;

	while (p) {
		struct pending_entry *next = p->next;

		free(p);
		p = next;
	}
	d->pending = NULL;
	d->inotify_src = sd_event_source_disable_unref(d->inotify_src);
	d->settle_src = sd_event_source_disable_unref(d->settle_src);
	if (d->incoming_fd >= 0)
		close(d->incoming_fd);
	d->incoming_fd = -1;
}
