/* SPDX-License-Identifier: MIT */
/*
 * dfu-mgr-emu: emulated nRF5340 boards served over USB/IP, so that the kernel's vhci-hcd turns
 * them into real USB devices for libusb, usbfs, udev and stock dfu-util.
 *
 * One thread, one poll() loop: the USB/IP TCP server, each board's URB stream, the control
 * socket, and timers (re-plug after a re-enumeration, boot after a power cut).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "usbip.h"
#include "dfumgr/crypto.h"

#define MAX_BOARDS   120 /* vhci: 8 controllers x 15 full-speed ports */
#define MAX_CLIENTS  16
#define RX_CAP       (USBIP_HDR_SIZE + USBIP_MAX_TRANSFER)
#define VHCI_DIR     "/sys/devices/platform/vhci_hcd.0"
#define EPIPE_STATUS (-32)

struct link {
	int fd;        /* our end of the URB stream, -1 when unplugged */
	bool exported; /* TCP mode: waiting for OP_REQ_IMPORT */
	int vhci_port; /* direct attach: the port we used */
	size_t rx_len;
	uint8_t *rx;
	uint64_t plug_at_us; /* 0: none; else plug (or boot first, see boot_first) then */
	bool boot_first;
	unsigned crash_boots;
};

struct handshake {
	int fd;
	size_t len;
	uint8_t buf[USBIP_OP_HDR_SIZE + USBIP_BUSID_SIZE];
};

struct ctl_client {
	int fd;
	size_t len;
	char buf[512];
};

struct emu {
	const char *state_dir;
	const char *prefix;
	bool real_timing;
	bool direct;
	bool quiet;
	int listen_fd, ctl_fd;
	char ctl_path[512];
	struct dfumgr_key *mcuboot_key;
	uint32_t replug_ms;
	unsigned n_boards;
	struct emu_board *boards[MAX_BOARDS];
	struct link links[MAX_BOARDS];
	struct handshake hs[MAX_CLIENTS];
	struct ctl_client ctl[MAX_CLIENTS];
	volatile sig_atomic_t stop;
};

static struct emu *g_emu_for_signals;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void logmsg(struct emu *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logmsg(struct emu *e, const char *fmt, ...)
{
	va_list ap;

	if (e->quiet)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "dfu-mgr-emu: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};

			poll(&pfd, 1, 1000);
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- attaching and detaching ---- */

static void devinfo_of(struct emu_board *b, struct usbip_devinfo *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "/sys/devices/dfu-mgr-emu/usb1/1-%u", b->index + 1);
	snprintf(d->busid, sizeof(d->busid), "1-%u", b->index + 1);
	d->busnum = 1;
	d->devnum = b->index + 2;
	d->speed = USBIP_SPEED_FULL;
	d->vid = DFUMGR_USB_VID;
	d->pid = DFUMGR_USB_PID;
	d->bcd_device = DFUMGR_USB_BCD;
	d->config_value = b->configuration;
	d->n_configs = 1;
	d->n_interfaces = 1;
	d->intf[0][0] = DFU_CLASS;
	d->intf[0][1] = DFU_SUBCLASS;
	d->intf[0][2] = b->mode == EMU_MODE_DFU ? DFU_PROTOCOL_DFU_MODE : DFU_PROTOCOL_RUNTIME;
}

/* A free full-speed (USB 2 hub) port of vhci-hcd, from its status files. */
static int vhci_free_port(int skip_below)
{
	char path[128], line[256];

	for (int c = 0; c < 8; c++) {
		FILE *f;

		if (c == 0)
			snprintf(path, sizeof(path), "%s/status", VHCI_DIR);
		else
			snprintf(path, sizeof(path), "%s/status.%d", VHCI_DIR, c);
		f = fopen(path, "re");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f)) {
			char hub[8];
			int port, sta;

			if (sscanf(line, "%7s %d %d", hub, &port, &sta) == 3 &&
			    !strcmp(hub, "hs") && sta == 4 /* VDEV_ST_NULL */ &&
			    port >= skip_below) {
				fclose(f);
				return port;
			}
		}
		fclose(f);
	}
	return -1;
}

