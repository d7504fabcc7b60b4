/* SPDX-License-Identifier: MIT */
/*
 * DFU 1.1 host state machine. Section numbers refer to the USB Device Class Specification for
 * Device Firmware Upgrade, version 1.1.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "dev_internal.h"
#include "dfumgr/dfu.h"
#include "dfumgr/wire.h"

#define REQ_OUT 0x21
#define REQ_IN  0xa1
/* A device that stays in dfuDNBUSY/dfuMANIFEST longer than this is considered hung. */
#define BUSY_LIMIT_US         (120ull * 1000 * 1000)
#define DEFAULT_TRANSFER_SIZE 1024

DFUMGR_EXPORT const char *dfumgr_dfu_state_name(uint8_t state)
{
	static const char *const names[] = {
	    "appIDLE",          "appDETACH",   "dfuIDLE",
	    "dfuDNLOAD-SYNC",   "dfuDNBUSY",   "dfuDNLOAD-IDLE",
	    "dfuMANIFEST-SYNC", "dfuMANIFEST", "dfuMANIFEST-WAIT-RESET",
	    "dfuUPLOAD-IDLE",   "dfuERROR",
	};
	return state < ARRAY_SIZE(names) ? names[state] : "unknown state";
}

DFUMGR_EXPORT const char *dfumgr_dfu_status_name(uint8_t status)
{
	static const char *const names[] = {
	    "OK",      "errTARGET", "errFILE",    "errWRITE",      "errERASE",    "errCHECK_ERASED",
	    "errPROG", "errVERIFY", "errADDRESS", "errNOTDONE",    "errFIRMWARE", "errVENDOR",
	    "errUSBR", "errPOR",    "errUNKNOWN", "errSTALLEDPKT",
	};
	return status < ARRAY_SIZE(names) ? names[status] : "unknown status";
}

/* §6.1.2, table 6.1: what each bStatus means */
DFUMGR_EXPORT const char *dfumgr_dfu_status_text(uint8_t status)
{
	static const char *const text[] = {
	    "no error",
	    "the file is not targeted for use by this device",
	    "the file is for this device but fails a vendor-specific verification test",
	    "the device is unable to write memory",
	    "memory erase function failed",
	    "memory erase check failed",
	    "program memory function failed",
	    "programmed memory failed verification",
	    "cannot program memory due to received address that is out of range",
	    "received DFU_DNLOAD with wLength = 0, but the device does not have all the data",
	    "the device's firmware is corrupt; it cannot return to run-time operations",
	    "vendor-specific error",
	    "the device detected an unexpected USB reset signaling",
	    "the device detected an unexpected power on reset",
	    "something went wrong, but the device does not know what it was",
	    "the device stalled an unexpected request",
	};
	return status < ARRAY_SIZE(text) ? text[status] : "unknown status code";
}

static int ctl(struct dfumgr_dev *dev, uint8_t type, uint8_t req, uint16_t value, uint8_t *data,
	       uint16_t len)
{
	return dfumgr_dev_control(dev, type, req, value, data, len);
}

DFUMGR_EXPORT int dfumgr_dfu_get_status(struct dfumgr_dev *dev, struct dfumgr_dfu_status *ret)
{
	uint8_t b[DFU_GETSTATUS_LEN];
	int rc;

	if (!dev || !ret)
		return -DFUMGR_E_INVAL;
	rc = ctl(dev, REQ_IN, DFU_GETSTATUS, 0, b, sizeof(b));
	if (rc < 0)
		return dfumgr_fail_prefix(dev->ctx, rc, "DFU_GETSTATUS");
	if (rc != DFU_GETSTATUS_LEN)
		return dfumgr_fail(dev->ctx, DFUMGR_E_PROTOCOL,
				   "DFU_GETSTATUS returned %d bytes (expected 6)", rc);
	ret->status = b[0];
	ret->poll_timeout_ms = b[1] | (uint32_t)b[2] << 8 | (uint32_t)b[3] << 16;
	ret->state = b[4];
	ret->istring = b[5];
	return 0;
}

