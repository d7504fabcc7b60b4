/* SPDX-License-Identifier: MIT */
/*
 * dfu-mgr fetch: a release from a signed feed, or a bundle from its URL, over HTTPS into an
 * incoming directory (libdfumgr-fetch does the work); the state file the daemon reads.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dfumgr/feed.h"
#include "dfumgr/fetch.h"
#include "dfumgr/fetch_state.h"
#include "dfumgr/keyring.h"

static volatile int g_cancel;

static void on_signal(int sig)
{
	(void)sig;
	g_cancel = 1; /* the transfer stops at once; staged bytes stay for the next run */
}

/* ---- progress ---- */

struct progress {
	bool tty, quiet;
	char name[64];
	int last_pct;
	bool line_open;
	struct timespec start;
	uint64_t start_done;
};

static const char *item_word(enum dfumgr_fetch_item item)
{
	switch (item) {
	case DFUMGR_FETCH_ITEM_FEED:
		return "feed";
	case DFUMGR_FETCH_ITEM_SIGNATURE:
		return "signature";
	case DFUMGR_FETCH_ITEM_MANIFEST:
		return "manifest";
	default:
		return "image";
	}
}

static void on_progress(void *user, const struct dfumgr_fetch_progress *fp)
{
	struct progress *p = user;
	int pct = fp->total ? (int)(fp->done * 100 / fp->total) : -1;
	struct timespec now;
	double s;

	if (p->quiet)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (strcmp(p->name, fp->name) != 0) {
		if (p->line_open)
			fputc('\n', stderr);
		p->line_open = false;
		snprintf(p->name, sizeof(p->name), "%s", fp->name);
		p->start = now;
		p->start_done = fp->done;
		p->last_pct = -2;
	}
	s = (double)(now.tv_sec - p->start.tv_sec) + (now.tv_nsec - p->start.tv_nsec) / 1e9;
	if (p->tty) {
		char bar[31];
		int fill = pct < 0 ? 0 : pct * 30 / 100;

		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(30 - fill));
		bar[30] = '\0';
		fprintf(stderr, "\r  %-9s %-20.20s [%s] %3d%% %10" PRIu64 " B %8.1f KiB/s",
			item_word(fp->item), fp->name, bar, pct < 0 ? 0 : pct, fp->done,
			s > 0 ? (fp->done - p->start_done) / 1024.0 / s : 0.0);
		p->line_open = true;
		fflush(stderr);
	} else if (fp->item == DFUMGR_FETCH_ITEM_IMAGE &&
		   (pct / 25 != p->last_pct / 25 || p->last_pct == -2)) {
		/* plain lines for logs: the start (and where it resumed), each quarter */
		if (p->last_pct == -2 && fp->resumed_from)
			fprintf(stderr, "  %s: resuming at byte %" PRIu64 " of %" PRIu64 "\n",
				fp->name, fp->resumed_from, fp->total);
		fprintf(stderr, "  %s: %d%% (%" PRIu64 "/%" PRIu64 " bytes)\n", fp->name,
			pct < 0 ? 0 : pct, fp->done, fp->total);
	}
	p->last_pct = pct;
}

static void progress_end(struct progress *p)
{
	if (p->line_open)
		fputc('\n', stderr);
	p->line_open = false;
}

/* ---- options ---- */

enum {
	OPT_FEED = 300,
	OPT_BUNDLE,
	OPT_STAGING,
	OPT_CACERT,
	OPT_CAPATH,
	OPT_CACHE,
	OPT_STATE,
	OPT_FORCE,
	OPT_RETRIES,
	OPT_RETRY_WAIT,
	OPT_RETRY_WAIT_MAX,
	OPT_CONNECT_TIMEOUT,
	OPT_LOW_SPEED_TIME,
	OPT_LOW_SPEED_LIMIT,
	OPT_MAX_FEED,
	OPT_MAX_FILE,
};

