/* SPDX-License-Identifier: MIT */
/*
 * dfu-mgr-emu: emulated nRF5340 boards served over USB/IP, so that the kernel's vhci-hcd turns
 * them into real USB devices for libusb, usbfs, udev and stock dfu-util.
 *
 * One thread, one poll() loop: the USB/IP TCP server (server.c), each board's URB stream
 * (urb.c), the control socket (control.c), and timers (registry.c: re-plug after a
 * re-enumeration, boot after a power cut). This file parses the options and runs the loop.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "emu.h"
#include "dfumgr/crypto.h"

static struct emu *g_emu_for_signals;

uint64_t emu_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void emu_log(struct emu *e, const char *fmt, ...)
{
	va_list ap;

	if (e->quiet)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "dfu-mgr-emu: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

int emu_write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};

			poll(&pfd, 1, 1000);
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	if (g_emu_for_signals)
		g_emu_for_signals->stop = 1;
}

/* One poll() over every socket; returns when stopped by a signal or poll() fails. */
static void event_loop(struct emu *e)
{
	while (!e->stop) {
		struct pollfd pfd[2 + 2 * MAX_CLIENTS + MAX_BOARDS];
		int who[2 + 2 * MAX_CLIENTS + MAX_BOARDS];
		int np = 0, timeout = emu_registry_timers(e, 1000);

		if (e->listen_fd >= 0) {
			pfd[np] = (struct pollfd){.fd = e->listen_fd, .events = POLLIN};
			who[np++] = -1;
		}
		pfd[np] = (struct pollfd){.fd = e->ctl_fd, .events = POLLIN};
		who[np++] = -2;
		for (int k = 0; k < MAX_CLIENTS; k++) {
			if (e->hs[k].fd >= 0) {
				pfd[np] = (struct pollfd){.fd = e->hs[k].fd, .events = POLLIN};
				who[np++] = 1000 + k;
			}
			if (e->ctl[k].fd >= 0) {
				pfd[np] = (struct pollfd){.fd = e->ctl[k].fd, .events = POLLIN};
				who[np++] = 2000 + k;
			}
		}
		for (unsigned i = 0; i < e->n_boards; i++) {
			if (e->links[i].fd >= 0) {
				pfd[np] = (struct pollfd){.fd = e->links[i].fd, .events = POLLIN};
				who[np++] = 3000 + (int)i;
			}
		}
		if (poll(pfd, (nfds_t)np, timeout) < 0 && errno != EINTR)
			break;
		for (int k = 0; k < np; k++) {
			if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (who[k] == -1) {
				emu_server_accept(e);
			} else if (who[k] == -2) {
				emu_ctl_accept(e);
			} else if (who[k] >= 3000) {
				/* an earlier request may have unplugged (and re-plugged) it */
				if (e->links[who[k] - 3000].fd == pfd[k].fd)
					emu_urb_readable(e, (unsigned)(who[k] - 3000));
			} else if (who[k] >= 2000) {
				emu_ctl_readable(e, &e->ctl[who[k] - 2000]);
			} else {
				emu_server_readable(e, &e->hs[who[k] - 1000]);
			}
		}
	}
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: dfu-mgr-emu [OPTIONS]\n"
	    "       dfu-mgr-emu ctl [-c SOCKET] COMMAND [ARGS]\n"
	    "Serve emulated nRF5340 boards (the dfu-mgr shim: DFU runtime/DFU mode, alts\n"
	    "image-0/image-1, internal + QSPI flash, MCUboot) over USB/IP.\n\n"
	    "  -n, --boards N        boards to start with (default 1)\n"
	    "  -d, --state-dir DIR   flash files, DIR/SERIAL/{internal,qspi}.bin (default "
	    "emu-state)\n"
	    "  -p, --prefix STR      serial numbers STR-0001, ... (default NRF5340-EMU)\n"
	    "  -l, --listen A:P      USB/IP TCP server (default 127.0.0.1:3240; \"none\" = off)\n"
	    "  -a, --attach          attach each board through vhci-hcd's sysfs attach file\n"
	    "  -t, --timing MODE     real (datasheet erase/program times) or none (default)\n"
	    "  -c, --control PATH    control socket (default DIR/control.sock)\n"
	    "  -k, --mcuboot-key PEM MCUboot checks image signatures with this key\n"
	    "  -r, --replug-ms N     delay before a re-enumerating board comes back (200)\n"
	    "      --product NAME    the product the boards report (default " EMU_DEFAULT_PRODUCT
	    ")\n"
	    "      --hw-revision N   the hardware revision they report (default 1)\n"
	    "      --no-upload       firmware that refuses DFU_UPLOAD "
	    "(CONFIG_DFUMGR_SHIM_UPLOAD=n)\n"
	    "      --mcuboot-strategy S  MCUboot's upgrade: swap-move (default, the product's),\n"
	    "                        overwrite-only or direct-xip\n"
	    "  -q, --quiet           no log lines on stderr\n"
	    "  -h, --help\n\n"
	    "Control commands: list | add [SERIAL] | state B | reset B | unplug B | plug B |\n"
	    "  plain B on|off (no vendor requests: a plain DFU 1.1 device) |\n"
	    "  serial B on|off (off: no serial number from the next enumeration) |\n"
	    "  legacy B on|off (download as before pipelining: benchmarks) |\n"
	    "  strategy B swap-move|overwrite-only|direct-xip (MCUboot's, from the next boot) |\n"
	    "  fault B disconnect|power-cut|program-error|corrupt-read|bad-erase|wrong-digest ALT "
	    "N\n"
	    "  | fault B stall N | fault B clear   (B = serial or index; replies are JSON "
	    "lines)\n");
}

