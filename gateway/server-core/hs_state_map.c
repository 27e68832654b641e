/* hs_state_map: (type, state_key) -> event ID on a jansson object used as a hash table.
 *
 * The internal key is "<len(type)>:<type><state_key>", unambiguous for any strings (a
 * separator such as '|' may appear inside a type). Each value is an immutable array
 * [type, state_key, event_id]; set replaces the value instead of changing it, so the
 * shallow json_copy behind hs_state_map_copy gives truly independent maps. */
#include "server-core/hs_state_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hs_state_map {
    json_t *obj;
};

char *hs_state_key(const char *type, const char *state_key, char *buf, size_t cap)
{
    size_t need = strlen(type) + strlen(state_key) + 24;
    char *k = need <= cap ? buf : malloc(need);
    if (k) snprintf(k, need, "%zu:%s%s", strlen(type), type, state_key);
    return k;
}

void hs_state_key_free(char *k, char *buf)
{
    if (k != buf) free(k);
}

hs_state_map *hs_state_map_new(void)
{
    hs_state_map *m = malloc(sizeof *m);
    if (!m) return NULL;
    m->obj = json_object();
    if (!m->obj) {
        free(m);
        return NULL;
    }
    return m;
}

void hs_state_map_free(hs_state_map *map)
{
    if (!map) return;
    json_decref(map->obj);
    free(map);
}

hs_state_map *hs_state_map_copy(const hs_state_map *map)
{
    hs_state_map *m = malloc(sizeof *m);
    if (!m) return NULL;
    m->obj = json_copy(map->obj);
    if (!m->obj) {
        free(m);
        return NULL;
    }
    return m;
}

int hs_state_map_set(hs_state_map *map, const char *type, const char *state_key, const char *event_id)
{
    if (!map || !type || !state_key || !event_id) return -1;
    char buf[256];
    char *key = hs_state_key(type, state_key, buf, sizeof buf);
    json_t *val = json_pack("[sss]", type, state_key, event_id);
    int rc = key && val ? json_object_set_new(map->obj, key, val) : -1;
    if (!key) json_decref(val);
    hs_state_key_free(key, buf);
    return rc == 0 ? 0 : -1;
}

const char *hs_state_map_get(const hs_state_map *map, const char *type, const char *state_key)
{
    if (!type || !state_key) return NULL;
    char buf[256];
    char *key = hs_state_key(type, state_key, buf, sizeof buf);
    const json_t *val = key ? json_object_get(map->obj, key) : NULL;
    hs_state_key_free(key, buf);
    return val ? json_string_value(json_array_get(val, 2)) : NULL;
}

size_t hs_state_map_size(const hs_state_map *map)
{
    return json_object_size(map->obj);
}

static int cmp_entry(const void *a, const void *b)
{
    const hs_state_entry *x = a, *y = b;
    int c = strcmp(x->type, y->type);
    return c ? c : strcmp(x->state_key, y->state_key);
}

long hs_state_map_entries(const hs_state_map *map, hs_state_entry **out)
{
    size_t n = json_object_size(map->obj), i = 0;
    *out = NULL;
    if (n == 0) return 0;
    hs_state_entry *e = malloc(n * sizeof *e);
    if (!e) return -1;
    const char *k;
    json_t *v;
    json_object_foreach(map->obj, k, v) {
        e[i++] = (hs_state_entry){json_string_value(json_array_get(v, 0)), json_string_value(json_array_get(v, 1)),
                                  json_string_value(json_array_get(v, 2))};
    }
    qsort(e, n, sizeof *e, cmp_entry);
    *out = e;
    return (long)n;
}

bool hs_state_map_equal(const hs_state_map *a, const hs_state_map *b)
{
    if (json_object_size(a->obj) != json_object_size(b->obj)) return false;
    const char *k;
    json_t *v;
    json_object_foreach(a->obj, k, v) {
        const json_t *w = json_object_get(b->obj, k);
        if (!w || strcmp(json_string_value(json_array_get(v, 2)), json_string_value(json_array_get(w, 2))) != 0)
            return false;
    }
    return true;
}

json_t *hs_state_map_to_json(const hs_state_map *map)
{
    json_t *o = json_object();
    if (!o) return NULL;
    const char *k;
    json_t *v;
    json_object_foreach(map->obj, k, v) {
        const char *type = json_string_value(json_array_get(v, 0)), *sk = json_string_value(json_array_get(v, 1));
        size_t len = strlen(type) + strlen(sk) + 2;
        char *jk = malloc(len);
        if (!jk || (snprintf(jk, len, "%s|%s", type, sk),
                    json_object_set_new(o, jk, json_string(json_string_value(json_array_get(v, 2))))) != 0) {
            free(jk);
            json_decref(o);
            return NULL;
        }
        free(jk);
    }
    return o;
}
