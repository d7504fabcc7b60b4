/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "usbip.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int usbip_decode_cmd(const uint8_t *buf, size_t n, struct usbip_cmd *c)
{
	size_t total = USBIP_HDR_SIZE;

	if (n < USBIP_HDR_SIZE)
		return 0;
	memset(c, 0, sizeof(*c));
	c->command = be32(buf);
	c->seqnum = be32(buf + 4);
	c->devid = be32(buf + 8);
	c->direction = be32(buf + 12);
	c->ep = be32(buf + 16);
	if (c->direction != USBIP_DIR_OUT && c->direction != USBIP_DIR_IN)
		return -1;
	if (c->ep > 15)
		return -1;
	switch (c->command) {
	case USBIP_CMD_SUBMIT:
		c->flags = be32(buf + 20);
		c->length = (int32_t)be32(buf + 24);
		c->start_frame = (int32_t)be32(buf + 28);
		c->number_of_packets = (int32_t)be32(buf + 32);
		c->interval = (int32_t)be32(buf + 36);
		memcpy(c->setup, buf + 40, 8);
		if (c->length < 0 || c->length > USBIP_MAX_TRANSFER)
			return -1;
		/* non-ISO URBs carry 0 or 0xffffffff here; ISO needs descriptors we never use */
		if (c->number_of_packets != 0 && c->number_of_packets != -1)
			return -1;
		if (c->direction == USBIP_DIR_OUT)
			total += (size_t)c->length;
		if (n < total)
			return 0;
		c->out_data = buf + USBIP_HDR_SIZE;
		return (int)total;
	case USBIP_CMD_UNLINK:
		c->unlink_seqnum = be32(buf + 20);
		return (int)total;
	default:
		return -1;
	}
}

static void put_basic(uint8_t *out, uint32_t command, const struct usbip_cmd *c)
{
	memset(out, 0, USBIP_HDR_SIZE);
	put_be32(out, command);
	put_be32(out + 4, c->seqnum);
	/* devid, direction and ep are 0 in replies */
}

size_t usbip_encode_ret_submit(uint8_t out[USBIP_HDR_SIZE], const struct usbip_cmd *c,
			       int32_t status, int32_t actual_length)
{
	put_basic(out, USBIP_RET_SUBMIT, c);
	put_be32(out + 20, (uint32_t)status);
	put_be32(out + 24, (uint32_t)actual_length);
	put_be32(out + 28, 0);          /* start_frame */
	put_be32(out + 32, 0xffffffff); /* number_of_packets: not ISO */
	put_be32(out + 36, 0);          /* error_count */
	return USBIP_HDR_SIZE;
}

size_t usbip_encode_ret_unlink(uint8_t out[USBIP_HDR_SIZE], const struct usbip_cmd *c,
			       int32_t status)
{
	put_basic(out, USBIP_RET_UNLINK, c);
	put_be32(out + 20, (uint32_t)status);
	return USBIP_HDR_SIZE;
}

int usbip_decode_op(const uint8_t buf[USBIP_OP_HDR_SIZE], uint16_t *ret_code)
{
	uint16_t version = (uint16_t)(buf[0] << 8 | buf[1]);

	if (version != USBIP_VERSION)
		return -1;
	*ret_code = (uint16_t)(buf[2] << 8 | buf[3]);
	return 0;
}

void usbip_encode_op(uint8_t out[USBIP_OP_HDR_SIZE], uint16_t code, uint32_t status)
{
	put_be16(out, USBIP_VERSION);
	put_be16(out + 2, code);
	put_be32(out + 4, status);
}

size_t usbip_encode_devinfo(uint8_t *out, const struct usbip_devinfo *d, int with_interfaces)
{
	uint8_t *p = out;

	memset(p, 0, USBIP_DEVINFO_SIZE);
	memcpy(p, d->path, strnlen(d->path, USBIP_PATH_SIZE - 1));
	p += USBIP_PATH_SIZE;
	memcpy(p, d->busid, strnlen(d->busid, USBIP_BUSID_SIZE - 1));
	p += USBIP_BUSID_SIZE;
	put_be32(p, d->busnum);
	put_be32(p + 4, d->devnum);
	put_be32(p + 8, d->speed);
	put_be16(p + 12, d->vid);
	put_be16(p + 14, d->pid);
	put_be16(p + 16, d->bcd_device);
	p[18] = d->dev_class;
	p[19] = d->dev_subclass;
	p[20] = d->dev_protocol;
	p[21] = d->config_value;
	p[22] = d->n_configs;
	p[23] = d->n_interfaces;
	p += 24;
	if (with_interfaces) {
		for (unsigned i = 0; i < d->n_interfaces && i < 8; i++) {
			p[0] = d->intf[i][0];
			p[1] = d->intf[i][1];
			p[2] = d->intf[i][2];
			p[3] = 0;
			p += 4;
		}
	}
	return (size_t)(p - out);
}
