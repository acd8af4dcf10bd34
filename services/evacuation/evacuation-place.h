/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Placing zones on the targets of a list (evacuation-place.c): what each target
 * said about its room, and the choice, without the bus, so that unit tests check
 * it as it is. */

typedef struct PlacePool {
        char *name;
        uint64_t free; /* FreeMemory, less what this evacuation placed there */
        bool usable;   /* reserved (online or degraded) */
} PlacePool;

typedef struct PlaceTarget {
        char *uri;
        char *unusable;     /* why it takes no zone (unreachable, in maintenance), NULL if it can */
        bool memory_known;  /* its restarter gave HostMemory */
        char *memory_error; /* why not */
        uint64_t available; /* MemAvailable, less what this evacuation placed there */
        bool pools_known;   /* its memory-reserve service listed its pools */
        char *pools_error;  /* why not */
        PlacePool *pools;
        size_t n_pools;
} PlaceTarget;

PlaceTarget *place_target_free(PlaceTarget *t);
int place_target_new(const char *uri, PlaceTarget **ret);
int place_target_add_pool(PlaceTarget *t, const char *name, uint64_t free, bool usable);

/* The room a zone of @memory bytes (from memory reservation pool @pool, or NULL for
 * none) leaves on @t: the pool's free memory or the host's available memory less
 * the zone. -ENOSPC (with why, e.g. "host2: 1G available, the zone needs 2G") when
 * it does not fit or @t cannot take zones. */
int place_room(const PlaceTarget *t, uint64_t memory, const char *pool, uint64_t *ret_room, char **ret_why);
/* Of the @n targets (in the list's order), the index of the one where the zone has
 * the most room (the first of equals); -ENOSPC when none has room, *ret_why then
 * says each target's reason, "; " between them. */
int place_choose(PlaceTarget *const *targets, size_t n, uint64_t memory, const char *pool, char **ret_why);
/* The zone was placed on @t: its memory is no longer free there. */
void place_take(PlaceTarget *t, uint64_t memory, const char *pool);
/* "ssh://root@h2:22" → "h2:22", as sysadm names hosts. */
const char *place_host(const char *uri);