DFUMGR_EXPORT int dfumgr_dfu_get_state(struct dfumgr_dev *dev, uint8_t *ret_state)
{
	uint8_t s;
	int rc;

	if (!dev || !ret_state)
		return -DFUMGR_E_INVAL;
	rc = ctl(dev, REQ_IN, DFU_GETSTATE, 0, &s, 1);
	if (rc < 0)
		return dfumgr_fail_prefix(dev->ctx, rc, "DFU_GETSTATE");
	if (rc != 1)
		return dfumgr_fail(dev->ctx, DFUMGR_E_PROTOCOL, "DFU_GETSTATE returned %d bytes",
				   rc);
	*ret_state = s;
	return 0;
}

DFUMGR_EXPORT int dfumgr_dfu_clear_status(struct dfumgr_dev *dev)
{
	int rc = ctl(dev, REQ_OUT, DFU_CLRSTATUS, 0, NULL, 0);

	return rc < 0 ? dfumgr_fail_prefix(dev->ctx, rc, "DFU_CLRSTATUS") : 0;
}

DFUMGR_EXPORT int dfumgr_dfu_abort(struct dfumgr_dev *dev)
{
	int rc = ctl(dev, REQ_OUT, DFU_ABORT, 0, NULL, 0);

	return rc < 0 ? dfumgr_fail_prefix(dev->ctx, rc, "DFU_ABORT") : 0;
}

/*
 * DFU_ABORT after a cancel or a deadline: sent despite them (it is what leaves the device
 * idle, §6.1.4), bounded to half a second, and without touching the error being reported.
 */
static void abort_quietly(struct dfumgr_dev *dev)
{
	const struct dfumgr_cancel *c = dev->cancel;
	struct dfumgr_ctx *ctx = dev->ctx;
	uint64_t deadline = dev->deadline_us;

	dev->cancel = NULL;
	dev->deadline_us = dfumgr_dev_now(dev) + 500000;
	dev->ctx = NULL;
	(void)dfumgr_dfu_abort(dev);
	dev->ctx = ctx;
	dev->cancel = c;
	dev->deadline_us = deadline;
}

/* A bwPollTimeout wait: the device's cancel token and deadline end it early. */
static int sleep_ms(struct dfumgr_dev *dev, uint32_t ms, const char *what)
{
	return dfumgr_dev_sleep(dev, (uint64_t)ms * 1000, what);
}

DFUMGR_EXPORT int dfumgr_dfu_to_idle(struct dfumgr_dev *dev)
{
	struct dfumgr_dfu_status st;
	int rc;

	for (int attempt = 0; attempt < 4; attempt++) {
		rc = dfumgr_dfu_get_status(dev, &st);
		if (rc < 0)
			return rc;
		switch (st.state) {
		case DFU_STATE_IDLE:
			return 0;
		case DFU_STATE_ERROR:
			rc = dfumgr_dfu_clear_status(dev);
			break;
		case DFU_STATE_DNBUSY:
		case DFU_STATE_MANIFEST:
			/* §6.1.2: no request but GETSTATUS until the poll timeout has passed */
			rc = sleep_ms(dev, st.poll_timeout_ms,
				      "waiting for the device to leave a busy state");
			break;
		case DFU_STATE_DNLOAD_SYNC:
		case DFU_STATE_DNLOAD_IDLE:
		case DFU_STATE_MANIFEST_SYNC:
		case DFU_STATE_UPLOAD_IDLE:
			rc = dfumgr_dfu_abort(dev);
			break;
		default:
			return dfumgr_fail(dev->ctx, DFUMGR_E_PROTOCOL,
					   "device is in %s, not in DFU mode",
					   dfumgr_dfu_state_name(st.state));
		}
		if (rc < 0)
			return rc;
	}
	return dfumgr_fail(dev->ctx, DFUMGR_E_PROTOCOL, "device does not return to dfuIDLE");
}

static uint16_t transfer_size(struct dfumgr_dev *dev, const struct dfumgr_transfer_opts *o)
{
	uint16_t ts = o->transfer_size;

	if (!ts)
		ts = dev->info.has_func && dev->info.func.transfer_size
			 ? dev->info.func.transfer_size
			 : DEFAULT_TRANSFER_SIZE;
	return ts > DFUMGR_TRANSFER_SIZE_MAX ? DFUMGR_TRANSFER_SIZE_MAX : ts;
}

