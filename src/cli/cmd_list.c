/* SPDX-License-Identifier: MIT */
/* dfu-mgr list: the DFU devices on the USB buses, and what the dfu-mgr shim says it runs. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dfumgr/device.h"
#include "dfumgr/image.h"
#include "dfumgr/shim_info.h"
#include "dfumgr/wire.h"

#define WAIT_MAX_S 3600
/* How long one wait for a hotplug event lasts before listing again; without hotplug (libusb
 * then just sleeps) this is how quickly a new device is noticed. */
#define WAIT_SLICE_MS 500

/* GET_INFO of one listed device: its reply, or why there is none. */
struct shim_result {
	bool queried;
	int rc;
	struct dfumgr_shim_info info;
	char error[512];
};

static void list_help(FILE *f)
{
	fprintf(f,
		"Usage: dfu-mgr list [OPTIONS]\n"
		"List the DFU interfaces of the USB devices present: run-time or DFU mode,\n"
		"VID:PID, serial, path (bus-port.port..., stable across re-enumeration), the\n"
		"alt-settings and the transfer size. Devices that run the dfu-mgr shim also show\n"
		"the running version of each image and the state of its update slot.\n\n"
		"  -d, --device VID:PID  only devices with this USB id (hex, e.g. 1915:5300)\n"
		"  -S, --serial SERIAL   only the device with this serial number\n"
		"  -p, --path PATH       only the device at this USB path (e.g. 3-1.2)\n"
		"  -w, --wait SECONDS    wait up to SECONDS for a matching device to appear\n"
		"      --no-info         do not send the shim's GET_INFO request to devices\n"
		"  -j, --json            machine-readable output on stdout\n"
		"  -h, --help            this help\n\n"
		"Exit status: 0 devices listed (also none, when no filter or --wait was given);\n"
		"69 a filter (-d, -S, -p) or --wait was given and no device matches;\n"
		"74 the USB buses cannot be read.\n");
}

/* A release number as lsusb shows bcdDevice (USB 2.0 §9.6.1): 0x0100 -> "1.00". */
static const char *release_format(uint16_t v, char buf[static 16])
{
	snprintf(buf, 16, "%x.%02x", v >> 8, v & 0xff);
	return buf;
}

/* A specification version "JJ.M.N" in BCD: 0x0110 -> "1.1" (DFU 1.1 §4.1.3 bcdDFUVersion). */
static const char *bcd_format(uint16_t v, char buf[static 16])
{
	if (v & 0xf)
		snprintf(buf, 16, "%x.%x.%x", v >> 8, (v >> 4) & 0xf, v & 0xf);
	else
		snprintf(buf, 16, "%x.%x", v >> 8, (v >> 4) & 0xf);
	return buf;
}

static void query_shim(struct cli *cli, struct dfumgr_backend *be,
		       const struct dfumgr_device_info *info, struct shim_result *r)
{
	struct dfumgr_dev *dev = NULL;

	r->queried = true;
	dfumgr_ctx_clear_error(cli->ctx);
	r->rc = dfumgr_dev_open_info(cli->ctx, be, info, &dev);
	if (r->rc == 0)
		r->rc = dfumgr_shim_get_info(dev, &r->info);
	dfumgr_dev_close(dev);
	if (r->rc < 0)
		snprintf(r->error, sizeof(r->error), "%s",
			 dfumgr_ctx_errmsg(cli->ctx)[0] ? dfumgr_ctx_errmsg(cli->ctx)
							: dfumgr_strerror(r->rc));
	dfumgr_ctx_clear_error(cli->ctx);
}

