/* SPDX-License-Identifier: MIT */
/*
 * MCUboot image parsing, hashing, signature checks, slot fit and building, against the images
 * that the real imgtool made (tests/data, expected values in vectors.json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "dfumgr/image.h"
#include "internal.h"

#define PAYLOAD_END 0x3220d /* hdr 0x200 + payload-int.bin (204813 bytes) */

static const cJSON *jget(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!v)
		fail_msg("vectors.json: missing key %s", k);
	return v;
}

static struct dfumgr_key *load_key(const char *name)
{
	struct dfumgr_key *k = NULL;

	assert_int_equal(dfumgr_key_load(NULL, test_data_path(name), &k), 0);
	return k;
}

static void check_tlvs(const struct dfumgr_image *img, const cJSON *list, bool prot, size_t *idx)
{
	const cJSON *t;

	cJSON_ArrayForEach(t, list)
	{
		const struct dfumgr_image_tlv *got;
		char hex[2 * 256 + 1];

		assert_in_range(*idx, 0, img->n_tlvs - 1);
		got = &img->tlvs[(*idx)++];
		assert_int_equal(got->type, test_json_uint(jget(t, "type")));
		assert_int_equal(got->len, test_json_uint(jget(t, "len")));
		assert_int_equal(got->offset, test_json_uint(jget(t, "offset")));
		assert_int_equal(got->is_protected, prot);
		assert_string_equal(dfumgr_tlv_name(got->type), jget(t, "name")->valuestring);
		dfumgr_hex(img->buf + got->offset + 4, got->len, hex);
		assert_string_equal(hex, jget(t, "data")->valuestring);
	}
}

/* The error each damaged vector must give (what the damage is, from vectors.json). */
static const struct {
	const char *file;
	int parse_rc;  /* from dfumgr_image_parse */
	int verify_rc; /* from dfumgr_image_verify with key A, when it parses */
} damaged[] = {
    {"int-signed-badmagic.bin", -DFUMGR_E_BADMAGIC, 0},
    {"int-signed-trunc.bin", -DFUMGR_E_TRUNCATED, 0},
    {"int-signed-trunc-tlv.bin", -DFUMGR_E_TRUNCATED, 0},
    {"int-signed-bitflip.bin", 0, -DFUMGR_E_HASH},
    {"int-signed-badsig.bin", 0, -DFUMGR_E_SIGNATURE},
    {"int-unsigned.bin", 0, -DFUMGR_E_NOSIG},
};

