/* SPDX-License-Identifier: MIT */
/* dfu-mgr command-line front end: shared declarations. Only libdfumgr's public API is used. */
#ifndef DFUMGR_CLI_H
#define DFUMGR_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dfumgr/common.h"

/* Exit codes (sysexits-like, documented in dfu-mgr(1)). */
enum {
	EXIT_OK = 0,
	EXIT_VERIFY = 1,   /* a hash, signature or manifest check failed */
	EXIT_USAGE = 64,   /* bad command line */
	EXIT_DATAERR = 65, /* invalid input file */
	EXIT_NOINPUT = 66, /* input missing or unreadable */
	EXIT_NODEV = 69,   /* no matching device */
	EXIT_SOFTWARE = 70,
	EXIT_CANTCREAT = 73, /* output exists or cannot be created */
	EXIT_IOERR = 74,
	EXIT_TEMPFAIL = 75, /* timeout, device gone: try again */
	EXIT_NOPERM = 77,
};

#define DEFAULT_KEYDIR "/etc/dfu-mgr/keys.d"

struct dfumgr_backend;
struct dfumgr_cancel;

struct cli {
	const char *prog;
	struct dfumgr_ctx *ctx;
	struct dfumgr_cancel *cancel; /* triggered by SIGINT/SIGTERM */
	bool json;
	bool json_open;    /* a --json document is being streamed: errors go into it, not after */
	bool item_emitted; /* the current file's JSON object was written */
	int verbose;
};

struct cli_command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
};

/* Maps a library error (negative) to an exit code. */
int cli_exit_code(int rc);
/* Prints "dfu-mgr: <what>: <detail>" to stderr and returns cli_exit_code(rc). */
int cli_fail(struct cli *cli, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Usage error: message + hint to --help; returns EXIT_USAGE. */
int cli_usage_error(struct cli *cli, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parses an unsigned number (decimal or 0x hex) in [0, max]; false on error. */
bool cli_parse_u32(const char *s, uint32_t max, uint32_t *ret);

/*
 * The --json writer: builds a cJSON tree (cJSON is the one JSON writer, STYLE) in the order of
 * the calls and prints it at jw_finish(). One document per jw_begin().
 */
struct cJSON;
struct jw {
	FILE *f;
	struct cJSON *root;
	struct cJSON *stack[32];
	int depth;
};
void jw_begin(struct jw *w, FILE *f);
void jw_obj(struct jw *w, const char *key);
void jw_arr(struct jw *w, const char *key);
void jw_end_obj(struct jw *w);
void jw_end_arr(struct jw *w);
void jw_str(struct jw *w, const char *key, const char *val);
void jw_uint(struct jw *w, const char *key, uint64_t val);
void jw_int(struct jw *w, const char *key, int64_t val);
void jw_bool(struct jw *w, const char *key, bool val);
void jw_null(struct jw *w, const char *key);
void jw_hex(struct jw *w, const char *key, const uint8_t *buf, size_t n);
/* "0x%08x" as a string (JSON numbers lose nothing here, but addresses read better in hex). */
void jw_addr(struct jw *w, const char *key, uint32_t val);
void jw_finish(struct jw *w);
/* {"error": {"code": N, "name": "...", "message": "..."}} for --json failures. */
void jw_error(FILE *f, int rc, const char *message);

/*
 * The backend the device commands use: libusb (backend_usb.c); the test build links another
 * file here (tests/support/cli_loop.c: in-process emulated boards). EXIT_OK or an exit code.
 */
int cli_backend_new(struct cli *cli, struct dfumgr_backend **ret);

/* Loads the trusted keys from --key files and --keys directories (EXIT_OK or an exit code). */
struct dfumgr_keyring;
int cli_load_keys(struct cli *cli, char **key_files, size_t n_files, char **key_dirs, size_t n_dirs,
		  struct dfumgr_keyring **ret_ring);
/* Those keys, or the default key directory; none at all is an error unless allow_unsigned. */
int cli_trusted_keys(struct cli *cli, const char *cmd, char **key_files, size_t n_files,
		     char **key_dirs, size_t n_dirs, bool allow_unsigned,
		     struct dfumgr_keyring **ret_ring);

/* Prints what dfumgr_bundle_open() checked: lines on a terminal, a "checks" array in JSON. */
struct dfumgr_bundle_report;
void cli_print_report(struct cli *cli, const struct dfumgr_bundle_report *r, struct jw *w);

int cmd_inspect(struct cli *cli, int argc, char **argv);
int cmd_pack(struct cli *cli, int argc, char **argv);
int cmd_sign(struct cli *cli, int argc, char **argv);
int cmd_verify_bundle(struct cli *cli, int argc, char **argv);
int cmd_keygen(struct cli *cli, int argc, char **argv);
int cmd_list(struct cli *cli, int argc, char **argv);
int cmd_update(struct cli *cli, int argc, char **argv);
int cmd_verify(struct cli *cli, int argc, char **argv);
int cmd_provision(struct cli *cli, int argc, char **argv);
int cmd_commit(struct cli *cli, int argc, char **argv);
int cmd_download(struct cli *cli, int argc, char **argv);
int cmd_upload(struct cli *cli, int argc, char **argv);
int cmd_detach(struct cli *cli, int argc, char **argv);
int cmd_reboot(struct cli *cli, int argc, char **argv);
int cmd_fetch(struct cli *cli, int argc, char **argv);
int cmd_publish(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_daemon(struct cli *cli, int argc, char **argv);
int cmd_history(struct cli *cli, int argc, char **argv);

#endif
