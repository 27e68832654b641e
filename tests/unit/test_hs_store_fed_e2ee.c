/* hs_store_fed_e2ee: the remote device cache and what it tells local clients. A first
 * fetch of a user's list is no change (nobody was told of an older one); fetching the
 * same list again is none either; a different list, or any m.device_list_update, writes
 * a device_list_changes row (what /sync device_lists.changed reads). A deleted device
 * leaves the list. A user never fetched is "not cached", distinct from "no devices". */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_e2ee.h"
#include "server-core/hs_store_fed_e2ee.h"
#include "support/pgt_hs.h"

static hs_store *st;
static char *dir;

static void setup(void)
{
    st = pgt_store_open(&dir, "hs.db");
}

static void teardown(void)
{
    pgt_store_close(st, dir);
}

TestSuite(hs_store_fed_e2ee, .init = setup, .fini = teardown);

static int64_t changes(void)
{
    int64_t n;
    cr_assert_eq(hs_store_e2ee_device_lists_max(st, &n), 0);
    return n;
}

static void list_of(void *ctx, const char *device_id, const char *keys_json, const char *display_name)
{
    (void)display_name;
    char *out = ctx;
    strcat(out, device_id);
    strcat(out, keys_json ? "+" : "-");
}

static void devices(const char *user, char *out, int want_rc)
{
    out[0] = 0;
    cr_assert_eq(hs_store_fed_devices_each(st, user, list_of, out), want_rc);
}

Test(hs_store_fed_e2ee, changes_are_written_only_when_the_list_changes)
{
    char got[256];
    devices("@a:other.test", got, 1);
    hs_store_fed_device v1[] = {{"D1", "{\"k\":1}", "phone"}, {"D2", NULL, NULL}};
    cr_assert_eq(hs_store_fed_devices_replace(st, "@a:other.test", v1, 2, 1, 1000), 0, "a first fetch");
    cr_assert_eq(changes(), 0, "a first fetch is not a change");
    devices("@a:other.test", got, 0);
    cr_assert_str_eq(got, "D1+D2-");
    cr_assert_eq(hs_store_fed_devices_replace(st, "@a:other.test", v1, 2, 2, 2000), 0, "the same list again");
    cr_assert_eq(changes(), 0);
    hs_store_fed_device v2[] = {{"D1", "{\"k\":2}", "phone"}};
    cr_assert_eq(hs_store_fed_devices_replace(st, "@a:other.test", v2, 1, 3, 3000), 1, "a different list");
    cr_assert_eq(changes(), 1);
    devices("@a:other.test", got, 0);
    cr_assert_str_eq(got, "D1+");

    cr_assert_eq(hs_store_fed_device_update(st, "@a:other.test", "D3", "{\"k\":3}", NULL, false, 4, 4000), 0);
    cr_assert_eq(changes(), 2, "an update is always announced");
    devices("@a:other.test", got, 0);
    cr_assert_str_eq(got, "D1+D3+");
    cr_assert_eq(hs_store_fed_device_update(st, "@a:other.test", "D1", NULL, NULL, true, 5, 5000), 0);
    devices("@a:other.test", got, 0);
    cr_assert_str_eq(got, "D3+", "the deleted device left the list");
    cr_assert_eq(changes(), 3);
    cr_assert_eq(hs_store_fed_user_keys_changed(st, "@a:other.test"), 0);
    cr_assert_eq(changes(), 4);
}

Test(hs_store_fed_e2ee, profile_cache_is_fresh_only_for_its_time)
{
    char *dn, *av;
    cr_assert_eq(hs_store_fed_profile_cache_get(st, "@a:other.test", 0, &dn, &av), 1);
    cr_assert_eq(hs_store_fed_profile_cache_put(st, "@a:other.test", "A", NULL, 10000), 0);
    cr_assert_eq(hs_store_fed_profile_cache_get(st, "@a:other.test", 9000, &dn, &av), 0);
    cr_assert_str_eq(dn, "A");
    cr_assert_null(av);
    free(dn);
    cr_assert_eq(hs_store_fed_profile_cache_get(st, "@a:other.test", 10001, &dn, &av), 1, "too old");
    cr_assert_eq(hs_store_fed_dest_down(st, "other.test", 0), 0, "a destination never queued for is not down");
}