static const char help[] =
    "Usage: dfu-mgr fetch [OPTIONS] URL\n"
    "       dfu-mgr fetch --feed URL [OPTIONS]\n"
    "       dfu-mgr fetch --bundle URL [OPTIONS]\n"
    "Fetch a release over HTTPS into DIR: from a signed release feed (a URL ending in .json,\n"
    "or --feed; the newest release of the product by default), or a bundle directory (--bundle).\n"
    "The manifest and its signature are checked against the trusted keys before any image is\n"
    "fetched; each image is checked against the signed size and SHA-256 as it arrives. Files\n"
    "are staged and resumed after an interruption; only a fully verified bundle is moved into\n"
    "DIR, by one rename, as DIR/PRODUCT-RELEASE.\n\n"
    "  -d, --dest DIR            where verified bundles appear (default: .)\n"
    "      --staging DIR         where files are staged (default: DIR/.staging; must be on\n"
    "                            DIR's filesystem)\n"
    "  -P, --product NAME        the product to take from the feed (needed when it has several)\n"
    "  -r, --release LABEL       this release instead of the newest\n"
    "  -k, --key FILE            trust this public key (repeatable)\n"
    "  -K, --keys, --keydir DIR  trust the keys in DIR (default " DEFAULT_KEYDIR ")\n"
    "      --cacert FILE         trust the CAs in FILE (PEM) instead of the system's\n"
    "      --capath DIR          trust the CAs in DIR (hashed, as openssl rehash makes it)\n"
    "      --cache FILE          feed cache: conditional requests, replayed feeds refused\n"
    "      --state FILE          write the state file (see dfu-mgr-feed(5)); a release\n"
    "                            delivered before is not delivered again\n"
    "      --force               deliver it again even so\n"
    "      --retries N           tries after a temporary failure (default 4)\n"
    "      --retry-wait SECONDS  first wait before a retry, doubled each time (default 1)\n"
    "      --retry-wait-max SECONDS  the longest wait (default 60)\n"
    "      --connect-timeout SECONDS   (default 15)\n"
    "      --low-speed-time SECONDS    cut off a transfer slower than --low-speed-limit\n"
    "      --low-speed-limit BYTES     bytes per second for this long (defaults 30 s, 100)\n"
    "      --max-feed-size BYTES       (default and at most 1048576)\n"
    "      --max-file-size BYTES       per image file (default and at most 16777216)\n"
    "  -q, --quiet               no progress\n"
    "  -j, --json                machine-readable result on stdout\n\n"
    "Proxies: https_proxy and no_proxy in the environment.\n"
    "Exit status: 0 delivered or up to date, 1 a signature, hash or certificate check failed,\n"
    "64 usage, 65 invalid or oversized data, a replayed feed, 66 not on the server (404),\n"
    "69 server error (HTTP 5xx after the retries), 73 the destination holds another bundle of\n"
    "that name, 74 I/O error, 75 network error or timeout (try again), 77 access denied.\n";

/* SECONDS with an optional fraction, 0 < s <= max, into milliseconds. */
static bool parse_seconds(const char *s, double max, unsigned *ret_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > max || isnan(v))
		return false;
	*ret_ms = (unsigned)(v * 1000.0 + 0.5);
	return *ret_ms > 0;
}

struct fetch_args {
	const char *url, *dest, *staging, *product, *release, *cache, *state;
	bool feed, bundle, force, quiet;
	char *key_files[16], *key_dirs[16];
	size_t n_files, n_dirs;
	struct dfumgr_fetch_opts o;
};

