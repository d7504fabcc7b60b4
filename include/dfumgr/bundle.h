/* SPDX-License-Identifier: MIT */
/*
 * A bundle: a directory holding manifest.json, its detached signature manifest.json.sig, and
 * the MCUboot image files the manifest names (dfu-mgr-manifest(5)).
 *
 * Opening a bundle verifies it completely and keeps the image bytes in memory, so what was
 * verified is exactly what the update engine sends: the signature of the manifest, then for
 * each image its size and SHA-256 against the manifest, its MCUboot structure and SHA256 TLV,
 * its header version against the manifest, its MCUboot signature (when a keyring is given),
 * and the DEPENDENCY TLVs between the images of the bundle.
 */
#ifndef DFUMGR_BUNDLE_H
#define DFUMGR_BUNDLE_H

#include "dfumgr/common.h"
#include "dfumgr/crypto.h"
#include "dfumgr/image.h"
#include "dfumgr/keyring.h"
#include "dfumgr/manifest.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DFUMGR_BUNDLE_MANIFEST  "manifest.json"
#define DFUMGR_BUNDLE_SIGNATURE "manifest.json.sig"
/* Each image file at most this big: -DFUMGR_E_TOOBIG. */
#define DFUMGR_BUNDLE_IMAGE_MAX DFUMGR_MANIFEST_IMAGE_SIZE_MAX

/* Flags for dfumgr_bundle_open(). */
enum dfumgr_bundle_flags {
	/*
	 * Accept a bundle without manifest.json.sig, and allow ring == NULL (then no signature
	 * is checked at all). A signature that is present is still checked when ring is given.
	 */
	DFUMGR_BUNDLE_ALLOW_UNSIGNED = 1u << 0,
};

enum dfumgr_check_status {
	DFUMGR_CHECK_OK = 0,
	DFUMGR_CHECK_FAILED = 1,
	DFUMGR_CHECK_SKIPPED = 2, /* not applicable or not possible (detail says why) */
};

#define DFUMGR_BUNDLE_CHECKS_MAX 24

/* One line of a verification report, e.g. {"image 1 sha256", OK, "matches the manifest"}. */
struct dfumgr_bundle_check {
	char what[48];
	enum dfumgr_check_status status;
	int rc;           /* 0, or the negative error when FAILED */
	char detail[256]; /* what was found, or the error message */
};

/* What dfumgr_bundle_open() checked, in order. */
struct dfumgr_bundle_report {
	size_t n_checks;
	struct dfumgr_bundle_check checks[DFUMGR_BUNDLE_CHECKS_MAX];
};

struct dfumgr_bundle;

/*
 * Opens and verifies the bundle in directory dir. Every file is opened relative to the
 * directory with O_NOFOLLOW: a symlink (even to a valid file inside the bundle) gives
 * -DFUMGR_E_UNSAFE_PATH, any other non-regular file -DFUMGR_E_FORMAT, both naming the file.
 *
 * ring: the trusted keys for manifest.json.sig and for the images' MCUboot signatures. A
 * non-empty ring is binding: the manifest must be signed and every image must carry an MCUboot
 * signature by one of its keys (-DFUMGR_E_NOSIG otherwise), DFUMGR_BUNDLE_ALLOW_UNSIGNED or not.
 * NULL (or empty) only with DFUMGR_BUNDLE_ALLOW_UNSIGNED. flags: enum dfumgr_bundle_flags.
 * report (may be NULL) is filled in on success AND on failure, so a caller can show every check
 * that ran; after a failure of the manifest or its signature nothing else is checked, while the
 * images are still checked independently of each other.
 *
 * Errors (the first failing check's; the message names the file or field):
 * -DFUMGR_E_NOENT (no directory, manifest.json or image file), -DFUMGR_E_NOSIG
 * (manifest.json.sig missing and unsigned not allowed), -DFUMGR_E_SIGNATURE (no trusted key
 * verifies the manifest; the message lists the keys tried), -DFUMGR_E_TOOBIG, -DFUMGR_E_FORMAT,
 * -DFUMGR_E_UNSAFE_PATH, -DFUMGR_E_MISMATCH (file size, header version or an unsatisfied
 * dependency), -DFUMGR_E_HASH (file SHA-256 or SHA256 TLV), errors of dfumgr_manifest_parse(),
 * dfumgr_image_parse() and dfumgr_image_verify().
 * *ret_bundle is written only on success; free it with dfumgr_bundle_free().
 */
