/* SPDX-License-Identifier: MIT */
/* dfu-mgr pack: a linked ELF (or two raw payloads) -> the internal + QSPI image pair, a bundle. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dfumgr/bundle.h"
#include "dfumgr/crypto.h"
#include "dfumgr/elfsplit.h"
#include "dfumgr/pack.h"

static void pack_help(FILE *f)
{
	fprintf(
	    f,
	    "Usage: dfu-mgr pack [OPTIONS] --version VER -o BUNDLE ELF\n"
	    "       dfu-mgr pack [OPTIONS] --version VER -o BUNDLE --internal BIN --qspi BIN\n"
	    "Split a linked nRF5340 ELF by load address into MCUboot image 0 (internal flash)\n"
	    "and image 1 (QSPI XIP, 0x10000000-0x1fffffff), and write a bundle directory:\n"
	    "manifest.json, manifest.json.sig (with --key) and the two images. Image 0 depends\n"
	    "on image 1 >= VER, so MCUboot never runs the new app against old QSPI code.\n\n"
	    "  -V, --version VER        image version, MAJOR.MINOR.REVISION+BUILD (required)\n"
	    "  -o, --output DIR         bundle directory to create (must not exist or be empty)\n"
	    "  -k, --key FILE           ECDSA P-256 private key (PEM): sign images and manifest\n"
	    "      --internal FILE      raw internal-flash payload instead of an ELF\n"
	    "      --qspi FILE          raw QSPI payload instead of an ELF\n"
	    "      --qspi-address A     load address of --qspi for the manifest (0x10120200)\n"
	    "      --product NAME       product name in the manifest (default \"app\")\n"
	    "      --release STR        release name in the manifest (default MAJOR.MINOR.REV)\n"
	    "      --vid VID --pid PID  USB ids of the target (default 0x1915:0x5300)\n"
	    "      --slot-size0 N       image 0 slot size (default 0xe0000)\n"
	    "      --slot-size1 N       image 1 slot size (default 0x370000)\n"
	    "      --header-size N      MCUboot header size (default 0x200)\n"
	    "      --align N            flash write size for the trailer (default 4)\n"
	    "      --max-sectors N      MCUboot max sectors for the trailer (default 1024, as this "
	    "product's MCUboot)\n"
	    "      --security-counter N add a SEC_CNT TLV\n"
	    "      --no-dependency      no DEPENDENCY TLVs (each image on the other at its "
	    "version)\n"
	    "      --single             only check whether the ELF could be ONE image in image\n"
	    "                           0's slot; exits 65 with the diagnosis when it spans\n"
	    "                           internal flash and QSPI (imgtool's \"exceeds requested\n"
	    "                           size\" case); writes nothing\n"
	    "  -j, --json               machine-readable output on stdout\n"
	    "  -h, --help               this help\n");
}

#define PAYLOAD_MAX (16u * 1024 * 1024)
#define ELF_MAX     (64u * 1024 * 1024)

enum {
	OPT_INTERNAL = 256,
	OPT_QSPI,
	OPT_QSPI_ADDR,
	OPT_PRODUCT,
	OPT_RELEASE,
	OPT_VID,
	OPT_PID,
	OPT_SLOT0,
	OPT_SLOT1,
	OPT_HEADER,
	OPT_ALIGN,
	OPT_SECTORS,
	OPT_SECCNT,
	OPT_NODEP,
	OPT_SINGLE,
	OPT_PAD_HEADER,
	OPT_NO_PAD_HEADER,
};

static void print_result(struct cli *cli, const char *out, const struct dfumgr_pack_result *r,
			 const struct dfumgr_pack_opts *po, const struct dfumgr_elf_split *s,
			 const char *key_path)
{
	char ver[DFUMGR_VERSION_STRING_MAX];
	const struct dfumgr_manifest *m = &r->manifest;
	struct jw w;

	dfumgr_version_format(&po->version, ver);
	if (!cli->json) {
		if (s) {
			printf("Split by load address:\n");
			for (int i = 0; i < DFUMGR_REGION_COUNT; i++) {
				const struct dfumgr_elf_payload *p = dfumgr_elf_split_payload(s, i);

				printf(
				    "  %-8s 0x%08" PRIx32 "..0x%08" PRIx32 " %8" PRIu32 " bytes:",
				    dfumgr_region_name(i), p->start, p->start + p->size, p->size);
				for (size_t k = 0; k < s->n_sections; k++)
					if ((int)s->sections[k].region == i)
						printf(" %s", s->sections[k].name);
				printf("\n");
			}
		}
		printf("Wrote bundle %s (%s %s):\n", out, m->product, m->release);
		for (size_t i = 0; i < m->n_images; i++) {
			uint32_t slot = po->slot[i].slot_size ? po->slot[i].slot_size
							      : (i ? DFUMGR_PACK_SLOT1_DEFAULT
								   : DFUMGR_PACK_SLOT0_DEFAULT);

			printf("  image %zu  %-14s %8" PRIu32 " bytes  version %s  slot 0x%" PRIx32
			       " (%.1f%% used)%s\n",
			       i, m->images[i].file, m->images[i].size, ver, slot,
			       100.0 * m->images[i].size / slot,
			       !po->no_dependency && m->n_images == 2
				   ? (i ? ", needs image 0 >= same version"
					: ", needs image 1 >= same version")
				   : "");
		}
		printf("  manifest.json%s\n",
		       key_path ? ", manifest.json.sig (images and manifest signed)"
				: " (UNSIGNED)");
		return;
	}
	jw_begin(&w, stdout);
	jw_obj(&w, NULL);
	jw_str(&w, "bundle", out);
	jw_str(&w, "version", ver);
	jw_bool(&w, "signed", key_path != NULL);
	jw_arr(&w, "images");
	for (size_t i = 0; i < m->n_images; i++) {
		jw_obj(&w, NULL);
		jw_uint(&w, "image", m->images[i].image);
		jw_str(&w, "file", m->images[i].file);
		jw_uint(&w, "size", m->images[i].size);
		jw_hex(&w, "sha256", m->images[i].sha256, DFUMGR_SHA256_SIZE);
		jw_addr(&w, "payload_start", r->payload_start[i]);
		jw_uint(&w, "payload_size", r->payload_size[i]);
		jw_end_obj(&w);
	}
	jw_end_arr(&w);
	jw_end_obj(&w);
	jw_finish(&w);
}

int cmd_pack(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"version", required_argument, NULL, 'V'},
	    {"output", required_argument, NULL, 'o'},
	    {"key", required_argument, NULL, 'k'},
	    {"internal", required_argument, NULL, OPT_INTERNAL},
	    {"qspi", required_argument, NULL, OPT_QSPI},
	    {"qspi-address", required_argument, NULL, OPT_QSPI_ADDR},
	    {"product", required_argument, NULL, OPT_PRODUCT},
	    {"release", required_argument, NULL, OPT_RELEASE},
	    {"vid", required_argument, NULL, OPT_VID},
	    {"pid", required_argument, NULL, OPT_PID},
	    {"slot-size0", required_argument, NULL, OPT_SLOT0},
	    {"slot-size1", required_argument, NULL, OPT_SLOT1},
	    {"header-size", required_argument, NULL, OPT_HEADER},
	    {"align", required_argument, NULL, OPT_ALIGN},
	    {"max-sectors", required_argument, NULL, OPT_SECTORS},
	    {"security-counter", required_argument, NULL, OPT_SECCNT},
	    {"no-dependency", no_argument, NULL, OPT_NODEP},
	    {"single", no_argument, NULL, OPT_SINGLE},
	    {"pad-header", no_argument, NULL, OPT_PAD_HEADER},
	    {"no-pad-header", no_argument, NULL, OPT_NO_PAD_HEADER},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct dfumgr_pack_opts po = {0};
	struct dfumgr_pack_result r = {0};
	struct dfumgr_elf_split *split = NULL;
	struct dfumgr_key *key = NULL;
	const char *out = NULL, *key_path = NULL, *int_path = NULL, *qspi_path = NULL;
	const char *version = NULL;
	uint8_t *buf = NULL, *qbuf = NULL;
	size_t size = 0, qsize = 0;
	uint32_t v, align = 0, sectors = 0, qspi_addr = DFUMGR_PACK_QSPI_ADDRESS_DEFAULT;
	bool single = false;
	int c, rc, ret = EXIT_SOFTWARE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "V:o:k:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'V':
			version = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'k':
			key_path = optarg;
			break;
		case OPT_INTERNAL:
			int_path = optarg;
			break;
		case OPT_QSPI:
			qspi_path = optarg;
			break;
		case OPT_QSPI_ADDR:
			if (!cli_parse_u32(optarg, UINT32_MAX, &qspi_addr))
				return cli_usage_error(cli, "pack", "bad --qspi-address '%s'",
						       optarg);
			break;
		case OPT_PRODUCT:
			po.product = optarg;
			break;
		case OPT_RELEASE:
			po.release = optarg;
			break;
		case OPT_VID:
		case OPT_PID:
			if (!cli_parse_u32(optarg, 0xffff, &v) || !v)
				return cli_usage_error(cli, "pack", "bad --%s '%s' (16-bit id)",
						       c == OPT_VID ? "vid" : "pid", optarg);
			*(c == OPT_VID ? &po.vid : &po.pid) = (uint16_t)v;
			break;
		case OPT_SLOT0:
		case OPT_SLOT1:
			if (!cli_parse_u32(optarg, UINT32_MAX, &v) || !v)
				return cli_usage_error(cli, "pack", "bad slot size '%s'", optarg);
			po.slot[c == OPT_SLOT1].slot_size = v;
			break;
		case OPT_HEADER:
			if (!cli_parse_u32(optarg, 0xffff, &v) || v < 32)
				return cli_usage_error(cli, "pack", "bad --header-size '%s'",
						       optarg);
			po.header_size = (uint16_t)v;
			break;
		case OPT_ALIGN:
			if (!cli_parse_u32(optarg, 32, &align) || !align || (align & (align - 1)))
				return cli_usage_error(
				    cli, "pack", "bad --align '%s' (1, 2, 4, 8, 16 or 32)", optarg);
			break;
		case OPT_SECTORS:
			if (!cli_parse_u32(optarg, 0xffff, &sectors) || !sectors)
				return cli_usage_error(cli, "pack", "bad --max-sectors '%s'",
						       optarg);
			break;
		case OPT_SECCNT:
			if (!cli_parse_u32(optarg, UINT32_MAX, &po.sec_cnt))
				return cli_usage_error(cli, "pack", "bad --security-counter '%s'",
						       optarg);
			po.has_sec_cnt = true;
			break;
		case OPT_NODEP:
			po.no_dependency = true;
			break;
		case OPT_SINGLE:
			single = true;
			break;
		case OPT_PAD_HEADER:
			po.header_mode = DFUMGR_HEADER_PAD;
			break;
		case OPT_NO_PAD_HEADER:
			po.header_mode = DFUMGR_HEADER_IN_PAYLOAD;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			pack_help(stdout);
			return EXIT_OK;
		default:
			return cli_usage_error(cli, "pack", "unknown option");
		}
	}
	if (!version)
		return cli_usage_error(cli, "pack", "--version VER is required (e.g. 2.3.0+4)");
	if (dfumgr_version_parse(version, &po.version) < 0)
		return cli_usage_error(cli, "pack",
				       "bad --version '%s' (MAJOR.MINOR.REVISION+BUILD, "
				       "each within 255.255.65535+4294967295)",
				       version);
	if (!out && !single)
		return cli_usage_error(cli, "pack", "-o BUNDLE is required");
	if ((int_path != NULL) != (qspi_path != NULL))
		return cli_usage_error(cli, "pack", "--internal and --qspi go together");
	if (int_path && optind != argc)
		return cli_usage_error(cli, "pack", "give either an ELF or --internal/--qspi");
	if (!int_path && optind != argc - 1)
		return cli_usage_error(cli, "pack", "give exactly one ELF file");
	if (int_path && single)
		return cli_usage_error(cli, "pack", "--single needs an ELF");
	for (int i = 0; i < 2; i++) {
		po.slot[i].align = align;
		po.slot[i].max_sectors = sectors;
	}
	if (key_path) {
		rc = dfumgr_key_load(cli->ctx, key_path, &key);
		if (rc < 0) {
			ret = cli_fail(cli, rc, "signing key");
			goto out;
		}
		if (!dfumgr_key_is_private(key)) {
			ret = cli_usage_error(cli, "pack",
					      "%s is a public key; signing needs the "
					      "private key",
					      key_path);
			goto out;
		}
		po.key = key;
	}

	if (int_path) {
		rc = dfumgr_file_read(cli->ctx, int_path, PAYLOAD_MAX, &buf, &size);
		if (rc >= 0)
			rc = dfumgr_file_read(cli->ctx, qspi_path, PAYLOAD_MAX, &qbuf, &qsize);
		if (rc < 0) {
			ret = cli_fail(cli, rc, "payload");
			goto out;
		}
		rc = dfumgr_pack_payloads(cli->ctx, buf, size, 0, qbuf, qsize, qspi_addr, &po, &r);
	} else {
		const char *elf = argv[optind];

		rc = dfumgr_file_read(cli->ctx, elf, ELF_MAX, &buf, &size);
		if (rc < 0) {
			ret = cli_fail(cli, rc, "ELF");
			goto out;
		}
		rc = dfumgr_elf_split(cli->ctx, buf, size, &split);
		if (rc < 0) {
			ret = cli_fail(cli, rc, "%s", elf);
			goto out;
		}
		if (single) {
			rc = dfumgr_pack_check_single(cli->ctx, split, &po);
			if (rc < 0) {
				ret = cli_fail(cli, rc, "%s as one image", elf);
				goto out;
			}
			if (!cli->json)
				printf("%s fits image 0's slot as one image: it does not need a "
				       "pair.\n",
				       elf);
			ret = EXIT_OK;
			goto out;
		}
		rc = dfumgr_pack_elf(cli->ctx, split, &po, &r);
	}
	if (rc < 0) {
		ret = cli_fail(cli, rc, "pack");
		goto out;
	}
	{
		rc = dfumgr_bundle_write(cli->ctx, out, &r.manifest, r.image, r.image_size, key);
	}
	if (rc < 0) {
		ret = cli_fail(cli, rc, "write bundle %s", out);
		goto out;
	}
	print_result(cli, out, &r, &po, split, key_path);
	ret = EXIT_OK;
out:
	dfumgr_pack_result_done(&r);
	dfumgr_elf_split_free(split);
	dfumgr_key_free(key);
	free(buf);
	free(qbuf);
	return ret;
}
