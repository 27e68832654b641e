/* The directory's storage without HTTP: aliases resolve to their room, are unique,
 * know their creator, are listed per room and disappear on delete; profile fields are
 * set and cleared one at a time; unknown rooms have no directory visibility. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_directory.h"
#include "server-core/hs_store_rooms.h"
#include "support/pgt_hs.h"

static char *dir;
static hs_store *st;

static void open_store(void)
{
    st = pgt_store_open(&dir, "d.db");
}

static void close_store(void)
{
    pgt_store_close(st, dir);
}

Test(hs_directory, store_alias_get_put_delete, .init = open_store, .fini = close_store)
{
    char *room = (char *)"untouched";
    cr_assert_eq(hs_store_alias_get(st, "#a:example.org", &room), 1);
    cr_assert_str_eq(room, "untouched", "not-found leaves the output alone");

    cr_assert_eq(hs_store_alias_put(st, "#a:example.org", "!r1:example.org", "@alice:example.org", 5), 0);
    cr_assert_eq(hs_store_alias_put(st, "#a:example.org", "!r2:example.org", "@bob:example.org", 6), 1,
                 "an alias maps to one room");
    cr_assert_eq(hs_store_alias_put(st, "#b:example.org", "!r1:example.org", "@bob:example.org", 7), 0);

    cr_assert_eq(hs_store_alias_get(st, "#a:example.org", &room), 0);
    cr_assert_str_eq(room, "!r1:example.org");
    free(room);
    cr_assert_eq(hs_store_alias_get(st, "#A:example.org", &room), 1, "aliases are case-sensitive");

    char *creator = NULL;
    cr_assert_eq(hs_store_alias_creator(st, "#b:example.org", &creator), 0);
    cr_assert_str_eq(creator, "@bob:example.org");
    free(creator);

    char **v;
    size_t n;
    cr_assert_eq(hs_store_room_aliases(st, "!r1:example.org", &v, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(v[0], "#a:example.org");
    cr_assert_str_eq(v[1], "#b:example.org");
    hs_store_free_strings(v, n);

    cr_assert_eq(hs_store_alias_delete(st, "#a:example.org"), 0);
    cr_assert_eq(hs_store_alias_delete(st, "#a:example.org"), 1);
    cr_assert_eq(hs_store_alias_get(st, "#a:example.org", &room), 1);
    cr_assert_eq(hs_store_room_aliases(st, "!r1:example.org", &v, &n), 0);
    cr_assert_eq(n, 1);
    hs_store_free_strings(v, n);
    cr_assert_eq(hs_store_room_aliases(st, "!none:example.org", &v, &n), 0);
    cr_assert_eq(n, 0);
    hs_store_free_strings(v, n);
}

Test(hs_directory, store_profile_fields, .init = open_store, .fini = close_store)
{
    char *dn, *av;
    cr_assert_eq(hs_store_profile_get(st, "@a:example.org", &dn, &av), 1);
    cr_assert_null(dn);
    cr_assert_null(av);

    cr_assert_eq(hs_store_profile_init(st, "@a:example.org", "a"), 0);
    cr_assert_eq(hs_store_profile_set(st, "@a:example.org", HS_STORE_PROFILE_AVATAR_URL, "mxc://example.org/x"), 0);
    cr_assert_eq(hs_store_profile_get(st, "@a:example.org", &dn, &av), 0);
    cr_assert_str_eq(dn, "a");
    cr_assert_str_eq(av, "mxc://example.org/x");
    free(dn);
    free(av);

    /* init never overwrites a profile the user already has */
    cr_assert_eq(hs_store_profile_set(st, "@a:example.org", HS_STORE_PROFILE_DISPLAYNAME, "Alice"), 0);
    cr_assert_eq(hs_store_profile_init(st, "@a:example.org", "a"), 0);
    cr_assert_eq(hs_store_profile_set(st, "@a:example.org", HS_STORE_PROFILE_AVATAR_URL, NULL), 0);
    cr_assert_eq(hs_store_profile_get(st, "@a:example.org", &dn, &av), 0);
    cr_assert_str_eq(dn, "Alice");
    cr_assert_null(av, "NULL clears the field");
    free(dn);

    /* set creates the row when there is none */
    cr_assert_eq(hs_store_profile_set(st, "@b:example.org", HS_STORE_PROFILE_AVATAR_URL, "mxc://example.org/y"), 0);
    cr_assert_eq(hs_store_profile_get(st, "@b:example.org", &dn, &av), 0);
    cr_assert_null(dn);
    cr_assert_str_eq(av, "mxc://example.org/y");
    free(av);
}

Test(hs_directory, store_visibility_of_unknown_room, .init = open_store, .fini = close_store)
{
    bool pub = true;
    cr_assert_eq(hs_store_room_is_public(st, "!none:example.org", &pub), 1);
    cr_assert_eq(hs_store_room_set_public(st, "!none:example.org", true), 1);
}