static void print_human(struct cli *cli, const struct dfumgr_device_info *d,
			const struct shim_result *r)
{
	char bcd[16];

	printf("%s  %04x:%04x  %s  path %s (bus %u, address %u), interface %u\n",
	       d->serial[0] ? d->serial : "(no serial)", d->vid, d->pid,
	       d->dfu_mode ? "DFU mode" : "runtime", d->path, d->bus, d->address, d->interface);
	if (d->manufacturer[0] || d->product[0])
		printf("  %s%s%s, bcdDevice %s\n", d->manufacturer,
		       d->manufacturer[0] && d->product[0] ? " / " : "", d->product,
		       release_format(d->bcd_device, bcd));
	if (d->has_func) {
		const struct dfumgr_dfu_func *f = &d->func;

		printf("  DFU %s, transfer size %u, detach timeout %u ms, attributes%s%s%s%s\n",
		       bcd_format(f->dfu_version, bcd), f->transfer_size, f->detach_timeout_ms,
		       f->attributes & DFU_ATTR_CAN_DNLOAD ? " download" : "",
		       f->attributes & DFU_ATTR_CAN_UPLOAD ? " upload" : "",
		       f->attributes & DFU_ATTR_MANIFESTATION_TOLERANT ? " manifestation-tolerant"
								       : "",
		       f->attributes & DFU_ATTR_WILL_DETACH ? " will-detach" : "");
	} else {
		printf("  no DFU functional descriptor\n");
	}
	for (size_t a = 0; a < d->n_alts; a++)
		printf("  alt %u  %s\n", d->alts[a].number,
		       d->alts[a].name[0] ? d->alts[a].name : "(no name)");
	if (!r->queried)
		return;
	if (r->rc == -DFUMGR_E_UNSUPPORTED) {
		printf("  no dfu-mgr shim info (%s)\n", r->error);
		return;
	}
	if (r->rc < 0) {
		printf("  shim info unavailable: %s\n", dfumgr_strerror(r->rc));
		/* the usual case is a missing udev rule: the detail carries the hint */
		fprintf(stderr, "%s: warning: %s at %s: %s\n", cli->prog,
			d->serial[0] ? d->serial : "device", d->path, r->error);
		return;
	}
	printf("  product %s, hardware revision %u, shim protocol %u%s\n",
	       r->info.product[0] ? r->info.product : "(none)", r->info.hw_revision,
	       r->info.protocol, r->info.caps & DFUMGR_CAP_UPLOAD ? "" : ", uploads disabled");
	for (size_t i = 0; i < r->info.n_images; i++) {
		const struct dfumgr_shim_image_info *img = &r->info.images[i];
		char ver[DFUMGR_VERSION_STRING_MAX], cnt[32] = "";

		if (img->has_sec_cnt)
			snprintf(cnt, sizeof(cnt), ", security counter %" PRIu32, img->sec_cnt);
		printf("  image %zu  running %s%s%s, update slot %s (%" PRIu32 " of %" PRIu32
		       " bytes written, images up to %" PRIu32 ")\n",
		       i, img->primary_valid ? dfumgr_version_format(&img->running, ver) : "none",
		       img->primary_valid && !img->confirmed ? " (not confirmed)" : "", cnt,
		       dfumgr_slot_state_name(img->slot_state), img->written, img->slot_size,
		       img->max_image);
	}
	if (r->info.commit_state != DFUMGR_COMMIT_NONE || r->info.last_error)
		printf("  commit %s, last device error %u (%s)\n",
		       dfumgr_commit_state_name(r->info.commit_state), r->info.last_error,
		       dfumgr_dev_error_text(r->info.last_error));
}