/* A device error in the middle of a transfer: say what, where, and leave it idle if we can. */
static int device_error(struct dfumgr_dev *dev, const struct dfumgr_dfu_status *st, uint8_t alt,
			size_t block, size_t off, size_t len)
{
	bool cleared = false;

	/* §6.1.2: DFU_CLRSTATUS takes the device from dfuERROR back to dfuIDLE */
	if (st->state == DFU_STATE_ERROR)
		cleared = dfumgr_dfu_clear_status(dev) == 0;
	return dfumgr_fail(dev->ctx, DFUMGR_E_DFU_STATUS,
			   "device reported %s (%s) after block %zu (bytes %zu..%zu) of alt %u; it "
			   "was left in %s%s",
			   dfumgr_dfu_status_name(st->status), dfumgr_dfu_status_text(st->status),
			   block, off, off + len, alt, dfumgr_dfu_state_name(st->state),
			   cleared ? " and is now back in dfuIDLE" : "");
}

/*
 * §6.1.1 / §7: after a DNLOAD (or the zero-length one), GETSTATUS until the device leaves the
 * busy states, sleeping bwPollTimeout in between: exactly what it asked, no more, no less.
 */
static int wait_done(struct dfumgr_dev *dev, uint8_t alt, size_t block, size_t off, size_t len,
		     bool manifest, struct dfumgr_dfu_status *ret)
{
	struct dfumgr_dfu_status st;
	uint64_t start = dfumgr_dev_now(dev);
	int rc;

	for (;;) {
		uint64_t busy;

		rc = dfumgr_dfu_get_status(dev, &st);
		if (rc < 0) {
			/* a device that is not manifestation tolerant may reset itself (§7) */
			if (manifest && rc == -DFUMGR_E_DISCONNECTED &&
			    !(dev->info.func.attributes & DFU_ATTR_MANIFESTATION_TOLERANT)) {
				st.state = DFU_STATE_MANIFEST_WAIT_RESET;
				st.status = DFU_STATUS_OK;
				*ret = st;
				return 0;
			}
			return dfumgr_fail_prefix(dev->ctx, rc,
						  "block %zu (bytes %zu..%zu) of alt %u", block,
						  off, off + len, alt);
		}
		if (st.status != DFU_STATUS_OK)
			return device_error(dev, &st, alt, block, off, len);
		switch (st.state) {
		case DFU_STATE_DNBUSY:
		case DFU_STATE_DNLOAD_SYNC:
		case DFU_STATE_MANIFEST_SYNC:
		case DFU_STATE_MANIFEST:
			busy = dfumgr_dev_now(dev) - start;
			if (busy >= BUSY_LIMIT_US)
				return dfumgr_fail(dev->ctx, DFUMGR_E_TIMEOUT,
						   "device still in %s after %llu s (block %zu of "
						   "alt %u)",
						   dfumgr_dfu_state_name(st.state),
						   BUSY_LIMIT_US / 1000000, block, alt);
			/*
			 * bwPollTimeout is 24 bits of milliseconds (4.6 hours): the device's number
			 * is honoured but never past the busy limit, the operation's deadline or
			 * the cancel token, checked before and during the sleep.
			 */
			rc = dfumgr_dev_sleep(dev,
					      (uint64_t)st.poll_timeout_ms * 1000 <
						      BUSY_LIMIT_US - busy
						  ? (uint64_t)st.poll_timeout_ms * 1000
						  : BUSY_LIMIT_US - busy,
					      "waiting for the device to finish a block");
			if (rc < 0) {
				abort_quietly(dev);
				return rc;
			}
			continue;
		case DFU_STATE_DNLOAD_IDLE:
			if (manifest)
				break;
			*ret = st;
			return 0;
		case DFU_STATE_IDLE:
		case DFU_STATE_MANIFEST_WAIT_RESET:
			if (!manifest)
				break;
			*ret = st;
			return 0;
		default:
			break;
		}
		return dfumgr_fail(dev->ctx, DFUMGR_E_PROTOCOL,
				   "unexpected state %s after %s of alt %u (block %zu)",
				   dfumgr_dfu_state_name(st.state),
				   manifest ? "the final zero-length DNLOAD" : "DNLOAD", alt,
				   block);
	}
}

