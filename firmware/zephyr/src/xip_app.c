/* SPDX-License-Identifier: MIT */
/*
 * The sample application's image-1 code. On the DK, CMakeLists.txt relocates this file's .text
 * and .rodata (with TinyCrypt's ECC, AES and CMAC and the generated table) to the QSPI XIP
 * window: it runs from the MX25R64 and is updated as image 1.
 *
 * Rules for this file, because it runs from QSPI:
 * - only src/xip.c calls it, under the XIP gate (never from an ISR, never while QSPI is being
 *   written); build.sh checks with objdump that no other internal-flash function calls into
 *   image 1;
 * - no logging: Zephyr's deferred log keeps a pointer to the format string (here: in QSPI) and
 *   formats it later, from the log thread, possibly while QSPI is busy;
 * - calls into internal flash are fine (TinyCrypt's SHA-256, memcpy): the linker adds the long
 *   branches.
 */
#include <string.h>

#include <zephyr/kernel.h>
#include <tinycrypt/aes.h>
#include <tinycrypt/cmac_mode.h>
#include <tinycrypt/constants.h>
#include <tinycrypt/ecc_dsa.h>
#include <tinycrypt/sha256.h>

#include "shim.h"
#include "xip_table.h"

/* the generated table (xip_table.S), relocated with this file */
extern const uint8_t shim_xip_table[SHIM_XIP_TABLE_SIZE];

/* FIPS-197 appendix C.1 and RFC 4493 section 4 (example 2): inputs of the known-answer tests */
static const uint8_t aes_key[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
				    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
static const uint8_t aes_in[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				   0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
static const uint8_t cmac_key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
				     0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
static const uint8_t cmac_msg[16] = {0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96,
				     0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93, 0x17, 0x2a};

static uint32_t fnv1a(const uint8_t *p, uint32_t n)
{
	uint32_t h = 2166136261u;

	for (uint32_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

#ifdef CONFIG_DFUMGR_TEST_HOOKS
/* the faults the native_posix tests inject where, on the DK, a bad image 1 would fault */
static void injected_fault(void)
{
	if (shim_hooks.fault_xip)
		k_oops();
	while (shim_hooks.hang_xip)
		k_busy_wait(1000);
}
#else
static void injected_fault(void)
{
}
#endif

void img1_selftest(const uint8_t pubkey[64], const uint8_t signature[64], struct img1_selftest *ret)
{
	struct tc_aes_key_sched_struct sched;
	struct tc_cmac_struct cmac;
	struct tc_sha256_state_struct sha;
	uint8_t digest[32];

	injected_fault();
	memset(ret, 0, sizeof(*ret));
	ret->fnv1a = fnv1a(shim_xip_table, SHIM_XIP_TABLE_SIZE);

	if (tc_aes128_set_encrypt_key(&sched, aes_key) == TC_CRYPTO_SUCCESS)
		(void)tc_aes_encrypt(ret->aes, aes_in, &sched);

	if (tc_cmac_setup(&cmac, cmac_key, &sched) == TC_CRYPTO_SUCCESS &&
	    tc_cmac_init(&cmac) == TC_CRYPTO_SUCCESS &&
	    tc_cmac_update(&cmac, cmac_msg, sizeof(cmac_msg)) == TC_CRYPTO_SUCCESS)
		(void)tc_cmac_final(ret->cmac, &cmac);
	(void)tc_cmac_erase(&cmac);

	/* SHA-256 is internal-flash code (DFU needs it with a broken image 1); ECC is image 1's */
	(void)tc_sha256_init(&sha);
	(void)tc_sha256_update(&sha, shim_xip_table, SHIM_XIP_TABLE_SIZE);
	(void)tc_sha256_final(digest, &sha);
	ret->ecdsa = uECC_verify(pubkey, digest, sizeof(digest), signature, uECC_secp256r1());
}

uint32_t img1_chunk_fnv1a(uint32_t chunk)
{
	uint32_t off = chunk * SHIM_XIP_CHUNK_SIZE;
	uint32_t n = SHIM_XIP_TABLE_SIZE - off < SHIM_XIP_CHUNK_SIZE ? SHIM_XIP_TABLE_SIZE - off
								     : SHIM_XIP_CHUNK_SIZE;

	return chunk < SHIM_XIP_CHUNKS ? fnv1a(shim_xip_table + off, n) : 0;
}
