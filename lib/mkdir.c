/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/stat.h>

#include "macro.h"
#include "mkdir.h"

int mkdir_parents(const char *path, mode_t mode)
{
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return negative_errno();
                *s = '/';
        }
        return 0;
}

int mkdir_p_full(const char *path, mode_t parents_mode, mode_t mode)
{
        int r = mkdir_parents(path, parents_mode);

        if (r < 0)
                return r;
        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return negative_errno();
        return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
        return mkdir_p_full(path, mode, mode);
}
