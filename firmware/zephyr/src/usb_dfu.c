/* SPDX-License-Identifier: MIT */
/*
 * The shim's DFU class on Zephyr's legacy USB device stack (subsys/usb/device). The stack keeps
 * chapter 9 (addressing, configuration, descriptors); this file routes the DFU interface's
 * class and vendor requests and SET_INTERFACE into firmware/core, and switches between runtime
 * mode and DFU mode by re-enumerating with the other descriptor set (ARCHITECTURE §3).
 *
 * Threads: control requests arrive on the nRF USBD driver's work queue ("usbd_workq"), the
 * background digest runs in main's loop, detach and reboot run on the system work queue. The
 * core is single-threaded, so every call into it holds core_lock (and tells the health check
 * how long it has held it).
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

static const struct dfu_dev_ops core_ops = {
    .erase = shim_flash_erase,
    .program = shim_flash_program,
    .read = shim_flash_read,
    .sha256_start = shim_sha256_start,
    .sha256_update = shim_sha256_update,
    .sha256_finish = shim_sha256_finish,
    .detach = op_detach,
    .reboot = op_reboot,
};

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
		dfu_dev_init(&core, &core_ops, NULL, dfu, &core_cfg);
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
	ARG_UNUSED(work);
	LOG_INF("Rebooting (MCUboot runs next)");
	/* a clean unplug first, so the host sees the device leave before the reset */
	(void)usb_disable();
	k_msleep(10);
	shim_reset(SHIM_RESET_PLANNED);
}

static void log_download_end(const struct usb_setup_packet *setup)
{
	struct shim_flash_stats st;

	if (setup->bRequest != DFU_DNLOAD || setup->wLength != 0)
		return;
	shim_flash_stats_take(&st);
	if (st.erases || st.programs)
		LOG_INF("alt %u: %u erases %u ms (max %u us), %u programs %u ms (max %u us)",
			core.alt, st.erases, st.erase_us / 1000, st.max_erase_us, st.programs,
			st.program_us / 1000, st.max_program_us);
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
	bool busy;
	int rc;

	if (setup->wIndex != 0)
		return -ENOTSUP; /* our only interface is number 0 */
	lock_core();
	rc = dfu_dev_control(&core, &s, *data, now_us());
	if (rc != DFU_DEV_STALL && setup->bmRequestType == 0x21)
		log_download_end(setup);
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
