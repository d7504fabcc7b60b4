/* SPDX-License-Identifier: MIT */
/*
 * Prints one line per libusb hotplug event for VID:PID 1915:5300 ("arrived 1-1" / "left"),
 * for the VM tests: usbip attach/detach must look like a plug/unplug to libusb.
 * Usage: hotplug_watch SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <libusb.h>

static int on_event(libusb_context *ctx, libusb_device *dev, libusb_hotplug_event event, void *user)
{
	(void)ctx;
	(void)user;
	if (event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED)
		printf("arrived bus %u address %u\n", libusb_get_bus_number(dev),
		       libusb_get_device_address(dev));
	else
		printf("left\n");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	libusb_context *ctx = NULL;
	libusb_hotplug_callback_handle h;
	time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 10);

	if (libusb_init(&ctx) != 0 || !libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG)) {
		fprintf(stderr, "hotplug_watch: no libusb hotplug\n");
		return 2;
	}
	if (libusb_hotplug_register_callback(
		ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0,
		0x1915, 0x5300, LIBUSB_HOTPLUG_MATCH_ANY, on_event, NULL, &h) != 0)
		return 2;
	printf("watching\n");
	fflush(stdout);
	while (time(NULL) < end) {
		struct timeval tv = {0, 200000};

		libusb_handle_events_timeout_completed(ctx, &tv, NULL);
	}
	libusb_exit(ctx);
	return 0;
}
