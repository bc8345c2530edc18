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
	uint8_t secret[64];              /* libsodium's expanded secret key */
	struct iron_id id;               /* the public key */
};

/* Derives the key pair from a seed. */
void identity_from_seed(const uint8_t seed[IDENTITY_SEED_LEN], struct iron_identity *out);

/* Makes a new random identity. */
void identity_generate(struct iron_identity *out);

/* Wipes the secret parts. */
void identity_wipe(struct iron_identity *identity);

/* Resolves the state directory: flag (--state-dir) when not NULL, else
 * $IRON_STATE_DIR, $XDG_CONFIG_HOME/iron, $HOME/.config/iron. Writes it to
 * out. Returns 0; -ENOENT when none applies (HOME unset); -ENAMETOOLONG.
 * *explicit_dir (may be NULL) is set when the directory came from the flag
 * or IRON_STATE_DIR. */
int identity_state_dir(const char *flag, char *out, size_t out_cap, int *explicit_dir);

/* "<state>/secret.key" into out. Returns 0 or -ENAMETOOLONG. */
int identity_key_path(const char *state_dir, char *out, size_t out_cap);

/* Loads a key file. Returns 0; -ENOENT when it does not exist; -EINVAL when
 * its length is not 32 bytes; -EPERM when it is readable by group or others;
 * -ELOOP when it is a symbolic link; other -errno from the system. Nothing
 * on disk is changed. */
int identity_load(const char *path, struct iron_identity *out);

/* Writes a key file atomically (temporary name, fsync, rename) with mode
 * 0600, creating the directory with mode 0700 when missing. Refuses with
 * -EEXIST when the file exists and overwrite is 0. Returns 0 or -errno. */
int identity_save(const char *path, const struct iron_identity *identity, int overwrite);

/* Loads the key file, or creates a new identity there when it does not
 * exist. *created (may be NULL) is set to 1 when a key was created. Returns 0
 * or the -errno of identity_load()/identity_save(). */
int identity_load_or_create(const char *path, struct iron_identity *out, int *created);

/* A one-line explanation of a load/save error for the user, including the
 * fix where there is one. */
const char *identity_strerror(int err);

#endif