static void print_json(struct jw *w, const struct dfumgr_device_info *d,
		       const struct shim_result *r)
{
	char buf[16];

	jw_obj(w, NULL);
	jw_str(w, "mode", d->dfu_mode ? "dfu" : "runtime");
	snprintf(buf, sizeof(buf), "%04x:%04x", d->vid, d->pid);
	jw_str(w, "id", buf);
	jw_uint(w, "vid", d->vid);
	jw_uint(w, "pid", d->pid);
	jw_str(w, "bcd_device", release_format(d->bcd_device, buf));
	jw_str(w, "serial", d->serial);
	jw_str(w, "manufacturer", d->manufacturer);
	jw_str(w, "product", d->product);
	jw_str(w, "path", d->path);
	jw_uint(w, "bus", d->bus);
	jw_uint(w, "address", d->address);
	jw_uint(w, "interface", d->interface);
	if (d->has_func) {
		const struct dfumgr_dfu_func *f = &d->func;

		jw_obj(w, "dfu");
		jw_str(w, "version", bcd_format(f->dfu_version, buf));
		jw_uint(w, "attributes", f->attributes);
		jw_bool(w, "can_download", f->attributes & DFU_ATTR_CAN_DNLOAD);
		jw_bool(w, "can_upload", f->attributes & DFU_ATTR_CAN_UPLOAD);
		jw_bool(w, "manifestation_tolerant",
			f->attributes & DFU_ATTR_MANIFESTATION_TOLERANT);
		jw_bool(w, "will_detach", f->attributes & DFU_ATTR_WILL_DETACH);
		jw_uint(w, "detach_timeout_ms", f->detach_timeout_ms);
		jw_uint(w, "transfer_size", f->transfer_size);
		jw_end_obj(w);
	} else {
		jw_null(w, "dfu");
	}
	jw_arr(w, "alts");
	for (size_t a = 0; a < d->n_alts; a++) {
		jw_obj(w, NULL);
		jw_uint(w, "alt", d->alts[a].number);
		jw_str(w, "name", d->alts[a].name);
		jw_end_obj(w);
	}
	jw_end_arr(w);
	if (r->queried && r->rc == 0) {
		jw_obj(w, "shim");
		jw_uint(w, "protocol", r->info.protocol);
		jw_str(w, "serial", r->info.serial);
		jw_str(w, "product", r->info.product);
		jw_uint(w, "hw_revision", r->info.hw_revision);
		jw_bool(w, "uploads", r->info.caps & DFUMGR_CAP_UPLOAD);
		jw_bool(w, "version_cmp_build", r->info.caps & DFUMGR_CAP_VERSION_BUILD);
		jw_str(w, "commit_state", dfumgr_commit_state_name(r->info.commit_state));
		jw_uint(w, "last_error", r->info.last_error);
		jw_str(w, "last_error_text", dfumgr_dev_error_text(r->info.last_error));
		jw_arr(w, "images");
		for (size_t i = 0; i < r->info.n_images; i++) {
			const struct dfumgr_shim_image_info *img = &r->info.images[i];
			char ver[DFUMGR_VERSION_STRING_MAX];

			jw_obj(w, NULL);
			jw_uint(w, "image", i);
			if (img->primary_valid)
				jw_str(w, "running_version",
				       dfumgr_version_format(&img->running, ver));
			else
				jw_null(w, "running_version");
			jw_bool(w, "confirmed", img->confirmed);
			if (img->has_sec_cnt)
				jw_uint(w, "security_counter", img->sec_cnt);
			else
				jw_null(w, "security_counter");
			jw_str(w, "slot_state", dfumgr_slot_state_name(img->slot_state));
			jw_uint(w, "slot_size", img->slot_size);
			jw_uint(w, "max_image", img->max_image);
			jw_uint(w, "erase_unit", img->erase_unit);
			jw_uint(w, "written", img->written);
			jw_bool(w, "whole_image_written", img->secondary_whole);
			jw_uint(w, "uploadable", img->uploadable);
			jw_end_obj(w);
		}
		jw_end_arr(w);
		jw_end_obj(w);
	} else {
		jw_null(w, "shim");
		if (r->queried) {
			jw_obj(w, "shim_error");
			jw_int(w, "code", -r->rc);
			jw_str(w, "name", dfumgr_strerror(r->rc));
			jw_str(w, "message", r->error);
			jw_end_obj(w);
		}
	}
	jw_end_obj(w);
}

/* Lists the matching devices; with wait_s, until at least one is there or the time is up. */
static int list_matching(struct cli *cli, struct dfumgr_backend *be, const struct dfumgr_match *m,
			 uint32_t wait_s, struct dfumgr_device_info **ret_list, size_t *ret_n)
{
	uint64_t start = dfumgr_backend_now_us(be), limit_us = (uint64_t)wait_s * 1000000u;

	for (;;) {
		struct dfumgr_device_info *list = NULL;
		size_t n = 0;
		uint64_t elapsed;
		int rc = dfumgr_device_list(cli->ctx, be, m, &list, &n);

		if (rc < 0)
			return rc;
		elapsed = dfumgr_backend_now_us(be) - start;
		if (n > 0 || elapsed >= limit_us) {
			*ret_list = list;
			*ret_n = n;
			return 0;
		}
		free(list);
		rc = dfumgr_backend_wait_change(be,
						limit_us - elapsed < WAIT_SLICE_MS * 1000u
						    ? (unsigned)((limit_us - elapsed) / 1000u) + 1
						    : WAIT_SLICE_MS,
						cli->cancel);
		if (rc == -DFUMGR_E_CANCELLED)
			return dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_CANCELLED,
						    "cancelled while waiting for a device");
	}
}

