/* The P2P identity key file: generate writes a 0600 hex seed whose public key it reports,
 * load reads it back to the same identity, existing files are never overwritten, and
 * malformed files are refused with the file named. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pg_p2p_key.h"
#include "support/pgt.h"

static char *dir;
static char path[1100], err[512];

static void setup(void)
{
    dir = pgt_tmpdir();
    snprintf(path, sizeof path, "%s/p2p.key", dir);
}

static void teardown(void)
{
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(pg_p2p_key, .init = setup, .fini = teardown);

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

Test(pg_p2p_key, generate_then_load_same_identity)
{
    char pk[65], again[65];
    cr_assert_eq(pg_p2p_key_generate(path, pk, err, sizeof err), 0, "%s", err);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 077, 0, "the key must not be readable by others");
    uint8_t seed[32];
    cr_assert_eq(pg_p2p_key_load(path, seed, err, sizeof err), 0, "%s", err);
    pg_p2p_key_public_hex(seed, again);
    cr_assert_str_eq(pk, again);
    cr_assert_eq(strlen(pk), 64);
    cr_assert_eq(pg_p2p_key_generate(path, again, err, sizeof err), -1, "an existing key is never replaced");
    cr_assert(strstr(err, path), "%s", err);
}

Test(pg_p2p_key, known_seed_gives_pinecone_key)
{
    /* seed 01x32: the fixture node A of the Pinecone tests */
    write_file("0101010101010101010101010101010101010101010101010101010101010101\n");
    uint8_t seed[32];
    char pk[65];
    cr_assert_eq(pg_p2p_key_load(path, seed, err, sizeof err), 0, "%s", err);
    pg_p2p_key_public_hex(seed, pk);
    cr_assert_str_eq(pk, "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c");
}

Test(pg_p2p_key, malformed_files_are_refused)
{
    uint8_t seed[32];
    const char *bad[] = {"", "0101", "zz01010101010101010101010101010101010101010101010101010101010101\n",
                         "ed25519 a_bcd AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(bad[i]);
        cr_assert_eq(pg_p2p_key_load(path, seed, err, sizeof err), -1, "accepted '%s'", bad[i]);
        cr_assert(strstr(err, "64 hex digits"), "%s", err);
    }
    char big[400];
    memset(big, '0', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    write_file(big);
    cr_assert_eq(pg_p2p_key_load(path, seed, err, sizeof err), -1);
    cr_assert(strstr(err, "larger than"), "%s", err);
    unlink(path);
    cr_assert_eq(pg_p2p_key_load(path, seed, err, sizeof err), -1);
    cr_assert(strstr(err, "cannot read the P2P key"), "%s", err);
}
