/* hs_store_fed_e2ee: what E2EE across servers keeps (tables in hs_schema_federation,
 * hs_store_federation.c): the remote users' device lists as their servers last told us
 * (a whole list from a keys query, or one device from an m.device_list_update EDU),
 * a short-lived cache of remote profiles, and the reads the outbound side needs: the
 * device_list_changes rows after a cursor and the servers that share a room with a user.
 *
 * A change to a remote user's devices writes a device_list_changes row (the E2EE
 * area's contract table) in the same transaction, so local clients' /sync
 * device_lists.changed and keys/changes see it. JSON travels as text the caller has
 * checked. Thread-safe; returns 0, 1 where "absent" is stated, -1 on a database error;
 * strings through char ** are malloc'd and the caller's. */
#ifndef HS_STORE_FED_E2EE_H
#define HS_STORE_FED_E2EE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_store.h"

/* The scan cursors (hs_store_fed_queue's fed_out_cursor) over device_list_changes and
 * over the presence table. */
#define HS_STORE_FED_DEVICE_LISTS "device_lists"
#define HS_STORE_FED_PRESENCE "presence"

/* One remote device. keys_json NULL: the device exists without keys. */
typedef struct hs_store_fed_device {
    const char *device_id, *keys_json, *display_name;
} hs_store_fed_device;

/* Devices cached per remote user. A list that would grow beyond it (an answer or an
 * m.device_list_update from its server) is not cached at all: the user's devices are
 * then asked of its server each time, as for a user never fetched. */
#define HS_STORE_FED_DEVICES_MAX 1000

/* Replaces the whole cached device list of remote `user_id` with devs[0..n) (or forgets
 * it when n > HS_STORE_FED_DEVICES_MAX). Writes a device_list_changes row when the list
 * was known before and differs (a first fetch is not a change anyone was told about).
 * Returns 1 when that row was written, 0 when not, -1. */
int hs_store_fed_devices_replace(hs_store *st, const char *user_id, const hs_store_fed_device *devs, size_t n,
                                 int64_t stream_id, int64_t now_ms);

/* Applies one m.device_list_update: the device's keys (keys_json NULL and deleted
 * false: the device without keys), or its removal when `deleted`; a device beyond
 * HS_STORE_FED_DEVICES_MAX forgets the user's cached list; always writes a
 * device_list_changes row for user_id. Returns 0 or -1. */
int hs_store_fed_device_update(hs_store *st, const char *user_id, const char *device_id, const char *keys_json,
                               const char *display_name, bool deleted, int64_t stream_id, int64_t now_ms);

/* Applies one m.device_list_update whose prev_id is prev[0..n_prev) onto the user's
 * chain (Server-Server API, "Device management"): when the user's list is cached, the
 * update is applied (as hs_store_fed_device_update, and its stream_id becomes the
 * cached one) only if it names exactly the update the cache stands at; one whose
 * stream_id is that one already was applied (a resent transaction) and changes
 * nothing. Otherwise (an update was missed, or prev_id is empty) nothing is written
 * and the answer is 2, with *at the stream_id the cache stands at (0: unknown, the
 * list came from a keys query) and *fetched_ts the time the list was last fetched
 * whole: the caller resyncs the list from its server (hs_store_fed_devices_replace) or
 * forgets it (hs_store_fed_devices_forget). A user whose list is not cached gets the
 * update as hs_store_fed_device_update does. Returns 0, 2 or -1. */
int hs_store_fed_device_update_chained(hs_store *st, const char *user_id, const char *device_id,
                                       const char *keys_json, const char *display_name, bool deleted,
                                       int64_t stream_id, const int64_t *prev, size_t n_prev, int64_t now_ms,
                                       int64_t *at, int64_t *fetched_ts);

/* Forgets remote user_id's cached device list (queries for it go to its server again)
 * and writes a device_list_changes row, so local clients ask again. Returns 0 or -1. */
int hs_store_fed_devices_forget(hs_store *st, const char *user_id);

/* Writes a device_list_changes row for remote user_id (its keys changed in a way not
 * cached here). Returns 0 or -1. */
int hs_store_fed_user_keys_changed(hs_store *st, const char *user_id);

/* Reserves `count` stream_ids for the next m.device_list_update EDUs of local user_id:
 * they are *prev + 1 .. *prev + count, where *prev is the last one reserved before (0:
 * none, the first update has an empty prev_id). The reservation is durable before any
 * EDU carrying it is queued, so an ID is never handed out twice, even across a crash
 * (a crash before queueing leaves a gap, which makes peers resync once). Returns 0 or -1. */
int hs_store_fed_device_stream_reserve(hs_store *st, const char *user_id, int64_t count, int64_t *prev);

/* The last stream_id reserved for local user_id (0: none) into *out: what
 * user/devices answers, so the next update's prev_id names what the asker holds.
 * Returns 0 or -1. */
int hs_store_fed_device_stream_last(hs_store *st, const char *user_id, int64_t *out);

/* Calls fn for each cached device of remote user_id (device order). Returns 0, 1 when
 * the user's list is not cached, -1. */
int hs_store_fed_devices_each(hs_store *st, const char *user_id,
                              void (*fn)(void *ctx, const char *device_id, const char *keys_json,
                                         const char *display_name),
                              void *ctx);

/* One device_list_changes row; strings borrowed for the callback. */
typedef struct hs_store_fed_change {
    int64_t stream_id;
    const char *user_id;
    const char *deleted_device; /* the row says this device was deleted; else NULL */
    bool cross_signing;         /* the master or self-signing key changed */
    bool local_only;            /* for local clients only (a signature by another user) */
} hs_store_fed_change;

/* Calls fn for up to `limit` device_list_changes rows with stream_id > after, in
 * order. A non-zero fn return stops with -1. Returns the number of rows visited, or -1. */
long hs_store_fed_device_changes_after(hs_store *st, int64_t after, long limit,
                                       int (*fn)(void *ctx, const hs_store_fed_change *c), void *ctx);

/* The servers (distinct, any order) with a joined member in a room where `user_id` is
 * joined: who must hear of its device changes and typing. Malloc'd array of malloc'd
 * names (hs_store_free_strings). Returns 0 or -1. */
int hs_store_fed_user_servers(hs_store *st, const char *user_id, char ***names, size_t *n);

/* 1 when user_id is joined to a room where some user of `server` (our own name: a
 * local user) is joined, 0 when not, -1. Stops at the first such room: what inbound
 * presence and signing keys are checked against, user by user. */
int hs_store_fed_shares_room_with(hs_store *st, const char *user_id, const char *server);

/* 1 when the outbound queue has backed `dest` off (a send failed and its retry time
 * is after now_ms): a request to it now would most likely wait for a timeout. 0 when
 * not, -1 on a database error. */
int hs_store_fed_dest_down(hs_store *st, const char *dest, int64_t now_ms);

/* A cached remote profile fetched at or after min_ts. Returns 0 (fields malloc'd, NULL
 * when unset), 1 when none fresh enough, -1. */
int hs_store_fed_profile_cache_get(hs_store *st, const char *user_id, int64_t min_ts, char **displayname,
                                   char **avatar_url);

/* Caches a remote profile. Returns 0 or -1. */
int hs_store_fed_profile_cache_put(hs_store *st, const char *user_id, const char *displayname,
                                   const char *avatar_url, int64_t now_ms);

#endif