static int direct_attach(struct emu *e, unsigned i)
{
	struct emu_board *b = e->boards[i];
	struct link *l = &e->links[i];
	int sv[2], port = -1, fd;
	char path[128], msg[64];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/attach", VHCI_DIR);
	for (int tries = 0; tries < 16; tries++) {
		ssize_t w;
		int n;

		port = vhci_free_port(port + 1);
		if (port < 0)
			break;
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		/* "port sockfd devid speed": the kernel takes its own reference to sv[1] */
		n = snprintf(msg, sizeof(msg), "%d %d %u %u", port, sv[1],
			     (1u << 16) | (b->index + 2), USBIP_SPEED_FULL);
		w = write(fd, msg, (size_t)n);
		close(fd);
		if (w == n) {
			close(sv[1]);
			l->fd = sv[0];
			l->vhci_port = port;
			l->rx_len = 0;
			logmsg(e, "%s: attached on vhci port %d (%s mode)", b->serial, port,
			       b->mode == EMU_MODE_DFU ? "DFU" : "runtime");
			return 0;
		}
	}
	close(sv[0]);
	close(sv[1]);
	logmsg(e, "%s: cannot attach through %s: %s", b->serial, path,
	       port < 0 ? "no free port" : strerror(errno));
	return -EBUSY;
}

static void plug(struct emu *e, unsigned i)
{
	struct link *l = &e->links[i];

	l->plug_at_us = 0;
	if (e->boards[i]->mode == EMU_MODE_OFF)
		return;
	if (e->direct)
		direct_attach(e, i);
	else
		l->exported = true; /* usbip attach imports it again */
}

static void unplug(struct emu *e, unsigned i)
{
	struct link *l = &e->links[i];

	if (l->fd >= 0) {
		/* vhci sees the stream end as a disconnect: the kernel unplugs the device */
		shutdown(l->fd, SHUT_RDWR);
		close(l->fd);
		l->fd = -1;
		logmsg(e, "%s: unplugged", e->boards[i]->serial);
	}
	l->exported = false;
	l->rx_len = 0;
}

static void schedule(struct emu *e, unsigned i, bool boot_first, uint32_t delay_ms)
{
	e->links[i].plug_at_us = now_us() + (uint64_t)delay_ms * 1000 + 1;
	e->links[i].boot_first = boot_first;
}

/* Carries out what the last request asked for, after it was answered (or not). */
static void do_action(struct emu *e, unsigned i)
{
	struct emu_board *b = e->boards[i];
	enum emu_action a = b->action;

	b->action = EMU_ACT_NONE;
	switch (a) {
	case EMU_ACT_DETACH_TO_DFU:
		unplug(e, i);
		emu_board_enter_dfu(b);
		schedule(e, i, false, e->replug_ms);
		break;
	case EMU_ACT_DISCONNECT:
		/* the cable: the board keeps power; the re-plug is a USB reset (errUSBR if a
		 * transfer was cut) */
		unplug(e, i);
		if (b->mode == EMU_MODE_DFU)
			dfu_dev_bus_reset(&b->dev);
		schedule(e, i, false, e->replug_ms);
		break;
	case EMU_ACT_POWER_CUT:
		unplug(e, i);
		b->mode = EMU_MODE_OFF;
		schedule(e, i, true, e->replug_ms);
		break;
	default:
		break;
	}
}

static void boot_board(struct emu *e, unsigned i)
{
	struct emu_board *b = e->boards[i];
	struct link *l = &e->links[i];

	emu_board_boot(b, now_us());
	logmsg(e, "%s: boot %u: %s", b->serial, b->boots, b->last_boot);
	if (b->app == EMU_APP_CRASHED && l->crash_boots < 3) {
		/* a faulting application is reset by its watchdog: MCUboot runs again */
		l->crash_boots++;
		b->mode = EMU_MODE_OFF;
		schedule(e, i, true, e->replug_ms);
		return;
	}
	l->crash_boots = 0;
	plug(e, i);
}

/* ---- URB traffic ---- */

static FILE *g_trace; /* DFUMGR_EMU_TRACE=FILE: one line per URB (arrival, reply, request) */

