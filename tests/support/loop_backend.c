/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop_backend.h"
#include "dfumgr/wire.h"

struct loop_handle {
	struct loop *l;
	unsigned i;
	unsigned gen;
};

static void boot(struct loop *l, struct loop_board *lb)
{
	if (l->pre_boot)
		l->pre_boot(l, (unsigned)(lb - l->boards), l->pre_boot_user);
	emu_board_boot(&lb->b, l->now_us);
	if (lb->b.mode == EMU_MODE_OFF) {
		/*
		 * The supply failed again while MCUboot or the application ran: it comes back
		 * later. Or MCUboot halted: the board never shows up until someone resets it.
		 */
		lb->present = false;
		if (emu_power_lost(&lb->b.power)) {
			lb->plug_at_us = l->now_us + (uint64_t)l->replug_ms * 1000;
			lb->boot_first = true;
		}
		return;
	}
	if (lb->b.app == EMU_APP_CRASHED && lb->crash_boots < 3) {
		/* the watchdog resets a faulting application: MCUboot runs again */
		lb->crash_boots++;
		lb->b.mode = EMU_MODE_OFF;
		lb->plug_at_us = l->now_us + (uint64_t)l->replug_ms * 1000;
		lb->boot_first = true;
		return;
	}
	lb->crash_boots = 0;
	lb->present = true;
}

void loop_run_timers(struct loop *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		struct loop_board *lb = &l->boards[i];

		/* a crash reboot may schedule another: loop until nothing is due */
		while (lb->plug_at_us && l->now_us >= lb->plug_at_us) {
			lb->plug_at_us = 0;
			if (lb->boot_first)
				boot(l, lb);
			else
				lb->present = true;
		}
	}
}

void loop_advance(struct loop *l, uint64_t us)
{
	l->now_us += us;
	loop_run_timers(l);
}

static void unplug(struct loop *l, struct loop_board *lb, bool boot_first)
{
	lb->present = false;
	lb->gen++;
	lb->plug_at_us = l->now_us + (uint64_t)l->replug_ms * 1000 + 1;
	lb->boot_first = boot_first;
}

struct loop *loop_new(unsigned n, bool real_timing)
{
	struct loop *l = calloc(1, sizeof(*l));
	char tmpl[] = "/tmp/dfumgr-loop-XXXXXX";

	if (!l || n > LOOP_BOARDS_MAX || !mkdtemp(tmpl)) {
		free(l);
		return NULL;
	}
	snprintf(l->dir, sizeof(l->dir), "%s", tmpl);
	l->n = n;
	l->replug_ms = 200;
	l->now_us = 1000000;
	for (unsigned i = 0; i < n; i++) {
		char serial[32], dir[512];

		snprintf(serial, sizeof(serial), "LOOP-%04u", i + 1);
		snprintf(dir, sizeof(dir), "%s/%s", l->dir, serial);
		if (emu_board_open(&l->boards[i].b, i, serial, dir, real_timing, NULL) < 0) {
			loop_free(l);
			return NULL;
		}
		boot(l, &l->boards[i]);
	}
	return l;
}

void loop_free(struct loop *l)
{
	char cmd[300];

	if (!l)
		return;
	for (unsigned i = 0; i < l->n; i++)
		emu_board_close(&l->boards[i].b);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", l->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "loop: could not remove %s\n", l->dir);
	free(l);
}

/* ---- backend ops ---- */

static void fill_info(const struct loop_board *lb, struct dfumgr_device_info *d)
{
	bool dfu = lb->b.mode == EMU_MODE_DFU;

	memset(d, 0, sizeof(*d));
	d->vid = DFUMGR_USB_VID;
	d->pid = DFUMGR_USB_PID;
	d->bcd_device = DFUMGR_USB_BCD;
	snprintf(d->serial, sizeof(d->serial), "%s", lb->b.serial);
	snprintf(d->manufacturer, sizeof(d->manufacturer), "Nordic Semiconductor");
	snprintf(d->product, sizeof(d->product), "nRF5340 XIP app (loop)");
	snprintf(d->path, sizeof(d->path), "9-%u", lb->b.index + 1);
	d->bus = 9;
	d->address = (uint8_t)(lb->b.index + 2);
	d->interface = 0;
	d->dfu_mode = dfu;
	d->has_func = true;
	d->func.attributes = DFU_ATTR_CAN_DNLOAD | DFU_ATTR_CAN_UPLOAD |
			     DFU_ATTR_MANIFESTATION_TOLERANT | DFU_ATTR_WILL_DETACH;
	d->func.detach_timeout_ms = DFUMGR_DETACH_TIMEOUT_MS;
	d->func.transfer_size = DFUMGR_TRANSFER_SIZE;
	d->func.dfu_version = DFU_VERSION_BCD;
	if (dfu) {
		d->n_alts = 2;
		d->alts[0] = (struct dfumgr_alt){0, "image-0"};
		d->alts[1] = (struct dfumgr_alt){1, "image-1"};
	} else {
		d->n_alts = 1;
		d->alts[0] = (struct dfumgr_alt){0, "dfu-mgr runtime"};
	}
}

static int op_list(void *p, struct dfumgr_ctx *ctx, struct dfumgr_device_info **ret, size_t *n)
{
	struct loop *l = p;
	struct dfumgr_device_info *list = calloc(LOOP_BOARDS_MAX, sizeof(*list));
	size_t k = 0;

	(void)ctx;
	if (!list)
		return -DFUMGR_E_NOMEM;
	loop_run_timers(l);
	for (unsigned i = 0; i < l->n; i++)
		if (l->boards[i].present)
			fill_info(&l->boards[i], &list[k++]);
	*ret = list;
	*n = k;
	return 0;
}

