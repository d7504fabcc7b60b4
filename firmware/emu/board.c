/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "board.h"
#include "shim_desc.h"
#include "dfumgr/crypto.h"
#include "dfumgr/image.h"

/* ---- flash areas ---- */

struct emu_flash *emu_board_area(struct emu_board *b, enum dfu_area area, uint32_t *ret_base)
{
	switch (area) {
	case DFU_AREA_IMG0_PRIMARY:
		*ret_base = DFUMGR_IMG0_PRIMARY_OFFSET;
		return &b->internal;
	case DFU_AREA_IMG0_SECONDARY:
		*ret_base = DFUMGR_IMG0_SECONDARY_OFFSET;
		return &b->qspi;
	case DFU_AREA_IMG1_PRIMARY:
		*ret_base = DFUMGR_IMG1_PRIMARY_OFFSET;
		return &b->qspi;
	default:
		*ret_base = DFUMGR_IMG1_SECONDARY_OFFSET;
		return &b->qspi;
	}
}

static int op_erase(void *u, enum dfu_area a, uint32_t off, uint32_t len, uint32_t *cost)
{
	uint32_t base;
	struct emu_flash *f = emu_board_area(u, a, &base);

	return emu_flash_erase(f, base + off, len, cost);
}

static int op_program(void *u, enum dfu_area a, uint32_t off, const uint8_t *d, uint32_t len,
		      uint32_t *cost)
{
	uint32_t base;
	struct emu_flash *f = emu_board_area(u, a, &base);

	return emu_flash_program(f, base + off, d, len, cost);
}

static int op_read(void *u, enum dfu_area a, uint32_t off, uint8_t *d, uint32_t len)
{
	uint32_t base;
	struct emu_flash *f = emu_board_area(u, a, &base);

	return emu_flash_read(f, base + off, d, len);
}

static void op_sha_start(void *u, unsigned ctx)
{
	dfumgr_sha256_reset(((struct emu_board *)u)->sha[ctx]);
}

static void op_sha_update(void *u, unsigned ctx, const uint8_t *d, uint32_t len)
{
	dfumgr_sha256_update(((struct emu_board *)u)->sha[ctx], d, len);
}

static void op_sha_finish(void *u, unsigned ctx, uint8_t out[32])
{
	struct emu_board *b = u;
	uint8_t alt = b->dev.digest.alt;

	dfumgr_sha256_final(b->sha[ctx], out);
	/* the "wrong digest" fault: what a marginal QSPI read during the hash would give */
	if (ctx == 0 && b->dev.digest.status == DFUMGR_DIGEST_BUSY && !b->dev.digest.primary &&
	    alt < DFUMGR_N_IMAGES && b->fault.wrong_digest[alt]) {
		b->fault.wrong_digest[alt]--;
		out[0] ^= 0x01;
	}
}

static void op_detach(void *u)
{
	struct emu_board *b = u;

	/* bitWillDetach: the application re-enumerates in DFU mode by itself */
	b->action = EMU_ACT_DETACH_TO_DFU;
}

static void op_reboot(void *u)
{
	struct emu_board *b = u;

	b->action = EMU_ACT_POWER_CUT; /* a reset: unplug, MCUboot, application */
	b->action_at_us = 0;
}

static const struct dfu_dev_ops board_ops = {
    .erase = op_erase,
    .program = op_program,
    .read = op_read,
    .sha256_start = op_sha_start,
    .sha256_update = op_sha_update,
    .sha256_finish = op_sha_finish,
    .detach = op_detach,
    .reboot = op_reboot,
};

static void build_descriptors(struct emu_board *b);

/* ---- factory images ---- */

/* A deterministic payload: the "application" and the "XIP model". */
static uint8_t *factory_payload(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n);

	for (size_t i = 0; p && i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		p[i] = (uint8_t)(seed >> 24);
	}
	return p;
}