static int parse_args(struct cli *cli, int argc, char **argv, struct fetch_args *a)
{
	static const struct option longopts[] = {
	    {"dest", required_argument, NULL, 'd'},
	    {"staging", required_argument, NULL, OPT_STAGING},
	    {"feed", required_argument, NULL, OPT_FEED},
	    {"bundle", required_argument, NULL, OPT_BUNDLE},
	    {"product", required_argument, NULL, 'P'},
	    {"release", required_argument, NULL, 'r'},
	    {"key", required_argument, NULL, 'k'},
	    {"keys", required_argument, NULL, 'K'},
	    {"keydir", required_argument, NULL, 'K'},
	    {"cacert", required_argument, NULL, OPT_CACERT},
	    {"capath", required_argument, NULL, OPT_CAPATH},
	    {"cache", required_argument, NULL, OPT_CACHE},
	    {"state", required_argument, NULL, OPT_STATE},
	    {"force", no_argument, NULL, OPT_FORCE},
	    {"retries", required_argument, NULL, OPT_RETRIES},
	    {"retry-wait", required_argument, NULL, OPT_RETRY_WAIT},
	    {"retry-wait-max", required_argument, NULL, OPT_RETRY_WAIT_MAX},
	    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
	    {"low-speed-time", required_argument, NULL, OPT_LOW_SPEED_TIME},
	    {"low-speed-limit", required_argument, NULL, OPT_LOW_SPEED_LIMIT},
	    {"max-feed-size", required_argument, NULL, OPT_MAX_FEED},
	    {"max-file-size", required_argument, NULL, OPT_MAX_FILE},
	    {"quiet", no_argument, NULL, 'q'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *given_url = NULL;
	uint32_t v;
	int c;

	dfumgr_fetch_opts_init(&a->o);
	a->dest = ".";
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:P:r:k:K:qjh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			a->dest = optarg;
			break;
		case OPT_STAGING:
			a->staging = optarg;
			break;
		case OPT_FEED:
		case OPT_BUNDLE:
			if (given_url)
				return cli_usage_error(cli, "fetch", "give one URL");
			given_url = optarg;
			a->feed = c == OPT_FEED;
			a->bundle = c == OPT_BUNDLE;
			break;
		case 'P':
			a->product = optarg;
			break;
		case 'r':
			a->release = optarg;
			break;
		case 'k':
			if (a->n_files == 16)
				return cli_usage_error(cli, "fetch", "too many --key");
			a->key_files[a->n_files++] = optarg;
			break;
		case 'K':
			if (a->n_dirs == 16)
				return cli_usage_error(cli, "fetch", "too many --keys");
			a->key_dirs[a->n_dirs++] = optarg;
			break;
		case OPT_CACERT:
			a->o.ca_file = optarg;
			break;
		case OPT_CAPATH:
			a->o.ca_path = optarg;
			break;
		case OPT_CACHE:
			a->cache = optarg;
			break;
		case OPT_STATE:
			a->state = optarg;
			break;
		case OPT_FORCE:
			a->force = true;
			break;
		case OPT_RETRIES:
			if (!cli_parse_u32(optarg, 100, &v))
				return cli_usage_error(cli, "fetch", "bad --retries '%s' (0..100)",
						       optarg);
			a->o.retries = v;
			break;
		case OPT_RETRY_WAIT:
			if (!parse_seconds(optarg, 3600, &a->o.backoff_ms))
				return cli_usage_error(cli, "fetch", "bad --retry-wait '%s'",
						       optarg);
			break;
		case OPT_RETRY_WAIT_MAX:
			if (!parse_seconds(optarg, 3600, &a->o.backoff_max_ms))
				return cli_usage_error(cli, "fetch", "bad --retry-wait-max '%s'",
						       optarg);
			break;
		case OPT_CONNECT_TIMEOUT:
			if (!parse_seconds(optarg, 3600, &a->o.connect_timeout_ms))
				return cli_usage_error(cli, "fetch", "bad --connect-timeout '%s'",
						       optarg);
			break;
		case OPT_LOW_SPEED_TIME:
			if (!parse_seconds(optarg, 3600, &a->o.low_speed_time_ms))
				return cli_usage_error(cli, "fetch", "bad --low-speed-time '%s'",
						       optarg);
			break;
		case OPT_LOW_SPEED_LIMIT:
			if (!cli_parse_u32(optarg, UINT32_MAX, &v) || !v)
				return cli_usage_error(cli, "fetch", "bad --low-speed-limit '%s'",
						       optarg);
			a->o.low_speed_bytes = v;
			break;
		case OPT_MAX_FEED:
			if (!cli_parse_u32(optarg, DFUMGR_FEED_SIZE_MAX, &v) || !v)
				return cli_usage_error(cli, "fetch",
						       "bad --max-feed-size '%s' (1..%u)", optarg,
						       DFUMGR_FEED_SIZE_MAX);
			a->o.feed_size_max = v;
			break;
		case OPT_MAX_FILE:
			if (!cli_parse_u32(optarg, DFUMGR_MANIFEST_IMAGE_SIZE_MAX, &v) || !v)
				return cli_usage_error(cli, "fetch",
						       "bad --max-file-size '%s' (1..%u)", optarg,
						       DFUMGR_MANIFEST_IMAGE_SIZE_MAX);
			a->o.file_size_max = v;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			fputs(help, stdout);
			return -1;
		default:
			return cli_usage_error(cli, "fetch", "unknown option");
		}
	}
	if (optind < argc) {
		if (given_url || optind != argc - 1)
			return cli_usage_error(cli, "fetch", "give exactly one URL");
		given_url = argv[optind];
		/* a feed is a JSON file; a bundle is a directory */
		a->feed = strlen(given_url) > 5 &&
			  strcmp(given_url + strlen(given_url) - 5, ".json") == 0;
		a->bundle = !a->feed;
	}
	if (!given_url)
		return cli_usage_error(cli, "fetch", "give a feed or bundle URL");
	if (a->bundle && (a->product || a->release || a->cache))
		return cli_usage_error(cli, "fetch",
				       "--product, --release and --cache are for a feed");
	a->url = given_url;
	return EXIT_OK;
}

