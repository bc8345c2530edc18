/* A node's identity: the Ed25519 key pair, its key file and the state
 * directory (SPEC section 1). */
#ifndef IRON_IDENTITY_H
#define IRON_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "iron/id.h"

#define IDENTITY_SEED_LEN 32

struct iron_identity {
	uint8_t seed[IDENTITY_SEED_LEN]; /* the key file's contents */
	uint8_t secret[64];		 /* libsodium's expanded secret key */
	struct iron_id id;		 /* the public key */
};

/* Derives the key pair from a seed. */
void identity_from_seed(const uint8_t seed[IDENTITY_SEED_LEN], struct iron_identity *out);

/* Makes a new random identity. */
void identity_generate(struct iron_identity *out);

/* Wipes the secret parts. */
void identity_wipe(struct iron_identity *identity);

/* Resolves the state directory: flag (--state-dir) when not NULL or empty,
 * else $IRON_STATE_DIR, $XDG_CONFIG_HOME/iron (only when absolute, as the
 * XDG rules say), $HOME/.config/iron. Trailing slashes are dropped. Writes
 * it to out. Returns 0; -ENOENT when none applies (HOME unset or empty);
 * -ENAMETOOLONG. *explicit_dir (may be NULL) is set to 1 when the directory
 * came from the flag or IRON_STATE_DIR, else 0. */
int identity_state_dir(const char *flag, char *out, size_t out_cap, int *explicit_dir);

/* "<state>/secret.key" into out. Returns 0 or -ENAMETOOLONG. */
int identity_key_path(const char *state_dir, char *out, size_t out_cap);

/* Loads a key file. Returns 0; -ENOENT when it does not exist; -ENOTDIR
 * when a directory on the path (the state directory) is not a directory;
 * -ELOOP when the file is a symbolic link (never followed); -EISDIR when it
 * is a directory; -EOWNERDEAD when another user (than the effective one)
 * owns it; -EPERM when group or others have any access to it (as ssh
 * refuses a private key); -EINVAL when it is not a regular file of exactly
 * 32 bytes; other -errno from the system. Nothing on disk is changed; the
 * seed read is wiped from the stack. */
int identity_load(const char *path, struct iron_identity *out);

/* Writes a key file atomically with mode 0600: a new temporary file in the
 * same directory (O_CREAT|O_EXCL), write, fsync, rename over path, fsync of
 * the directory. Missing directories are created with mode 0700. Returns 0;
 * -EEXIST when the file exists and overwrite is 0 (checked atomically by the
 * rename); -ELOOP when path is a symbolic link; -EISDIR when it is a
 * directory; -ENOTDIR when the state directory is not a directory; other
 * -errno. On failure the old file (if any) is untouched and no temporary
 * file is left. */
int identity_save(const char *path, const struct iron_identity *identity, int overwrite);

/* Deletes a key file (a symbolic link there is removed, never followed)
 * and syncs its directory. Returns 0, -ENOENT, -EISDIR or -errno. */
int identity_remove(const char *path);

/* Loads the key file, or creates a new identity there when it does not
 * exist. *created (may be NULL) is set to 1 when a key was created, else 0.
 * Returns 0 or the -errno of identity_load()/identity_save(). */
int identity_load_or_create(const char *path, struct iron_identity *out, int *created);

/* Decodes a secret seed given as text, as `iron key import` reads it: 64 hex
 * digits, or base64 (44 characters with padding, 43 without), surrounded
 * by optional whitespace; or the 32 raw bytes of a key file (accepted only
 * when they are not all printable text, so a truncated text key is never
 * mistaken for a raw one). text need not be NUL-terminated. Returns 0, or
 * -EINVAL (seed then unspecified). Temporary copies are wiped. */
int identity_seed_from_text(const char *text, size_t len, uint8_t seed[IDENTITY_SEED_LEN]);

/* A short explanation of a load/save error for the user (the "why" of
 * "iron: <path>: <why>"), including the fix where there is one. Never
 * NULL. */
const char *identity_strerror(int err);

#endif
