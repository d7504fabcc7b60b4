/* SPDX-License-Identifier: MIT */
/* dfu-mgr publish: a signed bundle into a signed release feed, ready for a static HTTPS server. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dfumgr/crypto.h"
#include "dfumgr/feed.h"
#include "dfumgr/keyring.h"

enum { OPT_FEED = 300, OPT_URL_BASE, OPT_URL };

/* base + "/" + the bundle directory's name + "/", into a new string. */
static char *join_url(const char *base, const char *bundle)
{
	size_t end = strlen(bundle), start, bl = strlen(base);
	char *out;
	int n;

	while (end > 1 && bundle[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && bundle[start - 1] != '/')
		start--;
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	out = malloc(bl + (end - start) + 3);
	if (!out)
		return NULL;
	n = snprintf(out, bl + (end - start) + 3, "%.*s/%.*s/", (int)bl, base, (int)(end - start),
		     bundle + start);
	if (n < 0) {
		free(out);
		return NULL;
	}
	return out;
}

int cmd_publish(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"feed", required_argument, NULL, OPT_FEED},
	    {"key", required_argument, NULL, 'k'},
	    {"keys", required_argument, NULL, 'K'},
	    {"keydir", required_argument, NULL, 'K'},
	    {"url-base", required_argument, NULL, OPT_URL_BASE},
	    {"url", required_argument, NULL, OPT_URL},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *feed_path = NULL, *key_path = NULL, *bases[DFUMGR_FEED_URLS_MAX];
	char *key_dirs[16], *urls[DFUMGR_FEED_URLS_MAX] = {0};
	size_t n_dirs = 0, n_bases = 0, n_urls = 0;
	struct dfumgr_keyring *ring = NULL;
	struct dfumgr_key *key = NULL;
	uint64_t seq = 0;
	bool own_urls = false;
	int c, rc, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "k:K:jh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FEED:
			feed_path = optarg;
			break;
		case 'k':
			key_path = optarg;
			break;
		case 'K':
			if (n_dirs == 16)
				return cli_usage_error(cli, "publish", "too many --keys");
			key_dirs[n_dirs++] = optarg;
			break;
		case OPT_URL_BASE:
		case OPT_URL:
			if (n_bases == DFUMGR_FEED_URLS_MAX)
				return cli_usage_error(cli, "publish", "at most %d URLs (mirrors)",
						       DFUMGR_FEED_URLS_MAX);
			if (n_bases && own_urls != (c == OPT_URL))
				return cli_usage_error(cli, "publish",
						       "give --url-base or --url, not both");
			own_urls = c == OPT_URL;
			bases[n_bases++] = optarg;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			printf(
			    "Usage: dfu-mgr publish --feed FEED.json -k KEY [--url-base URL]... "
			    "BUNDLE\n"
			    "Add the signed bundle BUNDLE to the release feed FEED.json (made when "
			    "missing),\n"
			    "replacing the entry of the same product and release, and sign the "
			    "feed "
			    "into\n"
			    "FEED.json.sig with the ECDSA P-256 private key KEY. Serve FEED.json, "
			    "its "
			    ".sig and\n"
			    "the bundle directories from any static HTTPS server "
			    "(dfu-mgr-feed(5)).\n\n"
			    "      --feed FILE      the feed to create or update\n"
			    "  -k, --key FILE       the feed's private signing key\n"
			    "  -K, --keys DIR       keys that may have signed BUNDLE's manifest "
			    "(default: KEY)\n"
			    "      --url-base URL   where bundles are served: the release's URL "
			    "is\n"
			    "                       URL/BUNDLE-NAME/ (repeat for mirrors, tried in "
			    "order);\n"
			    "                       default: BUNDLE-NAME/ next to the feed\n"
			    "      --url URL        the bundle's own directory URL instead "
			    "(repeatable)\n"
			    "  -j, --json           machine-readable result\n\n"
			    "Exit status: 0 published, 1 a signature does not verify, 64 usage,\n"
			    "65 invalid bundle or feed, 66 missing file, 73/74 cannot write.\n");
			return EXIT_OK;
		default:
			return cli_usage_error(cli, "publish", "unknown option");
		}
	}
	if (!feed_path || !key_path)
		return cli_usage_error(cli, "publish", "--feed FILE and -k KEY are required");
	if (optind != argc - 1)
		return cli_usage_error(cli, "publish", "give exactly one BUNDLE directory");
	for (size_t i = 0; i < n_bases; i++) {
		urls[i] = own_urls ? strdup(bases[i]) : join_url(bases[i], argv[optind]);
		if (!urls[i]) {
			ret = cli_fail(cli, -DFUMGR_E_NOMEM, "publish");
			goto out;
		}
		n_urls++;
	}
	rc = dfumgr_key_load(cli->ctx, key_path, &key);
	if (rc < 0) {
		ret = cli_fail(cli, rc, "signing key");
		goto out;
	}
	if (!dfumgr_key_is_private(key)) {
		ret = cli_usage_error(cli, "publish",
				      "%s is a public key; signing the feed needs the private key",
				      key_path);
		goto out;
	}
	if (n_dirs) {
		ret = cli_load_keys(cli, NULL, 0, key_dirs, n_dirs, &ring);
		if (ret != EXIT_OK)
			goto out;
	}
	rc = dfumgr_feed_publish(cli->ctx, feed_path, argv[optind], key, ring,
				 (const char *const *)urls, n_urls, &seq);
	if (rc < 0) {
		ret = cli_fail(cli, rc, "publish %s", argv[optind]);
		goto out;
	}
	if (cli->json) {
		struct jw w;

		jw_begin(&w, stdout);
		jw_obj(&w, NULL);
		jw_bool(&w, "ok", true);
		jw_str(&w, "feed", feed_path);
		jw_str(&w, "bundle", argv[optind]);
		jw_uint(&w, "sequence", seq);
		jw_end_obj(&w);
		jw_finish(&w);
	} else {
		printf("Published %s in %s (sequence %" PRIu64 "), signed into %s.sig\n",
		       argv[optind], feed_path, seq, feed_path);
	}
	ret = EXIT_OK;
out:
	for (size_t i = 0; i < n_urls; i++)
		free(urls[i]);
	dfumgr_key_free(key);
	dfumgr_keyring_free(ring);
	return ret;
}