/* What a download and an upload both start with: the capability, the alt, dfuIDLE. */
static int begin_transfer(struct dfumgr_dev *dev, uint8_t alt, uint8_t attribute, const char *what)
{
	int rc;

	if (dev->info.has_func && !(dev->info.func.attributes & attribute))
		return dfumgr_fail(dev->ctx, DFUMGR_E_UNSUPPORTED,
				   "the device does not support %s (its functional descriptor says "
				   "so)",
				   what);
	rc = dfumgr_dev_set_alt(dev, alt);
	if (rc < 0)
		return rc;
	return dfumgr_dfu_to_idle(dev);
}

static void report(const struct dfumgr_transfer_opts *o, enum dfumgr_phase phase, int image,
		   uint64_t done, uint64_t total)
{
	struct dfumgr_progress ev = {sizeof(ev), phase, image, done, total};

	if (o->progress)
		o->progress(o->user, &ev);
}

/* The caller's options (versioned, may be NULL) with the defaults filled in. */
static int get_opts(struct dfumgr_dev *dev, const struct dfumgr_transfer_opts *in,
		    enum dfumgr_phase phase, uint8_t alt, struct dfumgr_transfer_opts *o)
{
	/* a caller built before skip was added has no such fields: they read as NULL, 0 */
	int rc = dfumgr_sized_copy(dev->ctx, o, sizeof(*o), in,
				   offsetof(struct dfumgr_transfer_opts, image) + sizeof(int),
				   "dfumgr_transfer_opts");

	if (rc < 0)
		return rc;
	if (!in || o->phase == DFUMGR_PHASE_PREFLIGHT) /* not set by the caller */
		o->phase = phase;
	if (!in)
		o->image = -1;
	if (o->image < 0)
		o->image = alt;
	return 0;
}

/* Is block n one the caller says the device already holds? */
static bool skipped(const struct dfumgr_transfer_opts *o, size_t n)
{
	return o->skip && n < o->skip_blocks && (o->skip[n / 8] & (1u << (n % 8)));
}

DFUMGR_EXPORT int dfumgr_dfu_download(struct dfumgr_dev *dev, uint8_t alt, const uint8_t *data,
				      size_t size, const struct dfumgr_transfer_opts *opts)
{
	struct dfumgr_transfer_opts oo, *o = &oo;
	struct dfumgr_dfu_status st;
	uint8_t *block = NULL;
	uint16_t ts;
	size_t off = 0, n = 0, to_send = 0;
	int rc;

	if (!dev || (!data && size))
		return -DFUMGR_E_INVAL;
	rc = get_opts(dev, opts, DFUMGR_PHASE_DOWNLOAD, alt, o);
	if (rc < 0)
		return rc;
	ts = transfer_size(dev, o);
	for (off = 0, n = 0; off < size; off += ts, n++)
		to_send += !skipped(o, n);
	if (size && !to_send) {
		/* the device holds all of it: nothing to send, and no download to end */
		report(o, o->phase, o->image, size, size);
		return 0;
	}
	rc = begin_transfer(dev, alt, DFU_ATTR_CAN_DNLOAD, "download (bitCanDnload)");
	if (rc < 0)
		return rc;
	block = malloc(ts);
	if (!block)
		return dfumgr_fail(dev->ctx, DFUMGR_E_NOMEM, "out of memory");
	report(o, o->phase, o->image, 0, size);
	for (off = 0, n = 0; off < size; off += ts, n++) {
		size_t len = size - off < ts ? size - off : ts;

		if (skipped(o, n))
			continue;
		if (dfumgr_dev_check(dev, "download") < 0) {
			int why = dfumgr_ctx_errcode(dev->ctx);

			/* §6.1.4: DFU_ABORT takes the device back to dfuIDLE */
			abort_quietly(dev);
			rc = dfumgr_fail(dev->ctx, why,
					 "%s after %zu of %zu bytes of alt %u (the device got "
					 "DFU_ABORT)",
					 why == DFUMGR_E_CANCELLED ? "cancelled" : "out of time",
					 off, size, alt);
			goto out;
		}
		memcpy(block, data + off, len);
		/* §6.1.1: wValue is the block number, wrapping at 65536 */
		rc = ctl(dev, REQ_OUT, DFU_DNLOAD, (uint16_t)n, block, (uint16_t)len);
		if (rc < 0) {
			rc = dfumgr_fail_prefix(
			    dev->ctx, rc, "DFU_DNLOAD of block %zu (bytes %zu..%zu) of alt %u", n,
			    off, off + len, alt);
			goto out;
		}
		rc = wait_done(dev, alt, n, off, len, false, &st);
		if (rc < 0)
			goto out;
		report(o, o->phase, o->image, off + len, size);
	}
	/* §6.1.1: a zero-length DNLOAD ends the transfer; then manifestation (§7) */
	rc = ctl(dev, REQ_OUT, DFU_DNLOAD, (uint16_t)n, NULL, 0);
	if (rc < 0) {
		rc =
		    dfumgr_fail_prefix(dev->ctx, rc, "final zero-length DFU_DNLOAD of alt %u", alt);
		goto out;
	}
	rc = wait_done(dev, alt, n, size, 0, true, &st);
out:
	free(block);
	return rc < 0 ? rc : 0;
}

