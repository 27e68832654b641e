/* hs_store_e2ee: storage of the end-to-end encryption material clients hand to the
 * server (device keys, one-time and fallback keys, cross-signing keys, signatures made
 * on them) and of the two streams /sync reads: the to-device inbox and the device list
 * changes. JSON travels as text the caller has already validated; this layer never
 * parses it. Multi-row writes (a key upload, a request's claims, a to-device send, a
 * cross-signing upload) are single transactions, so a failure leaves no half-written
 * batch.
 *
 * Return convention: 0 success, 1 "absent"/"nothing to do" where stated, -1 database
 * error. Strings returned through char ** are malloc'd and owned by the caller. */
#ifndef HS_STORE_E2EE_H
#define HS_STORE_E2EE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_store.h"

/* ---- device keys ------------------------------------------------------------------- */

/* The stored keys of one device into *keys_json. Returns 0, 1 when absent, -1. */
int hs_store_e2ee_device_keys_get(hs_store *st, const char *user_id, const char *device_id, char **keys_json);

/* Calls fn for each device of user_id that has keys and still exists, ordered by
 * device ID, with its display name (NULL when unset). `device_id` NULL means every
 * device, else only that one. fn returns 0 to go on, non-zero to stop (returned).
 * Returns 0, fn's stop value, or -1. */
int hs_store_e2ee_device_keys_each(hs_store *st, const char *user_id, const char *device_id,
                                   int (*fn)(void *ctx, const char *device_id, const char *keys_json,
                                             const char *display_name),
                                   void *ctx);

/* ---- one-time and fallback keys ----------------------------------------------------- */

typedef struct hs_store_otk {
    const char *algorithm;  /* "signed_curve25519" */
    const char *key_id;     /* "AAAAAQ" */
    const char *key_json;   /* canonical JSON of the key (a string or an object) */
} hs_store_otk;

/* Stores one /keys/upload of (user_id, device_id) in one transaction: the device keys
 * (canonical JSON text, or NULL for none), n_otks one-time keys and n_fallbacks
 * fallback keys (at most one per algorithm).
 *  - Device keys are written, with a device_list_changes row for user_id, only when
 *    they differ from what was stored; *keys_changed says whether they did.
 *  - A one-time key ID already stored with the same JSON is skipped (a client retrying
 *    its upload); with different JSON the whole upload is refused: returns 1 with
 *    *conflict set to that key's index, and nothing is stored.
 *  - A fallback key replaces the previous one of its algorithm and starts unused,
 *    except when it is the very key already stored (a retry keeps its used flag).
 *  - A device holds at most HS_STORE_E2EE_OTKS_PER_DEVICE one-time keys (all
 *    algorithms): an upload whose new keys would pass it returns 2, nothing stored.
 * Returns 0, 1, 2 or -1. */
/* Clients keep about 50 one-time keys on the server (half the olm account's 100);
 * without a limit one device could fill the disk 1,000 keys per upload. */
#define HS_STORE_E2EE_OTKS_PER_DEVICE 10000

int hs_store_e2ee_upload(hs_store *st, const char *user_id, const char *device_id, const char *device_keys_json,
                         const hs_store_otk *otks, size_t n_otks, const hs_store_otk *fallbacks, size_t n_fallbacks,
                         size_t *conflict, bool *keys_changed);

/* Calls fn(ctx, algorithm, count) for each algorithm the device has unclaimed
 * one-time keys of. Returns 0 or -1. */
int hs_store_e2ee_otk_counts(hs_store *st, const char *user_id, const char *device_id,
                             void (*fn)(void *ctx, const char *algorithm, int64_t count), void *ctx);

/* One key claim: which device and algorithm (in), and the key handed out (out). */
typedef struct hs_store_claim {
    const char *user_id, *device_id, *algorithm;
    char *key_id;    /* malloc'd; NULL when the device has neither a one-time nor a fallback key */
    char *key_json;  /* malloc'd; NULL likewise */
    bool fallback;   /* the key is the fallback key */
} hs_store_claim;

