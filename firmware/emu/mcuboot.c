/* SPDX-License-Identifier: MIT */
/*
 * MCUboot's boot, swap-using-move, for two images (see mcuboot.h). The comments name the bootutil
 * function each step follows, so that a reader can hold the two side by side; the code is this
 * project's own.
 *
 * A power cut stops the CPU wherever it is. The model leaves through longjmp() from the flash
 * write after which the power was lost, as MCUboot's own simulator does (sim/mcuboot-sys), so
 * that no step can run on after it; nothing the model holds needs releasing at that point.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "mcuboot.h"
#include "dfumgr/crypto.h"

/* ---- geometry and constants (mcuboot.conf, bootutil's headers) ---- */

#define MB_SECTOR       4096u /* both slots of both images: 4 KiB erase units */
#define MB_WRITE_SZ     DFUMGR_MCUBOOT_WRITE_SIZE
#define MB_MAX_ALIGN    DFUMGR_MCUBOOT_MAX_ALIGN
#define MB_MAX_SECTORS  DFUMGR_MCUBOOT_MAX_SECTORS
#define MB_TMPBUF       256u  /* BOOT_TMPBUF_SZ: the image hash reads this much at a time */
#define MB_COPY_CHUNK   1024u /* loader.c BUF_SZ: a sector copy is four program calls */
#define MB_AREA_SECTORS (DFUMGR_IMG1_SLOT_SIZE / MB_SECTOR) /* the larger slot's */

#define IMAGE_MAGIC      0x96f3b83du
#define TLV_INFO_MAGIC   0x6907u
#define TLV_PROT_MAGIC   0x6908u
#define TLV_ANY          0xffffu
#define TLV_KEYHASH      0x01u
#define TLV_SHA256       0x10u
#define TLV_ECDSA_SIG    0x22u
#define TLV_DEPENDENCY   0x40u
#define F_NON_BOOTABLE   0x10u
#define F_ROM_FIXED      0x100u
#define SIG_BUF_ECDSA    128u /* image_validate.c SIG_BUF_SIZE with MCUBOOT_SIGN_EC256 */
#define SIG_BUF_HASHONLY 32u  /* ... and without a signature type */

enum { SLOT_PRI = 0, SLOT_SEC = 1 };
enum { MAGIC_GOOD = 1, MAGIC_BAD = 2, MAGIC_UNSET = 3 };
enum { FLAG_SET = 1, FLAG_BAD = 2, FLAG_UNSET = 3 };
enum { SOURCE_NONE = 0, SOURCE_PRIMARY = 2 };
enum { OP_MOVE = 1, OP_SWAP = 2 };
enum { STATE_0 = 1, STATE_1 = 2 };
enum { IDX_0 = 1 };
enum check { CHECK_OK, CHECK_NO_IMAGE, CHECK_FAIL }; /* FIH_SUCCESS / NO_BOOTABLE / FAILURE */

#define SWAP_NONE   DFUMGR_SWAP_TYPE_NONE
#define SWAP_TEST   DFUMGR_SWAP_TYPE_TEST
#define SWAP_PERM   DFUMGR_SWAP_TYPE_PERM
#define SWAP_REVERT DFUMGR_SWAP_TYPE_REVERT
#define SWAP_FAIL   EMU_SWAP_TYPE_FAIL
#define SWAP_PANIC  EMU_SWAP_TYPE_PANIC

static const uint8_t boot_magic[16] = {
    0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80,
};

/*
 * bootutil_misc.c boot_trailer_sz(): three status entries per sector for BOOT_MAX_IMG_SECTORS
 * sectors, swap_size/swap_info/copy_done/image_ok on max_align rows, the magic.
 */
static uint32_t trailer_size(void)
{
	return dfumgr_wire_trailer_size(MB_MAX_SECTORS, MB_WRITE_SZ, MB_MAX_ALIGN);
}

/* ---- state ---- */

struct mb_slot {
	struct emu_flash *f;
	uint32_t base, size, n_sectors;
	/* what this power-on did to the slot: the result's counters, erases per sector */
	struct emu_mcuboot_wear *wear;
	uint16_t *sector_erases;
	uint64_t *erase_us, *program_us;
};

struct mb_hdr { /* struct image_header, decoded */
	uint32_t magic, load_addr;
	uint16_t hdr_size, prot_tlv_size;
	uint32_t img_size, flags;
	uint8_t major, minor;
	uint16_t revision;
	uint32_t build;
};

struct mb_status { /* struct boot_status */
	uint32_t idx;
	uint8_t state, op, swap_type;
	uint32_t swap_size;
	int source;
};

struct mb_swap_state { /* struct boot_swap_state */
	uint8_t magic, swap_type, image_num, copy_done, image_ok;
};

struct mb_tlv_iter {
	const struct mb_hdr *hdr;
	const struct mb_slot *slot;
	uint16_t type;
	bool prot;
	uint32_t prot_end, tlv_end, tlv_off;
};

struct mb {
	struct emu_board *b;
	enum emu_mcuboot_strategy strategy;
	uint16_t *sector_erases; /* EMU_MCUBOOT_AREAS rows of MB_AREA_SECTORS (NULL: no memory) */
	struct mb_slot slot[DFUMGR_N_IMAGES][2];
	struct mb_hdr hdr[DFUMGR_N_IMAGES][2];
	uint8_t swap_type[DFUMGR_N_IMAGES];
	unsigned img;                /* BOOT_CURR_IMG */
	int active[DFUMGR_N_IMAGES]; /* direct-XIP: the slot each image runs from, -1 none yet */
	struct emu_mcuboot_result *res;
	uint64_t writes0;
	jmp_buf stop;
	uint8_t keyhash[32];
	bool have_keyhash;
};

static void say(struct mb *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct mb *m, const char *fmt, ...)
{
	char *log = m->res->log;
	size_t n = strlen(log);
	va_list ap;

	if (n + 3 >= sizeof(m->res->log))
		return;
	if (n)
		n += (size_t)snprintf(log + n, sizeof(m->res->log) - n, "; ");
	va_start(ap, fmt);
	vsnprintf(log + n, sizeof(m->res->log) - n, fmt, ap);
	va_end(ap);
}

/* Where MCUboot stops for good: the CPU spins until the power goes. */
static _Noreturn void hang(struct mb *m, const char *why)
{
	say(m, "MCUboot hangs: %s", why);
	longjmp(m->stop, EMU_MCUBOOT_HANG);
}

static struct mb_slot *pri(struct mb *m)
{
	return &m->slot[m->img][SLOT_PRI];
}

