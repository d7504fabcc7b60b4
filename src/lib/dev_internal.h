/* SPDX-License-Identifier: MIT */
/* The open device, shared by device.c, dfu.c, shim.c and update.c. */
#ifndef DFUMGR_DEV_INTERNAL_H
#define DFUMGR_DEV_INTERNAL_H

#include "dfumgr/device.h"

struct dfumgr_dev {
	struct dfumgr_ctx *ctx;
	struct dfumgr_backend *be;
	const struct dfumgr_transport_ops *ops;
	void *t;
	struct dfumgr_device_info info;
	uint8_t alt;
};

#endif
