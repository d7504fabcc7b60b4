/* SPDX-License-Identifier: MIT */
/*
 * The host port of bootutil: flash_area_* over the emulator's flash model (the flash files of a
 * board, laid out as dfumgr/wire.h's partition map), the signature key, logging, and the two
 * ways a boot ends early: a power cut (the flash model's write counter; the port leaves
 * bootutil with longjmp after that write, as MCUboot's simulator does) and a hang (a timer on
 * the process's own CPU time, so that a loaded machine does not look like a hang).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "bootutil/bootutil.h"
#include "bootutil/sign_key.h"
#include "bootutil_priv.h"
#include "flash_map_backend/flash_map_backend.h"
#include "mcuboot_config/mcuboot_logging.h"
#include "sysflash/sysflash.h"
#include "tinycrypt/ecc_platform_specific.h"

#include "../bootutil_port.h"
#include "dfumgr/wire.h"
#include "flash.h"

/* enum emu_mcuboot_outcome's values (firmware/emu/mcuboot.h, not included: one side only) */
#define OUT_BOOT       0
#define OUT_NO_IMAGE   1
#define OUT_HANG       2
#define OUT_POWER_LOST 3

#define SECTOR 4096u

static struct {
	struct emu_flash *dev[2]; /* 0 internal, 1 qspi */
	struct flash_area area[4];
	sigjmp_buf stop;
	volatile sig_atomic_t armed;
} port;

/* ---- keys (sign_key.h) ---- */

static uint8_t key_buf[256];
static unsigned int key_len;
const struct bootutil_key bootutil_keys[] = {{key_buf, &key_len}};
const int bootutil_key_cnt = 1;

int bootutil_port_init(struct emu_flash *internal, struct emu_flash *qspi, const uint8_t *key_der,
		       size_t len)
{
	static const struct {
		uint8_t dev;
		uint32_t off, size;
	} map[4] = {
	    {0, DFUMGR_IMG0_PRIMARY_OFFSET, DFUMGR_IMG0_SLOT_SIZE},
	    {1, DFUMGR_IMG0_SECONDARY_OFFSET, DFUMGR_IMG0_SLOT_SIZE},
	    {1, DFUMGR_IMG1_PRIMARY_OFFSET, DFUMGR_IMG1_SLOT_SIZE},
	    {1, DFUMGR_IMG1_SECONDARY_OFFSET, DFUMGR_IMG1_SLOT_SIZE},
	};

	if (len > sizeof(key_buf))
		return -1;
	memcpy(key_buf, key_der, len);
	key_len = (unsigned int)len;
	port.dev[0] = internal;
	port.dev[1] = qspi;
	for (int i = 0; i < 4; i++) {
		port.area[i].fa_id = (uint8_t)(i + 1);
		port.area[i].fa_device_id = map[i].dev;
		port.area[i].fa_off = map[i].off;
		port.area[i].fa_size = map[i].size;
	}
	return 0;
}

const char *bootutil_port_config(void)
{
	return "swap-move, 2 images, BOOT_MAX_IMG_SECTORS 1024, write size 4, BOOT_MAX_ALIGN 8, "
#ifdef PORT_SIGN_EC256
	       "ECDSA P-256 (TinyCrypt), "
#else
	       "SHA-256 only, "
#endif
#ifdef PORT_BUILD_NUMBER
	       "build numbers compared"
#else
	       "build numbers ignored"
#endif
	    ;
}

int bootutil_port_build_number(void)
{
#ifdef PORT_BUILD_NUMBER
	return 1;
#else
	return 0;
#endif
}

int bootutil_port_signed(void)
{
#ifdef PORT_SIGN_EC256
	return 1;
#else
	return 0;
#endif
}

/* TinyCrypt's default RNG: verifying a signature draws no random numbers */
int default_CSPRNG(uint8_t *dest, unsigned int size)
{
	(void)dest;
	(void)size;
	return 0;
}

/* ---- logging ---- */

