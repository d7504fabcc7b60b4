/* SPDX-License-Identifier: MIT */
/*
 * The shim's DFU class on Zephyr's legacy USB device stack (subsys/usb/device). The stack keeps
 * chapter 9 (addressing, configuration, descriptors); this file routes the DFU interface's
 * class and vendor requests and SET_INTERFACE into firmware/core, and switches between runtime
 * mode and DFU mode by re-enumerating with the other descriptor set (ARCHITECTURE §3).
 *
 * Threads: control requests arrive on the nRF USBD driver's work queue ("usbd_workq"), the
 * background digest runs in main's loop, detach and reboot run on the system work queue, and a
 * download's flash work runs on this file's flash thread. The core is single-threaded, so every
 * call into it holds core_lock (and tells the health check how long it has held it).
 *
 * Pipelined download (ARCHITECTURE §6, docs/design.md "Update speed"). A DNLOAD copies its block
 * into one of the core's two buffers and returns at once; the flash thread (priority below
 * usbd_workq, so a request is never kept waiting by flash work that is not its own) erases,
 * programs and reads back the block, while USB takes the next one. It releases core_lock for
 * each erase and program (milliseconds on the QSPI: 48 ms per 4 KiB sector), so requests stay
 * answerable meanwhile; the core touches nothing of a block being written, and requests that
 * need the flash idle (a new download, UPLOAD, digests, COMMIT) get DFU_DEV_WAIT.
 *
 * Flow control: when the core can answer a request only after flash work (DFU_DEV_WAIT: a
 * GETSTATUS with both buffers full, the status of the block that ends an image, a request that
 * reads the slots), to_core() waits for the flash thread's next finished block with core_lock
 * released, and asks again. Zephyr's legacy stack calls class handlers synchronously on
 * usbd_workq and has no way to hold a request back except by not returning, so the wait is
 * in the handler: the USBD hardware NAKs the request's data or status stage meanwhile (flow
 * control by the data stage, which DFU 1.1 hosts wait through: dfu-util's and libusb's control
 * timeouts are seconds). The wait is bounded by one block's flash work (about 62 ms for a
 * 4 KiB block on the MX25R64: what a request waited before, when it did the flash work itself;
 * two blocks for the status of the block that ends an image); when no block finishes for
 * CONFIG_DFUMGR_HEALTH_CORE_MAX_MS the request is STALLed (the health check has then found the
 * flash hanging).
 * Why not the other choice the design allows, bwPollTimeout with the estimated flash time: the
 * host would sleep an estimate (QSPI erase times spread from 40 to 240 ms by datasheet) instead
 * of being answered the moment the block is in flash, every wrong estimate costs another
 * GETSTATUS round trip or idle time, and the core would need a second timing model. Blocking
 * usbd_workq is safe here: it served the same time before (the flash work ran inside the DNLOAD
 * request); the bus cannot suspend while the host retries a NAKed transfer; a bus reset cuts the
 * transfer anyway and its event is handled right after; the board has no other interface whose
 * requests would wait; CONFIG_USB_DEVICE_SOF=n keeps the driver's event queue from filling.
 * On native_posix the USB/IP thread waits the same way (the test's client waits for the reply).
 *
 * Besides the DFU interface, two requests of Windows' WinUSB binding are answered here: the BOS
 * descriptor (GET_DESCRIPTOR type 15) and the Microsoft OS 2.0 descriptor set (a vendor request
 * to the device); both come from shim_desc.c's blob.
 */
#include <errno.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/usb/usb_ch9.h>
#include <zephyr/usb/usb_device.h>

#include "shim.h"
#include "shim_desc.h"

LOG_MODULE_REGISTER(shim_usb, LOG_LEVEL_INF);

/* after DETACH: let the status stage finish before the pull-up goes */
#define DETACH_DELAY_MS 20
/* pull-up off this long: hubs report the disconnect, the host drops the runtime device */
#define REPLUG_GAP_MS   100
#define REBOOT_DELAY_MS 50
/* background hashing per step: one QSPI read + SHA-256 of 4 KiB, a few ms with core_lock held */
#define POLL_BUDGET DFU_DIGEST_STEP

