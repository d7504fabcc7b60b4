/* SPDX-License-Identifier: MIT */
/* Flash area ids of the host port: image 0 primary/secondary, image 1 primary/secondary. */
#ifndef SYSFLASH_H
#define SYSFLASH_H

#define FLASH_AREA_IMAGE_PRIMARY(x)   ((x) == 0 ? 1 : 3)
#define FLASH_AREA_IMAGE_SECONDARY(x) ((x) == 0 ? 2 : 4)
#define FLASH_AREA_IMAGE_SCRATCH      255

#endif
