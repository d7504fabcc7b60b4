/* SPDX-License-Identifier: MIT */
/*
 * Recovery policy of the nRF5340 shim: what the board remembers across resets (a small record in
 * RAM that neither MCUboot nor the application's startup code touches) and what it decides at
 * boot from it.
 *
 * - Every fatal error and watchdog expiry resets the board. The record says why (written just
 *   before the reset, or taken from the chip's reset reason when no code could write it:
 *   watchdog, lockup).
 * - The next boot counts that as a fault of the running pair (identified by both images'
 *   SHA-256). An unconfirmed pair is reverted by MCUboot at that reset, so the pair that boots
 *   next is another one and starts from zero; a pair that keeps faulting (a confirmed one)
 *   reaches the limit and the board boots in safe mode: no image-1 (QSPI) code runs, USB DFU
 *   does, so a good pair can be installed.
 * - A power cycle (RAM lost) or a new pair starts over; a pair that runs healthy long enough
 *   clears its count.
 *
 * Pure C11, no Zephyr headers: the host unit tests build it.
 */
#ifndef SHIM_RECOVERY_H
#define SHIM_RECOVERY_H

#include <stdbool.h>
#include <stdint.h>

#define SHIM_RETAINED_MAGIC   0x52554644u /* "DFUR" */
#define SHIM_RETAINED_VERSION 1

/* Why the board reset, as far as the firmware could tell. */
enum shim_reset_reason {
	SHIM_RESET_NONE = 0,     /* nothing recorded: power-on, pin reset, debugger */
	SHIM_RESET_PLANNED = 1,  /* REBOOT request, revert of a failed pair, DETACH on some hosts */
	SHIM_RESET_FATAL = 2,    /* the fatal error handler (fault, oops, panic, stack overflow) */
	SHIM_RESET_WATCHDOG = 3, /* the watchdog expired: a health check failed */
	SHIM_RESET_LOCKUP = 4,   /* the CPU locked up (a fault inside the fault handler) */
};

/* What the chip's reset reason register says (hwinfo), reduced to what the policy needs. */
enum shim_hw_cause {
	SHIM_HW_UNKNOWN = 0, /* not available (native_posix) or nothing set */
	SHIM_HW_POWER_ON,    /* power-on or brown-out: RAM content is undefined */
	SHIM_HW_WATCHDOG,
	SHIM_HW_LOCKUP,
	SHIM_HW_OTHER, /* soft reset, pin reset, debugger */
};

/*
 * The retained record. Fixed-width fields in natural alignment, 32 bytes; the native_posix test
 * reads it from a file (little-endian, this order).
 */
struct shim_retained {
	uint32_t magic;      /* SHIM_RETAINED_MAGIC */
	uint16_t version;    /* SHIM_RETAINED_VERSION */
	uint16_t size;       /* sizeof(struct shim_retained) */
	uint32_t pair_id;    /* the pair the counts belong to (shim_recovery_pair_id()) */
	uint32_t boots;      /* boots of this pair since it was first seen */
	uint8_t faults;      /* faults of this pair since it was first seen or last ran healthy */
	uint8_t reason;      /* enum shim_reset_reason: written just before a reset, read at boot */
	uint8_t last_fault;  /* enum shim_reset_reason of the last counted fault */
	uint8_t safe_mode;   /* 1: this boot runs no image-1 code */
	uint32_t fault_pc;   /* program counter of the last fatal error, 0 if unknown */
	uint32_t fault_code; /* Zephyr's reason code of the last fatal error (K_ERR_*) */
	uint32_t crc;        /* CRC-32 (IEEE) of the bytes before it */
};

/* What shim_recovery_boot() decided. */
struct shim_boot_decision {
	bool fresh;         /* the record was invalid (power-on, first boot): started over */
	bool new_pair;      /* another pair than the record's: its count starts at zero */
	uint8_t reason;     /* enum shim_reset_reason of the reset that led to this boot */
	bool fault_counted; /* that reset was a fault of this pair and counted */
	unsigned faults;    /* this pair's fault count now */
	bool safe_mode;     /* faults >= limit: run no image-1 code */
};

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32()) of len bytes, continuing from crc. */
uint32_t shim_crc32(uint32_t crc, const void *data, uint32_t len);

/* True when r holds a record of this version with a matching CRC. */
bool shim_retained_valid(const struct shim_retained *r);

/* Sets magic, version, size and the CRC after a change. */
void shim_retained_seal(struct shim_retained *r);

/*
 * The identity of the running pair: CRC-32 of image 0's and image 1's SHA-256 (their SHA256
 * TLVs); either may be NULL (no image), which counts as 32 zero bytes.
 */
uint32_t shim_recovery_pair_id(const uint8_t sha0[32], const uint8_t sha1[32]);

/*
 * The boot-time decision, before any image-1 code runs: validates r (starts it over when it is
 * invalid or hw says power-on), works out why the board reset (r's reason, else hw's), counts a
 * fault against pair_id (or starts pair_id's count when the record was about another pair),
 * decides safe mode (fault_limit 0: never), clears the consumed reason and seals r.
 */
void shim_recovery_boot(struct shim_retained *r, uint32_t pair_id, enum shim_hw_cause hw,
			unsigned fault_limit, struct shim_boot_decision *ret_decision);

/*
 * Records why the board is about to reset (fault_pc/fault_code for SHIM_RESET_FATAL, else 0).
 * Safe to call from a fault handler: no calls but the CRC.
 */
void shim_recovery_note_reset(struct shim_retained *r, enum shim_reset_reason reason,
			      uint32_t fault_pc, uint32_t fault_code);

/* The pair ran healthy long enough: its fault count goes back to zero. */
void shim_recovery_healthy(struct shim_retained *r);

/*
 * MCUboot's primary-slot trailer: true when MCUboot reverts this image at the next reset (a test
 * swap that was not confirmed): the boot magic is set and image_ok is erased (0xff).
 */
bool shim_trailer_unconfirmed(const uint8_t magic[16], uint8_t image_ok);

/* Names for logs. */
const char *shim_reset_reason_name(uint8_t reason);

#endif