static struct mb_slot *sec(struct mb *m)
{
	return &m->slot[m->img][SLOT_SEC];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- flash_area_* (Zephyr's flash_map.c: an access must lie within the area) ---- */

static bool in_area(const struct mb_slot *s, uint32_t off, uint32_t len)
{
	/* off is an off_t (32 bits on the nRF5340): negative offsets are refused */
	return off <= INT32_MAX && (uint64_t)off + len <= s->size;
}

static int fa_read(const struct mb_slot *s, uint32_t off, void *buf, uint32_t len)
{
	if (!in_area(s, off, len))
		return -1;
	s->wear->bytes_read += len;
	return emu_flash_read(s->f, s->base + off, buf, len) ? -1 : 0;
}

/* After every write: a board that just lost its power runs no further. */
static void check_power(struct mb *m)
{
	if (emu_power_lost(m->b->internal.power) || emu_power_lost(m->b->qspi.power))
		longjmp(m->stop, EMU_MCUBOOT_POWER_LOST);
}

static int fa_write(struct mb *m, const struct mb_slot *s, uint32_t off, const void *buf,
		    uint32_t len)
{
	uint32_t cost = 0;
	int rc;

	if (!in_area(s, off, len))
		return -1;
	rc = emu_flash_program(s->f, s->base + off, buf, len, &cost);
	if (rc == 0) {
		s->wear->programs++;
		s->wear->bytes_programmed += len;
		*s->program_us += emu_flash_cost_us(&s->f->datasheet, s->f->erase_unit, false, len);
	}
	check_power(m);
	return rc ? -1 : 0;
}

static int fa_erase(struct mb *m, const struct mb_slot *s, uint32_t off, uint32_t len)
{
	uint32_t cost = 0;
	int rc;

	if (!in_area(s, off, len))
		return -1;
	rc = emu_flash_erase(s->f, s->base + off, len, &cost);
	if (rc == 0) {
		for (uint32_t k = off / MB_SECTOR; k < (off + len) / MB_SECTOR; k++) {
			s->wear->erases++;
			if (s->sector_erases && ++s->sector_erases[k] > s->wear->max_erases)
				s->wear->max_erases = s->sector_erases[k];
		}
		*s->erase_us += emu_flash_cost_us(&s->f->datasheet, s->f->erase_unit, true, len);
	}
	check_power(m);
	return rc ? -1 : 0;
}

static bool all_erased(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0xff)
			return false;
	return true;
}

/* ---- the trailer (bootutil_public.c, bootutil_misc.c) ---- */

static uint32_t magic_off(const struct mb_slot *s)
{
	return s->size - DFUMGR_TRAILER_MAGIC_OFF;
}

static uint32_t image_ok_off(const struct mb_slot *s)
{
	return s->size - DFUMGR_TRAILER_IMAGE_OK_OFF;
}

static uint32_t copy_done_off(const struct mb_slot *s)
{
	return s->size - DFUMGR_TRAILER_COPY_DONE_OFF;
}

static uint32_t swap_info_off(const struct mb_slot *s)
{
	return s->size - DFUMGR_TRAILER_SWAP_INFO_OFF;
}

static uint32_t swap_size_off(const struct mb_slot *s)
{
	return s->size - DFUMGR_TRAILER_SWAP_SIZE_OFF;
}

static uint32_t status_off(const struct mb_slot *s)
{
	return s->size - trailer_size();
}

static uint8_t read_flag(const struct mb_slot *s, uint32_t off)
{
	uint8_t v = 0;

	fa_read(s, off, &v, 1);
	if (v == 0xff)
		return FLAG_UNSET;
	return v == DFUMGR_BOOT_FLAG_SET ? FLAG_SET : FLAG_BAD;
}

/* boot_read_swap_state() */
static struct mb_swap_state read_swap_state(const struct mb_slot *s)
{
	struct mb_swap_state st;
	uint8_t magic[16] = {0}, info = 0;