struct options {
	const char *listen_spec;
	const char *ctl_path;
	unsigned long n_boards;
};

static bool parse_ulong(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || errno || v > max)
		return false;
	*ret = v;
	return true;
}

enum { OPT_PRODUCT = 256, OPT_HW_REV, OPT_NO_UPLOAD, OPT_STRATEGY };

/* What a manifest's "product" may be (and so what GET_INFO can carry). */
static bool product_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > DFUMGR_PRODUCT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

/* Returns -1 to go on, or the exit status. */
static int parse_options(struct emu *e, struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"boards", required_argument, NULL, 'n'},
	    {"state-dir", required_argument, NULL, 'd'},
	    {"prefix", required_argument, NULL, 'p'},
	    {"listen", required_argument, NULL, 'l'},
	    {"attach", no_argument, NULL, 'a'},
	    {"timing", required_argument, NULL, 't'},
	    {"control", required_argument, NULL, 'c'},
	    {"mcuboot-key", required_argument, NULL, 'k'},
	    {"replug-ms", required_argument, NULL, 'r'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"product", required_argument, NULL, OPT_PRODUCT},
	    {"hw-revision", required_argument, NULL, OPT_HW_REV},
	    {"no-upload", no_argument, NULL, OPT_NO_UPLOAD},
	    {"mcuboot-strategy", required_argument, NULL, OPT_STRATEGY},
	    {0},
	};
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "n:d:p:l:at:c:k:r:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_ulong(optarg, MAX_BOARDS, &o->n_boards)) {
				fprintf(stderr, "dfu-mgr-emu: --boards %s: 0 to %d boards\n",
					optarg, MAX_BOARDS);
				return 64;
			}
			break;
		case 'd':
			e->state_dir = optarg;
			break;
		case 'p':
			e->prefix = optarg;
			break;
		case 'l':
			o->listen_spec = optarg;
			break;
		case 'a':
			e->direct = true;
			break;
		case 't':
			if (strcmp(optarg, "real") && strcmp(optarg, "none")) {
				fprintf(stderr, "dfu-mgr-emu: --timing real|none\n");
				return 64;
			}
			e->real_timing = !strcmp(optarg, "real");
			break;
		case 'c':
			o->ctl_path = optarg;
			break;
		case 'k':
			dfumgr_key_free(e->mcuboot_key);
			e->mcuboot_key = NULL;
			if (dfumgr_key_load(NULL, optarg, &e->mcuboot_key) < 0) {
				fprintf(stderr, "dfu-mgr-emu: cannot load key %s\n", optarg);
				return 65;
			}
			break;
		case 'r':
			if (!parse_ulong(optarg, UINT32_MAX / 1000, &v)) {
				fprintf(stderr, "dfu-mgr-emu: --replug-ms %s: not a number of ms\n",
					optarg);
				return 64;
			}
			e->replug_ms = (uint32_t)v;
			break;
		case 'q':
			e->quiet = true;
			break;
		case OPT_PRODUCT:
			if (!product_ok(optarg)) {
				fprintf(stderr,
					"dfu-mgr-emu: --product %s: 1 to %d letters, digits, '.', "
					"'_' or '-'\n",
					optarg, DFUMGR_PRODUCT_MAX);
				return 64;
			}
			e->product = optarg;
			break;
		case OPT_HW_REV:
			if (!parse_ulong(optarg, UINT16_MAX, &v)) {
				fprintf(stderr, "dfu-mgr-emu: --hw-revision %s: 0 to 65535\n",
					optarg);
				return 64;
			}
			e->hw_revision = (uint16_t)v;
			break;
		case OPT_NO_UPLOAD:
			e->no_upload = true;
			break;
		case OPT_STRATEGY:
			if (emu_mcuboot_strategy_parse(optarg, &e->mcuboot_strategy) < 0) {
				fprintf(stderr,
					"dfu-mgr-emu: --mcuboot-strategy %s: swap-move, "
					"overwrite-only or direct-xip\n",
					optarg);
				return 64;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dfu-mgr-emu: unexpected argument %s\n", argv[optind]);
		return 64;
	}
	return -1;
}