static int op_control(void *t, struct dfumgr_ctx *ctx, uint8_t type, uint8_t req, uint16_t value,
		      uint16_t index, uint8_t *data, uint16_t length, unsigned timeout_ms)
{
	struct loop_handle *h = t;
	struct loop *l = h->l;
	struct loop_board *lb = &l->boards[h->i];
	uint8_t setup[8] = {type,
			    req,
			    (uint8_t)value,
			    (uint8_t)(value >> 8),
			    (uint8_t)index,
			    (uint8_t)(index >> 8),
			    (uint8_t)length,
			    (uint8_t)(length >> 8)};
	uint8_t buf[4096];
	bool early_gone;
	int rc;

	(void)timeout_ms;
	(void)ctx;
	loop_run_timers(l);
	if (!lb->present || lb->gen != h->gen)
		return -DFUMGR_E_DISCONNECTED;
	if (lb->plain && (type & 0x60) == 0x40)
		return -DFUMGR_E_STALL;
	if (type == 0xa1 && req == DFU_GETSTATUS) {
		/* the host polls exactly bwPollTimeout after the last status */
		uint64_t waited = l->now_us - l->last_status_us;

		if (l->last_poll_ms) {
			l->polls_checked++;
			if (waited < (uint64_t)l->last_poll_ms * 1000)
				l->polls_early++;
			if (waited > (uint64_t)l->last_poll_ms * 1000 + 1000)
				l->polls_late++;
		}
	}
	if (!(type & 0x80) && length)
		memcpy(buf, data, length);
	rc = emu_board_control(&lb->b, setup, buf, l->now_us);
	early_gone = lb->b.action == EMU_ACT_DISCONNECT || emu_power_lost(&lb->b.power) ||
		     (lb->b.action == EMU_ACT_POWER_CUT && lb->b.mode == EMU_MODE_DFU &&
		      req == DFU_DNLOAD && type == 0x21);
	if (type == 0xa1 && req == DFU_GETSTATUS && rc == 6) {
		l->last_poll_ms = buf[1] | buf[2] << 8 | (uint32_t)buf[3] << 16;
		l->last_status_us = l->now_us;
	}
	switch (lb->b.action) {
	case EMU_ACT_DETACH_TO_DFU:
		emu_board_enter_dfu(&lb->b);
		unplug(l, lb, false);
		break;
	case EMU_ACT_DISCONNECT:
		if (lb->b.mode == EMU_MODE_DFU)
			dfu_dev_bus_reset(&lb->b.dev);
		unplug(l, lb, false);
		break;
	case EMU_ACT_POWER_CUT:
		lb->b.mode = EMU_MODE_OFF;
		unplug(l, lb, true);
		break;
	default:
		break;
	}
	lb->b.action = EMU_ACT_NONE;
	if (early_gone)
		return -DFUMGR_E_DISCONNECTED;
	if (rc < 0)
		return -DFUMGR_E_STALL;
	if (type & 0x80) {
		rc = rc < length ? rc : length;
		memcpy(data, buf, (size_t)rc);
		return rc;
	}
	return length;
}

static int op_set_alt(void *t, struct dfumgr_ctx *ctx, uint8_t alt)
{
	int rc = op_control(t, ctx, 0x01, 11, alt, 0, NULL, 0, 1000);

	return rc < 0 ? rc : 0;
}

static int op_reset(void *t, struct dfumgr_ctx *ctx)
{
	struct loop_handle *h = t;
	struct loop_board *lb = &h->l->boards[h->i];

	(void)ctx;
	lb->b.mode = EMU_MODE_OFF;
	unplug(h->l, lb, true);
	return 0;
}

static void op_close(void *t)
{
	free(t);
}

static const struct dfumgr_transport_ops transport_ops = {
    .control = op_control,
    .set_alt = op_set_alt,
    .reset = op_reset,
    .close = op_close,
};

static int op_open(void *p, struct dfumgr_ctx *ctx, const struct dfumgr_device_info *info,
		   const struct dfumgr_transport_ops **ret_ops, void **ret_t)
{
	struct loop *l = p;
	struct loop_handle *h;

	(void)ctx;
	for (unsigned i = 0; i < l->n; i++) {
		if (strcmp(l->boards[i].b.serial, info->serial) || !l->boards[i].present)
			continue;
		h = calloc(1, sizeof(*h));
		if (!h)
			return -DFUMGR_E_NOMEM;
		h->l = l;
		h->i = i;
		h->gen = l->boards[i].gen;
		*ret_ops = &transport_ops;
		*ret_t = h;
		return 0;
	}
	return -DFUMGR_E_NODEV;
}

static int op_wait_event(void *p, unsigned timeout_ms)
{
	loop_advance(p, (uint64_t)timeout_ms * 1000);
	return 0;
}

static void op_sleep_us(void *p, uint64_t us)
{
	struct loop *l = p;

	l->slept_us += us;
	loop_advance(l, us);
}

static uint64_t op_now_us(void *p)
{
	return ((struct loop *)p)->now_us;
}

static void op_free(void *p)
{
	(void)p; /* the loop belongs to the test */
}

static const struct dfumgr_backend_ops backend_ops = {
    .name = "loop",
    .list = op_list,
    .open = op_open,
    .wait_event = op_wait_event,
    .sleep_us = op_sleep_us,
    .now_us = op_now_us,
    .free = op_free,
};

struct dfumgr_backend *loop_backend(struct loop *l)
{
	struct dfumgr_backend *be = NULL;

	if (dfumgr_backend_new(&backend_ops, l, &be) < 0)
		return NULL;
	return be;
}