static void test_every_vector_image_parses_as_expected(void **state)
{
	struct dfumgr_key *key_a = load_key("key-A-pub.pem");
	struct dfumgr_key *other = NULL;
	const cJSON *f;
	int n_checked = 0;

	(void)state;
	assert_int_equal(dfumgr_key_generate(NULL, &other), 0);
	cJSON_ArrayForEach(f, jget(test_vectors(), "files"))
	{
		const char *name = jget(f, "file")->valuestring;
		const char *kind = jget(f, "kind")->valuestring;
		const cJSON *exp, *parsed, *hdr, *vk;
		struct dfumgr_ctx *ctx;
		struct dfumgr_image img;
		uint8_t *buf, digest[32];
		char hex[65], ver[DFUMGR_VERSION_STRING_MAX];
		size_t size, idx = 0;
		int rc, want_verify = 0;

		if (strncmp(kind, "image-", 6) != 0 || strstr(kind, "hex"))
			continue;
		print_message("vector %s\n", name);
		exp = jget(f, "expected");
		parsed = jget(exp, "parsed");
		hdr = jget(parsed, "header");
		buf = test_read(name, &size);
		assert_int_equal(size, test_json_uint(jget(f, "size")));
		ctx = dfumgr_ctx_new();
		memset(&img, 0x5a, sizeof(img));
		rc = dfumgr_image_parse(ctx, buf, size, &img);
		for (size_t i = 0; i < ARRAY_SIZE(damaged); i++)
			if (strcmp(damaged[i].file, name) == 0) {
				assert_int_equal(rc, damaged[i].parse_rc);
				want_verify = damaged[i].verify_rc;
			}
		if (cJSON_GetObjectItemCaseSensitive(parsed, "parse_error")) {
			assert_true(rc < 0);
			assert_true(strlen(dfumgr_ctx_errmsg(ctx)) > 10);
			print_message("  rejected: %s\n", dfumgr_ctx_errmsg(ctx));
			goto next;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(img.magic, test_json_uint(jget(hdr, "magic")));
		assert_int_equal(img.load_addr, test_json_uint(jget(hdr, "load_addr")));
		assert_int_equal(img.hdr_size, test_json_uint(jget(hdr, "hdr_size")));
		assert_int_equal(img.protect_tlv_size,
				 test_json_uint(jget(hdr, "protect_tlv_size")));
		assert_int_equal(img.img_size, test_json_uint(jget(hdr, "img_size")));
		assert_int_equal(img.flags, test_json_uint(jget(hdr, "flags")));
		assert_int_equal(img.pad1, test_json_uint(jget(hdr, "pad1")));
		assert_string_equal(dfumgr_version_format(&img.version, ver),
				    jget(hdr, "version")->valuestring);
		assert_int_equal(img.payload_offset,
				 test_json_uint(jget(parsed, "payload_offset")));
		assert_int_equal(img.tlv_area_offset,
				 test_json_uint(jget(parsed, "tlv_area_offset")));
		assert_int_equal(img.info_offset,
				 test_json_uint(jget(jget(parsed, "tlv_info"), "offset")));
		assert_int_equal(img.tlv_tot,
				 test_json_uint(jget(jget(parsed, "tlv_info"), "tlv_tot")));
		if (cJSON_GetObjectItemCaseSensitive(parsed, "protected_tlv_info")) {
			const cJSON *pi = jget(parsed, "protected_tlv_info");

			assert_true(img.has_protected);
			assert_int_equal(img.prot_info_offset, test_json_uint(jget(pi, "offset")));
			assert_int_equal(img.prot_tlv_tot, test_json_uint(jget(pi, "tlv_tot")));
		} else {
			assert_false(img.has_protected);
		}
		check_tlvs(&img, jget(parsed, "protected_tlvs"), true, &idx);
		check_tlvs(&img, jget(parsed, "tlvs"), false, &idx);
		assert_int_equal(idx, img.n_tlvs);
		assert_int_equal(img.image_end, test_json_uint(jget(parsed, "image_end")));

		rc = dfumgr_image_check_hash(ctx, &img, digest);
		dfumgr_hex(digest, 32, hex);
		assert_string_equal(hex, jget(parsed, "computed_sha256")->valuestring);
		assert_int_equal(
		    rc, cJSON_IsTrue(jget(parsed, "sha256_tlv_matches")) ? 0 : -DFUMGR_E_HASH);

		if (cJSON_IsNull(jget(parsed, "trailer"))) {
			assert_false(img.trailer.present);
		} else {
			const cJSON *t = jget(parsed, "trailer");

			assert_true(img.trailer.present);
			assert_int_equal(img.trailer.bytes_after,
					 test_json_uint(jget(t, "bytes_after_tlvs")));
			assert_int_equal(img.trailer.magic_ok,
					 cJSON_IsTrue(jget(t, "boot_magic_at_end")));
			assert_int_equal(img.trailer.image_ok,
					 test_json_uint(jget(t, "image_ok_byte(offset size-24)")));
			assert_int_equal(img.trailer.copy_done,
					 test_json_uint(jget(t, "copy_done_byte(offset size-32)")));
		}

		/* verification with key A agrees with `imgtool verify -k key-A.pem` */
		vk = jget(exp, "imgtool_verify_with_key");
		rc = dfumgr_image_verify(ctx, &img, &key_a, 1);
		if (test_json_uint(jget(vk, "rc")) == 0)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, want_verify ? want_verify : -DFUMGR_E_NOSIG);
		if (cJSON_GetObjectItemCaseSensitive(exp, "openssl_signature_check")) {
			const cJSON *o = jget(exp, "openssl_signature_check");

			assert_int_equal(rc == 0, test_json_uint(jget(o, "rc")) == 0);
		}
		print_message("  ok, verify with key A: %s\n",
			      rc ? dfumgr_ctx_errmsg(ctx) : "valid");
		/* ... and fails with any other key */
		if (img.sig && rc != -DFUMGR_E_HASH)
			assert_int_equal(dfumgr_image_verify(ctx, &img, &other, 1),
					 -DFUMGR_E_NOSIG);
		n_checked++;
	next:
		dfumgr_ctx_free(ctx);
		free(buf);
	}
	/* 10 good and 2 hash/signature-damaged images; the 3 structurally damaged are rejected */
	assert_int_equal(n_checked, 12);
	dfumgr_key_free(key_a);
	dfumgr_key_free(other);
}

