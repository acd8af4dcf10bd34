/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "macro.h"
#include "strv.h"

bool strv_contains(char *const *l, const char *s)
{
        for (; l && *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

size_t strv_length(char *const *l)
{
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

/* Appends a copy of s unless it is there already. */
int strv_add_unique(char ***l, const char *s)
{
        size_t n = strv_length(*l);
        char **t;

        if (strv_contains(*l, s))
                return 0;
        t = realloc(*l, (n + 2) * sizeof(char *));
        if (!t)
                return -ENOMEM;
        *l = t;
        t[n] = strdup(s);
        t[n + 1] = NULL;
        return t[n] ? 1 : -ENOMEM;
}

char **strv_free(char **l)
{
        strv_freep(&l);
        return NULL;
}

int strv_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* "a, b, c" */
char *strv_join(char *const *l, const char *sep)
{
        size_t len = 1;
        char *s;

        for (char *const *i = l; i && *i; i++)
                len += strlen(*i) + strlen(sep);
        s = calloc(1, len);
        if (!s)
                return NULL;
        for (char *const *i = l; i && *i; i++) {
                if (i != l)
                        strcat(s, sep);
                strcat(s, *i);
        }
        return s;
}
