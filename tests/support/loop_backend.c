/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "loop_backend.h"
#include "dfumgr/wire.h"

#define CONTROL_COST_US 250

struct loop_handle {
	struct loop *l;
	unsigned i;
	unsigned gen;
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void lock(struct loop *l)
{
	pthread_mutex_lock(&l->lock);
}

static void unlock(struct loop *l)
{
	pthread_mutex_unlock(&l->lock);
}

static uint64_t clock_now(struct loop *l)
{
	if (l->real_clock)
		l->now_us = mono_us();
	return l->now_us;
}

static void plugged(struct loop *l, struct loop_board *lb)
{
	lb->present = true;
	lb->plugs++;
	lb->b.desc_len = 0; /* descriptors of the new mode */
	l->events++;
}

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
	lb->detach_armed = false;
	if (lb->b.app == EMU_APP_CRASHED && lb->crash_boots < 3) {
		/* the watchdog resets a faulting application: MCUboot runs again */
		lb->crash_boots++;
		lb->b.mode = EMU_MODE_OFF;
		lb->plug_at_us = l->now_us + (uint64_t)l->replug_ms * 1000;
		lb->boot_first = true;
		return;
	}
	lb->crash_boots = 0;
	plugged(l, lb);
}

void loop_run_timers(struct loop *l)
{
	lock(l);
	clock_now(l);
	for (unsigned i = 0; i < l->n; i++) {
		struct loop_board *lb = &l->boards[i];

		/* a crash reboot may schedule another: loop until nothing is due */
		while (lb->plug_at_us && l->now_us >= lb->plug_at_us) {
			lb->plug_at_us = 0;
			if (lb->boot_first)
				boot(l, lb);
			else
				plugged(l, lb);
		}
	}
	unlock(l);
}

void loop_advance(struct loop *l, uint64_t us)
{
	lock(l);
	if (!l->real_clock)
		l->now_us += us;
	unlock(l);
	loop_run_timers(l);
}

static void unplug(struct loop *l, struct loop_board *lb, bool boot_first)
{
	if (lb->present)
		l->events++;
	lb->present = false;
	lb->gen++;
	lb->plug_at_us = clock_now(l) + (uint64_t)l->replug_ms * 1000 + 1;
	lb->boot_first = boot_first;
}

void loop_set_dfu_mode(struct loop *l, unsigned i)
{
	lock(l);
	emu_board_enter_dfu(&l->boards[i].b);
	l->boards[i].b.desc_len = 0;
	l->boards[i].gen++;
	l->events++;
	unlock(l);
}

void loop_unplug(struct loop *l, unsigned i)
{
	lock(l);
	unplug(l, &l->boards[i], false);
	l->boards[i].plug_at_us = 0;
	unlock(l);
}

void loop_plug(struct loop *l, unsigned i)
{
	lock(l);
	plugged(l, &l->boards[i]);
	unlock(l);
}

static struct loop *loop_setup(const char *dir, unsigned n, bool real_timing, bool keep);

struct loop *loop_new(unsigned n, bool real_timing)
{
	char tmpl[] = "/tmp/dfumgr-loop-XXXXXX";

	if (!mkdtemp(tmpl))
		return NULL;
	return loop_setup(tmpl, n, real_timing, false);
}

struct loop *loop_open(const char *dir, unsigned n)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return NULL;
	return loop_setup(dir, n, false, true);
}

static struct loop *loop_setup(const char *dir, unsigned n, bool real_timing, bool keep)
{
	struct loop *l = calloc(1, sizeof(*l));
	pthread_mutexattr_t a;