/* ---- output ---- */

static void print_result(struct cli *cli, const struct fetch_args *a,
			 enum dfumgr_fetch_outcome outcome, const struct dfumgr_fetch_feed_info *fi,
			 const struct dfumgr_fetch_result *r, const char *delivered_before)
{
	char ver[DFUMGR_VERSION_STRING_MAX], rate[64] = "";
	double s = r->elapsed_us / 1e6;
	struct jw w;

	if (!cli->json) {
		if (a->feed)
			printf("feed %s: sequence %" PRIu64 "%s, signed by %s\n", a->url,
			       fi->sequence,
			       fi->not_modified ? " (not modified since the last run)" : "",
			       fi->signer);
		if (outcome == DFUMGR_FETCH_UP_TO_DATE && delivered_before) {
			printf("%s %s (%s): up to date (delivered before as %s)\n", r->product,
			       r->release, dfumgr_version_format(&r->version, ver),
			       delivered_before);
			return;
		}
		printf("%s %s (%s): %s %s\n", r->product, r->release,
		       dfumgr_version_format(&r->version, ver),
		       r->already_present ? "already in" : "delivered to", r->bundle);
		if (r->already_present)
			return;
		if (s > 0)
			snprintf(rate, sizeof(rate), " (%.1f MiB/s)",
				 r->bytes_downloaded / 1048576.0 / s);
		printf("  manifest signed by %s; %" PRIu64 " image bytes verified\n", r->signer,
		       r->bytes_total);
		printf("  downloaded %" PRIu64 " bytes in %.2f s%s, %u request(s), %u retr%s\n",
		       r->bytes_downloaded, s, rate, r->requests, r->retries,
		       r->retries == 1 ? "y" : "ies");
		if (r->bytes_resumed)
			printf("  resumed: %" PRIu64
			       " bytes staged by an earlier run were kept (hashed once)\n",
			       r->bytes_resumed);
		return;
	}
	jw_begin(&w, stdout);
	jw_obj(&w, NULL);
	jw_bool(&w, "ok", true);
	jw_str(&w, "result", dfumgr_fetch_outcome_name(outcome));
	if (a->feed) {
		jw_obj(&w, "feed");
		jw_str(&w, "url", a->url);
		jw_uint(&w, "sequence", fi->sequence);
		jw_bool(&w, "not_modified", fi->not_modified);
		jw_str(&w, "signer", fi->signer);
		jw_end_obj(&w);
	}
	jw_obj(&w, "release");
	jw_str(&w, "product", r->product);
	jw_str(&w, "release", r->release);
	jw_str(&w, "version", dfumgr_version_format(&r->version, ver));
	jw_hex(&w, "manifest_sha256", r->manifest_sha256, sizeof(r->manifest_sha256));
	jw_end_obj(&w);
	if (delivered_before)
		jw_str(&w, "bundle", delivered_before);
	else
		jw_str(&w, "bundle", r->bundle);
	jw_bool(&w, "already_present", r->already_present);
	jw_str(&w, "signer", r->signer);
	jw_uint(&w, "bytes_total", r->bytes_total);
	jw_uint(&w, "bytes_downloaded", r->bytes_downloaded);
	jw_uint(&w, "bytes_resumed", r->bytes_resumed);
	jw_uint(&w, "bytes_rehashed", r->bytes_rehashed);
	jw_uint(&w, "requests", r->requests);
	jw_uint(&w, "retries", r->retries);
	{
		char v[32];

		snprintf(v, sizeof(v), "%.3f", s);
		jw_str(&w, "seconds", v);
	}
	jw_end_obj(&w);
	jw_finish(&w);
}

