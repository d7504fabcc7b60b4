/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dfu_dev.h"
#include "flash.h"

const struct emu_flash_timing emu_timing_nrf5340 = {87500, 4, 43};
const struct emu_flash_timing emu_timing_mx25r64 = {48000, 256, 900};
const struct emu_flash_timing emu_timing_none = {0, 1, 0};

void emu_power_arm(struct emu_power *p, uint64_t n)
{
	p->writes = 0;
	p->cut_after = n;
	p->cut = false;
}

void emu_power_restore(struct emu_power *p)
{
	emu_power_arm(p, UINT64_MAX);
}

int emu_flash_open(struct emu_flash *f, const char *path, const char *name, uint32_t size,
		   uint32_t erase_unit, const struct emu_flash_timing *t)
{
	struct stat st;
	bool fresh;
	int fd, rc;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	fresh = st.st_size == 0;
	if (st.st_size != (off_t)size && ftruncate(fd, size) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	f->dirty = calloc(size / erase_unit / 8 + 1, 1);
	f->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (f->mem == MAP_FAILED || !f->dirty) {
		rc = f->mem == MAP_FAILED ? -errno : -ENOMEM;
		if (f->mem != MAP_FAILED)
			munmap(f->mem, size);
		f->mem = NULL;
		free(f->dirty);
		f->dirty = NULL;
		close(fd);
		return rc;
	}
	if (fresh)
		memset(f->mem, 0xff, size); /* a new chip is erased */
	f->fd = fd;
	f->name = name;
	f->size = size;
	f->erase_unit = erase_unit;
	f->timing = *t;
	f->datasheet = *t;
	f->fail_program_at = UINT32_MAX;
	f->corrupt_read_at = UINT32_MAX;
	f->stuck_at = UINT32_MAX;
	return 0;
}

void emu_flash_close(struct emu_flash *f)
{
	if (f->mem && f->mem != MAP_FAILED)
		munmap(f->mem, f->size);
	if (f->fd >= 0)
		close(f->fd);
	free(f->dirty);
	f->dirty = NULL;
	f->mem = NULL;
	f->fd = -1;
}

uint64_t emu_flash_cost_us(const struct emu_flash_timing *t, uint32_t erase_unit, bool erase,
			   uint32_t len)
{
	uint32_t unit = t->program_unit ? t->program_unit : 1;

	if (erase)
		return (uint64_t)t->erase_us * (len / erase_unit);
	return (uint64_t)t->program_us * ((len + unit - 1) / unit);
}

static void mark_dirty(struct emu_flash *f, uint32_t off, uint32_t len)
{
	if (!f->dirty || !len)
		return;
	for (uint32_t u = off / f->erase_unit; u <= (off + len - 1) / f->erase_unit; u++)
		f->dirty[u / 8] |= (uint8_t)(1u << (u % 8));
}

void emu_flash_dirty_clear(struct emu_flash *f)
{
	if (f->dirty)
		memset(f->dirty, 0, f->size / f->erase_unit / 8 + 1);
}

/* The power budget: false when the board has no power left for this write. */
static bool power_take(struct emu_flash *f)
{
	if (!f->power)
		return true;
	if (f->power->cut)
		return false;
	if (f->power->writes >= f->power->cut_after) {
		f->power->cut = true; /* armed with 0: this write is the one that never happens */
		return false;
	}
	f->power->writes++;
	return true;
}

/* After a write that took effect: trace it, and lose power if that was the last one. */
static void power_done(struct emu_flash *f, bool erase, uint32_t off, const uint8_t *data,
		       uint32_t len)
{
	struct emu_power *p = f->power;
	struct emu_flash_write w = {f, erase, off, len, data};

	f->busy_us += emu_flash_cost_us(&f->datasheet, f->erase_unit, erase, len);
	mark_dirty(f, off, len);
	if (!p)
		return;
	if (p->trace)
		p->trace(p->trace_user, &w);
	if (p->writes >= p->cut_after)
		p->cut = true;
}

int emu_flash_erase(struct emu_flash *f, uint32_t off, uint32_t len, uint32_t *cost_us)
{
	if (off % f->erase_unit || len % f->erase_unit || off > f->size || len > f->size - off)
		return DFU_FLASH_RANGE;
	if (!power_take(f))
		return DFU_FLASH_ERASE_FAILED;
	memset(f->mem + off, 0xff, len);
	if (f->stuck_at >= off && f->stuck_at - off < len) {
		f->mem[f->stuck_at] = 0xfe;
		f->stuck_at = UINT32_MAX; /* one-shot */
	}
	f->erases += len / f->erase_unit;
	*cost_us += (uint32_t)emu_flash_cost_us(&f->timing, f->erase_unit, true, len);
	power_done(f, true, off, NULL, len);
	return 0;
}

int emu_flash_program(struct emu_flash *f, uint32_t off, const uint8_t *data, uint32_t len,
		      uint32_t *cost_us)
{
	if (off > f->size || len > f->size - off)
		return DFU_FLASH_RANGE;
	if (f->fail_program_at >= off && f->fail_program_at - off < len) {
		f->fail_program_at = UINT32_MAX; /* one-shot, like a marginal cell */
		return DFU_FLASH_PROGRAM_FAILED;
	}
	if (!power_take(f))
		return DFU_FLASH_PROGRAM_FAILED;
	/* NOR: programming can only turn 1s into 0s */
	for (uint32_t i = 0; i < len; i++)
		f->mem[off + i] &= data[i];
	f->programs++;
	f->bytes_programmed += len;
	*cost_us += (uint32_t)emu_flash_cost_us(&f->timing, f->erase_unit, false, len);
	power_done(f, false, off, data, len);
	return 0;
}

int emu_flash_read(struct emu_flash *f, uint32_t off, uint8_t *data, uint32_t len)
{
	if (off > f->size || len > f->size - off)
		return DFU_FLASH_RANGE;
	memcpy(data, f->mem + off, len);
	if (f->corrupt_read_at >= off && f->corrupt_read_at - off < len)
		data[f->corrupt_read_at - off] ^= 0x01;
	return 0;
}

void emu_flash_write_raw(struct emu_flash *f, uint32_t off, const uint8_t *data, uint32_t len)
{
	if (off <= f->size && len <= f->size - off) {
		memcpy(f->mem + off, data, len);
		mark_dirty(f, off, len);
	}
}
