/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "disk-image.h"

/* A file holding a qcow2 header of version, with a backing file offset and
 * incompatible feature bits, or raw bytes when version is 0. */
static int image(uint32_t version, uint64_t backing_offset, uint64_t incompatible, size_t size)
{
        uint8_t h[512] = {};
        int fd = memfd_create("image", MFD_CLOEXEC);
        uint32_t v = htobe32(version);
        uint64_t b = htobe64(backing_offset), f = htobe64(incompatible);

        cr_assert_geq(fd, 0);
        if (version) {
                memcpy(h, "QFI\xfb", 4);
                memcpy(h + 4, &v, 4);
                memcpy(h + 8, &b, 8);
                memcpy(h + 72, &f, 8);
        } else
                memcpy(h, "just a raw disk", 15);
        cr_assert_eq(write(fd, h, size), (ssize_t) size);
        return fd;
}

static void format_is(int fd, const char *want)
{
        const char *fmt = NULL;
        KzError e = {};

        cr_assert_eq(disk_image_format(fd, &fmt, &e), 0, "%s", e.message);
        cr_assert_str_eq(fmt, want);
        (void) close(fd);
}

static void refused(int fd, int error, const char *message)
{
        const char *fmt = "untouched";
        KzError e = {};

        cr_assert_eq(disk_image_format(fd, &fmt, &e), -error);
        cr_assert_str_eq(fmt, "untouched");
        cr_assert(strstr(e.message, message), "'%s' does not say '%s'", e.message, message);
        (void) close(fd);
}

Test(disk_image, raw_and_self_contained_qcow2_are_accepted)
{
        format_is(image(0, 0, 0, 512), "raw");
        format_is(image(0, 0, 0, 0), "raw");
        format_is(image(2, 0, 0, 72), "qcow2");
        format_is(image(3, 0, 0, 512), "qcow2");
        /* a feature bit that names no other file */
        format_is(image(3, 0, UINT64_C(1) << 1, 512), "qcow2");
}

Test(disk_image, a_backing_file_is_refused)
{
        refused(image(2, 0x200, 0, 512), EPERM, "the image has a backing file");
        refused(image(3, 0x200, 0, 512), EPERM, "the image has a backing file");
}

Test(disk_image, an_external_data_file_is_refused)
{
        refused(image(3, 0, UINT64_C(1) << 2, 512), EPERM, "external data file");
}

Test(disk_image, cut_short_or_unknown_qcow2_is_refused)
{
        refused(image(3, 0, 0, 12), EBADMSG, "cut short");
        refused(image(3, 0, 0, 80), EBADMSG, "cut short");
        refused(image(4, 0, 0, 512), EPROTONOSUPPORT, "version 4");
}
