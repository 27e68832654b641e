/* Fuzz target for hs_multipart: the first line of the input is the Content-Type, the
 * rest the body of a federation media answer. Any input must give 0 or -1, never a
 * crash or a read outside the buffer; a success must point inside it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 200 ? size : 200);
    if (!nl) return 0;
    size_t tlen = (size_t)(nl - data);
    char type[201];
    memcpy(type, data, tlen);
    type[tlen] = '\0';
    size_t blen = size - tlen - 1;
    /* A copy of exactly blen bytes, so ASan sees any read past the end. */
    char *body = malloc(blen ? blen : 1);
    if (!body) return 0;
    memcpy(body, nl + 1, blen);
    hs_multipart_media m;
    char err[128];
    if (hs_multipart_parse(type, body, blen, 4096, &m, err, sizeof err) == 0) {
        if (m.data < body || m.data + m.data_len > body + blen || m.data_len > 4096) abort();
        char name[256];
        hs_multipart_disposition_name(m.disposition, name, sizeof name);
    }
    free(body);
    return 0;
}
