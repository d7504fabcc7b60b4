/* SPDX-License-Identifier: MIT */
/*
 * MCUboot's own bootutil (loader.c, swap_move.c, ...), built for the host over the emulator's
 * flash model (port/flash_port.c): the reference the MCUboot model of firmware/emu is checked
 * against. One instance per process.
 */
#ifndef BOOTUTIL_PORT_H
#define BOOTUTIL_PORT_H

#include <stddef.h>
#include <stdint.h>

struct emu_flash;

struct bootutil_run {
	int outcome;          /* enum emu_mcuboot_outcome's values */
	uint8_t swap_type[2]; /* bootutil's state->swap_type[] afterwards */
	uint64_t writes;      /* flash_area_write + flash_area_erase calls */
	uint64_t busy_us;     /* their datasheet time (the flash model's accounting) */
};

/*
 * Binds the four slots of dfumgr/wire.h's partition map to these two devices (their power
 * counter is the cut hook) and sets the public key (DER SubjectPublicKeyInfo) the ECDSA build
 * checks signatures with (ignored by the hash-only build). Returns 0 or -1.
 */
int bootutil_port_init(struct emu_flash *internal, struct emu_flash *qspi, const uint8_t *key_der,
		       size_t key_len);
/* One power-on: context_boot_go(), stopped at a power cut, hung after timeout_ms of CPU time. */
void bootutil_port_boot(struct bootutil_run *ret, unsigned timeout_ms);
/* The configuration built in, for people. */
const char *bootutil_port_config(void);
/* 1 when this build compares build numbers, i.e. was built with PORT_BUILD_NUMBER. */
int bootutil_port_build_number(void);
/* 1 when this build checks ECDSA P-256 signatures. */
int bootutil_port_signed(void);

#endif
