/* SPDX-License-Identifier: MIT */
/* Device enumeration, matching and open DFU interfaces, over a backend. */
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <strings.h>

#include "internal.h"
#include "dev_internal.h"
#include "dfumgr/cancel.h"

#define CONTROL_TIMEOUT_MS 5000

DFUMGR_EXPORT bool dfumgr_match_device(const struct dfumgr_match *m,
				       const struct dfumgr_device_info *info)
{
	if (!m)
		return true;
	if (m->vid && m->vid != info->vid)
		return false;
	if (m->pid && m->pid != info->pid)
		return false;
	if (m->serial && *m->serial && strcmp(m->serial, info->serial) != 0)
		return false;
	if (m->path && *m->path && strcmp(m->path, info->path) != 0)
		return false;
	return true;
}

static int parse_hex16(const char *s, const char *end, uint16_t *ret)
{
	unsigned v = 0;

	if (s == end || end - s > 4)
		return -1;
	for (; s < end; s++) {
		char c = *s;
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;

		if (d < 0)
			return -1;
		v = v << 4 | (unsigned)d;
	}
	*ret = (uint16_t)v;
	return 0;
}

DFUMGR_EXPORT int dfumgr_match_parse_id(struct dfumgr_match *m, const char *s)
{
	const char *colon;
	uint16_t vid, pid;

	if (!m || !s)
		return -DFUMGR_E_INVAL;
	colon = strchr(s, ':');
	if (!colon || parse_hex16(s, colon, &vid) < 0 ||
	    parse_hex16(colon + 1, colon + strlen(colon), &pid) < 0)
		return -DFUMGR_E_INVAL;
	m->vid = vid;
	m->pid = pid;
	return 0;
}

DFUMGR_EXPORT int dfumgr_backend_new(const struct dfumgr_backend_ops *ops, void *priv,
				     struct dfumgr_backend **ret)
{
	struct dfumgr_backend *be;

	if (!ops || !ret || !ops->list || !ops->open || !ops->sleep_us || !ops->now_us ||
	    !ops->wait_event)
		return -DFUMGR_E_INVAL;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -DFUMGR_E_NOMEM;
	if (pthread_mutex_init(&be->lock, NULL) != 0) {
		free(be);
		return -DFUMGR_E_NOMEM;
	}
	be->ops = ops;
	be->priv = priv;
	*ret = be;
	return 0;
}

DFUMGR_EXPORT struct dfumgr_backend *dfumgr_backend_free(struct dfumgr_backend *be)
{
	if (be) {
		if (be->ops && be->ops->free)
			be->ops->free(be->priv);
		free(be->cache);
		pthread_mutex_destroy(&be->lock);
		free(be);
	}
	return NULL;
}

DFUMGR_EXPORT const char *dfumgr_backend_name(const struct dfumgr_backend *be)
{
	return be && be->ops->name ? be->ops->name : "";
}

DFUMGR_EXPORT uint64_t dfumgr_backend_now_us(struct dfumgr_backend *be)
{
	return be ? be->ops->now_us(be->priv) : 0;
}

/* ---- the device monitor ---- */

/* One enumeration of one device interface: a re-enumeration gets a new address. */
static bool same_enumeration(const struct dfumgr_device_info *a, const struct dfumgr_device_info *b)
{
	return a->bus == b->bus && a->address == b->address && a->vid == b->vid &&
	       a->pid == b->pid && a->interface == b->interface && a->dfu_mode == b->dfu_mode &&
	       a->bcd_device == b->bcd_device && !strcmp(a->path, b->path);
}

/* The hotplug event count, or the poll tick for a backend without hotplug. */
static uint64_t events_now(struct dfumgr_backend *be)
{
	if (be->ops->events)
		return be->ops->events(be->priv);
	return be->ops->now_us(be->priv) / (DFUMGR_MONITOR_POLL_MS * 1000u);
}