void port_log(int level, const char *fmt, ...)
{
	const char *env = getenv("BOOTUTIL_LOG");
	va_list ap;

	if (!env || atoi(env) < level)
		return;
	fprintf(stderr, "bootutil: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- flash_area_* ---- */

int flash_area_open(uint8_t id, const struct flash_area **ret)
{
	if (id < 1 || id > 4)
		return -EINVAL;
	*ret = &port.area[id - 1];
	return 0;
}

void flash_area_close(const struct flash_area *fa)
{
	(void)fa;
}

/* Zephyr's is_in_flash_area_bounds(): off is a 32-bit off_t on the nRF5340 */
static bool in_area(const struct flash_area *fa, uint32_t off, uint32_t len)
{
	return off <= INT32_MAX && (uint64_t)off + len <= fa->fa_size;
}

int flash_area_read(const struct flash_area *fa, uint32_t off, void *dst, uint32_t len)
{
	if (!in_area(fa, off, len))
		return -EINVAL;
	return emu_flash_read(port.dev[fa->fa_device_id], fa->fa_off + off, dst, len) ? -EIO : 0;
}

static void after_write(const struct emu_flash *f)
{
	if (emu_power_lost(f->power))
		siglongjmp(port.stop, OUT_POWER_LOST);
}

int flash_area_write(const struct flash_area *fa, uint32_t off, const void *src, uint32_t len)
{
	struct emu_flash *f = port.dev[fa->fa_device_id];
	uint32_t cost = 0;
	int rc;

	if (!in_area(fa, off, len))
		return -EINVAL;
	rc = emu_flash_program(f, fa->fa_off + off, src, len, &cost);
	after_write(f);
	return rc ? -EIO : 0;
}

int flash_area_erase(const struct flash_area *fa, uint32_t off, uint32_t len)
{
	struct emu_flash *f = port.dev[fa->fa_device_id];
	uint32_t cost = 0;
	int rc;

	if (!in_area(fa, off, len))
		return -EINVAL;
	rc = emu_flash_erase(f, fa->fa_off + off, len, &cost);
	after_write(f);
	return rc ? -EIO : 0;
}

uint32_t flash_area_align(const struct flash_area *fa)
{
	(void)fa;
	return DFUMGR_MCUBOOT_WRITE_SIZE;
}

uint8_t flash_area_erased_val(const struct flash_area *fa)
{
	(void)fa;
	return 0xff;
}

int flash_area_get_sectors(int fa_id, uint32_t *count, struct flash_sector *sectors)
{
	const struct flash_area *fa;
	uint32_t n;

	if (flash_area_open((uint8_t)fa_id, &fa))
		return -EINVAL;
	n = fa->fa_size / SECTOR;
	if (n > *count)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		sectors[i].fs_off = i * SECTOR;
		sectors[i].fs_size = SECTOR;
	}
	*count = n;
	return 0;
}

int flash_area_get_sector(const struct flash_area *fa, uint32_t off, struct flash_sector *fs)
{
	if (off >= fa->fa_size)
		return -ERANGE;
	fs->fs_off = off / SECTOR * SECTOR;
	fs->fs_size = SECTOR;
	return 0;
}

int flash_area_id_from_multi_image_slot(int image_index, int slot)
{
	switch (slot) {
	case 0:
		return FLASH_AREA_IMAGE_PRIMARY(image_index);
	case 1:
		return FLASH_AREA_IMAGE_SECONDARY(image_index);
	default:
		return -EINVAL;
	}
}

int flash_area_id_from_image_slot(int slot)
{
	return flash_area_id_from_multi_image_slot(0, slot);
}

int flash_area_id_to_multi_image_slot(int image_index, int area_id)
{
	if (area_id == FLASH_AREA_IMAGE_PRIMARY(image_index))
		return 0;
	if (area_id == FLASH_AREA_IMAGE_SECONDARY(image_index))
		return 1;
	return -EINVAL;
}

/* ---- one boot ---- */

static void on_alarm(int sig)
{
	(void)sig;
	if (port.armed)
		siglongjmp(port.stop, OUT_HANG);
}

extern int boot_status_fails; /* swap_move.c, with MCUBOOT_VALIDATE_PRIMARY_SLOT */

void bootutil_port_boot(struct bootutil_run *ret, unsigned timeout_ms)
{
	static struct boot_loader_state state;
	struct emu_flash *in = port.dev[0], *q = port.dev[1];
	uint64_t writes0 = in->power ? in->power->writes : 0;
	uint64_t busy0 = in->busy_us + q->busy_us;
	struct itimerval t = {{0, 0}, {timeout_ms / 1000, (timeout_ms % 1000) * 1000}};
	struct itimerval off = {{0, 0}, {0, 0}};
	struct sigaction sa;
	struct boot_rsp rsp;
	int why;

	memset(ret, 0, sizeof(*ret));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGVTALRM, &sa, NULL);
	memset(&state, 0, sizeof(state));
	memset(&rsp, 0, sizeof(rsp));
	boot_status_fails = 0;
	why = sigsetjmp(port.stop, 1);
	if (why == 0) {
		port.armed = 1;
		setitimer(ITIMER_VIRTUAL, &t, NULL);
		ret->outcome =
		    context_boot_go(&state, &rsp) == FIH_SUCCESS ? OUT_BOOT : OUT_NO_IMAGE;
	} else {
		ret->outcome = why;
	}
	port.armed = 0;
	setitimer(ITIMER_VIRTUAL, &off, NULL);
	ret->swap_type[0] = state.swap_type[0];
	ret->swap_type[1] = state.swap_type[1];
	ret->writes = (in->power ? in->power->writes : 0) - writes0;
	ret->busy_us = in->busy_us + q->busy_us - busy0;
}
