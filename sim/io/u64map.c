/* sim/io/u64map.c - open-addressing u64 -> u64 map (see u64map.h). */
#include "u64map.h"

#include <stdlib.h>

#define U64MAP_MIN_CAP 64

/* MurmurHash3's 64-bit finalizer: every key bit reaches the low bits the
 * mask keeps (ids, pids and page numbers are dense and sequential). */
static size_t um_hash(u64 k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k;
}

/* The slot of stored key k (key + 1), or the empty slot where it goes. */
static size_t um_find(const struct u64map *m, u64 k)
{
    size_t mask = m->cap - 1, j = um_hash(k) & mask;

    while (m->k[j] && m->k[j] != k)
        j = (j + 1) & mask;
    return j;
}

static int um_grow(struct u64map *m)
{
    struct u64map n = { 0 };

    n.cap = m->cap ? m->cap * 2 : U64MAP_MIN_CAP;
    n.k = calloc(n.cap, sizeof(*n.k));
    n.v = calloc(n.cap, sizeof(*n.v));
    if (!n.k || !n.v) {
        free(n.k);
        free(n.v);
        return SIM_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->k[i])
            continue;
        size_t j = um_find(&n, m->k[i]);
        n.k[j] = m->k[i];
        n.v[j] = m->v[i];
        n.n++;
    }
    free(m->k);
    free(m->v);
    *m = n;
    return SIM_OK;
}

u64 *u64map_get(const struct u64map *m, u64 key)
{
    if (!m->cap)
        return NULL;
    size_t j = um_find(m, key + 1);
    return m->k[j] ? &m->v[j] : NULL;
}

bool u64map_lookup(const struct u64map *m, u64 key, u64 *v)
{
    const u64 *p = u64map_get(m, key);

    if (p)
        *v = *p;
    return p != NULL;
}

u64 *u64map_slot(struct u64map *m, u64 key)
{
    if ((m->n + 1) * 2 > m->cap && um_grow(m))
        return NULL;
    size_t j = um_find(m, key + 1);
    if (!m->k[j]) {
        m->k[j] = key + 1;
        m->v[j] = 0;
        m->n++;
    }
    return &m->v[j];
}

int u64map_put(struct u64map *m, u64 key, u64 v)
{
    u64 *p = u64map_slot(m, key);

    if (!p)
        return SIM_ENOMEM;
    *p = v;
    return SIM_OK;
}

void u64map_free(struct u64map *m)
{
    free(m->k);
    free(m->v);
    m->k = m->v = NULL;
    m->cap = m->n = 0;
}
