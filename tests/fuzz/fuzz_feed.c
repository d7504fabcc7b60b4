/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the release feed parser. Whatever parses must serialize, parse back to the
 * same bytes, find a newest release for each of its products, and go into a new feed through
 * dfumgr_feed_put() (whose checks must accept all that the parser accepts).
 */
#include <stdlib.h>
#include <string.h>

#include "dfumgr/feed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_feed *feed = NULL, *back = NULL, *copy = NULL;
	char *json = NULL, *again = NULL;
	size_t json_size = 0, again_size = 0;
	int rc;

	if (!ctx)
		abort();
	rc = dfumgr_feed_parse(ctx, data, size, &feed);
	if (rc < 0) {
		/* every failure is a known code and says something */
		if (rc <= -DFUMGR_E_MAX || dfumgr_ctx_errcode(ctx) != -rc ||
		    !dfumgr_ctx_errmsg(ctx)[0])
			abort();
		goto out;
	}
	if (dfumgr_feed_serialize(ctx, feed, &json, &json_size) < 0)
		abort();
	if (strlen(json) != json_size || json_size > DFUMGR_FEED_SIZE_MAX)
		abort();
	if (dfumgr_feed_parse(ctx, (const uint8_t *)json, json_size, &back) < 0)
		abort();
	if (dfumgr_feed_serialize(ctx, back, &again, &again_size) < 0)
		abort();
	if (again_size != json_size || memcmp(again, json, json_size) != 0)
		abort();
	if (dfumgr_feed_count(back) != dfumgr_feed_count(feed) ||
	    dfumgr_feed_sequence(back) != dfumgr_feed_sequence(feed))
		abort();
	for (size_t i = 0; i < dfumgr_feed_products(feed); i++) {
		const char *p = dfumgr_feed_product(feed, i);
		const struct dfumgr_feed_release *r = dfumgr_feed_find(feed, p, NULL);

		if (!p || !r || strcmp(r->product, p) != 0)
			abort();
		if (dfumgr_feed_find(feed, p, r->release) == NULL)
			abort();
	}
	copy = dfumgr_feed_new();
	if (!copy)
		abort();
	for (size_t i = 0; i < dfumgr_feed_count(feed); i++)
		if (dfumgr_feed_put(ctx, copy, dfumgr_feed_get(feed, i)) < 0)
			abort();
	if (dfumgr_feed_count(copy) != dfumgr_feed_count(feed))
		abort();
out:
	free(json);
	free(again);
	dfumgr_feed_free(feed);
	dfumgr_feed_free(back);
	dfumgr_feed_free(copy);
	dfumgr_ctx_free(ctx);
	return 0;
}
