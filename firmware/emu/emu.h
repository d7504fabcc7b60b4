/* SPDX-License-Identifier: MIT */
/*
 * dfu-mgr-emu's program state, shared by its parts: the board registry (registry.c), vhci direct
 * attach (vhci.c), the USB/IP TCP server (server.c), URB dispatch (urb.c), the control socket
 * (control.c) and the event loop (main.c). One thread: nothing here is locked.
 */
#ifndef EMU_EMU_H
#define EMU_EMU_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "board.h"
#include "usbip.h"

#define MAX_BOARDS  120 /* vhci: 8 controllers x 15 full-speed ports */
#define MAX_CLIENTS 16
#define RX_CAP      (USBIP_HDR_SIZE + USBIP_MAX_TRANSFER)
/* a control line, newline included; longer lines are refused with an error reply */
#define CTL_LINE_MAX 512

/* A board's USB connection: a vhci socketpair or an imported USB/IP TCP connection. */
struct link {
	int fd;                /* our end of the URB stream, -1 when unplugged */
	bool exported;         /* TCP mode: waiting for OP_REQ_IMPORT */
	int vhci_port;         /* direct attach: the port we used */
	uint64_t port_wait_us; /* since when a re-attach waits for that port to be released */
	size_t rx_len;
	uint8_t *rx;
	uint64_t plug_at_us; /* 0: none; else plug (or boot first, see boot_first) then */
	bool boot_first;
	unsigned crash_boots;
};

/* A USB/IP TCP connection before OP_REQ_IMPORT turns it into a link. */
struct handshake {
	int fd;
	size_t len;
	uint8_t buf[USBIP_OP_HDR_SIZE + USBIP_BUSID_SIZE];
};

struct ctl_client {
	int fd;
	size_t len;
	bool overflow; /* the current line is too long: drop it up to its newline */
	char buf[CTL_LINE_MAX];
};

struct emu {
	const char *state_dir;
	const char *prefix;
	bool real_timing;
	bool direct;
	bool quiet;
	int listen_fd, ctl_fd;
	char ctl_path[512];
	struct dfumgr_key *mcuboot_key;
	uint32_t replug_ms;
	/* the firmware build every board runs (Kconfig on the real board) */
	const char *product;
	uint16_t hw_revision;
	bool no_upload;
	enum emu_mcuboot_strategy mcuboot_strategy; /* every new board's (ctl strategy: one's) */
	FILE *trace; /* DFUMGR_EMU_TRACE=FILE: one line per URB, or NULL */
	unsigned n_boards;
	struct emu_board *boards[MAX_BOARDS];
	struct link links[MAX_BOARDS];
	struct handshake hs[MAX_CLIENTS];
	struct ctl_client ctl[MAX_CLIENTS];
	volatile sig_atomic_t stop;
};

/* main.c: the clock, the log (stderr unless --quiet), blocking writes to a socket. */
uint64_t emu_now_us(void);
void emu_log(struct emu *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int emu_write_all(int fd, const void *buf, size_t n);

/*
 * registry.c: the boards, by index, with their power and their presence on the bus.
 * emu_registry_add creates (or reopens) a board, boots it and plugs it; serial NULL or "" takes
 * the next PREFIX-NNNN. Returns its index, or -errno (-EINVAL for a serial that is not 1..24
 * printable ASCII characters without '/', -EEXIST, -ENOSPC).
 * emu_registry_serial_ok says whether a serial is one emu_registry_add takes.
 * emu_registry_find takes a serial or an index; returns the index or -1.
 * emu_registry_act carries out what the board's last request asked for (b->action).
 * emu_registry_timers plugs and boots the boards whose time has come and runs their background
 * work; returns timeout_ms, shortened to the next deadline.
 */
int emu_registry_add(struct emu *e, const char *serial);
bool emu_registry_serial_ok(const char *serial);
int emu_registry_find(struct emu *e, const char *name);
void emu_registry_plug(struct emu *e, unsigned i);
void emu_registry_unplug(struct emu *e, unsigned i);
void emu_registry_schedule(struct emu *e, unsigned i, bool boot_first, uint32_t delay_ms);
void emu_registry_act(struct emu *e, unsigned i);
void emu_registry_boot(struct emu *e, unsigned i);
int emu_registry_timers(struct emu *e, int timeout_ms);
void emu_registry_free(struct emu *e);

/*
 * vhci.c: attach board i through vhci-hcd's sysfs attach file. Returns 0 or -errno; -EAGAIN
 * while the port the board had is not released yet (try again shortly: the board comes back on
 * its own port, as a real board does; after 10 s any free port is taken).
 */
int emu_vhci_attach(struct emu *e, unsigned i);

/* server.c: the USB/IP TCP server (device list, import). */
int emu_server_listen(const char *spec);
void emu_server_accept(struct emu *e);
void emu_server_readable(struct emu *e, struct handshake *h);

/* urb.c: the URB stream of board i is readable. */
void emu_urb_readable(struct emu *e, unsigned i);

/*
 * control.c: the control socket, and its client: emu_ctl_client_main takes the arguments after
 * "ctl" ([-c SOCKET] COMMAND [ARGS]) and returns the exit status.
 */
int emu_ctl_listen(const char *path);
void emu_ctl_accept(struct emu *e);
void emu_ctl_readable(struct emu *e, struct ctl_client *c);
int emu_ctl_client_main(int argc, char **argv);

#endif
