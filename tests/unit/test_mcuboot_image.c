/* SPDX-License-Identifier: MIT */
/*
 * The shim core's MCUboot image reader (firmware/core/mcuboot_image.c) on imgtool-made images
 * (tests/data, see VECTORS.md): sizes, version, DEPENDENCY and SEC_CNT TLVs, the extent and the
 * SHA256 TLV; MCUboot's version comparison and dependency rule; malformed images.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "mcuboot_image.h"
#include "dfumgr/wire.h"

struct buf {
	const uint8_t *p;
	size_t size;
	int reads;
};

static int buf_read(void *ctx, uint32_t off, void *out, uint32_t len)
{
	struct buf *b = ctx;

	b->reads++;
	if ((uint64_t)off + len > b->size)
		return -1;
	memcpy(out, b->p + off, len);
	return 0;
}

static void read_image(const char *name, struct mcuboot_image_info *info, size_t *ret_size)
{
	size_t size;
	uint8_t *img = test_read(name, &size);
	struct buf b = {img, size, 0};

	assert_int_equal(mcuboot_image_read(buf_read, &b, DFUMGR_IMG0_SLOT_SIZE, info),
			 MCUBOOT_IMAGE_OK);
	/* only header and TLVs are read, never the payload */
	assert_true(b.reads <= 16);
	if (ret_size)
		*ret_size = size;
	free(img);
}

static void test_image_info(void **state)
{
	struct mcuboot_image_info i;
	const struct mcuboot_version v230 = {2, 3, 0, 4};
	const struct mcuboot_version *set[2] = {NULL, NULL};
	size_t size;

	(void)state;
	read_image("int-signed.bin", &i, &size);
	assert_int_equal(i.hdr_size, 0x200);
	assert_int_equal(i.img_size, 0x3200d);
	assert_int_equal(i.version.major, 2);
	assert_int_equal(i.version.minor, 3);
	assert_int_equal(i.version.revision, 0);
	assert_int_equal(i.version.build, 4);
	assert_int_equal(i.n_deps, 0);
	assert_false(i.has_sec_cnt);
	/* the extent is the whole file imgtool wrote; the hash covers header + payload */
	assert_int_equal(i.extent, size);
	assert_int_equal(i.hashed, 0x200 + 0x3200d);
	assert_int_equal(i.sha256_off, i.hashed + 4 + 4);
	assert_true(mcuboot_deps_met(&i, set, true));

	/* imgtool --dependencies "(1,2.3.0+4)" */
	read_image("int-dep.bin", &i, &size);
	assert_int_equal(i.prot_tlv_size, 0x14);
	assert_int_equal(i.extent, size);
	assert_int_equal(i.n_deps, 1);
	assert_int_equal(i.deps[0].image_id, 1);
	assert_int_equal(mcuboot_version_cmp(&i.deps[0].min_version, &v230, true), 0);
	/* a dependency on an image the set lacks is unmet */
	assert_false(mcuboot_deps_met(&i, set, true));
	set[1] = &v230;
	assert_true(mcuboot_deps_met(&i, set, true));
	set[1] = &(struct mcuboot_version){2, 3, 1, 0};
	assert_true(mcuboot_deps_met(&i, set, true));
	set[1] = &(struct mcuboot_version){3, 0, 0, 0};
	assert_true(mcuboot_deps_met(&i, set, false));
	set[1] = &(struct mcuboot_version){2, 2, 99, 99};
	assert_false(mcuboot_deps_met(&i, set, false));
	/* MCUboot ignores the build number unless told otherwise */
	set[1] = &(struct mcuboot_version){2, 3, 0, 3};
	assert_true(mcuboot_deps_met(&i, set, false));
	assert_false(mcuboot_deps_met(&i, set, true));
	/* image 0's version plays no part in a dependency on image 1 */
	set[0] = &(struct mcuboot_version){0, 0, 0, 0};
	set[1] = &v230;
	assert_true(mcuboot_deps_met(&i, set, true));

	/* SEC_CNT first, then DEPENDENCY */
	read_image("int-seccnt-dep.bin", &i, NULL);
	assert_int_equal(i.n_deps, 1);
	assert_int_equal(i.deps[0].image_id, 1);
	assert_int_equal(mcuboot_version_cmp(&i.deps[0].min_version, &v230, true), 0);
	assert_true(i.has_sec_cnt);
	read_image("int-seccnt.bin", &i, NULL);
	assert_true(i.has_sec_cnt);
	assert_int_equal(i.n_deps, 0);
}