	fa_read(s, magic_off(s), magic, sizeof(magic));
	if (all_erased(magic, sizeof(magic)))
		st.magic = MAGIC_UNSET;
	else
		st.magic = memcmp(magic, boot_magic, 16) == 0 ? MAGIC_GOOD : MAGIC_BAD;
	fa_read(s, swap_info_off(s), &info, 1);
	st.swap_type = info & 0x0f;
	st.image_num = info >> 4;
	if (info == 0xff || st.swap_type > SWAP_REVERT) {
		st.swap_type = SWAP_NONE;
		st.image_num = 0;
	}
	st.copy_done = read_flag(s, copy_done_off(s));
	st.image_ok = read_flag(s, image_ok_off(s));
	return st;
}

/* boot_write_trailer(): the field padded with 0xff to the write size */
static int write_trailer(struct mb *m, const struct mb_slot *s, uint32_t off, const uint8_t *data,
			 uint32_t len)
{
	uint8_t buf[MB_MAX_ALIGN];
	uint32_t aligned = (len + MB_WRITE_SZ - 1) / MB_WRITE_SZ * MB_WRITE_SZ;

	memset(buf, 0xff, sizeof(buf));
	memcpy(buf, data, len);
	return fa_write(m, s, off, buf, aligned);
}

static int write_flag(struct mb *m, const struct mb_slot *s, uint32_t off)
{
	const uint8_t set = DFUMGR_BOOT_FLAG_SET;

	return write_trailer(m, s, off, &set, 1);
}

static int write_magic(struct mb *m, const struct mb_slot *s)
{
	/* BOOT_MAGIC_ALIGN_SIZE is 16 with max_align 8: the magic alone, on its own rows */
	return fa_write(m, s, magic_off(s), boot_magic, sizeof(boot_magic));
}

static int write_swap_info(struct mb *m, const struct mb_slot *s, uint8_t type, unsigned image)
{
	uint8_t info = (uint8_t)(image << 4 | type);

	return write_trailer(m, s, swap_info_off(s), &info, 1);
}

static int write_swap_size(struct mb *m, const struct mb_slot *s, uint32_t size)
{
	uint8_t v[4] = {(uint8_t)size, (uint8_t)(size >> 8), (uint8_t)(size >> 16),
			(uint8_t)(size >> 24)};

	return write_trailer(m, s, swap_size_off(s), v, 4);
}

/* swap_misc.c swap_erase_trailer_sectors(): from the last sector down, until the trailer fits */
static void erase_trailer_sectors(struct mb *m, const struct mb_slot *s)
{
	uint32_t sector = s->n_sectors - 1, total = 0;

	do {
		fa_erase(m, s, sector * MB_SECTOR, MB_SECTOR);
		sector--;
		total += MB_SECTOR;
	} while (total < trailer_size());
}

/* swap_misc.c swap_set_image_ok() */
static void set_image_ok(struct mb *m)
{
	if (read_swap_state(pri(m)).image_ok == FLAG_UNSET)
		write_flag(m, pri(m), image_ok_off(pri(m)));
}

/* ---- the swap status (loader.c, swap_move.c) ---- */

static void status_reset(struct mb_status *bs)
{
	memset(bs, 0, sizeof(*bs));
	bs->op = OP_MOVE;
	bs->idx = IDX_0;
	bs->state = STATE_0;
	bs->swap_type = SWAP_NONE;
}

static bool status_is_reset(const struct mb_status *bs)
{
	return bs->op == OP_MOVE && bs->idx == IDX_0 && bs->state == STATE_0;
}

/* boot_write_status(): one write_size entry, its first byte the state */
static void write_status(struct mb *m, const struct mb_status *bs)
{
	uint32_t entries = bs->op == OP_MOVE ? 1 : 2;
	uint32_t off = status_off(pri(m)) + (bs->op == OP_MOVE ? 0 : MB_MAX_SECTORS * MB_WRITE_SZ) +
		       (bs->idx - IDX_0) * entries * MB_WRITE_SZ +
		       (bs->state - STATE_0) * MB_WRITE_SZ;
	uint8_t buf[MB_WRITE_SZ];

	memset(buf, 0xff, sizeof(buf));
	buf[0] = bs->state;
	fa_write(m, pri(m), off, buf, MB_WRITE_SZ);
}

/* swap_move.c find_last_idx(): the sectors a swap of size bytes covers (at least one) */
static uint32_t last_index(struct mb *m, uint32_t size)
{
	/* its 32-bit sum never reaches a size above the last multiple of a sector */
	if (size > UINT32_MAX - MB_SECTOR + 1)
		hang(m, "the swap size in the trailer is never reached");
	return size <= MB_SECTOR ? 1 : (size + MB_SECTOR - 1) / MB_SECTOR;
}

/* swap_move.c swap_read_status_bytes(): the last entry written says where the swap stopped */
static void read_status_bytes(const struct mb_slot *s, struct mb_status *bs)
{
	uint32_t max = 3 * MB_MAX_SECTORS, found = 0, move_entries = MB_MAX_SECTORS;

	for (uint32_t i = max; i > 0 && !found; i--) {
		uint8_t v = 0xff;

		fa_read(s, status_off(s) + (i - 1) * MB_WRITE_SZ, &v, 1);
		if (v != 0xff)
			found = i;
	}
	if (!found)
		return;
	if (found < move_entries) {
		bs->op = OP_MOVE;
		bs->idx = found + IDX_0;
		bs->state = STATE_0;
	} else {
		bs->op = OP_SWAP;
		bs->idx = (found - move_entries) / 2 + IDX_0;
		bs->state = (uint8_t)((found - move_entries) % 2 + STATE_0);
	}
}

/* swap_move.c swap_status_source(): only an unfinished swap in the primary holds status */
static int status_source(struct mb *m)
{
	struct mb_swap_state p = read_swap_state(pri(m)), s = read_swap_state(sec(m));

	if (p.magic == MAGIC_GOOD && p.copy_done == FLAG_UNSET && s.magic != MAGIC_GOOD)
		return SOURCE_PRIMARY;
	return SOURCE_NONE;
}

/* swap_misc.c swap_read_status() */
static void read_status(struct mb *m, struct mb_status *bs)
{
	uint8_t info = 0xff;

	bs->source = status_source(m);
	if (bs->source == SOURCE_NONE)
		return;
	read_status_bytes(pri(m), bs);
	fa_read(pri(m), swap_info_off(pri(m)), &info, 1);
	if (info == 0xff)
		info = SWAP_NONE;
	bs->swap_type = info & 0x0f; /* not range-checked here, unlike boot_read_swap_state() */
}

static uint32_t read_swap_size(struct mb *m)
{
	uint8_t v[4] = {0};

	fa_read(pri(m), swap_size_off(pri(m)), v, 4);
	return get32(v);
}

/* ---- image headers and TLVs (loader.c, swap_move.c, tlv.c) ---- */

static void decode_hdr(const uint8_t raw[32], struct mb_hdr *h)
{
	h->magic = get32(raw);
	h->load_addr = get32(raw + 4);
	h->hdr_size = get16(raw + 8);
	h->prot_tlv_size = get16(raw + 10);
	h->img_size = get32(raw + 12);
	h->flags = get32(raw + 16);
	h->major = raw[20];
	h->minor = raw[21];
	h->revision = get16(raw + 22);
	h->build = get32(raw + 24);
}

/*
 * swap_move.c boot_read_image_header(): in the middle of a swap the header of a slot may sit in
 * the other slot, or one sector up; bs says where. With bs, a header without the image magic is
 * an error. The header is stored whatever the outcome.
 */
static int read_image_header(struct mb *m, int slot, const struct mb_status *bs)
{
	uint32_t off = 0;
	int from = slot;
	uint8_t raw[32];

	/* swap_scratch.c's version, which the other strategies build: a plain read */
	if (m->strategy != EMU_MCUBOOT_SWAP_MOVE)
		bs = NULL;
	if (bs && !status_is_reset(bs)) {
		uint32_t last = last_index(m, read_swap_size(m));

		if (bs->op == OP_MOVE && slot == SLOT_PRI && bs->idx > last) {
			off = MB_SECTOR;
		} else if (bs->op == OP_SWAP) {
			if (bs->idx > 1 && bs->idx <= last) {
				from = slot == SLOT_PRI ? SLOT_SEC : SLOT_PRI;
			} else if (bs->idx == 1) {
				if (slot == SLOT_PRI)
					off = MB_SECTOR;
				else if (slot == SLOT_SEC && bs->state == STATE_1)
					from = SLOT_PRI;
			}
		}
	}
	memset(raw, 0xff, sizeof(raw));
	if (fa_read(&m->slot[m->img][from], off, raw, sizeof(raw)))
		return -1;
	decode_hdr(raw, &m->hdr[m->img][slot]);
	if (bs && m->hdr[m->img][slot].magic != IMAGE_MAGIC)
		return -1;
	return 0;
}

/* loader.c boot_read_image_headers() */
static int read_image_headers(struct mb *m, bool require_all, const struct mb_status *bs)
{
	for (int slot = 0; slot < 2; slot++) {
		int rc = read_image_header(m, slot, bs);

		if (rc)
			return slot > 0 && !require_all ? 0 : rc;
	}
	return 0;
}

/* tlv.c bootutil_tlv_iter_begin() (all sums 32-bit, as on the target) */
static int tlv_begin(struct mb_tlv_iter *it, const struct mb_hdr *h, const struct mb_slot *s,
		     uint16_t type, bool prot)
{
	uint32_t off = (uint32_t)h->hdr_size + h->img_size;
	uint8_t info[4];

	if (fa_read(s, off, info, 4))
		return -1;
	if (get16(info) == TLV_PROT_MAGIC) {
		if (h->prot_tlv_size != get16(info + 2))
			return -1;
		if (fa_read(s, off + get16(info + 2), info, 4))
			return -1;
	} else if (h->prot_tlv_size != 0) {
		return -1;
	}
	if (get16(info) != TLV_INFO_MAGIC)
		return -1;
	it->hdr = h;
	it->slot = s;
	it->type = type;
	it->prot = prot;
	it->prot_end = off + h->prot_tlv_size;
	it->tlv_end = off + h->prot_tlv_size + get16(info + 2);
	it->tlv_off = off + 4;
	return 0;
}

/* tlv.c bootutil_tlv_iter_next(): 0 found, 1 no more, -1 error */
static int tlv_next(struct mb_tlv_iter *it, uint32_t *ret_off, uint16_t *ret_len,
		    uint16_t *ret_type)
{
	while (it->tlv_off < it->tlv_end) {
		uint8_t t[4];

		if (it->hdr->prot_tlv_size > 0 && it->tlv_off == it->prot_end)
			it->tlv_off += 4; /* the unprotected TLV info */
		if (fa_read(it->slot, it->tlv_off, t, 4))
			return -1;
		if (it->prot && it->tlv_off >= it->prot_end)
			return 1;
		if (it->type == TLV_ANY || get16(t) == it->type) {
			if (ret_type)
				*ret_type = get16(t);
			*ret_off = it->tlv_off + 4;
			*ret_len = get16(t + 2);
			it->tlv_off += 4 + get16(t + 2);
			return 0;
		}
		it->tlv_off += 4 + get16(t + 2);
	}
	return 1;
}

/* loader.c boot_read_image_size(): header + payload + both TLV areas */
static int read_image_size(struct mb *m, int slot, uint32_t *ret)
{
	const struct mb_hdr *h = &m->hdr[m->img][slot];
	const struct mb_slot *s = &m->slot[m->img][slot];
	uint32_t off = (uint32_t)h->hdr_size + h->img_size;
	uint8_t info[4];

	if (fa_read(s, off, info, 4))
		return -1;
	if (get16(info) == TLV_PROT_MAGIC) {
		if (h->prot_tlv_size != get16(info + 2))
			return -1;
		if (fa_read(s, off + get16(info + 2), info, 4))
			return -1;
	} else if (h->prot_tlv_size != 0) {
		return -1;
	}
	if (get16(info) != TLV_INFO_MAGIC)
		return -1;
	*ret = off + h->prot_tlv_size + get16(info + 2);
	return 0;
}

/* ---- image validation (image_validate.c, image_ecdsa.c) ---- */

static int version_cmp(struct mb *m, uint8_t a_major, uint8_t a_minor, uint16_t a_rev,
		       uint32_t a_build, uint8_t b_major, uint8_t b_minor, uint16_t b_rev,
		       uint32_t b_build)
{
	if (a_major != b_major)
		return a_major > b_major ? 1 : -1;
	if (a_minor != b_minor)
		return a_minor > b_minor ? 1 : -1;
	if (a_rev != b_rev)
		return a_rev > b_rev ? 1 : -1;
	if (m->b->version_cmp_build && a_build != b_build)
		return a_build > b_build ? 1 : -1;
	return 0;
}

/* bootutil_img_hash(): header, payload and protected TLVs, read back 256 bytes at a time */
static int image_hash(struct mb *m, const struct mb_hdr *h, const struct mb_slot *s,
		      uint8_t out[32])
{
	uint32_t size = (uint32_t)h->hdr_size + h->img_size;
	struct dfumgr_sha256 *sha = m->b->sha[0];
	uint8_t buf[MB_TMPBUF];

	size += h->prot_tlv_size;
	dfumgr_sha256_reset(sha);
	for (uint32_t off = 0; off < size;) {
		uint32_t n = size - off < MB_TMPBUF ? size - off : MB_TMPBUF;

		if (fa_read(s, off, buf, n))
			return -1;
		dfumgr_sha256_update(sha, buf, n);
		off += n;
	}
	dfumgr_sha256_final(sha, out);
	return 0;
}

/*
 * bootutil_max_image_size(): with swap-move, up to the sector holding the trailer's start; with
 * overwrite-only and direct-XIP, up to the trailer's swap_info field
 */
static uint32_t max_image_size(const struct mb *m, const struct mb_slot *s)
{
	if (m->strategy != EMU_MCUBOOT_SWAP_MOVE)
		return swap_info_off(s);
	return status_off(s) / MB_SECTOR * MB_SECTOR;
}

/*
 * bootutil_img_validate(): the SHA256 TLV must match; with a key, the last ECDSA signature whose
 * KEYHASH names that key must verify too.
 */
static bool image_valid(struct mb *m, const struct mb_hdr *h, const struct mb_slot *s)
{
	const struct dfumgr_key *key = m->b->mcuboot_key;
	uint8_t hash[32], buf[SIG_BUF_ECDSA];
	bool sha_ok = false, sig_ok = false;
	struct mb_tlv_iter it;
	int key_id = -1, rc;
	uint32_t off;
	uint16_t len, type;

	if (image_hash(m, h, s, hash))
		return false;
	if (tlv_begin(&it, h, s, TLV_ANY, false))
		return false;
	if (it.tlv_end > max_image_size(m, s))
		return false;
	while ((rc = tlv_next(&it, &off, &len, &type)) == 0) {
		if (type == TLV_SHA256) {
			if (len != 32 || fa_read(s, off, buf, 32) || memcmp(hash, buf, 32))
				return false;
			sha_ok = true;
		} else if (key && type == TLV_KEYHASH) {
			if (len > 32 || fa_read(s, off, buf, len))
				return false;
			/* bootutil_find_key(): a prefix of the key's SHA-256 names it */
			key_id = m->have_keyhash && memcmp(m->keyhash, buf, len) == 0 ? 0 : -1;
		} else if (key && type == TLV_ECDSA_SIG) {
			if (key_id != 0) {
				key_id = -1;
				continue;
			}
			if (len > SIG_BUF_ECDSA || fa_read(s, off, buf, len))
				return false;
			sig_ok = dfumgr_key_verify(NULL, key, hash, buf, len) == 0;
			key_id = -1;
		}
	}
	if (rc < 0 || !sha_ok)
		return false;
	return key ? sig_ok : true;
}

/* loader.c boot_is_header_valid() */
static bool header_valid(const struct mb_hdr *h, const struct mb_slot *s)
{
	uint32_t size = (uint32_t)h->hdr_size + h->img_size;

	return h->magic == IMAGE_MAGIC && size >= h->img_size && size < s->size;
}

/*
 * loader.c boot_validate_slot(): an erased or non-bootable header means no image (and a
 * secondary's leftover trailer is erased); an invalid image in the secondary is erased whole.
 */
static enum check validate_slot(struct mb *m, int slot)
{
	const struct mb_hdr *h = &m->hdr[m->img][slot];
	const struct mb_slot *s = &m->slot[m->img][slot];
	bool valid;

