/* hs_fed_edu: the EDU checks declared in hs_fed_edu.h. */
#include "server-core/hs_fed_edu.h"

#include <stdlib.h>
#include <string.h>

#include "server-core/hs_e2ee.h"
#include "server-core/hs_pdu.h"

#define TYPING_DEFAULT_TIMEOUT_MS 30000

/* A user ID of `origin`. */
static bool of_origin(const char *user_id, const char *origin)
{
    const char *server = user_id && hs_is_valid_user_id(user_id) ? hs_id_server_name(user_id) : NULL;
    return server && strcmp(server, origin) == 0;
}

/* A non-empty string of at most HS_FED_EDU_ID_MAX bytes, or NULL. */
static const char *short_string(const json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || !s[0] || json_string_length(v) > HS_FED_EDU_ID_MAX || strlen(s) != json_string_length(v)) return NULL;
    return s;
}

int hs_fed_edu_device_list_check(const json_t *content, const char *origin, hs_fed_edu_device_list *out, hs_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(content)) return hs_err_set(err, "m.device_list_update: content is not an object");
    out->user_id = json_string_value(json_object_get(content, "user_id"));
    if (!of_origin(out->user_id, origin))
        return hs_err_set(err, "m.device_list_update: user_id is not a user of %.100s", origin);
    if (!(out->device_id = short_string(json_object_get(content, "device_id"))))
        return hs_err_set(err, "m.device_list_update: device_id must be a string of 1 to %d bytes", HS_FED_EDU_ID_MAX);
    const json_t *stream = json_object_get(content, "stream_id");
    if (!json_is_integer(stream)) return hs_err_set(err, "m.device_list_update: stream_id must be an integer");
    out->stream_id = json_integer_value(stream);
    const json_t *prev = json_object_get(content, "prev_id");
    size_t i;
    const json_t *p;
    if (prev && !json_is_array(prev)) return hs_err_set(err, "m.device_list_update: prev_id must be a list");
    json_array_foreach(prev, i, p) {
        if (!json_is_integer(p)) return hs_err_set(err, "m.device_list_update: prev_id must hold integers");
    }
    const json_t *deleted = json_object_get(content, "deleted");
    if (deleted && !json_is_boolean(deleted)) return hs_err_set(err, "m.device_list_update: deleted must be a boolean");
    out->deleted = json_is_true(deleted);
    const json_t *name = json_object_get(content, "device_display_name");
    if (name && !json_is_null(name)) {
        if (!json_is_string(name) || json_string_length(name) > HS_FED_EDU_ID_MAX)
            return hs_err_set(err, "m.device_list_update: device_display_name must be a short string");
        out->display_name = json_string_value(name);
    }
    const json_t *keys = json_object_get(content, "keys");
    if (keys && !json_is_null(keys) && !out->deleted) {
        if (!json_is_object(keys)) return hs_err_set(err, "m.device_list_update: keys must be an object");
        const char *ku = json_string_value(json_object_get(keys, "user_id"));
        const char *kd = json_string_value(json_object_get(keys, "device_id"));
        if (!ku || !kd || strcmp(ku, out->user_id) != 0 || strcmp(kd, out->device_id) != 0)
            return hs_err_set(err, "m.device_list_update: keys must name the same user and device");
        out->keys = keys;
    }
    return 0;
}

int hs_fed_edu_to_device_check(const json_t *content, const char *origin, hs_fed_edu_to_device *out, hs_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(content)) return hs_err_set(err, "m.direct_to_device: content is not an object");
    out->sender = json_string_value(json_object_get(content, "sender"));
    if (!of_origin(out->sender, origin))
        return hs_err_set(err, "m.direct_to_device: sender is not a user of %.100s", origin);
    if (!(out->type = short_string(json_object_get(content, "type"))))
        return hs_err_set(err, "m.direct_to_device: type must be a string of 1 to %d bytes", HS_FED_EDU_ID_MAX);
    if (!(out->message_id = short_string(json_object_get(content, "message_id"))))
        return hs_err_set(err, "m.direct_to_device: message_id must be a string of 1 to %d bytes", HS_FED_EDU_ID_MAX);
    const json_t *messages = json_object_get(content, "messages");
    if (!json_is_object(messages)) return hs_err_set(err, "m.direct_to_device: messages must be an object");
    const char *user_id, *device_id;
    const json_t *devs, *msg;
    json_object_foreach((json_t *)messages, user_id, devs) {
        if (!hs_is_valid_user_id(user_id) || !json_is_object(devs))
            return hs_err_set(err, "m.direct_to_device: messages must map user IDs to device maps");
        json_object_foreach((json_t *)devs, device_id, msg) {
            if (!device_id[0] || strlen(device_id) > HS_FED_EDU_ID_MAX || !json_is_object(msg))
                return hs_err_set(err, "m.direct_to_device: each device must have a message object");
            if (++out->n_messages > HS_FED_EDU_TO_DEVICE_MAX)
                return hs_err_set(err, "m.direct_to_device: more than %d messages", HS_FED_EDU_TO_DEVICE_MAX);
        }
    }
    out->messages = messages;
    return 0;
}

