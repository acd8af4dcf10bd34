/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A test's own scratch root (an alternate root for the store), made before each
 * test of a suite and removed after it:
 *
 *   TestSuite(store, .init = make_root, .fini = remove_root);
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

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
