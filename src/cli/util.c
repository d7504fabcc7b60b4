/* SPDX-License-Identifier: MIT */
/* Exit codes, error printing, number parsing and the JSON writer of the CLI. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- JSON ---- */

static void jw_sep(struct jw *w, const char *key)
{
	if (w->need_comma[w->depth])
		fputc(',', w->f);
	w->need_comma[w->depth] = true;
	if (w->depth) {
		fputc('\n', w->f);
		for (int i = 0; i < w->depth; i++)
			fputs("  ", w->f);
	}
	if (key) {
		fputc('"', w->f);
		for (const char *p = key; *p; p++)
			fputc(*p, w->f); /* keys are our own ASCII identifiers */
		fputs("\": ", w->f);
	}
}

static void jw_escape(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void jw_begin(struct jw *w, FILE *f)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
}

static void jw_open(struct jw *w, const char *key, char c)
{
	jw_sep(w, key);
	fputc(c, w->f);
	if (w->depth + 1 < (int)(sizeof(w->need_comma) / sizeof(w->need_comma[0])))
		w->depth++;
	w->need_comma[w->depth] = false;
}

static void jw_close(struct jw *w, char c)
{
	bool had = w->need_comma[w->depth];

	if (w->depth)
		w->depth--;
	if (had) {
		fputc('\n', w->f);
		for (int i = 0; i < w->depth; i++)
			fputs("  ", w->f);
	}
	fputc(c, w->f);
}

void jw_obj(struct jw *w, const char *key)
{
	jw_open(w, key, '{');
}

void jw_arr(struct jw *w, const char *key)
{
	jw_open(w, key, '[');
}

void jw_end_obj(struct jw *w)
{
	jw_close(w, '}');
}

void jw_end_arr(struct jw *w)
{
	jw_close(w, ']');
}

void jw_str(struct jw *w, const char *key, const char *val)
{
	if (!w)
		return;
	jw_sep(w, key);
	jw_escape(w->f, val ? val : "");
}

void jw_uint(struct jw *w, const char *key, uint64_t val)
{
	jw_sep(w, key);
	fprintf(w->f, "%" PRIu64, val);
}

void jw_int(struct jw *w, const char *key, int64_t val)
{
	jw_sep(w, key);
	fprintf(w->f, "%" PRId64, val);
}

void jw_bool(struct jw *w, const char *key, bool val)
{
	jw_sep(w, key);
	fputs(val ? "true" : "false", w->f);
}

void jw_null(struct jw *w, const char *key)
{
	jw_sep(w, key);
	fputs("null", w->f);
}

void jw_hex(struct jw *w, const char *key, const uint8_t *buf, size_t n)
{
	jw_sep(w, key);
	fputc('"', w->f);
	for (size_t i = 0; i < n; i++)
		fprintf(w->f, "%02x", buf[i]);
	fputc('"', w->f);
}

void jw_addr(struct jw *w, const char *key, uint32_t val)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "0x%08" PRIx32, val);
	jw_str(w, key, buf);
}

void jw_finish(struct jw *w)
{
	fputc('\n', w->f);
	fflush(w->f);
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