static K_MUTEX_DEFINE(core_lock);
static K_SEM_DEFINE(work_sem, 0, 1);
/* a download block was queued: the flash thread runs the core's flash work */
static K_SEM_DEFINE(flash_sem, 0, 1);
/* the flash thread finished a block (signalled with core_lock held) */
static K_CONDVAR_DEFINE(flash_done);

/*
 * The flash thread: below usbd_workq (a cooperative thread at CONFIG_SYSTEM_WORKQUEUE_PRIORITY
 * on nRF), level with main's loop. Its stack holds the core's block work (two 256-byte
 * buffers deep) and the flash driver's calls.
 */
#define FLASH_THREAD_STACK 2048
#define FLASH_THREAD_PRIO  K_PRIO_PREEMPT(0)
BUILD_ASSERT(FLASH_THREAD_PRIO > CONFIG_SYSTEM_WORKQUEUE_PRIORITY,
	     "the flash thread must run below the USB work queue");

static struct dfu_dev core;
static struct dfu_area_info core_areas[DFU_AREA_COUNT];
static char serial[DFUMGR_SERIAL_MAX + 1];
/* the build's identity and product configuration (Kconfig), for the core and GET_INFO */
static const struct dfu_dev_config core_cfg = {
    .areas = core_areas,
    .serial = serial,
    .product = CONFIG_DFUMGR_PRODUCT,
    .hw_revision = CONFIG_DFUMGR_HW_REVISION,
    .no_upload = !IS_ENABLED(CONFIG_DFUMGR_SHIM_UPLOAD),
    .version_cmp_build = IS_ENABLED(CONFIG_DFUMGR_SHIM_VERSION_CMP_BUILD),
    .mcuboot_1768 = IS_ENABLED(CONFIG_DFUMGR_SHIM_MCUBOOT_1768),
};
/* the board's USB identity (Kconfig); 1915:5300 is the development default only */
BUILD_ASSERT(sizeof(CONFIG_DFUMGR_USB_MANUFACTURER) - 1 <= SHIM_STRING_MAX &&
		 sizeof(CONFIG_DFUMGR_USB_PRODUCT) - 1 <= SHIM_STRING_MAX,
	     "CONFIG_DFUMGR_USB_MANUFACTURER/PRODUCT: at most 126 characters");
BUILD_ASSERT(sizeof(CONFIG_DFUMGR_USB_WINUSB_GUID) == 1 ||
		 sizeof(CONFIG_DFUMGR_USB_WINUSB_GUID) - 1 == SHIM_GUID_LEN,
	     "CONFIG_DFUMGR_USB_WINUSB_GUID: empty or {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}");
static const struct shim_usb_id usb_id = {
    .vid = CONFIG_DFUMGR_USB_VID,
    .pid = CONFIG_DFUMGR_USB_PID,
    .manufacturer = CONFIG_DFUMGR_USB_MANUFACTURER,
    .product = CONFIG_DFUMGR_USB_PRODUCT,
    .winusb_guid = sizeof(CONFIG_DFUMGR_USB_WINUSB_GUID) > 1 ? CONFIG_DFUMGR_USB_WINUSB_GUID : NULL,
    .no_upload = !IS_ENABLED(CONFIG_DFUMGR_SHIM_UPLOAD),
};
static bool dfu_mode;
/* the stack keeps a pointer to it between usb_set_config() and the next rebuild */
static uint8_t descriptors[SHIM_DESC_MAX] __aligned(4);
static struct shim_desc_layout desc_layout;

static void detach_work_fn(struct k_work *work);
static void reboot_work_fn(struct k_work *work);
static K_WORK_DELAYABLE_DEFINE(detach_work, detach_work_fn);
static K_WORK_DELAYABLE_DEFINE(reboot_work, reboot_work_fn);
static enum { DETACH_IDLE, DETACH_UNPLUG, DETACH_REPLUG } detach_phase;

