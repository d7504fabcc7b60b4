/* SPDX-License-Identifier: MIT */
/*
 * The USB/IP wire protocol (Linux Documentation/usb/usbip_protocol.rst): the device-list and
 * import handshake, and URB traffic (CMD_SUBMIT/RET_SUBMIT, CMD_UNLINK/RET_UNLINK). All fields
 * are big-endian. Pure encoding/decoding, no I/O, so that it can be fuzzed.
 */
#ifndef EMU_USBIP_H
#define EMU_USBIP_H

#include <stddef.h>
#include <stdint.h>

#define USBIP_VERSION        0x0111
#define USBIP_OP_REQ_DEVLIST 0x8005
#define USBIP_OP_REP_DEVLIST 0x0005
#define USBIP_OP_REQ_IMPORT  0x8003
#define USBIP_OP_REP_IMPORT  0x0003
#define USBIP_OP_HDR_SIZE    8
#define USBIP_BUSID_SIZE     32
#define USBIP_PATH_SIZE      256
#define USBIP_DEVINFO_SIZE   312 /* path, busid, busnum..bNumInterfaces */

#define USBIP_CMD_SUBMIT 0x1
#define USBIP_CMD_UNLINK 0x2
#define USBIP_RET_SUBMIT 0x3
#define USBIP_RET_UNLINK 0x4
#define USBIP_HDR_SIZE   48
#define USBIP_DIR_OUT    0
#define USBIP_DIR_IN     1
/* Control transfers carry at most this much data (our wTransferSize is 4096). */
#define USBIP_MAX_TRANSFER 65536
#define USBIP_SPEED_FULL   2

struct usbip_cmd {
	uint32_t command;
	uint32_t seqnum;
	uint32_t devid;
	uint32_t direction;
	uint32_t ep;
	/* CMD_SUBMIT */
	uint32_t flags;
	int32_t length; /* transfer_buffer_length */
	int32_t start_frame;
	int32_t number_of_packets;
	int32_t interval;
	uint8_t setup[8];
	const uint8_t *out_data; /* direction OUT: length bytes after the header */
	/* CMD_UNLINK */
	uint32_t unlink_seqnum;
};

/*
 * Decodes one URB command at the start of buf[0..n). Returns its total size when complete,
 * 0 when more bytes are needed, -1 when it is malformed (unknown command, bad direction, a
 * length out of range, isochronous packets: a control-only device has none).
 */
int usbip_decode_cmd(const uint8_t *buf, size_t n, struct usbip_cmd *ret);

/* RET_SUBMIT for cmd: status 0 or -errno (-32 = EPIPE for a STALL); IN data follows. */
size_t usbip_encode_ret_submit(uint8_t out[USBIP_HDR_SIZE], const struct usbip_cmd *cmd,
			       int32_t status, int32_t actual_length);
/* RET_UNLINK: status -104 (ECONNRESET) if the URB was unlinked, 0 if it had completed. */
size_t usbip_encode_ret_unlink(uint8_t out[USBIP_HDR_SIZE], const struct usbip_cmd *cmd,
			       int32_t status);

/* Decodes an operation header; returns 0 or -1 (wrong version). */
int usbip_decode_op(const uint8_t buf[USBIP_OP_HDR_SIZE], uint16_t *ret_code);
void usbip_encode_op(uint8_t out[USBIP_OP_HDR_SIZE], uint16_t code, uint32_t status);

struct usbip_devinfo {
	char path[USBIP_PATH_SIZE];
	char busid[USBIP_BUSID_SIZE];
	uint32_t busnum, devnum, speed;
	uint16_t vid, pid, bcd_device;
	uint8_t dev_class, dev_subclass, dev_protocol;
	uint8_t config_value, n_configs, n_interfaces;
	/* per interface: class, subclass, protocol (device list only) */
	uint8_t intf[8][3];
};

/* The 312-byte device block (+ 4 bytes per interface when with_interfaces). */
size_t usbip_encode_devinfo(uint8_t *out, const struct usbip_devinfo *d, int with_interfaces);

#endif