int cmd_list(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"device", required_argument, NULL, 'd'}, {"serial", required_argument, NULL, 'S'},
	    {"path", required_argument, NULL, 'p'},   {"wait", required_argument, NULL, 'w'},
	    {"no-info", no_argument, NULL, 'I'},      {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},         {0},
	};
	struct dfumgr_match m = {0};
	struct dfumgr_backend *be = NULL;
	struct dfumgr_device_info *list = NULL;
	struct shim_result *results = NULL;
	bool filtered = false, no_info = false;
	uint32_t wait_s = 0;
	size_t n = 0;
	struct jw w;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:S:p:w:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (dfumgr_match_parse_id(&m, optarg) < 0)
				return cli_usage_error(
				    cli, "list", "bad --device '%s' (want VID:PID in hex)", optarg);
			filtered = true;
			break;
		case 'S':
			m.serial = optarg;
			filtered = true;
			break;
		case 'p':
			m.path = optarg;
			filtered = true;
			break;
		case 'w':
			if (!cli_parse_u32(optarg, WAIT_MAX_S, &wait_s))
				return cli_usage_error(cli, "list",
						       "bad --wait '%s' (0..%d seconds)", optarg,
						       WAIT_MAX_S);
			break;
		case 'I':
			no_info = true;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			list_help(stdout);
			return EXIT_OK;
		default:
			return cli_usage_error(cli, "list", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, "list", "unexpected argument '%s'", argv[optind]);

	rc = cli_backend_new(cli, &be);
	if (rc != EXIT_OK)
		return rc;
	rc = list_matching(cli, be, &m, wait_s, &list, &n);
	if (rc < 0) {
		rc = cli_fail(cli, rc, "list DFU devices");
		goto out;
	}
	results = calloc(n ? n : 1, sizeof(*results));
	if (!results) {
		rc = cli_fail(cli, -DFUMGR_E_NOMEM, "list DFU devices");
		goto out;
	}
	for (size_t i = 0; i < n && !no_info; i++)
		query_shim(cli, be, &list[i], &results[i]);

	if (cli->json) {
		jw_begin(&w, stdout);
		jw_obj(&w, NULL);
		jw_arr(&w, "devices");
		for (size_t i = 0; i < n; i++)
			print_json(&w, &list[i], &results[i]);
		jw_end_arr(&w);
		jw_end_obj(&w);
		jw_finish(&w);
	} else {
		for (size_t i = 0; i < n; i++) {
			if (i)
				printf("\n");
			print_human(cli, &list[i], &results[i]);
		}
		if (n == 0 && !filtered && !wait_s)
			printf("No DFU devices found.\n");
	}
	rc = EXIT_OK;
	/* "is it there?" is the question a filter or --wait asks: no answer is a failure */
	if (n == 0 && (filtered || wait_s)) {
		char id[16] = "";

		if (m.vid || m.pid)
			snprintf(id, sizeof(id), " %04x:%04x", m.vid, m.pid);
		fprintf(stderr, "%s: no DFU device%s%s%s%s%s%s", cli->prog,
			filtered ? " matches" : "", id, m.serial ? " serial " : "",
			m.serial ? m.serial : "", m.path ? " path " : "", m.path ? m.path : "");
		if (wait_s)
			fprintf(stderr, " (waited %" PRIu32 " s)", wait_s);
		fprintf(stderr, "\n");
		rc = EXIT_NODEV;
	}
out:
	free(results);
	free(list);
	dfumgr_backend_free(be);
	return rc;
}
