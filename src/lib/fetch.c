/* SPDX-License-Identifier: MIT */
/*
 * Bundles and release feeds over HTTPS with libcurl. The only file that includes libcurl; it is
 * built into its own library (libdfumgr-fetch) so that libdfumgr, and the daemon that links
 * it, never load libcurl. It uses libdfumgr through its public API only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "dfumgr/bundle.h"
#include "dfumgr/fetch.h"
#include "dfumgr/fetch_state.h"
#include "dfumgr/manifest.h"

#ifndef CURL_WRITEFUNC_ERROR
#define CURL_WRITEFUNC_ERROR 0
#endif

#define USER_AGENT_PREFIX "dfu-mgr/" DFUMGR_VERSION_STRING
/* how often the progress callback runs at most */
#define PROGRESS_INTERVAL_NS 100000000L
/* the slice a back-off sleeps before it looks at the cancel flag again */
#define SLEEP_SLICE_MS 50
#define COPY_CHUNK     (64 * 1024)
#define STAGE_LOCK     ".lock"

struct dfumgr_fetcher {
	struct dfumgr_ctx *ctx;
	struct dfumgr_fetch_opts o;
	CURL *curl;
	uint64_t rng; /* xorshift64* state for the back-off jitter */
	char errbuf[CURL_ERROR_SIZE];
	char user_agent[128];
	/* counters of the current public call */
	unsigned requests, retries;
	uint64_t bytes;
};

/* ---- errors ---- */

__attribute__((format(printf, 3, 4))) static int fail(struct dfumgr_ctx *ctx, int err,
						      const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return dfumgr_ctx_set_error(ctx, err, "%s", msg);
}

static int errno_err(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return DFUMGR_E_NOENT;
	case EACCES:
	case EPERM:
	case EROFS:
		return DFUMGR_E_ACCESS;
	case EEXIST:
	case ENOTEMPTY:
		return DFUMGR_E_EXISTS;
	case ENOMEM:
		return DFUMGR_E_NOMEM;
	case ELOOP:
		return DFUMGR_E_UNSAFE_PATH;
	default:
		return DFUMGR_E_IO;
	}
}

static void hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* ---- options and the fetcher ---- */

DFUMGR_EXPORT void dfumgr_fetch_opts_init(struct dfumgr_fetch_opts *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	o->size = sizeof(*o);
	o->connect_timeout_ms = 15000;
	o->low_speed_time_ms = 30000;
	o->low_speed_bytes = 100;
	o->retries = 4;
	o->backoff_ms = 1000;
	o->backoff_max_ms = 60000;
	o->feed_size_max = DFUMGR_FEED_SIZE_MAX;
	o->file_size_max = DFUMGR_MANIFEST_IMAGE_SIZE_MAX;
}

DFUMGR_EXPORT const char *dfumgr_fetch_backend_version(void)
{
	return curl_version();
}

DFUMGR_EXPORT int dfumgr_fetcher_new(struct dfumgr_ctx *ctx, const struct dfumgr_fetch_opts *opts,
				     struct dfumgr_fetcher **ret_fetcher)
{
	const curl_version_info_data *vi;
	struct dfumgr_fetcher *f;
	uint64_t seed = 0;
	bool https = false;

	if (!opts || !ret_fetcher || opts->size != sizeof(*opts))
		return fail(ctx, DFUMGR_E_INVAL,
			    "dfumgr_fetcher_new: NULL argument or options of another version");
	if (opts->feed_size_max == 0 || opts->feed_size_max > DFUMGR_FEED_SIZE_MAX ||
	    opts->file_size_max == 0 || opts->file_size_max > DFUMGR_MANIFEST_IMAGE_SIZE_MAX)
		return fail(ctx, DFUMGR_E_INVAL,
			    "size limits must be 1..%u bytes (feed) and 1..%u bytes (file)",
			    DFUMGR_FEED_SIZE_MAX, DFUMGR_MANIFEST_IMAGE_SIZE_MAX);
	if (opts->low_speed_time_ms == 0 || opts->connect_timeout_ms == 0 ||
	    opts->backoff_max_ms == 0)
		return fail(ctx, DFUMGR_E_INVAL,
			    "timeouts must not be 0 (there is no waiting for ever)");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return fail(ctx, DFUMGR_E_NOMEM, "cannot initialise libcurl");
	vi = curl_version_info(CURLVERSION_NOW);
	for (const char *const *p = vi->protocols; p && *p; p++)
		https = https || strcmp(*p, "https") == 0;
	if (!https) {
		curl_global_cleanup();
		return fail(ctx, DFUMGR_E_UNSUPPORTED, "libcurl %s was built without HTTPS",
			    vi->version);
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		curl_global_cleanup();
		return fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	f->curl = curl_easy_init();
	if (!f->curl) {
		free(f);
		curl_global_cleanup();
		return fail(ctx, DFUMGR_E_NOMEM, "cannot create a libcurl handle");
	}
	f->ctx = ctx;
	f->o = *opts;
	snprintf(f->user_agent, sizeof(f->user_agent), "%s libcurl/%s", USER_AGENT_PREFIX,
		 vi->version);
	/* jitter needs no cryptographic quality, only different hosts waiting differently */
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	f->rng = seed | 1;
	*ret_fetcher = f;
	return 0;
}

DFUMGR_EXPORT struct dfumgr_fetcher *dfumgr_fetcher_free(struct dfumgr_fetcher *f)
{
	if (f) {
		curl_easy_cleanup(f->curl);
		free(f);
		curl_global_cleanup();
	}
	return NULL;
}

static bool cancelled(const struct dfumgr_fetcher *f)
{
	return f->o.cancel && *f->o.cancel;
}

static uint64_t next_random(struct dfumgr_fetcher *f)
{
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return f->rng * 0x2545f4914f6cdd1dull;
}

/* The wait before try number next (2, 3, ...): doubling, capped, half of it random. */
static unsigned backoff_ms(struct dfumgr_fetcher *f, unsigned next, unsigned retry_after_ms)
{
	uint64_t base = f->o.backoff_ms;

	for (unsigned i = 2; i < next && base < f->o.backoff_max_ms; i++)
		base *= 2;
	if (base > f->o.backoff_max_ms)
		base = f->o.backoff_max_ms;
	/* "equal jitter": never all hosts at once, never a retry without any pause */
	base = base / 2 + next_random(f) % (base / 2 + 1);
	/* a server's Retry-After is honoured, within the same bound */
	if (retry_after_ms > base)
		base = retry_after_ms < f->o.backoff_max_ms ? retry_after_ms : f->o.backoff_max_ms;
	return (unsigned)base;
}

/* Sleeps ms, waking every SLEEP_SLICE_MS to look at the cancel flag. */
static int sleep_cancellable(struct dfumgr_fetcher *f, unsigned ms)
{
	while (ms > 0) {
		unsigned slice = ms < SLEEP_SLICE_MS ? ms : SLEEP_SLICE_MS;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)slice * 1000000L};

		if (cancelled(f))
			return fail(f->ctx, DFUMGR_E_CANCELLED, "cancelled");
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !cancelled(f))
			;
		ms -= slice;
	}
	return cancelled(f) ? fail(f->ctx, DFUMGR_E_CANCELLED, "cancelled") : 0;
}

/* ---- URLs ---- */

