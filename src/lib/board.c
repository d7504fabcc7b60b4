/* SPDX-License-Identifier: MIT */
/*
 * Board operations: into DFU mode and out of it, following the board by its identity. Section
 * numbers refer to the USB DFU 1.1 specification.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "dev_internal.h"
#include "dfumgr/board.h"
#include "dfumgr/dfu.h"
#include "dfumgr/shim.h"
#include "dfumgr/wire.h"

/*
 * Margin over wDetachTimeOut before a will-detach device that stayed is reset (§5.1): a loaded
 * host may see a device that did leave a little late.
 */
#define DETACH_MARGIN_MS 1000

static int get_opts(struct dfumgr_ctx *ctx, const struct dfumgr_board_opts *in,
		    struct dfumgr_board_opts *o)
{
	int rc = dfumgr_sized_copy(ctx, o, sizeof(*o), in,
				   offsetof(struct dfumgr_board_opts, user) + sizeof(void *),
				   "dfumgr_board_opts");

	if (rc == 0 && !o->timeout_ms)
		o->timeout_ms = DFUMGR_REENUMERATE_TIMEOUT_MS;
	return rc;
}

static void report(const struct dfumgr_board_opts *o, enum dfumgr_phase p, uint64_t done)
{
	struct dfumgr_progress ev = {sizeof(ev), p, -1, done, 1};

	if (o->progress)
		o->progress(o->user, &ev);
}

/* The same enumeration of the device is still there (it did not leave the bus). */
static bool still_there(struct dfumgr_backend *be, const struct dfumgr_device_info *info)
{
	struct dfumgr_device_info *list = NULL;
	size_t n = 0;
	bool there = false;

	if (dfumgr_device_list(NULL, be, NULL, &list, &n) < 0)
		return false;
	for (size_t i = 0; i < n && !there; i++)
		there = list[i].bus == info->bus && list[i].address == info->address &&
			!strcmp(list[i].path, info->path) && list[i].dfu_mode == info->dfu_mode;
	free(list);
	return there;
}

static int open_limited(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
			const struct dfumgr_device_info *info, const struct dfumgr_cancel *cancel,
			struct dfumgr_dev **ret)
{
	int rc = dfumgr_dev_open_info(ctx, be, info, ret);

	if (rc == 0)
		dfumgr_dev_set_limits(*ret, cancel, 0);
	return rc;
}

DFUMGR_EXPORT int dfumgr_board_enter_dfu_dev(struct dfumgr_dev *dev,
					     const struct dfumgr_board_opts *in,
					     struct dfumgr_dev **ret_dev)
{
	struct dfumgr_board_opts o;
	struct dfumgr_device_info before, info;
	struct dfumgr_backend *be;
	struct dfumgr_ctx *ctx;
	struct dfumgr_board_id id;
	unsigned detach_ms;
	bool will_detach;
	uint64_t start;
	int rc;

	if (!dev || !ret_dev)
		return -DFUMGR_E_INVAL;
	ctx = dev->ctx;
	be = dev->be;
	rc = get_opts(ctx, in, &o);
	if (rc < 0)
		goto fail;
	before = dev->info;
	if (before.dfu_mode) {
		*ret_dev = dev;
		return 0;
	}
	dfumgr_board_id_from_info(&before, &id);
	report(&o, DFUMGR_PHASE_DETACH, 0);
	dfumgr_dev_set_limits(dev, o.cancel, dev->deadline_us);
	will_detach = before.has_func && (before.func.attributes & DFU_ATTR_WILL_DETACH);
	detach_ms = before.has_func ? before.func.detach_timeout_ms : 1000;
	start = dfumgr_backend_now_us(be);
	rc = dfumgr_dfu_detach(dev);
	dev = dfumgr_dev_close(dev);
	if (rc < 0)
		return rc;
	if (will_detach) {
		/*
		 * §5.1: a bitWillDetach device leaves the bus by itself within wDetachTimeOut.
		 * Some do not (Zephyr's USB DFU class in some setups): one that is still there,
		 * same enumeration, afterwards gets the bus reset a device without the bit gets.
		 */
		rc = dfumgr_board_wait(ctx, be, &id, true,
				       detach_ms + DETACH_MARGIN_MS < o.timeout_ms
					   ? detach_ms + DETACH_MARGIN_MS
					   : o.timeout_ms,
				       o.cancel, &info);
		if (rc == -DFUMGR_E_TIMEOUT && still_there(be, &before)) {
			dfumgr_ctx_clear_error(ctx);
			dfumgr_log(ctx, DFUMGR_LOG_INFO,
				   "%s announced bitWillDetach but is still there after %u ms: "
				   "resetting it",
				   before.path, detach_ms);
			rc = open_limited(ctx, be, &before, o.cancel, &dev);
			if (rc == 0) {
				rc = dev->ops->reset(dev->t, ctx);
				dev = dfumgr_dev_close(dev);
			}
			/* gone meanwhile: it detached by itself after all (a slow one) */
			if (rc == -DFUMGR_E_DISCONNECTED || rc == -DFUMGR_E_NODEV)
				rc = 0;
			if (rc < 0)
				return dfumgr_fail_prefix(ctx, rc, "USB reset after DFU_DETACH");
		} else if (rc != -DFUMGR_E_TIMEOUT) {
			if (rc < 0)
				return rc;
			goto found;
		}
		dfumgr_ctx_clear_error(ctx);
	}
	{
		uint64_t spent = (dfumgr_backend_now_us(be) - start) / 1000;

		rc = dfumgr_board_wait(ctx, be, &id, true,
				       spent < o.timeout_ms ? (unsigned)(o.timeout_ms - spent) : 1,
				       o.cancel, &info);
		if (rc < 0)
			return rc;
	}
found:
	rc = open_limited(ctx, be, &info, o.cancel, ret_dev);
	if (rc == 0)
		report(&o, DFUMGR_PHASE_DETACH, 1);
	return rc;
fail:
	dfumgr_dev_close(dev);
	return rc;
}

