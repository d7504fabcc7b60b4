/* SPDX-License-Identifier: MIT */
/*
 * NOR flash model for dfu-mgr-emu: erase-before-write (programming only clears bits), contents
 * kept in a file (mmap'ed, MAP_SHARED) so they survive a killed emulator, i.e. a power cut, and
 * a timing model from the datasheets.
 *
 * A board's two devices share one power supply (struct emu_power): every erase and every
 * program call is one "write" on its counter, and "cut after write N" loses power right after
 * the N-th: later writes are dropped, so whatever was in progress (a DFU block, a commit, an
 * MCUboot swap, a confirm) stops there, exactly as on a board whose supply fails.
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

struct emu_flash;

/* What a trace hook sees of one write (after it took effect). */
struct emu_flash_write {
	const struct emu_flash *flash;
	bool erase;
	uint32_t off, len;   /* absolute, in the device */
	const uint8_t *data; /* the bytes programmed (NULL for an erase) */
};

/* The power supply of one board, shared by its flash devices. */
struct emu_power {
	uint64_t writes;    /* erase and program calls since the last emu_power_arm() */
	uint64_t cut_after; /* lose power once this many writes are done (UINT64_MAX: never) */
	bool cut;           /* power is lost: every later write is dropped */
	/* optional: called after every write that took effect (tests record write sequences) */
	void (*trace)(void *user, const struct emu_flash_write *w);
	void *trace_user;
};

/*
 * Restarts the write counter; power is lost right after n more writes (UINT64_MAX: never; 0: at
 * the next write, which does not happen).
 */
void emu_power_arm(struct emu_power *p, uint64_t n);
/* Power back on, counter disarmed (the trace hook stays). */
void emu_power_restore(struct emu_power *p);
static inline bool emu_power_lost(const struct emu_power *p)
{
	return p && p->cut;
}

struct emu_flash {
	const char *name; /* "internal" or "qspi" */
	uint8_t *mem;     /* mmap of the backing file */
	uint32_t size;
	uint32_t erase_unit;
	struct emu_flash_timing timing; /* what erase/program report as their cost */
	int fd;
	struct emu_power *power; /* NULL: never loses power */
	/*
	 * The datasheet's times, accounted for every write whatever `timing` reports (the
	 * emulator may run with --timing none): busy_us sums them, so that how long MCUboot's
	 * swap keeps the board busy is known without ever sleeping.
	 */
	struct emu_flash_timing datasheet;
	uint64_t busy_us;
	/* erase units written since emu_flash_dirty_clear(): cheap snapshots and comparisons */
	uint8_t *dirty;
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
/*
 * Operations at absolute offsets; return 0 or a negative enum dfu_flash_result. A write while
 * the power is lost does nothing and fails (DFU_FLASH_ERASE_FAILED / _PROGRAM_FAILED).
 */
int emu_flash_erase(struct emu_flash *f, uint32_t off, uint32_t len, uint32_t *cost_us);
int emu_flash_program(struct emu_flash *f, uint32_t off, const uint8_t *data, uint32_t len,
		      uint32_t *cost_us);
int emu_flash_read(struct emu_flash *f, uint32_t off, uint8_t *data, uint32_t len);
/* Writes without timing, faults or the power counter (factory programming, test set-up). */
void emu_flash_write_raw(struct emu_flash *f, uint32_t off, const uint8_t *data, uint32_t len);
/* The datasheet time of a write of len bytes (erase: len a multiple of the erase unit). */
uint64_t emu_flash_cost_us(const struct emu_flash_timing *t, uint32_t erase_unit, bool erase,
			   uint32_t len);

/* Dirty tracking, per erase unit (unit index = offset / erase_unit). */
void emu_flash_dirty_clear(struct emu_flash *f);
static inline bool emu_flash_dirty(const struct emu_flash *f, uint32_t unit)
{
	return f->dirty && (f->dirty[unit / 8] >> (unit % 8) & 1);
}

#endif