	if (h->magic == 0xffffffffu || (h->flags & F_NON_BOOTABLE)) {
		/* a leftover trailer: erased by the swap strategies only */
		if (slot != SLOT_PRI && m->strategy == EMU_MCUBOOT_SWAP_MOVE)
			erase_trailer_sectors(m, s);
		return CHECK_NO_IMAGE;
	}
	valid = image_valid(m, h, s);
	if (!header_valid(h, s) || !valid) {
		/* ARE_SLOTS_EQUIVALENT(): direct-XIP erases an invalid primary too */
		if (slot != SLOT_PRI || m->strategy == EMU_MCUBOOT_DIRECT_XIP) {
			fa_erase(m, s, 0, s->size);
			say(m, "image %u: %s slot invalid, erased", m->img,
			    slot == SLOT_PRI ? "primary" : "secondary");
		}
		return CHECK_NO_IMAGE;
	}
	return CHECK_OK;
}

/* ---- what to do (bootutil_public.c boot_swap_type_multi(), loader.c) ---- */

static bool is_upgrade(uint8_t t)
{
	return t == SWAP_TEST || t == SWAP_REVERT || t == SWAP_PERM;
}

/* The table: the secondary's trailer wins; a primary copied but never confirmed reverts. */
static uint8_t swap_type_from_trailers(struct mb *m)
{
	struct mb_swap_state p = read_swap_state(pri(m)), s = read_swap_state(sec(m));

	if (s.magic == MAGIC_GOOD && s.image_ok == FLAG_UNSET)
		return SWAP_TEST;
	if (s.magic == MAGIC_GOOD && s.image_ok == FLAG_SET)
		return SWAP_PERM;
	if (p.magic == MAGIC_GOOD && s.magic == MAGIC_UNSET && p.image_ok == FLAG_UNSET &&
	    p.copy_done == FLAG_SET)
		return SWAP_REVERT;
	return SWAP_NONE;
}

/* loader.c boot_validated_swap_type() */
static uint8_t validated_swap_type(struct mb *m)
{
	uint8_t t = swap_type_from_trailers(m);

	if (is_upgrade(t)) {
		enum check c = validate_slot(m, SLOT_SEC);

		if (c != CHECK_OK)
			t = c == CHECK_NO_IMAGE ? SWAP_NONE : SWAP_FAIL;
	}
	return t;
}

/*
 * loader.c boot_verify_slot_dependencies(): the image that will be in the primary after this
 * boot (the secondary's if it swaps) must find every image it depends on at its minimum
 * version, looking at the slot where that image will be. 0, or non-zero when one is not met
 * or the TLVs cannot be read.
 */
static int verify_slot_dependencies(struct mb *m, int slot)
{
	struct mb_tlv_iter it;
	uint32_t off;
	uint16_t len;
	int rc;

	if (tlv_begin(&it, &m->hdr[m->img][slot], &m->slot[m->img][slot], TLV_DEPENDENCY, true))
		return -1;
	while ((rc = tlv_next(&it, &off, &len, NULL)) == 0) {
		uint8_t d[12];
		const struct mb_hdr *v;
		unsigned id;

		if (len != sizeof(d))
			return -1;
		if (fa_read(&m->slot[m->img][slot], off, d, sizeof(d)))
			return -1;
		id = d[0];
		if (id >= DFUMGR_N_IMAGES)
			return -1;
		if (m->strategy == EMU_MCUBOOT_DIRECT_XIP) /* the other image's active slot */
			v = &m->hdr[id][m->active[id] == SLOT_SEC ? SLOT_SEC : SLOT_PRI];
		else
			v = &m->hdr[id][is_upgrade(m->swap_type[id]) ? SLOT_SEC : SLOT_PRI];
		if (version_cmp(m, v->major, v->minor, v->revision, v->build, d[4], d[5],
				get16(d + 6), get32(d + 8)) < 0) {
			say(m, "image %u needs image %u >= %u.%u.%u+%u", m->img, id, d[4], d[5],
			    get16(d + 6), get32(d + 8));
			return -1;
		}
	}
	return rc < 0 ? -1 : 0;
}

/* loader.c boot_verify_dependencies(): one unmet dependency disables every swap */
static void verify_dependencies(struct mb *m)
{
	for (m->img = 0; m->img < DFUMGR_N_IMAGES; m->img++) {
		uint8_t t = m->swap_type[m->img];
		int slot = t != SWAP_NONE && t != SWAP_FAIL ? SLOT_SEC : SLOT_PRI;

		if (verify_slot_dependencies(m, slot)) {
			for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++)
				m->swap_type[i] = SWAP_NONE;
			say(m, "a dependency is not met: no image swaps");
			return;
		}
	}
}

