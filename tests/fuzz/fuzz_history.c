/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the history record parser (what `dfu-mgr history` and a restarting daemon
 * read back), and its round trip: whatever parses must format, and parse back to the same
 * record.
 */
#include <stdlib.h>
#include <string.h>

#include "dfumgr/history.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_history_record r = {.size = sizeof(r)}, back = {.size = sizeof(back)};
	char *text = malloc(size + 1), *json = NULL, *again = NULL;
	int rc;

	if (!ctx || !text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	rc = dfumgr_history_parse(ctx, text, &r);
	if (rc < 0) {
		if ((rc != -DFUMGR_E_FORMAT && rc != -DFUMGR_E_UNSUPPORTED) ||
		    !dfumgr_ctx_errmsg(ctx)[0])
			abort();
		goto out;
	}
	if ((unsigned)r.event >= DFUMGR_HISTORY_EVENT_COUNT || r.time_ms < 0)
		abort();
	/* a record with a "result" member that is not a RESULT: formatted without it */
	if (r.event != DFUMGR_HISTORY_RESULT)
		r.result = DFUMGR_HISTORY_OK;
	if (dfumgr_history_format(ctx, &r, &json) < 0)
		abort();
	if (dfumgr_history_parse(ctx, json, &back) < 0)
		abort();
	if (dfumgr_history_format(ctx, &back, &again) < 0 || strcmp(json, again) != 0)
		abort();
out:
	free(json);
	free(again);
	free(text);
	dfumgr_ctx_free(ctx);
	return 0;
}
