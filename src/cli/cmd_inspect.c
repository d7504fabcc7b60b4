/* SPDX-License-Identifier: MIT */
/* dfu-mgr inspect: recognise and show MCUboot images, ELF files, manifests and bundles. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "dfumgr/bundle.h"
#include "dfumgr/elfsplit.h"
#include "dfumgr/image.h"
#include "dfumgr/keyring.h"
#include "dfumgr/manifest.h"
#include "dfumgr/pack.h"

#define INSPECT_FILE_MAX (64u * 1024 * 1024)

struct inspect_opts {
	struct dfumgr_keyring *ring;
	struct dfumgr_slot_params slot;
	bool allow_unsigned;
};

static void inspect_help(FILE *f)
{
	fprintf(f,
		"Usage: dfu-mgr inspect [OPTIONS] FILE...\n"
		"Show what FILE is and check it: an MCUboot image (header, TLVs, hash, signature,\n"
		"slot fit), a linked ELF (sections by region: internal flash or QSPI XIP), a\n"
		"manifest.json, or a bundle directory.\n\n"
		"  -k, --key FILE        trust this public (or private) key for signatures\n"
		"  -K, --keys DIR        trust every *.pem/*.der key in DIR\n"
		"  -s, --slot-size N     also check that an image fits a slot of N bytes\n"
		"  -a, --align N         flash write size for the slot-fit check (default 4)\n"
		"      --allow-unsigned  a bundle without manifest.json.sig is not an error\n"
		"  -j, --json            machine-readable output on stdout\n"
		"  -h, --help            this help\n\n"
		"Exit status: 0 all files valid, 1 a hash or signature check failed,\n"
		"65 a file is malformed, 66 a file is missing.\n");
}

static const char *yesno(bool b)
{
	return b ? "yes" : "no";
}

/* Fills the "checks" of one image; returns the worst rc (0 all good). */
static int image_checks(struct cli *cli, const struct dfumgr_image *img,
			const struct inspect_opts *o, struct jw *w, bool human)
{
	uint8_t digest[DFUMGR_SHA256_SIZE];
	char hex[2 * DFUMGR_SHA256_SIZE + 1];
	int worst = 0, rc;

	rc = dfumgr_image_check_hash(cli->ctx, img, digest);
	for (size_t i = 0; i < DFUMGR_SHA256_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	if (human)
		printf("  hash           %s (sha256 %s)\n",
		       rc == 0 ? "OK" : dfumgr_ctx_errmsg(cli->ctx), hex);
	if (w) {
		jw_str(w, "computed_sha256", hex);
		jw_bool(w, "hash_ok", rc == 0);
	}
	if (rc < 0)
		worst = rc;

	if (rc == 0 && dfumgr_keyring_count(o->ring)) {
		rc = dfumgr_image_verify(cli->ctx, img, dfumgr_keyring_keys(o->ring),
					 dfumgr_keyring_count(o->ring));
		if (human)
			printf("  signature      %s\n",
			       rc == 0 ? "valid (trusted key)" : dfumgr_ctx_errmsg(cli->ctx));
		if (w) {
			jw_str(w, "signature", rc == 0 ? "valid" : dfumgr_strerror(rc));
			if (rc < 0)
				jw_str(w, "signature_error", dfumgr_ctx_errmsg(cli->ctx));
		}
		if (rc < 0 && !worst)
			worst = rc;
	} else if (rc == 0) {
		const char *s = img->sig ? "present, not checked (give --key or --keys)"
					 : "none (unsigned image)";
		if (human)
			printf("  signature      %s\n", s);
		if (w)
			jw_str(w, "signature", img->sig ? "not-checked" : "unsigned");
	}
	if (o->slot.slot_size) {
		rc = dfumgr_image_check_fit(cli->ctx, img->image_end, &o->slot);
		if (human)
			printf("  slot fit       %s\n",
			       rc == 0 ? "fits" : dfumgr_ctx_errmsg(cli->ctx));
		if (w) {
			jw_bool(w, "fits_slot", rc == 0);
			jw_uint(w, "trailer_size", dfumgr_trailer_size(&o->slot));
		}
		if (rc < 0 && !worst)
			worst = rc;
	}
	return worst;
}

static int show_image(struct cli *cli, const char *path, const uint8_t *buf, size_t size,
		      const struct inspect_opts *o, struct jw *w)
{
	struct dfumgr_image img;
	char ver[DFUMGR_VERSION_STRING_MAX];
	bool human = !w;
	int rc;

	rc = dfumgr_image_parse(cli->ctx, buf, size, &img);
	if (rc < 0)
		return cli_fail(cli, rc, "%s", path);
	dfumgr_version_format(&img.version, ver);
	if (human) {
		printf("%s: MCUboot image, %zu bytes\n", path, size);
		printf("  version        %s\n", ver);
		printf("  header         0x%x bytes, load address 0x%08" PRIx32 ", flags 0x%" PRIx32
		       "\n",
		       img.hdr_size, img.load_addr, img.flags);
		printf("  payload        0x%zx..0x%zx (%" PRIu32 " bytes)\n", img.payload_offset,
		       img.tlv_area_offset, img.img_size);
		printf("  TLVs           0x%zx..0x%zx\n", img.tlv_area_offset, img.image_end);
		for (size_t i = 0; i < img.n_tlvs; i++) {
			const struct dfumgr_image_tlv *t = &img.tlvs[i];

			printf("    %-11s %-10s 0x%02x len %-4u at 0x%" PRIx32 "\n",
			       t->is_protected ? "protected" : "", dfumgr_tlv_name(t->type),
			       t->type, t->len, t->offset);
		}
		for (size_t i = 0; i < img.n_deps; i++)
			printf("  depends on     image %u >= %s\n", img.deps[i].image_id,
			       dfumgr_version_format(&img.deps[i].min_version, ver));
		if (img.has_sec_cnt)
			printf("  security cnt   %" PRIu32 "\n", img.sec_cnt);
		if (img.trailer.present)
			printf("  trailer        %zu bytes after the TLVs; boot magic %s, image_ok "
			       "0x%02x\n",
			       img.trailer.bytes_after, yesno(img.trailer.magic_ok),
			       img.trailer.image_ok);
	} else {
		jw_obj(w, NULL);
		cli->item_emitted = true;
		jw_str(w, "file", path);
		jw_str(w, "type", "mcuboot-image");
		jw_uint(w, "size", size);
		jw_obj(w, "header");
		jw_addr(w, "magic", img.magic);
		jw_addr(w, "load_addr", img.load_addr);
		jw_uint(w, "hdr_size", img.hdr_size);
		jw_uint(w, "protect_tlv_size", img.protect_tlv_size);
		jw_uint(w, "img_size", img.img_size);
		jw_addr(w, "flags", img.flags);
		jw_str(w, "version", ver);
		jw_end_obj(w);
		jw_arr(w, "tlvs");
		for (size_t i = 0; i < img.n_tlvs; i++) {
			const struct dfumgr_image_tlv *t = &img.tlvs[i];

			jw_obj(w, NULL);
			jw_uint(w, "type", t->type);
			jw_str(w, "name", dfumgr_tlv_name(t->type));
			jw_uint(w, "len", t->len);
			jw_uint(w, "offset", t->offset);
			jw_bool(w, "protected", t->is_protected);
			jw_hex(w, "data", img.buf + t->offset + 4, t->len);
			jw_end_obj(w);
		}
		jw_end_arr(w);
		jw_arr(w, "dependencies");
		for (size_t i = 0; i < img.n_deps; i++) {
			jw_obj(w, NULL);
			jw_uint(w, "image", img.deps[i].image_id);
			jw_str(w, "min_version",
			       dfumgr_version_format(&img.deps[i].min_version, ver));
			jw_end_obj(w);
		}
		jw_end_arr(w);
		if (img.has_sec_cnt)
			jw_uint(w, "security_counter", img.sec_cnt);
		jw_uint(w, "image_end", img.image_end);
		if (img.trailer.present) {
			jw_obj(w, "trailer");
			jw_uint(w, "bytes_after", img.trailer.bytes_after);
			jw_bool(w, "boot_magic", img.trailer.magic_ok);
			jw_uint(w, "image_ok", img.trailer.image_ok);
			jw_end_obj(w);
		}
	}
	rc = image_checks(cli, &img, o, w, human);
	if (w)
		jw_end_obj(w);
	if (rc < 0 && human)
		fprintf(stderr, "%s: %s: %s\n", cli->prog, path, dfumgr_ctx_errmsg(cli->ctx));
	return rc < 0 ? cli_exit_code(rc) : EXIT_OK;
}

static int show_elf(struct cli *cli, const char *path, const uint8_t *buf, size_t size,
		    struct jw *w)
{
	struct dfumgr_pack_opts po = {0};
	struct dfumgr_elf_split *s = NULL;
	int rc;

	rc = dfumgr_elf_split(cli->ctx, buf, size, &s);
	if (rc < 0)
		return cli_fail(cli, rc, "%s", path);
	if (!w) {
		printf("%s: ELF, %zu bytes, entry 0x%08" PRIx32 "\n", path, size, s->entry);
		printf("  %-24s %-10s %-10s %10s  %s\n", "section", "vma", "lma", "size", "region");
		for (size_t i = 0; i < s->n_sections; i++)
			printf("  %-24s 0x%08" PRIx32 " 0x%08" PRIx32 " %10" PRIu32 "  %s\n",
			       s->sections[i].name, s->sections[i].vma, s->sections[i].lma,
			       s->sections[i].size, dfumgr_region_name(s->sections[i].region));
		for (int r = 0; r < DFUMGR_REGION_COUNT; r++) {
			const struct dfumgr_elf_payload *p = dfumgr_elf_split_payload(s, r);

			if (p->size)
				printf("  %-9s payload 0x%08" PRIx32 "..0x%08" PRIx32 " (%" PRIu32
				       " bytes) -> image %d\n",
				       dfumgr_region_name(r), p->start, p->start + p->size, p->size,
				       r);
		}
	} else {
		jw_obj(w, NULL);
		cli->item_emitted = true;
		jw_str(w, "file", path);
		jw_str(w, "type", "elf");
		jw_uint(w, "size", size);
		jw_addr(w, "entry", s->entry);
		jw_arr(w, "sections");
		for (size_t i = 0; i < s->n_sections; i++) {
			jw_obj(w, NULL);
			jw_str(w, "name", s->sections[i].name);
			jw_addr(w, "vma", s->sections[i].vma);
			jw_addr(w, "lma", s->sections[i].lma);
			jw_uint(w, "size", s->sections[i].size);
			jw_str(w, "region", dfumgr_region_name(s->sections[i].region));
			jw_end_obj(w);
		}
		jw_end_arr(w);
		jw_obj(w, "regions");
		for (int r = 0; r < DFUMGR_REGION_COUNT; r++) {
			const struct dfumgr_elf_payload *p = dfumgr_elf_split_payload(s, r);

			jw_obj(w, dfumgr_region_name(r));
			jw_addr(w, "start", p->start);
			jw_uint(w, "size", p->size);
			jw_end_obj(w);
		}
		jw_end_obj(w);
		jw_uint(w, "span_size", s->span_size);
	}
	/* the diagnosis users otherwise get from imgtool as a bare "exceeds requested size" */
	rc = dfumgr_pack_check_single(cli->ctx, s, &po);
	if (!w)
		printf("  as one image   %s\n",
		       rc == 0 ? "fits image 0's slot" : dfumgr_ctx_errmsg(cli->ctx));
	else {
		jw_bool(w, "fits_one_image", rc == 0);
		if (rc < 0)
			jw_str(w, "one_image_diagnosis", dfumgr_ctx_errmsg(cli->ctx));
		jw_end_obj(w);
	}
	dfumgr_elf_split_free(s);
	return EXIT_OK;
}

static void show_manifest_fields(const struct dfumgr_manifest *m, struct jw *w)
{
	char ver[DFUMGR_VERSION_STRING_MAX], hex[2 * DFUMGR_SHA256_SIZE + 1];

	if (!w) {
		printf("  product        %s, release %s, device %04x:%04x\n", m->product,
		       m->release, m->vid, m->pid);
	} else {
		jw_str(w, "product", m->product);
		jw_str(w, "release", m->release);
		jw_uint(w, "vid", m->vid);
		jw_uint(w, "pid", m->pid);
		jw_arr(w, "images");
	}
	for (size_t i = 0; i < m->n_images; i++) {
		const struct dfumgr_manifest_image *mi = &m->images[i];

		dfumgr_version_format(&mi->version, ver);
		for (size_t b = 0; b < DFUMGR_SHA256_SIZE; b++)
			snprintf(hex + 2 * b, 3, "%02x", mi->sha256[b]);
		if (!w) {
			printf("  image %u        %s (alt %s), %" PRIu32 " bytes, version %s\n",
			       mi->image, mi->file, mi->alt, mi->size, ver);
			printf("                 sha256 %s\n", hex);
			if (mi->has_load_address)
				printf("                 load address 0x%08" PRIx32 "\n",
				       mi->load_address);
		} else {
			jw_obj(w, NULL);
			jw_uint(w, "image", mi->image);
			jw_str(w, "alt", mi->alt);
			jw_str(w, "file", mi->file);
			jw_uint(w, "size", mi->size);
			jw_str(w, "sha256", hex);
			jw_str(w, "version", ver);
			if (mi->has_load_address)
				jw_addr(w, "load_address", mi->load_address);
			jw_end_obj(w);
		}
	}
	if (w)
		jw_end_arr(w);
}

static int show_manifest(struct cli *cli, const char *path, const uint8_t *buf, size_t size,
			 struct jw *w)
{
	struct dfumgr_manifest m;
	int rc;

	rc = dfumgr_manifest_parse(cli->ctx, buf, size, &m);
	if (rc < 0)
		return cli_fail(cli, rc, "%s", path);
	if (!w) {
		printf("%s: dfu-mgr manifest (version %u)\n", path, m.manifest_version);
	} else {
		jw_obj(w, NULL);
		cli->item_emitted = true;
		jw_str(w, "file", path);
		jw_str(w, "type", "manifest");
	}
	show_manifest_fields(&m, w);
	if (w)
		jw_end_obj(w);
	return EXIT_OK;
}

static int show_bundle(struct cli *cli, const char *path, const struct inspect_opts *o,
		       struct jw *w)
{
	bool have_keys = dfumgr_keyring_count(o->ring) > 0;
	unsigned flags = o->allow_unsigned || !have_keys ? DFUMGR_BUNDLE_ALLOW_UNSIGNED : 0;
	struct dfumgr_bundle_report report = {0};
	struct dfumgr_bundle *b = NULL;
	int rc;

	rc = dfumgr_bundle_open(cli->ctx, path, have_keys ? o->ring : NULL, flags, &report, &b);
	if (!w) {
		printf("%s: bundle\n", path);
		if (!have_keys)
			printf("  signature      not checked (give --key or --keys)\n");
	} else {
		jw_obj(w, NULL);
		cli->item_emitted = true;
		jw_str(w, "file", path);
		jw_str(w, "type", "bundle");
		jw_bool(w, "valid", rc == 0);
		if (b && dfumgr_bundle_signer(b))
			jw_str(w, "signer", dfumgr_bundle_signer(b));
		else
			jw_null(w, "signer");
	}
	if (b)
		show_manifest_fields(dfumgr_bundle_manifest(b), w);
	cli_print_report(cli, &report, w);
	if (w)
		jw_end_obj(w);
	dfumgr_bundle_free(b);
	if (rc < 0) {
		if (!w)
			fprintf(stderr, "%s: bundle %s: %s\n", cli->prog, path,
				dfumgr_ctx_errmsg(cli->ctx));
		return cli_exit_code(rc);
	}
	return EXIT_OK;
}

/* The library's trust policy (dfumgr_trust_load()) with the command's options. */
int cli_trusted_keys(struct cli *cli, const char *cmd, char **key_files, size_t n_files,
		     char **key_dirs, size_t n_dirs, bool allow_unsigned,
		     struct dfumgr_keyring **ret_ring)
{
	struct dfumgr_trust_opts o = DFUMGR_TRUST_OPTS_INIT;
	int rc;

	o.key_files = (const char *const *)key_files;
	o.n_key_files = n_files;
	o.key_dirs = (const char *const *)key_dirs;
	o.n_key_dirs = n_dirs;
	o.default_dir = getenv("DFUMGR_KEYDIR"); /* NULL: the library's default */
	o.allow_unsigned = allow_unsigned;
	rc = dfumgr_trust_load(cli->ctx, &o, ret_ring);
	if (rc == -DFUMGR_E_NOSIG)
		return cli_usage_error(cli, cmd, "%s", dfumgr_ctx_errmsg(cli->ctx));
	return rc < 0 ? cli_fail(cli, rc, "trusted keys") : EXIT_OK;
}

/* Loads the trusted keys from --key files and --keys directories. */
int cli_load_keys(struct cli *cli, char **key_files, size_t n_files, char **key_dirs, size_t n_dirs,
		  struct dfumgr_keyring **ret_ring)
{
	struct dfumgr_keyring *ring = dfumgr_keyring_new();
	int rc = 0;

	if (!ring)
		return cli_fail(cli, -DFUMGR_E_NOMEM, "keys");
	for (size_t i = 0; i < n_files && rc >= 0; i++)
		rc = dfumgr_keyring_add_file(cli->ctx, ring, key_files[i]);
	for (size_t i = 0; i < n_dirs && rc >= 0; i++)
		rc = dfumgr_keyring_add_dir(cli->ctx, ring, key_dirs[i]);
	if (rc < 0) {
		dfumgr_keyring_free(ring);
		return cli_fail(cli, rc, "trusted keys");
	}
	*ret_ring = ring;
	return EXIT_OK;
}

static bool looks_like_json(const uint8_t *buf, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '\r')
			continue;
		return buf[i] == '{';
	}
	return false;
}

