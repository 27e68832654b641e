/* hs_store_fed_e2ee: the remote device cache and what it tells local clients. A first
 * fetch of a user's list is no change (nobody was told of an older one); fetching the
 * same list again is none either; a different list, or any m.device_list_update, writes
 * a device_list_changes row (what /sync device_lists.changed reads). A deleted device
 * leaves the list. A user never fetched is "not cached", distinct from "no devices".
 * A list beyond HS_STORE_FED_DEVICES_MAX is not cached at all. */
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

static void count_one(void *ctx, const char *device_id, const char *keys_json, const char *display_name)
{
    (void)device_id, (void)keys_json, (void)display_name;
    ++*(size_t *)ctx;
}

/* How many devices of `user` are cached (0 and not cached: want_rc 1). */
static size_t cached_rows(const char *user, int want_rc)
{
    size_t n = 0;
    cr_assert_eq(hs_store_fed_devices_each(st, user, count_one, &n), want_rc);
    return n;
}

Test(hs_store_fed_e2ee, a_remote_user_cannot_grow_the_device_cache_beyond_the_bound)
{
    /* Its server announces one new device after another: at the bound the list stops
     * being cached (asked of its server again), and nothing of it is kept. */
    char id[32];
    hs_store_fed_device one[] = {{"D0", "{}", NULL}};
    cr_assert_eq(hs_store_fed_devices_replace(st, "@m:other.test", one, 1, 1, 1000), 0);
    for (int i = 1; i < HS_STORE_FED_DEVICES_MAX; i++) {
        snprintf(id, sizeof id, "D%d", i);
        cr_assert_eq(hs_store_fed_device_update(st, "@m:other.test", id, "{}", NULL, false, i + 1, 1000), 0);
    }
    cr_assert_eq(cached_rows("@m:other.test", 0), HS_STORE_FED_DEVICES_MAX, "up to the bound the list is kept");
    int64_t before = changes();
    cr_assert_eq(hs_store_fed_device_update(st, "@m:other.test", "Dmore", "{}", NULL, false, 5000, 1000), 0);
    cr_assert_eq(changes(), before + 1, "local clients are told to look again");
    cr_assert_eq(cached_rows("@m:other.test", 1), 0);

    /* A whole list longer than the bound is not cached either. */
    hs_store_fed_device *many = calloc(HS_STORE_FED_DEVICES_MAX + 1, sizeof *many);
    char (*ids)[32] = calloc(HS_STORE_FED_DEVICES_MAX + 1, sizeof *ids);
    cr_assert(many && ids);
    for (int i = 0; i <= HS_STORE_FED_DEVICES_MAX; i++) {
        snprintf(ids[i], sizeof ids[i], "E%d", i);
        many[i] = (hs_store_fed_device){ids[i], "{}", NULL};
    }
    cr_assert_eq(hs_store_fed_devices_replace(st, "@n:other.test", many, HS_STORE_FED_DEVICES_MAX + 1, 1, 1000), 0);
    cr_assert_eq(cached_rows("@n:other.test", 1), 0);
    free(many);
    free(ids);
}
