/* SPDX-License-Identifier: MIT */
/*
 * The release store: STATE/releases/PRODUCT/RELEASE_SHA12/, one directory per accepted bundle,
 * moved there whole from the incoming directory by one rename. Nothing is ever deleted from it.
 * The current release of a product is the highest version (or, with allow_downgrade, the one
 * accepted last: dropping an older bundle is then a rollback). Acceptance order comes from the
 * history's RELEASE records; a directory without one (the daemon died between the rename and
 * the record) is adopted at the next start.
 *
 * Only the manifest is read here (to know what a release is); every use of a release by an
 * update opens and verifies the whole bundle again (worker.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "daemon.h"
#include "dfumgr/bundle.h"
#include "dfumgr/crypto.h"

static int open_dir(struct daemon *d, const char *base, const char *name, int *ret_fd)
{
	int bfd, fd;

	bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0) {
		daemon_log(d, 3, "Failed to open the state directory %s: %s", base,
			   strerror(errno));
		return -errno;
	}
	if (mkdirat(bfd, name, 0750) < 0 && errno != EEXIST) {
		daemon_log(d, 3, "Failed to create %s/%s: %s", base, name, strerror(errno));
		close(bfd);
		return -errno;
	}
	fd = openat(bfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		daemon_log(d, 3, "Failed to open %s/%s: %s", base, name, strerror(errno));
	close(bfd);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/* Reads PRODUCT/ID/manifest.json of the store; 0, or <0 when it is not a release. */
static int read_release(struct daemon *d, const char *product, const char *id, struct release *ret)
{
	struct dfumgr_manifest m;
	char rel[512];
	uint8_t *buf = NULL;
	size_t size = 0;
	int fd, rc;

	if (strlen(id) >= sizeof(ret->id))
		return -DFUMGR_E_TOOBIG;
	snprintf(rel, sizeof(rel), "%s/%s/%s", product, id, DFUMGR_BUNDLE_MANIFEST);
	fd = openat(d->releases_fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	buf = malloc(DFUMGR_MANIFEST_SIZE_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, buf + size, DFUMGR_MANIFEST_SIZE_MAX + 1 - size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size += (size_t)n;
		if (size > DFUMGR_MANIFEST_SIZE_MAX)
			break;
	}
	close(fd);
	rc = size > DFUMGR_MANIFEST_SIZE_MAX ? -DFUMGR_E_TOOBIG
					     : dfumgr_manifest_parse(d->ctx, buf, size, &m);
	if (rc == 0 && strcmp(m.product, product) != 0)
		rc = -DFUMGR_E_MISMATCH;
	if (rc == 0) {
		memset(ret, 0, sizeof(*ret));
		snprintf(ret->product, sizeof(ret->product), "%s", m.product);
		snprintf(ret->release, sizeof(ret->release), "%s", m.release);
		snprintf(ret->id, sizeof(ret->id), "%.*s", (int)sizeof(ret->id) - 1, id);
		ret->vid = m.vid;
		ret->pid = m.pid;
		for (size_t i = 0; i < m.n_images; i++)
			if (m.images[i].image < 2)
				ret->version[m.images[i].image] = m.images[i].version;
		ret->top = dfumgr_version_cmp(&ret->version[0], &ret->version[1]) >= 0
			       ? ret->version[0]
			       : ret->version[1];
		dfumgr_sha256(buf, size, ret->manifest_sha256);
	}
	free(buf);
	return rc;
}

static int push(struct daemon *d, const struct release *r)
{
	struct release *v;

	if (d->n_releases >= RELEASES_MAX)
		return -DFUMGR_E_TOOBIG;
	v = realloc(d->releases, (d->n_releases + 1) * sizeof(*v));
	if (!v)
		return -DFUMGR_E_NOMEM;
	d->releases = v;
	d->releases[d->n_releases++] = *r;
	return 0;
}

static void load_product(struct daemon *d, const char *product)
{
	struct dirent *e;
	DIR *dir;
	int fd;

	fd = openat(d->releases_fd, product, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(dir))) {
		struct release r;
		int rc;

		if (e->d_name[0] == '.')
			continue;
		rc = read_release(d, product, e->d_name, &r);
		if (rc < 0) {
			daemon_log(d, 4, "Ignoring releases/%s/%s: not a release (%s)", product,
				   e->d_name,
				   dfumgr_strerror(rc < -DFUMGR_E_MAX ? DFUMGR_E_IO : rc));
			continue;
		}
		if (push(d, &r) < 0) {
			daemon_log(d, 4, "Ignoring releases/%s/%s: more than %d releases", product,
				   e->d_name, RELEASES_MAX);
			break;
		}
	}
	closedir(dir);
}