/* Claims one key per entry, all in one transaction: a one-time key, deleted as it is
 * taken so no two claimers ever get the same one; when the device has none left, its
 * fallback key (marked used, not deleted). The caller frees key_id and key_json.
 * Returns 0, or -1 with every output NULL and nothing claimed. */
int hs_store_e2ee_otk_claim(hs_store *st, hs_store_claim *claims, size_t n);

/* ---- cross-signing -------------------------------------------------------------------- */

/* The user's stored cross-signing key of type "master", "self_signing" or
 * "user_signing". Returns 0, 1 when absent, -1. */
int hs_store_e2ee_xsign_get(hs_store *st, const char *user_id, const char *key_type, char **key_json);

/* Stores n cross-signing keys (types[i] -> jsons[i]) of user_id in one transaction
 * and appends one device_list_changes row, marked cross_signing when a master or
 * self-signing key is among them (other servers hear of those). Returns 0 or -1. */
int hs_store_e2ee_xsign_put(hs_store *st, const char *user_id, const char *const *types, const char *const *jsons,
                            size_t n);

/* Records a signature by (signer_user, signer_key_id) on the key `target_key_id` (a
 * device ID, or the public key of a cross-signing key) of target_user (local or of
 * another server), replacing an earlier one by the same signer key, and appends a
 * device_list_changes row for `notify_user`: for a signature on one's own key one
 * that other servers hear of (marked cross_signing when the key is one's master or
 * self-signing key, so m.signing_key_update carries it; else the devices are sent
 * again), for a signature on another user's key a local_only one (never announced:
 * only the signer sees such a signature). Returns 0 or -1. */
int hs_store_e2ee_signature_put(hs_store *st, const char *target_user, const char *target_key_id,
                                const char *signer_user, const char *signer_key_id, const char *signature,
                                const char *notify_user);

/* Calls fn for each stored signature on (target_user, target_key_id) made by
 * target_user itself or by `viewer` - the signatures viewer may see. Returns 0 or -1. */
int hs_store_e2ee_signatures_each(hs_store *st, const char *target_user, const char *target_key_id,
                                  const char *viewer,
                                  void (*fn)(void *ctx, const char *signer_user, const char *signer_key_id,
                                             const char *signature),
                                  void *ctx);

/* ---- device list changes --------------------------------------------------------------- */

/* The highest device_list_changes stream_id (0 when empty) into *out. Returns 0 or -1. */
int hs_store_e2ee_device_lists_max(hs_store *st, int64_t *out);

/* The users with a device_list_changes row in (from, to] who are `viewer` or share a
 * room (current membership "join") with viewer, sorted, as a malloc'd array of
 * malloc'd strings (free with hs_store_e2ee_free_strings). A `from` before the pruned
 * horizon (hs_store_e2ee_changes_prune) gives viewer and every user sharing a room
 * with viewer, as Synapse does: rows it would need may be gone. Returns 0 or -1. */
int hs_store_e2ee_changes(hs_store *st, const char *viewer, int64_t from, int64_t to, char ***users, size_t *n);

/* The users whose membership changed, in rooms viewer is or was in, through
 * m.room.member events with stream ordering in (ev_from, ev_to], plus every member of
 * a room viewer itself joined or left in that range. Calls fn(ctx, user, shares) for
 * each of them other than viewer, sorted, with `shares` true when the user now shares
 * a room with viewer (keys/changes lists them in `changed`, the others in `left`).
 * Returns 0 or -1. */
int hs_store_e2ee_membership_changes(hs_store *st, const char *viewer, int64_t ev_from, int64_t ev_to,
                                     void (*fn)(void *ctx, const char *user_id, bool shares), void *ctx);

/* An SQL condition: the stream position `pos` (an SQL expression) lies before the
 * pruned horizon, so the rows after it are no longer all there. */
#define HS_STORE_E2EE_BEFORE_HORIZON(pos) \
    "(" pos " < coalesce((SELECT stream_id FROM device_list_horizon), 0))"

/* Rows of device_list_changes kept by the federation sender's pruning: a client whose
 * token is older than them (offline through this many key changes around it) gets
 * "everyone changed" and queries every key again. */
#define HS_STORE_E2EE_CHANGES_KEEP 100000
/* Rows removed by one prune call, so one call never holds the database long. */
#define HS_STORE_E2EE_PRUNE_BATCH 10000

