/* SPDX-License-Identifier: MIT */
/*
 * The configuration file: INI sections ([paths], [policy], [control], [products]) of
 * key = value lines, or the same keys without sections. Strict: an unknown key, a bad value or
 * a duplicate is an error naming the file and line, and nothing of the file is applied, so a
 * typo never silently changes what the daemon does (SIGHUP keeps the old configuration then).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static const char *const path_names[CONFIG_PATHS] = {
    "incoming", "state", "runtime", "keys", "fetch_state", "history",
};

static const char *const path_defaults[CONFIG_PATHS] = {
    "/var/lib/dfu-mgr/incoming",
    "/var/lib/dfu-mgr",
    "/run/dfu-mgr",
    "/etc/dfu-mgr/keys.d",
    "/var/lib/dfu-mgr/fetch/state.json",
    "",
};

const char *config_path_name(enum config_path which)
{
	return (unsigned)which < CONFIG_PATHS ? path_names[which] : "?";
}

int config_set_path(struct config *c, enum config_path which, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -1;
	free(c->paths[which]);
	c->paths[which] = copy;
	return 0;
}

void config_done(struct config *c)
{
	for (size_t i = 0; i < CONFIG_PATHS; i++) {
		free(c->paths[i]);
		c->paths[i] = NULL;
	}
}

int config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < CONFIG_PATHS; i++)
		if (config_set_path(c, (enum config_path)i, path_defaults[i]) < 0) {
			config_done(c);
			return -1;
		}
	c->usb = true;
	c->max_parallel = 4;
	c->max_attempts = 5;
	c->retry_initial_s = 60;
	c->retry_max_s = 3600;
	c->settle_s = 5;
	c->history_max = 10000;
	snprintf(c->control_group, sizeof(c->control_group), "dfu-mgr");
	return 0;
}

const char *config_map_product(const struct config *c, const char *serial, uint16_t vid,
			       uint16_t pid)
{
	/* a serial names one board: it wins over a VID:PID that names a kind of board */
	for (size_t i = 0; i < c->n_maps; i++)
		if (c->maps[i].by_serial && serial[0] && !strcmp(c->maps[i].serial, serial))
			return c->maps[i].product;
	for (size_t i = 0; i < c->n_maps; i++)
		if (!c->maps[i].by_serial && c->maps[i].vid == vid && c->maps[i].pid == pid)
			return c->maps[i].product;
	return NULL;
}

/* ---- parsing ---- */

struct parser {
	const char *file;
	unsigned line;
	char *err;
	size_t errlen;
	char section[32];
	struct config *c;
	unsigned seen; /* bit per key of keys[] */
};

static int perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct parser *p, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s:%u: %s", p->file, p->line, what);
	return -1;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int parse_bool(struct parser *p, const char *key, const char *v, bool *ret)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (!strcmp(v, yes[i])) {
			*ret = true;
			return 0;
		}
		if (!strcmp(v, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return perr(p, "%s: \"%s\" is not yes or no", key, v);
}

static int parse_uint(struct parser *p, const char *key, const char *v, unsigned min, unsigned max,
		      unsigned *ret)
{
	unsigned long n;
	char *end;

	errno = 0;
	if (*v < '0' || *v > '9')
		return perr(p, "%s: \"%s\" is not a number", key, v);
	n = strtoul(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return perr(p, "%s: \"%s\" is not a number from %u to %u", key, v, min, max);
	*ret = (unsigned)n;
	return 0;
}

/* "1915:5300" (hex) */
static bool parse_id(const char *s, uint16_t *vid, uint16_t *pid)
{
	unsigned v, q;
	int n = 0;

	if (strlen(s) != 9 || sscanf(s, "%4x:%4x%n", &v, &q, &n) != 2 || n != 9)
		return false;
	for (size_t i = 0; i < 9; i++)
		if (i != 4 && !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
				(s[i] >= 'A' && s[i] <= 'F')))
			return false;
	*vid = (uint16_t)v;
	*pid = (uint16_t)q;
	return true;
}

/* The manifest's rule for product names: they become directory names of the release store. */
static bool product_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONFIG_PRODUCT_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
			     (ch >= 'A' && ch <= 'Z');

		if (!alnum && (i == 0 || !strchr("._-", ch)))
			return false;
	}
	return true;
}

