/* SPDX-License-Identifier: MIT */
/*
 * Sends one raw control transfer to the USB device with a given serial number, the way a
 * script or a stock tool would: no dfu-mgr library in between. For the VM tests that try to
 * break the board's pair rule with raw requests.
 *
 *   usbreq SERIAL out bmRequestType bRequest wValue wIndex [HEXDATA]
 *   usbreq SERIAL in  bmRequestType bRequest wValue wIndex LENGTH
 *
 * Numbers take C syntax (0x41, 67). IN data is printed as hex on stdout. Exit status: 0 done,
 * 3 the device STALLed the request, 2 no such device, 1 any other failure, 64 usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libusb.h>

#define DATA_MAX 4096

static int number(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoul(s, &end, 0);
	return !*s || *end || errno || *ret > max ? -1 : 0;
}

static int hex(const char *s, unsigned char *out, size_t *ret_len)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > DATA_MAX)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	*ret_len = n / 2;
	return 0;
}

/* The device whose iSerialNumber is serial, opened; NULL if none. */
static libusb_device_handle *find(libusb_context *ctx, const char *serial)
{
	libusb_device **list;
	libusb_device_handle *found = NULL;
	ssize_t n = libusb_get_device_list(ctx, &list);

	for (ssize_t i = 0; i < n && !found; i++) {
		struct libusb_device_descriptor d;
		libusb_device_handle *h;
		unsigned char s[256];

		if (libusb_get_device_descriptor(list[i], &d) != 0 || !d.iSerialNumber ||
		    libusb_open(list[i], &h) != 0)
			continue;
		if (libusb_get_string_descriptor_ascii(h, d.iSerialNumber, s, sizeof(s)) > 0 &&
		    !strcmp((char *)s, serial))
			found = h;
		else
			libusb_close(h);
	}
	if (n >= 0)
		libusb_free_device_list(list, 1);
	return found;
}

int main(int argc, char **argv)
{
	unsigned long type, req, value, index, len = 0;
	unsigned char data[DATA_MAX];
	libusb_context *ctx = NULL;
	libusb_device_handle *h;
	bool in;
	int rc;

	if (argc < 7 || argc > 8 || (strcmp(argv[2], "in") && strcmp(argv[2], "out")) ||
	    number(argv[3], 0xff, &type) || number(argv[4], 0xff, &req) ||
	    number(argv[5], 0xffff, &value) || number(argv[6], 0xffff, &index)) {
		fprintf(stderr, "usage: usbreq SERIAL in|out bmRequestType bRequest wValue wIndex "
				"[HEXDATA|LENGTH]\n");
		return 64;
	}
	in = !strcmp(argv[2], "in");
	if (argc == 8) {
		size_t n = 0;

		if (in ? number(argv[7], DATA_MAX, &len) : hex(argv[7], data, &n)) {
			fprintf(stderr, "usbreq: bad %s '%s'\n", in ? "length" : "hex data",
				argv[7]);
			return 64;
		}
		if (!in)
			len = n;
	}
	if (libusb_init(&ctx) != 0)
		return 1;
	h = find(ctx, argv[1]);
	if (!h) {
		fprintf(stderr, "usbreq: no device with serial %s\n", argv[1]);
		libusb_exit(ctx);
		return 2;
	}
	/* a request to an interface needs it claimed, as any tool does */
	if ((type & 0x1f) == 1) {
		libusb_set_auto_detach_kernel_driver(h, 1);
		libusb_claim_interface(h, (int)(index & 0xff));
	}
	rc = libusb_control_transfer(h, (uint8_t)(type | (in ? 0x80 : 0)), (uint8_t)req,
				     (uint16_t)value, (uint16_t)index, data, (uint16_t)len, 5000);
	if (rc >= 0 && in) {
		for (int i = 0; i < rc; i++)
			printf("%02x", data[i]);
		printf("\n");
	}
	if (rc < 0)
		fprintf(stderr, "usbreq: %s\n", libusb_error_name(rc));
	libusb_close(h);
	libusb_exit(ctx);
	return rc >= 0 ? 0 : rc == LIBUSB_ERROR_PIPE ? 3 : 1;
}