static int handle_urb(struct emu *e, unsigned i, const struct usbip_cmd *c)
{
	struct emu_board *b = e->boards[i];
	uint8_t hdr[USBIP_HDR_SIZE];
	static uint8_t data[USBIP_MAX_TRANSFER];
	int32_t status = 0, actual = 0;
	int rc;

	if (c->command == USBIP_CMD_UNLINK) {
		/* every URB is answered as soon as it arrives: nothing is left to unlink */
		usbip_encode_ret_unlink(hdr, c, 0);
		return write_all(e->links[i].fd, hdr, sizeof(hdr));
	}
	if (c->ep != 0) {
		status = EPIPE_STATUS;
	} else {
		uint16_t wlength = (uint16_t)(c->setup[6] | c->setup[7] << 8);

		if (c->direction == USBIP_DIR_OUT)
			memcpy(data, c->out_data, (size_t)c->length);
		else
			memset(data, 0, wlength);
		rc = emu_board_control(b, c->setup, data, now_us());
		if (b->action == EMU_ACT_DISCONNECT ||
		    (b->action == EMU_ACT_POWER_CUT && b->mode == EMU_MODE_DFU &&
		     c->setup[1] == DFU_DNLOAD)) {
			do_action(e, i); /* gone before answering */
			return 0;
		}
		if (rc < 0) {
			status = EPIPE_STATUS;
		} else if (c->direction == USBIP_DIR_IN) {
			actual = rc < c->length ? rc : c->length;
		} else {
			actual = c->length;
		}
	}
	if (g_trace)
		fprintf(g_trace, "%" PRIu64 " %02x %02x %u %d\n", now_us(), c->setup[0],
			c->setup[1], (unsigned)c->length, status);
	usbip_encode_ret_submit(hdr, c, status, actual);
	if (write_all(e->links[i].fd, hdr, sizeof(hdr)) < 0 ||
	    (c->direction == USBIP_DIR_IN && actual &&
	     write_all(e->links[i].fd, data, (size_t)actual) < 0))
		return -1;
	if (b->action != EMU_ACT_NONE)
		do_action(e, i);
	return 0;
}

static void link_readable(struct emu *e, unsigned i)
{
	struct link *l = &e->links[i];
	ssize_t n = recv(l->fd, l->rx + l->rx_len, RX_CAP - l->rx_len, 0);

	if (n <= 0) {
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		/* the host let go (usbip detach, VM gone): the board is unplugged */
		logmsg(e, "%s: host closed the connection", e->boards[i]->serial);
		unplug(e, i);
		if (!e->direct)
			l->exported = true;
		return;
	}
	l->rx_len += (size_t)n;
	for (;;) {
		struct usbip_cmd c;
		int used = usbip_decode_cmd(l->rx, l->rx_len, &c);

		if (used == 0)
			break;
		if (used < 0) {
			logmsg(e, "%s: malformed USB/IP command, dropping the link",
			       e->boards[i]->serial);
			unplug(e, i);
			return;
		}
		if (handle_urb(e, i, &c) < 0) {
			unplug(e, i);
			return;
		}
		if (l->fd < 0)
			return; /* the request unplugged the board */
		memmove(l->rx, l->rx + used, l->rx_len - (size_t)used);
		l->rx_len -= (size_t)used;
	}
}

/* ---- USB/IP TCP server: device list and import ---- */

static int find_busid(struct emu *e, const char *busid)
{
	for (unsigned i = 0; i < e->n_boards; i++) {
		char id[USBIP_BUSID_SIZE];

		snprintf(id, sizeof(id), "1-%u", e->boards[i]->index + 1);
		if (!strcmp(id, busid))
			return (int)i;
	}
	return -1;
}

static void hs_close(struct handshake *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->len = 0;
}