static int program_factory_pair(struct emu_board *b)
{
	struct dfumgr_image_build_opts o = {.header_size = 0x200, .pad_header = true};
	const size_t size[2] = {16 * 1024, 64 * 1024};
	int rc = 0;

	o.version = (struct dfumgr_image_version){1, 0, 0, 0};
	for (int i = 0; i < 2 && rc == 0; i++) {
		uint8_t *payload = factory_payload(size[i], 0x5eed0000u + (uint32_t)i), *img = NULL;
		size_t img_size = 0;
		uint32_t base;
		struct emu_flash *f = emu_board_area(b, dfu_area_primary(i), &base);

		/* what `dfu-mgr pack` makes: each image depends on the other at its version */
		o.n_deps = 1;
		o.deps[0] = (struct dfumgr_image_dep){(uint8_t)(1 - i), {1, 0, 0, 0}};
		rc = payload ? dfumgr_image_build(NULL, payload, size[i], &o, &img, &img_size)
			     : -ENOMEM;
		if (rc == 0)
			emu_flash_write_raw(f, base, img, (uint32_t)img_size);
		free(payload);
		free(img);
	}
	return rc;
}

int emu_board_open(struct emu_board *b, unsigned index, const char *serial, const char *dir,
		   bool real_timing, const struct dfumgr_key *mcuboot_key)
{
	char path[600];
	struct stat st;
	bool fresh;
	int rc;

	memset(b, 0, sizeof(*b));
	b->index = index;
	snprintf(b->serial, sizeof(b->serial), "%s", serial);
	snprintf(b->dir, sizeof(b->dir), "%s", dir);
	b->mcuboot_key = mcuboot_key;
	b->replug_ms = 200;
	snprintf(b->product, sizeof(b->product), "%s", EMU_DEFAULT_PRODUCT);
	b->hw_revision = 1;
	b->version_cmp_build = true;
	b->mcuboot_1768 = true; /* the model is MCUboot 1.10's, bug included */
	for (int i = 0; i < DFUMGR_N_IMAGES; i++)
		b->fault.disconnect_at[i] = b->fault.power_cut_at[i] = UINT64_MAX;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/internal.bin", dir);
	fresh = stat(path, &st) != 0;
	rc = emu_flash_open(&b->internal, path, "internal", DFUMGR_INTERNAL_FLASH_SIZE,
			    DFUMGR_INTERNAL_PAGE_SIZE,
			    real_timing ? &emu_timing_nrf5340 : &emu_timing_none);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/qspi.bin", dir);
	rc = emu_flash_open(&b->qspi, path, "qspi", DFUMGR_QSPI_FLASH_SIZE, DFUMGR_QSPI_SECTOR_SIZE,
			    real_timing ? &emu_timing_mx25r64 : &emu_timing_none);
	if (rc < 0)
		goto fail;
	/* one supply for both devices; time accounted with the datasheets' figures either way */
	b->internal.power = b->qspi.power = &b->power;
	emu_power_restore(&b->power);
	b->internal.datasheet = emu_timing_nrf5340;
	b->qspi.datasheet = emu_timing_mx25r64;
	for (int i = 0; i < DFU_SHA_CONTEXTS; i++) {
		b->sha[i] = dfumgr_sha256_new();
		if (!b->sha[i]) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	if (fresh) {
		rc = program_factory_pair(b);
		if (rc < 0)
			goto fail;
	}
	return 0;
fail:
	emu_board_close(b);
	return rc;
}

void emu_board_close(struct emu_board *b)
{
	emu_flash_close(&b->internal);
	emu_flash_close(&b->qspi);
	for (int i = 0; i < DFU_SHA_CONTEXTS; i++)
		b->sha[i] = dfumgr_sha256_free(b->sha[i]);
}

/* The firmware build the board runs: its identity and the product's configuration. */
static struct dfu_dev_config board_config(const struct emu_board *b)
{
	return (struct dfu_dev_config){
	    .serial = b->serial,
	    .product = b->product,
	    .hw_revision = b->hw_revision,
	    .no_upload = b->no_upload,
	    .version_cmp_build = b->version_cmp_build,
	    .mcuboot_1768 = b->mcuboot_1768,
	    .legacy_download = b->legacy_download,
	};
}

void emu_board_boot(struct emu_board *b, uint64_t now_us)
{
	struct dfu_dev_config cfg = board_config(b);

	(void)now_us;
	b->boots++;
	/* the supply is back after a cut; the knob was one-shot */
	if (emu_power_lost(&b->power))
		emu_power_restore(&b->power);
	b->mode = EMU_MODE_OFF;
	b->app = EMU_APP_NONE;
	b->configuration = 0;
	b->alt = 0;
	memset(b->dl_bytes, 0, sizeof(b->dl_bytes));
	emu_mcuboot_boot(b, &b->mcuboot);
	snprintf(b->last_boot, sizeof(b->last_boot), "%s", b->mcuboot.log);
	if (b->mcuboot.outcome != EMU_MCUBOOT_BOOT)
		return;
	dfu_dev_init(&b->dev, &board_ops, b, false, &cfg);
	emu_app_start(b);
	if (emu_power_lost(&b->power))
		return;
	b->mode = EMU_MODE_RUNTIME;
	build_descriptors(b);
}

void emu_board_enter_dfu(struct emu_board *b)
{
	struct dfu_dev_config cfg = board_config(b);

	b->mode = EMU_MODE_DFU;
	b->configuration = 0;
	b->alt = 0;
	dfu_dev_init(&b->dev, &board_ops, b, true, &cfg);
	build_descriptors(b);
}

/* ---- USB descriptors ---- */

/*
 * The descriptors come from the nRF5340 application's own builder (firmware/zephyr/src/
 * shim_desc.c, Zephyr-free C), so that the emulated and the real board enumerate alike byte for
 * byte. The blob holds the device descriptor, the configuration (interfaces + DFU functional
 * descriptor), then every string descriptor in index order.
 */
static void build_descriptors(struct emu_board *b)
{
	struct shim_usb_id id = shim_usb_id_dev;

	id.no_upload = b->no_upload;
	b->desc_len = shim_desc_build(b->desc, sizeof(b->desc), b->mode == EMU_MODE_DFU, &id,
				      b->serial, &b->desc_layout);
	/* USB 2.0 §9.6.1: iSerialNumber 0 means the device has no serial number */
	if (b->no_serial && b->desc_len > 16)
		b->desc[16] = 0;
}

int emu_board_config_desc(const struct emu_board *b, uint8_t *d);
int emu_board_config_desc(const struct emu_board *b, uint8_t *d)
{
	if (b->desc_len <= 0)
		return -1;
	memcpy(d, b->desc + b->desc_layout.config_off, b->desc_layout.config_len);
	return (int)b->desc_layout.config_len;
}

/* Descriptor type 1 (device), 2 (configuration), 3 (string index) or 15 (BOS) out of the blob. */
static int get_descriptor(struct emu_board *b, uint8_t type, uint8_t index, const uint8_t **ret)
{
	size_t off;

	if (b->desc_len <= 0)
		build_descriptors(b); /* a board set up by hand (tests) */
	if (b->desc_len <= 0)
		return -1;
	switch (type) {
	case 1:
		*ret = b->desc;
		return b->desc[0];
	case 2:
		*ret = b->desc + b->desc_layout.config_off;
		return (int)b->desc_layout.config_len;
	case 3:
		off = b->desc_layout.strings_off;
		for (unsigned i = 0; off < (size_t)b->desc_len && b->desc[off]; i++) {
			if (i == index) {
				*ret = b->desc + off;
				return b->desc[off];
			}
			off += b->desc[off];
		}
		return -1;
	case 15:
		*ret = b->desc + b->desc_layout.bos_off;
		return (int)b->desc_layout.bos_len;
	default:
		return -1; /* no device qualifier: full speed only */
	}
}

/* ---- control transfers ---- */

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int standard_request(struct emu_board *b, const struct dfu_setup *s, uint8_t *data)
{
	const uint8_t *desc = NULL;
	int n;

	switch (s->bRequest) {
	case 6: /* GET_DESCRIPTOR */
		if ((s->wValue >> 8) == 3)
			b->string_requests++;
		n = get_descriptor(b, (uint8_t)(s->wValue >> 8), (uint8_t)s->wValue, &desc);
		if (n < 0)
			return -1;
		n = n < s->wLength ? n : s->wLength;
		memcpy(data, desc, (size_t)n);
		return n;
	case 9: /* SET_CONFIGURATION */
		if (s->wValue > 1)
			return -1;
		b->configuration = (uint8_t)s->wValue;
		return 0;
	case 8: /* GET_CONFIGURATION */
		data[0] = b->configuration;
		return s->wLength ? 1 : 0;
	case 11: /* SET_INTERFACE */
		if (s->wIndex != 0)
			return -1;
		if (b->mode == EMU_MODE_DFU) {
			if (dfu_dev_set_alt(&b->dev, (uint8_t)s->wValue) != 0)
				return -1;
		} else if (s->wValue != 0) {
			return -1;
		}
		b->alt = (uint8_t)s->wValue;
		return 0;
	case 10: /* GET_INTERFACE */
		data[0] = b->alt;
		return s->wLength ? 1 : 0;
	case 0: /* GET_STATUS */
		if (s->wLength < 2)
			return -1;
		data[0] = 0, data[1] = 0;
		return 2;
	case 1: /* CLEAR_FEATURE */
	case 3: /* SET_FEATURE */
	case 5: /* SET_ADDRESS */
		return 0;
	default:
		return -1;
	}
}

/* Applies the download faults before the core sees a DNLOAD block. */
static bool download_fault(struct emu_board *b, const struct dfu_setup *s, const uint8_t *data)
{
	unsigned alt = b->dev.alt;
	int64_t at;
	uint64_t start, end;

	if (b->mode != EMU_MODE_DFU || s->bmRequestType != 0x21 || s->bRequest != DFU_DNLOAD ||
	    !s->wLength || alt >= DFUMGR_N_IMAGES)
		return false;
	/* where the block goes (a sparse download numbers its blocks by sector) */
	at = dfu_dev_dnload_offset(&b->dev, s);
	if (at < 0)
		return false; /* the core refuses it */
	start = (uint64_t)at;
	end = start + s->wLength;
	if (b->fault.power_cut_at[alt] < end) {
		/* the cut lands in the middle of this block: what was programmed stays */
		uint32_t base, keep = (uint32_t)(b->fault.power_cut_at[alt] > start
						     ? b->fault.power_cut_at[alt] - start
						     : 0);
		struct emu_flash *f = emu_board_area(b, dfu_area_secondary(alt), &base);
		uint32_t cost = 0;

		b->fault.power_cut_at[alt] = UINT64_MAX;
		if (start == 0)
			emu_flash_erase(f, base, f->erase_unit, &cost);
		if (keep)
			emu_flash_program(f, base + (uint32_t)start, data, keep, &cost);
		b->action = EMU_ACT_POWER_CUT;
		return true;
	}
	if (b->fault.disconnect_at[alt] < end) {
		b->fault.disconnect_at[alt] = UINT64_MAX;
		b->action = EMU_ACT_DISCONNECT;
		return true;
	}
	b->dl_bytes[alt] = end;
	return false;
}

int emu_board_control(struct emu_board *b, const uint8_t raw[8], uint8_t *data, uint64_t now_us)
{
	struct dfu_setup s = {
	    .bmRequestType = raw[0],
	    .bRequest = raw[1],
	    .wValue = (uint16_t)(raw[2] | raw[3] << 8),
	    .wIndex = (uint16_t)(raw[4] | raw[5] << 8),
	    .wLength = (uint16_t)(raw[6] | raw[7] << 8),
	};
	uint64_t t0 = cpu_ns();
	int rc;

	b->requests++;
	if ((s.bmRequestType & 0x60) == 0) {
		rc = standard_request(b, &s, data);
	} else if (shim_desc_is_msos_request(s.bmRequestType, s.bRequest, s.wIndex)) {
		/* the MS OS 2.0 descriptor set, as the board's USB glue answers it */
		if (b->desc_len <= 0)
			build_descriptors(b);
		rc = b->desc_len > 0 ? (int)b->desc_layout.msos_len : -1;
		if (rc > s.wLength)
			rc = s.wLength;
		if (rc > 0)
			memcpy(data, b->desc + b->desc_layout.msos_off, (size_t)rc);
	} else if ((s.bmRequestType & 0x1f) != 1 || s.wIndex != 0) {
		rc = -1; /* only interface 0 has class/vendor requests */
	} else if (b->plain && (s.bmRequestType & 0x60) == 0x40) {
		rc = -1; /* no shim: vendor requests are not understood */
	} else if (b->fault.stall_countdown && --b->fault.stall_countdown == 0) {
		rc = -1; /* injected STALL */
	} else if (download_fault(b, &s, data)) {
		rc = -1; /* the device is gone before it could answer */
	} else {
		rc = dfu_dev_control(&b->dev, &s, data, now_us);
		if (rc == DFU_DEV_STALL)
			rc = -1;
	}
	if (emu_power_lost(&b->power)) {
		/* the supply failed during a flash write: no answer, the board is off */
		b->action = EMU_ACT_POWER_CUT;
		rc = -1;
	}
	b->request_ns += cpu_ns() - t0;
	return rc;
}

void emu_board_poll(struct emu_board *b, uint64_t now_us)
{
	if (b->mode != EMU_MODE_OFF) {
		dfu_dev_poll(&b->dev, now_us, 256 * 1024);
		if (emu_power_lost(&b->power))
			b->action = EMU_ACT_POWER_CUT;
	}
}

/* ---- state ---- */

static const char *slot_state_name(uint8_t s)
{
	static const char *const n[] = {"empty", "written", "pending", "confirmed"};
	return s < 4 ? n[s] : "?";
}

static void slot_version(struct emu_board *b, enum dfu_area a, char *out, bool *ret_valid)
{
	uint32_t base;
	struct emu_flash *f = emu_board_area(b, a, &base);
	struct dfumgr_image img;
	uint32_t size = a == DFU_AREA_IMG0_PRIMARY || a == DFU_AREA_IMG0_SECONDARY
			    ? DFUMGR_IMG0_SLOT_SIZE
			    : DFUMGR_IMG1_SLOT_SIZE;

	*ret_valid = dfumgr_image_parse(NULL, f->mem + base, size, &img) == 0 &&
		     dfumgr_image_check_hash(NULL, &img, NULL) == 0;
	if (*ret_valid)
		dfumgr_version_format(&img.version, out);
	else
		snprintf(out, DFUMGR_VERSION_STRING_MAX, "none");
}

/* Counters go out as exact decimal integers: cJSON would round them through a double. */
static cJSON *add_u64(cJSON *obj, const char *name, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	return cJSON_AddRawToObject(obj, name, num);
}

static cJSON *image_json(struct emu_board *b, int i)
{
	char run[DFUMGR_VERSION_STRING_MAX], sec[DFUMGR_VERSION_STRING_MAX];
	bool run_ok, sec_ok;
	cJSON *o = cJSON_CreateObject();

	slot_version(b, dfu_area_primary(i), run, &run_ok);
	slot_version(b, dfu_area_secondary(i), sec, &sec_ok);
	if (!o || !cJSON_AddNumberToObject(o, "image", i) ||
	    !cJSON_AddStringToObject(o, "running", run) ||
	    !cJSON_AddStringToObject(o, "secondary", sec) ||
	    !cJSON_AddStringToObject(
		o, "secondary_state",
		slot_state_name(b->mode == EMU_MODE_OFF ? 0 : b->dev.slot_state[i])) ||
	    !add_u64(o, "downloaded", b->dl_bytes[i])) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/*
 * What MCUboot's last power-on did to each slot: sectors erased (total and the most on one
 * sector), program calls and bytes, bytes read.
 */
static cJSON *wear_json(const struct emu_mcuboot_result *r)
{
	cJSON *a = cJSON_CreateArray();

	for (unsigned k = 0; a && k < EMU_MCUBOOT_AREAS; k++) {
		const struct emu_mcuboot_wear *w = &r->wear[k];
		cJSON *o = cJSON_CreateObject();

		if (!o || !cJSON_AddItemToArray(a, o) ||
		    !cJSON_AddStringToObject(o, "area", emu_mcuboot_area_name(k)) ||
		    !add_u64(o, "erases", w->erases) || !add_u64(o, "max_erases", w->max_erases) ||
		    !add_u64(o, "programs", w->programs) ||
		    !add_u64(o, "bytes_programmed", w->bytes_programmed) ||
		    !add_u64(o, "bytes_read", w->bytes_read)) {
			if (o && !cJSON_IsArray(a))
				cJSON_Delete(o);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

cJSON *emu_board_state_new(struct emu_board *b)
{
	static const char *const modes[] = {"off", "runtime", "dfu"};
	static const char *const apps[] = {"none", "testing", "confirmed", "crashed"};
	cJSON *o = cJSON_CreateObject();
	cJSON *images, *wear;

	if (!o || !cJSON_AddStringToObject(o, "serial", b->serial) ||
	    !cJSON_AddNumberToObject(o, "index", b->index) ||
	    !cJSON_AddStringToObject(o, "mode", modes[b->mode]) ||
	    !cJSON_AddStringToObject(o, "app", apps[b->app]) ||
	    !cJSON_AddNumberToObject(o, "boots", b->boots) ||
	    !cJSON_AddStringToObject(o, "dfu_state", dfu_state_name(b->dev.state)) ||
	    !cJSON_AddStringToObject(o, "dfu_status", dfu_status_name(b->dev.status)) ||
	    !add_u64(o, "requests", b->requests) ||
	    !add_u64(o, "string_requests", b->string_requests) ||
	    !add_u64(o, "request_cpu_ns", b->request_ns) ||
	    !cJSON_AddStringToObject(o, "last_boot", b->last_boot) ||
	    /* MCUboot at the last power-on: what it did, and for how long (datasheet times) */
	    !cJSON_AddStringToObject(o, "mcuboot", emu_mcuboot_outcome_name(b->mcuboot.outcome)) ||
	    !add_u64(o, "swap_us", b->mcuboot.busy_us) ||
	    !add_u64(o, "mcuboot_writes", b->mcuboot.writes) ||
	    !add_u64(o, "mcuboot_writes_before", b->mcuboot.writes_before) ||
	    /* the strategy it runs with and what that boot cost: time by kind, wear per slot */
	    !cJSON_AddStringToObject(o, "mcuboot_strategy",
				     emu_mcuboot_strategy_name(b->mcuboot_strategy)) ||
	    !add_u64(o, "mcuboot_erase_us", b->mcuboot.erase_us) ||
	    !add_u64(o, "mcuboot_program_us", b->mcuboot.program_us) ||
	    !add_u64(o, "mcuboot_read_us", b->mcuboot.read_us) ||
	    !(wear = wear_json(&b->mcuboot)) || !cJSON_AddItemToObject(o, "mcuboot_wear", wear) ||
	    /* the cut-after-write knob: writes counted since it was armed, power lost */
	    !add_u64(o, "flash_writes", b->power.writes) ||
	    !cJSON_AddBoolToObject(o, "power_lost", emu_power_lost(&b->power)) ||
	    !(images = cJSON_AddArrayToObject(o, "images")))
		goto fail;
	for (int i = 0; i < DFUMGR_N_IMAGES; i++) {
		cJSON *img = image_json(b, i);

		if (!img || !cJSON_AddItemToArray(images, img)) {
			cJSON_Delete(img);
			goto fail;
		}
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

int emu_board_state_json(struct emu_board *b, char *buf, size_t cap)
{
	cJSON *o = emu_board_state_new(b);
	int rc = -1;

	if (o && cap <= INT_MAX && cJSON_PrintPreallocated(o, buf, (int)cap, false))
		rc = (int)strlen(buf);
	cJSON_Delete(o);
	return rc;
}
