/* SPDX-License-Identifier: MIT */
/*
 * The control protocol: one command per line on a unix socket, one JSON object per line back
 * ({"error": "..."} on failure). Commands are words separated by blanks; a line is printable
 * ASCII of at most CTL_LINE_MAX - 1 bytes, anything else is answered with an error and the
 * connection stays usable. Both ends live here: the server in the emulator's event loop and the
 * client, `dfu-mgr-emu ctl`, which sends one line and prints the reply.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "emu.h"

#define CTL_ARGS_MAX 8
/* the client's limit on a reply: `list` of MAX_BOARDS boards is well under 1 MiB */
#define CTL_REPLY_MAX (8u << 20)

#define FAULT_USAGE                                                                                \
	"usage: fault BOARD disconnect|power-cut|program-error|corrupt-read|bad-erase|"            \
	"wrong-digest ALT N | stall N | cut-after-write N | clear"

/* ---- the server ---- */

int emu_ctl_listen(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

void emu_ctl_accept(struct emu *e)
{
	int fd = accept4(e->ctl_fd, NULL, NULL, SOCK_CLOEXEC);

	for (int s = 0; fd >= 0 && s < MAX_CLIENTS; s++) {
		if (e->ctl[s].fd < 0) {
			e->ctl[s] = (struct ctl_client){.fd = fd};
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
}

static cJSON *reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static cJSON *reply_error(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	cJSON *r = cJSON_CreateObject();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r && !cJSON_AddStringToObject(r, "error", msg)) {
		cJSON_Delete(r);
		r = NULL;
	}
	return r;
}

static cJSON *reply_ok(void)
{
	cJSON *r = cJSON_CreateObject();

	if (r && !cJSON_AddTrueToObject(r, "ok")) {
		cJSON_Delete(r);
		r = NULL;
	}
	return r;
}

/* The board's own state and how it is attached. */
static cJSON *board_json(struct emu *e, unsigned i)
{
	struct link *l = &e->links[i];
	char busid[USBIP_BUSID_SIZE];
	cJSON *o = emu_board_state_new(e->boards[i]);

	snprintf(busid, sizeof(busid), "1-%u", e->boards[i]->index + 1);
	if (o && (!cJSON_AddBoolToObject(o, "attached", l->fd >= 0) ||
		  !cJSON_AddNumberToObject(o, "vhci_port", l->vhci_port) ||
		  !cJSON_AddStringToObject(o, "busid", busid))) {
		cJSON_Delete(o);
		o = NULL;
	}
	return o;
}

static cJSON *cmd_list(struct emu *e)
{
	cJSON *r = cJSON_CreateObject();
	cJSON *boards = r ? cJSON_AddArrayToObject(r, "boards") : NULL;

	if (!boards)
		goto fail;
	for (unsigned k = 0; k < e->n_boards; k++) {
		cJSON *b = board_json(e, k);

		if (!b || !cJSON_AddItemToArray(boards, b)) {
			cJSON_Delete(b);
			goto fail;
		}
	}
	return r;
fail:
	cJSON_Delete(r);
	return NULL;
}

/*
 * A number in C syntax (decimal, 0x hex, 0 octal) up to max. strtoull alone would accept "-1"
 * (as 2^64 - 1), leading blanks and an empty string.
 */
static bool parse_number(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (*end || errno || v > max)
		return false;
	*ret = v;
	return true;
}

static cJSON *cmd_fault(struct emu *e, unsigned i, int argc, char **argv)
{
	struct emu_board *b = e->boards[i];
	const char *what = argv[2];
	uint64_t alt, n;

	if (!strcmp(what, "clear")) {
		if (argc != 3)
			return reply_error(FAULT_USAGE);
		for (int k = 0; k < DFUMGR_N_IMAGES; k++)
			b->fault.disconnect_at[k] = b->fault.power_cut_at[k] = UINT64_MAX;
		b->fault.stall_countdown = 0;
		memset(b->fault.wrong_digest, 0, sizeof(b->fault.wrong_digest));
		b->internal.fail_program_at = b->qspi.fail_program_at = UINT32_MAX;
		b->internal.corrupt_read_at = b->qspi.corrupt_read_at = UINT32_MAX;
		b->internal.stuck_at = b->qspi.stuck_at = UINT32_MAX;
		if (!emu_power_lost(&b->power))
			emu_power_restore(&b->power);
		return reply_ok();
	}
	if (!strcmp(what, "cut-after-write")) {
		/* every erase and program of either flash counts, MCUboot's too */
		if (argc != 4 || !parse_number(argv[3], UINT32_MAX, &n))
			return reply_error(
			    "fault cut-after-write: N '%s' is not a number of writes",
			    argc > 3 ? argv[3] : "");
		emu_power_arm(&b->power, n);
		return reply_ok();
	}
	if (!strcmp(what, "stall")) {
		if (argc != 4)
			return reply_error(FAULT_USAGE);
		if (!parse_number(argv[3], UINT32_MAX, &n))
			return reply_error("fault stall: N '%s' is not a number up to %u", argv[3],
					   UINT32_MAX);
		b->fault.stall_countdown = (uint32_t)n;
		return reply_ok();
	}
	if (strcmp(what, "disconnect") && strcmp(what, "power-cut") &&
	    strcmp(what, "wrong-digest") && strcmp(what, "program-error") &&
	    strcmp(what, "corrupt-read") && strcmp(what, "bad-erase"))
		return reply_error("unknown fault %s", what);
	if (argc != 5)
		return reply_error(FAULT_USAGE);
	if (!parse_number(argv[3], DFUMGR_N_IMAGES - 1, &alt))
		return reply_error("fault %s: ALT '%s' is not an alt-setting (0..%d)", what,
				   argv[3], DFUMGR_N_IMAGES - 1);
	if (!strcmp(what, "disconnect") || !strcmp(what, "power-cut")) {
		if (!parse_number(argv[4], UINT64_MAX, &n))
			return reply_error("fault %s: N '%s' is not a byte count", what, argv[4]);
		if (what[0] == 'd')
			b->fault.disconnect_at[alt] = n;
		else
			b->fault.power_cut_at[alt] = n;
	} else if (!strcmp(what, "wrong-digest")) {
		if (!parse_number(argv[4], UINT32_MAX, &n))
			return reply_error("fault %s: N '%s' is not a number up to %u", what,
					   argv[4], UINT32_MAX);
		b->fault.wrong_digest[alt] = (uint32_t)n;
	} else { /* program-error, corrupt-read, bad-erase: an offset in the slot */
		uint32_t slot = alt == 0 ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE, base;
		struct emu_flash *f;

		if (!parse_number(argv[4], slot - 1, &n))
			return reply_error("fault %s: N '%s' is not an offset in alt %u's slot "
					   "(0..%u)",
					   what, argv[4], (unsigned)alt, slot - 1);
		f = emu_board_area(b, dfu_area_secondary((unsigned)alt), &base);
		if (what[0] == 'p')
			f->fail_program_at = base + (uint32_t)n;
		else if (what[0] == 'b')
			f->stuck_at = base + (uint32_t)n;
		else
			f->corrupt_read_at = base + (uint32_t)n;
	}
	return reply_ok();
}

/* Runs one command line (NUL-terminated, printable ASCII); returns the reply, NULL if no memory. */
static cJSON *ctl_command(struct emu *e, char *line)
{
	char *argv[CTL_ARGS_MAX + 1], *save = NULL;
	int argc = 0, i;

	for (char *tok = strtok_r(line, " \t\r", &save); tok;
	     tok = strtok_r(NULL, " \t\r", &save)) {
		if (argc == CTL_ARGS_MAX)
			return reply_error("too many words (at most %d)", CTL_ARGS_MAX);
		argv[argc++] = tok;
	}
	if (argc == 0)
		return reply_error("empty command");
	if (!strcmp(argv[0], "list"))
		return argc == 1 ? cmd_list(e) : reply_error("usage: list");
	if (!strcmp(argv[0], "add")) {
		if (argc > 2)
			return reply_error("usage: add [SERIAL]");
		if (argc > 1 && !emu_registry_serial_ok(argv[1]))
			return reply_error("add: a serial is 1 to %d printable ASCII characters, "
					   "no '/', not . or ..",
					   DFUMGR_SERIAL_MAX);
		i = emu_registry_add(e, argc > 1 ? argv[1] : NULL);
		if (i < 0)
			return reply_error("add: %s", strerror(-i));
		return board_json(e, (unsigned)i);
	}
	if (argc < 2 || (i = emu_registry_find(e, argv[1])) < 0)
		return reply_error("unknown board or command");
	if (!strcmp(argv[0], "fault"))
		return argc >= 3 ? cmd_fault(e, (unsigned)i, argc, argv) : reply_error(FAULT_USAGE);
	if (!strcmp(argv[0], "plain")) {
		if (argc != 3 || (strcmp(argv[2], "on") && strcmp(argv[2], "off")))
			return reply_error("usage: plain BOARD on|off");
		e->boards[i]->plain = !strcmp(argv[2], "on");
		return reply_ok();
	}
	if (!strcmp(argv[0], "serial")) {
		if (argc != 3 || (strcmp(argv[2], "on") && strcmp(argv[2], "off")))
			return reply_error("usage: serial BOARD on|off");
		/* iSerialNumber 0 from the board's next enumeration on (reset, plug, detach) */
		e->boards[i]->no_serial = !strcmp(argv[2], "off");
		return reply_ok();
	}
	if (!strcmp(argv[0], "legacy")) {
		/* the shim's download before pipelining, for benchmarks: now and after each boot */
		if (argc != 3 || (strcmp(argv[2], "on") && strcmp(argv[2], "off")))
			return reply_error("usage: legacy BOARD on|off");
		e->boards[i]->legacy_download = !strcmp(argv[2], "on");
		e->boards[i]->dev.legacy_download = e->boards[i]->legacy_download;
		return reply_ok();
	}
	if (!strcmp(argv[0], "strategy")) {
		/* MCUboot's upgrade strategy, for comparisons: from the board's next boot on */
		enum emu_mcuboot_strategy st;

		if (argc != 3 || emu_mcuboot_strategy_parse(argv[2], &st) < 0)
			return reply_error(
			    "usage: strategy BOARD swap-move|overwrite-only|direct-xip");
		e->boards[i]->mcuboot_strategy = st;
		return reply_ok();
	}
	if (strcmp(argv[0], "state") && strcmp(argv[0], "reset") && strcmp(argv[0], "unplug") &&
	    strcmp(argv[0], "plug"))
		return reply_error("unknown command %s", argv[0]);
	if (argc != 2)
		return reply_error("usage: %s BOARD", argv[0]);
	if (!strcmp(argv[0], "state"))
		return board_json(e, (unsigned)i);
	if (!strcmp(argv[0], "reset")) {
		/* power cycle now */
		emu_registry_unplug(e, (unsigned)i);
		e->boards[i]->mode = EMU_MODE_OFF;
		emu_registry_schedule(e, (unsigned)i, true, e->replug_ms);
		return reply_ok();
	}
	if (!strcmp(argv[0], "unplug")) {
		emu_registry_unplug(e, (unsigned)i);
		return reply_ok();
	}
	/* plug */
	if (e->links[i].fd < 0)
		emu_registry_plug(e, (unsigned)i);
	return reply_ok();
}

static void send_reply(int fd, cJSON *r)
{
	static const char oom[] = "{\"error\":\"out of memory\"}\n";
	char *text = r ? cJSON_PrintUnformatted(r) : NULL;

	cJSON_Delete(r);
	if (!text) {
		emu_write_all(fd, oom, sizeof(oom) - 1);
		return;
	}
	if (emu_write_all(fd, text, strlen(text)) == 0)
		emu_write_all(fd, "\n", 1);
	cJSON_free(text);
}

/* The first byte that is not printable ASCII (tabs and a CR before the newline pass), or -1. */
static long bad_byte(const char *s, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if ((s[k] < 0x20 || s[k] > 0x7e) && s[k] != '\t' && s[k] != '\r')
			return (long)k;
	return -1;
}

static void ctl_line(struct emu *e, struct ctl_client *c, char *line, size_t n)
{
	long bad;

	if (c->overflow) {
		c->overflow = false;
		send_reply(c->fd,
			   reply_error("line too long (at most %d bytes)", CTL_LINE_MAX - 1));
		return;
	}
	bad = bad_byte(line, n);
	if (bad >= 0) {
		send_reply(c->fd, reply_error("byte 0x%02x at offset %ld is not printable ASCII",
					      (unsigned char)line[bad], bad));
		return;
	}
	line[n] = '\0';
	send_reply(c->fd, ctl_command(e, line));
}

void emu_ctl_readable(struct emu *e, struct ctl_client *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	char *nl;

	if (n <= 0) {
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		close(c->fd);
		c->fd = -1;
		return;
	}
	c->len += (size_t)n;
	while (c->fd >= 0 && (nl = memchr(c->buf, '\n', c->len))) {
		size_t line_len = (size_t)(nl - c->buf);

		ctl_line(e, c, c->buf, line_len); /* overwrites the newline with a NUL */
		memmove(c->buf, nl + 1, c->len - line_len - 1);
		c->len -= line_len + 1;
	}
	if (c->len == sizeof(c->buf)) {
		/* no newline in a full buffer: drop the line, answer at its end */
		c->overflow = true;
		c->len = 0;
	}
}

/* ---- the client: dfu-mgr-emu ctl ---- */

static int read_reply(int fd, char **ret, size_t *ret_len)
{
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap), *p;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (n + 1 == cap) {
			if (cap >= CTL_REPLY_MAX) {
				free(buf);
				return -EMSGSIZE;
			}
			p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
			cap *= 2;
		}
		r = recv(fd, buf + n, cap - 1 - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (buf[n - 1] == '\n')
			break;
	}
	buf[n] = '\0';
	*ret = buf;
	*ret_len = n;
	return 0;
}

int emu_ctl_client_main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = getenv("DFUMGR_EMU_CONTROL");
	char line[CTL_LINE_MAX], *reply = NULL;
	size_t len = 0, reply_len = 0;
	cJSON *r = NULL;
	int fd = -1, rc;

	if (argc > 1 && !strcmp(argv[0], "-c")) {
		path = argv[1];
		argc -= 2;
		argv += 2;
	}
	if (!path || argc < 1) {
		fprintf(stderr, "usage: dfu-mgr-emu ctl -c SOCKET COMMAND [ARGS]\n");
		return 64;
	}
	for (int i = 0; i < argc; i++) {
		int w;

		if (strchr(argv[i], '\n')) {
			fprintf(stderr, "dfu-mgr-emu ctl: a word of the command has a newline\n");
			return 64;
		}
		w = snprintf(line + len, sizeof(line) - len, "%s%s", i ? " " : "", argv[i]);
		if (w < 0 || (size_t)w >= sizeof(line) - 1 - len) {
			fprintf(stderr, "dfu-mgr-emu ctl: the command is longer than %d bytes\n",
				CTL_LINE_MAX - 1);
			return 64;
		}
		len += (size_t)w;
	}
	line[len++] = '\n';
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "dfu-mgr-emu ctl: socket path too long: %s\n", path);
		return 64;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "dfu-mgr-emu ctl: cannot connect to %s: %s\n", path,
			strerror(errno));
		rc = 69;
		goto out;
	}
	if (emu_write_all(fd, line, len) < 0) {
		fprintf(stderr, "dfu-mgr-emu ctl: cannot send to %s: %s\n", path, strerror(errno));
		rc = 74;
		goto out;
	}
	rc = read_reply(fd, &reply, &reply_len);
	if (rc < 0) {
		fprintf(stderr, "dfu-mgr-emu ctl: cannot read the reply: %s\n", strerror(-rc));
		rc = 74;
		goto out;
	}
	fputs(reply, stdout);
	r = cJSON_ParseWithLength(reply, reply_len);
	if (!cJSON_IsObject(r)) {
		fprintf(stderr, "dfu-mgr-emu ctl: the reply from %s is not a JSON object\n", path);
		rc = 74;
		goto out;
	}
	rc = cJSON_HasObjectItem(r, "error") ? 1 : 0;
out:
	cJSON_Delete(r);
	free(reply);
	if (fd >= 0)
		close(fd);
	return rc;
}