static void test_specific_errors_for_damaged_vectors(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_image img;
	size_t size;
	uint8_t *buf;

	(void)state;
	buf = test_read("int-signed-badmagic.bin", &size);
	assert_int_equal(dfumgr_image_parse(ctx, buf, size, &img), -DFUMGR_E_BADMAGIC);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "0x96f3b83c at offset 0"));
	free(buf);
	buf = test_read("int-signed-trunc.bin", &size);
	assert_int_equal(dfumgr_image_parse(ctx, buf, size, &img), -DFUMGR_E_TRUNCATED);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "TLV info at 0x3220d"));
	free(buf);
	buf = test_read("int-signed-trunc-tlv.bin", &size);
	assert_int_equal(dfumgr_image_parse(ctx, buf, size, &img), -DFUMGR_E_TRUNCATED);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "(0x3220d..0x322a4) runs past end of file"));
	free(buf);
	dfumgr_ctx_free(ctx);
}

/* ---- crafted structural errors ---- */

struct crafted {
	uint8_t *buf;
	size_t size;
};

/* int-unsigned.bin's header + payload, then the given TLV bytes; protect_tlv_size as given. */
static struct crafted craft(const uint8_t *tlvs, size_t n, uint16_t protect_tlv_size)
{
	size_t size;
	uint8_t *base = test_read("int-unsigned.bin", &size);
	struct crafted c = {.buf = malloc(PAYLOAD_END + n), .size = PAYLOAD_END + n};

	memcpy(c.buf, base, PAYLOAD_END);
	memcpy(c.buf + PAYLOAD_END, tlvs, n);
	put_le16(c.buf + 10, protect_tlv_size);
	free(base);
	return c;
}

static void expect_parse_error(const uint8_t *tlvs, size_t n, uint16_t prot, int want,
			       const char *msg_part)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct crafted c = craft(tlvs, n, prot);
	struct dfumgr_image img;
	int rc = dfumgr_image_parse(ctx, c.buf, c.size, &img);

	print_message("  -> %s\n", dfumgr_ctx_errmsg(ctx));
	assert_int_equal(rc, want);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), msg_part));
	free(c.buf);
	dfumgr_ctx_free(ctx);
}

static void test_header_errors(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_image img;
	size_t size;
	uint8_t *buf = test_read("int-unsigned.bin", &size);

	(void)state;
	assert_int_equal(dfumgr_image_parse(ctx, buf, 31, &img), -DFUMGR_E_TRUNCATED);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "31 bytes"));
	put_le16(buf + 8, 0x10);
	assert_int_equal(dfumgr_image_parse(ctx, buf, size, &img), -DFUMGR_E_FORMAT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "hdr_size (offset 8) is 0x10"));
	put_le16(buf + 8, 0x200);
	put_le32(buf + 12, 0xfffffff0);
	assert_int_equal(dfumgr_image_parse(ctx, buf, size, &img), -DFUMGR_E_TRUNCATED);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "img_size at offset 12"));
	put_le32(buf + 12, 0x3200d);
	assert_int_equal(dfumgr_image_parse(ctx, buf, PAYLOAD_END + 2, &img), -DFUMGR_E_TRUNCATED);
	assert_int_equal(dfumgr_image_parse(NULL, NULL, 0, &img), -DFUMGR_E_INVAL);
	free(buf);
	dfumgr_ctx_free(ctx);
}

