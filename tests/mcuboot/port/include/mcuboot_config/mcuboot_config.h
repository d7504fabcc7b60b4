/* SPDX-License-Identifier: MIT */
/*
 * bootutil's configuration for the host build of tests/mcuboot: what this product's MCUboot is
 * built with (firmware/zephyr/mcuboot/mcuboot.conf, MCUboot's Zephyr prj.conf), as the Zephyr
 * port's mcuboot_config.h would turn those Kconfig options into MCUBOOT_* macros:
 *   CONFIG_UPDATEABLE_IMAGE_NUMBER=2, CONFIG_BOOT_SWAP_USING_MOVE=y,
 *   CONFIG_BOOT_MAX_IMG_SECTORS=1024, CONFIG_BOOT_VALIDATE_SLOT0=y, CONFIG_BOOT_FIH_PROFILE_OFF,
 *   CONFIG_BOOT_SIGNATURE_TYPE_ECDSA_P256 + CONFIG_BOOT_ECDSA_TINYCRYPT (PORT_SIGN_EC256),
 *   CONFIG_BOOT_VERSION_CMP_USE_BUILD_NUMBER (PORT_BUILD_NUMBER), no CONFIG_ASSERT.
 * The two PORT_* switches come from CMake: one executable per variant.
 */
#ifndef MCUBOOT_CONFIG_H
#define MCUBOOT_CONFIG_H

#define MCUBOOT_IMAGE_NUMBER    2
#define MCUBOOT_SWAP_USING_MOVE 1
#define MCUBOOT_MAX_IMG_SECTORS 1024
#define MCUBOOT_VALIDATE_PRIMARY_SLOT
#define MCUBOOT_USE_FLASH_AREA_GET_SECTORS
#define MCUBOOT_FIH_PROFILE_OFF
#define MCUBOOT_USE_TINYCRYPT
#ifdef PORT_SIGN_EC256
#define MCUBOOT_SIGN_EC256
#endif
#ifdef PORT_BUILD_NUMBER
#define MCUBOOT_VERSION_CMP_USE_BUILD_NUMBER
#endif
#define MCUBOOT_HAVE_LOGGING 1

#define MCUBOOT_WATCHDOG_FEED()                                                                    \
	do {                                                                                       \
	} while (0)
#define MCUBOOT_CPU_IDLE()                                                                         \
	do {                                                                                       \
	} while (0)

#endif