static void hs_readable(struct emu *e, struct handshake *h)
{
	ssize_t n = recv(h->fd, h->buf + h->len, sizeof(h->buf) - h->len, 0);
	uint16_t code;
	uint8_t out[USBIP_OP_HDR_SIZE + 4 + MAX_BOARDS * (USBIP_DEVINFO_SIZE + 4)];
	size_t o = 0;

	if (n <= 0) {
		hs_close(h);
		return;
	}
	h->len += (size_t)n;
	if (h->len < USBIP_OP_HDR_SIZE)
		return;
	if (usbip_decode_op(h->buf, &code) < 0) {
		hs_close(h);
		return;
	}
	if (code == USBIP_OP_REQ_DEVLIST) {
		unsigned count = 0;

		for (unsigned i = 0; i < e->n_boards; i++)
			count += e->links[i].exported;
		usbip_encode_op(out, USBIP_OP_REP_DEVLIST, 0);
		out[8] = (uint8_t)(count >> 24), out[9] = (uint8_t)(count >> 16);
		out[10] = (uint8_t)(count >> 8), out[11] = (uint8_t)count;
		o = 12;
		for (unsigned i = 0; i < e->n_boards; i++) {
			struct usbip_devinfo d;

			if (!e->links[i].exported)
				continue;
			devinfo_of(e->boards[i], &d);
			o += usbip_encode_devinfo(out + o, &d, 1);
		}
		write_all(h->fd, out, o);
		hs_close(h);
		return;
	}
	if (code == USBIP_OP_REQ_IMPORT) {
		char busid[USBIP_BUSID_SIZE];
		int i;

		if (h->len < USBIP_OP_HDR_SIZE + USBIP_BUSID_SIZE)
			return;
		memcpy(busid, h->buf + USBIP_OP_HDR_SIZE, sizeof(busid));
		busid[sizeof(busid) - 1] = '\0';
		i = find_busid(e, busid);
		if (i < 0 || !e->links[i].exported || e->links[i].fd >= 0) {
			usbip_encode_op(out, USBIP_OP_REP_IMPORT, 1);
			write_all(h->fd, out, USBIP_OP_HDR_SIZE);
			hs_close(h);
			return;
		}
		{
			struct usbip_devinfo d;

			devinfo_of(e->boards[i], &d);
			usbip_encode_op(out, USBIP_OP_REP_IMPORT, 0);
			o = USBIP_OP_HDR_SIZE +
			    usbip_encode_devinfo(out + USBIP_OP_HDR_SIZE, &d, 0);
		}
		if (write_all(h->fd, out, o) < 0) {
			hs_close(h);
			return;
		}
		/* from now on this connection carries the board's URBs */
		e->links[i].fd = h->fd;
		e->links[i].exported = false;
		e->links[i].rx_len = 0;
		h->fd = -1;
		h->len = 0;
		logmsg(e, "%s: imported as %s", e->boards[i]->serial, busid);
		return;
	}
	hs_close(h);
}

/* ---- boards ---- */

static int add_board(struct emu *e, const char *serial_in)
{
	char serial[DFUMGR_SERIAL_MAX + 1], dir[512];
	unsigned i = e->n_boards;
	struct emu_board *b;
	int rc;

	if (i >= MAX_BOARDS)
		return -ENOSPC;
	if (serial_in && *serial_in)
		snprintf(serial, sizeof(serial), "%s", serial_in);
	else
		snprintf(serial, sizeof(serial), "%s-%04u", e->prefix, i + 1);
	for (unsigned k = 0; k < e->n_boards; k++)
		if (!strcmp(e->boards[k]->serial, serial))
			return -EEXIST;
	snprintf(dir, sizeof(dir), "%s/%s", e->state_dir, serial);
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	rc = emu_board_open(b, i, serial, dir, e->real_timing, e->mcuboot_key);
	if (rc < 0) {
		free(b);
		return rc;
	}
	b->replug_ms = e->replug_ms;
	e->boards[i] = b;
	e->links[i] = (struct link){.fd = -1, .vhci_port = -1, .rx = malloc(RX_CAP)};
	if (!e->links[i].rx) {
		emu_board_close(b);
		free(b);
		return -ENOMEM;
	}
	e->n_boards++;
	boot_board(e, i);
	return (int)i;
}

static int board_by_name(struct emu *e, const char *name)
{
	char *end;
	unsigned long v;

	for (unsigned i = 0; i < e->n_boards; i++)
		if (e->boards[i] && !strcmp(e->boards[i]->serial, name))
			return (int)i;
	v = strtoul(name, &end, 10);
	if (*name && !*end && v < e->n_boards && e->boards[v])
		return (int)v;
	return -1;
}

/* ---- control socket ---- */

static size_t reply_state(struct emu *e, unsigned i, char *out, size_t cap)
{
	struct link *l = &e->links[i];
	size_t n = (size_t)emu_board_state_json(e->boards[i], out, cap);

	/* add the link fields before the closing brace */
	if (n > 0 && n < cap) {
		n--;
		n += (size_t)snprintf(
		    out + n, cap - n, ", \"attached\": %s, \"vhci_port\": %d, \"busid\": \"1-%u\"}",
		    l->fd >= 0 ? "true" : "false", l->vhci_port, e->boards[i]->index + 1);
	}
	return n < cap ? n : cap - 1;
}

static uint64_t parse_u64(const char *s, bool *ok)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s ? s : "", &end, 0);
	*ok = s && *s && !*end && !errno;
	return v;
}