static void test_tlv_errors(void **state)
{
	(void)state;
	/* unprotected info magic wrong */
	{
		const uint8_t t[] = {0x08, 0x6a, 0x04, 0x00};
		expect_parse_error(t, sizeof(t), 0, -DFUMGR_E_BADMAGIC,
				   "TLV info at 0x3220d has magic 0x6a08");
	}
	/* tlv_tot smaller than the info */
	{
		const uint8_t t[] = {0x07, 0x69, 0x02, 0x00};
		expect_parse_error(t, sizeof(t), 0, -DFUMGR_E_FORMAT, "tlv_tot 0x2");
	}
	/* a TLV longer than its area */
	{
		const uint8_t t[] = {0x07, 0x69, 0x0c, 0x00, 0x10, 0x00, 0x20, 0x00, 1, 2, 3, 4};
		expect_parse_error(t, sizeof(t), 0, -DFUMGR_E_FORMAT,
				   "runs past the end of the area");
	}
	/* stray bytes at the end of an area */
	{
		const uint8_t t[] = {0x07, 0x69, 0x06, 0x00, 0x10, 0x00};
		expect_parse_error(t, sizeof(t), 0, -DFUMGR_E_FORMAT, "2 stray bytes at 0x32211");
	}
	/* SHA256 of the wrong length */
	{
		const uint8_t t[] = {0x07, 0x69, 0x0a, 0x00, 0x10, 0x00, 0x02, 0x00, 1, 2};
		expect_parse_error(t, sizeof(t), 0, -DFUMGR_E_FORMAT,
				   "SHA256 TLV at 0x32211 has length 2");
	}
	/* ECDSASIG too short */
	{
		const uint8_t t[] = {0x07, 0x69, 0x0a, 0x00, 0x22, 0x00, 0x02, 0x00, 1, 2};
		expect_parse_error(t, sizeof(t), 0, -DFUMGR_E_FORMAT,
				   "ECDSASIG TLV at 0x32211 has length 2");
	}
	/* DEPENDENCY outside the hashed area */
	{
		uint8_t t[4 + 16] = {0x07, 0x69, 20, 0x00, 0x40, 0x00, 12, 0x00};
		expect_parse_error(t, sizeof(t), 0, -DFUMGR_E_FORMAT,
				   "DEPENDENCY TLV at 0x32211 is in the unprotected area");
	}
	/* SHA256 inside the protected area */
	{
		uint8_t t[4 + 36 + 4] = {0x08, 0x69, 40, 0x00, 0x10, 0x00, 32, 0x00};
		t[40] = 0x07;
		t[41] = 0x69;
		t[42] = 4;
		expect_parse_error(t, sizeof(t), 40, -DFUMGR_E_FORMAT,
				   "SHA256 TLV at 0x32211 is in the protected area");
	}
	/* protected info with the wrong magic */
	{
		const uint8_t t[] = {0x07, 0x69, 0x08, 0x00, 0, 0, 0, 0, 0x07, 0x69, 4, 0};
		expect_parse_error(t, sizeof(t), 8, -DFUMGR_E_BADMAGIC, "expected 0x6908");
	}
	/* protected info size disagrees with the header */
	{
		const uint8_t t[] = {0x08, 0x69, 0x08, 0x00, 0, 0, 0, 0, 0x07, 0x69, 4, 0};
		expect_parse_error(t, sizeof(t), 12, -DFUMGR_E_FORMAT,
				   "does not match header protect_tlv_size 0xc");
	}
	/* protected area present but the header says none */
	{
		const uint8_t t[] = {0x08, 0x69, 0x04, 0x00, 0x07, 0x69, 4, 0};
		expect_parse_error(t, sizeof(t), 0, -DFUMGR_E_FORMAT,
				   "protect_tlv_size (offset 10) is 0");
	}
	/* protected area runs past the file */
	{
		const uint8_t t[] = {0x08, 0x69, 0x40, 0x00};
		expect_parse_error(t, sizeof(t), 0x40, -DFUMGR_E_TRUNCATED,
				   "protected TLV area 0x3220d..0x3224d");
	}
	/* file ends after the protected area */
	{
		const uint8_t t[] = {0x08, 0x69, 0x04, 0x00};
		expect_parse_error(t, sizeof(t), 4, -DFUMGR_E_TRUNCATED,
				   "before the unprotected TLV info");
	}
	/* two SHA256 TLVs */
	{
		uint8_t t[4 + 72] = {0x07, 0x69, 76, 0x00, 0x10, 0x00, 32, 0x00};
		t[40] = 0x10;
		t[42] = 32;
		expect_parse_error(t, sizeof(t), 0, -DFUMGR_E_FORMAT,
				   "second SHA256 TLV at 0x32235");
	}
	/* too many TLVs */
	{
		uint8_t t[4 + 40 * 4] = {0x07, 0x69, sizeof(t) & 0xff, sizeof(t) >> 8};
		for (size_t i = 0; i < 40; i++)
			t[4 + 4 * i] = 0x77; /* unknown type, empty */
		expect_parse_error(t, sizeof(t), 0, -DFUMGR_E_TOOBIG, "more than 32 TLVs");
	}
	/* too many dependencies */
	{
		uint8_t t[4 + 5 * 16 + 4] = {0x08, 0x69, 84, 0x00};
		for (size_t i = 0; i < 5; i++) {
			t[4 + 16 * i] = 0x40;
			t[4 + 16 * i + 2] = 12;
		}
		t[84] = 0x07;
		t[85] = 0x69;
		t[86] = 4;
		expect_parse_error(t, sizeof(t), 84, -DFUMGR_E_TOOBIG,
				   "more than 4 DEPENDENCY TLVs");
	}
}