static int product_line(struct parser *p, const char *key, const char *v)
{
	struct product_map m = {0};

	if (!product_ok(v))
		return perr(p,
			    "\"%s\": the product must be letters, digits and \"._-\", starting "
			    "with a letter or digit (at most %d)",
			    v, CONFIG_PRODUCT_MAX);
	if (!strncmp(key, "serial:", 7)) {
		m.by_serial = true;
		if (!key[7] || strlen(key + 7) >= sizeof(m.serial))
			return perr(p, "\"%s\": give serial:SERIAL (at most %zu characters)", key,
				    sizeof(m.serial) - 1);
		snprintf(m.serial, sizeof(m.serial), "%s", key + 7);
	} else if (!parse_id(key, &m.vid, &m.pid)) {
		return perr(p, "\"%s\": a board is VVVV:PPPP (hex USB ids) or serial:SERIAL", key);
	}
	for (size_t i = 0; i < p->c->n_maps; i++) {
		const struct product_map *o = &p->c->maps[i];

		if (o->by_serial == m.by_serial &&
		    (m.by_serial ? !strcmp(o->serial, m.serial)
				 : (o->vid == m.vid && o->pid == m.pid)))
			return perr(p, "\"%s\" is mapped twice", key);
	}
	if (p->c->n_maps == CONFIG_PRODUCT_MAPS)
		return perr(p, "more than %d product mappings", CONFIG_PRODUCT_MAPS);
	snprintf(m.product, sizeof(m.product), "%s", v);
	p->c->maps[p->c->n_maps++] = m;
	return 0;
}

enum key_kind { K_PATH, K_BOOL, K_UINT, K_GROUP };

struct key {
	const char *section;
	const char *name;
	enum key_kind kind;
	size_t offset; /* of the member in struct config (K_PATH: the path slot) */
	unsigned min, max;
};

#define OFF(m) offsetof(struct config, m)
static const struct key keys[] = {
    {"paths", "incoming", K_PATH, PATH_INCOMING, 0, 0},
    {"paths", "state", K_PATH, PATH_STATE, 0, 0},
    {"paths", "runtime", K_PATH, PATH_RUNTIME, 0, 0},
    {"paths", "keys", K_PATH, PATH_KEYS, 0, 0},
    {"paths", "fetch_state", K_PATH, PATH_FETCH_STATE, 0, 0},
    {"paths", "history", K_PATH, PATH_HISTORY, 0, 0},
    {"policy", "usb", K_BOOL, OFF(usb), 0, 0},
    {"policy", "allow_downgrade", K_BOOL, OFF(allow_downgrade), 0, 0},
    {"policy", "max_parallel", K_UINT, OFF(max_parallel), 1, 64},
    {"policy", "max_attempts", K_UINT, OFF(max_attempts), 1, 1000},
    {"policy", "retry_initial", K_UINT, OFF(retry_initial_s), 1, 86400},
    {"policy", "retry_max", K_UINT, OFF(retry_max_s), 1, 7 * 86400},
    {"policy", "settle", K_UINT, OFF(settle_s), 0, 3600},
    {"policy", "history_max", K_UINT, OFF(history_max), 16, 10000000},
    {"control", "group", K_GROUP, OFF(control_group), 0, 0},
};
#undef OFF

