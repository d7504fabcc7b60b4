/* SPDX-License-Identifier: MIT */
/*
 * Image 1 from the internal side: XIP is switched on right after the QSPI flash driver's init,
 * checked, and from then on every call into image-1 code goes through the gate below.
 *
 * The gate is how the firmware keeps the promise "no image-1 code runs while QSPI is written":
 * the MX25R64 answers no read while it erases or programs, so an instruction fetch from the XIP
 * window would return garbage and fault. Image-1 code is entered only here, under a shared hold
 * (shim_xip_enter); platform.c takes the exclusive hold (shim_qspi_write_begin) around every
 * erase and program of a QSPI area, which waits for running image-1 calls to return and keeps
 * new ones out. That covers DFU downloads, COMMIT's trailer writes and the boot confirmation.
 * Nothing else in the application writes QSPI, no ISR and no init function runs image-1 code
 * (build.sh checks the interrupt and init tables and every direct call into the EXTFLASH region
 * with objdump), and the fatal error handler is internal code that touches no flash.
 */
#include <errno.h>
#include <string.h>

#include <zephyr/device.h>
#include <zephyr/init.h>
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#ifdef SHIM_HAVE_XIP
#include <zephyr/drivers/flash.h>
#include <zephyr/drivers/flash/nrf_qspi_nor.h>
#include <hal/nrf_clock.h>
#endif

#include "dfumgr/wire.h"
#include "shim.h"
#include "xip_table.h"

LOG_MODULE_REGISTER(shim_xip, LOG_LEVEL_INF);

/* in the image-1 table's section, from the generated xip_table.S */
extern const uint8_t shim_xip_table[SHIM_XIP_TABLE_SIZE];

/* what the image-1 code must compute: compiled into internal flash (image 0) */
static const uint8_t xip_pubkey[64] = SHIM_XIP_PUBKEY;
static const uint8_t xip_signature[64] = SHIM_XIP_SIGNATURE;
static const uint32_t xip_chunk_fnv1a[SHIM_XIP_CHUNKS] = SHIM_XIP_CHUNK_FNV1A;
/* FIPS-197 C.1 ciphertext, RFC 4493 example 2 tag */
static const uint8_t aes_expect[16] = {0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30,
				       0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a};
static const uint8_t cmac_expect[16] = {0x07, 0x0a, 0x16, 0xb4, 0x6b, 0x4d, 0x41, 0x44,
					0xf7, 0x9b, 0xdd, 0x9d, 0xd0, 0x4a, 0x28, 0x7c};

static K_MUTEX_DEFINE(gate_lock);
static K_CONDVAR_DEFINE(gate_cond);
static unsigned gate_users; /* image-1 calls in progress */
static bool gate_writing;   /* a QSPI erase/program in progress */
static bool gate_open;      /* XIP is up and image-1 code may run */
static uint32_t app_chunk;
static int64_t app_next_ms;

int shim_xip_enter(void)
{
	int rc = 0;

	if (k_is_in_isr())
		return -EWOULDBLOCK;
	k_mutex_lock(&gate_lock, K_FOREVER);
	while (gate_open && gate_writing)
		(void)k_condvar_wait(&gate_cond, &gate_lock, K_FOREVER);
	if (gate_open)
		gate_users++;
	else
		rc = -EPERM;
	k_mutex_unlock(&gate_lock);
	return rc;
}

void shim_xip_exit(void)
{
	k_mutex_lock(&gate_lock, K_FOREVER);
	if (gate_users > 0 && --gate_users == 0)
		(void)k_condvar_broadcast(&gate_cond);
	k_mutex_unlock(&gate_lock);
}

/*
 * Must not be called while the same thread is inside image-1 code (it would wait for itself):
 * image-1 code writes no flash.
 */