static void test_hash_and_signature_edge_cases(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_key *a = load_key("key-A.pem");
	struct dfumgr_image img;
	/* an image with no SHA256 TLV: the hash cannot be checked */
	const uint8_t none[] = {0x07, 0x69, 0x04, 0x00};
	/* an RSA signature TLV only */
	uint8_t rsa[4 + 36 + 4 + 256] = {0x07, 0x69, (4 + 36 + 260) & 0xff, (4 + 36 + 260) >> 8};
	struct crafted c = craft(none, sizeof(none), 0);

	(void)state;
	assert_int_equal(dfumgr_image_parse(ctx, c.buf, c.size, &img), 0);
	assert_int_equal(dfumgr_image_check_hash(ctx, &img, NULL), -DFUMGR_E_FORMAT);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "no SHA256 TLV"));
	free(c.buf);

	rsa[4] = 0x10;
	rsa[6] = 32;
	rsa[40] = 0x20;
	rsa[42] = 0x00;
	rsa[43] = 0x01; /* len 256 */
	c = craft(rsa, sizeof(rsa), 0);
	dfumgr_sha256(c.buf, PAYLOAD_END, c.buf + PAYLOAD_END + 8);
	assert_int_equal(dfumgr_image_parse(ctx, c.buf, c.size, &img), 0);
	assert_int_equal(dfumgr_image_verify(ctx, &img, &a, 1), -DFUMGR_E_UNSUPPORTED);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "RSA2048"));
	free(c.buf);
	dfumgr_key_free(a);
	dfumgr_ctx_free(ctx);
}

/* ---- building, compared with imgtool's output ---- */