/* loader.c boot_review_image_swap_types() */
static void review_swap_types(struct mb *m, bool aborted)
{
	if (m->img == 0)
		return;
	if (!aborted && (m->swap_type[m->img] == SWAP_NONE || m->swap_type[m->img] == SWAP_REVERT))
		return;
	for (unsigned i = 0; i < m->img; i++)
		if (m->swap_type[i] == SWAP_REVERT)
			m->swap_type[i] = SWAP_NONE;
}

/* ---- the swap (swap_move.c, swap_misc.c) ---- */

/* boot_copy_region(): read, then program, a KiB at a time */
static void copy_region(struct mb *m, const struct mb_slot *from, const struct mb_slot *to,
			uint32_t off_from, uint32_t off_to, uint32_t size)
{
	uint8_t buf[MB_COPY_CHUNK];

	for (uint32_t done = 0; done < size;) {
		uint32_t n = size - done < MB_COPY_CHUNK ? size - done : MB_COPY_CHUNK;

		if (fa_read(from, off_from + done, buf, n))
			return;
		if (fa_write(m, to, off_to + done, buf, n))
			return;
		done += n;
	}
}

/* swap_misc.c swap_status_init(): the primary's trailer says what this swap is */
static void status_init(struct mb *m, const struct mb_status *bs)
{
	struct mb_swap_state s = read_swap_state(sec(m));

	if (bs->swap_type != SWAP_NONE)
		write_swap_info(m, pri(m), bs->swap_type, m->img);
	if (s.image_ok == FLAG_SET)
		write_flag(m, pri(m), image_ok_off(pri(m)));
	write_swap_size(m, pri(m), bs->swap_size);
	write_magic(m, pri(m));
}