/* Sockets, trace file, signals, boards. Returns -1 to go on, or the exit status. */
static int start(struct emu *e, const struct options *o)
{
	if (mkdir(e->state_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "dfu-mgr-emu: %s: %s\n", e->state_dir, strerror(errno));
		return 73;
	}
	if (o->ctl_path)
		snprintf(e->ctl_path, sizeof(e->ctl_path), "%s", o->ctl_path);
	else
		snprintf(e->ctl_path, sizeof(e->ctl_path), "%s/control.sock", e->state_dir);
	if (strcmp(o->listen_spec, "none")) {
		e->listen_fd = emu_server_listen(o->listen_spec);
		if (e->listen_fd < 0) {
			fprintf(stderr, "dfu-mgr-emu: cannot listen on %s: %s\n", o->listen_spec,
				strerror(-e->listen_fd));
			return 69;
		}
	}
	e->ctl_fd = emu_ctl_listen(e->ctl_path);
	if (e->ctl_fd < 0) {
		fprintf(stderr, "dfu-mgr-emu: cannot listen on %s: %s\n", e->ctl_path,
			strerror(-e->ctl_fd));
		return 69;
	}
	if (getenv("DFUMGR_EMU_TRACE"))
		e->trace = fopen(getenv("DFUMGR_EMU_TRACE"), "ae");
	if (e->trace)
		setvbuf(e->trace, NULL, _IOLBF, 0);
	g_emu_for_signals = e;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	for (unsigned long k = 0; k < o->n_boards; k++) {
		int rc = emu_registry_add(e, NULL);

		if (rc < 0) {
			fprintf(stderr, "dfu-mgr-emu: cannot create board %lu: %s\n", k + 1,
				strerror(-rc));
			return 73;
		}
	}
	emu_log(e, "%u board(s), control %s, USB/IP %s%s, timing %s", e->n_boards, e->ctl_path,
		e->listen_fd >= 0 ? o->listen_spec : "off", e->direct ? ", direct attach" : "",
		e->real_timing ? "real" : "none");
	return -1;
}

int main(int argc, char **argv)
{
	static struct emu emu = {
	    .state_dir = "emu-state",
	    .prefix = "NRF5340-EMU",
	    .replug_ms = 200,
	    .product = EMU_DEFAULT_PRODUCT,
	    .hw_revision = 1,
	    .listen_fd = -1,
	    .ctl_fd = -1,
	};
	struct options o = {.listen_spec = "127.0.0.1:3240", .n_boards = 1};
	struct emu *e = &emu;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "ctl"))
		return emu_ctl_client_main(argc - 2, argv + 2);
	for (int k = 0; k < MAX_CLIENTS; k++)
		e->hs[k].fd = e->ctl[k].fd = -1;
	rc = parse_options(e, &o, argc, argv);
	if (rc < 0)
		rc = start(e, &o);
	if (rc < 0) {
		printf("ready\n");
		fflush(stdout);
		event_loop(e);
		emu_log(e, "stopping");
		rc = 0;
	}
	emu_registry_free(e);
	for (int k = 0; k < MAX_CLIENTS; k++) {
		if (e->hs[k].fd >= 0)
			close(e->hs[k].fd);
		if (e->ctl[k].fd >= 0)
			close(e->ctl[k].fd);
	}
	if (e->listen_fd >= 0)
		close(e->listen_fd);
	if (e->ctl_fd >= 0) {
		close(e->ctl_fd);
		unlink(e->ctl_path);
	}
	if (e->trace)
		fclose(e->trace);
	dfumgr_key_free(e->mcuboot_key);
	return rc;
}
