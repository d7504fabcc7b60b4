/* SPDX-License-Identifier: MIT */
/* libFuzzer harness: the USB/IP command decoder of dfu-mgr-emu, over a byte stream. */
#include <stdlib.h>

#include "usbip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	uint16_t code;

	if (size >= USBIP_OP_HDR_SIZE)
		(void)usbip_decode_op(data, &code);
	/* a stream of commands, as the emulator consumes it */
	while (off < size) {
		struct usbip_cmd c;
		int used = usbip_decode_cmd(data + off, size - off, &c);

		if (used <= 0)
			break;
		if ((size_t)used > size - off || used < USBIP_HDR_SIZE)
			abort();
		if (c.command == USBIP_CMD_SUBMIT && c.direction == USBIP_DIR_OUT &&
		    (c.out_data != data + off + USBIP_HDR_SIZE ||
		     (size_t)c.length + USBIP_HDR_SIZE != (size_t)used))
			abort();
		off += (size_t)used;
	}
	return 0;
}