int hs_fed_edu_typing_check(const json_t *content, const char *origin, hs_fed_edu_typing *out, hs_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(content)) return hs_err_set(err, "m.typing: content is not an object");
    out->room_id = json_string_value(json_object_get(content, "room_id"));
    if (!out->room_id || !hs_is_valid_room_id(out->room_id, NULL))
        return hs_err_set(err, "m.typing: room_id is not a room ID");
    out->user_id = json_string_value(json_object_get(content, "user_id"));
    if (!of_origin(out->user_id, origin)) return hs_err_set(err, "m.typing: user_id is not a user of %.100s", origin);
    const json_t *typing = json_object_get(content, "typing");
    if (!json_is_boolean(typing)) return hs_err_set(err, "m.typing: typing must be a boolean");
    out->typing = json_is_true(typing);
    const json_t *timeout = json_object_get(content, "timeout");
    out->timeout_ms = TYPING_DEFAULT_TIMEOUT_MS;
    if (timeout) {
        if (!json_is_integer(timeout) || json_integer_value(timeout) < 0)
            return hs_err_set(err, "m.typing: timeout must be a non-negative integer");
        out->timeout_ms = json_integer_value(timeout);
    }
    return 0;
}

static bool is_presence_state(const char *s)
{
    return s && (strcmp(s, "online") == 0 || strcmp(s, "unavailable") == 0 || strcmp(s, "offline") == 0);
}

long hs_fed_edu_presence_check(const json_t *content, const char *origin, hs_fed_edu_presence *out, size_t cap,
                               hs_err *err)
{
    if (!json_is_object(content)) return hs_err_set(err, "m.presence: content is not an object");
    const json_t *push = json_object_get(content, "push");
    if (!json_is_array(push) || json_array_size(push) == 0 || json_array_size(push) > HS_FED_EDU_PRESENCE_MAX)
        return hs_err_set(err, "m.presence: push must be a list of 1 to %d updates", HS_FED_EDU_PRESENCE_MAX);
    size_t i;
    const json_t *e;
    long n = 0;
    json_array_foreach(push, i, e) {
        if (!json_is_object(e)) return hs_err_set(err, "m.presence: push[%zu] is not an object", i);
        hs_fed_edu_presence p = {0};
        p.user_id = json_string_value(json_object_get(e, "user_id"));
        if (!of_origin(p.user_id, origin))
            return hs_err_set(err, "m.presence: push[%zu].user_id is not a user of %.100s", i, origin);
        p.presence = json_string_value(json_object_get(e, "presence"));
        if (!is_presence_state(p.presence))
            return hs_err_set(err, "m.presence: push[%zu].presence must be online, unavailable or offline", i);
        const json_t *ago = json_object_get(e, "last_active_ago");
        if (!json_is_integer(ago) || json_integer_value(ago) < 0)
            return hs_err_set(err, "m.presence: push[%zu].last_active_ago must be a non-negative integer", i);
        p.last_active_ago = json_integer_value(ago);
        const json_t *msg = json_object_get(e, "status_msg");
        if (msg && !json_is_null(msg)) {
            if (!json_is_string(msg) || json_string_length(msg) > HS_FED_EDU_STATUS_MSG_MAX ||
                strlen(json_string_value(msg)) != json_string_length(msg))
                return hs_err_set(err, "m.presence: push[%zu].status_msg must be a string of at most %d bytes", i,
                                  HS_FED_EDU_STATUS_MSG_MAX);
            p.status_msg = json_string_value(msg);
        }
        const json_t *active = json_object_get(e, "currently_active");
        if (active && !json_is_boolean(active))
            return hs_err_set(err, "m.presence: push[%zu].currently_active must be a boolean", i);
        p.currently_active = json_is_true(active);
        if ((size_t)n < cap) out[n++] = p;
    }
    return n;
}

/* A cross-signing key of `usage` for user_id within the size bound; fills pub/b64. */
static int cross_key(const json_t *key, const char *user_id, const char *usage, uint8_t pub[32], char *b64,
                     hs_err *err)
{
    hs_err why;
    if (!json_is_object(key) || hs_e2ee_check_cross_key(key, user_id, usage, pub, b64, &why) != 0)
        return hs_err_set(err, "m.signing_key_update: the %s key: %s", usage,
                          json_is_object(key) ? why.msg : "not an object");
    size_t len;
    char *text = hs_cjson_encode(key, 0, &len, &why);
    if (!text) return hs_err_set(err, "m.signing_key_update: the %s key: %s", usage, why.msg);
    free(text);
    if (len > HS_E2EE_KEY_JSON_MAX)
        return hs_err_set(err, "m.signing_key_update: the %s key is longer than %d bytes", usage,
                          HS_E2EE_KEY_JSON_MAX);
    return 0;
}

int hs_fed_edu_signing_key_check(const json_t *content, const char *origin, hs_fed_edu_signing_key *out, hs_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(content)) return hs_err_set(err, "m.signing_key_update: content is not an object");
    out->user_id = json_string_value(json_object_get(content, "user_id"));
    if (!of_origin(out->user_id, origin))
        return hs_err_set(err, "m.signing_key_update: user_id is not a user of %.100s", origin);
    const json_t *master = json_object_get(content, "master_key");
    const json_t *ssk = json_object_get(content, "self_signing_key");
    if (json_is_null(master)) master = NULL;
    if (json_is_null(ssk)) ssk = NULL;
    if (!master && !ssk) return hs_err_set(err, "m.signing_key_update: neither master_key nor self_signing_key");
    uint8_t mpub[32], spub[32];
    char mb64[HS_E2EE_KEY_ID_MAX], sb64[HS_E2EE_KEY_ID_MAX];
    if (master && cross_key(master, out->user_id, "master", mpub, mb64, err) != 0) return -1;
    if (ssk && cross_key(ssk, out->user_id, "self_signing", spub, sb64, err) != 0) return -1;
    hs_err why;
    if (master && ssk && hs_e2ee_verify(ssk, out->user_id, mb64, mpub, &why) != 0)
        return hs_err_set(err, "m.signing_key_update: the self_signing key is not signed by the master key: %s",
                          why.msg);
    out->master_key = master;
    out->self_signing_key = ssk;
    return 0;
}
