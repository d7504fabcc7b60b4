/* SPDX-License-Identifier: MIT */
/*
 * The board registry: boards by index and serial, and their life on the bus: power on (the
 * MCUboot model, then the application), plug, unplug, the delayed re-plug after a
 * re-enumeration, the reboot after a power cut or a crash.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emu.h"

/* The serial names the board's flash directory and its USB string: keep both well-formed. */
bool emu_registry_serial_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > DFUMGR_SERIAL_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e || *s == '/')
			return false;
	return true;
}

int emu_registry_add(struct emu *e, const char *serial_in)
{
	char serial[DFUMGR_SERIAL_MAX + 1], dir[512];
	unsigned i = e->n_boards;
	struct emu_board *b;
	int rc, n;

	if (i >= MAX_BOARDS)
		return -ENOSPC;
	if (serial_in && *serial_in)
		n = snprintf(serial, sizeof(serial), "%s", serial_in);
	else
		n = snprintf(serial, sizeof(serial), "%s-%04u", e->prefix, i + 1);
	if (n < 0 || (size_t)n >= sizeof(serial) || !emu_registry_serial_ok(serial))
		return -EINVAL;
	for (unsigned k = 0; k < e->n_boards; k++)
		if (!strcmp(e->boards[k]->serial, serial))
			return -EEXIST;
	n = snprintf(dir, sizeof(dir), "%s/%s", e->state_dir, serial);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	rc = emu_board_open(b, i, serial, dir, e->real_timing, e->mcuboot_key);
	if (rc < 0) {
		free(b);
		return rc;
	}
	b->replug_ms = e->replug_ms;
	snprintf(b->product, sizeof(b->product), "%s", e->product);
	b->hw_revision = e->hw_revision;
	b->no_upload = e->no_upload;
	b->mcuboot_strategy = e->mcuboot_strategy;
	e->boards[i] = b;
	e->links[i] = (struct link){.fd = -1, .vhci_port = -1, .rx = malloc(RX_CAP)};
	if (!e->links[i].rx) {
		emu_board_close(b);
		free(b);
		return -ENOMEM;
	}
	e->n_boards++;
	emu_registry_boot(e, i);
	return (int)i;
}

int emu_registry_find(struct emu *e, const char *name)
{
	char *end;
	unsigned long v;

	for (unsigned i = 0; i < e->n_boards; i++)
		if (e->boards[i] && !strcmp(e->boards[i]->serial, name))
			return (int)i;
	if (*name < '0' || *name > '9')
		return -1; /* strtoul would take "-1" or " 1" */
	errno = 0;
	v = strtoul(name, &end, 10);
	if (!*end && !errno && v < e->n_boards && e->boards[v])
		return (int)v;
	return -1;
}

void emu_registry_plug(struct emu *e, unsigned i)
{
	struct link *l = &e->links[i];

	l->plug_at_us = 0;
	if (e->boards[i]->mode == EMU_MODE_OFF)
		return;
	if (e->direct && emu_vhci_attach(e, i) == -EAGAIN)
		emu_registry_schedule(e, i, false, 20); /* its port is not released yet */
	else
		l->exported = true; /* usbip attach imports it again */
}

void emu_registry_unplug(struct emu *e, unsigned i)
{
	struct link *l = &e->links[i];

	if (l->fd >= 0) {
		/* vhci sees the stream end as a disconnect: the kernel unplugs the device */
		shutdown(l->fd, SHUT_RDWR);
		close(l->fd);
		l->fd = -1;
		emu_log(e, "%s: unplugged", e->boards[i]->serial);
	}
	l->exported = false;
	l->rx_len = 0;
}

void emu_registry_schedule(struct emu *e, unsigned i, bool boot_first, uint32_t delay_ms)
{
	e->links[i].plug_at_us = emu_now_us() + (uint64_t)delay_ms * 1000 + 1;
	e->links[i].boot_first = boot_first;
}

/* Carries out what the last request asked for, after it was answered (or not). */
void emu_registry_act(struct emu *e, unsigned i)
{
	struct emu_board *b = e->boards[i];
	enum emu_action a = b->action;

	b->action = EMU_ACT_NONE;
	switch (a) {
	case EMU_ACT_DETACH_TO_DFU:
		emu_registry_unplug(e, i);
		emu_board_enter_dfu(b);
		emu_registry_schedule(e, i, false, e->replug_ms);
		break;
	case EMU_ACT_DISCONNECT:
		/* the cable: the board keeps power; the re-plug is a USB reset (errUSBR if a
		 * transfer was cut) */
		emu_registry_unplug(e, i);
		if (b->mode == EMU_MODE_DFU)
			dfu_dev_bus_reset(&b->dev);
		emu_registry_schedule(e, i, false, e->replug_ms);
		break;
	case EMU_ACT_POWER_CUT:
		emu_registry_unplug(e, i);
		b->mode = EMU_MODE_OFF;
		emu_registry_schedule(e, i, true, e->replug_ms);
		break;
	default:
		break;
	}
}

void emu_registry_boot(struct emu *e, unsigned i)
{
	struct emu_board *b = e->boards[i];
	struct link *l = &e->links[i];

	emu_board_boot(b, emu_now_us());
	emu_log(e, "%s: boot %u: %s (MCUboot: %" PRIu64 " flash writes, %.1f s at datasheet times)",
		b->serial, b->boots, b->last_boot, b->mcuboot.writes, b->mcuboot.busy_us / 1e6);
	if (b->mode == EMU_MODE_OFF) {
		/*
		 * The supply failed again (the cut-after-write knob) while MCUboot or the
		 * application ran: it comes back later. Or MCUboot halted: the board never
		 * enumerates until it is reset (the `reset` command).
		 */
		if (emu_power_lost(&b->power))
			emu_registry_schedule(e, i, true, e->replug_ms);
		return;
	}
	if (b->app == EMU_APP_CRASHED && l->crash_boots < 3) {
		/* a faulting application is reset by its watchdog: MCUboot runs again */
		l->crash_boots++;
		b->mode = EMU_MODE_OFF;
		emu_registry_schedule(e, i, true, e->replug_ms);
		return;
	}
	l->crash_boots = 0;
	emu_registry_plug(e, i);
}

int emu_registry_timers(struct emu *e, int timeout_ms)
{
	uint64_t t = emu_now_us();

	for (unsigned i = 0; i < e->n_boards; i++) {
		struct link *l = &e->links[i];

		if (l->plug_at_us) {
			if (t >= l->plug_at_us) {
				if (l->boot_first)
					emu_registry_boot(e, i);
				else
					emu_registry_plug(e, i);
			} else {
				uint64_t ms = (l->plug_at_us - t + 999) / 1000;

				if ((int)ms < timeout_ms)
					timeout_ms = (int)ms;
			}
		}
		if (e->boards[i]->dev.digest.status == DFUMGR_DIGEST_BUSY ||
		    e->boards[i]->dev.commit_state == DFUMGR_COMMIT_CHECKING) {
			emu_board_poll(e->boards[i], t);
			emu_registry_act(e, i); /* a cut during a commit's trailer writes */
			timeout_ms = 0;
		}
	}
	return timeout_ms;
}

void emu_registry_free(struct emu *e)
{
	for (unsigned i = 0; i < e->n_boards; i++) {
		emu_registry_unplug(e, i);
		emu_board_close(e->boards[i]);
		free(e->boards[i]);
		free(e->links[i].rx);
	}
	e->n_boards = 0;
}