/* ---- the state file ---- */

static void load_state(struct cli *cli, const char *path, struct dfumgr_fetch_state *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	if (!path)
		return;
	if (dfumgr_fetch_state_load(cli->ctx, path, st) < 0) {
		if (dfumgr_ctx_errcode(cli->ctx) != DFUMGR_E_NOENT)
			fprintf(stderr, "%s: warning: ignoring the state file: %s\n", cli->prog,
				dfumgr_ctx_errmsg(cli->ctx));
		memset(st, 0, sizeof(*st));
		st->size = sizeof(*st);
	}
	dfumgr_ctx_clear_error(cli->ctx);
}

static void save_state(struct cli *cli, const struct fetch_args *a, struct dfumgr_fetch_state *st,
		       enum dfumgr_fetch_outcome outcome, int rc, const char *message)
{
	if (!a->state)
		return;
	st->time = (int64_t)time(NULL);
	st->result = outcome;
	st->error = rc < 0 ? -rc : 0;
	snprintf(st->message, sizeof(st->message), "%s", rc < 0 ? message : "");
	snprintf(st->source, sizeof(st->source), "%s", a->url);
	/* the state must not claim what this run cannot vouch for */
	if (dfumgr_fetch_state_save(cli->ctx, a->state, st) < 0)
		fprintf(stderr, "%s: warning: cannot write the state file: %s\n", cli->prog,
			dfumgr_ctx_errmsg(cli->ctx));
}

static void record_delivery(struct dfumgr_fetch_state *st, const struct dfumgr_fetch_result *r)
{
	st->has_delivered = true;
	st->delivered.time = (int64_t)time(NULL);
	snprintf(st->delivered.product, sizeof(st->delivered.product), "%s", r->product);
	snprintf(st->delivered.release, sizeof(st->delivered.release), "%s", r->release);
	st->delivered.version = r->version;
	memcpy(st->delivered.manifest_sha256, r->manifest_sha256, DFUMGR_SHA256_SIZE);
	snprintf(st->delivered.bundle, sizeof(st->delivered.bundle), "%s", r->bundle);
}

/* The release the options name; a usage-like failure when the feed does not have it. */
static int pick_release(struct cli *cli, const struct fetch_args *a, const struct dfumgr_feed *feed,
			const struct dfumgr_feed_release **ret)
{
	const char *product = a->product;
	const struct dfumgr_feed_release *rel;

	if (!product) {
		size_t n = dfumgr_feed_products(feed);

		if (n == 0)
			return dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_NOENT,
						    "%s lists no releases", a->url);
		if (n > 1) {
			char list[512] = "";
			size_t used = 0;

			for (size_t i = 0; i < n && used < sizeof(list); i++) {
				int w = snprintf(list + used, sizeof(list) - used, "%s%s",
						 i ? ", " : "", dfumgr_feed_product(feed, i));

				if (w < 0)
					break;
				used += (size_t)w;
			}
			return dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_INVAL,
						    "%s lists several products (%s): choose one "
						    "with --product",
						    a->url, list);
		}
		product = dfumgr_feed_product(feed, 0);
	}
	rel = dfumgr_feed_find(feed, product, a->release);
	if (!rel && a->release)
		return dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_NOENT, "%s has no release %s of %s",
					    a->url, a->release, product);
	if (!rel)
		return dfumgr_ctx_set_error(cli->ctx, DFUMGR_E_NOENT, "%s has no releases of %s",
					    a->url, product);
	*ret = rel;
	return 0;
}

