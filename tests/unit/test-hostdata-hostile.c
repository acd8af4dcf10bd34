/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host data says which host owns a zone; it is read from shared storage that any
 * host (or anyone with the storage) can write. A block that was not sealed with
 * the zone's key, or was changed, must never read as a record; and no field may
 * smuggle in another. Written against the public API of hostdata.h only. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "hostdata.h"

static const uint8_t key[16] = "fedcba9876543210";

static HostData sample(void)
{
        HostData hd = { .hostid = "1a2b3c4d", .hostname = "host1", .state = "running", .image = "solaris",
                .updated = 1700000000000000u };
        return hd;
}

static void sealed(uint8_t buf[HOSTDATA_BLOCK])
{
        HostData hd = sample();

        cr_assert_eq(hostdata_seal(&hd, key, buf), 0);
}

static int open_(const uint8_t buf[HOSTDATA_BLOCK])
{
        HostData hd;

        memset(&hd, 0x5a, sizeof(hd));
        return hostdata_open(buf, key, NULL, 0, &hd);
}

Test(hostdata, round_trip)
{
        uint8_t buf[HOSTDATA_BLOCK];
        HostData hd = {}, want = sample();

        sealed(buf);
        cr_assert_eq(hostdata_open(buf, key, NULL, 0, &hd), 0);
        cr_assert_str_eq(hd.hostid, want.hostid);
        cr_assert_str_eq(hd.hostname, want.hostname);
        cr_assert_str_eq(hd.state, want.state);
        cr_assert_str_eq(hd.image, want.image);
        cr_assert_eq(hd.updated, want.updated);
}

Test(hostdata, no_record)
{
        uint8_t buf[HOSTDATA_BLOCK] = {};

        cr_assert_eq(open_(buf), -ENODATA);
        memset(buf, 0xff, sizeof(buf));
        cr_assert_eq(open_(buf), -ENODATA);
        sealed(buf);
        buf[0] ^= 1;
        cr_assert_eq(open_(buf), -ENODATA);
}

Test(hostdata, another_key)
{
        uint8_t buf[HOSTDATA_BLOCK], other[16];
        HostData hd;

        sealed(buf);
        memcpy(other, key, 16);
        other[0] ^= 0x80;
        cr_assert_eq(hostdata_open(buf, other, NULL, 0, &hd), -EBADMSG);
}

Test(hostdata, every_byte_that_counts_is_authenticated)
{
        uint8_t good[HOSTDATA_BLOCK];
        size_t used;
        uint32_t len;

        sealed(good);
        /* magic 8, nonce 12, length 4, then the sealed text and its tag */
        memcpy(&len, good + 20, 4);
        used = 24 + len;
        cr_assert_lt(used, (size_t) HOSTDATA_BLOCK);
        for (size_t i = 8; i < used; i++) {
                uint8_t buf[HOSTDATA_BLOCK];

                memcpy(buf, good, sizeof(buf));
                buf[i] ^= 0x04;
                cr_assert_eq(open_(buf), -EBADMSG, "byte %zu changed unnoticed", i);
        }
}

Test(hostdata, lengths_out_of_range)
{
        static const uint32_t bad[] = { 0, 1, 15, HOSTDATA_BLOCK - 24 + 1, HOSTDATA_BLOCK, UINT32_MAX };
        uint8_t buf[HOSTDATA_BLOCK];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                sealed(buf);
                memcpy(buf + 20, &bad[i], 4);
                cr_assert_eq(open_(buf), -EBADMSG, "length %u", bad[i]);
        }
        /* the longest length that fits: the bytes after the record are zeros, not its tag */
        sealed(buf);
        {
                uint32_t max = HOSTDATA_BLOCK - 24;
                memcpy(buf + 20, &max, 4);
        }
        cr_assert_eq(open_(buf), -EBADMSG);
}

Test(hostdata, a_field_cannot_carry_another)
{
        /* a name with a newline would write "state=…" of its own into the sealed text */
        uint8_t buf[HOSTDATA_BLOCK];
        HostData hd = sample(), back = {};

        (void) snprintf(hd.hostname, sizeof(hd.hostname), "evil\nstate=installed");
        cr_assert_eq(hostdata_seal(&hd, key, buf), -EINVAL);
        hd = sample();
        (void) snprintf(hd.image, sizeof(hd.image), "be\nupdated=0");
        cr_assert_eq(hostdata_seal(&hd, key, buf), -EINVAL);
        hd = sample();
        (void) snprintf(hd.state, sizeof(hd.state), "running\r");
        cr_assert_eq(hostdata_seal(&hd, key, buf), -EINVAL);
        /* '=' in a value is fine: only the first one separates */
        hd = sample();
        (void) snprintf(hd.image, sizeof(hd.image), "a=b");
        cr_assert_eq(hostdata_seal(&hd, key, buf), 0);
        cr_assert_eq(hostdata_open(buf, key, NULL, 0, &back), 0);
        cr_assert_str_eq(back.image, "a=b");
        cr_assert_str_eq(back.state, "running");
}

Test(hostdata, longest_fields_round_trip)
{
        uint8_t buf[HOSTDATA_BLOCK];
        HostData hd = sample(), back = {};

        memset(hd.hostname, 'h', sizeof(hd.hostname) - 1);
        memset(hd.state, 's', sizeof(hd.state) - 1);
        memset(hd.image, 'i', sizeof(hd.image) - 1);
        hd.updated = UINT64_MAX;
        cr_assert_eq(hostdata_seal(&hd, key, buf), 0);
        cr_assert_eq(hostdata_open(buf, key, NULL, 0, &back), 0);
        cr_assert_str_eq(back.hostid, hd.hostid);
        cr_assert_str_eq(back.hostname, hd.hostname);
        cr_assert_str_eq(back.state, hd.state);
        cr_assert_str_eq(back.image, hd.image);
        cr_assert_eq(back.updated, UINT64_MAX);
}
