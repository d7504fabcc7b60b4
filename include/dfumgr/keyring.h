/* SPDX-License-Identifier: MIT */
/*
 * A keyring: the set of trusted ECDSA P-256 public keys that manifest signatures (and MCUboot
 * image signatures) are checked against. Loaded from a key directory (every regular *.pem and
 * *.der file in it) or from single key files. A keyring is used by one thread at a time.
 */
#ifndef DFUMGR_KEYRING_H
#define DFUMGR_KEYRING_H

#include "dfumgr/common.h"
#include "dfumgr/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* More keys than this in one keyring: -DFUMGR_E_TOOBIG. */
#define DFUMGR_KEYRING_MAX 64

struct dfumgr_keyring;

/* A new empty keyring, or NULL when out of memory. Free with dfumgr_keyring_free(). */
DFUMGR_EXPORT struct dfumgr_keyring *dfumgr_keyring_new(void);
/* Frees the keyring and its keys; accepts NULL; returns NULL. */
DFUMGR_EXPORT struct dfumgr_keyring *dfumgr_keyring_free(struct dfumgr_keyring *ring);

/*
 * Adds a key. The keyring takes ownership of key on success only (on failure the caller still
 * owns it). Errors: -DFUMGR_E_INVAL, -DFUMGR_E_TOOBIG, -DFUMGR_E_NOMEM.
 */
DFUMGR_EXPORT int dfumgr_keyring_add_key(struct dfumgr_ctx *ctx, struct dfumgr_keyring *ring,
					 struct dfumgr_key *key);

/*
 * Loads one PEM or DER key file and adds it. Errors are those of dfumgr_key_load() (the message
 * names the file) and of dfumgr_keyring_add_key().
 */
DFUMGR_EXPORT int dfumgr_keyring_add_file(struct dfumgr_ctx *ctx, struct dfumgr_keyring *ring,
					  const char *path);

/*
 * Adds every regular file named *.pem or *.der in dir, in name order; other entries (symlinks,
 * subdirectories, other names) are skipped. Returns the number of keys added (> 0).
 * Errors: -DFUMGR_E_NOENT (dir missing or not a directory), -DFUMGR_E_NOENT also when dir holds
 * no key file (the message names dir), the error of the first bad key file (the message names
 * it; no key of dir is added then), -DFUMGR_E_TOOBIG, -DFUMGR_E_IO.
 */
DFUMGR_EXPORT int dfumgr_keyring_add_dir(struct dfumgr_ctx *ctx, struct dfumgr_keyring *ring,
					 const char *dir);

/*
 * A new keyring from path: a key directory (see dfumgr_keyring_add_dir()) or a single key file.
 * *ret_ring is written only on success; free it with dfumgr_keyring_free().
 */
DFUMGR_EXPORT int dfumgr_keyring_load(struct dfumgr_ctx *ctx, const char *path,
				      struct dfumgr_keyring **ret_ring);

/* Number of keys; 0 for NULL. */
DFUMGR_EXPORT size_t dfumgr_keyring_count(const struct dfumgr_keyring *ring);
/* The key at index (< count), or NULL. Owned by the keyring. */
DFUMGR_EXPORT const struct dfumgr_key *dfumgr_keyring_key(const struct dfumgr_keyring *ring,
							  size_t index);
/*
 * The keys as the array dfumgr_image_verify() takes (dfumgr_keyring_count() entries); NULL for an
 * empty or NULL ring. Owned by the keyring; valid until it changes or is freed.
 */
DFUMGR_EXPORT struct dfumgr_key *const *dfumgr_keyring_keys(const struct dfumgr_keyring *ring);

/*
 * Verifies a DER ECDSA P-256 signature over digest with each key in turn; the index of the
 * first key that verifies goes to *ret_key_index (may be NULL).
 * Errors: -DFUMGR_E_SIGNATURE (no key verifies; the message names the keys tried),
 * -DFUMGR_E_NOSIG (empty keyring), -DFUMGR_E_INVAL.
 */
DFUMGR_EXPORT int dfumgr_keyring_verify(struct dfumgr_ctx *ctx, const struct dfumgr_keyring *ring,
					const uint8_t digest[static DFUMGR_SHA256_SIZE],
					const uint8_t *sig, size_t sig_len, size_t *ret_key_index);

/* The default directory of trusted public keys. */
#define DFUMGR_DEFAULT_KEYDIR "/etc/dfu-mgr/keys.d"

/* Where trusted keys come from. Start from DFUMGR_TRUST_OPTS_INIT (it sets size). */
struct dfumgr_trust_opts {
	size_t size;                  /* sizeof(struct dfumgr_trust_opts) */
	const char *const *key_files; /* public (or private) key files */
	size_t n_key_files;
	const char *const *key_dirs; /* directories of *.pem / *.der keys */
	size_t n_key_dirs;
	const char
	    *default_dir;    /* used when no file or dir is given; NULL: DFUMGR_DEFAULT_KEYDIR */
	bool allow_unsigned; /* no keys at all is acceptable (an empty ring) */
};
#define DFUMGR_TRUST_OPTS_INIT                                                                     \
	{                                                                                          \
		.size = sizeof(struct dfumgr_trust_opts)                                           \
	}

/*
 * The trust policy of every command that installs or vouches for a bundle: the given key files
 * and directories, else the default directory when it exists; with none of those an empty ring
 * only when allow_unsigned (else -DFUMGR_E_NOSIG naming the default directory). A non-empty
 * ring is binding: dfumgr_bundle_open() then requires the manifest signature and an MCUboot
 * signature on every image, whatever its flags say (no per-run bypass).
 * *ret_ring: free with dfumgr_keyring_free(). Errors: those of loading the keys.
 */
DFUMGR_EXPORT int dfumgr_trust_load(struct dfumgr_ctx *ctx, const struct dfumgr_trust_opts *o,
				    struct dfumgr_keyring **ret_ring);

#ifdef __cplusplus
}
#endif
#endif