	if (!l || n > LOOP_BOARDS_MAX) {
		free(l);
		return NULL;
	}
	l->keep_dir = keep;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&l->lock, &a);
	pthread_mutexattr_destroy(&a);
	snprintf(l->dir, sizeof(l->dir), "%s", dir);
	l->n = n;
	l->replug_ms = 200;
	l->now_us = 1000000;
	for (unsigned i = 0; i < n; i++) {
		char serial[32], bdir[512];

		snprintf(serial, sizeof(serial), "LOOP-%04u", i + 1);
		snprintf(bdir, sizeof(bdir), "%s/%s", l->dir, serial);
		l->boards[i].port = i + 1;
		if (emu_board_open(&l->boards[i].b, i, serial, bdir, real_timing, NULL) < 0) {
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
	if (!l->keep_dir && system(cmd) != 0)
		fprintf(stderr, "loop: could not remove %s\n", l->dir);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* ---- backend ops ---- */

/* What the host knows without asking the device: ids, path, address, descriptors. */
static void fill_info(const struct loop_board *lb, struct dfumgr_device_info *d)
{
	bool dfu = lb->b.mode == EMU_MODE_DFU;

	memset(d, 0, sizeof(*d));
	d->vid = lb->vid ? lb->vid : DFUMGR_USB_VID;
	d->pid = lb->pid ? lb->pid : DFUMGR_USB_PID;
	d->bcd_device = DFUMGR_USB_BCD;
	snprintf(d->path, sizeof(d->path), "9-%u", lb->port);
	d->bus = 9;
	/* a new address at every enumeration, as a hub gives */
	d->address = (uint8_t)(1 + (lb->b.index * 7 + lb->gen) % 127);
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
		d->alts[0].number = 0;
		d->alts[1].number = 1;
	} else {
		d->n_alts = 1;
		d->alts[0].number = 0;
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
	lock(l);
	for (unsigned i = 0; i < l->n; i++)
		if (l->boards[i].present)
			fill_info(&l->boards[i], &list[k++]);
	unlock(l);
	*ret = list;
	*n = k;
	return 0;
}

/* The board answering at this enumeration (path and address), or NULL. Under lock. */
static struct loop_board *board_of(struct loop *l, const struct dfumgr_device_info *info)
{
	for (unsigned i = 0; i < l->n; i++) {
		struct dfumgr_device_info now;

		if (!l->boards[i].present)
			continue;
		fill_info(&l->boards[i], &now);
		if (!strcmp(now.path, info->path) && now.address == info->address)
			return &l->boards[i];
	}
	return NULL;
}

static int get_desc(struct loop_board *lb, uint8_t type, uint8_t index, uint8_t *buf, uint16_t len)
{
	uint8_t setup[8] = {0x80, 6, index, type, 0, 0, (uint8_t)len, (uint8_t)(len >> 8)};

	if (type == 3 && index) {
		/* libusb_get_string_descriptor_ascii reads the language table first */
		uint8_t langs[8] = {0x80, 6, 0, 3, 0, 0, 255, 0}, tmp[256];

		if (emu_board_control(&lb->b, langs, tmp, 0) < 0)
			return -1;
		setup[4] = 0x09;
		setup[5] = 0x04;
	}
	return emu_board_control(&lb->b, setup, buf, 0);
}

static void read_str(struct loop_board *lb, uint8_t index, char *out)
{
	uint8_t buf[256];
	int n;

	out[0] = '\0';
	if (!index)
		return;
	n = get_desc(lb, 3, index, buf, 255);
	if (n < 2)
		return;
	/* UTF-16LE to ASCII */
	for (int i = 2, k = 0; i + 1 < n && k < DFUMGR_STRING_MAX - 1; i += 2, k++) {
		out[k] = buf[i + 1] || buf[i] < 0x20 || buf[i] >= 0x7f ? '?' : (char)buf[i];
		out[k + 1] = '\0';
	}
}

static int op_read_strings(void *p, struct dfumgr_ctx *ctx, struct dfumgr_device_info *info)
{
	struct loop *l = p;
	struct loop_board *lb;
	uint8_t dd[18], cfg[512];
	int n, rc = 0;

	(void)ctx;
	lock(l);
	lb = board_of(l, info);
	if (!lb || get_desc(lb, 1, 0, dd, sizeof(dd)) < 18) {
		rc = -DFUMGR_E_DISCONNECTED;
		goto out;
	}
	read_str(lb, dd[14], info->manufacturer);
	read_str(lb, dd[15], info->product);
	read_str(lb, dd[16], info->serial);
	n = get_desc(lb, 2, 0, cfg, sizeof(cfg));
	/* interface descriptors: (9, 4, bInterfaceNumber, bAlternateSetting, ..., iInterface) */
	for (int off = 0; n > 0 && off + 1 < n && cfg[off] >= 2; off += cfg[off]) {
		if (cfg[off + 1] != 4 || off + 9 > n)
			continue;
		for (size_t k = 0; k < info->n_alts; k++)
			if (info->alts[k].number == cfg[off + 3])
				read_str(lb, cfg[off + 8], info->alts[k].name);
	}
out:
	unlock(l);
	return rc;
}

static int control_locked(struct loop_handle *h, uint8_t type, uint8_t req, uint16_t value,
			  uint16_t index, uint8_t *data, uint16_t length)
{
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

	if (!lb->present || lb->gen != h->gen)
		return -DFUMGR_E_DISCONNECTED;
	/* a control transfer is not free on the bus: a quarter of a full-speed frame */
	if (!l->real_clock)
		l->now_us += CONTROL_COST_US;
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
	if (lb->busy_forever && lb->b.mode == EMU_MODE_DFU && type == 0xa1 &&
	    req == DFU_GETSTATUS && lb->b.dl_bytes[0] + lb->b.dl_bytes[1] > 0) {
		/* a board that never finishes a block, and asks for 4.6 hours between polls */
		uint8_t st[6] = {DFU_STATUS_OK, 0xff, 0xff, 0xff, DFU_STATE_DNBUSY, 0};

		memcpy(data, st, length < 6 ? length : 6);
		l->last_poll_ms = 0;
		return length < 6 ? length : 6;
	}
	if (!(type & 0x80) && length)
		memcpy(buf, data, length);
	if (type == 0x21 && req == DFU_DETACH && lb->b.mode == EMU_MODE_RUNTIME &&
	    lb->stays_on_detach) {
		/* appDETACH: waits for the bus reset it announced it would not need */
		lb->detach_armed = true;
		return 0;
	}
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

static int op_control(void *t, struct dfumgr_ctx *ctx, uint8_t type, uint8_t req, uint16_t value,
		      uint16_t index, uint8_t *data, uint16_t length, unsigned timeout_ms)
{
	struct loop_handle *h = t;
	int rc;

	(void)timeout_ms;
	(void)ctx;
	loop_run_timers(h->l);
	lock(h->l);
	rc = control_locked(h, type, req, value, index, data, length);
	unlock(h->l);
	return rc;
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
	lock(h->l);
	if (lb->detach_armed) {
		/* DFU 1.1 §5.1: a reset in appDETACH enters DFU mode */
		lb->detach_armed = false;
		emu_board_enter_dfu(&lb->b);
		unplug(h->l, lb, false);
	} else if (lb->b.mode == EMU_MODE_DFU && lb->reset_keeps_mode) {
		dfu_dev_bus_reset(&lb->b.dev);
		unplug(h->l, lb, false);
	} else {
		lb->b.mode = EMU_MODE_OFF;
		unplug(h->l, lb, true);
	}
	unlock(h->l);
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
	struct loop_board *lb;
	struct loop_handle *h;

	(void)ctx;
	loop_run_timers(l);
	lock(l);
	lb = board_of(l, info);
	if (!lb) {
		unlock(l);
		return -DFUMGR_E_DISCONNECTED;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		unlock(l);
		return -DFUMGR_E_NOMEM;
	}
	h->l = l;
	h->i = (unsigned)(lb - l->boards);
	h->gen = lb->gen;
	unlock(l);
	*ret_ops = &transport_ops;
	*ret_t = h;
	return 0;
}

static uint64_t op_events(void *p)
{
	struct loop *l = p;
	uint64_t e;

	loop_run_timers(l);
	lock(l);
	e = l->events;
	unlock(l);
	return e;
}

static int op_sleep_us(void *p, uint64_t us, const struct dfumgr_cancel *c)
{
	struct loop *l = p;

	if (dfumgr_cancel_is_set(c))
		return -DFUMGR_E_CANCELLED;
	lock(l);
	l->slept_us += us;
	unlock(l);
	if (l->real_clock) {
		int rc = dfumgr_cancel_sleep(c, us);

		loop_run_timers(l);
		return rc;
	}
	loop_advance(l, us);
	return 0;
}

static int op_wait_event(void *p, unsigned timeout_ms, const struct dfumgr_cancel *c)
{
	struct loop *l = p;
	uint64_t seen = op_events(p);
	uint64_t step = 10000, left = (uint64_t)timeout_ms * 1000;

	/* time passes in steps until a board plugs or unplugs */
	while (left) {
		uint64_t s = left < step ? left : step;
		int rc = op_sleep_us(l, s, c);

		if (rc < 0)
			return rc;
		left -= s;
		if (op_events(p) != seen)
			return 0;
	}
	return -DFUMGR_E_TIMEOUT;
}

static uint64_t op_now_us(void *p)
{
	struct loop *l = p;
	uint64_t t;

	lock(l);
	t = clock_now(l);
	unlock(l);
	return t;
}

static void op_free(void *p)
{
	struct loop *l = p;

	if (l->owned)
		loop_free(l); /* else the loop belongs to the test */
}

static const struct dfumgr_backend_ops backend_ops = {
    .name = "loop",
    .list = op_list,
    .read_strings = op_read_strings,
    .open = op_open,
    .events = op_events,
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
