/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include <string.h>

#include "shim_recovery.h"

/* MCUboot's boot magic at the end of a slot (max_align 8), as firmware/core writes it */
static const uint8_t boot_magic[16] = {0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
				       0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80};

uint32_t shim_crc32(uint32_t crc, const void *data, uint32_t len)
{
	const uint8_t *p = data;

	/* bitwise: 32 bytes at boot and at a reset, no 1 KiB table in flash */
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static uint32_t record_crc(const struct shim_retained *r)
{
	return shim_crc32(0, r, (uint32_t)offsetof(struct shim_retained, crc));
}

bool shim_retained_valid(const struct shim_retained *r)
{
	return r->magic == SHIM_RETAINED_MAGIC && r->version == SHIM_RETAINED_VERSION &&
	       r->size == sizeof(*r) && r->crc == record_crc(r);
}

void shim_retained_seal(struct shim_retained *r)
{
	r->magic = SHIM_RETAINED_MAGIC;
	r->version = SHIM_RETAINED_VERSION;
	r->size = sizeof(*r);
	r->crc = record_crc(r);
}

uint32_t shim_recovery_pair_id(const uint8_t sha0[32], const uint8_t sha1[32])
{
	static const uint8_t none[32];
	uint32_t crc = shim_crc32(0, sha0 ? sha0 : none, 32);

	return shim_crc32(crc, sha1 ? sha1 : none, 32);
}

static bool is_fault(uint8_t reason)
{
	return reason == SHIM_RESET_FATAL || reason == SHIM_RESET_WATCHDOG ||
	       reason == SHIM_RESET_LOCKUP;
}

void shim_recovery_boot(struct shim_retained *r, uint32_t pair_id, enum shim_hw_cause hw,
			unsigned fault_limit, struct shim_boot_decision *ret_decision)
{
	struct shim_boot_decision d = {0};

	/* after a power-on the RAM is undefined, even if it happens to hold a valid record */
	if (hw == SHIM_HW_POWER_ON || !shim_retained_valid(r)) {
		memset(r, 0, sizeof(*r));
		r->pair_id = pair_id;
		d.fresh = true;
	}
	/*
	 * The firmware's own note wins (the fatal error handler, planned resets, and the watchdog
	 * callback where the chip has no reset reason); the chip's reason fills in when no code
	 * could note anything (the nRF watchdog, a lockup).
	 */
	d.reason = r->reason;
	if (d.reason == SHIM_RESET_NONE && hw == SHIM_HW_WATCHDOG)
		d.reason = SHIM_RESET_WATCHDOG;
	else if (d.reason == SHIM_RESET_NONE && hw == SHIM_HW_LOCKUP)
		d.reason = SHIM_RESET_LOCKUP;
	if (r->pair_id != pair_id) {
		/*
		 * Another pair runs: MCUboot reverted the faulting pair, or an update was
		 * installed. The fault belonged to the pair before.
		 */
		r->pair_id = pair_id;
		r->faults = 0;
		r->boots = 0;
		r->last_fault = SHIM_RESET_NONE;
		d.new_pair = true;
	} else if (is_fault(d.reason)) {
		if (r->faults < UINT8_MAX)
			r->faults++;
		r->last_fault = d.reason;
		d.fault_counted = true;
	}
	if (r->boots < UINT32_MAX)
		r->boots++;
	r->reason = SHIM_RESET_NONE;
	d.faults = r->faults;
	d.safe_mode = fault_limit > 0 && r->faults >= fault_limit;
	r->safe_mode = d.safe_mode;
	shim_retained_seal(r);
	*ret_decision = d;
}

void shim_recovery_note_reset(struct shim_retained *r, enum shim_reset_reason reason,
			      uint32_t fault_pc, uint32_t fault_code)
{
	if (!shim_retained_valid(r))
		memset(r, 0, sizeof(*r)); /* pair 0: never the running pair's id at the next boot */
	r->reason = (uint8_t)reason;
	if (reason == SHIM_RESET_FATAL) {
		r->fault_pc = fault_pc;
		r->fault_code = fault_code;
	}
	shim_retained_seal(r);
}

void shim_recovery_healthy(struct shim_retained *r)
{
	if (!shim_retained_valid(r))
		return;
	r->faults = 0;
	shim_retained_seal(r);
}

bool shim_trailer_unconfirmed(const uint8_t magic[16], uint8_t image_ok)
{
	return memcmp(magic, boot_magic, sizeof(boot_magic)) == 0 && image_ok == 0xff;
}

const char *shim_reset_reason_name(uint8_t reason)
{
	static const char *const names[] = {"none", "planned", "fatal error", "watchdog",
					    "CPU lockup"};

	return reason < sizeof(names) / sizeof(names[0]) ? names[reason] : "unknown";
}
