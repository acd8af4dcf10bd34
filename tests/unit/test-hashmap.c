/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <stdio.h>

#include "hashmap.h"
#include "macro.h"

#define N 3000

static char keys[N][16];

static void fill(Hashmap *h)
{
        for (int i = 0; i < N; i++) {
                (void) snprintf(keys[i], sizeof(keys[i]), "kz%d", i);
                cr_assert_eq(hashmap_put(h, keys[i], keys[i]), 0);
        }
}

Test(hashmap, every_key_finds_its_value_and_a_second_put_is_refused)
{
        Hashmap *h = hashmap_new();

        fill(h);
        cr_assert_eq(hashmap_size(h), N);
        for (int i = 0; i < N; i++)
                cr_assert_eq(hashmap_get(h, keys[i]), keys[i]);
        cr_assert_null(hashmap_get(h, "kz-none"));
        cr_assert_eq(hashmap_put(h, "kz7", keys[8]), -EEXIST);
        cr_assert_eq(hashmap_get(h, "kz7"), keys[7]);
        hashmap_free(h);
}

Test(hashmap, removing_keeps_every_other_key_reachable)
{
        Hashmap *h = hashmap_new();

        fill(h);
        /* every third key goes: the others, probed past the holes, must still be found */
        for (int i = 0; i < N; i += 3)
                cr_assert_eq(hashmap_remove(h, keys[i]), keys[i]);
        cr_assert_null(hashmap_remove(h, keys[0]));
        cr_assert_eq(hashmap_size(h), N - (N + 2) / 3);
        for (int i = 0; i < N; i++)
                if (i % 3 == 0)
                        cr_assert_null(hashmap_get(h, keys[i]));
                else
                        cr_assert_eq(hashmap_get(h, keys[i]), keys[i], "%s lost", keys[i]);
        hashmap_free(h);
}

Test(hashmap, iteration_sees_each_value_once)
{
        Hashmap *h = hashmap_new();
        static bool seen[N];
        const char *v;
        size_t n = 0;

        fill(h);
        for (int i = 1; i < N; i += 2)
                (void) hashmap_remove(h, keys[i]);
        HASHMAP_FOREACH(v, h, state) {
                int i = atoi(v + 2);

                cr_assert_not(seen[i], "%s seen twice", v);
                cr_assert_eq(i % 2, 0, "%s was removed", v);
                seen[i] = true;
                n++;
        }
        cr_assert_eq(n, N / 2);
        hashmap_free(h);
}

Test(hashmap, an_empty_map_answers)
{
        Hashmap *h = hashmap_new();
        void *v;
        size_t state = 0;

        cr_assert_null(hashmap_get(h, "x"));
        cr_assert_null(hashmap_remove(h, "x"));
        cr_assert_not(hashmap_next(h, &state, &v));
        hashmap_free(h);
}
