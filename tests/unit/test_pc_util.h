/* test_pc_util.h: small helpers shared by the Pinecone unit tests (hex, file loading,
 * the fixture keys). Header-only so each test file stays self-contained. */
#ifndef TEST_PC_UTIL_H
#define TEST_PC_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_handshake.h"

#define PC_FIXTURES PG_SOURCE_DIR "/tests/fixtures/pinecone/"

/* Decodes hex (spaces ignored) into out; returns the byte count or -1. */
static inline long tpc_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        int v;
        if (*p == ' ')
            continue;
        if (*p >= '0' && *p <= '9') v = *p - '0';
        else if (*p >= 'a' && *p <= 'f') v = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F') v = *p - 'A' + 10;
        else return -1;
        if (hi < 0) {
            hi = v;
        } else {
            if (n >= cap)
                return -1;
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return hi < 0 ? (long)n : -1;
}

static inline void tpc_hex(const uint8_t *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Reads a whole file; returns malloc'd bytes (caller frees) and its size, or NULL. */
static inline uint8_t *tpc_load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Fixture node keys: seed = byte repeated 32 times (A=01, B=02, C=03). */
static inline void tpc_keys(uint8_t seed_byte, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[32];
    memset(seed, seed_byte, 32);
    pc_keypair_from_seed(seed, pk, sk);
}

#endif