/* boot_move_sector_up(): sector idx-1 of the primary moves to idx; the first one sets up */
static void move_sector_up(struct mb *m, uint32_t idx, struct mb_status *bs)
{
	if (bs->idx == IDX_0) {
		if (bs->source != SOURCE_PRIMARY) {
			erase_trailer_sectors(m, pri(m));
			status_init(m, bs);
		}
		erase_trailer_sectors(m, sec(m));
	}
	fa_erase(m, pri(m), idx * MB_SECTOR, MB_SECTOR);
	copy_region(m, pri(m), pri(m), (idx - 1) * MB_SECTOR, idx * MB_SECTOR, MB_SECTOR);
	write_status(m, bs);
	bs->idx++;
}

/* boot_swap_sectors(): secondary sector to the primary, then the moved-up primary sector back */
static void swap_sectors(struct mb *m, uint32_t idx, struct mb_status *bs)
{
	uint32_t pri_off = (idx - 1) * MB_SECTOR, pri_up_off = idx * MB_SECTOR;
	uint32_t sec_off = (idx - 1) * MB_SECTOR;

	if (bs->state == STATE_0) {
		fa_erase(m, pri(m), pri_off, MB_SECTOR);
		copy_region(m, sec(m), pri(m), sec_off, pri_off, MB_SECTOR);
		write_status(m, bs);
		bs->state = STATE_1;
	}
	if (bs->state == STATE_1) {
		fa_erase(m, sec(m), sec_off, MB_SECTOR);
		copy_region(m, pri(m), sec(m), pri_up_off, sec_off, MB_SECTOR);
		write_status(m, bs);
		bs->idx++;
		bs->state = STATE_0;
	}
}

/*
 * swap_move.c fixup_revert(): a revert about to start looks like a permanent upgrade, so that a
 * cut before its first status entry still leaves something to resume.
 */
static void fixup_revert(struct mb *m, const struct mb_status *bs)
{
	if (bs->swap_type != SWAP_REVERT || bs->op != OP_MOVE || bs->idx != IDX_0)
		return;
	if (read_swap_state(sec(m)).magic != MAGIC_UNSET)
		return;
	erase_trailer_sectors(m, sec(m));
	write_flag(m, sec(m), image_ok_off(sec(m)));
	write_swap_size(m, sec(m), bs->swap_size);
	write_magic(m, sec(m));
}

/* swap_move.c swap_run() */
static void swap_run(struct mb *m, struct mb_status *bs, uint32_t copy_size)
{
	uint32_t last = last_index(m, copy_size);

	if (status_is_reset(bs)) {
		/* the sectors the trailer needs, and one more for the move */
		uint32_t sz = 0, first_trailer = pri(m)->n_sectors - 1;

		for (;;) {
			sz += MB_SECTOR;
			if (sz >= trailer_size())
				break;
			first_trailer--;
		}
		if (last >= first_trailer) {
			say(m, "image %u: not enough free space to run the swap", m->img);
			bs->swap_type = SWAP_NONE;
			return;
		}
	}
	fixup_revert(m, bs);
	if (bs->op == OP_MOVE) {
		for (uint32_t idx = last; idx > 0; idx--)
			if (idx <= last - bs->idx + 1)
				move_sector_up(m, idx, bs);
		bs->idx = IDX_0;
	}
	bs->op = OP_SWAP;
	for (uint32_t idx = 1; idx <= last; idx++)
		if (idx >= bs->idx)
			swap_sectors(m, idx, bs);
}

/* loader.c boot_swap_image(): a new swap covers the larger image; a resumed one its record */
static void swap_image(struct mb *m, struct mb_status *bs)
{
	uint32_t copy_size = 0, size = 0;

	if (status_is_reset(bs)) {
		if (m->hdr[m->img][SLOT_PRI].magic == IMAGE_MAGIC)
			read_image_size(m, SLOT_PRI, &copy_size);
		if (m->hdr[m->img][SLOT_SEC].magic == IMAGE_MAGIC)
			read_image_size(m, SLOT_SEC, &size);
		if (size > copy_size)
			copy_size = size;
		bs->swap_size = copy_size;
	} else {
		bs->swap_size = read_swap_size(m);
		copy_size = bs->swap_size;
	}
	swap_run(m, bs, copy_size);
}

/* loader.c boot_perform_update() */
static void perform_update(struct mb *m, struct mb_status *bs)
{
	uint8_t t = m->swap_type[m->img];

	swap_image(m, bs);
	if (t == SWAP_REVERT || t == SWAP_PERM)
		set_image_ok(m);
	if (is_upgrade(t))
		write_flag(m, pri(m), copy_done_off(pri(m)));
	if (t == SWAP_REVERT)
		say(m, "reverted image %u", m->img);
	else
		say(m, "swapped image %u (%s)", m->img, t == SWAP_PERM ? "perm" : "test");
}

/* loader.c boot_complete_partial_swap() */
static void complete_partial_swap(struct mb *m, struct mb_status *bs)
{
	swap_image(m, bs);
	m->swap_type[m->img] = bs->swap_type;
	if (bs->swap_type == SWAP_REVERT || bs->swap_type == SWAP_PERM)
		set_image_ok(m);
	if (is_upgrade(bs->swap_type))
		write_flag(m, pri(m), copy_done_off(pri(m)));
	m->res->resumed[m->img] = true;
	say(m, "image %u: resumed an interrupted %s", m->img,
	    bs->swap_type == SWAP_REVERT ? "revert" : "swap");
}

/* loader.c boot_prepare_image_for_update() */
static void prepare_image(struct mb *m, struct mb_status *bs)
{
	read_image_headers(m, false, NULL);
	/* boot_slots_compatible(): same sector count and size (so is this partition map) */
	status_reset(bs);
	read_status(m, bs);
	if (read_image_headers(m, !status_is_reset(bs), bs)) {
		m->swap_type[m->img] = SWAP_NONE;
		return;
	}
	if (!status_is_reset(bs)) {
		review_swap_types(m, true);
		complete_partial_swap(m, bs);
		read_image_headers(m, false, bs);
		m->swap_type[m->img] = SWAP_NONE;
		return;
	}
	if (bs->swap_type == SWAP_NONE)
		m->swap_type[m->img] = validated_swap_type(m);
	else
		m->swap_type[m->img] =
		    validate_slot(m, SLOT_SEC) == CHECK_OK ? bs->swap_type : SWAP_FAIL;
	review_swap_types(m, false);
}

