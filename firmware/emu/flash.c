/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dfu_dev.h"
#include "flash.h"

const struct emu_flash_timing emu_timing_nrf5340 = {87500, 4, 43};
const struct emu_flash_timing emu_timing_mx25r64 = {48000, 256, 900};
const struct emu_flash_timing emu_timing_none = {0, 1, 0};

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
	f->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (f->mem == MAP_FAILED) {
		rc = -errno;
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
	f->mem = NULL;
	f->fd = -1;
}

int emu_flash_erase(struct emu_flash *f, uint32_t off, uint32_t len, uint32_t *cost_us)
{
	if (off % f->erase_unit || len % f->erase_unit || off > f->size || len > f->size - off)
		return DFU_FLASH_RANGE;
	memset(f->mem + off, 0xff, len);
	if (f->stuck_at >= off && f->stuck_at - off < len) {
		f->mem[f->stuck_at] = 0xfe;
		f->stuck_at = UINT32_MAX; /* one-shot */
	}
	f->erases += len / f->erase_unit;
	*cost_us += f->timing.erase_us * (len / f->erase_unit);
	return 0;
}

int emu_flash_program(struct emu_flash *f, uint32_t off, const uint8_t *data, uint32_t len,
		      uint32_t *cost_us)
{
	uint32_t unit = f->timing.program_unit ? f->timing.program_unit : 1;

	if (off > f->size || len > f->size - off)
		return DFU_FLASH_RANGE;
	if (f->fail_program_at >= off && f->fail_program_at - off < len) {
		f->fail_program_at = UINT32_MAX; /* one-shot, like a marginal cell */
		return DFU_FLASH_PROGRAM_FAILED;
	}
	/* NOR: programming can only turn 1s into 0s */
	for (uint32_t i = 0; i < len; i++)
		f->mem[off + i] &= data[i];
	f->programs++;
	f->bytes_programmed += len;
	*cost_us += f->timing.program_us * ((len + unit - 1) / unit);
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
	if (off <= f->size && len <= f->size - off)
		memcpy(f->mem + off, data, len);
}