static void op_detach(void *user);
static void op_reboot(void *user);
static int op_erase(void *user, enum dfu_area area, uint32_t off, uint32_t len, uint32_t *cost_us);
static int op_program(void *user, enum dfu_area area, uint32_t off, const uint8_t *data,
		      uint32_t len, uint32_t *cost_us);
static void op_work(void *user);
static void flash_thread_fn(void *p1, void *p2, void *p3);

K_THREAD_DEFINE(flash_thread, FLASH_THREAD_STACK, flash_thread_fn, NULL, NULL, NULL,
		FLASH_THREAD_PRIO, 0, 0);

static const struct dfu_dev_ops core_ops = {
    .erase = op_erase,
    .program = op_program,
    .read = shim_flash_read,
    .sha256_start = shim_sha256_start,
    .sha256_update = shim_sha256_update,
    .sha256_finish = shim_sha256_finish,
    .detach = op_detach,
    .reboot = op_reboot,
    .work = op_work,
};

#ifdef CONFIG_DFUMGR_TEST_HOOKS
/* -dfumgr-no-pipeline: the core does each block's flash work inside the request */
static const struct dfu_dev_ops core_ops_inline = {
    .erase = op_erase,
    .program = op_program,
    .read = shim_flash_read,
    .sha256_start = shim_sha256_start,
    .sha256_update = shim_sha256_update,
    .sha256_finish = shim_sha256_finish,
    .detach = op_detach,
    .reboot = op_reboot,
};
#define CORE_OPS (shim_hooks.no_pipeline ? &core_ops_inline : &core_ops)
#else
#define CORE_OPS (&core_ops)
#endif

static int class_request(struct usb_setup_packet *setup, int32_t *len, uint8_t **data);
static int vendor_request(struct usb_setup_packet *setup, int32_t *len, uint8_t **data);
static int custom_request(struct usb_setup_packet *setup, int32_t *len, uint8_t **data);
static void status_cb(struct usb_cfg_data *cfg, enum usb_dc_status_code status,
		      const uint8_t *param);

/*
 * The stack routes class and custom requests by interface_descriptor->bInterfaceNumber, and
 * only while that pointer lies inside the registered descriptors: it is set to our blob in
 * build_descriptors(). interface_config stays NULL: the stack calls it only to renumber
 * interfaces it assembled from its linker-section descriptors, and ours are not among them.
 */
USBD_DEFINE_CFG_DATA(shim_usb_cfg) = {
    .usb_device_description = NULL,
    .interface_descriptor = NULL,
    .interface_config = NULL,
    .cb_usb_status = status_cb,
    .interface =
	{
	    .class_handler = class_request,
	    .vendor_handler = vendor_request,
	    .custom_handler = custom_request,
	},
    .num_endpoints = 0,
    .endpoint = NULL,
};

static void lock_core(void)
{
	k_mutex_lock(&core_lock, K_FOREVER);
	shim_health_core_enter();
}

static void unlock_core(void)
{
	shim_health_core_exit();
	k_mutex_unlock(&core_lock);
}

static uint64_t now_us(void)
{
	return k_ticks_to_us_floor64(k_uptime_ticks());
}

/*
 * Waits, core_lock held, until the flash thread finishes a block, with core_lock released
 * meanwhile. false when no block has finished for CONFIG_DFUMGR_HEALTH_CORE_MAX_MS: *deadline
 * (uptime, ms) moves on with every finished block.
 */
static bool wait_flash(int64_t *deadline)
{
	int64_t left = *deadline - k_uptime_get();

	if (left <= 0)
		return false;
	shim_health_core_exit();
	if (k_condvar_wait(&flash_done, &core_lock, K_MSEC(left)) == 0)
		*deadline = k_uptime_get() + CONFIG_DFUMGR_HEALTH_CORE_MAX_MS;
	shim_health_core_enter();
	return true;
}

/*
 * Erase and program: on the flash thread, with core_lock released while the flash works (the
 * core asks no more of a block being written than that it stays put); elsewhere (COMMIT's
 * trailer rows, the boot's confirmation) under the lock, as the core's callers hold it.
 */
