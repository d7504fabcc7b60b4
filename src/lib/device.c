/* SPDX-License-Identifier: MIT */
/* Device enumeration, matching and open DFU interfaces, over a backend. */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "internal.h"
#include "dev_internal.h"

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

	if (!ops || !ret)
		return -DFUMGR_E_INVAL;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -DFUMGR_E_NOMEM;
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
		free(be);
	}
	return NULL;
}

DFUMGR_EXPORT int dfumgr_device_list(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				     const struct dfumgr_match *m,
				     struct dfumgr_device_info **ret_list, size_t *ret_n)
{
	struct dfumgr_device_info *all = NULL;
	size_t n = 0, k = 0;
	int rc;

	if (!be || !ret_list || !ret_n)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_device_list: NULL argument");
	rc = be->ops->list(be->priv, ctx, &all, &n);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (dfumgr_match_device(m, &all[i]))
			all[k++] = all[i];
	*ret_list = all;
	*ret_n = k;
	return 0;
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
		rc = dfumgr_fail(ctx, DFUMGR_E_INVAL,
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
	if (!dev)
		return -DFUMGR_E_INVAL;
	return dev->ops->control(dev->t, dev->ctx, request_type, request, value,
				 dev->info.interface, data, length, CONTROL_TIMEOUT_MS);
}

DFUMGR_EXPORT int dfumgr_device_wait(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				     const char *serial, const char *path, bool dfu_mode,
				     unsigned timeout_ms, struct dfumgr_device_info *ret_info)
{
	uint64_t start, now;

	if (!be || !serial || !ret_info)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_device_wait: NULL argument");
	start = be->ops->now_us(be->priv);
	for (;;) {
		struct dfumgr_device_info *list = NULL;
		struct dfumgr_match m = {.serial = serial, .path = path};
		size_t n = 0;
		int rc = dfumgr_device_list(ctx, be, &m, &list, &n);

		if (rc < 0)
			return rc;
		for (size_t i = 0; i < n; i++) {
			if (list[i].dfu_mode == dfu_mode) {
				*ret_info = list[i];
				free(list);
				return 0;
			}
		}
		free(list);
		now = be->ops->now_us(be->priv);
		if (now - start >= (uint64_t)timeout_ms * 1000)
			return dfumgr_fail(ctx, DFUMGR_E_TIMEOUT,
					   "serial %s did not come back in %s mode within %u ms",
					   serial, dfu_mode ? "DFU" : "runtime", timeout_ms);
		be->ops->wait_event(be->priv,
				    (unsigned)((uint64_t)timeout_ms - (now - start) / 1000 < 100
						   ? (uint64_t)timeout_ms - (now - start) / 1000
						   : 100));
	}
}
