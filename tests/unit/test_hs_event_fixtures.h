/* Helpers shared by the hs_ event-core tests: read a fixture file, iterate the lines of
 * the Synapse room-*.jsonl fixtures, load the recorded key server responses. Header-only
 * (static functions) so it needs no build rule. */
#ifndef TEST_HS_EVENT_FIXTURES_H
#define TEST_HS_EVENT_FIXTURES_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_signing.h"

#define HS_FIX_DIR PG_SOURCE_DIR "/tests/fixtures/synapse/"

static const char *const hs_fix_rooms[] = {
    HS_FIX_DIR "room-1-v10.jsonl",
    HS_FIX_DIR "room-2-v9.jsonl",
    HS_FIX_DIR "room-3-v6.jsonl",
};
#define HS_FIX_N_ROOMS 3

static inline char *hs_fix_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

/* Loads every line of a .jsonl fixture into a JSON array (parsed by our strict parser,
 * with hs_cjson flags, e.g. HS_CJSON_LAX_INTS for the crafted file's 2^53). */
static inline json_t *hs_fix_lines_flags(const char *path, unsigned flags)
{
    char *buf = hs_fix_read(path, NULL);
    json_t *arr = json_array();
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        hs_err err = {{0}};
        json_t *v = hs_cjson_parse(line, strlen(line), 1 << 20, flags, &err);
        cr_assert_not_null(v, "%s: %s", path, err.msg);
        json_array_append_new(arr, v);
    }
    free(buf);
    cr_assert_gt(json_array_size(arr), 0);
    return arr;
}

static inline json_t *hs_fix_lines(const char *path)
{
    return hs_fix_lines_flags(path, 0);
}

/* A keyring with both recorded servers' keys (their self-signatures checked). */
static inline void hs_fix_keyring(hs_keyring *kr)
{
    static const char *const files[] = {HS_FIX_DIR "keys-localhost_8448.json", HS_FIX_DIR "keys-localhost_8449.json"};
    hs_keyring_init(kr);
    for (int i = 0; i < 2; i++) {
        size_t len;
        char *buf = hs_fix_read(files[i], &len);
        hs_err err = {{0}};
        json_t *doc = hs_cjson_parse(buf, len, 1 << 16, 0, &err);
        cr_assert_not_null(doc, "%s", err.msg);
        cr_assert_eq(hs_keyring_add_server_keys(kr, doc, &err), 0, "%s: %s", files[i], err.msg);
        json_decref(doc);
        free(buf);
    }
}

#endif
