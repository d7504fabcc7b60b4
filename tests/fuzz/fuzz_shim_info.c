/* SPDX-License-Identifier: MIT */
/* libFuzzer harness: the host's decoder of the shim's GET_INFO reply (what a device sends). */
#include <stdlib.h>

#include "dfumgr/shim_info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfumgr_shim_info info;

	if (dfumgr_shim_info_parse(NULL, data, size, &info) < 0)
		return 0;
	/* what list/update rely on */
	if (info.n_images < 1 || info.n_images > DFUMGR_N_IMAGES || info.serial[DFUMGR_SERIAL_MAX])
		abort();
	(void)dfumgr_slot_state_name(info.images[0].slot_state);
	(void)dfumgr_commit_state_name(info.commit_state);
	return 0;
}