/* ---- overwrite-only (loader.c, MCUBOOT_OVERWRITE_ONLY and _FAST) ---- */

/*
 * loader.c boot_prepare_image_for_update() without swap status: nothing to resume, an upgrade
 * interrupted by a power cut is simply started again (its secondary is still intact)
 */
static void prepare_image_overwrite(struct mb *m)
{
	read_image_headers(m, false, NULL);
	m->swap_type[m->img] = validated_swap_type(m);
	review_swap_types(m, false);
}

/*
 * loader.c boot_copy_image() with MCUBOOT_OVERWRITE_ONLY_FAST: erase the primary's sectors up to
 * the new image's size and its trailer sectors, copy the image (rounded up to the write size,
 * one more write size when already aligned, as bootutil does), write the primary's magic, then
 * erase the secondary's first sector (its header) and its last (the trailer's magic) so that
 * the upgrade is not run again. The secondary stays whole until the copy is done.
 */
static void copy_image(struct mb *m)
{
	uint32_t src_size = 0, size = 0, sz = 0, off = 0, sector;

	read_image_size(m, SLOT_SEC, &src_size);
	for (sector = 0; sector < pri(m)->n_sectors; sector++) {
		fa_erase(m, pri(m), sector * MB_SECTOR, MB_SECTOR);
		if (size + MB_SECTOR >= src_size) {
			size = src_size + MB_WRITE_SZ - src_size % MB_WRITE_SZ;
			break;
		}
		size += MB_SECTOR;
	}
	sector = pri(m)->n_sectors - 1;
	do {
		sz += MB_SECTOR;
		off = sector * MB_SECTOR;
		sector--;
	} while (sz < trailer_size());
	fa_erase(m, pri(m), off, sz);
	copy_region(m, sec(m), pri(m), 0, 0, size);
	write_magic(m, pri(m));
	fa_erase(m, sec(m), 0, MB_SECTOR);
	fa_erase(m, sec(m), (sec(m)->n_sectors - 1) * MB_SECTOR, MB_SECTOR);
	say(m, "copied image %u (overwrite-only)", m->img);
}

/* ---- direct-XIP (loader.c, MCUBOOT_DIRECT_XIP without _REVERT) ---- */

/* loader.c boot_rom_address_check(): an image built for a fixed address runs only there */
static bool rom_address_ok(struct mb *m, int slot)
{
	const struct mb_hdr *h = &m->hdr[m->img][slot];

	return !(h->flags & F_ROM_FIXED) || h->load_addr == m->slot[m->img][slot].base;
}

/* loader.c find_slot_with_highest_version(): a tie keeps the primary */
static int highest_slot(struct mb *m, const bool avail[2])
{
	int cand = -1;

	for (int slot = 0; slot < 2; slot++) {
		const struct mb_hdr *h = &m->hdr[m->img][slot], *c;

		if (!avail[slot])
			continue;
		if (cand < 0) {
			cand = slot;
			continue;
		}
		c = &m->hdr[m->img][cand];
		if (version_cmp(m, h->major, h->minor, h->revision, h->build, c->major, c->minor,
				c->revision, c->build) > 0)
			cand = slot;
	}
	return cand;
}

/*
 * The emulator's fixed slot roles (mcuboot.h): an image MCUboot starts from its secondary slot
 * trades places with the primary's, outside the flash model.
 */
static void relabel_slots(struct mb *m)
{
	uint8_t a[MB_SECTOR], b[MB_SECTOR];

	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		struct mb_slot *p = &m->slot[i][SLOT_PRI], *s = &m->slot[i][SLOT_SEC];

		m->res->active_slot[i] = (uint8_t)m->active[i];
		if (m->active[i] != SLOT_SEC)
			continue;
		for (uint32_t off = 0; off < p->size; off += MB_SECTOR) {
			emu_flash_read(p->f, p->base + off, a, MB_SECTOR);
			emu_flash_read(s->f, s->base + off, b, MB_SECTOR);
			emu_flash_write_raw(p->f, p->base + off, b, MB_SECTOR);
			emu_flash_write_raw(s->f, s->base + off, a, MB_SECTOR);
		}
		say(m, "image %u runs from its secondary slot", i);
	}
}

/*
 * loader.c context_boot_go() for direct-XIP: each image's slot with the highest version whose
 * header is valid is validated (an invalid one is erased, in either slot); then every active
 * image's dependencies must be met by the other image's active slot, else the first one that
 * fails loses that slot and the choice is made again. Nothing else is written.
 */
static enum emu_mcuboot_outcome boot_go_direct_xip(struct mb *m)
{
	bool avail[DFUMGR_N_IMAGES][2], again = true;

	/* boot_get_slot_usage() */
	for (m->img = 0; m->img < DFUMGR_N_IMAGES; m->img++) {
		read_image_headers(m, false, NULL);
		for (int slot = 0; slot < 2; slot++)
			avail[m->img][slot] =
			    header_valid(&m->hdr[m->img][slot], &m->slot[m->img][slot]);
		m->active[m->img] = -1;
	}
	while (again) {
		/* boot_load_and_validate_images() */
		for (m->img = 0; m->img < DFUMGR_N_IMAGES; m->img++) {
			while (m->active[m->img] < 0) {
				int slot = highest_slot(m, avail[m->img]);

				if (slot < 0) {
					say(m, "image %u: no slot to load: no bootable image",
					    m->img);
					return EMU_MCUBOOT_NO_IMAGE;
				}
				m->active[m->img] = slot;
				if (!rom_address_ok(m, slot) ||
				    validate_slot(m, slot) != CHECK_OK) {
					avail[m->img][slot] = false;
					m->active[m->img] = -1;
				}
			}
		}
		/* boot_verify_dependencies(): the first image with one unmet gives up its slot */
		again = false;
		for (m->img = 0; m->img < DFUMGR_N_IMAGES && !again; m->img++) {
			if (verify_slot_dependencies(m, m->active[m->img])) {
				avail[m->img][m->active[m->img]] = false;
				m->active[m->img] = -1;
				again = true;
			}
		}
	}
	relabel_slots(m);
	return EMU_MCUBOOT_BOOT;
}

/*
 * loader.c context_boot_go(), for the swap-using-move (and, where marked, the overwrite-only)
 * multi-image configuration
 */
static enum emu_mcuboot_outcome boot_go(struct mb *m)
{
	struct mb_status bs;
	bool has_upgrade = false, overwrite = m->strategy == EMU_MCUBOOT_OVERWRITE_ONLY;