/* Lists again; strings are carried over from the same enumeration or read once. Under lock. */
static int monitor_refresh(struct dfumgr_ctx *ctx, struct dfumgr_backend *be, uint64_t ev)
{
	struct dfumgr_device_info *list = NULL;
	struct monitor_entry *next;
	size_t n = 0;
	int rc;

	rc = be->ops->list(be->priv, ctx, &list, &n);
	if (rc < 0)
		return rc;
	next = calloc(n ? n : 1, sizeof(*next));
	if (!next) {
		free(list);
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		next[i].info = list[i];
		for (size_t k = 0; k < be->n_cache; k++) {
			if (be->cache[k].strings_done &&
			    same_enumeration(&be->cache[k].info, &list[i])) {
				next[i] = be->cache[k];
				break;
			}
		}
		if ((!next[i].strings_done || next[i].denied) && be->ops->read_strings) {
			int rc2 = be->ops->read_strings(be->priv, NULL, &next[i].info);

			/*
			 * No access (yet: udev may not have applied its rule): listed without
			 * strings, as before, and read again later. Any other failure (not ready,
			 * gone): not listed until a read succeeds.
			 */
			next[i].denied = rc2 == -DFUMGR_E_ACCESS;
			next[i].strings_done = rc2 == 0 || next[i].denied;
			be->stats.string_reads++;
		} else if (!be->ops->read_strings) {
			next[i].strings_done = true;
		}
	}
	free(list);
	free(be->cache);
	be->cache = next;
	be->n_cache = n;
	be->valid = true;
	be->seen_events = ev;
	be->stats.refreshes++;
	return 0;
}

DFUMGR_EXPORT int dfumgr_device_list(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				     const struct dfumgr_match *m,
				     struct dfumgr_device_info **ret_list, size_t *ret_n)
{
	struct dfumgr_device_info *out = NULL;
	bool retry = false;
	size_t k = 0;
	uint64_t ev;
	int rc = 0;

	if (!be || !ret_list || !ret_n)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_device_list: NULL argument");
	pthread_mutex_lock(&be->lock);
	ev = events_now(be);
	for (size_t i = 0; i < be->n_cache; i++)
		retry = retry || !be->cache[i].strings_done || be->cache[i].denied;
	/* a device whose strings could not be read yet (not ready) is tried again */
	if (!be->valid || ev != be->seen_events || retry) {
		rc = monitor_refresh(ctx, be, ev);
		if (rc < 0)
			goto out;
	}
	be->stats.events = ev;
	out = calloc(be->n_cache ? be->n_cache : 1, sizeof(*out));
	if (!out) {
		rc = dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < be->n_cache; i++)
		if (be->cache[i].strings_done && dfumgr_match_device(m, &be->cache[i].info))
			out[k++] = be->cache[i].info;
	*ret_list = out;
	*ret_n = k;
	out = NULL;
out:
	pthread_mutex_unlock(&be->lock);
	free(out);
	return rc;
}

DFUMGR_EXPORT int dfumgr_backend_monitor_stats(struct dfumgr_backend *be,
					       struct dfumgr_monitor_stats *ret)
{
	struct dfumgr_monitor_stats s;

	if (!be || !ret ||
	    ret->size < offsetof(struct dfumgr_monitor_stats, events) + sizeof(ret->events))
		return -DFUMGR_E_INVAL;
	pthread_mutex_lock(&be->lock);
	s = be->stats;
	pthread_mutex_unlock(&be->lock);
	s.size = ret->size < sizeof(s) ? ret->size : sizeof(s);
	memcpy(ret, &s, s.size);
	return 0;
}

DFUMGR_EXPORT int dfumgr_backend_wait_change(struct dfumgr_backend *be, unsigned timeout_ms,
					     const struct dfumgr_cancel *cancel)
{
	if (!be)
		return -DFUMGR_E_INVAL;
	if (dfumgr_cancel_is_set(cancel))
		return -DFUMGR_E_CANCELLED;
	return be->ops->wait_event(be->priv, timeout_ms, cancel);
}

DFUMGR_EXPORT int dfumgr_dev_open_info(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				       const struct dfumgr_device_info *info,
				       struct dfumgr_dev **ret_dev)
{
	struct dfumgr_dev *dev;
	int rc;

	if (!be || !info || !ret_dev)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_dev_open_info: NULL argument");
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return dfumgr_fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	dev->ctx = ctx;
	dev->be = be;
	dev->info = *info;
	rc = be->ops->open(be->priv, ctx, info, &dev->ops, &dev->t);
	if (rc < 0) {
		free(dev);
		return dfumgr_fail_prefix(ctx, rc, "open %04x:%04x%s%s at %s", info->vid, info->pid,
					  info->serial[0] ? " serial " : "", info->serial,
					  info->path);
	}
	*ret_dev = dev;
	return 0;
}

