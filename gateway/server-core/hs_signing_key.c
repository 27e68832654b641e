/* hs_signing_key: parsing is strict about the algorithm and the seed length because a
 * truncated or foreign key file would otherwise produce a working but different identity. */
#include "server-core/hs_signing_key.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server-core/hs_base64.h"

static int valid_version(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 50) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 1;
}

int hs_signing_key_from_seed(hs_signing_key *key, const char *version, const uint8_t seed[32])
{
    if (!valid_version(version)) return -1;
    memset(key, 0, sizeof *key);
    snprintf(key->key_id, sizeof key->key_id, "ed25519:%s", version);
    memcpy(key->seed, seed, 32);
    crypto_sign_seed_keypair(key->public_key, key->secret_key, seed);
    return 0;
}

int hs_signing_key_generate(hs_signing_key *key)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    if (sodium_init() < 0) return -1;
    char version[7] = "a_";
    for (int i = 2; i < 6; i++) version[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
    version[6] = '\0';
    uint8_t seed[32];
    randombytes_buf(seed, sizeof seed);
    int rc = hs_signing_key_from_seed(key, version, seed);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

int hs_signing_key_parse(const char *text, hs_signing_key *key, char *err, size_t errlen)
{
    char alg[16], version[64], b64[128];
    char extra;
    if (sscanf(text, "%15s %63s %127s %c", alg, version, b64, &extra) != 3) {
        snprintf(err, errlen, "expected one line 'ed25519 <version> <base64 seed>'");
        return -1;
    }
    if (strcmp(alg, "ed25519") != 0) {
        snprintf(err, errlen, "unsupported key algorithm '%s' (only ed25519)", alg);
        return -1;
    }
    uint8_t seed[64];
    if (hs_b64_decode(b64, seed, sizeof seed) != 32) {
        snprintf(err, errlen, "the seed must be 32 bytes of base64");
        return -1;
    }
    if (hs_signing_key_from_seed(key, version, seed) != 0) {
        snprintf(err, errlen, "key version '%s' must match [a-zA-Z0-9_]{1,50}", version);
        return -1;
    }
    sodium_memzero(seed, sizeof seed);
    return 0;
}

int hs_signing_key_load(const char *path, hs_signing_key *key, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[512];
    char *got = fgets(line, sizeof line, f);
    fclose(f);
    if (!got) {
        snprintf(err, errlen, "%s: empty key file", path);
        return -1;
    }
    char why[200];
    if (hs_signing_key_parse(line, key, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    return 0;
}

int hs_signing_key_format(const hs_signing_key *key, char *out, size_t len)
{
    char seed[44];
    sodium_bin2base64(seed, sizeof seed, key->seed, 32, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    int n = snprintf(out, len, "ed25519 %s %s\n", key->key_id + strlen("ed25519:"), seed);
    sodium_memzero(seed, sizeof seed);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

int hs_signing_key_save(const char *path, const hs_signing_key *key, char *err, size_t errlen)
{
    char line[256];
    if (hs_signing_key_format(key, line, sizeof line) != 0) {
        snprintf(err, errlen, "%s: key does not format", path);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        sodium_memzero(line, sizeof line);
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(line);
    int ok = write(fd, line, n) == (ssize_t)n && fsync(fd) == 0;
    sodium_memzero(line, sizeof line);
    if (close(fd) != 0) ok = 0;
    if (!ok) {
        snprintf(err, errlen, "%s: could not write the key", path);
        unlink(path);
        return -1;
    }
    return 0;
}

void hs_signing_key_public_b64(const hs_signing_key *key, char out[44])
{
    sodium_bin2base64(out, 44, key->public_key, 32, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}