static void test_version_cmp(void **state)
{
	const struct mcuboot_version a = {1, 2, 3, 4}, b = {1, 2, 3, 5}, c = {1, 3, 0, 0};

	(void)state;
	assert_int_equal(mcuboot_version_cmp(&a, &b, false), 0);
	assert_int_equal(mcuboot_version_cmp(&a, &b, true), -1);
	assert_int_equal(mcuboot_version_cmp(&b, &a, true), 1);
	assert_int_equal(mcuboot_version_cmp(&c, &b, true), 1);
	assert_int_equal(mcuboot_version_cmp(&a, &c, false), -1);
	assert_int_equal(mcuboot_version_cmp(&(struct mcuboot_version){2, 0, 0, 0}, &c, false), 1);
	assert_int_equal(mcuboot_version_cmp(&(struct mcuboot_version){1, 2, 300, 0}, &a, false),
			 1);
}

static void test_hashed_end(void **state)
{
	size_t size;
	uint8_t *img = test_read("int-dep.bin", &size);
	uint8_t hdr[MCUBOOT_IMAGE_HDR_SIZE];

	(void)state;
	assert_int_equal(mcuboot_image_hashed_end(img), 0x200 + 0x3200d + 0x14);
	memset(hdr, 0xff, sizeof(hdr));
	assert_int_equal(mcuboot_image_hashed_end(hdr), 0);
	free(img);
}

static void test_image_malformed(void **state)
{
	size_t size;
	uint8_t *img = test_read("int-dep.bin", &size);
	uint8_t erased[64];
	struct buf b = {img, size, 0};
	struct mcuboot_image_info i;
	const uint32_t prot = 0x3220d, unprot = 0x3220d + 0x14;

	(void)state;
	memset(erased, 0xff, sizeof(erased));
	assert_int_equal(mcuboot_image_read(buf_read, &(struct buf){erased, sizeof(erased), 0},
					    sizeof(erased), &i),
			 MCUBOOT_IMAGE_EMPTY);
	/* slot smaller than the image's protected TLVs */
	assert_int_equal(mcuboot_image_read(buf_read, &b, prot + 0x10, &i), MCUBOOT_IMAGE_BAD);
	/* slot that ends inside the unprotected TLVs */
	assert_int_equal(mcuboot_image_read(buf_read, &b, unprot + 0x10, &i), MCUBOOT_IMAGE_BAD);
	/* read failure */
	assert_int_equal(mcuboot_image_read(buf_read, &(struct buf){img, 16, 0}, 0x1000, &i),
			 MCUBOOT_IMAGE_READ);
	/* protected TLV info that disagrees with the header */
	img[prot + 2] ^= 0x01;
	assert_int_equal(mcuboot_image_read(buf_read, &b, DFUMGR_IMG0_SLOT_SIZE, &i),
			 MCUBOOT_IMAGE_BAD);
	img[prot + 2] ^= 0x01;
	/* a DEPENDENCY TLV of the wrong length */
	img[prot + 4 + 2] = 8;
	assert_int_equal(mcuboot_image_read(buf_read, &b, DFUMGR_IMG0_SLOT_SIZE, &i),
			 MCUBOOT_IMAGE_BAD);
	/* a TLV running past the protected area */
	img[prot + 4 + 2] = 13;
	assert_int_equal(mcuboot_image_read(buf_read, &b, DFUMGR_IMG0_SLOT_SIZE, &i),
			 MCUBOOT_IMAGE_BAD);
	img[prot + 4 + 2] = 12;
	/* no unprotected TLV area: not a whole image */
	img[unprot] ^= 0xff;
	assert_int_equal(mcuboot_image_read(buf_read, &b, DFUMGR_IMG0_SLOT_SIZE, &i),
			 MCUBOOT_IMAGE_BAD);
	img[unprot] ^= 0xff;
	/* no SHA256 TLV among the unprotected ones */
	img[unprot + 4] = 0x11;
	assert_int_equal(mcuboot_image_read(buf_read, &b, DFUMGR_IMG0_SLOT_SIZE, &i),
			 MCUBOOT_IMAGE_BAD);
	img[unprot + 4] = 0x10;
	assert_int_equal(mcuboot_image_read(buf_read, &b, DFUMGR_IMG0_SLOT_SIZE, &i),
			 MCUBOOT_IMAGE_OK);
	/* header size below the header */
	img[8] = 0x10;
	img[9] = 0;
	assert_int_equal(mcuboot_image_read(buf_read, &b, DFUMGR_IMG0_SLOT_SIZE, &i),
			 MCUBOOT_IMAGE_BAD);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_image_info),
	    cmocka_unit_test(test_version_cmp),
	    cmocka_unit_test(test_hashed_end),
	    cmocka_unit_test(test_image_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