DFUMGR_EXPORT int dfumgr_dev_open(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				  const struct dfumgr_match *m, struct dfumgr_dev **ret_dev)
{
	struct dfumgr_device_info *list = NULL;
	size_t n = 0;
	int rc;

	rc = dfumgr_device_list(ctx, be, m, &list, &n);
	if (rc < 0)
		return rc;
	if (n == 0)
		rc = dfumgr_fail(ctx, DFUMGR_E_NODEV, "no DFU device matches%s%s%s%s",
				 m && m->serial ? " serial " : "", m && m->serial ? m->serial : "",
				 m && m->path ? " path " : "", m && m->path ? m->path : "");
	else if (n > 1)
		rc = dfumgr_fail(ctx, DFUMGR_E_AMBIGUOUS,
				 "%zu DFU devices match (first: serial %s at %s): choose one with "
				 "--serial or --path",
				 n, list[0].serial, list[0].path);
	else
		rc = dfumgr_dev_open_info(ctx, be, &list[0], ret_dev);
	free(list);
	return rc;
}

DFUMGR_EXPORT struct dfumgr_dev *dfumgr_dev_close(struct dfumgr_dev *dev)
{
	if (dev) {
		if (dev->ops && dev->ops->close)
			dev->ops->close(dev->t);
		free(dev);
	}
	return NULL;
}

DFUMGR_EXPORT const struct dfumgr_device_info *dfumgr_dev_info(const struct dfumgr_dev *dev)
{
	return dev ? &dev->info : NULL;
}

DFUMGR_EXPORT int dfumgr_dev_find_alt(const struct dfumgr_dev *dev, const char *alt)
{
	char *end;
	unsigned long v;

	if (!dev || !alt || !*alt)
		return -DFUMGR_E_INVAL;
	for (size_t i = 0; i < dev->info.n_alts; i++)
		if (!strcmp(dev->info.alts[i].name, alt))
			return dev->info.alts[i].number;
	v = strtoul(alt, &end, 10);
	if (!*end) {
		for (size_t i = 0; i < dev->info.n_alts; i++)
			if (dev->info.alts[i].number == v)
				return (int)v;
	}
	return dfumgr_fail(dev->ctx, DFUMGR_E_NOENT, "no alt-setting '%s' on serial %s", alt,
			   dev->info.serial);
}

DFUMGR_EXPORT int dfumgr_dev_set_alt(struct dfumgr_dev *dev, uint8_t alt)
{
	int rc;

	if (!dev)
		return -DFUMGR_E_INVAL;
	rc = dev->ops->set_alt(dev->t, dev->ctx, alt);
	if (rc < 0)
		return dfumgr_fail_prefix(dev->ctx, rc, "select alt %u", alt);
	dev->alt = alt;
	return 0;
}

DFUMGR_EXPORT int dfumgr_dev_control(struct dfumgr_dev *dev, uint8_t request_type, uint8_t request,
				     uint16_t value, uint8_t *data, uint16_t length)
{
	unsigned timeout_ms = CONTROL_TIMEOUT_MS;
	int rc;

	if (!dev)
		return -DFUMGR_E_INVAL;
	rc = dfumgr_dev_check(dev, "control request");
	if (rc < 0)
		return rc;
	if (dev->deadline_us) {
		uint64_t now = dfumgr_dev_now(dev), left_ms = (dev->deadline_us - now + 999) / 1000;

		/* a request never outlives the operation's deadline */
		if (left_ms < timeout_ms)
			timeout_ms = left_ms ? (unsigned)left_ms : 1;
	}
	return dev->ops->control(dev->t, dev->ctx, request_type, request, value,
				 dev->info.interface, data, length, timeout_ms);
}

DFUMGR_EXPORT void dfumgr_dev_set_limits(struct dfumgr_dev *dev, const struct dfumgr_cancel *cancel,
					 uint64_t deadline_us)
{
	if (!dev)
		return;
	dev->cancel = cancel;
	dev->deadline_us = deadline_us;
}

uint64_t dfumgr_dev_now(struct dfumgr_dev *dev)
{
	return dev->be->ops->now_us(dev->be->priv);
}

int dfumgr_dev_check(struct dfumgr_dev *dev, const char *what)
{
	if (dfumgr_cancel_is_set(dev->cancel))
		return dfumgr_fail(dev->ctx, DFUMGR_E_CANCELLED, "%s: cancelled", what);
	if (dev->deadline_us && dfumgr_dev_now(dev) >= dev->deadline_us)
		return dfumgr_fail(dev->ctx, DFUMGR_E_TIMEOUT,
				   "%s: the operation's time limit was reached", what);
	return 0;
}