static bool on_flash_thread(void)
{
	return k_current_get() == flash_thread;
}

static int op_erase(void *user, enum dfu_area area, uint32_t off, uint32_t len, uint32_t *cost_us)
{
	bool release = on_flash_thread();
	int rc;

	if (release)
		unlock_core();
	rc = shim_flash_erase(user, area, off, len, cost_us);
	if (release)
		lock_core();
	return rc;
}

static int op_program(void *user, enum dfu_area area, uint32_t off, const uint8_t *data,
		      uint32_t len, uint32_t *cost_us)
{
	bool release = on_flash_thread();
	int rc;

	if (release)
		unlock_core();
	rc = shim_flash_program(user, area, off, data, len, cost_us);
	if (release)
		lock_core();
	return rc;
}

/* Under core_lock, in a DNLOAD: a block is queued. */
static void op_work(void *user)
{
	ARG_UNUSED(user);
	k_sem_give(&flash_sem);
}

static void flash_thread_fn(void *p1, void *p2, void *p3)
{
	ARG_UNUSED(p1);
	ARG_UNUSED(p2);
	ARG_UNUSED(p3);
	for (;;) {
		(void)k_sem_take(&flash_sem, K_FOREVER);
		lock_core();
		while (dfu_dev_work(&core, now_us()))
			k_condvar_broadcast(&flash_done);
		unlock_core();
	}
}

static bool core_busy(void)
{
	return core.digest.status == DFUMGR_DIGEST_BUSY ||
	       core.commit_state == DFUMGR_COMMIT_CHECKING;
}

static int build_descriptors(bool dfu)
{
	if (shim_desc_build(descriptors, sizeof(descriptors), dfu, &usb_id, serial, &desc_layout) <
	    0) {
		LOG_ERR("Invalid USB identity (CONFIG_DFUMGR_USB_*) or serial number");
		return -EINVAL;
	}
	shim_usb_cfg.usb_device_description = descriptors;
	shim_usb_cfg.interface_descriptor = descriptors + desc_layout.intf_off;
	return 0;
}

/* Under core_lock, in the request: only schedule, the answer must go out first. */
static void op_detach(void *user)
{
	ARG_UNUSED(user);
	detach_phase = DETACH_UNPLUG;
	k_work_reschedule(&detach_work, K_MSEC(DETACH_DELAY_MS));
}

static void op_reboot(void *user)
{
	ARG_UNUSED(user);
	k_work_reschedule(&reboot_work, K_MSEC(REBOOT_DELAY_MS));
}

/*
 * DFU 1.1 §5.1 with bitWillDetach: the device leaves the bus by itself and comes back in DFU
 * mode with the same serial number. Zephyr's legacy stack has one descriptor set at a time,
 * so the switch is usb_disable(), a new blob, usb_set_config(), usb_enable().
 */
/* Builds this mode's descriptors, restarts the core in it, and (re-)enumerates. */
static int enter_mode(bool dfu)
{
	int rc;

	lock_core();
	dfu_mode = dfu;
	rc = build_descriptors(dfu);
	if (rc == 0)
		dfu_dev_init(&core, CORE_OPS, NULL, dfu, &core_cfg);
	unlock_core();
	if (rc == 0)
		rc = usb_set_config(descriptors);
	if (rc == 0)
		rc = usb_enable(NULL);
	if (rc != 0)
		LOG_ERR("Failed to enable USB in %s mode: %d", dfu ? "DFU" : "runtime", rc);
	else
		LOG_INF("%s mode (serial %s)", dfu ? "DFU" : "runtime", serial);
	return rc;
}

static void detach_work_fn(struct k_work *work)
{
	int rc;

	ARG_UNUSED(work);
	switch (detach_phase) {
	case DETACH_UNPLUG:
		rc = usb_disable();
		if (rc != 0)
			LOG_ERR("Failed to disable USB for the DFU-mode switch: %d", rc);
		detach_phase = DETACH_REPLUG;
		k_work_reschedule(&detach_work, K_MSEC(REPLUG_GAP_MS));
		break;
	case DETACH_REPLUG:
		detach_phase = DETACH_IDLE;
		(void)enter_mode(true);
		break;
	default:
		break;
	}
}

