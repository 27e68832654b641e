/* hs_sync_token: round trip, the bare pagination form, and what a client must not be
 * able to slip in. */
#include <criterion/criterion.h>
#include <string.h>

#include "server-core/hs_sync_token.h"

Test(hs_sync_token, round_trip)
{
    hs_sync_pos p = {12, 3, 4, 5, 6, 7, 8}, q;
    char t[HS_SYNC_TOKEN_MAX];
    hs_sync_token_format(&p, t);
    cr_assert_str_eq(t, "s12_3_4_5_6_7_8");
    cr_assert_eq(hs_sync_token_parse(t, &q), 0);
    cr_assert_eq(memcmp(&p, &q, sizeof p), 0);
    hs_sync_pos big = {999999999999999999, 999999999999999999, 999999999999999999, 999999999999999999,
                       999999999999999999, 999999999999999999, 999999999999999999};
    hs_sync_token_format(&big, t);
    cr_assert_eq(hs_sync_token_parse(t, &q), 0);
    cr_assert_eq(q.presence, 999999999999999999);
}

Test(hs_sync_token, pagination_token_is_a_sync_token)
{
    hs_sync_pos q;
    cr_assert_eq(hs_sync_token_parse("s42", &q), 0);
    cr_assert_eq(q.events, 42);
    cr_assert_eq(q.receipts, 0);
}

Test(hs_sync_token, malformed_tokens_are_refused)
{
    const char *bad[] = {"", "s", "t1", "s-1", "s1_", "s1_2", "s1_2_3_4_5_6", "s1_2_3_4_5_6_7_8", "s1_2_3_4_5_6_x",
                         "s 1", "s1__2_3_4_5_6", "s1234567890123456789", "s1_2_3_4_5_6_7 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hs_sync_pos q = {1, 1, 1, 1, 1, 1, 1};
        cr_assert_eq(hs_sync_token_parse(bad[i], &q), -1, "accepted '%s'", bad[i]);
        cr_assert_eq(q.events, 0);
    }
}
