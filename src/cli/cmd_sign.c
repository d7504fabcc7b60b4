/* SPDX-License-Identifier: MIT */
/* dfu-mgr sign / verify-bundle / keygen: the bundle's trust chain. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "dfumgr/bundle.h"
#include "dfumgr/crypto.h"
#include "dfumgr/keyring.h"

int cmd_sign(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"key", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct dfumgr_key *key = NULL;
	const char *key_path = NULL;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "k:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'h':
			printf(
			    "Usage: dfu-mgr sign -k KEY BUNDLE\n"
			    "Sign (or re-sign) BUNDLE/manifest.json with the ECDSA P-256 private\n"
			    "key KEY: writes BUNDLE/manifest.json.sig atomically. The images are\n"
			    "not changed (sign them at pack time with pack --key).\n");
			return EXIT_OK;
		default:
			return cli_usage_error(cli, "sign", "unknown option");
		}
	}
	if (!key_path)
		return cli_usage_error(cli, "sign", "-k KEY is required");
	if (optind != argc - 1)
		return cli_usage_error(cli, "sign", "give exactly one BUNDLE directory");
	rc = dfumgr_key_load(cli->ctx, key_path, &key);
	if (rc < 0)
		return cli_fail(cli, rc, "signing key");
	if (!dfumgr_key_is_private(key)) {
		dfumgr_key_free(key);
		return cli_usage_error(
		    cli, "sign", "%s is a public key; signing needs the private key", key_path);
	}
	rc = dfumgr_bundle_sign(cli->ctx, argv[optind], key);
	if (rc < 0) {
		dfumgr_key_free(key);
		return cli_fail(cli, rc, "sign %s", argv[optind]);
	}
	{
		struct dfumgr_bundle *b = NULL;
		const struct dfumgr_manifest *m;

		/* say what the signature vouches for (the files were checked before signing) */
		rc = dfumgr_bundle_open(cli->ctx, argv[optind], NULL, DFUMGR_BUNDLE_ALLOW_UNSIGNED,
					NULL, &b);
		if (rc == 0) {
			m = dfumgr_bundle_manifest(b);
			printf("Signed %s/manifest.json with %s: product %s, release %s, "
			       "device %04x:%04x\n",
			       argv[optind], dfumgr_key_name(key), m->product, m->release, m->vid,
			       m->pid);
			for (size_t i = 0; i < m->n_images; i++) {
				char v[DFUMGR_VERSION_STRING_MAX], h[2 * DFUMGR_SHA256_SIZE + 1];

				for (int k = 0; k < DFUMGR_SHA256_SIZE; k++)
					snprintf(h + 2 * k, 3, "%02x", m->images[i].sha256[k]);
				printf("  image %u  %-16s %8u bytes  version %s  sha256 %s\n",
				       m->images[i].image, m->images[i].file, m->images[i].size,
				       dfumgr_version_format(&m->images[i].version, v), h);
			}
		}
		dfumgr_bundle_free(b);
	}
	dfumgr_key_free(key);
	return EXIT_OK;
}

