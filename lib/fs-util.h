/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* Files and paths: atomic writes, bounded reads, paths under an alternate root, locks. */

/* Opens (creating it 0600) the lock file path and takes an exclusive flock() on
 * it, waiting as long as another holds it. Returns the descriptor, which holds the
 * lock until it is closed, or -errno. */
int lock_file(const char *path);

/* Writes data to path atomically: a temporary file beside it, fsync, rename over
 * path, fsync of the directory. */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);
/* A regular file of at most max bytes, NUL-terminated; its size in *ret_size. */
int read_file_bounded(const char *path, size_t max, char **ret, size_t *ret_size);
/* A file of /proc or /sys, whose size stat() does not tell: read to its end, at most max bytes. */
int read_virtual_file(const char *path, size_t max, char **ret);
/* The unsigned number at the start of a file of /proc or /sys: -EIO if there is none. */
int read_virtual_u64(const char *path, uint64_t *ret);
char *path_join(const char *root, const char *path);
/* path_join() of root and a printf-formatted path. */
char *path_joinf(const char *root, const char *fmt, ...) _printf_(2, 3);
/* fsync() of the directory that holds path, after a rename or unlink in it. */
int fsync_directory_of(const char *path);
