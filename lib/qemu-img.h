/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Runs one of QEMU's tools (argv[0]: qemu-img, qemu-io), by argv, never through a
 * shell, whatever the names in argv say; it ends with the process that runs it
 * (parent-death signal). Its standard input is /dev/null.
 *
 * With ret_output, its standard output is kept there (at most max bytes; the rest is
 * read and dropped). With progress instead, each "(12.34/100%)" progress line of
 * qemu-img convert -p calls progress(12, userdata), once per new percentage. The
 * last line it wrote to standard error goes to *ret_error (if it wrote any).
 *
 * 0 when it exited 0; -EIO when it ran and failed (*ret_error says why, where it
 * said); another -errno when it could not run. */
int qemu_img_run(const char *const argv[], size_t max, char **ret_output, void (*progress)(int percent, void *userdata),
                void *userdata, char **ret_error);