DFUMGR_EXPORT int dfumgr_dfu_upload(struct dfumgr_dev *dev, uint8_t alt, size_t max,
				    uint8_t **ret_data, size_t *ret_size,
				    const struct dfumgr_transfer_opts *opts)
{
	struct dfumgr_transfer_opts oo, *o = &oo;
	uint8_t *buf = NULL;
	size_t got = 0, cap = 0;
	uint16_t ts;
	int rc;

	if (!dev || !ret_data || !ret_size)
		return -DFUMGR_E_INVAL;
	rc = get_opts(dev, opts, DFUMGR_PHASE_UPLOAD, alt, o);
	if (rc < 0)
		return rc;
	ts = transfer_size(dev, o);
	rc = begin_transfer(dev, alt, DFU_ATTR_CAN_UPLOAD, "upload (bitCanUpload)");
	if (rc < 0)
		return rc;
	for (uint16_t n = 0;; n++) {
		uint16_t want = max - got < ts ? (uint16_t)(max - got) : ts;

		rc = dfumgr_dev_check(dev, "upload");
		if (rc < 0) {
			abort_quietly(dev);
			goto fail;
		}
		if (got + ts > cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			uint8_t *nb = realloc(buf, ncap);

			if (!nb) {
				rc = dfumgr_fail(dev->ctx, DFUMGR_E_NOMEM, "out of memory");
				goto fail;
			}
			buf = nb;
			cap = ncap;
		}
		if (want == 0)
			break;
		rc = ctl(dev, REQ_IN, DFU_UPLOAD, n, buf + got, want);
		if (rc < 0) {
			rc = dfumgr_fail_prefix(dev->ctx, rc, "DFU_UPLOAD of block %u of alt %u", n,
						alt);
			goto fail;
		}
		got += (size_t)rc;
		report(o, o->phase, o->image, got, max);
		/* §6.2: a short frame is the end */
		if (rc < want)
			break;
	}
	if (got == max) {
		/* we stopped, not the device: leave it idle */
		(void)dfumgr_dfu_to_idle(dev);
	}
	*ret_data = buf;
	*ret_size = got;
	return 0;
fail:
	free(buf);
	return rc;
}

DFUMGR_EXPORT int dfumgr_dfu_detach(struct dfumgr_dev *dev)
{
	uint16_t timeout = dev->info.has_func ? dev->info.func.detach_timeout_ms : 1000;
	int rc;

	if (dev->info.dfu_mode)
		return 0;
	rc = ctl(dev, REQ_OUT, DFU_DETACH, timeout, NULL, 0);
	/* a device that detaches at once may not complete the status stage */
	if (rc < 0 && rc != -DFUMGR_E_DISCONNECTED && rc != -DFUMGR_E_IO)
		return dfumgr_fail_prefix(dev->ctx, rc, "DFU_DETACH");
	if (dev->info.has_func && (dev->info.func.attributes & DFU_ATTR_WILL_DETACH))
		return 0;
	/* §5.1: without bitWillDetach the host resets the bus within wDetachTimeOut */
	rc = dev->ops->reset(dev->t, dev->ctx);
	return rc < 0 ? dfumgr_fail_prefix(dev->ctx, rc, "USB reset after DFU_DETACH") : 0;
}