static uint8_t *build(const char *payload_name, const char *version, const char *key_name,
		      uint32_t slot, bool pad, bool confirm, struct dfumgr_image_build_opts *extra,
		      size_t *ret_size)
{
	struct dfumgr_image_build_opts o = {0};
	struct dfumgr_key *key = key_name ? load_key(key_name) : NULL;
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	uint8_t *payload, *out = NULL;
	size_t psize;
	int rc;

	if (extra)
		o = *extra;
	payload = test_read(payload_name, &psize);
	assert_int_equal(dfumgr_version_parse(version, &o.version), 0);
	o.header_size = 0x200;
	o.pad_header = true;
	o.key = key;
	o.slot.slot_size = slot;
	o.slot.align = 4;
	o.pad = pad;
	o.confirm = confirm;
	rc = dfumgr_image_build(ctx, payload, psize, &o, &out, ret_size);
	if (rc < 0)
		fail_msg("build: %s", dfumgr_ctx_errmsg(ctx));
	free(payload);
	dfumgr_key_free(key);
	dfumgr_ctx_free(ctx);
	return out;
}

static void test_build_unsigned_is_byte_identical_to_imgtool(void **state)
{
	size_t size, ref_size;
	uint8_t *out =
	    build("payload-int.bin", "2.3.0+4", NULL, 0xe0000, false, false, NULL, &size);
	uint8_t *ref = test_read("int-unsigned.bin", &ref_size);

	(void)state;
	assert_int_equal(size, ref_size);
	assert_memory_equal(out, ref, size);
	free(out);
	free(ref);
}

/*
 * ECDSA signatures are randomized: compare everything that is not the signature (header,
 * payload, protected TLVs, SHA256 and KEYHASH TLVs, trailer), then verify the signature.
 */
static void compare_signed(const char *ref_name, const uint8_t *out, size_t size)
{
	struct dfumgr_image a, b;
	struct dfumgr_key *pub = load_key("key-A-pub.pem");
	size_t ref_size;
	uint8_t *ref = test_read(ref_name, &ref_size);

	print_message("  compare with %s\n", ref_name);
	assert_int_equal(dfumgr_image_parse(NULL, out, size, &a), 0);
	assert_int_equal(dfumgr_image_parse(NULL, ref, ref_size, &b), 0);
	assert_int_equal(a.info_offset, b.info_offset);
	assert_memory_equal(out, ref, a.info_offset);
	assert_int_equal(a.n_tlvs, b.n_tlvs);
	for (size_t i = 0; i < a.n_tlvs; i++) {
		assert_int_equal(a.tlvs[i].type, b.tlvs[i].type);
		if (a.tlvs[i].type != DFUMGR_TLV_ECDSASIG) {
			assert_int_equal(a.tlvs[i].len, b.tlvs[i].len);
			assert_int_equal(a.tlvs[i].offset, b.tlvs[i].offset);
			assert_memory_equal(out + a.tlvs[i].offset + 4, ref + b.tlvs[i].offset + 4,
					    a.tlvs[i].len);
		}
	}
	assert_int_equal(dfumgr_image_verify(NULL, &a, &pub, 1), 0);
	if (b.trailer.present) {
		assert_int_equal(size, ref_size);
		/* from the end of the longer TLV area on, the trailers are identical */
		size_t from = a.image_end > b.image_end ? a.image_end : b.image_end;
		assert_memory_equal(out + from, ref + from, size - from);
		assert_int_equal(a.trailer.image_ok, b.trailer.image_ok);
	} else {
		assert_false(a.trailer.present);
	}
	free(ref);
	dfumgr_key_free(pub);
}

