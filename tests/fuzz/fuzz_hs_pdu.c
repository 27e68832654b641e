/* Fuzz target: arbitrary bytes through the strict canonical JSON parser, PDU validation
 * under a room version picked by the first byte, then everything the event core does
 * with an accepted PDU (canonical encoding, content hash, event ID, redaction). Nothing
 * may crash, leak or trip a sanitizer; accepted input must re-encode to bytes that parse
 * back to the same canonical form. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_event_id.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_redact.h"
#include "server-core/hs_room_version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const hs_room_version *const *all;
    int n = hs_room_version_all(&all);
    const hs_room_version *rv = all[data[0] % n];
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    hs_err err;

    json_t *v = hs_cjson_parse(buf, len, HS_PDU_MAX_BYTES, HS_CJSON_ANY | HS_CJSON_LAX_INTS, &err);
    if (v) {
        size_t clen;
        char *canon = hs_cjson_encode(v, HS_CJSON_LAX_INTS, &clen, &err);
        if (!canon) abort(); /* anything the parser accepts must be encodable */
        json_t *again = hs_cjson_parse(canon, clen, clen, HS_CJSON_ANY | HS_CJSON_LAX_INTS, &err);
        if (!again) abort();
        char *canon2 = hs_cjson_encode(again, HS_CJSON_LAX_INTS, NULL, &err);
        if (!canon2 || strcmp(canon, canon2) != 0) abort(); /* canonical form is a fixed point */
        free(canon2);
        free(canon);
        json_decref(again);
        json_decref(v);
    }

    json_t *pdu = hs_pdu_parse(buf, len, rv, &err);
    if (!pdu) return 0;
    uint8_t h[32];
    hs_event_content_hash(pdu, h, &err);
    hs_event_check_content_hash(pdu, &err);
    char *id = hs_event_id_compute(pdu, rv, &err);
    if (rv->event_id_format != HS_EVENT_ID_V1 && (!id || !hs_is_valid_event_id(id, rv))) abort();
    free(id);
    json_t *red = hs_redact(pdu, rv);
    if (!red) abort();
    json_decref(red);
    for (size_t i = 0; i < hs_pdu_prev_event_count(pdu); i++) (void)hs_pdu_prev_event(pdu, i);
    json_decref(pdu);
    return 0;
}