static void reboot_work_fn(struct k_work *work)
{
	int64_t deadline = k_uptime_get() + CONFIG_DFUMGR_HEALTH_CORE_MAX_MS;

	ARG_UNUSED(work);
	/* blocks the flash thread still writes are finished first (a reset would cut them) */
	lock_core();
	while (dfu_dev_blocks_pending(&core) && wait_flash(&deadline))
		;
	unlock_core();
	LOG_INF("Rebooting (MCUboot runs next)");
	/* a clean unplug first, so the host sees the device leave before the reset */
	(void)usb_disable();
	k_msleep(10);
	shim_reset(SHIM_RESET_PLANNED);
}

/* this download's blocks, and those taken while the block before was still in flash work */
static uint32_t dl_blocks, dl_overlapped;

/* Under core_lock, after a DNLOAD the core took: counts, and logs the flash work at the end. */
static void log_download(const struct usb_setup_packet *setup)
{
	struct shim_flash_stats st;

	if (setup->bRequest != DFU_DNLOAD)
		return;
	if (setup->wLength != 0) {
		dl_blocks++;
		if (dfu_dev_blocks_pending(&core) > 1)
			dl_overlapped++;
		return;
	}
	shim_flash_stats_take(&st);
	if (st.erases || st.programs)
		LOG_INF("alt %u: %u blocks, %u taken while the one before was in flash; %u erases "
			"%u ms (max %u us), %u programs %u ms (max %u us)",
			core.alt, dl_blocks, dl_overlapped, st.erases, st.erase_us / 1000,
			st.max_erase_us, st.programs, st.program_us / 1000, st.max_program_us);
	dl_blocks = dl_overlapped = 0;
}

/* One request into the core. data: the OUT data stage, or the stack's buffer for IN. */
static int to_core(struct usb_setup_packet *setup, int32_t *len, uint8_t **data)
{
	struct dfu_setup s = {
	    .bmRequestType = setup->bmRequestType,
	    .bRequest = setup->bRequest,
	    .wValue = setup->wValue,
	    .wIndex = setup->wIndex,
	    .wLength = setup->wLength,
	};
	int64_t deadline = k_uptime_get() + CONFIG_DFUMGR_HEALTH_CORE_MAX_MS;
	bool busy;
	int rc;

	if (setup->wIndex != 0)
		return -ENOTSUP; /* our only interface is number 0 */
	lock_core();
	/* the answer needs flash work done first: held back (NAKed) until the flash thread is */
	while ((rc = dfu_dev_control(&core, &s, *data, now_us())) == DFU_DEV_WAIT) {
		if (!wait_flash(&deadline)) {
			LOG_ERR("Request 0x%02x: no flash work finished for %d ms", setup->bRequest,
				CONFIG_DFUMGR_HEALTH_CORE_MAX_MS);
			rc = DFU_DEV_STALL;
			break;
		}
	}
	if (rc != DFU_DEV_STALL && setup->bmRequestType == 0x21)
		log_download(setup);
	busy = core_busy();
	unlock_core();
	if (busy)
		k_sem_give(&work_sem);
	if (rc == DFU_DEV_STALL)
		return -EINVAL;
	*len = usb_reqtype_is_to_host(setup) ? rc : 0;
	return 0;
}

static int class_request(struct usb_setup_packet *setup, int32_t *len, uint8_t **data)
{
	return to_core(setup, len, data);
}

/*
 * The stack offers every vendor request to every class: take only our interface's, and the
 * device-level MS OS 2.0 descriptor request (Windows asks for it after reading the BOS).
 */
static int vendor_request(struct usb_setup_packet *setup, int32_t *len, uint8_t **data)
{
	if (shim_desc_is_msos_request(setup->bmRequestType, setup->bRequest, setup->wIndex)) {
		*data = descriptors + desc_layout.msos_off;
		*len = (int32_t)desc_layout.msos_len; /* the stack sends at most wLength */
		return 0;
	}
	if (setup->RequestType.recipient != USB_REQTYPE_RECIPIENT_INTERFACE)
		return -ENOTSUP;
	return to_core(setup, len, data);
}

