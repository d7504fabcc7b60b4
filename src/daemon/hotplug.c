/* SPDX-License-Identifier: MIT */
/*
 * Hotplug: udev's events for USB devices, through sd-device's monitor on the loop (a netlink
 * socket: AF_NETLINK in the unit's RestrictAddressFamilies). An event only says "something
 * changed": the scan then asks the library what is there. No polling: with nothing plugged or
 * unplugged the daemon sleeps. The events come after udev ran its rules, so the device node
 * already has the permissions 70-dfu-mgr.rules gives it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-device.h>

#include "daemon.h"

/* A board re-enumerating sends a burst of events: one scan after it settles. */
#define SCAN_DELAY_US (200 * 1000)

struct hotplug {
	sd_device_monitor *monitor;
};

static int on_device(sd_device_monitor *m, sd_device *dev, void *user)
{
	struct daemon *d = user;
	const char *action = NULL, *name = NULL;

	(void)m;
	sd_device_get_property_value(dev, "ACTION", &action);
	sd_device_get_sysname(dev, &name);
	daemon_log(d, 7, "USB device %s: %s", name ? name : "?", action ? action : "?");
	/* libusb, behind the library's device monitor, sees the same adds and removes */
	if (action && (!strcmp(action, "add") || !strcmp(action, "remove")))
		d->hotplug_events++;
	boards_request_scan(d, SCAN_DELAY_US);
	return 0;
}

int hotplug_start(struct daemon *d)
{
	struct hotplug *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return -ENOMEM;
	rc = sd_device_monitor_new(&h->monitor);
	if (rc >= 0)
		rc = sd_device_monitor_filter_add_match_subsystem_devtype(h->monitor, "usb",
									  "usb_device");
	if (rc >= 0)
		rc = sd_device_monitor_attach_event(h->monitor, d->loop);
	if (rc >= 0)
		rc = sd_device_monitor_set_description(h->monitor, "usb-hotplug");
	if (rc >= 0)
		rc = sd_device_monitor_start(h->monitor, on_device, d);
	if (rc < 0) {
		daemon_log(d, 3, "Failed to watch USB hotplug events (udev): %s", strerror(-rc));
		sd_device_monitor_unref(h->monitor);
		free(h);
		return rc;
	}
	d->hotplug = h;
	return 0;
}

void hotplug_stop(struct daemon *d)
{
	if (!d->hotplug)
		return;
	sd_device_monitor_stop(d->hotplug->monitor);
	sd_device_monitor_unref(d->hotplug->monitor);
	free(d->hotplug);
	d->hotplug = NULL;
}
