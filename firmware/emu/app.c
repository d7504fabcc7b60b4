/* SPDX-License-Identifier: MIT */
/*
 * The emulated application's start, once MCUboot has jumped to it (firmware/zephyr's main.c and
 * confirm.c): the XIP self-test, then the confirm of a test-swapped pair with the shim core's
 * own dfu_dev_confirm(), the code the nRF5340 application runs.
 *
 * The self-test stands for image 0's code calling into image 1's: it works only when each image
 * finds the other at the version it depends on (MCUboot's comparison, build numbers as
 * configured); otherwise the application faults and the watchdog resets the board.
 */
#include <stdio.h>
#include <string.h>

#include "board.h"
#include "dfumgr/image.h"

static int version_cmp(const struct emu_board *b, const struct dfumgr_image_version *x,
		       const struct dfumgr_image_version *y)
{
	if (x->major != y->major)
		return x->major > y->major ? 1 : -1;
	if (x->minor != y->minor)
		return x->minor > y->minor ? 1 : -1;
	if (x->revision != y->revision)
		return x->revision > y->revision ? 1 : -1;
	if (b->version_cmp_build && x->build != y->build)
		return x->build > y->build ? 1 : -1;
	return 0;
}

static bool running_image(struct emu_board *b, unsigned i, struct dfumgr_image *ret)
{
	uint32_t base;
	struct emu_flash *f = emu_board_area(b, dfu_area_primary(i), &base);
	uint32_t size = i == 0 ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE;

	return dfumgr_image_parse(NULL, f->mem + base, size, ret) == 0 &&
	       dfumgr_image_check_hash(NULL, ret, NULL) == 0;
}

/* Every dependency of each running image on the other is met. */
static bool pair_matches(struct emu_board *b, const struct dfumgr_image img[DFUMGR_N_IMAGES])
{
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		for (size_t d = 0; d < img[i].n_deps; d++) {
			unsigned j = img[i].deps[d].image_id;

			if (j >= DFUMGR_N_IMAGES ||
			    version_cmp(b, &img[j].version, &img[i].deps[d].min_version) < 0)
				return false;
		}
	}
	return true;
}

void emu_app_start(struct emu_board *b)
{
	struct dfumgr_image img[DFUMGR_N_IMAGES];
	char msg[96];
	size_t n;
	int rc;

	if (!running_image(b, 0, &img[0]) || !running_image(b, 1, &img[1]) ||
	    !pair_matches(b, img)) {
		/* the application's code and the XIP code do not belong together: it faults */
		b->app = EMU_APP_CRASHED;
		snprintf(msg, sizeof(msg), "application crashed: image 1 does not match image 0");
	} else if ((rc = dfu_dev_confirm(&b->dev)) != DFU_CONFIRM_DONE) {
		/* confirm.c: a pair it cannot confirm runs unconfirmed; MCUboot reverts it later */
		b->app = EMU_APP_TESTING;
		snprintf(msg, sizeof(msg), "application could not confirm the pair (%d)", rc);
	} else {
		b->app = EMU_APP_CONFIRMED;
		snprintf(msg, sizeof(msg), "application running");
	}
	n = strlen(b->last_boot);
	snprintf(b->last_boot + n, sizeof(b->last_boot) - n, "%s%s", n ? "; " : "", msg);
}
