/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

/* Creates the directories above path (not path itself), each missing one with
 * mode, as `mkdir -p "$(dirname path)"` does; one that exists is left as it is.
 * Returns 0 or -errno of the first mkdir() that failed otherwise than EEXIST. */
int mkdir_parents(const char *path, mode_t mode);

/* mkdir -p: mkdir_parents(path, parents_mode), then path itself with mode; one
 * that exists is left as it is (its mode too). */
int mkdir_p_full(const char *path, mode_t parents_mode, mode_t mode);
/* mkdir -p with one mode for all. */
int mkdir_p(const char *path, mode_t mode);
