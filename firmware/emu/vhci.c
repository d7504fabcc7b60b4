/* SPDX-License-Identifier: MIT */
/*
 * Direct attach (--attach): a board's URB stream is one end of a socketpair whose other end is
 * handed to vhci-hcd through its sysfs attach file, as usbip attach does with a TCP socket. No
 * usbip tool, no TCP; a re-enumeration is a new attach.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emu.h"

#define VHCI_DIR "/sys/devices/platform/vhci_hcd.0"

/*
 * vhci-hcd's ports, from its status files: "status" lists controller 0's ports, "status.N"
 * controller N's (each controller is a USB bus of its own, with a USB 2 and a USB 3 root hub).
 * Lines are "hub port sta ...", the port number global, the one the attach file takes.
 */
#define VHCI_MAX_HCS 32

static FILE *vhci_status_open(int hc)
{
	char path[128];

	if (hc == 0)
		snprintf(path, sizeof(path), "%s/status", VHCI_DIR);
	else
		snprintf(path, sizeof(path), "%s/status.%d", VHCI_DIR, hc);
	return fopen(path, "re");
}

/* A status file's next full-speed (USB 2 hub) port: 1 (and whether it is free), 0 at the end. */
static int vhci_next_hs_port(FILE *f, int *port, bool *is_free)
{
	char line[256];

	while (fgets(line, sizeof(line), f)) {
		char hub[8];
		int sta;

		if (sscanf(line, "%7s %d %d", hub, port, &sta) == 3 && !strcmp(hub, "hs")) {
			*is_free = sta == 4; /* VDEV_ST_NULL */
			return 1;
		}
	}
	return 0;
}

/*
 * The first full-speed port of controller hc modulo the number of controllers: where board i's
 * first attach starts looking, so that the boards spread over the buses as on a station with
 * several host controllers (Linux enumerates one device at a time per bus). -1: no status file.
 */
static int vhci_first_port(unsigned hc)
{
	int n = 0, port = -1;
	bool is_free;
	FILE *f;

	while (n < VHCI_MAX_HCS && (f = vhci_status_open(n)) != NULL) {
		fclose(f);
		n++;
	}
	if (!n)
		return -1;
	f = vhci_status_open((int)(hc % (unsigned)n));
	if (!f)
		return -1;
	if (vhci_next_hs_port(f, &port, &is_free) != 1)
		port = -1;
	fclose(f);
	return port;
}

/*
 * A free full-speed (USB 2 hub) port of vhci-hcd: the lowest numbered from or above, else the
 * lowest of all (the search wraps around); -1 when none is free.
 */
static int vhci_free_port(int from)
{
	int lowest = -1;

	for (int c = 0; c < VHCI_MAX_HCS; c++) {
		FILE *f = vhci_status_open(c);
		int port;
		bool is_free;

		if (!f)
			break;
		while (vhci_next_hs_port(f, &port, &is_free) == 1) {
			if (!is_free)
				continue;
			if (port >= from) {
				fclose(f);
				return port;
			}
			if (lowest < 0)
				lowest = port;
		}
		fclose(f);
	}
	return lowest;
}

/* How long a re-attach waits for the board's old port before it takes any free one. */
#define SAME_PORT_WAIT_US (10u * 1000 * 1000)

int emu_vhci_attach(struct emu *e, unsigned i)
{
	struct emu_board *b = e->boards[i];
	struct link *l = &e->links[i];
	int sv[2], port = -1, fd, same, start;
	char path[128], msg[64];

	/*
	 * A real board comes back on the same physical port, and hosts follow boards by port
	 * path: wait (without blocking the other boards) until the kernel has released the port
	 * this board had, then take it again.
	 */
	same = -1;
	if (l->vhci_port >= 0) {
		if (vhci_free_port(l->vhci_port) == l->vhci_port) {
			same = l->vhci_port;
		} else {
			if (!l->port_wait_us)
				l->port_wait_us = emu_now_us();
			if (emu_now_us() - l->port_wait_us < SAME_PORT_WAIT_US)
				return -EAGAIN;
			emu_log(e, "%s: vhci port %d still busy after %u s: taking another",
				b->serial, l->vhci_port, SAME_PORT_WAIT_US / 1000000);
		}
	}
	l->port_wait_us = 0;
	/* a first attach: board i starts on controller i mod the number of controllers */
	start = same >= 0 ? same : l->vhci_port >= 0 ? l->vhci_port : vhci_first_port(i);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/attach", VHCI_DIR);
	for (int tries = 0; tries < 16; tries++) {
		ssize_t w;
		int n;

		port =
		    tries == 0 && same >= 0 ? same : vhci_free_port(tries == 0 ? start : port + 1);
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
			emu_log(e, "%s: attached on vhci port %d (%s mode)", b->serial, port,
				b->mode == EMU_MODE_DFU ? "DFU" : "runtime");
			return 0;
		}
	}
	close(sv[0]);
	close(sv[1]);
	emu_log(e, "%s: cannot attach through %s: %s", b->serial, path,
		port < 0 ? "no free port" : strerror(errno));
	return -EBUSY;
}