static void test_build_signed_matches_imgtool_layout(void **state)
{
	struct dfumgr_image_build_opts dep = {.n_deps = 1, .deps = {{.image_id = 1}}};
	struct dfumgr_image_build_opts cnt = {.has_sec_cnt = true, .sec_cnt = 5};
	struct dfumgr_image_build_opts both = dep;
	size_t size;
	uint8_t *out;

	(void)state;
	assert_int_equal(dfumgr_version_parse("2.3.0+4", &dep.deps[0].min_version), 0);
	both = dep;
	both.has_sec_cnt = true;
	both.sec_cnt = 5;

	out = build("payload-int.bin", "2.3.0+4", "key-A.pem", 0xe0000, false, false, NULL, &size);
	compare_signed("int-signed.bin", out, size);
	free(out);
	out = build("payload-int.bin", "2.3.0+4", "key-A.pem", 0xe0000, false, false, &dep, &size);
	compare_signed("int-dep.bin", out, size);
	free(out);
	out = build("payload-int.bin", "2.3.0+4", "key-A.pem", 0xe0000, false, false, &cnt, &size);
	compare_signed("int-seccnt.bin", out, size);
	free(out);
	out = build("payload-int.bin", "2.3.0+4", "key-A.pem", 0xe0000, false, false, &both, &size);
	compare_signed("int-seccnt-dep.bin", out, size);
	free(out);
	out = build("payload-int.bin", "2.3.1+0", "key-A.pem", 0xe0000, true, false, NULL, &size);
	compare_signed("int-pad.bin", out, size);
	free(out);
	out = build("payload-int.bin", "2.4.0+17", "key-A.pem", 0xe0000, true, true, NULL, &size);
	compare_signed("int-confirm.bin", out, size);
	free(out);
	/* the objcopy splits of app.elf, as imgtool signed them */
	out = build("internal.bin", "2.3.0+4", "key-A.pem", 0xe0000, false, false, &dep, &size);
	compare_signed("internal-signed.bin", out, size);
	free(out);
	out = build("extflash.bin", "2.3.0+4", "key-A.pem", 0x300000, false, false, NULL, &size);
	compare_signed("extflash-signed.bin", out, size);
	free(out);
}

static const char *imgtool_error_line(const char *file)
{
	static char line[256];
	size_t size;
	uint8_t *buf = test_read(file, &size);
	char *p = strstr((char *)buf, "Error: ");
	char *nl;

	assert_non_null(p);
	p += 7;
	nl = strchr(p, '\n');
	if (nl)
		*nl = '\0';
	snprintf(line, sizeof(line), "%s", p);
	free(buf);
	return line;
}

static void test_slot_fit_boundary_as_imgtool(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_image_build_opts o = {
	    .header_size = 0x200, .pad_header = true, .slot = {.slot_size = 0xe0000, .align = 4}};
	/* vectors.json: 915368 bytes is the largest unsigned payload imgtool fits in 0xe0000 */
	size_t fit = 915368, size;
	uint8_t *payload = calloc(1, fit + 1), *out = NULL;

	(void)state;
	assert_int_equal(dfumgr_version_parse("2.3.0+4", &o.version), 0);
	assert_int_equal(dfumgr_image_build(ctx, payload, fit, &o, &out, &size), 0);
	assert_int_equal(size, 915920); /* boundary-fit-unsigned.bin size in vectors.json */
	free(out);
	out = NULL;
	assert_int_equal(dfumgr_image_build(ctx, payload, fit + 1, &o, &out, &size),
			 -DFUMGR_E_NOFIT);
	assert_null(out);
	assert_string_equal(dfumgr_ctx_errmsg(ctx),
			    imgtool_error_line("expected-error-boundary.txt"));
	/* the unsplit ELF as one image: imgtool's message for app.hex (0x1015ee2c + 0x200 + TLVs)
	 */
	assert_int_equal(dfumgr_image_check_fit(ctx, 0x1015ee2cULL + 0x200 + 0x97, &o.slot),
			 -DFUMGR_E_NOFIT);
	assert_string_equal(dfumgr_ctx_errmsg(ctx),
			    imgtool_error_line("expected-error-elf-hex.txt"));
	free(payload);
	dfumgr_ctx_free(ctx);
}

static void test_trailer_sizes(void **state)
{
	struct dfumgr_slot_params p = {.align = 4};

	(void)state;
	assert_int_equal(dfumgr_trailer_size(&p), 0x630);
	p.align = 8;
	assert_int_equal(dfumgr_trailer_size(&p), 128 * 3 * 8 + 32 + 16);
	p.overwrite_only = true;
	assert_int_equal(dfumgr_trailer_size(&p), 8 * 2 + 16);
	p.overwrite_only = false;
	p.align = 3;
	p.slot_size = 0x1000;
	assert_int_equal(dfumgr_image_check_fit(NULL, 10, &p), -DFUMGR_E_INVAL);
}