static void ctl_command(struct emu *e, char *line, char *out, size_t cap)
{
	char *argv[8], *save = NULL;
	int argc = 0, i;
	bool ok = true;

	for (char *tok = strtok_r(line, " \t\r\n", &save); tok && argc < 8;
	     tok = strtok_r(NULL, " \t\r\n", &save))
		argv[argc++] = tok;
	if (argc == 0) {
		snprintf(out, cap, "{\"error\": \"empty command\"}");
		return;
	}
	if (!strcmp(argv[0], "list")) {
		size_t n = (size_t)snprintf(out, cap, "{\"boards\": [");

		for (unsigned k = 0; k < e->n_boards && n < cap; k++) {
			if (k)
				n += (size_t)snprintf(out + n, cap - n, ", ");
			if (n < cap)
				n += reply_state(e, k, out + n, cap - n);
		}
		if (n < cap)
			snprintf(out + n, cap - n, "]}");
		return;
	}
	if (!strcmp(argv[0], "add")) {
		int rc = add_board(e, argc > 1 ? argv[1] : NULL);

		if (rc < 0)
			snprintf(out, cap, "{\"error\": \"add: %s\"}", strerror(-rc));
		else
			reply_state(e, (unsigned)rc, out, cap);
		return;
	}
	if (argc < 2 || (i = board_by_name(e, argv[1])) < 0) {
		snprintf(out, cap, "{\"error\": \"unknown board or command\"}");
		return;
	}
	if (!strcmp(argv[0], "state")) {
		reply_state(e, (unsigned)i, out, cap);
	} else if (!strcmp(argv[0], "reset")) {
		/* power cycle now */
		unplug(e, (unsigned)i);
		e->boards[i]->mode = EMU_MODE_OFF;
		schedule(e, (unsigned)i, true, e->replug_ms);
		snprintf(out, cap, "{\"ok\": true}");
	} else if (!strcmp(argv[0], "unplug")) {
		unplug(e, (unsigned)i);
		snprintf(out, cap, "{\"ok\": true}");
	} else if (!strcmp(argv[0], "plain") && argc == 3) {
		e->boards[i]->plain = !strcmp(argv[2], "on");
		snprintf(out, cap, "{\"ok\": true}");
	} else if (!strcmp(argv[0], "plug")) {
		if (e->links[i].fd < 0)
			plug(e, (unsigned)i);
		snprintf(out, cap, "{\"ok\": true}");
	} else if (!strcmp(argv[0], "fault") && argc >= 3) {
		struct emu_board *b = e->boards[i];
		uint64_t a = argc > 3 ? parse_u64(argv[3], &ok) : 0;
		uint64_t v = argc > 4 ? parse_u64(argv[4], &ok) : 0;
		bool need2 = strcmp(argv[2], "clear") && strcmp(argv[2], "stall");

		if (!ok || (need2 && (argc != 5 || a >= DFUMGR_N_IMAGES)) ||
		    (!strcmp(argv[2], "stall") && argc != 4)) {
			snprintf(out, cap,
				 "{\"error\": \"usage: fault BOARD disconnect|power-cut|"
				 "program-error|corrupt-read|bad-erase|wrong-digest ALT N | stall "
				 "N | clear\"}");
			return;
		}
		if (!strcmp(argv[2], "disconnect")) {
			b->fault.disconnect_at[a] = v;
		} else if (!strcmp(argv[2], "power-cut")) {
			b->fault.power_cut_at[a] = v;
		} else if (!strcmp(argv[2], "stall")) {
			b->fault.stall_countdown = (uint32_t)a;
		} else if (!strcmp(argv[2], "wrong-digest")) {
			b->fault.wrong_digest[a] = (uint32_t)v;
		} else if (!strcmp(argv[2], "program-error") || !strcmp(argv[2], "corrupt-read") ||
			   !strcmp(argv[2], "bad-erase")) {
			uint32_t base;
			struct emu_flash *f =
			    emu_board_area(b, dfu_area_secondary((unsigned)a), &base);

			if (!strcmp(argv[2], "program-error"))
				f->fail_program_at = base + (uint32_t)v;
			else if (!strcmp(argv[2], "bad-erase"))
				f->stuck_at = base + (uint32_t)v;
			else
				f->corrupt_read_at = base + (uint32_t)v;
		} else if (!strcmp(argv[2], "clear")) {
			for (int k = 0; k < DFUMGR_N_IMAGES; k++)
				b->fault.disconnect_at[k] = b->fault.power_cut_at[k] = UINT64_MAX;
			b->fault.stall_countdown = 0;
			memset(b->fault.wrong_digest, 0, sizeof(b->fault.wrong_digest));
			b->internal.fail_program_at = b->qspi.fail_program_at = UINT32_MAX;
			b->internal.corrupt_read_at = b->qspi.corrupt_read_at = UINT32_MAX;
			b->internal.stuck_at = b->qspi.stuck_at = UINT32_MAX;
		} else {
			snprintf(out, cap, "{\"error\": \"unknown fault %s\"}", argv[2]);
			return;
		}
		snprintf(out, cap, "{\"ok\": true}");
	} else {
		snprintf(out, cap, "{\"error\": \"unknown command %s\"}", argv[0]);
	}
}

