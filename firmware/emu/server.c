/* SPDX-License-Identifier: MIT */
/*
 * The USB/IP TCP server (usbip(8)'s usbipd side): OP_REQ_DEVLIST lists the exported boards,
 * OP_REQ_IMPORT hands the connection over to a board as its URB stream. Busids are "1-N" for
 * board index N-1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emu.h"

int emu_server_listen(const char *spec)
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

void emu_server_accept(struct emu *e)
{
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
}

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

static void reply_devlist(struct emu *e, struct handshake *h)
{
	uint8_t out[USBIP_OP_HDR_SIZE + 4 + MAX_BOARDS * (USBIP_DEVINFO_SIZE + 4)];
	unsigned count = 0;
	size_t o;

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
	emu_write_all(h->fd, out, o);
	hs_close(h);
}

static void reply_import(struct emu *e, struct handshake *h)
{
	uint8_t out[USBIP_OP_HDR_SIZE + USBIP_DEVINFO_SIZE];
	char busid[USBIP_BUSID_SIZE];
	struct usbip_devinfo d;
	size_t o;
	int i;

	memcpy(busid, h->buf + USBIP_OP_HDR_SIZE, sizeof(busid));
	busid[sizeof(busid) - 1] = '\0';
	i = find_busid(e, busid);
	if (i < 0 || !e->links[i].exported || e->links[i].fd >= 0) {
		usbip_encode_op(out, USBIP_OP_REP_IMPORT, 1);
		emu_write_all(h->fd, out, USBIP_OP_HDR_SIZE);
		hs_close(h);
		return;
	}
	devinfo_of(e->boards[i], &d);
	usbip_encode_op(out, USBIP_OP_REP_IMPORT, 0);
	o = USBIP_OP_HDR_SIZE + usbip_encode_devinfo(out + USBIP_OP_HDR_SIZE, &d, 0);
	if (emu_write_all(h->fd, out, o) < 0) {
		hs_close(h);
		return;
	}
	/* from now on this connection carries the board's URBs */
	e->links[i].fd = h->fd;
	e->links[i].exported = false;
	e->links[i].rx_len = 0;
	h->fd = -1;
	h->len = 0;
	emu_log(e, "%s: imported as %s", e->boards[i]->serial, busid);
}

void emu_server_readable(struct emu *e, struct handshake *h)
{
	ssize_t n = recv(h->fd, h->buf + h->len, sizeof(h->buf) - h->len, 0);
	uint16_t code;

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
		reply_devlist(e, h);
	} else if (code == USBIP_OP_REQ_IMPORT) {
		if (h->len < USBIP_OP_HDR_SIZE + USBIP_BUSID_SIZE)
			return; /* the busid is still on its way */
		reply_import(e, h);
	} else {
		hs_close(h);
	}
}
