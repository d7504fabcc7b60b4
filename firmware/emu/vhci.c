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

/* How long a re-attach waits for the board's old port before it takes any free one. */
#define SAME_PORT_WAIT_US (10u * 1000 * 1000)

int emu_vhci_attach(struct emu *e, unsigned i)
{
	struct emu_board *b = e->boards[i];
	struct link *l = &e->links[i];
	int sv[2], port = -1, fd, same;
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
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/attach", VHCI_DIR);
	for (int tries = 0; tries < 16; tries++) {
		ssize_t w;
		int n;

		port = tries == 0 && same >= 0 ? same : vhci_free_port(port + 1);
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