DFUMGR_EXPORT int dfumgr_board_enter_dfu(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
					 const struct dfumgr_match *m,
					 const struct dfumgr_board_opts *o,
					 struct dfumgr_dev **ret_dev)
{
	struct dfumgr_dev *dev = NULL;
	int rc;

	if (!be || !ret_dev)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_board_enter_dfu: NULL argument");
	rc = dfumgr_dev_open(ctx, be, m, &dev);
	if (rc < 0)
		return rc;
	return dfumgr_board_enter_dfu_dev(dev, o, ret_dev);
}

int dfumgr_board_reset_to_runtime(struct dfumgr_ctx *ctx, struct dfumgr_dev *dev,
				  const struct dfumgr_cancel *cancel, unsigned timeout_ms,
				  struct dfumgr_device_info *ret_info)
{
	struct dfumgr_backend *be = dev->be;
	struct dfumgr_device_info before = dev->info;
	struct dfumgr_board_id id;
	unsigned quick = timeout_ms / 10 < 1000 ? 1000 : timeout_ms / 10;
	int rc;

	dfumgr_board_id_from_info(&before, &id);
	/* §7: the host ends DFU mode with a USB reset; the device then runs its firmware */
	rc = dev->ops->reset(dev->t, ctx);
	dfumgr_dev_close(dev);
	if (rc < 0)
		return dfumgr_fail_prefix(ctx, rc, "USB reset of %s", before.path);
	rc = dfumgr_board_wait(ctx, be, &id, false, quick < timeout_ms ? quick : timeout_ms, cancel,
			       ret_info);
	if (rc != -DFUMGR_E_TIMEOUT)
		return rc;
	/* still (or again) in DFU mode: a reset that did not reach it, or a device that needs
	 * a power cycle; not an error, the caller says so */
	dfumgr_ctx_clear_error(ctx);
	rc = dfumgr_board_wait(ctx, be, &id, true, 1, cancel, ret_info);
	if (rc < 0)
		return dfumgr_fail(ctx, DFUMGR_E_TIMEOUT,
				   "%s did not come back after the USB reset (neither in runtime "
				   "nor in DFU mode)",
				   before.path);
	return 0;
}

DFUMGR_EXPORT int dfumgr_board_reboot(struct dfumgr_ctx *ctx, struct dfumgr_backend *be,
				      const struct dfumgr_match *m,
				      const struct dfumgr_board_opts *in,
				      struct dfumgr_device_info *ret_info)
{
	struct dfumgr_board_opts o;
	struct dfumgr_device_info info;
	struct dfumgr_board_id id;
	struct dfumgr_dev *dev = NULL;
	int rc;

	if (!be)
		return dfumgr_fail(ctx, DFUMGR_E_INVAL, "dfumgr_board_reboot: NULL argument");
	rc = get_opts(ctx, in, &o);
	if (rc < 0)
		return rc;
	rc = dfumgr_dev_open(ctx, be, m, &dev);
	if (rc < 0)
		return rc;
	dfumgr_dev_set_limits(dev, o.cancel, 0);
	info = dev->info;
	dfumgr_board_id_from_info(&info, &id);
	report(&o, DFUMGR_PHASE_REBOOT, 0);
	rc = dfumgr_shim_reboot(dev);
	if (rc == -DFUMGR_E_UNSUPPORTED) {
		/* not a dfu-mgr shim: a plain DFU 1.1 device */
		dfumgr_ctx_clear_error(ctx);
		if (!info.dfu_mode) {
			dfumgr_dev_close(dev);
			return dfumgr_fail(
			    ctx, DFUMGR_E_UNSUPPORTED,
			    "%s is a plain DFU device in runtime mode: DFU 1.1 has no "
			    "request that restarts an application (power-cycle it)",
			    info.path);
		}
		rc = dfumgr_board_reset_to_runtime(ctx, dev, o.cancel, o.timeout_ms, &info);
		if (rc == 0) {
			report(&o, DFUMGR_PHASE_REBOOT, 1);
			if (ret_info)
				*ret_info = info;
		}
		return rc;
	}
	dfumgr_dev_close(dev);
	if (rc < 0)
		return rc;
	rc = dfumgr_board_wait(ctx, be, &id, false, o.timeout_ms, o.cancel, &info);
	if (rc < 0)
		return rc;
	report(&o, DFUMGR_PHASE_REBOOT, 1);
	if (ret_info)
		*ret_info = info;
	return 0;
}
