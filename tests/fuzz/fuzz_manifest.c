/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the manifest parser and validator, plus the writer's round trip: whatever
 * parses must serialize, parse back to the same manifest, and serialize to the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "dfumgr/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_manifest m, back;
	char *json = NULL, *again = NULL;
	size_t json_size = 0, again_size = 0;
	int rc;

	if (!ctx)
		abort();
	rc = dfumgr_manifest_parse(ctx, data, size, &m);
	if (rc < 0) {
		/* every failure is a known code and says something */
		if (rc <= -DFUMGR_E_MAX || dfumgr_ctx_errcode(ctx) != -rc ||
		    !dfumgr_ctx_errmsg(ctx)[0])
			abort();
		goto out;
	}
	if (dfumgr_manifest_validate(ctx, &m) < 0)
		abort();
	if (m.n_images < 1 || m.n_images > DFUMGR_MANIFEST_IMAGES_MAX)
		abort();
	for (size_t i = 0; i < m.n_images; i++)
		if (dfumgr_manifest_image(&m, m.images[i].image) != &m.images[i])
			abort();
	if (dfumgr_manifest_serialize(ctx, &m, &json, &json_size) < 0)
		abort();
	if (strlen(json) != json_size || json_size > DFUMGR_MANIFEST_SIZE_MAX)
		abort();
	if (dfumgr_manifest_parse(ctx, (const uint8_t *)json, json_size, &back) < 0)
		abort();
	if (!dfumgr_manifest_equal(&m, &back))
		abort();
	if (dfumgr_manifest_serialize(ctx, &back, &again, &again_size) < 0)
		abort();
	if (again_size != json_size || memcmp(again, json, json_size) != 0)
		abort();
out:
	free(json);
	free(again);
	dfumgr_ctx_free(ctx);
	return 0;
}
