/* SPDX-License-Identifier: MIT */
/*
 * dfu-mgrd: the update daemon (dfu-mgrd(8), docs/daemon.md). One event loop (sd-event) owns all
 * state; USB work and bundle checks run in threads ("jobs") that hand their results back to the
 * loop through one queue. Only the loop thread touches struct daemon.
 */
#ifndef DFUMGRD_DAEMON_H
#define DFUMGRD_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "config.h"
#include "dfumgr/cancel.h"
#include "dfumgr/common.h"
#include "dfumgr/device.h"
#include "dfumgr/history.h"
#include "dfumgr/image.h"
#include "dfumgr/manifest.h"
#include "dfumgr/progress.h"
#include "dfumgr/update.h"

struct cJSON;

/* Limits on what outsiders can make the daemon hold. */
#define BOARDS_MAX   1024 /* boards known (present or seen before) */
#define RELEASES_MAX 4096 /* releases in the store, all products */

/* ---- jobs: threads whose results come back to the loop ---- */

struct daemon;
struct job;

struct job_ops {
	const char *name;
	void (*run)(struct job *job);                    /* in the job's thread */
	void (*done)(struct daemon *d, struct job *job); /* on the loop; frees the job */
};

struct job {
	const struct job_ops *ops;
	struct daemon *d;
	pthread_t thread;
};

/* A message from a job's thread to the loop. */
enum msg_kind {
	MSG_DONE,     /* the job's run() returned */
	MSG_PROGRESS, /* an update's progress (no answer) */
	MSG_PHASE,    /* an update entered a phase; the worker waits until it is recorded */
};

struct msg {
	enum msg_kind kind;
	struct job *job;
	enum dfumgr_update_phase phase;
	uint64_t done, total;
	unsigned seq; /* MSG_PHASE: acknowledged through the worker's seq */
	struct msg *next;
};

/* Starts job->ops->run in a new thread. 0 or a negative errno. */
int jobs_start(struct daemon *d, struct job *job);
/* From a job's thread: queues m for the loop (takes it). */
void jobs_post(struct daemon *d, struct msg *m);
int jobs_init(struct daemon *d);
void jobs_done(struct daemon *d);

/* ---- releases: the store of accepted bundles ---- */

struct release {
	char product[DFUMGR_MANIFEST_PRODUCT_MAX + 1];
	char release[DFUMGR_MANIFEST_RELEASE_MAX + 1];
	char id[DFUMGR_HISTORY_ID_MAX]; /* directory name: RELEASE_SHA12 */
	uint16_t vid, pid;
	struct dfumgr_image_version version[2]; /* of image 0 and image 1 */
	struct dfumgr_image_version top;        /* the higher of the two: the release's version */
	uint8_t manifest_sha256[32];
	char signer[128];
	int64_t accepted_ms;
	uint64_t order; /* acceptance order (journal order) */
};

/* ---- boards ---- */

enum board_status {
	ST_ABSENT,          /* not connected now */
	ST_IGNORED,         /* no product: a plain DFU board the configuration does not map */
	ST_ERROR,           /* could not be asked what it runs (permission, I/O) */
	ST_NO_RELEASE,      /* no release for its product */
	ST_UP_TO_DATE,      /* runs the current release */
	ST_NEWER,           /* runs a newer version than the release; downgrades are off */
	ST_PENDING,         /* will be updated (waiting for a free slot or a scan) */
	ST_PAUSED,          /* would be updated, but automatic updates are paused */
	ST_RETRY_WAIT,      /* failed; waiting for its back-off */
	ST_NEEDS_ATTENTION, /* failed max_attempts times for this release */
	ST_UPDATING,
};

const char *board_status_name(enum board_status s);

struct update_job;

struct board {
	char serial[DFUMGR_STRING_MAX];
	char path[DFUMGR_PATH_MAX];
	bool present;
	bool dfu_mode;
	uint16_t vid, pid;
	uint8_t bus, address; /* the enumeration GET_INFO was read from (cache key) */
	bool info_valid;      /* the fields below were read from this enumeration */
	bool shim;            /* answers the dfu-mgr shim's GET_INFO */
	char product[DFUMGR_MANIFEST_PRODUCT_MAX + 1]; /* reported, or mapped for plain boards */
	bool mapped;
	bool have_running;
	struct dfumgr_image_version running[2];
	bool confirmed;
	bool version_build; /* the board orders versions by their build number too */
	char info_error[256];

	/* policy state (rebuilt from the history at start) */
	char target_id[DFUMGR_HISTORY_ID_MAX]; /* the release of the attempts counted below */
	unsigned attempts;
	int64_t last_fail_ms; /* realtime of the last failed attempt's end */
	bool redo;            /* interrupted by a daemon crash: again at once, no back-off */
	char done_id[DFUMGR_HISTORY_ID_MAX]; /* the last release it was updated to */
	enum dfumgr_history_result last_result;
	bool have_last_result;
	int last_error;
	char last_message[DFUMGR_HISTORY_MESSAGE_MAX];
	char last_outcome[32]; /* what the board ran after the last update, the engine's word */
	int64_t last_time_ms;

	struct update_job *job; /* while updating */
	int64_t seen_ms;        /* last time it was present (eviction order) */
};

/* ---- the daemon ---- */

