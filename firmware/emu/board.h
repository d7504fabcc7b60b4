/* SPDX-License-Identifier: MIT */
/*
 * One emulated nRF5340 board: the shim's core (firmware/core), internal flash and QSPI flash
 * models laid out as the partition map of dfumgr/wire.h, USB descriptors for runtime and DFU
 * mode, an MCUboot model that runs at every boot, and fault knobs.
 */
#ifndef EMU_BOARD_H
#define EMU_BOARD_H

#include <stdbool.h>
#include <stdint.h>

#include "dfu_dev.h"
#include "flash.h"
#include "mcuboot.h"
#include "shim_desc.h"

struct cJSON;
struct dfumgr_sha256;

/* The product a new board reports (the demo's and the tests' bundles name it). */
#define EMU_DEFAULT_PRODUCT "xip-app"
struct dfumgr_key;

enum emu_mode {
	EMU_MODE_OFF = 0,     /* powered off (between a power cut and the next boot) */
	EMU_MODE_RUNTIME = 1, /* the application: DFU runtime interface */
	EMU_MODE_DFU = 2,     /* DFU mode: alts image-0 and image-1 */
};

enum emu_app_state {
	EMU_APP_NONE = 0,    /* no bootable image 0 */
	EMU_APP_TESTING = 1, /* reserved: a test swap not yet confirmed */
	EMU_APP_CONFIRMED = 2,
	EMU_APP_CRASHED = 3, /* new app against old XIP code: MCUboot reverts at the next boot */
};

/* Something the board wants done once the current USB request has been answered. */
enum emu_action {
	EMU_ACT_NONE = 0,
	EMU_ACT_DETACH_TO_DFU, /* DFU_DETACH: unplug, switch to DFU mode, plug */
	EMU_ACT_DISCONNECT,    /* cable pulled: unplug, plug again after replug_ms, same mode */
	EMU_ACT_POWER_CUT,     /* power lost: unplug, boot (MCUboot model) after replug_ms */
};

struct emu_fault {
	/* disconnect/power cut when the download to alt reaches byte (UINT64_MAX: off) */
	uint64_t disconnect_at[DFUMGR_N_IMAGES];
	uint64_t power_cut_at[DFUMGR_N_IMAGES];
	/* STALL the n-th DFU-interface request from now (0: off) */
	uint32_t stall_countdown;
	/* report this many wrong digests of alt's secondary slot (commit re-checks included) */
	uint32_t wrong_digest[DFUMGR_N_IMAGES];
};

struct emu_board {
	unsigned index;
	char serial[DFUMGR_SERIAL_MAX + 1];
	char dir[512]; /* where its flash files live */
	struct emu_flash internal, qspi;
	struct emu_power power;            /* both devices' supply: the "cut after write N" knob */
	struct emu_mcuboot_result mcuboot; /* what MCUboot did at the last power-on */
	struct dfu_dev dev;
	struct dfumgr_sha256 *sha[DFU_SHA_CONTEXTS];
	/* the firmware build: identity and product configuration (Kconfig on the real board) */
	char product[DFUMGR_PRODUCT_MAX + 1];
	uint16_t hw_revision;
	bool no_upload;
	bool version_cmp_build;
	bool mcuboot_1768;    /* the firmware guards against mcu-tools/mcuboot#1768 */
	bool legacy_download; /* the shim's download before pipelining (benchmarks) */
	/* MCUboot's upgrade strategy (the product's is swap-move; others for comparison) */
	enum emu_mcuboot_strategy mcuboot_strategy;
	const struct dfumgr_key *mcuboot_key; /* MCUboot's signature key, or NULL (hash only) */
	enum emu_mode mode;
	enum emu_app_state app;
	uint8_t configuration;
	uint8_t alt;
	enum emu_action action;
	uint64_t action_at_us; /* when a delayed re-plug / boot is due */
	uint32_t replug_ms;
	bool plain; /* answers no vendor request: a plain DFU 1.1 device (no dfu-mgr shim) */
	struct emu_fault fault;
	uint64_t dl_bytes[DFUMGR_N_IMAGES]; /* downloaded since the board came up */
	unsigned boots;
	char last_boot[256];
	uint8_t desc[SHIM_DESC_MAX]; /* this mode's descriptors (shim_desc.c's blob) */
	int desc_len;
	struct shim_desc_layout desc_layout;
	uint64_t requests;
	uint64_t request_ns;      /* CPU time spent handling requests */
	uint64_t string_requests; /* GET_DESCRIPTOR(STRING) requests, language table included */
	bool no_serial;           /* iSerialNumber 0: a board without a serial number */
};

/*
 * Creates (or reopens) board index with the given serial; flash files in dir. A new board gets a
 * factory pair (version 1.0.0+0) in its primary slots. timing: true for datasheet times.
 * Returns 0 or -errno / negative dfumgr error.
 */
int emu_board_open(struct emu_board *b, unsigned index, const char *serial, const char *dir,
		   bool real_timing, const struct dfumgr_key *mcuboot_key);
void emu_board_close(struct emu_board *b);

/*
 * Power-on: runs the MCUboot model, then the application (runtime mode). The board stays
 * EMU_MODE_OFF when the power fails again meanwhile (emu_power_lost(&b->power): boot it again
 * later) or when MCUboot finds nothing to boot (it halts: the board never enumerates).
 */
void emu_board_boot(struct emu_board *b, uint64_t now_us);
/* Switches to DFU mode (what the application does after DFU_DETACH). */
void emu_board_enter_dfu(struct emu_board *b);

/*
 * Handles one control transfer on endpoint 0 (standard, class and vendor requests). data holds
 * the OUT data or receives the IN data (room for wLength bytes). Returns the IN length, 0 for
 * OUT, or -1 for a STALL. May set b->action.
 */
int emu_board_control(struct emu_board *b, const uint8_t setup[8], uint8_t *data, uint64_t now_us);

/* Background work (digest engine); called from the event loop. */
void emu_board_poll(struct emu_board *b, uint64_t now_us);

/*
 * The board's state as one JSON object (for the control socket): a new cJSON object the caller
 * frees with cJSON_Delete(), or NULL when out of memory.
 */
struct cJSON *emu_board_state_new(struct emu_board *b);
/* The same, printed unformatted into buf; returns its length, or -1 if it does not fit in cap. */
int emu_board_state_json(struct emu_board *b, char *buf, size_t cap);

/*
 * The application's start after MCUboot jumped to it (app.c): XIP self-test, then the confirm of
 * a test-swapped pair. Sets b->app.
 */
void emu_app_start(struct emu_board *b);

/* How long MCUboot kept the board busy at its last power-on (datasheet flash times), in us. */
static inline uint64_t emu_board_swap_us(const struct emu_board *b)
{
	return b->mcuboot.busy_us;
}

/* The address of each DFU area in the board's flash devices. */
struct emu_flash *emu_board_area(struct emu_board *b, enum dfu_area area, uint32_t *ret_base);

#endif
