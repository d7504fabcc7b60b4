/* SPDX-License-Identifier: MIT */
/*
 * URB dispatch: the USB/IP command stream of one board (from vhci or an imported TCP
 * connection), decoded and handed to the board's control endpoint; replies go back on the same
 * stream. A request that cuts the cable or the power is acted on before it is answered.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>

#include "emu.h"

#define EPIPE_STATUS (-32)

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
		return emu_write_all(e->links[i].fd, hdr, sizeof(hdr));
	}
	if (c->ep != 0) {
		status = EPIPE_STATUS;
	} else {
		uint16_t wlength = (uint16_t)(c->setup[6] | c->setup[7] << 8);

		if (c->direction == USBIP_DIR_OUT)
			memcpy(data, c->out_data, (size_t)c->length);
		else
			memset(data, 0, wlength);
		rc = emu_board_control(b, c->setup, data, emu_now_us());
		if (b->action == EMU_ACT_DISCONNECT ||
		    (b->action == EMU_ACT_POWER_CUT && b->mode == EMU_MODE_DFU &&
		     c->setup[1] == DFU_DNLOAD)) {
			emu_registry_act(e, i); /* gone before answering */
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
	if (e->trace)
		fprintf(e->trace, "%" PRIu64 " %02x %02x %u %d\n", emu_now_us(), c->setup[0],
			c->setup[1], (unsigned)c->length, status);
	usbip_encode_ret_submit(hdr, c, status, actual);
	if (emu_write_all(e->links[i].fd, hdr, sizeof(hdr)) < 0 ||
	    (c->direction == USBIP_DIR_IN && actual &&
	     emu_write_all(e->links[i].fd, data, (size_t)actual) < 0))
		return -1;
	if (b->action != EMU_ACT_NONE)
		emu_registry_act(e, i);
	return 0;
}

void emu_urb_readable(struct emu *e, unsigned i)
{
	struct link *l = &e->links[i];
	ssize_t n = recv(l->fd, l->rx + l->rx_len, RX_CAP - l->rx_len, 0);

	if (n <= 0) {
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		/* the host let go (usbip detach, VM gone): the board is unplugged */
		emu_log(e, "%s: host closed the connection", e->boards[i]->serial);
		emu_registry_unplug(e, i);
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
			emu_log(e, "%s: malformed USB/IP command, dropping the link",
				e->boards[i]->serial);
			emu_registry_unplug(e, i);
			return;
		}
		if (handle_urb(e, i, &c) < 0) {
			emu_registry_unplug(e, i);
			return;
		}
		if (l->fd < 0)
			return; /* the request unplugged the board */
		memmove(l->rx, l->rx + used, l->rx_len - (size_t)used);
		l->rx_len -= (size_t)used;
	}
}