static void ctl_readable(struct emu *e, struct ctl_client *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
	char *nl;
	static char out[MAX_BOARDS * 1024];

	if (n <= 0) {
		close(c->fd);
		c->fd = -1;
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	while ((nl = strchr(c->buf, '\n'))) {
		*nl = '\0';
		ctl_command(e, c->buf, out, sizeof(out) - 2);
		{
			size_t len = strlen(out);

			out[len] = '\n'; /* ctl_command left room for it */
			write_all(c->fd, out, len + 1);
		}
		memmove(c->buf, nl + 1, c->len - (size_t)(nl + 1 - c->buf) + 1);
		c->len -= (size_t)(nl + 1 - c->buf);
	}
	if (c->len >= sizeof(c->buf) - 1) {
		close(c->fd);
		c->fd = -1;
	}
}

/* ---- setup ---- */

static int listen_tcp(const char *spec)
{
	char host[64] = "127.0.0.1";
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const char *colon = strrchr(spec, ':');
	unsigned long port = 3240;
	int fd, one = 1;

	if (colon) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
		port = strtoul(colon + 1, NULL, 10);
	}
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || port == 0 || port > 65535)
		return -EINVAL;
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static void on_signal(int sig)
{
	(void)sig;
	if (g_emu_for_signals)
		g_emu_for_signals->stop = 1;
}

