/* SPDX-License-Identifier: MIT */
/* dfu-mgrd's configuration: /etc/dfu-mgr/dfu-mgrd.conf, overridden by the command line. */
#ifndef DFUMGRD_CONFIG_H
#define DFUMGRD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_DEFAULT_PATH "/etc/dfu-mgr/dfu-mgrd.conf"
#define CONFIG_LINE_MAX     1024
#define CONFIG_FILE_MAX     (64 * 1024)
#define CONFIG_PRODUCT_MAPS 64
#define CONFIG_NAME_MAX     128
#define CONFIG_PRODUCT_MAX  64
#define CONFIG_PATHS        6

/* Which path a paths[] slot holds. */
enum config_path {
	PATH_INCOMING,    /* the drop directory */
	PATH_STATE,       /* releases/, rejected/, history.jsonl */
	PATH_RUNTIME,     /* control.sock */
	PATH_KEYS,        /* trusted keys: a directory of .pem/.der keys, or one key file */
	PATH_FETCH_STATE, /* the fetch unit's state file (dfu-mgr-feed(5)) */
	PATH_HISTORY,     /* the journal; default STATE/history.jsonl */
};

/* A plain DFU board (no product over GET_INFO) mapped to a product by serial or VID:PID. */
struct product_map {
	bool by_serial;
	char serial[CONFIG_NAME_MAX];
	uint16_t vid, pid;
	char product[CONFIG_PRODUCT_MAX + 1];
};

struct config {
	char *paths[CONFIG_PATHS]; /* malloc'ed */
	bool usb;                  /* false: no USB at all (release store and socket only) */
	bool allow_downgrade;
	unsigned max_parallel;    /* updates at once */
	unsigned max_attempts;    /* per board and release, then "needs attention" */
	unsigned retry_initial_s; /* back-off after the first failure, doubling ... */
	unsigned retry_max_s;     /* ... up to this */
	unsigned settle_s;        /* entries found at start: unchanged this long before use */
	unsigned history_max;     /* records kept in the journal (compaction) */
	char control_group[CONFIG_NAME_MAX]; /* may use the control socket besides root */
	size_t n_maps;
	struct product_map maps[CONFIG_PRODUCT_MAPS];
};

/* Sets the built-in defaults (paths under /var/lib/dfu-mgr, /run/dfu-mgr, /etc/dfu-mgr). */
int config_defaults(struct config *c);
/* Frees what c holds (the struct may be reused after config_defaults()). */
void config_done(struct config *c);

/*
 * Reads path over what c holds. missing_ok: a missing file is no error. On failure c is
 * unchanged and err (size errlen) says "FILE:LINE: what is wrong". Returns 0 or -1.
 */
int config_load(struct config *c, const char *path, bool missing_ok, char *err, size_t errlen);

/* Sets path slot which to value (a copy). 0 or -1 (out of memory). */
int config_set_path(struct config *c, enum config_path which, const char *value);

/* The product a plain board maps to, or NULL. serial may be "". */
const char *config_map_product(const struct config *c, const char *serial, uint16_t vid,
			       uint16_t pid);

/* The path slot's name in the file ("incoming", ...). */
const char *config_path_name(enum config_path which);

#endif