/* ref resolved against base (RFC 3986 §5) into a malloc'ed https URL. */
static int resolve_url(struct dfumgr_fetcher *f, const char *base, const char *ref, char **ret)
{
	CURLU *u = curl_url();
	char *out = NULL, *scheme = NULL;
	CURLUcode uc;
	int rc = 0;

	if (!u)
		return fail(f->ctx, DFUMGR_E_NOMEM, "out of memory");
	uc = curl_url_set(u, CURLUPART_URL, base, 0);
	if (uc == CURLUE_OK && ref)
		uc = curl_url_set(u, CURLUPART_URL, ref, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_URL, &out, 0);
	if (uc != CURLUE_OK) {
		rc = fail(f->ctx, DFUMGR_E_INVAL, "%s%s%s: not a valid URL: %s", ref ? ref : base,
			  ref ? " relative to " : "", ref ? base : "", curl_url_strerror(uc));
		goto out;
	}
	if (strcmp(scheme, "https") != 0) {
		rc = fail(f->ctx, DFUMGR_E_UNSUPPORTED,
			  "%s: only https:// URLs are fetched (the server must prove who it is)",
			  out);
		goto out;
	}
	*ret = strdup(out);
	if (!*ret)
		rc = fail(f->ctx, DFUMGR_E_NOMEM, "out of memory");
out:
	curl_free(out);
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

/* A bundle directory URL: resolved, with the trailing '/' that relative file names need. */
static int dir_url(struct dfumgr_fetcher *f, const char *base, const char *ref, char **ret)
{
	char *u = NULL, *with;
	size_t n;
	int rc = resolve_url(f, base, ref, &u);

	if (rc < 0)
		return rc;
	n = strlen(u);
	if (n > 0 && u[n - 1] == '/') {
		*ret = u;
		return 0;
	}
	with = malloc(n + 2);
	if (!with) {
		free(u);
		return fail(f->ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	memcpy(with, u, n);
	memcpy(with + n, "/", 2);
	free(u);
	*ret = with;
	return 0;
}

/* dir (ending in '/') + the file name, percent-encoded: a file name is data, not URL syntax. */
static int file_url(struct dfumgr_fetcher *f, const char *dir, const char *name, char **ret)
{
	char *esc = curl_easy_escape(f->curl, name, 0), *out;
	size_t a, b;

	if (!esc)
		return fail(f->ctx, DFUMGR_E_NOMEM, "out of memory");
	a = strlen(dir);
	b = strlen(esc);
	out = malloc(a + b + 1);
	if (!out) {
		curl_free(esc);
		return fail(f->ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	memcpy(out, dir, a);
	memcpy(out + a, esc, b + 1);
	curl_free(esc);
	*ret = out;
	return 0;
}

/* ---- one transfer ---- */

struct xfer {
	struct dfumgr_fetcher *f;
	const char *url;
	enum dfumgr_fetch_item item;
	const char *name;
	uint64_t limit; /* the most bytes the whole file may have */
	bool exact;     /* limit is the exact size, from a signed manifest or feed */
	bool accept_encoding;
	const char *etag, *last_modified; /* conditional request (memory sink only) */
	/* sink: a staged file streaming into a hash, or memory */
	int fd;
	struct dfumgr_sha256 *hash;
	uint8_t *buf;
	size_t cap;
	uint64_t have;         /* bytes held */
	uint64_t resumed_from; /* bytes held before this call began (progress) */
	/* per try */
	uint64_t start; /* bytes held when the try began: the Range start */
	bool checked;   /* the response was looked at */
	long status;
	int abort_rc; /* why a callback stopped the transfer (negative), with the message set */
	unsigned attempt;
	struct timespec last_progress;
	/* validators of a 200 answer */
	char etag_out[DFUMGR_FEED_CACHE_VALIDATOR_MAX + 1];
	char lm_out[DFUMGR_FEED_CACHE_VALIDATOR_MAX + 1];
};

/* Result of one try beyond the dfumgr errors. */
enum { TRY_OK = 0, TRY_NOT_MODIFIED = 1 };

static void progress(struct xfer *x, bool force)
{
	const struct dfumgr_fetch_opts *o = &x->f->o;
	struct dfumgr_fetch_progress p;
	struct timespec now;
	long ns;

	if (!o->progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (now.tv_sec - x->last_progress.tv_sec) * 1000000000L +
	     (now.tv_nsec - x->last_progress.tv_nsec);
	if (!force && ns < PROGRESS_INTERVAL_NS)
		return;
	x->last_progress = now;
	p.item = x->item;
	p.name = x->name;
	p.done = x->have;
	/* an unknown size is known at the end */
	p.total = x->exact ? x->limit : (force ? x->have : 0);
	p.resumed_from = x->resumed_from;
	p.attempt = x->attempt;
	o->progress(o->user, &p);
}

static int sink_reset(struct xfer *x)
{
	if (x->fd >= 0) {
		if (ftruncate(x->fd, 0) < 0 || lseek(x->fd, 0, SEEK_SET) < 0)
			return fail(x->f->ctx, DFUMGR_E_IO,
				    "%s: cannot truncate the staged file: %s", x->name,
				    strerror(errno));
		dfumgr_sha256_reset(x->hash);
	}
	x->have = 0;
	x->start = 0;
	return 0;
}

static int sink_write(struct xfer *x, const char *data, size_t n)
{
	if (x->fd >= 0) {
		size_t done = 0;

		while (done < n) {
			ssize_t w = write(x->fd, data + done, n - done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return fail(x->f->ctx, errno_err(errno),
					    "%s: cannot write the staged file: %s", x->name,
					    strerror(errno));
			done += (size_t)w;
		}
		/* the hash follows the bytes as they arrive: no second pass over the file */
		dfumgr_sha256_update(x->hash, data, n);
		return 0;
	}
	if (x->have + n > x->cap) {
		size_t cap = x->cap ? x->cap : 4096;
		uint8_t *p;

		while (cap < x->have + n)
			cap *= 2;
		if (cap > x->limit + 1)
			cap = (size_t)x->limit + 1;
		p = realloc(x->buf, cap);
		if (!p)
			return fail(x->f->ctx, DFUMGR_E_NOMEM, "out of memory");
		x->buf = p;
		x->cap = cap;
	}
	memcpy(x->buf + x->have, data, n);
	return 0;
}

static const char *header(CURL *c, const char *name)
{
	struct curl_header *h = NULL;

	if (curl_easy_header(c, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h)
		return NULL;
	return h->value;
}

static bool is_2xx(long status)
{
	return status == 200 || status == 206;
}

/*
 * Looks at a successful response before its first body byte is kept: a server that ignored the
 * Range request starts the file again; a 206 must continue exactly where the staged part ends;
 * an announced length beyond the limit is refused before anything is stored.
 */
static int check_response(struct xfer *x)
{
	struct dfumgr_ctx *ctx = x->f->ctx;
	curl_off_t cl = -1;
	const char *cr;
	int rc;

	x->checked = true;
	if (x->status == 200 && x->start > 0) {
		dfumgr_ctx_log(ctx, DFUMGR_LOG_INFO,
			       "%s: the server ignored the range request: fetching from the start",
			       x->url);
		rc = sink_reset(x);
		if (rc < 0)
			return rc;
	} else if (x->status == 206) {
		unsigned long long first, last, total;
		int n = 0;

		cr = header(x->f->curl, "Content-Range");
		if (x->start == 0 || !cr ||
		    sscanf(cr, "bytes %llu-%llu/%llu%n", &first, &last, &total, &n) != 3 ||
		    cr[n] != '\0' || first != x->start || last < first)
			return fail(
			    ctx, DFUMGR_E_PROTOCOL,
			    "%s: partial content (%s) that does not continue at byte %" PRIu64,
			    x->url, cr ? cr : "no Content-Range", x->start);
		if (x->exact && total != x->limit)
			return fail(ctx, DFUMGR_E_MISMATCH,
				    "%s: the server has %llu bytes, the signed size is %" PRIu64,
				    x->url, total, x->limit);
	}
	/* a content coding hides the real length: then only the bytes as they arrive count */
	if (header(x->f->curl, "Content-Encoding"))
		return 0;
	if (curl_easy_getinfo(x->f->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) != CURLE_OK ||
	    cl < 0)
		return 0;
	if ((uint64_t)cl > x->limit - x->start || (x->exact && (uint64_t)cl != x->limit - x->start))
		return fail(ctx, x->exact ? DFUMGR_E_MISMATCH : DFUMGR_E_TOOBIG,
			    "%s: the server announces %" PRIu64 " bytes, %s %" PRIu64, x->url,
			    x->start + (uint64_t)cl,
			    x->exact ? "the signed size is" : "more than the limit of", x->limit);
	return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *user)
{
	struct xfer *x = user;
	size_t n = size * nmemb;
	int rc;

	if (!x->checked) {
		curl_easy_getinfo(x->f->curl, CURLINFO_RESPONSE_CODE, &x->status);
		/* an error page is not kept; the status says everything */
		if (!is_2xx(x->status)) {
			x->checked = true;
			return CURL_WRITEFUNC_ERROR;
		}
		rc = check_response(x);
		if (rc < 0) {
			x->abort_rc = rc;
			return CURL_WRITEFUNC_ERROR;
		}
	}
	/* cut off as soon as the limit is passed, whatever the server announced */
	if (n > x->limit - x->have) {
		x->abort_rc = fail(x->f->ctx, DFUMGR_E_TOOBIG,
				   "%s: the server sends more than %s %" PRIu64 " bytes", x->url,
				   x->exact ? "the signed size of" : "the limit of", x->limit);
		return CURL_WRITEFUNC_ERROR;
	}
	rc = sink_write(x, data, n);
	if (rc < 0) {
		x->abort_rc = rc;
		return CURL_WRITEFUNC_ERROR;
	}
	x->have += n;
	x->f->bytes += n;
	progress(x, false);
	return n;
}

static int on_xferinfo(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = user;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (cancelled(x->f)) {
		x->abort_rc = fail(x->f->ctx, DFUMGR_E_CANCELLED, "%s: cancelled", x->url);
		return 1;
	}
	progress(x, false);
	return 0;
}

/* An HTTP status that ends a try: the error, and whether trying again may help. */
static int status_error(struct xfer *x, bool *ret_retry)
{
	struct dfumgr_ctx *ctx = x->f->ctx;
	long s = x->status;

	*ret_retry = false;
	switch (s) {
	case 404:
	case 410:
		return fail(ctx, DFUMGR_E_NOENT, "%s: HTTP %ld: not on the server", x->url, s);
	case 401:
	case 403:
		return fail(ctx, DFUMGR_E_ACCESS, "%s: HTTP %ld: access denied", x->url, s);
	case 408:
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		*ret_retry = true;
		return fail(ctx, DFUMGR_E_HTTP, "%s: HTTP %ld: server error", x->url, s);
	default:
		return fail(ctx, DFUMGR_E_HTTP, "%s: HTTP %ld", x->url, s);
	}
}

/* The one place a libcurl error becomes a dfumgr error. */
static int curl_error(struct xfer *x, CURLcode cc, bool *ret_retry)
{
	struct dfumgr_ctx *ctx = x->f->ctx;
	const char *detail = x->f->errbuf[0] ? x->f->errbuf : curl_easy_strerror(cc);

	*ret_retry = false;
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		*ret_retry = true;
		return fail(ctx, DFUMGR_E_TIMEOUT, "%s: %s", x->url, detail);
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_PROXY:
		*ret_retry = true;
		return fail(ctx, DFUMGR_E_NETWORK, "%s: %s", x->url, detail);
	case CURLE_SSL_CONNECT_ERROR:
		/* a handshake cut short by a server going down looks like this too */
		*ret_retry = true;
		return fail(ctx, DFUMGR_E_TLS, "%s: TLS handshake failed: %s", x->url, detail);
	case CURLE_PEER_FAILED_VERIFICATION:
		return fail(ctx, DFUMGR_E_TLS,
			    "%s: the server's certificate is not trusted: %s (the CA that "
			    "signed it is not among the trusted ones, or it names another host)",
			    x->url, detail);
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return fail(ctx, DFUMGR_E_TLS, "%s: cannot use the trusted CAs: %s", x->url,
			    detail);
	case CURLE_UNSUPPORTED_PROTOCOL:
		return fail(ctx, DFUMGR_E_UNSUPPORTED,
			    "%s: %s (only https is fetched, also after a redirect)", x->url,
			    detail);
	case CURLE_TOO_MANY_REDIRECTS:
		return fail(ctx, DFUMGR_E_HTTP, "%s: %s", x->url, detail);
	case CURLE_FILESIZE_EXCEEDED:
		return fail(ctx, DFUMGR_E_TOOBIG, "%s: more than the limit of %" PRIu64 " bytes",
			    x->url, x->limit);
	case CURLE_BAD_CONTENT_ENCODING:
		return fail(ctx, DFUMGR_E_FORMAT, "%s: %s", x->url, detail);
	case CURLE_ABORTED_BY_CALLBACK:
		return fail(ctx, DFUMGR_E_CANCELLED, "%s: cancelled", x->url);
	case CURLE_OUT_OF_MEMORY:
		return fail(ctx, DFUMGR_E_NOMEM, "%s: out of memory", x->url);
	case CURLE_URL_MALFORMAT:
		return fail(ctx, DFUMGR_E_INVAL, "%s: %s", x->url, detail);
	default:
		return fail(ctx, DFUMGR_E_NETWORK, "%s: %s (libcurl error %d)", x->url, detail,
			    (int)cc);
	}
}

static CURLcode setup(struct xfer *x, struct curl_slist *headers, const char *range)
{
	struct dfumgr_fetcher *f = x->f;
	const struct dfumgr_fetch_opts *o = &f->o;
	CURL *c = f->curl;
	CURLcode cc = CURLE_OK;

	/* keeps the connection cache, DNS cache and TLS sessions: requests reuse connections */
	curl_easy_reset(c);
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (cc == CURLE_OK)                                                                \
			cc = curl_easy_setopt(c, opt, val);                                        \
	} while (0)
	SET(CURLOPT_URL, x->url);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, 5L);
	/* libcurl's defaults, said out loud: verification is never off */
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (o->ca_file)
		SET(CURLOPT_CAINFO, o->ca_file);
	if (o->ca_path)
		SET(CURLOPT_CAPATH, o->ca_path);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
	SET(CURLOPT_LOW_SPEED_LIMIT, (long)o->low_speed_bytes);
	/* libcurl counts this one in seconds */
	SET(CURLOPT_LOW_SPEED_TIME, (long)((o->low_speed_time_ms + 999) / 1000));
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERAGENT, f->user_agent);
	SET(CURLOPT_ERRORBUFFER, f->errbuf);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_XFERINFOFUNCTION, on_xferinfo);
	SET(CURLOPT_XFERINFODATA, x);
	SET(CURLOPT_NOPROGRESS, 0L);
	if (headers)
		SET(CURLOPT_HTTPHEADER, headers);
	if (range)
		SET(CURLOPT_RANGE, range);
	/* "" = every coding libcurl decodes; the limit counts decoded bytes (no zip bomb) */
	if (x->accept_encoding)
		SET(CURLOPT_ACCEPT_ENCODING, "");
#undef SET
	f->errbuf[0] = '\0';
	return cc;
}

/* One try: TRY_OK, TRY_NOT_MODIFIED or a negative error; *ret_retry says if another may help. */
static int try_once(struct xfer *x, bool *ret_retry, unsigned *ret_retry_after_ms)
{
	struct dfumgr_fetcher *f = x->f;
	struct curl_slist *headers = NULL, *h;
	char range[48], line[DFUMGR_FEED_CACHE_VALIDATOR_MAX + 32];
	curl_off_t retry_after = 0;
	const char *v;
	CURLcode cc;
	int rc;

	*ret_retry = false;
	*ret_retry_after_ms = 0;
	x->start = x->have;
	x->checked = false;
	x->status = 0;
	x->abort_rc = 0;
	if (x->etag && x->etag[0]) {
		snprintf(line, sizeof(line), "If-None-Match: %s", x->etag);
		h = curl_slist_append(headers, line);
		if (!h)
			goto nomem;
		headers = h;
	}
	if (x->last_modified && x->last_modified[0]) {
		snprintf(line, sizeof(line), "If-Modified-Since: %s", x->last_modified);
		h = curl_slist_append(headers, line);
		if (!h)
			goto nomem;
		headers = h;
	}
	snprintf(range, sizeof(range), "%" PRIu64 "-", x->start);
	cc = setup(x, headers, x->start > 0 ? range : NULL);
	if (cc != CURLE_OK) {
		curl_slist_free_all(headers);
		return fail(f->ctx, DFUMGR_E_UNSUPPORTED, "%s: libcurl refuses an option: %s",
			    x->url, curl_easy_strerror(cc));
	}
	f->requests++;
	cc = curl_easy_perform(f->curl);
	curl_slist_free_all(headers);
	curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->abort_rc < 0)
		return x->abort_rc;
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && x->checked && !is_2xx(x->status)))
		return curl_error(x, cc, ret_retry);
	if (x->status == 304)
		return x->etag || x->last_modified
			   ? TRY_NOT_MODIFIED
			   : fail(f->ctx, DFUMGR_E_PROTOCOL,
				  "%s: HTTP 304 to a request that was not conditional", x->url);
	if (!is_2xx(x->status)) {
		rc = status_error(x, ret_retry);
		if (*ret_retry &&
		    curl_easy_getinfo(f->curl, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
		    retry_after > 0)
			*ret_retry_after_ms =
			    retry_after > 3600 ? 3600000u : (unsigned)retry_after * 1000u;
		return rc;
	}
	/* an empty body: the checks the first byte would have made */
	if (!x->checked) {
		rc = check_response(x);
		if (rc < 0)
			return rc;
	}
	if (x->status == 200) {
		v = header(f->curl, "ETag");
		snprintf(x->etag_out, sizeof(x->etag_out), "%s",
			 v && dfumgr_feed_cache_validator_ok(v) ? v : "");
		v = header(f->curl, "Last-Modified");
		snprintf(x->lm_out, sizeof(x->lm_out), "%s",
			 v && dfumgr_feed_cache_validator_ok(v) ? v : "");
	}
	return TRY_OK;
nomem:
	curl_slist_free_all(headers);
	return fail(f->ctx, DFUMGR_E_NOMEM, "out of memory");
}

/*
 * A transfer with its retries. A file sink keeps what arrived and continues with a range
 * request; a memory sink (small files) starts again.
 */
static int transfer(struct xfer *x)
{
	struct dfumgr_fetcher *f = x->f;
	unsigned tries = f->o.retries + 1;

	x->resumed_from = x->have;
	for (unsigned a = 1;; a++) {
		unsigned retry_after = 0, wait;
		bool retry = false;
		int rc;

		x->attempt = a;
		if (x->fd < 0)
			x->have = 0;
		/* everything arrived before the connection broke: nothing left to ask for */
		if (x->fd >= 0 && x->exact && x->have == x->limit && x->have > 0)
			return TRY_OK;
		rc = try_once(x, &retry, &retry_after);
		if (rc >= 0) {
			progress(x, true);
			return rc;
		}
		if (!retry || a >= tries) {
			if (a > 1)
				dfumgr_ctx_prefix_error(f->ctx, rc, "after %u tries", a);
			return rc;
		}
		wait = backoff_ms(f, a + 1, retry_after);
		dfumgr_ctx_log(f->ctx, DFUMGR_LOG_WARNING,
			       "%s; trying again in %.1f s (try %u of %u)%s",
			       dfumgr_ctx_errmsg(f->ctx), wait / 1000.0, a + 1, tries,
			       x->fd >= 0 && x->have ? ", continuing where it stopped" : "");
		rc = sleep_cancellable(f, wait);
		if (rc < 0)
			return rc;
		f->retries++;
		dfumgr_ctx_clear_error(f->ctx);
	}
}

static void xfer_init(struct xfer *x, struct dfumgr_fetcher *f, const char *url,
		      enum dfumgr_fetch_item item, const char *name, uint64_t limit, bool exact)
{
	memset(x, 0, sizeof(*x));
	x->f = f;
	x->url = url;
	x->item = item;
	x->name = name;
	x->limit = limit;
	x->exact = exact;
	x->fd = -1;
}

/* A small file into memory: *ret_buf malloc'ed (free() it), at most limit bytes. */
static int fetch_mem(struct dfumgr_fetcher *f, const char *url, enum dfumgr_fetch_item item,
		     const char *name, uint64_t limit, bool exact, uint8_t **ret_buf,
		     size_t *ret_size)
{
	struct xfer x;
	int rc;

	xfer_init(&x, f, url, item, name, limit, exact);
	rc = transfer(&x);
	if (rc == TRY_OK && x.exact && x.have != x.limit)
		rc = fail(f->ctx, DFUMGR_E_MISMATCH,
			  "%s: %" PRIu64 " bytes, the signed size is %" PRIu64, url, x.have,
			  x.limit);
	if (rc < 0) {
		free(x.buf);
		return rc;
	}
	/* a valid pointer also for an empty body */
	if (!x.buf) {
		x.buf = malloc(1);
		if (!x.buf)
			return fail(f->ctx, DFUMGR_E_NOMEM, "out of memory");
	}
	*ret_buf = x.buf;
	*ret_size = (size_t)x.have;
	return 0;
}

/* ---- the feed ---- */

/* The cached feed, when it is for url and still verifies; NULL (with a warning) otherwise. */
static void load_cache(struct dfumgr_fetcher *f, const char *path, const char *url,
		       const struct dfumgr_keyring *ring, struct dfumgr_feed_cache *cache,
		       struct dfumgr_feed **ret_feed)
{
	struct dfumgr_ctx *ctx = f->ctx;
	int rc;

	*ret_feed = NULL;
	rc = dfumgr_feed_cache_load(ctx, path, cache);
	if (rc == -DFUMGR_E_NOENT) {
		dfumgr_ctx_clear_error(ctx);
		return;
	}
	if (rc < 0) {
		dfumgr_ctx_log(ctx, DFUMGR_LOG_WARNING, "ignoring the feed cache: %s",
			       dfumgr_ctx_errmsg(ctx));
		goto drop;
	}
	if (strcmp(cache->url, url) != 0) {
		dfumgr_ctx_log(ctx, DFUMGR_LOG_INFO, "%s: the feed cache is for %s; not used", path,
			       cache->url);
		goto drop;
	}
	rc = dfumgr_feed_verify(ctx, ring, cache->feed, cache->feed_size, cache->sig,
				cache->sig_len, NULL);
	if (rc == 0)
		rc = dfumgr_feed_parse(ctx, cache->feed, cache->feed_size, ret_feed);
	if (rc < 0) {
		dfumgr_ctx_log(ctx, DFUMGR_LOG_WARNING,
			       "%s: the cached feed does not verify with the trusted keys; not "
			       "used: %s",
			       path, dfumgr_ctx_errmsg(ctx));
		goto drop;
	}
	dfumgr_ctx_clear_error(ctx);
	return;
drop:
	dfumgr_ctx_clear_error(ctx);
	dfumgr_feed_cache_done(cache);
	memset(cache, 0, sizeof(*cache));
}

static void signer_name(const struct dfumgr_keyring *ring, size_t idx, char out[static 256])
{
	const char *name = dfumgr_key_name(dfumgr_keyring_key(ring, idx));
	const char *slash = strrchr(name, '/');

	snprintf(out, 256, "%s", name[0] ? (slash ? slash + 1 : name) : "(key in memory)");
}

DFUMGR_EXPORT int dfumgr_fetch_feed(struct dfumgr_fetcher *f, const char *url,
				    const char *cache_path, const struct dfumgr_keyring *ring,
				    struct dfumgr_feed **ret_feed,
				    struct dfumgr_fetch_feed_info *ret_info)
{
	struct dfumgr_fetch_feed_info info = {0};
	struct dfumgr_feed_cache cache = {0};
	struct dfumgr_feed *cached = NULL, *feed = NULL;
	struct dfumgr_ctx *ctx;
	uint8_t *sig = NULL;
	char *feed_url = NULL, *sig_url = NULL;
	size_t sig_len = 0, idx = 0;
	struct xfer x;
	int rc;

	if (!f || !url || !ring || !ret_feed)
		return fail(f ? f->ctx : NULL, DFUMGR_E_INVAL, "dfumgr_fetch_feed: NULL argument");
	ctx = f->ctx;
	if (dfumgr_keyring_count(ring) == 0)
		return fail(ctx, DFUMGR_E_NOSIG, "no trusted keys to check the feed with");
	f->requests = f->retries = 0;
	f->bytes = 0;
	rc = resolve_url(f, url, NULL, &feed_url);
	if (rc < 0)
		return rc;
	if (strlen(feed_url) > DFUMGR_FEED_URL_MAX) {
		rc = fail(ctx, DFUMGR_E_TOOBIG, "%s: URL longer than %d bytes", url,
			  DFUMGR_FEED_URL_MAX);
		goto out;
	}
	if (cache_path)
		load_cache(f, cache_path, feed_url, ring, &cache, &cached);

	xfer_init(&x, f, feed_url, DFUMGR_FETCH_ITEM_FEED, "feed", f->o.feed_size_max, false);
	x.accept_encoding = true;
	if (cached) {
		x.etag = cache.etag;
		x.last_modified = cache.last_modified;
	}
	rc = transfer(&x);
	if (rc < 0) {
		free(x.buf);
		goto out;
	}
	{
		char *eff = NULL;

		/* RFC 3986 §5.1.3: the base of relative references is the URL after redirects */
		if (curl_easy_getinfo(f->curl, CURLINFO_EFFECTIVE_URL, &eff) != CURLE_OK || !eff ||
		    strlen(eff) > DFUMGR_FEED_URL_MAX)
			eff = feed_url;
		snprintf(info.url, sizeof(info.url), "%s", eff);
	}
	if (rc == TRY_NOT_MODIFIED) {
		free(x.buf);
		feed = cached;
		cached = NULL;
		info.not_modified = info.from_cache = true;
		/* which key: verified again, cheaply, for the report */
		rc = dfumgr_feed_verify(ctx, ring, cache.feed, cache.feed_size, cache.sig,
					cache.sig_len, &idx);
		if (rc < 0)
			goto out;
		signer_name(ring, idx, info.signer);
		goto done;
	}

	/* a new feed: its signature, then its content */
	sig_url = malloc(strlen(feed_url) + 5);
	if (!sig_url)
		rc = fail(ctx, DFUMGR_E_NOMEM, "out of memory");
	else
		memcpy(stpcpy(sig_url, feed_url), ".sig", 5);
	if (rc == 0)
		rc = fetch_mem(f, sig_url, DFUMGR_FETCH_ITEM_SIGNATURE, "feed signature",
			       DFUMGR_ECDSA_SIG_MAX, false, &sig, &sig_len);
	if (rc == -DFUMGR_E_NOENT)
		rc = fail(ctx, DFUMGR_E_NOSIG, "%s: not on the server: the feed is not signed",
			  sig_url);
	if (rc == 0)
		rc = dfumgr_feed_verify(ctx, ring, x.buf, (size_t)x.have, sig, sig_len, &idx);
	if (rc < 0) {
		if (rc == -DFUMGR_E_SIGNATURE)
			dfumgr_ctx_prefix_error(ctx, rc, "%s", feed_url);
		free(x.buf);
		goto out;
	}
	signer_name(ring, idx, info.signer);
	rc = dfumgr_feed_parse(ctx, x.buf, (size_t)x.have, &feed);
	if (rc < 0) {
		dfumgr_ctx_prefix_error(ctx, rc, "%s", feed_url);
		free(x.buf);
		goto out;
	}
	/* a signed but older feed is a replay: it would hide the releases published since */
	if (cached && dfumgr_feed_sequence(feed) < dfumgr_feed_sequence(cached)) {
		rc = fail(ctx, DFUMGR_E_DOWNGRADE,
			  "%s: sequence %" PRIu64 " is older than the sequence %" PRIu64
			  " accepted before: refusing a replayed feed",
			  feed_url, dfumgr_feed_sequence(feed), dfumgr_feed_sequence(cached));
		free(x.buf);
		goto out;
	}
	info.bytes = x.have;
	if (cache_path) {
		struct dfumgr_feed_cache nc = {0};

		snprintf(nc.url, sizeof(nc.url), "%s", feed_url);
		snprintf(nc.etag, sizeof(nc.etag), "%s", x.etag_out);
		snprintf(nc.last_modified, sizeof(nc.last_modified), "%s", x.lm_out);
		nc.feed = x.buf;
		nc.feed_size = (size_t)x.have;
		memcpy(nc.sig, sig, sig_len);
		nc.sig_len = sig_len;
		/* a feed that cannot be cached is still the right feed: only the next run pays */
		if (dfumgr_feed_cache_save(ctx, cache_path, &nc) < 0) {
			dfumgr_ctx_log(ctx, DFUMGR_LOG_WARNING, "cannot update the feed cache: %s",
				       dfumgr_ctx_errmsg(ctx));
			dfumgr_ctx_clear_error(ctx);
		}
	}
	free(x.buf);
done:
	info.sequence = dfumgr_feed_sequence(feed);
	*ret_feed = feed;
	feed = NULL;
	if (ret_info)
		*ret_info = info;
	rc = 0;
out:
	dfumgr_feed_free(feed);
	dfumgr_feed_free(cached);
	dfumgr_feed_cache_done(&cache);
	free(sig);
	free(sig_url);
	free(feed_url);
	return rc;
}

/* ---- staging and delivery ---- */

static bool is_stage_name(const char *s)
{
	size_t n = strlen(s);

	if (n != 2 * DFUMGR_SHA256_SIZE)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Removes a staging subdirectory: flat, our own files only. */
static void remove_stage(int sfd, const char *name)
{
	int dfd = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (dfd < 0)
		return;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	(void)unlinkat(sfd, name, AT_REMOVEDIR);
}

/* Staged leftovers of other bundles (a release replaced before it finished): removed. */
static void remove_other_stages(int sfd, const char *keep)
{
	int dup_fd = dup(sfd);
	struct dirent *de;
	DIR *d;

	if (dup_fd < 0)
		return;
	d = fdopendir(dup_fd);
	if (!d) {
		close(dup_fd);
		return;
	}
	while ((de = readdir(d)))
		if (is_stage_name(de->d_name) && strcmp(de->d_name, keep) != 0)
			remove_stage(sfd, de->d_name);
	closedir(d);
}

static int open_dir(struct dfumgr_ctx *ctx, const char *path, const char *what, mode_t mode,
		    int *ret_fd)
{
	int fd;

	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return fail(ctx, errno_err(errno), "%s: cannot create the %s directory: %s", path,
			    what, strerror(errno));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(ctx, errno_err(errno), "%s: cannot open the %s directory: %s", path,
			    what, strerror(errno));
	*ret_fd = fd;
	return 0;
}

static int write_at(struct dfumgr_ctx *ctx, int dfd, const char *name, const void *buf, size_t size)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	size_t done = 0;

	if (fd < 0)
		return fail(ctx, errno_err(errno), "%s: cannot create the staged file: %s", name,
			    strerror(errno));
	while (done < size) {
		ssize_t w = write(fd, (const uint8_t *)buf + done, size - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;

			close(fd);
			return fail(ctx, errno_err(e), "%s: cannot write the staged file: %s", name,
				    strerror(e));
		}
		done += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return fail(ctx, DFUMGR_E_IO, "%s: cannot sync the staged file: %s", name,
			    strerror(errno));
	return 0;
}

/* True when dfd/name is a bundle directory whose manifest.json has this SHA-256. */
static bool has_bundle(int dfd, const char *name, const uint8_t sha[static DFUMGR_SHA256_SIZE])
{
	uint8_t digest[DFUMGR_SHA256_SIZE], buf[COPY_CHUNK];
	struct dfumgr_sha256 *h;
	int bfd, fd;
	bool ok = false;
	ssize_t n;

	bfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (bfd < 0)
		return false;
	fd = openat(bfd, DFUMGR_BUNDLE_MANIFEST, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(bfd);
	if (fd < 0)
		return false;
	h = dfumgr_sha256_new();
	if (h) {
		uint64_t total = 0;

		while ((n = read(fd, buf, sizeof(buf))) > 0 && total <= DFUMGR_MANIFEST_SIZE_MAX) {
			dfumgr_sha256_update(h, buf, (size_t)n);
			total += (uint64_t)n;
		}
		dfumgr_sha256_final(h, digest);
		ok = n == 0 && dfumgr_memeq_ct(digest, sha, DFUMGR_SHA256_SIZE);
		dfumgr_sha256_free(h);
	}
	close(fd);
	return ok;
}

/*
 * One image into the stage directory: what an earlier run staged is hashed once and kept, the
 * rest is fetched with a range request, hashed as it arrives, and checked against the signed
 * size and SHA-256.
 */
static int fetch_image(struct dfumgr_fetcher *f, char *const urls[], size_t n_urls, int stage_fd,
		       const struct dfumgr_manifest_image *mi, struct dfumgr_fetch_result *res)
{
	struct dfumgr_ctx *ctx = f->ctx;
	uint8_t digest[DFUMGR_SHA256_SIZE], buf[COPY_CHUNK];
	char got[2 * DFUMGR_SHA256_SIZE + 1], want[2 * DFUMGR_SHA256_SIZE + 1];
	char *url = NULL;
	bool fresh_try_left = true;
	uint64_t staged = 0;
	struct stat st;
	struct xfer x;
	int fd, rc;

	fd = openat(stage_fd, mi->file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(ctx, errno_err(errno), "%s: cannot create the staged file: %s",
			    mi->file, strerror(errno));
	xfer_init(&x, f, NULL, DFUMGR_FETCH_ITEM_IMAGE, mi->file, mi->size, true);
	x.fd = fd;
	x.hash = dfumgr_sha256_new();
	if (!x.hash) {
		rc = fail(ctx, DFUMGR_E_NOMEM, "out of memory");
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = fail(ctx, DFUMGR_E_IO, "%s: the staged file is not a regular file", mi->file);
		goto out;
	}
	if ((uint64_t)st.st_size > mi->size && ftruncate(fd, 0) < 0) {
		rc = fail(ctx, DFUMGR_E_IO, "%s: cannot truncate: %s", mi->file, strerror(errno));
		goto out;
	}
	/* an earlier run died mid-file: its bytes are hashed once, not fetched again */
	if ((uint64_t)st.st_size <= mi->size) {
		while (staged < (uint64_t)st.st_size) {
			ssize_t n = pread(fd, buf, sizeof(buf), (off_t)staged);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			dfumgr_sha256_update(x.hash, buf, (size_t)n);
			staged += (uint64_t)n;
		}
		if (staged != (uint64_t)st.st_size) {
			rc = fail(ctx, DFUMGR_E_IO, "%s: cannot read the staged file", mi->file);
			goto out;
		}
	}
	if (lseek(fd, (off_t)staged, SEEK_SET) < 0) {
		rc = fail(ctx, DFUMGR_E_IO, "%s: cannot seek: %s", mi->file, strerror(errno));
		goto out;
	}
	if (staged) {
		res->bytes_rehashed += staged;
		dfumgr_ctx_log(ctx, DFUMGR_LOG_INFO,
			       "%s: %" PRIu64 " of %" PRIu32
			       " bytes staged by an earlier run; continuing from there",
			       mi->file, staged, mi->size);
	}
	x.have = staged;
again:
	rc = -DFUMGR_E_INVAL;
	for (size_t m = 0; m < n_urls; m++) {
		free(url);
		url = NULL;
		rc = file_url(f, urls[m], mi->file, &url);
		if (rc < 0)
			goto out;
		x.url = url;
		rc = transfer(&x);
		if (rc >= 0)
			break;
		/* the next mirror, for what a mirror can cause */
		if (m + 1 < n_urls &&
		    (rc == -DFUMGR_E_NETWORK || rc == -DFUMGR_E_TIMEOUT || rc == -DFUMGR_E_TLS ||
		     rc == -DFUMGR_E_NOENT || rc == -DFUMGR_E_HTTP || rc == -DFUMGR_E_ACCESS)) {
			dfumgr_ctx_log(ctx, DFUMGR_LOG_WARNING, "%s; trying the next mirror",
				       dfumgr_ctx_errmsg(ctx));
			dfumgr_ctx_clear_error(ctx);
			continue;
		}
		break;
	}
	if (rc < 0)
		goto bad;
	if (x.have != mi->size) {
		rc = fail(ctx, DFUMGR_E_MISMATCH,
			  "%s: %" PRIu64 " bytes arrived, the signed manifest says %" PRIu32, url,
			  x.have, mi->size);
		goto bad;
	}
	dfumgr_sha256_final(x.hash, digest);
	if (!dfumgr_memeq_ct(digest, mi->sha256, DFUMGR_SHA256_SIZE)) {
		/* the staged part may be what is wrong (the file changed on the server) */
		if (staged && fresh_try_left) {
			dfumgr_ctx_log(ctx, DFUMGR_LOG_WARNING,
				       "%s: SHA-256 differs after resuming; fetching it whole once "
				       "more",
				       mi->file);
			fresh_try_left = false;
			staged = 0;
			rc = sink_reset(&x);
			if (rc < 0)
				goto out;
			goto again;
		}
		hex(digest, DFUMGR_SHA256_SIZE, got);
		hex(mi->sha256, DFUMGR_SHA256_SIZE, want);
		rc = fail(ctx, DFUMGR_E_HASH, "%s: SHA-256 is %s, the signed manifest says %s", url,
			  got, want);
		goto bad;
	}
	if (fsync(fd) < 0) {
		rc = fail(ctx, DFUMGR_E_IO, "%s: cannot sync the staged file: %s", mi->file,
			  strerror(errno));
		goto out;
	}
	res->bytes_resumed += staged;
	rc = 0;
	goto out;
bad:
	/* bytes that do not belong to this file are not kept for a resume */
	if (rc == -DFUMGR_E_HASH || rc == -DFUMGR_E_MISMATCH || rc == -DFUMGR_E_TOOBIG ||
	    rc == -DFUMGR_E_PROTOCOL)
		(void)unlinkat(stage_fd, mi->file, 0);
out:
	free(url);
	dfumgr_sha256_free(x.hash);
	close(fd);
	return rc;
}

static int64_t elapsed_us(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)(t.tv_sec - t0->tv_sec) * 1000000 + (t.tv_nsec - t0->tv_nsec) / 1000;
}

/* The bundle delivered (or found) at dest/name: its path into the result. */
static void set_bundle_path(struct dfumgr_fetch_result *res, const char *dest, const char *name)
{
	int n = snprintf(res->bundle, sizeof(res->bundle), "%s/%s", dest, name);

	if (n < 0)
		res->bundle[0] = '\0';
}

/* What both entry points share, once the bundle's directory URLs are known. */
static int fetch_bundle(struct dfumgr_fetcher *f, char *const urls[], size_t n_urls,
			const struct dfumgr_feed_release *rel, const struct dfumgr_keyring *ring,
			const char *staging, const char *dest, struct dfumgr_fetch_result *res)
{
	struct dfumgr_ctx *ctx = f->ctx;
	struct dfumgr_manifest m;
	struct timespec t0;
	struct stat st_s, st_d;
	uint8_t *mbuf = NULL, *sig = NULL, digest[DFUMGR_SHA256_SIZE];
	size_t msize = 0, sig_len = 0, idx = 0;
	char stage[2 * DFUMGR_SHA256_SIZE + 1], name[2 * DFUMGR_MANIFEST_PRODUCT_MAX + 2];
	char want[2 * DFUMGR_SHA256_SIZE + 1], got[2 * DFUMGR_SHA256_SIZE + 1], *url = NULL;
	int dfd = -1, sfd = -1, lock = -1, stage_fd = -1, rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (dfumgr_keyring_count(ring) == 0)
		return fail(ctx, DFUMGR_E_NOSIG, "no trusted keys to check the manifest with");
	rc = open_dir(ctx, dest, "destination", 0755, &dfd);
	if (rc == 0)
		rc = open_dir(ctx, staging, "staging", 0750, &sfd);
	if (rc < 0)
		goto out;
	/* rename() is atomic only within one filesystem */
	if (fstat(dfd, &st_d) < 0 || fstat(sfd, &st_s) < 0 || st_d.st_dev != st_s.st_dev) {
		rc = fail(ctx, DFUMGR_E_INVAL,
			  "%s and %s are on different filesystems: a bundle could not be moved "
			  "into place atomically (put the staging directory next to the "
			  "destination)",
			  staging, dest);
		goto out;
	}
	lock = openat(sfd, STAGE_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lock < 0) {
		rc = fail(ctx, errno_err(errno), "%s/%s: cannot open: %s", staging, STAGE_LOCK,
			  strerror(errno));
		goto out;
	}
	if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
		rc = fail(ctx, errno == EWOULDBLOCK ? DFUMGR_E_BUSY : DFUMGR_E_IO,
			  "%s: another dfu-mgr fetch is using this staging directory", staging);
		goto out;
	}

	/* the feed names the bundle before anything is fetched: maybe it is here already */
	if (rel) {
		snprintf(name, sizeof(name), "%s-%s", rel->product, rel->release);
		if (has_bundle(dfd, name, rel->manifest_sha256)) {
			snprintf(res->product, sizeof(res->product), "%s", rel->product);
			snprintf(res->release, sizeof(res->release), "%s", rel->release);
			res->version = rel->version;
			memcpy(res->manifest_sha256, rel->manifest_sha256, DFUMGR_SHA256_SIZE);
			for (size_t i = 0; i < rel->n_files; i++)
				res->bytes_total += rel->files[i].size;
			res->already_present = true;
			set_bundle_path(res, dest, name);
			rc = 0;
			goto out;
		}
	}

	/* 1. the manifest and its signature, verified before any image is asked for */
	rc = -DFUMGR_E_INVAL;
	for (size_t m_i = 0; m_i < n_urls; m_i++) {
		free(url);
		url = NULL;
		free(mbuf);
		mbuf = NULL;
		rc = file_url(f, urls[m_i], DFUMGR_BUNDLE_MANIFEST, &url);
		if (rc < 0)
			goto out;
		rc = fetch_mem(f, url, DFUMGR_FETCH_ITEM_MANIFEST, DFUMGR_BUNDLE_MANIFEST,
			       rel ? rel->manifest_size : DFUMGR_MANIFEST_SIZE_MAX, rel != NULL,
			       &mbuf, &msize);
		if (rc == 0 || m_i + 1 == n_urls)
			break;
		dfumgr_ctx_log(ctx, DFUMGR_LOG_WARNING, "%s; trying the next mirror",
			       dfumgr_ctx_errmsg(ctx));
		dfumgr_ctx_clear_error(ctx);
	}
	if (rc < 0)
		goto out;
	dfumgr_sha256(mbuf, msize, digest);
	if (rel) {
		if (!dfumgr_memeq_ct(digest, rel->manifest_sha256, DFUMGR_SHA256_SIZE)) {
			hex(digest, DFUMGR_SHA256_SIZE, got);
			hex(rel->manifest_sha256, DFUMGR_SHA256_SIZE, want);
			rc = fail(ctx, DFUMGR_E_HASH, "%s: SHA-256 is %s, the signed feed says %s",
				  url, got, want);
			goto out;
		}
		sig = malloc(rel->manifest_sig_len);
		if (!sig) {
			rc = fail(ctx, DFUMGR_E_NOMEM, "out of memory");
			goto out;
		}
		memcpy(sig, rel->manifest_sig, rel->manifest_sig_len);
		sig_len = rel->manifest_sig_len;
	} else {
		size_t n = strlen(url);
		char *sig_url = malloc(n + 5);

		if (!sig_url) {
			rc = fail(ctx, DFUMGR_E_NOMEM, "out of memory");
			goto out;
		}
		memcpy(sig_url, url, n);
		memcpy(sig_url + n, ".sig", 5);
		rc = fetch_mem(f, sig_url, DFUMGR_FETCH_ITEM_SIGNATURE, DFUMGR_BUNDLE_SIGNATURE,
			       DFUMGR_ECDSA_SIG_MAX, false, &sig, &sig_len);
		if (rc == -DFUMGR_E_NOENT)
			rc = fail(ctx, DFUMGR_E_NOSIG,
				  "%s: not on the server: the bundle is not signed", sig_url);
		free(sig_url);
		if (rc < 0)
			goto out;
	}
	rc = dfumgr_manifest_verify(ctx, ring, mbuf, msize, sig, sig_len, &idx);
	if (rc < 0) {
		dfumgr_ctx_prefix_error(ctx, rc, "%s", url);
		goto out;
	}
	signer_name(ring, idx, res->signer);
	rc = dfumgr_manifest_parse(ctx, mbuf, msize, &m);
	if (rc == 0 && rel)
		rc = dfumgr_feed_release_check(ctx, rel, &m);
	if (rc < 0) {
		dfumgr_ctx_prefix_error(ctx, rc, "%s", url);
		goto out;
	}
	snprintf(res->product, sizeof(res->product), "%s", m.product);
	snprintf(res->release, sizeof(res->release), "%s", m.release);
	memcpy(res->manifest_sha256, digest, DFUMGR_SHA256_SIZE);
	res->version = m.images[0].version;
	for (size_t i = 0; i < m.n_images; i++) {
		if (dfumgr_version_cmp(&m.images[i].version, &res->version) > 0)
			res->version = m.images[i].version;
		res->bytes_total += m.images[i].size;
		if (m.images[i].size > f->o.file_size_max) {
			rc = fail(ctx, DFUMGR_E_TOOBIG,
				  "%s: %" PRIu32 " bytes, more than the limit of %" PRIu64,
				  m.images[i].file, m.images[i].size, f->o.file_size_max);
			goto out;
		}
	}
	snprintf(name, sizeof(name), "%s-%s", m.product, m.release);
	if (has_bundle(dfd, name, digest)) {
		res->already_present = true;
		set_bundle_path(res, dest, name);
		rc = 0;
		goto out;
	}

	/* 2. the images, into staging/<manifest SHA-256>/ */
	hex(digest, DFUMGR_SHA256_SIZE, stage);
	if (mkdirat(sfd, stage, 0755) < 0 && errno != EEXIST) {
		rc = fail(ctx, errno_err(errno), "%s/%s: cannot create: %s", staging, stage,
			  strerror(errno));
		goto out;
	}
	stage_fd = openat(sfd, stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (stage_fd < 0) {
		rc = fail(ctx, errno_err(errno), "%s/%s: cannot open: %s", staging, stage,
			  strerror(errno));
		goto out;
	}
	rc = write_at(ctx, stage_fd, DFUMGR_BUNDLE_MANIFEST, mbuf, msize);
	if (rc == 0)
		rc = write_at(ctx, stage_fd, DFUMGR_BUNDLE_SIGNATURE, sig, sig_len);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < m.n_images; i++) {
		rc = fetch_image(f, urls, n_urls, stage_fd, &m.images[i], res);
		if (rc < 0)
			goto out;
	}
	if (fsync(stage_fd) < 0) {
		rc = fail(ctx, DFUMGR_E_IO, "%s/%s: cannot sync: %s", staging, stage,
			  strerror(errno));
		goto out;
	}

	/* 3. delivery: one rename, never over an existing directory */
	rc = renameat2(sfd, stage, dfd, name, RENAME_NOREPLACE);
	if (rc < 0 && errno == EINVAL) {
		/* a filesystem without RENAME_NOREPLACE: rename() would replace an empty one */
		if (faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			errno = EEXIST;
		else
			rc = renameat(sfd, stage, dfd, name);
	}
	if (rc < 0) {
		int e = errno;

		if ((e == EEXIST || e == ENOTEMPTY) && has_bundle(dfd, name, digest)) {
			res->already_present = true;
			remove_stage(sfd, stage);
		} else if (e == EEXIST || e == ENOTEMPTY) {
			rc = fail(ctx, DFUMGR_E_EXISTS,
				  "%s/%s exists and holds another bundle: not replaced (the bundle "
				  "stays staged in %s/%s)",
				  dest, name, staging, stage);
			goto out;
		} else {
			rc = fail(ctx, errno_err(e), "cannot move %s/%s to %s/%s: %s", staging,
				  stage, dest, name, strerror(e));
			goto out;
		}
	}
	(void)fsync(dfd);
	(void)fsync(sfd);
	set_bundle_path(res, dest, name);
	rc = 0;
out:
	if (rc == 0 && sfd >= 0)
		remove_other_stages(sfd, "");
	res->bytes_downloaded = f->bytes;
	res->requests = f->requests;
	res->retries = f->retries;
	res->elapsed_us = (uint64_t)elapsed_us(&t0);
	free(url);
	free(mbuf);
	free(sig);
	if (stage_fd >= 0)
		close(stage_fd);
	if (lock >= 0)
		close(lock); /* releases the lock */
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

DFUMGR_EXPORT int dfumgr_fetch_bundle(struct dfumgr_fetcher *f, const char *url,
				      const struct dfumgr_keyring *ring, const char *staging_dir,
				      const char *dest_dir, struct dfumgr_fetch_result *result)
{
	struct dfumgr_fetch_result res = {0};
	char *dir = NULL;
	int rc;

	if (!f || !url || !ring || !staging_dir || !dest_dir)
		return fail(f ? f->ctx : NULL, DFUMGR_E_INVAL,
			    "dfumgr_fetch_bundle: NULL argument");
	f->requests = f->retries = 0;
	f->bytes = 0;
	rc = dir_url(f, url, NULL, &dir);
	if (rc == 0)
		rc = fetch_bundle(f, &dir, 1, NULL, ring, staging_dir, dest_dir, &res);
	free(dir);
	if (result)
		*result = res;
	return rc;
}

DFUMGR_EXPORT int dfumgr_fetch_release(struct dfumgr_fetcher *f, const char *feed_url,
				       const struct dfumgr_feed_release *rel,
				       const struct dfumgr_keyring *ring, const char *staging_dir,
				       const char *dest_dir, struct dfumgr_fetch_result *result)
{
	struct dfumgr_fetch_result res = {0};
	char *dirs[DFUMGR_FEED_URLS_MAX] = {0};
	size_t n = 0;
	int rc = 0;

	if (!f || !feed_url || !rel || !ring || !staging_dir || !dest_dir || rel->n_urls < 1 ||
	    rel->n_urls > DFUMGR_FEED_URLS_MAX)
		return fail(f ? f->ctx : NULL, DFUMGR_E_INVAL,
			    "dfumgr_fetch_release: bad argument");
	f->requests = f->retries = 0;
	f->bytes = 0;
	for (; n < rel->n_urls && rc == 0; n++)
		rc = dir_url(f, feed_url, rel->urls[n], &dirs[n]);
	if (rc == 0)
		rc = fetch_bundle(f, dirs, rel->n_urls, rel, ring, staging_dir, dest_dir, &res);
	for (size_t i = 0; i < DFUMGR_FEED_URLS_MAX; i++)
		free(dirs[i]);
	if (result)
		*result = res;
	return rc;
}