int dfumgr_dev_sleep(struct dfumgr_dev *dev, uint64_t us, const char *what)
{
	uint64_t now = dfumgr_dev_now(dev);
	bool cut = false;
	int rc;

	rc = dfumgr_dev_check(dev, what);
	if (rc < 0)
		return rc;
	if (dev->deadline_us && now + us > dev->deadline_us) {
		us = dev->deadline_us - now;
		cut = true;
	}
	rc = dev->be->ops->sleep_us(dev->be->priv, us, dev->cancel);
	if (rc == -DFUMGR_E_CANCELLED)
		return dfumgr_fail(dev->ctx, DFUMGR_E_CANCELLED, "%s: cancelled", what);
	if (cut)
		return dfumgr_fail(dev->ctx, DFUMGR_E_TIMEOUT,
				   "%s: the operation's time limit was reached", what);
	return 0;
}

/* ---- board identity ---- */

DFUMGR_EXPORT void dfumgr_board_id_from_info(const struct dfumgr_device_info *info,
					     struct dfumgr_board_id *ret)
{
	if (!info || !ret)
		return;
	memset(ret, 0, sizeof(*ret));
	ret->vid = info->vid;
	snprintf(ret->serial, sizeof(ret->serial), "%s", info->serial);
	snprintf(ret->path, sizeof(ret->path), "%s", info->path);
}

DFUMGR_EXPORT bool dfumgr_board_id_match(const struct dfumgr_board_id *id,
					 const struct dfumgr_device_info *info)
{
	/*
	 * All three: the port path keeps a look-alike elsewhere (a cloned serial) out, the serial
	 * keeps another board plugged into the same port later out, the VID keeps a device of
	 * another vendor out. An empty serial is only ever equal to an empty serial.
	 */
	return id && info && id->path[0] && id->vid == info->vid && !strcmp(id->path, info->path) &&
	       !strcmp(id->serial, info->serial);
}

DFUMGR_EXPORT const char *dfumgr_board_id_str(const struct dfumgr_board_id *id, char *buf,
					      size_t size)
{
	if (!buf || !size)
		return "";
	if (!id)
		snprintf(buf, size, "(none)");
	else if (id->serial[0])
		snprintf(buf, size, "serial %s at %s", id->serial, id->path);
	else
		snprintf(buf, size, "the board without a serial number at %s", id->path);
	return buf;
}

DFUMGR_EXPORT int dfumgr_board_wait(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				    const struct dfumgr_board_id *id, bool dfu_mode,
				    unsigned timeout_ms, const struct dfumgr_cancel *cancel,
				    struct dfumgr_device_info *ret_info)
{
	char who[DFUMGR_STRING_MAX + DFUMGR_PATH_MAX + 48], seen[160] = "";
	uint64_t start, now;

	if (!be || !id || !ret_info)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_board_wait: NULL argument");
	dfumgr_board_id_str(id, who, sizeof(who));
	start = be->ops->now_us(be->priv);
	for (;;) {
		struct dfumgr_device_info *list = NULL, found;
		size_t n = 0, hits = 0;
		int rc = dfumgr_device_list(ctx, be, NULL, &list, &n);

		if (rc < 0)
			return rc;
		for (size_t i = 0; i < n; i++) {
			if (!dfumgr_board_id_match(id, &list[i])) {
				/* say what was there instead, for the timeout message */
				if (id->serial[0] && !strcmp(list[i].serial, id->serial))
					snprintf(seen, sizeof(seen),
						 "; a device %04x:%04x with that serial is at %s "
						 "(not the board: another port or vendor)",
						 list[i].vid, list[i].pid, list[i].path);
				continue;
			}
			if (list[i].dfu_mode != dfu_mode)
				continue;
			found = list[i];
			hits++;
		}
		free(list);
		if (hits > 1)
			return dfumgr_fail(ctx, DFUMGR_E_AMBIGUOUS,
					   "%zu DFU interfaces answer for %s: refusing to guess",
					   hits, who);
		if (hits == 1) {
			*ret_info = found;
			return 0;
		}
		if (dfumgr_cancel_is_set(cancel))
			return dfumgr_fail(ctx, DFUMGR_E_CANCELLED,
					   "cancelled while waiting for %s in %s mode", who,
					   dfu_mode ? "DFU" : "runtime");
		now = be->ops->now_us(be->priv);
		if (now - start >= (uint64_t)timeout_ms * 1000)
			return dfumgr_fail(ctx, DFUMGR_E_TIMEOUT,
					   "%s did not come back in %s mode within %u ms%s", who,
					   dfu_mode ? "DFU" : "runtime", timeout_ms, seen);
		rc = be->ops->wait_event(
		    be->priv,
		    (unsigned)(((uint64_t)timeout_ms * 1000 - (now - start) + 999) / 1000), cancel);
		if (rc == -DFUMGR_E_CANCELLED)
			continue; /* reported above with what was awaited */
	}
}