int store_open(struct daemon *d)
{
	const char *state = d->cfg.paths[PATH_STATE];
	struct dirent *e;
	DIR *dir;
	int rc, fd;

	rc = open_dir(d, state, "releases", &d->releases_fd);
	if (rc == 0)
		rc = open_dir(d, state, "rejected", &d->rejected_fd);
	if (rc < 0)
		return rc;
	fd = openat(d->releases_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			load_product(d, e->d_name);
	closedir(dir);
	return 0;
}

void store_close(struct daemon *d)
{
	if (d->releases_fd >= 0)
		close(d->releases_fd);
	if (d->rejected_fd >= 0)
		close(d->rejected_fd);
	d->releases_fd = d->rejected_fd = -1;
	free(d->releases);
	d->releases = NULL;
	d->n_releases = 0;
}

/* From the history replay: the RELEASE record of a release in the store. */
void store_note(struct daemon *d, const struct dfumgr_history_record *rec)
{
	for (size_t i = 0; i < d->n_releases; i++) {
		struct release *r = &d->releases[i];

		if (!strcmp(r->product, rec->product) && !strcmp(r->id, rec->release_id)) {
			r->order = ++d->release_order;
			r->accepted_ms = rec->time_ms;
			snprintf(r->signer, sizeof(r->signer), "%.*s", (int)sizeof(r->signer) - 1,
				 rec->moved_to);
		}
	}
}

static int record_release(struct daemon *d, const struct release *r, const char *name)
{
	struct dfumgr_history_record rec = {.size = sizeof(rec), .event = DFUMGR_HISTORY_RELEASE};

	snprintf(rec.product, sizeof(rec.product), "%s", r->product);
	snprintf(rec.release, sizeof(rec.release), "%s", r->release);
	snprintf(rec.release_id, sizeof(rec.release_id), "%s", r->id);
	for (int i = 0; i < 2; i++)
		dfumgr_version_format(&r->version[i], rec.version[i]);
	snprintf(rec.name, sizeof(rec.name), "%s", name);
	/* the signer rides in moved_to: where the release went is releases/PRODUCT/ID anyway */
	snprintf(rec.moved_to, sizeof(rec.moved_to), "%s", r->signer);
	snprintf(rec.message, sizeof(rec.message), "accepted as releases/%s/%s%s%s", r->product,
		 r->id, r->signer[0] ? ", signed by " : "", r->signer);
	return state_append(d, &rec);
}

/* Releases in the store without a RELEASE record (a crash right after the rename). */
int store_adopt(struct daemon *d)
{
	for (size_t i = 0; i < d->n_releases; i++) {
		struct release *r = &d->releases[i];
		int rc;

		if (r->order)
			continue;
		r->order = ++d->release_order;
		r->accepted_ms = now_ms();
		daemon_log(d, 4, "Adopting releases/%s/%s (accepted when the daemon stopped)",
			   r->product, r->id);
		rc = record_release(d, r, r->id);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int store_add(struct daemon *d, const struct release *r, const char *name)
{
	struct release copy = *r;
	int rc;

	copy.order = ++d->release_order;
	copy.accepted_ms = now_ms();
	rc = push(d, &copy);
	if (rc < 0)
		return rc;
	return record_release(d, &copy, name);
}

const struct release *store_current(struct daemon *d, const char *product)
{
	const struct release *best = NULL;

	for (size_t i = 0; i < d->n_releases; i++) {
		const struct release *r = &d->releases[i];
		int c;

		if (strcmp(r->product, product) != 0)
			continue;
		if (!best) {
			best = r;
			continue;
		}
		if (d->cfg.allow_downgrade) {
			if (r->order > best->order)
				best = r;
			continue;
		}
		c = dfumgr_version_cmp(&r->top, &best->top);
		if (c > 0 || (c == 0 && r->order > best->order))
			best = r;
	}
	return best;
}

const struct release *store_find(struct daemon *d, const char *product, const char *name)
{
	const struct release *found = NULL;

	for (size_t i = 0; i < d->n_releases; i++) {
		const struct release *r = &d->releases[i];

		if (strcmp(r->product, product) != 0)
			continue;
		if (!strcmp(r->id, name))
			return r;
		/* a release name accepted twice (other content) is ambiguous: the later wins */
		if (!strcmp(r->release, name) && (!found || r->order > found->order))
			found = r;
	}
	return found;
}

void store_release_json(const struct release *r, cJSON *o)
{
	char v[2][DFUMGR_VERSION_STRING_MAX], sha[65], when[32];
	const char *both[2] = {v[0], v[1]};

	for (int i = 0; i < 2; i++)
		dfumgr_version_format(&r->version[i], v[i]);
	for (int i = 0; i < 32; i++)
		snprintf(sha + 2 * i, 3, "%02x", r->manifest_sha256[i]);
	cJSON_AddStringToObject(o, "product", r->product);
	cJSON_AddStringToObject(o, "release", r->release);
	cJSON_AddStringToObject(o, "id", r->id);
	cJSON_AddItemToObject(o, "version", cJSON_CreateStringArray(both, 2));
	cJSON_AddStringToObject(o, "manifest_sha256", sha);
	if (r->signer[0])
		cJSON_AddStringToObject(o, "signer", r->signer);
	if (r->accepted_ms)
		cJSON_AddStringToObject(o, "accepted",
					dfumgr_history_time_format(r->accepted_ms, when));
}