/*
 * SET_INTERFACE reaches us here first; returning non-zero hands it on to the stack's chapter 9
 * code, which records the alt-setting and answers. The core refuses to switch alt in the middle
 * of a transfer (DFU 1.1 has no rule, but a switch would send the rest of one image into the
 * other's slot), and that refusal must be a STALL as in dfu-mgr-emu. A custom handler cannot
 * STALL a standard request, so the refusal is passed on as a request for an alt-setting that
 * does not exist, which the stack STALLs.
 */
static int custom_request(struct usb_setup_packet *setup, int32_t *len, uint8_t **data)
{
	int rc;

	/*
	 * GET_DESCRIPTOR(BOS): the stack would look for it in the blob it walks and answer with
	 * bLength (5) bytes; the BOS goes out whole (wTotalLength), from behind that walk.
	 */
	if (setup->bmRequestType == 0x80 && setup->bRequest == USB_SREQ_GET_DESCRIPTOR &&
	    USB_GET_DESCRIPTOR_TYPE(setup->wValue) == USB_DESC_BOS) {
		*data = descriptors + desc_layout.bos_off;
		*len = (int32_t)desc_layout.bos_len;
		return 0;
	}
	if (usb_reqtype_is_to_host(setup) ||
	    setup->RequestType.recipient != USB_REQTYPE_RECIPIENT_INTERFACE ||
	    setup->bRequest != USB_SREQ_SET_INTERFACE || setup->wIndex != 0 || !dfu_mode)
		return -ENOTSUP;
	lock_core();
	rc = setup->wValue > UINT8_MAX ? DFU_DEV_STALL : dfu_dev_set_alt(&core, setup->wValue);
	unlock_core();
	if (rc != 0)
		setup->wValue = 0xff00; /* no such alt-setting: the stack STALLs */
	return -EINVAL;
}

/*
 * SET_CONFIGURATION and a disconnect put the stack's alt-setting back to 0 (USB 2.0 §9.1.1.5);
 * keep the core in step when it is idle, so GET_INTERFACE and DNLOAD agree on the slot.
 */
static void status_cb(struct usb_cfg_data *cfg, enum usb_dc_status_code status,
		      const uint8_t *param)
{
	ARG_UNUSED(cfg);
	ARG_UNUSED(param);
	switch (status) {
	case USB_DC_CONFIGURED:
	case USB_DC_DISCONNECTED:
		if (dfu_mode) {
			lock_core();
			(void)dfu_dev_set_alt(&core, 0);
			unlock_core();
		}
		break;
	case USB_DC_RESET: {
		bool detaching;

		/* DFU 1.1 §5.1: a bus reset in appDETACH also means "go to DFU mode now" */
		lock_core();
		detaching = !dfu_mode && core.state == DFU_STATE_APP_DETACH &&
			    detach_phase == DETACH_UNPLUG;
		unlock_core();
		if (detaching)
			k_work_reschedule(&detach_work, K_NO_WAIT);
		break;
	}
	default:
		break;
	}
}

int shim_usb_start(const struct dfu_area_info areas[DFU_AREA_COUNT], const char *sn, bool dfu)
{
	memcpy(core_areas, areas, sizeof(core_areas));
	strncpy(serial, sn, DFUMGR_SERIAL_MAX);
	return enter_mode(dfu);
}

int shim_usb_confirm(void)
{
	int rc;

	lock_core();
	rc = dfu_dev_confirm(&core);
	unlock_core();
	return rc;
}

bool shim_usb_poll_step(void)
{
	bool busy;

	lock_core();
	dfu_dev_poll(&core, now_us(), POLL_BUDGET);
	busy = core_busy();
	unlock_core();
	return busy;
}

void shim_usb_work_wait(uint32_t timeout_ms)
{
	(void)k_sem_take(&work_sem, K_MSEC(timeout_ms));
}

bool shim_usb_runtime_mode(void)
{
	return !dfu_mode;
}