int cmd_inspect(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"key", required_argument, NULL, 'k'},
	    {"keys", required_argument, NULL, 'K'},
	    {"slot-size", required_argument, NULL, 's'},
	    {"align", required_argument, NULL, 'a'},
	    {"allow-unsigned", no_argument, NULL, 'U'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct inspect_opts o = {.slot = {.align = 4}};
	char *key_files[16], *key_dirs[16];
	size_t n_files = 0, n_dirs = 0;
	struct jw w;
	int c, worst = EXIT_OK, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "k:K:s:a:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (n_files == 16)
				return cli_usage_error(cli, "inspect", "too many --key options");
			key_files[n_files++] = optarg;
			break;
		case 'K':
			if (n_dirs == 16)
				return cli_usage_error(cli, "inspect", "too many --keys options");
			key_dirs[n_dirs++] = optarg;
			break;
		case 's':
			if (!cli_parse_u32(optarg, UINT32_MAX, &o.slot.slot_size) ||
			    !o.slot.slot_size)
				return cli_usage_error(cli, "inspect", "bad --slot-size '%s'",
						       optarg);
			break;
		case 'a':
			if (!cli_parse_u32(optarg, 32, &o.slot.align))
				return cli_usage_error(cli, "inspect", "bad --align '%s'", optarg);
			break;
		case 'U':
			o.allow_unsigned = true;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			inspect_help(stdout);
			return EXIT_OK;
		default:
			return cli_usage_error(cli, "inspect", "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(cli, "inspect", "no FILE given");
	rc = cli_load_keys(cli, key_files, n_files, key_dirs, n_dirs, &o.ring);
	if (rc != EXIT_OK)
		return rc;
	if (cli->json) {
		jw_begin(&w, stdout);
		jw_obj(&w, NULL);
		jw_arr(&w, "files");
		cli->json_open = true;
	}
	for (int i = optind; i < argc; i++) {
		const char *path = argv[i];
		struct jw *wp = cli->json ? &w : NULL;
		struct stat st;
		uint8_t *buf = NULL;
		size_t size = 0;

		cli->item_emitted = false;
		dfumgr_ctx_clear_error(cli->ctx);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			rc = show_bundle(cli, path, &o, wp);
		} else {
			rc = dfumgr_file_read(cli->ctx, path, INSPECT_FILE_MAX, &buf, &size);
			if (rc < 0) {
				rc = cli_fail(cli, rc, "%s", path);
			} else if (dfumgr_elf_is_elf(buf, size)) {
				rc = show_elf(cli, path, buf, size, wp);
			} else if (looks_like_json(buf, size)) {
				rc = show_manifest(cli, path, buf, size, wp);
			} else {
				/* the image parser names a damaged magic better than "unknown" */
				rc = show_image(cli, path, buf, size, &o, wp);
			}
			free(buf);
		}
		if (rc != EXIT_OK && wp && !cli->item_emitted) {
			jw_obj(wp, NULL);
			jw_str(wp, "file", path);
			jw_obj(wp, "error");
			jw_int(wp, "code", dfumgr_ctx_errcode(cli->ctx));
			jw_str(wp, "name", dfumgr_strerror(dfumgr_ctx_errcode(cli->ctx)));
			jw_str(wp, "message", dfumgr_ctx_errmsg(cli->ctx));
			jw_end_obj(wp);
			jw_end_obj(wp);
		}
		/* keep going over all files; the worst failure decides the exit status */
		if (rc != EXIT_OK && (worst == EXIT_OK || worst == EXIT_VERIFY))
			worst = rc;
	}
	if (cli->json) {
		jw_end_arr(&w);
		jw_end_obj(&w);
		jw_finish(&w);
	}
	dfumgr_keyring_free(o.ring);
	return worst;
}
