/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

/* Creates the directories above path (not path itself), each missing one with
 * mode, as `mkdir -p "$(dirname path)"` does; one that exists is left as it is.
 * Returns 0 or -errno of the first mkdir() that failed otherwise than EEXIST. */
int mkdir_parents(const char *path, mode_t mode);

/* mkdir -p: mkdir_parents(), then path itself with the same mode. */
int mkdir_p(const char *path, mode_t mode);