int cmd_fetch(struct cli *cli, int argc, char **argv)
{
	struct fetch_args a = {0};
	struct progress p = {.tty = isatty(STDERR_FILENO) == 1};
	struct dfumgr_fetch_state st;
	struct dfumgr_fetch_feed_info fi = {0};
	struct dfumgr_fetch_result r = {0};
	const struct dfumgr_feed_release *rel = NULL;
	enum dfumgr_fetch_outcome outcome = DFUMGR_FETCH_FAILED;
	struct dfumgr_keyring *ring = NULL;
	struct dfumgr_fetcher *f = NULL;
	struct dfumgr_feed *feed = NULL;
	struct sigaction sa = {0};
	char staging[4096];
	const char *before = NULL;
	int n, rc, ret;

	/* first: a stop request during any step, key loading included, is a clean cancel */
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	ret = parse_args(cli, argc, argv, &a);
	if (ret < 0)
		return EXIT_OK; /* --help */
	if (ret != EXIT_OK)
		return ret;
	if (!a.staging) {
		n = snprintf(staging, sizeof(staging), "%s/.staging", a.dest);
		if (n < 0 || (size_t)n >= sizeof(staging))
			return cli_usage_error(cli, "fetch", "--dest path too long");
		a.staging = staging;
	}
	ret = cli_trusted_keys(cli, "fetch", a.key_files, a.n_files, a.key_dirs, a.n_dirs, false,
			       &ring);
	if (ret != EXIT_OK)
		return ret;
	load_state(cli, a.state, &st);

	p.quiet = a.quiet || cli->json;
	a.o.progress = on_progress;
	a.o.user = &p;
	a.o.cancel = &g_cancel;
	rc = dfumgr_fetcher_new(cli->ctx, &a.o, &f);
	if (rc < 0)
		goto fail;

	if (a.feed) {
		rc = dfumgr_fetch_feed(f, a.url, a.cache, ring, &feed, &fi);
		if (rc == 0) {
			st.has_sequence = true;
			st.sequence = fi.sequence;
			rc = pick_release(cli, &a, feed, &rel);
		}
		if (rc < 0)
			goto fail;
		/* the daemon may have taken the bundle out of the incoming directory already */
		if (!a.force && st.has_delivered &&
		    !memcmp(st.delivered.manifest_sha256, rel->manifest_sha256,
			    DFUMGR_SHA256_SIZE)) {
			snprintf(r.product, sizeof(r.product), "%s", rel->product);
			snprintf(r.release, sizeof(r.release), "%s", rel->release);
			r.version = rel->version;
			memcpy(r.manifest_sha256, rel->manifest_sha256, DFUMGR_SHA256_SIZE);
			before = st.delivered.bundle;
			outcome = DFUMGR_FETCH_UP_TO_DATE;
			goto done;
		}
		rc = dfumgr_fetch_release(f, fi.url, rel, ring, a.staging, a.dest, &r);
	} else {
		rc = dfumgr_fetch_bundle(f, a.url, ring, a.staging, a.dest, &r);
	}
	progress_end(&p);
	if (rc < 0)
		goto fail;
	outcome = r.already_present ? DFUMGR_FETCH_UP_TO_DATE : DFUMGR_FETCH_DELIVERED;
	record_delivery(&st, &r);
done:
	save_state(cli, &a, &st, outcome, 0, NULL);
	print_result(cli, &a, outcome, &fi, &r, before);
	ret = EXIT_OK;
	goto out;
fail:
	progress_end(&p);
	if (a.state) {
		char msg[512];

		/* writing the state file must not cost the message of the failure */
		snprintf(msg, sizeof(msg), "%s", dfumgr_ctx_errmsg(cli->ctx));
		save_state(cli, &a, &st, DFUMGR_FETCH_FAILED, rc, msg);
		dfumgr_ctx_set_error(cli->ctx, rc, "%s", msg);
	}
	ret = cli_fail(cli, rc, "fetch");
out:
	dfumgr_feed_free(feed);
	dfumgr_fetcher_free(f);
	dfumgr_keyring_free(ring);
	return ret;
}