/* Deletes the oldest device_list_changes rows, at most HS_STORE_E2EE_PRUNE_BATCH, all
 * with stream_id <= upto (the federation scan's cursor: rows it has not announced
 * yet stay) and leaving the newest `keep` rows (at least 1: the stream position is the
 * highest stream_id); the highest stream_id removed becomes the horizon. Returns the
 * number of rows removed, or -1. */
long hs_store_e2ee_changes_prune(hs_store *st, int64_t upto, long keep);

/* The pruned horizon (0 when nothing was ever pruned) into *out. Returns 0 or -1. */
int hs_store_e2ee_changes_horizon(hs_store *st, int64_t *out);

/* ---- remote cross-signing keys --------------------------------------------------------- */

/* Replaces the cached master and self-signing keys of a user of another server
 * (canonical JSON text checked by the caller; NULL forgets that key). Appends a
 * device_list_changes row for the user when `always_announce`, or when the keys
 * differ from cached ones (a first fetch is no change anyone was told about).
 * Returns 1 when such a row was written, 0 when not, -1. */
int hs_store_e2ee_remote_xsign_put(hs_store *st, const char *user_id, const char *master_json,
                                   const char *self_signing_json, bool always_announce);

/* The cached key ("master" or "self_signing") of a user of another server. Returns 0
 * with *key_json malloc'd, 1 when none is cached, -1. */
int hs_store_e2ee_remote_xsign_get(hs_store *st, const char *user_id, const char *key_type, char **key_json);

/* Frees an array from hs_store_e2ee_changes. NULL is allowed. */
void hs_store_e2ee_free_strings(char **v, size_t n);

/* Removes what belongs to devices of user_id that no longer exist (device keys,
 * one-time and fallback keys, to-device inbox, signatures on them). For each device
 * whose keys go, appends a device_list_changes row naming it (device_id set: other
 * servers are told it was deleted). Returns 0 when keys were removed, 1 when there was
 * nothing to announce, -1 on error. */
int hs_store_e2ee_prune_devices(hs_store *st, const char *user_id);

/* ---- to-device ------------------------------------------------------------------------ */

typedef struct hs_store_to_device {
    const char *user_id;    /* a local user */
    const char *device_id;  /* a device ID, or "*" for every device of the user */
    const char *content;    /* JSON object text */
} hs_store_to_device;

/* A device's inbox holds at most this many undelivered to-device messages: a device
 * that never syncs must not let any sender fill the disk. Messages beyond it are
 * dropped, as to-device delivery is best effort (the federation EDU path is too). */
#define HS_STORE_E2EE_INBOX_PER_DEVICE 10000

/* How many of a sender device's newest transaction IDs are remembered for retries. */
#define HS_STORE_E2EE_TXNS_PER_DEVICE 1000

/* Queues messages of event `type` from `sender` in one transaction, keyed by the
 * sender's (sender_device, txn_id): a transaction ID among the sender device's
 * HS_STORE_E2EE_TXNS_PER_DEVICE newest queues nothing and returns 1. Messages to devices that do not exist, or whose inbox already holds
 * HS_STORE_E2EE_INBOX_PER_DEVICE messages, are dropped. Sets *queued (may be
 * NULL) to the number of inbox rows written. Returns 0, 1 or -1. */
int hs_store_e2ee_to_device_send(hs_store *st, const char *sender, const char *sender_device, const char *txn_id,
                                 const char *type, const hs_store_to_device *msgs, size_t n, size_t *queued);

/* Calls fn for up to `limit` inbox rows of (user_id, device_id) with stream_id > after,
 * in stream order. Returns the number of rows visited, or -1. */
long hs_store_e2ee_inbox_each(hs_store *st, const char *user_id, const char *device_id, int64_t after, long limit,
                              void (*fn)(void *ctx, int64_t stream_id, const char *sender, const char *type,
                                         const char *content),
                              void *ctx);

/* The highest to_device_inbox stream_id ever assigned (0 when none) into *out. Returns 0 or -1. */
int hs_store_e2ee_to_device_max(hs_store *st, int64_t *out);

#endif
