/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where a zone whose evacuation target is a list goes: to the target with the
 * most room for it — the free memory of its memory reservation pool there for a
 * zone with one (capped-memory:memory-reserve), the host's available memory
 * otherwise —, counting what this evacuation placed on each target already, so
 * that two zones never both count on the same free memory. A target that cannot
 * be reached or is in maintenance mode takes no zone. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evacuation-place.h"
#include "macro.h"
#include "size.h"

PlaceTarget *place_target_free(PlaceTarget *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_pools; i++)
                free(t->pools[i].name);
        free(t->pools);
        free(t->uri);
        free(t->unusable);
        free(t->memory_error);
        free(t->pools_error);
        free(t);
        return NULL;
}

int place_target_new(const char *uri, PlaceTarget **ret)
{
        PlaceTarget *t = calloc(1, sizeof(PlaceTarget));

        if (!t)
                return -ENOMEM;
        t->uri = strdup(uri);
        if (!t->uri) {
                free(t);
                return -ENOMEM;
        }
        *ret = t;
        return 0;
}

int place_target_add_pool(PlaceTarget *t, const char *name, uint64_t free_memory, bool usable)
{
        PlacePool *l = reallocarray(t->pools, t->n_pools + 1, sizeof(PlacePool));

        if (!l)
                return -ENOMEM;
        t->pools = l;
        l[t->n_pools] = (PlacePool) { .name = strdup(name), .free = free_memory, .usable = usable };
        if (!l[t->n_pools].name)
                return -ENOMEM;
        t->n_pools++;
        return 0;
}

const char *place_host(const char *uri)
{
        const char *h = startswith(uri, "ssh://") ?: uri, *at = strchr(h, '@');

        return at ? at + 1 : h;
}

static PlacePool *find_pool(const PlaceTarget *t, const char *name)
{
        for (size_t i = 0; i < t->n_pools; i++)
                if (streq(t->pools[i].name, name))
                        return &t->pools[i];
        return NULL;
}

static int no_room(char **ret_why, const char *fmt, ...) _printf_(2, 3);
static int no_room(char **ret_why, const char *fmt, ...)
{
        va_list ap;
        int r;

        if (!ret_why)
                return -ENOSPC;
        va_start(ap, fmt);
        r = vasprintf(ret_why, fmt, ap);
        va_end(ap);
        if (r < 0) {
                *ret_why = NULL;
                return -ENOMEM;
        }
        return -ENOSPC;
}

int place_room(const PlaceTarget *t, uint64_t memory, const char *pool, uint64_t *ret_room, char **ret_why)
{
        const char *host = place_host(t->uri);
        char have[SIZE_FORMAT_MAX], need[SIZE_FORMAT_MAX];
        uint64_t free_memory;

        if (ret_why)
                *ret_why = NULL;
        if (t->unusable)
                return no_room(ret_why, "%s: %s", host, t->unusable);
        if (pool) {
                const PlacePool *p;

                if (!t->pools_known)
                        return no_room(ret_why, "%s: cannot list its memory reservation pools: %s", host,
                                strna(t->pools_error));
                p = find_pool(t, pool);
                if (!p || !p->usable)
                        return no_room(ret_why, "%s: memory reservation pool '%s' is not reserved there", host, pool);
                free_memory = p->free;
        } else {
                if (!t->memory_known)
                        return no_room(ret_why, "%s: cannot read its free memory: %s", host, strna(t->memory_error));
                free_memory = t->available;
        }
        if (memory > free_memory)
                return no_room(ret_why, "%s: %s %s, the zone needs %s", host, size_format(free_memory, have,
                                sizeof(have)), pool ? "free in its pool" : "available", size_format(memory, need,
                                sizeof(need)));
        if (ret_room)
                *ret_room = free_memory - memory;
        return 0;
}

int place_choose(PlaceTarget *const *targets, size_t n, uint64_t memory, const char *pool, char **ret_why)
{
        _cleanup_free_ char *why = NULL;
        uint64_t best_room = 0;
        int best = -1;

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *w = NULL;
                uint64_t room;
                int r = place_room(targets[i], memory, pool, &room, &w);

                if (r == -ENOMEM)
                        return r;
                if (r >= 0) {
                        if (best < 0 || room > best_room) {
                                best = (int) i;
                                best_room = room;
                        }
                        continue;
                }
                if (w) {
                        char *j = NULL;

                        if (asprintf(&j, "%s%s%s", strempty(why), why ? "; " : "", w) < 0)
                                return -ENOMEM;
                        free(why);
                        why = j;
                }
        }
        if (best >= 0)
                return best;
        if (ret_why)
                *ret_why = TAKE_PTR(why);
        return -ENOSPC;
}

void place_take(PlaceTarget *t, uint64_t memory, const char *pool)
{
        PlacePool *p = pool ? find_pool(t, pool) : NULL;

        if (pool) {
                if (p)
                        p->free = p->free > memory ? p->free - memory : 0;
                return;
        }
        t->available = t->available > memory ? t->available - memory : 0;
}
