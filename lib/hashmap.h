/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* A map from strings to pointers: open addressing, linear probing, deletion by
 * backward shift (no tombstones), grown at 3/4 full. The keys are not copied:
 * each must live as long as its entry (the value's own name, typically). */
typedef struct Hashmap Hashmap;

Hashmap *hashmap_new(void);
/* Frees the map, not the values. */
Hashmap *hashmap_free(Hashmap *h);
/* -EEXIST if the key is there already, -ENOMEM */
int hashmap_put(Hashmap *h, const char *key, void *value);
void *hashmap_get(const Hashmap *h, const char *key);
/* The value removed, or NULL. */
void *hashmap_remove(Hashmap *h, const char *key);
size_t hashmap_size(const Hashmap *h);
/* Iteration: *state starts at 0; returns false at the end. The map must not be
 * changed while it is iterated (collect first, then remove). */
bool hashmap_next(const Hashmap *h, size_t *state, void **ret_value);

#define HASHMAP_FOREACH(v, h, state) for (size_t state = 0; hashmap_next((h), &state, (void **) &(v));)