static int ctl_client_main(const char *path, int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char line[512] = "", buf[65536];
	size_t n = 0;
	int fd;

	for (int i = 0; i < argc; i++) {
		size_t l = strlen(line);

		snprintf(line + l, sizeof(line) - l, "%s%s", i ? " " : "", argv[i]);
	}
	strncat(line, "\n", sizeof(line) - strlen(line) - 1);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "dfu-mgr-emu ctl: cannot connect to %s: %s\n", path,
			strerror(errno));
		return 69;
	}
	if (write_all(fd, line, strlen(line)) < 0)
		return 74;
	while (n < sizeof(buf) - 1) {
		ssize_t r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);

		if (r <= 0)
			break;
		n += (size_t)r;
		if (buf[n - 1] == '\n')
			break;
	}
	buf[n] = '\0';
	close(fd);
	fputs(buf, stdout);
	return strstr(buf, "\"error\"") ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: dfu-mgr-emu [OPTIONS]\n"
	    "       dfu-mgr-emu ctl [-c SOCKET] COMMAND [ARGS]\n"
	    "Serve emulated nRF5340 boards (the dfu-mgr shim: DFU runtime/DFU mode, alts\n"
	    "image-0/image-1, internal + QSPI flash, MCUboot) over USB/IP.\n\n"
	    "  -n, --boards N        boards to start with (default 1)\n"
	    "  -d, --state-dir DIR   flash files, DIR/SERIAL/{internal,qspi}.bin (default "
	    "emu-state)\n"
	    "  -p, --prefix STR      serial numbers STR-0001, ... (default NRF5340-EMU)\n"
	    "  -l, --listen A:P      USB/IP TCP server (default 127.0.0.1:3240; \"none\" = off)\n"
	    "  -a, --attach          attach each board through vhci-hcd's sysfs attach file\n"
	    "  -t, --timing MODE     real (datasheet erase/program times) or none (default)\n"
	    "  -c, --control PATH    control socket (default DIR/control.sock)\n"
	    "  -k, --mcuboot-key PEM MCUboot checks image signatures with this key\n"
	    "  -r, --replug-ms N     delay before a re-enumerating board comes back (200)\n"
	    "  -q, --quiet           no log lines on stderr\n"
	    "  -h, --help\n\n"
	    "Control commands: list | add [SERIAL] | state B | reset B | unplug B | plug B |\n"
	    "  plain B on|off (no vendor requests: a plain DFU 1.1 device) |\n"
	    "  fault B disconnect|power-cut|program-error|corrupt-read|bad-erase|wrong-digest ALT "
	    "N\n"
	    "  | fault B stall N | fault B clear   (B = serial or index; replies are JSON "
	    "lines)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"boards", required_argument, NULL, 'n'},
	    {"state-dir", required_argument, NULL, 'd'},
	    {"prefix", required_argument, NULL, 'p'},
	    {"listen", required_argument, NULL, 'l'},
	    {"attach", no_argument, NULL, 'a'},
	    {"timing", required_argument, NULL, 't'},
	    {"control", required_argument, NULL, 'c'},
	    {"mcuboot-key", required_argument, NULL, 'k'},
	    {"replug-ms", required_argument, NULL, 'r'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	static struct emu emu;
	struct emu *e = &emu;
	const char *listen_spec = "127.0.0.1:3240", *ctl = NULL;
	unsigned long n_boards = 1;
	int c;

	if (argc > 1 && !strcmp(argv[1], "ctl")) {
		const char *path = getenv("DFUMGR_EMU_CONTROL");
		int i = 2;

		if (argc > 3 && !strcmp(argv[2], "-c")) {
			path = argv[3];
			i = 4;
		}
		if (!path || i >= argc) {
			fprintf(stderr, "usage: dfu-mgr-emu ctl -c SOCKET COMMAND [ARGS]\n");
			return 64;
		}
		return ctl_client_main(path, argc - i, argv + i);
	}
	e->state_dir = "emu-state";
	e->prefix = "NRF5340-EMU";
	e->replug_ms = 200;
	while ((c = getopt_long(argc, argv, "n:d:p:l:at:c:k:r:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n_boards = strtoul(optarg, NULL, 10);
			if (n_boards > MAX_BOARDS) {
				fprintf(stderr, "dfu-mgr-emu: at most %d boards\n", MAX_BOARDS);
				return 64;
			}
			break;
		case 'd':
			e->state_dir = optarg;
			break;
		case 'p':
			e->prefix = optarg;
			break;
		case 'l':
			listen_spec = optarg;
			break;
		case 'a':
			e->direct = true;
			break;
		case 't':
			if (strcmp(optarg, "real") && strcmp(optarg, "none")) {
				fprintf(stderr, "dfu-mgr-emu: --timing real|none\n");
				return 64;
			}
			e->real_timing = !strcmp(optarg, "real");
			break;
		case 'c':
			ctl = optarg;
			break;
		case 'k':
			if (dfumgr_key_load(NULL, optarg, &e->mcuboot_key) < 0) {
				fprintf(stderr, "dfu-mgr-emu: cannot load key %s\n", optarg);
				return 65;
			}
			break;
		case 'r':
			e->replug_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'q':
			e->quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (mkdir(e->state_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "dfu-mgr-emu: %s: %s\n", e->state_dir, strerror(errno));
		return 73;
	}
	snprintf(e->ctl_path, sizeof(e->ctl_path), "%s", ctl ? ctl : "");
	if (!ctl)
		snprintf(e->ctl_path, sizeof(e->ctl_path), "%s/control.sock", e->state_dir);
	e->listen_fd = -1;
	if (strcmp(listen_spec, "none")) {
		e->listen_fd = listen_tcp(listen_spec);
		if (e->listen_fd < 0) {
			fprintf(stderr, "dfu-mgr-emu: cannot listen on %s: %s\n", listen_spec,
				strerror(-e->listen_fd));
			return 69;
		}
	}
	e->ctl_fd = listen_unix(e->ctl_path);
	if (e->ctl_fd < 0) {
		fprintf(stderr, "dfu-mgr-emu: cannot listen on %s: %s\n", e->ctl_path,
			strerror(-e->ctl_fd));
		return 69;
	}
	for (int k = 0; k < MAX_CLIENTS; k++)
		e->hs[k].fd = e->ctl[k].fd = -1;
	if (getenv("DFUMGR_EMU_TRACE"))
		g_trace = fopen(getenv("DFUMGR_EMU_TRACE"), "ae");
	if (g_trace)
		setvbuf(g_trace, NULL, _IOLBF, 0);
	g_emu_for_signals = e;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	for (unsigned long k = 0; k < n_boards; k++) {
		int rc = add_board(e, NULL);

		if (rc < 0) {
			fprintf(stderr, "dfu-mgr-emu: cannot create board %lu: %s\n", k + 1,
				strerror(-rc));
			return 73;
		}
	}
	logmsg(e, "%u board(s), control %s, USB/IP %s%s, timing %s", e->n_boards, e->ctl_path,
	       e->listen_fd >= 0 ? listen_spec : "off", e->direct ? ", direct attach" : "",
	       e->real_timing ? "real" : "none");
	printf("ready\n");
	fflush(stdout);

	while (!e->stop) {
		struct pollfd pfd[2 + 2 * MAX_CLIENTS + MAX_BOARDS];
		int who[2 + 2 * MAX_CLIENTS + MAX_BOARDS];
		int np = 0, timeout = 1000;
		uint64_t t = now_us();

		for (unsigned i = 0; i < e->n_boards; i++) {
			struct link *l = &e->links[i];

			if (l->plug_at_us) {
				if (t >= l->plug_at_us) {
					if (l->boot_first)
						boot_board(e, i);
					else
						plug(e, i);
				} else {
					uint64_t ms = (l->plug_at_us - t + 999) / 1000;

					if ((int)ms < timeout)
						timeout = (int)ms;
				}
			}
			if (e->boards[i]->dev.digest.status == DFUMGR_DIGEST_BUSY ||
			    e->boards[i]->dev.commit_state == DFUMGR_COMMIT_CHECKING) {
				emu_board_poll(e->boards[i], t);
				timeout = 0;
			}
		}
		if (e->listen_fd >= 0) {
			pfd[np] = (struct pollfd){.fd = e->listen_fd, .events = POLLIN};
			who[np++] = -1;
		}
		pfd[np] = (struct pollfd){.fd = e->ctl_fd, .events = POLLIN};
		who[np++] = -2;
		for (int k = 0; k < MAX_CLIENTS; k++) {
			if (e->hs[k].fd >= 0) {
				pfd[np] = (struct pollfd){.fd = e->hs[k].fd, .events = POLLIN};
				who[np++] = 1000 + k;
			}
			if (e->ctl[k].fd >= 0) {
				pfd[np] = (struct pollfd){.fd = e->ctl[k].fd, .events = POLLIN};
				who[np++] = 2000 + k;
			}
		}
		for (unsigned i = 0; i < e->n_boards; i++) {
			if (e->links[i].fd >= 0) {
				pfd[np] = (struct pollfd){.fd = e->links[i].fd, .events = POLLIN};
				who[np++] = 3000 + (int)i;
			}
		}
		if (poll(pfd, (nfds_t)np, timeout) < 0 && errno != EINTR)
			break;
		for (int k = 0; k < np; k++) {
			if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (who[k] == -1) {
				int fd = accept4(e->listen_fd, NULL, NULL, SOCK_CLOEXEC);

				for (int s = 0; fd >= 0 && s < MAX_CLIENTS; s++) {
					if (e->hs[s].fd < 0) {
						e->hs[s].fd = fd;
						e->hs[s].len = 0;
						fd = -1;
					}
				}
				if (fd >= 0)
					close(fd);
			} else if (who[k] == -2) {
				int fd = accept4(e->ctl_fd, NULL, NULL, SOCK_CLOEXEC);

				for (int s = 0; fd >= 0 && s < MAX_CLIENTS; s++) {
					if (e->ctl[s].fd < 0) {
						e->ctl[s].fd = fd;
						e->ctl[s].len = 0;
						fd = -1;
					}
				}
				if (fd >= 0)
					close(fd);
			} else if (who[k] >= 3000) {
				if (e->links[who[k] - 3000].fd == pfd[k].fd)
					link_readable(e, (unsigned)(who[k] - 3000));
			} else if (who[k] >= 2000) {
				ctl_readable(e, &e->ctl[who[k] - 2000]);
			} else {
				hs_readable(e, &e->hs[who[k] - 1000]);
			}
		}
	}
	logmsg(e, "stopping");
	for (unsigned i = 0; i < e->n_boards; i++) {
		unplug(e, i);
		emu_board_close(e->boards[i]);
		free(e->boards[i]);
		free(e->links[i].rx);
	}
	unlink(e->ctl_path);
	dfumgr_key_free(e->mcuboot_key);
	return 0;
}
