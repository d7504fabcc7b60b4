/* SPDX-License-Identifier: MIT */
/* Exit codes, error printing, number parsing and the JSON writer of the CLI. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "dfumgr/bundle.h"

int cli_exit_code(int rc)
{
	switch (rc < 0 ? -rc : rc) {
	case DFUMGR_OK:
		return EXIT_OK;
	case DFUMGR_E_HASH:
	case DFUMGR_E_TLS: /* the server is not who it should be */
	case DFUMGR_E_SIGNATURE:
	case DFUMGR_E_NOSIG:
	case DFUMGR_E_MISMATCH:
		return EXIT_VERIFY;
	case DFUMGR_E_INVAL:
	case DFUMGR_E_AMBIGUOUS: /* choose the board with --serial or --path */
		return EXIT_USAGE;
	case DFUMGR_E_FORMAT:
	case DFUMGR_E_TRUNCATED:
	case DFUMGR_E_BADMAGIC:
	case DFUMGR_E_TOOBIG:
	case DFUMGR_E_NOFIT:
	case DFUMGR_E_UNSUPPORTED:
	case DFUMGR_E_UNSAFE_PATH:
	case DFUMGR_E_DOWNGRADE:
	case DFUMGR_E_REFUSED:
	case DFUMGR_E_PRODUCT:
		return EXIT_DATAERR;
	case DFUMGR_E_NOENT:
		return EXIT_NOINPUT;
	case DFUMGR_E_NODEV:
		return EXIT_NODEV;
	case DFUMGR_E_EXISTS:
		return EXIT_CANTCREAT;
	case DFUMGR_E_IO:
	case DFUMGR_E_STALL:
	case DFUMGR_E_DFU_STATUS:
	case DFUMGR_E_PROTOCOL:
		return EXIT_IOERR; /* the device failed a request */
	case DFUMGR_E_ACCESS:
		return EXIT_NOPERM;
	case DFUMGR_E_HTTP:
		return EXIT_NODEV; /* 69, sysexits' EX_UNAVAILABLE: the server failed the request */
	case DFUMGR_E_TIMEOUT:
	case DFUMGR_E_NETWORK:
	case DFUMGR_E_DISCONNECTED:
	case DFUMGR_E_BUSY:
	case DFUMGR_E_CANCELLED:
		return EXIT_TEMPFAIL;
	default:
		return EXIT_SOFTWARE;
	}
}

int cli_fail(struct cli *cli, int rc, const char *fmt, ...)
{
	char what[1024];
	char msg[2048];
	const char *detail = dfumgr_ctx_errmsg(cli->ctx);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s: %s", what, detail[0] ? detail : dfumgr_strerror(rc));
	if (cli->json && !cli->json_open)
		jw_error(stdout, rc, msg);
	fprintf(stderr, "%s: %s\n", cli->prog, msg);
	return cli_exit_code(rc);
}

int cli_usage_error(struct cli *cli, const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s %s: ", cli->prog, cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s %s --help'.\n", cli->prog, cmd);
	return EXIT_USAGE;
}

bool cli_parse_u32(const char *s, uint32_t max, uint32_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return false;
	*ret = (uint32_t)v;
	return true;
}

/* ---- JSON: a tree built with cJSON, printed once at jw_finish() ---- */

/* Adds item under the current container (with key in an object); false when out of memory. */
static bool jw_add(struct jw *w, const char *key, cJSON *item)
{
	cJSON *parent = w->depth ? w->stack[w->depth - 1] : NULL;

	if (!item)
		return false;
	if (!parent) {
		if (w->root) {
			cJSON_Delete(item); /* one document per writer */
			return false;
		}
		w->root = item;
		return true;
	}
	if (cJSON_IsArray(parent) || !key)
		cJSON_AddItemToArray(parent, item);
	else
		cJSON_AddItemToObject(parent, key, item);
	return true;
}

void jw_begin(struct jw *w, FILE *f)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
}

static void jw_open(struct jw *w, const char *key, cJSON *c)
{
	if (!jw_add(w, key, c))
		return;
	if (w->depth < (int)(sizeof(w->stack) / sizeof(w->stack[0])))
		w->stack[w->depth++] = c;
}

void jw_obj(struct jw *w, const char *key)
{
	jw_open(w, key, cJSON_CreateObject());
}

void jw_arr(struct jw *w, const char *key)
{
	jw_open(w, key, cJSON_CreateArray());
}

void jw_end_obj(struct jw *w)
{
	if (w->depth)
		w->depth--;
}

void jw_end_arr(struct jw *w)
{
	if (w->depth)
		w->depth--;
}

void jw_str(struct jw *w, const char *key, const char *val)
{
	if (w)
		jw_add(w, key, cJSON_CreateString(val ? val : ""));
}

void jw_uint(struct jw *w, const char *key, uint64_t val)
{
	/* JSON numbers are doubles in cJSON: exact up to 2^53, far beyond any size here */
	jw_add(w, key, cJSON_CreateNumber((double)val));
}

void jw_int(struct jw *w, const char *key, int64_t val)
{
	jw_add(w, key, cJSON_CreateNumber((double)val));
}

void jw_bool(struct jw *w, const char *key, bool val)
{
	jw_add(w, key, cJSON_CreateBool(val));
}

void jw_null(struct jw *w, const char *key)
{
	jw_add(w, key, cJSON_CreateNull());
}

void jw_hex(struct jw *w, const char *key, const uint8_t *buf, size_t n)
{
	char *hex = malloc(2 * n + 1);

	if (!hex)
		return;
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", buf[i]);
	hex[2 * n] = '\0';
	jw_str(w, key, hex);
	free(hex);
}

void jw_addr(struct jw *w, const char *key, uint32_t val)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "0x%08" PRIx32, val);
	jw_str(w, key, buf);
}

void jw_finish(struct jw *w)
{
	char *text = w->root ? cJSON_Print(w->root) : NULL;

	if (text) {
		fputs(text, w->f);
		fputc('\n', w->f);
		fflush(w->f);
	} else {
		fputs("{\"error\": {\"name\": \"out of memory\"}}\n", w->f);
	}
	cJSON_free(text);
	cJSON_Delete(w->root);
	w->root = NULL;
	w->depth = 0;
}

void jw_error(FILE *f, int rc, const char *message)
{
	struct jw w;

	jw_begin(&w, f);
	jw_obj(&w, NULL);
	jw_obj(&w, "error");
	jw_int(&w, "code", rc < 0 ? -rc : rc);
	jw_str(&w, "name", dfumgr_strerror(rc));
	jw_str(&w, "message", message);
	jw_end_obj(&w);
	jw_end_obj(&w);
	jw_finish(&w);
}

void cli_print_report(struct cli *cli, const struct dfumgr_bundle_report *r, struct jw *w)
{
	static const char *const status[] = {"ok", "FAILED", "skipped"};

	(void)cli;
	if (w)
		jw_arr(w, "checks");
	for (size_t i = 0; i < r->n_checks; i++) {
		const struct dfumgr_bundle_check *c = &r->checks[i];
		const char *st = (unsigned)c->status < 3 ? status[c->status] : "?";

		if (w) {
			jw_obj(w, NULL);
			jw_str(w, "what", c->what);
			jw_str(w, "status", st);
			jw_str(w, "detail", c->detail);
			jw_end_obj(w);
		} else {
			printf("  %-7s %-28s %s\n", st, c->what, c->detail);
		}
	}
	if (w)
		jw_end_arr(w);
}
