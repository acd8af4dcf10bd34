/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A test's own scratch root (an alternate root for the store), made before each
 * test of a suite and removed after it, and the store's files in it:
 *
 *   TestSuite(store, .init = make_root, .fini = remove_root);
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs-util.h"
#include "macro.h"

static char root[PATH_MAX];

static inline int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void) remove(path);
        return 0;
}

static inline void make_root(void)
{
        const char *tmp = getenv("TMPDIR");

        (void) snprintf(root, sizeof(root), "%s/kzones-test-XXXXXX", isempty(tmp) ? "/tmp" : tmp);
        cr_assert_not_null(mkdtemp(root), "mkdtemp: %m");
}

static inline void remove_root(void)
{
        if (root[0])
                (void) nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ROOT/etc/zones/NAME, the store's files in the test's root. */
static inline char *store_path(const char *name)
{
        char *p = NULL;

        cr_assert_gt(asprintf(&p, "%s/etc/zones/%s", root, name), 0);
        return p;
}

/* The bytes of a file of the store (its size in *ret_size if that is not NULL),
 * or NULL if it does not exist. */
static inline char *store_read(const char *name, size_t *ret_size)
{
        char *p = store_path(name), *buf = NULL;
        size_t size = 0;
        int r = read_file_bounded(p, 4u << 20, &buf, &size);

        free(p);
        if (r == -ENOENT)
                return NULL;
        cr_assert_eq(r, 0, "cannot read %s: %s", name, strerror(-r));
        if (ret_size)
                *ret_size = size;
        return buf;
}

static inline bool store_exists(const char *name)
{
        char *p = store_path(name);
        bool r = access(p, F_OK) == 0;

        free(p);
        return r;
}
