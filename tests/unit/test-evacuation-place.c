/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where an evacuation puts a zone whose target is a list of hosts: on the host
 * with the most room for it (its pool's free memory for a zone with a memory
 * reservation pool, the host's available memory otherwise), never beyond what a
 * host has once the zones placed before are counted, never on a host that cannot
 * be reached or is in maintenance; and when none fits, why, host by host. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "evacuation-place.h"
#include "macro.h"

#define G (1024ull * 1024 * 1024)
#define M (1024ull * 1024)

static PlaceTarget *host(const char *uri, uint64_t available)
{
        PlaceTarget *t = NULL;

        cr_assert_eq(place_target_new(uri, &t), 0);
        t->memory_known = true;
        t->available = available;
        t->pools_known = true;
        return t;
}

static void free_all(PlaceTarget **l, size_t n)
{
        for (size_t i = 0; i < n; i++)
                place_target_free(l[i]);
}

Test(evacuation_place, most_available_memory_wins_first_of_equals)
{
        PlaceTarget *l[3] = { host("ssh://h1", 2 * G), host("ssh://root@h2", 6 * G), host("ssh://h3", 6 * G) };

        cr_assert_eq(place_choose(l, 3, 1 * G, NULL, NULL), 1, "h2 and h3 have the most: the first of them");
        l[2]->available = 6 * G + 1;
        cr_assert_eq(place_choose(l, 3, 1 * G, NULL, NULL), 2);
        free_all(l, 3);
}

Test(evacuation_place, zones_placed_before_are_counted)
{
        /* h1 8G, h2 7G: four 3G zones go h1, h2, h1, h2 (the one with the most room
         * left each time), and a fifth fits nowhere */
        PlaceTarget *l[2] = { host("ssh://h1", 8 * G), host("ssh://h2", 7 * G) };
        int expect[] = { 0, 1, 0, 1 };
        _cleanup_free_ char *why = NULL;

        for (size_t i = 0; i < ELEMENTSOF(expect); i++) {
                int r = place_choose(l, 2, 3 * G, NULL, NULL);

                cr_assert_eq(r, expect[i], "zone %zu went to %d", i, r);
                place_take(l[r], 3 * G, NULL);
        }
        cr_assert_eq(l[0]->available, 2 * G);
        cr_assert_eq(l[1]->available, 1 * G);
        cr_assert_eq(place_choose(l, 2, 3 * G, NULL, &why), -ENOSPC);
        cr_assert_str_eq(why, "h1: 2G available, the zone needs 3G; h2: 1G available, the zone needs 3G");
        free_all(l, 2);
}

Test(evacuation_place, unreachable_and_maintenance_take_nothing)
{
        PlaceTarget *l[3] = { host("ssh://h1", 64 * G), host("ssh://h2", 32 * G), host("ssh://h3", 1 * G) };
        _cleanup_free_ char *why = NULL;

        l[0]->unusable = strdup("in maintenance mode");
        cr_assert_eq(place_choose(l, 3, 512 * M, NULL, NULL), 1);
        l[1]->unusable = strdup("cannot be reached: Connection refused");
        cr_assert_eq(place_choose(l, 3, 512 * M, NULL, NULL), 2);
        cr_assert_eq(place_choose(l, 3, 2 * G, NULL, &why), -ENOSPC);
        cr_assert_str_eq(why, "h1: in maintenance mode; h2: cannot be reached: Connection refused; "
                              "h3: 1G available, the zone needs 2G");
        free_all(l, 3);
}

Test(evacuation_place, pool_zones_count_the_pools_free_memory)
{
        /* h1 has more host memory, h2 more room in the zone's pool */
        PlaceTarget *l[3] = { host("ssh://h1", 64 * G), host("ssh://h2", 4 * G), host("ssh://h3", 64 * G) };
        _cleanup_free_ char *why = NULL;

        cr_assert_eq(place_target_add_pool(l[0], "zones", 1 * G, true), 0);
        cr_assert_eq(place_target_add_pool(l[1], "zones", 3 * G, true), 0);
        cr_assert_eq(place_target_add_pool(l[1], "big", 60 * G, true), 0);
        cr_assert_eq(place_target_add_pool(l[2], "zones", 40 * G, false), 0); /* disabled */
        cr_assert_eq(place_choose(l, 3, 1 * G, "zones", NULL), 1);
        place_take(l[1], 1 * G, "zones");
        cr_assert_eq(l[1]->available, 4 * G, "pool memory is not the host's available memory");
        cr_assert_eq(l[1]->pools[0].free, 2 * G);
        place_take(l[1], 1 * G, "zones");
        /* now h1 and h2 each have 1G free in 'zones': the first */
        cr_assert_eq(place_choose(l, 3, 1 * G, "zones", NULL), 0);
        cr_assert_eq(place_choose(l, 3, 2 * G, "zones", &why), -ENOSPC);
        cr_assert_str_eq(why, "h1: 1G free in its pool, the zone needs 2G; h2: 1G free in its pool, the zone "
                              "needs 2G; h3: memory reservation pool 'zones' is not reserved there");
        free_all(l, 3);
}

Test(evacuation_place, unknown_memory_or_pools_say_why)
{
        PlaceTarget *l[1] = { host("ssh://h1", 0) };
        _cleanup_free_ char *why = NULL;

        l[0]->memory_known = false;
        l[0]->memory_error = strdup("Unknown property HostMemory");
        l[0]->pools_known = false;
        l[0]->pools_error = strdup("The name is not activatable");
        cr_assert_eq(place_choose(l, 1, 1 * G, NULL, &why), -ENOSPC);
        cr_assert_str_eq(why, "h1: cannot read its free memory: Unknown property HostMemory");
        why = mfree_str(why);
        cr_assert_eq(place_choose(l, 1, 1 * G, "zones", &why), -ENOSPC);
        cr_assert_str_eq(why, "h1: cannot list its memory reservation pools: The name is not activatable");
        free_all(l, 1);
}

Test(evacuation_place, host_names_as_sysadm_prints_them)
{
        cr_assert_str_eq(place_host("ssh://root@h2:2222"), "h2:2222");
        cr_assert_str_eq(place_host("h3"), "h3");
}