static void test_build_option_errors(void **state)
{
	struct dfumgr_ctx *ctx = dfumgr_ctx_new();
	struct dfumgr_image_build_opts o = {.header_size = 0x200};
	uint8_t payload[0x300] = {0};
	uint8_t *out = NULL;
	size_t size;

	(void)state;
	/* without header padding the first 0x200 bytes must be free for the header */
	payload[0x10] = 1;
	assert_int_equal(dfumgr_image_build(ctx, payload, sizeof(payload), &o, &out, &size),
			 -DFUMGR_E_INVAL);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "payload byte 0x10 is not zero"));
	payload[0x10] = 0;
	assert_int_equal(dfumgr_image_build(ctx, payload, sizeof(payload), &o, &out, &size), 0);
	assert_int_equal(get_le32(out + 12), 0x100);
	free(out);
	o.header_size = 8;
	assert_int_equal(dfumgr_image_build(ctx, payload, sizeof(payload), &o, &out, &size),
			 -DFUMGR_E_INVAL);
	o.header_size = 0x200;
	o.pad = true;
	assert_int_equal(dfumgr_image_build(ctx, payload, sizeof(payload), &o, &out, &size),
			 -DFUMGR_E_INVAL);
	assert_non_null(strstr(dfumgr_ctx_errmsg(ctx), "slot size"));
	dfumgr_ctx_free(ctx);
}

static void test_versions(void **state)
{
	struct dfumgr_image_version v, w;
	char buf[DFUMGR_VERSION_STRING_MAX];

	(void)state;
	assert_int_equal(dfumgr_version_parse("2.3.0+4", &v), 0);
	assert_string_equal(dfumgr_version_format(&v, buf), "2.3.0+4");
	assert_int_equal(dfumgr_version_parse("255.255.65535+4294967295", &v), 0);
	assert_string_equal(dfumgr_version_format(&v, buf), "255.255.65535+4294967295");
	assert_int_equal(dfumgr_version_parse("1", &v), 0);
	assert_string_equal(dfumgr_version_format(&v, buf), "1.0.0+0");
	assert_int_equal(dfumgr_version_parse("1.2+7", &v), 0);
	assert_string_equal(dfumgr_version_format(&v, buf), "1.2.0+7");
	static const char *const bad[] = {
	    "",     "256.0.0", "1.256",  "1.2.65536", "1.2.3+4294967296", "1.2.3.4", "v1.2",
	    "1..2", "1.2.3+",  "1.2.3 ", "-1"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(dfumgr_version_parse(bad[i], &v), -DFUMGR_E_FORMAT);
	assert_int_equal(dfumgr_version_parse("2.3.0+4", &v), 0);
	assert_int_equal(dfumgr_version_parse("2.3.0+5", &w), 0);
	assert_true(dfumgr_version_cmp(&v, &w) < 0);
	assert_int_equal(dfumgr_version_parse("2.10.0", &w), 0);
	assert_true(dfumgr_version_cmp(&w, &v) > 0);
	assert_int_equal(dfumgr_version_cmp(&v, &v), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_vector_image_parses_as_expected),
	    cmocka_unit_test(test_specific_errors_for_damaged_vectors),
	    cmocka_unit_test(test_header_errors),
	    cmocka_unit_test(test_tlv_errors),
	    cmocka_unit_test(test_hash_and_signature_edge_cases),
	    cmocka_unit_test(test_build_unsigned_is_byte_identical_to_imgtool),
	    cmocka_unit_test(test_build_signed_matches_imgtool_layout),
	    cmocka_unit_test(test_slot_fit_boundary_as_imgtool),
	    cmocka_unit_test(test_trailer_sizes),
	    cmocka_unit_test(test_build_option_errors),
	    cmocka_unit_test(test_versions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
