/* hs_api_keys_todevice: PUT /sendToDevice/{eventType}/{txnId} (spec v1.12,
 * "Send-to-Device messaging"). The messages of one request are queued in one store
 * transaction together with the sender device's transaction ID, so a retried request
 * (same device, same txnId) queues nothing the second time and still answers 200.
 * A device ID of "*" means every device the recipient has at that moment.
 *
 * Messages to users of other servers go out through the federation queue as one
 * m.direct_to_device EDU per server (hs_fed_e2ee), only the first time a transaction
 * ID is seen. */
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_keys_internal.h"
#include "server-core/hs_fed_e2ee.h"
#include "server-core/hs_log.h"
#include "server-core/hs_store_e2ee.h"
#include "server-core/hs_clock.h"

#define EVENT_TYPE_MAX 255
#define TXN_ID_MAX 255
#define MESSAGES_MAX 10000
/* One message's content (compact JSON): kept in the inbox until the device syncs and
 * copied to every device of a "*"; an event is at most 65536 bytes too. */
#define CONTENT_MAX 65536

/* Validates body.messages and counts its (user, device) pairs. Returns 0, or -1 after
 * a 400. */
static int check_messages(const json_t *messages, size_t *n, hs_response *resp)
{
    *n = 0;
    if (!json_is_object(messages)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'messages' must be an object");
        return -1;
    }
    const char *user_id, *device_id;
    json_t *devs, *content;
    json_object_foreach((json_t *)messages, user_id, devs) {
        if (user_id[0] != '@' || !strchr(user_id, ':') || !json_is_object(devs)) {
            hs_response_error(resp, 400, "M_INVALID_PARAM",
                              "messages['%.100s'] must be a user ID mapping device IDs to contents", user_id);
            return -1;
        }
        json_object_foreach(devs, device_id, content) {
            if (!json_is_object(content) || json_dumpb(content, NULL, 0, JSON_COMPACT) > CONTENT_MAX) {
                hs_response_error(resp, 400, "M_INVALID_PARAM",
                                  "messages['%.100s']['%.100s'] must be an object of at most %d bytes", user_id,
                                  device_id, CONTENT_MAX);
                return -1;
            }
            (*n)++;
        }
    }
    if (*n > MESSAGES_MAX) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "at most %d messages per request", MESSAGES_MAX);
        return -1;
    }
    return 0;
}

void hs_keys_send_to_device(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    const char *type = hs_request_param(req, "eventType"), *txn_id = hs_request_param(req, "txnId");
    if (strlen(type) > EVENT_TYPE_MAX || strlen(txn_id) > TXN_ID_MAX || !type[0] || !txn_id[0]) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "event type and transaction ID must be 1 to %d bytes",
                          TXN_ID_MAX);
        return;
    }
    json_t *body = hs_keys_body(req, resp);
    if (!body) return;
    json_t *messages = json_object_get(body, "messages");
    size_t n;
    if (check_messages(messages, &n, resp) != 0) {
        json_decref(body);
        return;
    }
    hs_store_to_device *msgs = calloc(n ? n : 1, sizeof *msgs);
    char **texts = calloc(n ? n : 1, sizeof *texts);
    size_t m = 0;
    bool ok = msgs && texts;
    json_t *remote = json_object();
    const char *user_id, *device_id;
    json_t *devs, *content;
    json_object_foreach(messages, user_id, devs) {
        if (!ok) break;
        if (!hs_keys_is_local(srv, user_id)) {
            json_object_set(remote, user_id, devs);
            continue;
        }
        json_object_foreach(devs, device_id, content) {
            texts[m] = json_dumps(content, JSON_COMPACT);
            if (!texts[m]) {
                ok = false;
                break;
            }
            msgs[m] = (hs_store_to_device){user_id, device_id, texts[m]};
            m++;
        }
    }
    size_t queued = 0;
    int rc = ok ? hs_store_e2ee_to_device_send(srv->store, who.user_id, who.device_id, txn_id, type, msgs, m, &queued)
                : -1;
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "could not queue the messages");
    } else {
        if (json_object_size(remote) && rc == 0 && hs_fed_e2ee_to_device_out(srv, who.user_id, type, remote) < 0)
            hs_warn("keys", "sendToDevice %s from %s: could not queue the messages to other servers", type,
                    who.user_id);
        if (queued) hs_notifier_wake(srv->notifier);
        hs_response_json(resp, 200, json_object());
    }
    for (size_t i = 0; i < m; i++) free(texts[i]);
    free(texts);
    free(msgs);
    json_decref(remote);
    json_decref(body);
}
