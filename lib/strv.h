/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* NULL-terminated string lists ("strv"); a NULL list is an empty one. Free
 * with strv_free() or _cleanup_strv_free_ (macro.h). */

bool strv_contains(char *const *l, const char *s);
size_t strv_length(char *const *l);
/* Appends a copy of s unless it is there already: 1 added, 0 there, -ENOMEM. */
int strv_add_unique(char ***l, const char *s);
char **strv_free(char **l);
/* qsort() comparison of two elements of a list */
int strv_cmp(const void *a, const void *b);
/* The elements joined with sep between them: "a, b, c"; NULL on ENOMEM. */
char *strv_join(char *const *l, const char *sep);
