/* sim/io/u64map.h - a u64 -> u64 hash map: open addressing, linear probing,
 * no deletion (a caller that forgets keys rebuilds the map).
 *
 * Used by the trace checker (mm ids), the ftrace importer (pids, tgids) and
 * the lackey importer (page numbers).  Keys are anything but UINT64_MAX
 * (stored as key + 1 so that 0 marks an empty slot).  The table doubles
 * when half full; iteration order is the slot order, which depends on the
 * capacity, so a caller that needs a stable order sorts.
 */
#ifndef TLBSIM_U64MAP_H
#define TLBSIM_U64MAP_H

#include <stddef.h>

#include "../../models/base.h"

struct u64map {
    u64 *k;                             /* key + 1; 0 = empty */
    u64 *v;                             /* values */
    size_t cap;                         /* slots: 0 or a power of two */
    size_t n;                           /* keys stored */
};

/* The value of key, or NULL when absent.  Valid until the next put. */
u64 *u64map_get(const struct u64map *m, u64 key);
/* Whether key is present; if so *v = its value. */
bool u64map_lookup(const struct u64map *m, u64 key, u64 *v);
/* The value of key, inserted as 0 when absent; NULL when out of memory. */
u64 *u64map_slot(struct u64map *m, u64 key);
/* Set key to v: SIM_OK or SIM_ENOMEM. */
int  u64map_put(struct u64map *m, u64 key, u64 v);
void u64map_free(struct u64map *m);     /* leaves an empty map */

/* Iterate: for (size_t i = 0; i < m->cap; i++) if (m->k[i]) use key
 * m->k[i] - 1 and value m->v[i]. */

#endif