DFUMGR_EXPORT int dfumgr_bundle_open(struct dfumgr_ctx *ctx, const char *dir,
				     const struct dfumgr_keyring *ring, unsigned flags,
				     struct dfumgr_bundle_report *report,
				     struct dfumgr_bundle **ret_bundle);

/*
 * As dfumgr_bundle_open(), with dir relative to the directory open on dirfd (AT_FDCWD: the
 * working directory, exactly as dfumgr_bundle_open()). With a real dirfd the bundle directory
 * itself must not be a symbolic link (-DFUMGR_E_UNSAFE_PATH), so a program watching a drop
 * directory checks the entry that was dropped, and renames the same entry afterwards
 * (renameat() on the same dirfd). Messages name the file as "dir/file".
 */
DFUMGR_EXPORT int dfumgr_bundle_openat(struct dfumgr_ctx *ctx, int dirfd, const char *dir,
				       const struct dfumgr_keyring *ring, unsigned flags,
				       struct dfumgr_bundle_report *report,
				       struct dfumgr_bundle **ret_bundle);

/* Frees the bundle and its image bytes; accepts NULL; returns NULL. */
DFUMGR_EXPORT struct dfumgr_bundle *dfumgr_bundle_free(struct dfumgr_bundle *bundle);

/* The verified manifest. Owned by the bundle. */
DFUMGR_EXPORT const struct dfumgr_manifest *dfumgr_bundle_manifest(const struct dfumgr_bundle *b);

/*
 * The parsed MCUboot image number image_number, or NULL when the bundle has none. img->buf and
 * img->size are the whole verified file (what to download). Owned by the bundle.
 */
DFUMGR_EXPORT const struct dfumgr_image *dfumgr_bundle_image(const struct dfumgr_bundle *b,
							     unsigned image_number);

/*
 * The file name (without directory) of the trusted key that verified manifest.json.sig, or
 * NULL when the bundle was opened without a signature check.
 */
DFUMGR_EXPORT const char *dfumgr_bundle_signer(const struct dfumgr_bundle *b);

/* SHA-256 of the exact manifest.json bytes (for history records). */
DFUMGR_EXPORT const uint8_t *dfumgr_bundle_manifest_sha256(const struct dfumgr_bundle *b);

/*
 * Writes a new bundle: creates dir (mode 0755; an existing empty directory is used, an existing
 * non-empty one or a non-directory gives -DFUMGR_E_EXISTS), then the image files, manifest.json
 * and, when key is not NULL, manifest.json.sig, each atomically (dfumgr_file_write()).
 * images[i] / image_sizes[i] are the bytes of m->images[i]. Before writing anything, the content
 * is checked as dfumgr_bundle_open() would (sizes, SHA-256, MCUboot structure, versions,
 * dependencies), so a bundle that is written also opens.
 * On failure every file written is removed again, and dir too if this call created it.
 * Errors: those of the checks, -DFUMGR_E_EXISTS, -DFUMGR_E_IO, -DFUMGR_E_INVAL (key is public).
 */
DFUMGR_EXPORT int dfumgr_bundle_write(struct dfumgr_ctx *ctx, const char *dir,
				      const struct dfumgr_manifest *m, uint8_t *const images[],
				      const size_t image_sizes[], const struct dfumgr_key *key);

/*
 * (Re)signs the manifest.json of the bundle in dir with the private key: manifest.json.sig is
 * replaced atomically. The manifest must parse (it is not rewritten: the exact bytes are
 * signed) and the bundle's files must be the ones it names (size, SHA-256, header version,
 * dependencies, as dfumgr_bundle_open() checks): a bundle whose files do not match is refused
 * with that check's error and nothing is written. Errors: those of dfumgr_manifest_parse() and
 * dfumgr_manifest_sign(), -DFUMGR_E_NOENT, -DFUMGR_E_UNSAFE_PATH (manifest.json is a symlink),
 * -DFUMGR_E_IO.
 */
DFUMGR_EXPORT int dfumgr_bundle_sign(struct dfumgr_ctx *ctx, const char *dir,
				     const struct dfumgr_key *key);

#ifdef __cplusplus
}
#endif
#endif