static int key_line(struct parser *p, const char *key, const char *v)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		char *base = (char *)p->c;

		if (strcmp(k->name, key) != 0 || (p->section[0] && strcmp(k->section, p->section)))
			continue;
		if (p->seen & (1u << i))
			return perr(p, "%s is set twice", key);
		p->seen |= 1u << i;
		switch (k->kind) {
		case K_PATH:
			if (v[0] != '/')
				return perr(p, "%s: \"%s\" is not an absolute path", key, v);
			if (config_set_path(p->c, (enum config_path)k->offset, v) < 0)
				return perr(p, "out of memory");
			return 0;
		case K_BOOL:
			return parse_bool(p, key, v, (bool *)(base + k->offset));
		case K_UINT:
			return parse_uint(p, key, v, k->min, k->max,
					  (unsigned *)(base + k->offset));
		case K_GROUP:
			if (!v[0] || strlen(v) >= CONFIG_NAME_MAX || strpbrk(v, ": \t/"))
				return perr(p, "%s: \"%s\" is not a group name", key, v);
			snprintf(base + k->offset, CONFIG_NAME_MAX, "%s", v);
			return 0;
		}
	}
	if (p->section[0])
		return perr(p, "unknown key \"%s\" in section [%s]", key, p->section);
	return perr(p, "unknown key \"%s\"", key);
}

static int parse_line(struct parser *p, char *line)
{
	char *s = trim(line), *eq, *key, *val;

	if (!*s || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		size_t n = strlen(s);
		static const char *const sections[] = {"paths", "policy", "control", "products"};

		if (s[n - 1] != ']')
			return perr(p, "a section header must end with ']'");
		s[n - 1] = '\0';
		s = trim(s + 1);
		for (size_t i = 0; i < 4; i++)
			if (!strcmp(s, sections[i])) {
				snprintf(p->section, sizeof(p->section), "%s", s);
				return 0;
			}
		return perr(p, "unknown section [%s] (known: paths, policy, control, products)", s);
	}
	eq = strchr(s, '=');
	if (!eq)
		return perr(p, "expected key = value");
	*eq = '\0';
	key = trim(s);
	val = trim(eq + 1);
	if (!*key)
		return perr(p, "a key is missing before '='");
	if (!strcmp(p->section, "products"))
		return product_line(p, key, val);
	return key_line(p, key, val);
}

int config_load(struct config *c, const char *path, bool missing_ok, char *err, size_t errlen)
{
	struct config next = *c;
	struct parser p = {.file = path, .err = err, .errlen = errlen, .c = &next};
	char *buf = NULL, *line;
	size_t size = 0;
	ssize_t n;
	int fd, rc = -1;

	/* the new configuration gets its own copies of the paths until it is committed */
	for (size_t i = 0; i < CONFIG_PATHS; i++)
		next.paths[i] = NULL;
	for (size_t i = 0; i < CONFIG_PATHS; i++)
		if (config_set_path(&next, (enum config_path)i, c->paths[i]) < 0) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	next.n_maps = 0; /* the file's [products] replace the old ones */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT && missing_ok) {
			rc = 0;
			goto commit;
		}
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while ((n = read(fd, buf + size, CONFIG_FILE_MAX + 1 - size)) > 0 &&
	       size + (size_t)n <= CONFIG_FILE_MAX)
		size += (size_t)n;
	close(fd);
	if (n < 0 || size + (size_t)(n > 0 ? n : 0) > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path,
			 n < 0 ? strerror(errno) : "larger than 64 KiB");
		goto out;
	}
	buf[size] = '\0';
	if (memchr(buf, '\0', size)) {
		snprintf(err, errlen, "%s: contains a NUL byte: not a text file", path);
		goto out;
	}
	for (line = buf; line < buf + size;) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		p.line++;
		if (strlen(line) > CONFIG_LINE_MAX) {
			perr(&p, "line longer than %d bytes", CONFIG_LINE_MAX);
			goto out;
		}
		if (parse_line(&p, line) < 0)
			goto out;
		if (!nl)
			break;
		line = nl + 1;
	}
	if (next.retry_max_s < next.retry_initial_s) {
		snprintf(err, errlen, "%s: retry_max (%u) is less than retry_initial (%u)", path,
			 next.retry_max_s, next.retry_initial_s);
		goto out;
	}
	rc = 0;
commit:
	config_done(c);
	*c = next;
	/* the paths are c's now */
	for (size_t i = 0; i < CONFIG_PATHS; i++)
		next.paths[i] = NULL;
out:
	config_done(&next);
	free(buf);
	return rc;
}
