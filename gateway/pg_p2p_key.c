/* pg_p2p_key: load and create the P2P identity's seed file (see pg_p2p_key.h). The seed
 * is wiped from every local buffer once used. */
#include "pg_p2p_key.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int pg_p2p_key_parse(const char *text, size_t len, uint8_t seed[PG_P2P_SEED_LEN], char *err, size_t errlen)
{
    if (len > PG_P2P_KEY_FILE_MAX) {
        snprintf(err, errlen, "the P2P key file is larger than %d bytes", PG_P2P_KEY_FILE_MAX);
        return -1;
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    size_t bin_len = 0;
    if (len != 2 * PG_P2P_SEED_LEN ||
        sodium_hex2bin(seed, PG_P2P_SEED_LEN, text, len, NULL, &bin_len, NULL) != 0 || bin_len != PG_P2P_SEED_LEN) {
        snprintf(err, errlen, "the P2P key must be a 32-byte ed25519 seed written as 64 hex digits");
        return -1;
    }
    return 0;
}

int pg_p2p_key_load(const char *path, uint8_t seed[PG_P2P_SEED_LEN], char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot read the P2P key: %s", path, strerror(errno));
        return -1;
    }
    char buf[PG_P2P_KEY_FILE_MAX + 1];
    size_t len = 0;
    ssize_t got;
    while (len < sizeof buf && (got = read(fd, buf + len, sizeof buf - len)) > 0) len += (size_t)got;
    close(fd);
    char why[128];
    int rc = pg_p2p_key_parse(buf, len, seed, why, sizeof why);
    if (rc != 0) snprintf(err, errlen, "%s: %s", path, why);
    sodium_memzero(buf, sizeof buf);
    return rc;
}

void pg_p2p_key_public_hex(const uint8_t seed[PG_P2P_SEED_LEN], char out[2 * PG_P2P_KEY_LEN + 1])
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof sk);
    sodium_bin2hex(out, 2 * PG_P2P_KEY_LEN + 1, pk, sizeof pk);
}

int pg_p2p_key_generate(const char *path, char pk_hex[2 * PG_P2P_KEY_LEN + 1], char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    uint8_t seed[PG_P2P_SEED_LEN];
    char hex[2 * PG_P2P_SEED_LEN + 2];
    randombytes_buf(seed, sizeof seed);
    sodium_bin2hex(hex, sizeof hex, seed, sizeof seed);
    size_t n = strlen(hex);
    hex[n++] = '\n';
    int rc = -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create the P2P key: %s", path, strerror(errno));
        goto out;
    }
    ssize_t w = write(fd, hex, n);
    if (w != (ssize_t)n || fsync(fd) != 0) {
        snprintf(err, errlen, "%s: cannot write the P2P key: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        goto out;
    }
    close(fd);
    if (pk_hex) pg_p2p_key_public_hex(seed, pk_hex);
    rc = 0;
out:
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(hex, sizeof hex);
    return rc;
}
