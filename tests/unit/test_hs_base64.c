/* Base64 as Matrix uses it: unpadded out, padded or unpadded in, trailing bits ignored. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_signing_key.h"

Test(hs_base64, round_trip_unpadded)
{
    const uint8_t data[] = {0xfb, 0xff, 0x01, 0x02};
    char *s = hs_b64_encode(data, 4);
    cr_assert_str_eq(s, "+/8BAg");
    char *u = hs_b64url_encode(data, 4);
    cr_assert_str_eq(u, "-_8BAg");
    uint8_t back[8];
    cr_assert_eq(hs_b64_decode(s, back, sizeof back), 4);
    cr_assert_eq(memcmp(back, data, 4), 0);
    cr_assert_eq(hs_b64url_decode(u, back, sizeof back), 4);
    cr_assert_eq(memcmp(back, data, 4), 0);
    free(s);
    free(u);
}

Test(hs_base64, padded_input_accepted)
{
    uint8_t out[8];
    cr_assert_eq(hs_b64_decode("+/8BAg==", out, sizeof out), 4);
}

Test(hs_base64, nonzero_trailing_bits_ignored_like_python)
{
    uint8_t a[8], b[8];
    cr_assert_eq(hs_b64_decode("+/8BAh", a, sizeof a), 4); /* 'h' carries stray low bits */
    cr_assert_eq(hs_b64_decode("+/8BAg", b, sizeof b), 4);
    cr_assert_eq(memcmp(a, b, 4), 0);
}

Test(hs_base64, garbage_rejected)
{
    uint8_t out[8];
    cr_assert_eq(hs_b64_decode("ab$d", out, sizeof out), -1);
    cr_assert_eq(hs_b64_decode("abcde", out, sizeof out), -1, "length 1 mod 4 is never valid");
    cr_assert_eq(hs_b64_decode("+/8BAg", out, 2), -1, "does not fit");
    cr_assert_eq(hs_b64url_decode("+/8BAg", out, sizeof out), -1, "wrong alphabet");
}

Test(hs_base64, spec_example_seed_loads)
{
    /* The signing key of the spec's "Signing JSON" examples; its last character has
     * non-zero trailing bits, and Synapse accepts it. */
    hs_signing_key key;
    char err[256];
    cr_assert_eq(hs_signing_key_parse("ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1", &key, err, sizeof err), 0,
                 "%s", err);
    cr_assert_str_eq(key.key_id, "ed25519:1");
}
