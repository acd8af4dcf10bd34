/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "kz-error.h"

/* What an image given to 'zoneadm install -a' is, read from its header before
 * QEMU opens it, so QEMU never probes: "qcow2" when it starts with the qcow2
 * magic, "raw" otherwise. A qcow2 image that refers to other files (a backing
 * file, an external data file) is refused: QEMU, running as root, would open
 * them, whoever made the image. */
int disk_image_format(int fd, const char **ret_format, KzError *e);