void shim_qspi_write_begin(void)
{
	k_mutex_lock(&gate_lock, K_FOREVER);
	while (gate_writing || gate_users > 0)
		(void)k_condvar_wait(&gate_cond, &gate_lock, K_FOREVER);
	gate_writing = true;
	k_mutex_unlock(&gate_lock);
}

void shim_qspi_write_end(void)
{
	k_mutex_lock(&gate_lock, K_FOREVER);
	gate_writing = false;
	(void)k_condvar_broadcast(&gate_cond);
	k_mutex_unlock(&gate_lock);
}

void shim_xip_close(const char *why)
{
	k_mutex_lock(&gate_lock, K_FOREVER);
	gate_open = false;
	(void)k_condvar_broadcast(&gate_cond);
	k_mutex_unlock(&gate_lock);
	LOG_WRN("No image-1 code from now on: %s", why);
}

#ifdef SHIM_HAVE_XIP
#define QSPI_NODE DT_NODELABEL(mx25r64)

/*
 * Zephyr 3.4's nrf_qspi_nor picks HFCLK192M / 1 only for SCK in [32, 48) MHz (and 96 MHz, beyond
 * the MX25R64): the anomaly 159 workaround needs that divider (boards/ overlay says why).
 */
BUILD_ASSERT(DT_PROP(QSPI_NODE, sck_frequency) >= 32000000 &&
		 DT_PROP(QSPI_NODE, sck_frequency) < 48000000,
	     "mx25r64 sck-frequency must be in [32, 48) MHz: HFCLK192M / 1 while XIP is on");
/* XIP comes up right after the QSPI flash driver, before anything could call into image 1 */
BUILD_ASSERT(CONFIG_DFUMGR_XIP_INIT_PRIORITY > CONFIG_NORDIC_QSPI_NOR_INIT_PRIORITY,
	     "XIP must be enabled after the QSPI flash driver's init");

static bool in_image1(uintptr_t addr)
{
	uintptr_t lo =
	    DFUMGR_QSPI_XIP_BASE + DFUMGR_IMG1_PRIMARY_OFFSET + DFUMGR_IMAGE_HEADER_OFFSET;
	uintptr_t hi = DFUMGR_QSPI_XIP_BASE + DFUMGR_IMG1_PRIMARY_OFFSET + DFUMGR_IMG1_SLOT_SIZE;

	return addr >= lo && addr < hi;
}

/* Why XIP cannot be used, or NULL. Runs before any image-1 code. */
static const char *xip_bring_up(void)
{
	const struct device *qspi = DEVICE_DT_GET(QSPI_NODE);
	const uint8_t *window =
	    (const uint8_t *)(DFUMGR_QSPI_XIP_BASE + DFUMGR_IMG1_PRIMARY_OFFSET);
	uintptr_t fn = (uintptr_t)&img1_selftest & ~(uintptr_t)1; /* Thumb bit */
	uint8_t hdr[32];

	/* the linker put image 1 where MCUboot puts it (build.sh checks the same with nm) */
	if (!in_image1(fn) || !in_image1((uintptr_t)shim_xip_table))
		return "image-1 code is not linked into image 1's slot";
	/* device_is_ready() is true only once the driver's init has run and succeeded */
	if (!device_is_ready(qspi))
		return "the QSPI flash driver is not ready (init order or init failure)";
	nrf_qspi_nor_xip_enable(qspi, true);
	if (nrf_clock_hfclk192m_div_get(NRF_CLOCK) != NRF_CLOCK_HFCLK_DIV_1)
		return "HFCLK192M is divided while XIP is on (anomaly 159)";
	if (nrf_clock_hfclk_div_get(NRF_CLOCK) != NRF_CLOCK_HFCLK_DIV_2)
		return "the CPU does not run at 64 MHz (anomaly 159)";
	/* the window shows the chip: image 1's header, through XIP and through the driver */
	if (flash_read(qspi, DFUMGR_IMG1_PRIMARY_OFFSET, hdr, sizeof(hdr)) != 0)
		return "cannot read image 1's header through the driver";
	if (memcmp(window, hdr, sizeof(hdr)) != 0)
		return "the XIP window does not show image 1's header";
	return NULL;
}
#else
/* native_posix_64: "image 1" is ordinary code in the executable */
static const char *xip_bring_up(void)
{
	return NULL;
}
#endif