struct daemon {
	const char *prog;
	const char *config_path;
	struct config cfg;
	struct config overrides; /* command line: paths set here win over the file */
	bool override_usb;
	sd_event *loop;
	struct dfumgr_ctx *ctx; /* the loop thread's */
	/* shared by every job: the USB backend with its device monitor (thread-safe), and the
	 * cancel token a stop triggers */
	struct dfumgr_backend *backend;
	struct dfumgr_cancel *cancel;
	struct dfumgr_journal *journal;
	char history_path[4096];
	size_t n_records; /* in the journal */
	size_t n_kept;    /* by the last compaction */
	uint64_t start_usec;

	/* incoming + store */
	int incoming_fd, releases_fd, rejected_fd;
	sd_event_source *inotify_src, *settle_src;
	struct release *releases;
	size_t n_releases;
	uint64_t release_order;
	struct pending_entry *pending; /* entries in incoming/ waiting to be checked */
	bool checking;                 /* a check job runs */

	/* boards */
	struct board *boards;
	size_t n_boards;
	sd_event_source *retry_src;
	bool paused, stopping;
	unsigned updating;
	struct hotplug *hotplug;
	sd_event_source *scan_delay_src;
	bool scanning, scan_again;
	unsigned hotplug_events; /* udev add/remove events since the last scan started */
	unsigned scans;

	/* jobs */
	int queue_fd; /* eventfd */
	sd_event_source *queue_src;
	pthread_mutex_t queue_lock;
	struct msg *queue_head, **queue_tail;
	unsigned jobs_running;

	/* control socket */
	struct control *control;
	char status_text[256];
};

/* main.c */
void daemon_log(struct daemon *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void daemon_update_status(struct daemon *d);
void daemon_maybe_exit(struct daemon *d);
/* Reads the configuration again (SIGHUP, "reload"); on failure err says why, the old stays. */
int daemon_reload(struct daemon *d, char *err, size_t errlen);
int64_t now_ms(void);

/* state.c: the history journal, replayed at start */
int state_open(struct daemon *d);
void state_close(struct daemon *d);
/* Appends rec (time: now) and compacts when the journal grew past history_max. */
int state_append(struct daemon *d, struct dfumgr_history_record *rec);

/* store.c: releases */
int store_open(struct daemon *d);
void store_close(struct daemon *d);
const struct release *store_current(struct daemon *d, const char *product);
const struct release *store_find(struct daemon *d, const char *product, const char *name);
/* A release moved into the store from incoming entry name: recorded in the history. */
int store_add(struct daemon *d, const struct release *r, const char *name);
/* The replay's RELEASE records, then the adoption of releases without one. */
void store_note(struct daemon *d, const struct dfumgr_history_record *rec);
int store_adopt(struct daemon *d);
void store_release_json(const struct release *r, struct cJSON *o);

/* incoming.c: the drop directory */
int incoming_start(struct daemon *d);
void incoming_stop(struct daemon *d);
void incoming_rescan(struct daemon *d);

/* boards.c: the board table and scans */
struct board *board_find(struct daemon *d, const char *serial);
struct board *board_get(struct daemon *d, const char *serial);
enum board_status board_status(struct daemon *d, const struct board *b,
			       const struct release **ret_release);
/* When a failed board may be tried again (realtime ms), 0 when it need not wait. */
int64_t board_retry_at(struct daemon *d, const struct board *b);
void boards_request_scan(struct daemon *d, uint64_t delay_us);
void board_json(struct daemon *d, const struct board *b, struct cJSON *o);
void boards_done(struct daemon *d);

/* hotplug.c: device change notifications */
int hotplug_start(struct daemon *d);
void hotplug_stop(struct daemon *d);

/* policy.c */
void policy_run(struct daemon *d);
/* Starts an update of b to r now (the control socket's "update"). */
int policy_update_now(struct daemon *d, struct board *b, const struct release *r, char *err,
		      size_t errlen);
void policy_job_done(struct daemon *d, struct board *b, int rc,
		     const struct dfumgr_update_report *rep, const char *message);

/* worker.c: one board's update in a thread (the updater seam over libdfumgr) */
/* Parses DFUMGRD_TEST_CRASH=PHASE[:N] (see worker.c); 0, or -1 when malformed. */
int worker_test_hook(const char *env);
struct update_job *worker_start(struct daemon *d, struct board *b, const struct release *r,
				unsigned attempt, bool manual);
void worker_progress(const struct update_job *u, enum dfumgr_update_phase *ret_phase,
		     uint64_t *ret_done, uint64_t *ret_total);
void worker_ack_phase(struct update_job *u, unsigned seq);
const char *worker_product(const struct update_job *u);
const char *worker_release_id(const struct update_job *u);
bool worker_manual(const struct update_job *u);
unsigned worker_attempt(const struct update_job *u);
void worker_on_msg(struct daemon *d, struct msg *m);

/* control.c */
int control_start(struct daemon *d);
void control_stop(struct daemon *d);
/* The configuration changed: resolve the control group again. */
void control_reload(struct daemon *d);
/* Sends an event to the subscribers; takes ev. */
void control_event(struct daemon *d, struct cJSON *ev);

/* fetch_state.c */
struct cJSON *fetch_state_json(struct daemon *d);

#endif