int cmd_verify_bundle(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"key", required_argument, NULL, 'k'},      {"keys", required_argument, NULL, 'K'},
	    {"allow-unsigned", no_argument, NULL, 'U'}, {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},           {0},
	};
	struct dfumgr_bundle_report report = {0};
	unsigned flags = 0;
	struct dfumgr_keyring *ring = NULL;
	struct dfumgr_bundle *b = NULL;
	char *key_files[16], *key_dirs[16];
	size_t n_files = 0, n_dirs = 0;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "k:K:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (n_files == 16)
				return cli_usage_error(cli, "verify-bundle", "too many --key");
			key_files[n_files++] = optarg;
			break;
		case 'K':
			if (n_dirs == 16)
				return cli_usage_error(cli, "verify-bundle", "too many --keys");
			key_dirs[n_dirs++] = optarg;
			break;
		case 'U':
			flags |= DFUMGR_BUNDLE_ALLOW_UNSIGNED;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			printf(
			    "Usage: dfu-mgr verify-bundle [-k PUBKEY]... [-K KEYDIR]... BUNDLE\n"
			    "Check a bundle as `dfu-mgr update` does before touching a device:\n"
			    "the manifest signature against trusted keys (default: every key in\n"
			    "%s), every field of the manifest, each image's size and\n"
			    "SHA-256, its MCUboot structure, hash, signature and version, and\n"
			    "image 0's dependency on image 1.\n\n"
			    "  -k, --key FILE        trust this public key (repeatable)\n"
			    "  -K, --keys DIR        trust the *.pem/*.der keys in DIR\n"
			    "      --allow-unsigned  accept a bundle without manifest.json.sig\n"
			    "  -j, --json            machine-readable result\n\n"
			    "Exit status: 0 valid, 1 a signature/hash/version check failed,\n"
			    "65 malformed, 66 missing file.\n",
			    DEFAULT_KEYDIR);
			return EXIT_OK;
		default:
			return cli_usage_error(cli, "verify-bundle", "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(cli, "verify-bundle", "give exactly one BUNDLE directory");
	rc = cli_trusted_keys(cli, "verify-bundle", key_files, n_files, key_dirs, n_dirs,
			      flags & DFUMGR_BUNDLE_ALLOW_UNSIGNED, &ring);
	if (rc != EXIT_OK)
		return rc;
	rc = dfumgr_bundle_open(cli->ctx, argv[optind], dfumgr_keyring_count(ring) ? ring : NULL,
				flags, &report, &b);
	if (cli->json) {
		struct jw w;

		jw_begin(&w, stdout);
		jw_obj(&w, NULL);
		jw_str(&w, "bundle", argv[optind]);
		jw_bool(&w, "valid", rc == 0);
		if (b && dfumgr_bundle_signer(b))
			jw_str(&w, "signer", dfumgr_bundle_signer(b));
		else
			jw_null(&w, "signer");
		if (rc < 0) {
			jw_obj(&w, "error");
			jw_int(&w, "code", -rc);
			jw_str(&w, "name", dfumgr_strerror(rc));
			jw_str(&w, "message", dfumgr_ctx_errmsg(cli->ctx));
			jw_end_obj(&w);
		}
		cli_print_report(cli, &report, &w);
		jw_end_obj(&w);
		jw_finish(&w);
	} else {
		cli_print_report(cli, &report, NULL);
	}
	if (rc < 0) {
		fprintf(stderr, "%s: bundle %s: %s\n", cli->prog, argv[optind],
			dfumgr_ctx_errmsg(cli->ctx));
		rc = cli_exit_code(rc);
		goto out;
	}
	if (!cli->json)
		printf("%s: valid bundle (%s)\n", argv[optind],
		       dfumgr_bundle_signer(b) ? "manifest signature verified with a trusted key"
					       : "UNSIGNED, accepted because of --allow-unsigned");
	rc = EXIT_OK;
out:
	dfumgr_bundle_free(b);
	dfumgr_keyring_free(ring);
	return rc;
}

int cmd_keygen(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct dfumgr_key *key = NULL;
	char *priv = NULL, *pub = NULL, pub_path[4096];
	const char *out = NULL;
	int c, n, rc, ret = EXIT_SOFTWARE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'h':
			printf(
			    "Usage: dfu-mgr keygen -o KEY.pem\n"
			    "Make a new ECDSA P-256 key: the private key in KEY.pem (mode 0600)\n"
			    "and the public key in KEY.pub.pem, to install in the devices'\n"
			    "MCUboot and in the hosts' trusted key directory (%s).\n",
			    DEFAULT_KEYDIR);
			return EXIT_OK;
		default:
			return cli_usage_error(cli, "keygen", "unknown option");
		}
	}
	if (!out || optind != argc)
		return cli_usage_error(cli, "keygen", "-o KEY.pem is required");
	n = snprintf(pub_path, sizeof(pub_path), "%.*s.pub.pem",
		     (int)(strlen(out) > 4 && !strcmp(out + strlen(out) - 4, ".pem")
			       ? strlen(out) - 4
			       : strlen(out)),
		     out);
	if (n < 0 || (size_t)n >= sizeof(pub_path))
		return cli_usage_error(cli, "keygen", "path too long");
	rc = dfumgr_key_generate(cli->ctx, &key);
	if (rc >= 0)
		rc = dfumgr_key_write_pem(cli->ctx, key, true, &priv);
	if (rc >= 0)
		rc = dfumgr_key_write_pem(cli->ctx, key, false, &pub);
	if (rc < 0) {
		ret = cli_fail(cli, rc, "keygen");
		goto out;
	}
	/* both atomically (temporary file, fsync, link): never a half-written key; the private
	 * one 0600 from its creation */
	rc = dfumgr_file_write_mode(cli->ctx, out, priv, strlen(priv), false, 0600);
	if (rc < 0) {
		ret = cli_fail(cli, rc, "keygen");
		goto out;
	}
	rc = dfumgr_file_write(cli->ctx, pub_path, pub, strlen(pub), false);
	if (rc < 0) {
		unlink(out);
		ret = cli_fail(cli, rc, "keygen");
		goto out;
	}
	printf("Wrote private key %s and public key %s\n", out, pub_path);
	ret = EXIT_OK;
out:
	free(priv);
	free(pub);
	dfumgr_key_free(key);
	return ret;
}