static int xip_init(void)
{
	const char *why = xip_bring_up();

	if (why) {
		/* loud, and safe: the self-test fails, an unconfirmed pair reverts, DFU stays up */
		LOG_ERR("XIP not enabled: %s. No image-1 code will run", why);
		return 0;
	}
	k_mutex_lock(&gate_lock, K_FOREVER);
	gate_open = true;
	k_mutex_unlock(&gate_lock);
	return 0;
}

#ifdef SHIM_HAVE_XIP
SYS_INIT(xip_init, POST_KERNEL, CONFIG_DFUMGR_XIP_INIT_PRIORITY);
#else
SYS_INIT(xip_init, POST_KERNEL, 90);
#endif

/*
 * TinyCrypt's ECC needs a random source for signing and key generation (ecc.c's default
 * g_rng_function). This application only verifies, and the nRF5340's application core has no
 * RNG of its own: 0 means "no random bytes", so a signature attempt fails instead of using
 * predictable ones.
 */
int default_CSPRNG(uint8_t *dest, unsigned int size);
int default_CSPRNG(uint8_t *dest, unsigned int size)
{
	ARG_UNUSED(dest);
	ARG_UNUSED(size);
	return 0;
}

int shim_xip_selftest(uint32_t *ret_hash)
{
	struct img1_selftest r;
	int rc;

	*ret_hash = 0;
#ifdef CONFIG_DFUMGR_TEST_HOOKS
	if (shim_hooks.xip_delay_ms) {
		LOG_INF("image-1 code held back %u ms (test hook)", shim_hooks.xip_delay_ms);
		k_msleep(shim_hooks.xip_delay_ms);
	}
#endif
	rc = shim_xip_enter();
	if (rc != 0)
		return rc;
	img1_selftest(xip_pubkey, xip_signature, &r);
	shim_xip_exit();
	*ret_hash = r.fnv1a;
	if (r.fnv1a != SHIM_XIP_TABLE_FNV1A) {
		LOG_ERR("image-1 table hash 0x%08x, expected 0x%08x", r.fnv1a,
			SHIM_XIP_TABLE_FNV1A);
		return -EIO;
	}
	if (memcmp(r.aes, aes_expect, sizeof(aes_expect)) != 0 ||
	    memcmp(r.cmac, cmac_expect, sizeof(cmac_expect)) != 0) {
		LOG_ERR("image-1 AES/CMAC known answers wrong");
		return -EIO;
	}
	if (r.ecdsa != 1) {
		LOG_ERR("image-1 ECDSA P-256 verify of the table failed");
		return -EIO;
	}
	return 0;
}

int shim_xip_app_tick(void)
{
	int64_t now = k_uptime_get();
	uint32_t chunk = app_chunk;
	uint32_t h;

	if (CONFIG_DFUMGR_APP_PERIOD_MS == 0 || now < app_next_ms)
		return 0;
	app_next_ms = now + CONFIG_DFUMGR_APP_PERIOD_MS;
	if (shim_xip_enter() != 0)
		return 0; /* safe mode, or XIP down: nothing to do */
	h = img1_chunk_fnv1a(chunk);
	shim_xip_exit();
	app_chunk = (chunk + 1) % SHIM_XIP_CHUNKS;
	if (h != xip_chunk_fnv1a[chunk]) {
		LOG_ERR("image-1 chunk %u hashes 0x%08x, expected 0x%08x", chunk, h,
			xip_chunk_fnv1a[chunk]);
		return -EIO;
	}
	return 0;
}
