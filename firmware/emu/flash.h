/* SPDX-License-Identifier: MIT */
/*
 * NOR flash model for dfu-mgr-emu: erase-before-write (programming only clears bits), contents
 * kept in a file (mmap'ed, MAP_SHARED) so they survive a killed emulator, i.e. a power cut, and
 * a timing model from the datasheets.
 */
#ifndef EMU_FLASH_H
#define EMU_FLASH_H

#include <stdbool.h>
#include <stdint.h>

struct emu_flash_timing {
	uint32_t erase_us;     /* per erase unit */
	uint32_t program_unit; /* bytes programmed per step (word or page) */
	uint32_t program_us;   /* per program_unit */
};

/* nRF5340 NVMC: 87.5 ms per 4 KiB page erase, 43 us per 32-bit word (product spec, typical). */
extern const struct emu_flash_timing emu_timing_nrf5340;
/* MX25R6435F: 48 ms per 4 KiB sector erase, 0.9 ms per 256-byte page program (SFDP, typical). */
extern const struct emu_flash_timing emu_timing_mx25r64;
extern const struct emu_flash_timing emu_timing_none;

struct emu_flash {
	const char *name; /* "internal" or "qspi" */
	uint8_t *mem;     /* mmap of the backing file */
	uint32_t size;
	uint32_t erase_unit;
	struct emu_flash_timing timing;
	int fd;
	/* fault knobs: the next program that covers this offset fails (UINT32_MAX: off) */
	uint32_t fail_program_at;
	/* reads of this byte return it with bit 0 flipped (UINT32_MAX: off) */
	uint32_t corrupt_read_at;
	/* the next erase that covers this byte leaves it at 0xfe: a worn cell (UINT32_MAX: off) */
	uint32_t stuck_at;
	uint64_t erases, programs, bytes_programmed;
};

/* Opens (creating it erased, 0xff) the backing file; 0 or -errno. */
int emu_flash_open(struct emu_flash *f, const char *path, const char *name, uint32_t size,
		   uint32_t erase_unit, const struct emu_flash_timing *t);
void emu_flash_close(struct emu_flash *f);
/* Operations at absolute offsets; return 0 or a negative enum dfu_flash_result. */
int emu_flash_erase(struct emu_flash *f, uint32_t off, uint32_t len, uint32_t *cost_us);
int emu_flash_program(struct emu_flash *f, uint32_t off, const uint8_t *data, uint32_t len,
		      uint32_t *cost_us);
int emu_flash_read(struct emu_flash *f, uint32_t off, uint8_t *data, uint32_t len);
/* Writes without timing or faults (factory programming, MCUboot's copies). */
void emu_flash_write_raw(struct emu_flash *f, uint32_t off, const uint8_t *data, uint32_t len);

#endif
