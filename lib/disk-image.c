/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "disk-image.h"

/* The qcow2 header, as docs/interop/qcow2.txt in QEMU describes it: big endian. */
#define QCOW2_MAGIC "QFI\xfb"
#define QCOW2_BACKING_FILE_OFFSET 8
#define QCOW2_VERSION 4
#define QCOW2_INCOMPATIBLE_FEATURES 72
#define QCOW2_V3_HEADER_MIN 104
#define QCOW2_INCOMPAT_DATA_FILE (UINT64_C(1) << 2)

static uint64_t be64_at(const uint8_t *p)
{
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return be64toh(v);
}

static uint32_t be32_at(const uint8_t *p)
{
        uint32_t v;

        memcpy(&v, p, sizeof(v));
        return be32toh(v);
}

int disk_image_format(int fd, const char **ret_format, KzError *e)
{
        uint8_t h[QCOW2_V3_HEADER_MIN] = {};
        ssize_t n;
        uint32_t version;

        n = pread(fd, h, sizeof(h), 0);
        if (n < 0)
                return kz_error_set(e, errno, "cannot read the image: %s.", strerror(errno));
        if ((size_t) n < 4 || memcmp(h, QCOW2_MAGIC, 4) != 0) {
                *ret_format = "raw";
                return 0;
        }
        if ((size_t) n < QCOW2_BACKING_FILE_OFFSET + 8)
                return kz_error_set(e, EBADMSG, "the image is a qcow2 image cut short.");
        version = be32_at(h + QCOW2_VERSION);
        if (version != 2 && version != 3)
                return kz_error_set(e, EPROTONOSUPPORT, "the image is a qcow2 image of version %u; versions 2 and 3 "
                        "can be installed.", version);
        if (be64_at(h + QCOW2_BACKING_FILE_OFFSET) != 0)
                return kz_error_set(e, EPERM, "the image has a backing file; only a self-contained image can be "
                        "installed ('qemu-img convert -O qcow2' makes one).");
        if (version == 3) {
                if ((size_t) n < QCOW2_V3_HEADER_MIN)
                        return kz_error_set(e, EBADMSG, "the image is a qcow2 image cut short.");
                if (be64_at(h + QCOW2_INCOMPATIBLE_FEATURES) & QCOW2_INCOMPAT_DATA_FILE)
                        return kz_error_set(e, EPERM, "the image keeps its data in an external data file; only a "
                                "self-contained image can be installed ('qemu-img convert -O qcow2' makes one).");
        }
        *ret_format = "qcow2";
        return 0;
}
