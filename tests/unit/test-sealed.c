/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host data and suspend images are bound to their zone and generation: what was
 * sealed for another zone, or earlier, does not open as the zone's current state. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostdata.h"
#include "sealed-stream.h"
#include "zone-key.h"

static const uint8_t key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
#define KZ1 "6f1c2b1e-0c55-4b8e-9d1a-5a0f6b7c8d90"
#define KZ2 "0e2d3c4b-5a69-4788-9a6b-c7d8e9f0a1b2"

static HostData record(const char *uuid, uint64_t generation, const char *state)
{
        HostData hd = { .hostid = "1234abcd", .hostname = "host1", .generation = generation, .suspend = 7 };

        (void) snprintf(hd.state, sizeof(hd.state), "%s", state);
        (void) snprintf(hd.uuid, sizeof(hd.uuid), "%s", uuid);
        return hd;
}

Test(hostdata, opens_for_its_zone)
{
        uint8_t buf[HOSTDATA_BLOCK];
        HostData hd = record(KZ1, 5, "running"), out = {};

        cr_assert_eq(hostdata_seal(&hd, key, buf), 0);
        cr_assert_eq(hostdata_open(buf, key, KZ1, 5, &out), 0);
        cr_assert_str_eq(out.state, "running");
        cr_assert_str_eq(out.uuid, KZ1);
        cr_assert_eq(out.generation, 5);
        cr_assert_eq(out.suspend, 7);
}

Test(hostdata, a_replayed_older_block_is_refused)
{
        uint8_t old[HOSTDATA_BLOCK], now[HOSTDATA_BLOCK];
        HostData detached = record(KZ1, 3, "detached"), running = record(KZ1, 4, "running"), out = {};

        cr_assert_eq(hostdata_seal(&detached, key, old), 0);
        cr_assert_eq(hostdata_seal(&running, key, now), 0);
        /* a host that has seen generation 4 refuses the "detached" block put back */
        cr_assert_eq(hostdata_open(old, key, KZ1, 4, &out), -ESTALE);
        cr_assert_eq(hostdata_open(now, key, KZ1, 4, &out), 0);
        /* and the generation cannot be changed in the header: it is authenticated */
        memcpy(now, old, sizeof(now));
        now[8 + 12 + 4] = 9;
        cr_assert_eq(hostdata_open(now, key, KZ1, 4, &out), -EBADMSG);
}

Test(hostdata, another_zones_block_is_refused)
{
        uint8_t buf[HOSTDATA_BLOCK];
        HostData hd = record(KZ2, 5, "installed"), out = {};

        cr_assert_eq(hostdata_seal(&hd, key, buf), 0);
        cr_assert_eq(hostdata_open(buf, key, KZ1, 0, &out), -EXDEV);
        /* nor can the UUID be rewritten: the header is the associated data */
        memcpy(buf + 8 + 12 + 4 + 8, KZ1, strlen(KZ1));
        cr_assert_eq(hostdata_open(buf, key, KZ1, 0, &out), -EBADMSG);
}

Test(hostdata, another_key_and_no_record)
{
        uint8_t buf[HOSTDATA_BLOCK], other[16] = { 0 };
        HostData hd = record(KZ1, 1, "installed"), out = {};

        cr_assert_eq(hostdata_seal(&hd, key, buf), 0);
        cr_assert_eq(hostdata_open(buf, other, KZ1, 0, &out), -EBADMSG);
        memset(buf, 0, sizeof(buf));
        cr_assert_eq(hostdata_open(buf, key, KZ1, 0, &out), -ENODATA);
}

Test(zone_key, each_use_has_its_own_key)
{
        uint8_t a[ZONE_KEY_SIZE], b[ZONE_KEY_SIZE], c[ZONE_KEY_SIZE];

        cr_assert_eq(zone_key_derive(key, ZONE_KEY_HOSTDATA, a), 0);
        cr_assert_eq(zone_key_derive(key, ZONE_KEY_SUSPEND, b), 0);
        cr_assert_eq(zone_key_derive(key, ZONE_KEY_HOSTDATA, c), 0);
        cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
        cr_assert_neq(memcmp(a, key, sizeof(a)), 0);
        cr_assert_eq(memcmp(a, c, sizeof(a)), 0);
}

/* A suspend image of 3 MiB and a bit, sealed for uuid at generation. */
static int image(const char *uuid, uint64_t generation)
{
        char path[] = "/tmp/kzones-test-image.XXXXXX";
        int fd = mkstemp(path);
        SealWriter *w = NULL;
        static char data[3 * 1024 * 1024 + 100];

        cr_assert_geq(fd, 0);
        (void) unlink(path);
        memset(data, 'z', sizeof(data));
        cr_assert_eq(seal_writer_new(fd, key, uuid, generation, &w), 0);
        cr_assert_eq(seal_writer_write(w, data, sizeof(data)), 0);
        cr_assert_eq(seal_writer_finish(w), 0);
        cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

static int read_image(int fd, const char *uuid, uint64_t generation)
{
        SealReader *r = NULL;
        const uint8_t *data;
        ssize_t n;
        int k;

        k = seal_reader_new(fd, key, uuid, generation, &r);
        if (k < 0)
                return k;
        while ((n = seal_reader_next(r, &data)) > 0)
                ;
        k = n < 0 ? (int) n : seal_reader_total(r) == 3 * 1024 * 1024 + 100 ? 0 : -EIO;
        seal_reader_free(r);
        return k;
}

Test(suspend_image, opens_for_its_zone_and_generation)
{
        int fd = image(KZ1, 42);

        cr_assert_eq(read_image(fd, KZ1, 42), 0);
        (void) close(fd);
}

Test(suspend_image, another_zones_image_is_refused)
{
        int fd = image(KZ2, 42); /* kz2 shares kz1's key (zonecfg export, -f) */

        cr_assert_eq(read_image(fd, KZ1, 42), -EBADMSG);
        (void) close(fd);
}

Test(suspend_image, an_older_image_is_refused)
{
        int fd = image(KZ1, 41);
        uint8_t g = 42;

        cr_assert_eq(read_image(fd, KZ1, 42), -ESTALE);
        /* the generation in the header cannot be changed: it is authenticated */
        cr_assert_eq(pwrite(fd, &g, 1, 20), 1);
        cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
        cr_assert_eq(read_image(fd, KZ1, 42), -EBADMSG);
        (void) close(fd);
}
