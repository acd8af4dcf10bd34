/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

typedef struct Entry {
        const char *key;
        void *value;
} Entry;

struct Hashmap {
        Entry *slots;
        size_t n_slots; /* a power of two, or 0 */
        size_t n;
};

/* FNV-1a: the keys are names an administrator chose, not a remote peer's input */
static size_t hash(const char *key)
{
        uint64_t h = UINT64_C(14695981039346656037);

        for (const unsigned char *p = (const unsigned char *) key; *p; p++)
                h = (h ^ *p) * UINT64_C(1099511628211);
        return (size_t) (h ^ (h >> 32));
}

Hashmap *hashmap_new(void)
{
        return calloc(1, sizeof(Hashmap));
}

Hashmap *hashmap_free(Hashmap *h)
{
        if (h) {
                free(h->slots);
                free(h);
        }
        return NULL;
}

static Entry *find(const Hashmap *h, const char *key)
{
        if (h->n_slots == 0)
                return NULL;
        for (size_t i = hash(key) & (h->n_slots - 1);; i = (i + 1) & (h->n_slots - 1)) {
                if (!h->slots[i].key)
                        return NULL;
                if (strcmp(h->slots[i].key, key) == 0)
                        return &h->slots[i];
        }
}

static void insert(Entry *slots, size_t n_slots, const char *key, void *value)
{
        size_t i = hash(key) & (n_slots - 1);

        while (slots[i].key)
                i = (i + 1) & (n_slots - 1);
        slots[i] = (Entry) { key, value };
}

static int grow(Hashmap *h)
{
        size_t n_slots = h->n_slots ? h->n_slots * 2 : 16;
        Entry *slots;

        if (n_slots > SIZE_MAX / sizeof(Entry))
                return -ENOMEM;
        slots = calloc(n_slots, sizeof(Entry));
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < h->n_slots; i++)
                if (h->slots[i].key)
                        insert(slots, n_slots, h->slots[i].key, h->slots[i].value);
        free(h->slots);
        h->slots = slots;
        h->n_slots = n_slots;
        return 0;
}

int hashmap_put(Hashmap *h, const char *key, void *value)
{
        int r;

        if (find(h, key))
                return -EEXIST;
        if ((h->n + 1) * 4 > h->n_slots * 3) {
                r = grow(h);
                if (r < 0)
                        return r;
        }
        insert(h->slots, h->n_slots, key, value);
        h->n++;
        return 0;
}

void *hashmap_get(const Hashmap *h, const char *key)
{
        Entry *e = h ? find(h, key) : NULL;

        return e ? e->value : NULL;
}

void *hashmap_remove(Hashmap *h, const char *key)
{
        Entry *e = h ? find(h, key) : NULL;
        size_t mask, hole;
        void *value;

        if (!e)
                return NULL;
        value = e->value;
        mask = h->n_slots - 1;
        hole = (size_t) (e - h->slots);
        /* backward shift: an entry after the hole moves into it unless its home slot
         * lies cyclically in (hole, i], where it is found without passing the hole */
        for (size_t i = (hole + 1) & mask; h->slots[i].key; i = (i + 1) & mask) {
                size_t home = hash(h->slots[i].key) & mask;

                if (((i - home) & mask) >= ((i - hole) & mask)) {
                        h->slots[hole] = h->slots[i];
                        hole = i;
                }
        }
        h->slots[hole] = (Entry) {};
        h->n--;
        return value;
}

size_t hashmap_size(const Hashmap *h)
{
        return h ? h->n : 0;
}

bool hashmap_next(const Hashmap *h, size_t *state, void **ret_value)
{
        for (; h && *state < h->n_slots; (*state)++)
                if (h->slots[*state].key) {
                        *ret_value = h->slots[(*state)++].value;
                        return true;
                }
        return false;
}