	for (m->img = 0; m->img < DFUMGR_N_IMAGES; m->img++) {
		if (overwrite)
			prepare_image_overwrite(m);
		else
			prepare_image(m, &bs);
		has_upgrade |= is_upgrade(m->swap_type[m->img]);
	}
	if (has_upgrade)
		verify_dependencies(m);
	memcpy(m->res->swap_type, m->swap_type, sizeof(m->swap_type));
	for (m->img = 0; m->img < DFUMGR_N_IMAGES; m->img++) {
		status_reset(&bs);
		bs.swap_type = m->swap_type[m->img];
		switch (m->swap_type[m->img]) {
		case SWAP_NONE:
			break;
		case SWAP_TEST:
		case SWAP_PERM:
		case SWAP_REVERT:
			if (overwrite)
				copy_image(m); /* no trailer flags: no test, no revert */
			else
				perform_update(m, &bs);
			break;
		case SWAP_FAIL:
			if (!overwrite)
				set_image_ok(m);
			break;
		default:
			hang(m, "swap type panic");
		}
	}
	for (m->img = 0; m->img < DFUMGR_N_IMAGES; m->img++) {
		/*
		 * MCUboot 1.10 re-reads the headers of a swapped image with the swap status of
		 * the LAST image it handled (mcu-tools/mcuboot#1768, fixed in 2.1): when both
		 * images swapped and image 1's swap covered fewer sectors than image 0's, image
		 * 0's primary header is read from its secondary slot, and the check below fails.
		 */
		if (m->swap_type[m->img] != SWAP_NONE && read_image_headers(m, false, &bs)) {
			say(m, "image %u: headers unreadable", m->img);
			return EMU_MCUBOOT_NO_IMAGE;
		}
		if (validate_slot(m, SLOT_PRI) != CHECK_OK) {
			say(m, "image %u: primary slot not valid: no bootable image", m->img);
			return EMU_MCUBOOT_NO_IMAGE;
		}
	}
	return EMU_MCUBOOT_BOOT;
}

const char *emu_mcuboot_outcome_name(enum emu_mcuboot_outcome o)
{
	static const char *const n[] = {"boot", "no-image", "hang", "power-lost"};

	return (unsigned)o < sizeof(n) / sizeof(n[0]) ? n[o] : "?";
}

const char *emu_mcuboot_strategy_name(enum emu_mcuboot_strategy s)
{
	static const char *const n[] = {"swap-move", "overwrite-only", "direct-xip"};

	return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

int emu_mcuboot_strategy_parse(const char *s, enum emu_mcuboot_strategy *ret)
{
	for (unsigned k = 0; k < EMU_MCUBOOT_STRATEGIES; k++) {
		if (!strcmp(s, emu_mcuboot_strategy_name((enum emu_mcuboot_strategy)k))) {
			*ret = (enum emu_mcuboot_strategy)k;
			return 0;
		}
	}
	return -1;
}

const char *emu_mcuboot_area_name(unsigned area)
{
	static const char *const n[] = {"img0-primary", "img0-secondary", "img1-primary",
					"img1-secondary"};

	return area < sizeof(n) / sizeof(n[0]) ? n[area] : "?";
}

const char *emu_mcuboot_swap_name(uint8_t t)
{
	switch (t) {
	case SWAP_NONE:
		return "none";
	case SWAP_TEST:
		return "test";
	case SWAP_PERM:
		return "perm";
	case SWAP_REVERT:
		return "revert";
	case SWAP_FAIL:
		return "fail";
	case SWAP_PANIC:
		return "panic";
	default:
		return "?";
	}
}

static uint64_t power_writes(const struct emu_board *b)
{
	return b->internal.power ? b->internal.power->writes : 0;
}

void emu_mcuboot_boot(struct emu_board *b, struct emu_mcuboot_result *ret)
{
	static const enum dfu_area areas[DFUMGR_N_IMAGES][2] = {
	    {DFU_AREA_IMG0_PRIMARY, DFU_AREA_IMG0_SECONDARY},
	    {DFU_AREA_IMG1_PRIMARY, DFU_AREA_IMG1_SECONDARY},
	};
	struct mb m;
	uint64_t busy0 = b->internal.busy_us + b->qspi.busy_us;
	int why;

	memset(&m, 0, sizeof(m));
	memset(ret, 0, sizeof(*ret));
	m.b = b;
	m.res = ret;
	m.strategy = b->mcuboot_strategy < EMU_MCUBOOT_STRATEGIES ? b->mcuboot_strategy
								  : EMU_MCUBOOT_SWAP_MOVE;
	ret->strategy = m.strategy;
	m.sector_erases = calloc(EMU_MCUBOOT_AREAS * MB_AREA_SECTORS, sizeof(uint16_t));
	m.writes0 = power_writes(b);
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++) {
		for (int s = 0; s < 2; s++) {
			struct mb_slot *sl = &m.slot[i][s];

			sl->f = emu_board_area(b, areas[i][s], &sl->base);
			sl->size = i == 0 ? DFUMGR_IMG0_SLOT_SIZE : DFUMGR_IMG1_SLOT_SIZE;
			sl->n_sectors = sl->size / MB_SECTOR;
			sl->wear = &ret->wear[i * 2 + (unsigned)s];
			sl->sector_erases =
			    m.sector_erases
				? m.sector_erases + (i * 2 + (unsigned)s) * MB_AREA_SECTORS
				: NULL;
			sl->erase_us = &ret->erase_us;
			sl->program_us = &ret->program_us;
		}
		m.swap_type[i] = SWAP_NONE;
		m.active[i] = -1;
	}
	if (b->mcuboot_key)
		m.have_keyhash = dfumgr_key_hash(NULL, b->mcuboot_key, m.keyhash) == 0;
	why = setjmp(m.stop);
	if (why == 0 && m.strategy == EMU_MCUBOOT_DIRECT_XIP)
		ret->outcome = boot_go_direct_xip(&m);
	else if (why == 0)
		ret->outcome = boot_go(&m);
	else
		ret->outcome = (enum emu_mcuboot_outcome)why;
	if (ret->outcome == EMU_MCUBOOT_POWER_LOST)
		say(&m, "power lost");
	ret->writes_before = m.writes0;
	ret->writes = power_writes(b) - m.writes0;
	ret->busy_us = b->internal.busy_us + b->qspi.busy_us - busy0;
	free(m.sector_erases);
	for (unsigned i = 0; i < DFUMGR_N_IMAGES; i++)
		for (int s = 0; s < 2; s++)
			if (m.slot[i][s].f == &b->qspi)
				ret->read_us += ret->wear[i * 2 + (unsigned)s].bytes_read /
						EMU_MCUBOOT_QSPI_READ_BYTES_PER_US;
}
