/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The readers of sealed bytes: suspend images (sealed-stream.h) and host data
 * (hostdata.h). The first byte picks what the rest is:
 *   0  bytes a suspend image reader opens: it never crashes and never accepts
 *   1  plaintext that is sealed, then changed at one place (or cut) by the
 *      next bytes: an unchanged stream reads back as it was, a changed one
 *      is refused, never read as other data
 *   2  a host data block (padded with zeros)
 *   3  host data fields, sealed, then one byte changed: same rule as 1 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hostdata.h"
#include "macro.h"
#include "sealed-stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[16] = "kzones-fuzz-key!";

static int memfd_with(const uint8_t *d, size_t n)
{
        int fd = memfd_create("fuzz", MFD_CLOEXEC);

        if (fd < 0 || write(fd, d, n) != (ssize_t) n || lseek(fd, 0, SEEK_SET) != 0)
                abort();
        return fd;
}

/* Reads a stream to its end: the bytes it returned in out (up to cap), or an error. */
static ssize_t read_stream(int fd, uint8_t *out, size_t cap)
{
        _cleanup_(seal_reader_freep) SealReader *r = NULL;
        const uint8_t *p;
        size_t total = 0;
        ssize_t n;
        int k;

        k = seal_reader_new(fd, key, "zone-uuid", 1, &r);
        if (k < 0)
                return k;
        while ((n = seal_reader_next(r, &p)) > 0) {
                if (total + (size_t) n > cap)
                        return -E2BIG;
                memcpy(out + total, p, (size_t) n);
                total += (size_t) n;
        }
        if (n < 0)
                return n;
        if (seal_reader_total(r) != total)
                abort();
        return (ssize_t) total;
}

static void raw_stream(const uint8_t *d, size_t n)
{
        uint8_t out[32768];
        int fd = memfd_with(d, n);

        /* nobody without the key makes a stream that opens */
        if (read_stream(fd, out, sizeof(out)) >= 0 && n > 0)
                abort();
        (void) close(fd);
}

static void sealed_then_changed(const uint8_t *d, size_t n)
{
        uint8_t out[32768], *image;
        SealWriter *w = NULL;
        uint32_t where = 0;
        uint8_t how = 0;
        off_t size;
        ssize_t got;
        int fd = memfd_create("fuzz", MFD_CLOEXEC);

        if (n < 5)
                return;
        memcpy(&where, d, 4);
        how = d[4];
        d += 5;
        n -= 5;
        if (fd < 0 || seal_writer_new(fd, key, "zone-uuid", 1, &w) < 0 || seal_writer_write(w, d, n) < 0 || seal_writer_finish(w) < 0)
                abort();
        size = lseek(fd, 0, SEEK_END);
        image = malloc((size_t) size);
        if (!image || pread(fd, image, (size_t) size, 0) != size)
                abort();
        (void) close(fd);
        where %= (uint32_t) size;
        if (how == 0xff)
                size = where;           /* cut */
        else
                image[where] ^= how;    /* changed (how == 0: untouched) */
        fd = memfd_with(image, (size_t) size);
        got = read_stream(fd, out, sizeof(out));
        (void) close(fd);
        free(image);
        if (how == 0) {
                if (got != (ssize_t) n || memcmp(out, d, n) != 0)
                        abort();
        } else if (got >= 0)
                abort();
}

static void raw_hostdata(const uint8_t *d, size_t n)
{
        uint8_t buf[HOSTDATA_BLOCK] = {};
        HostData hd;

        memcpy(buf, d, MIN(n, sizeof(buf)));
        if (hostdata_open(buf, key, NULL, 0, &hd) >= 0)
                abort();
}

static void hostdata_then_changed(const uint8_t *d, size_t n)
{
        uint8_t buf[HOSTDATA_BLOCK];
        HostData hd = {}, back = {};
        uint16_t where;
        uint8_t how;
        int r;

        if (n < 3)
                return;
        memcpy(&where, d, 2);
        how = d[2];
        d += 3;
        n -= 3;
        /* fields separated by NUL: hostid, hostname, state, image */
        {
                char *f[] = { hd.hostid, hd.hostname, hd.state, hd.image };
                size_t sz[] = { sizeof(hd.hostid), sizeof(hd.hostname), sizeof(hd.state), sizeof(hd.image) };
                size_t at = 0;

                for (size_t i = 0; i < 4 && at < n; i++) {
                        size_t l = strnlen((const char *) d + at, n - at);
                        memcpy(f[i], d + at, MIN(l, sz[i] - 1));
                        at += l + 1;
                }
        }
        hd.updated = n;
        r = hostdata_seal(&hd, key, buf);
        if (r < 0)
                return;
        buf[where % HOSTDATA_BLOCK] ^= how;
        r = hostdata_open(buf, key, NULL, 0, &back);
        if (how == 0) {
                if (r < 0 || !streq(back.hostid, hd.hostid) || !streq(back.hostname, hd.hostname) ||
                    !streq(back.state, hd.state) || !streq(back.image, hd.image) || back.updated != hd.updated)
                        abort();
        } else if (r >= 0) {
                /* a change past the sealed text (zero padding) is harmless; anything else must fail */
                uint32_t len;
                memcpy(&len, buf + 20, 4);
                if ((where % HOSTDATA_BLOCK) < 24u + len)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1 || size > 16384)
                return 0;
        switch (data[0] % 4) {
        case 0:
                raw_stream(data + 1, size - 1);
                break;
        case 1:
                sealed_then_changed(data + 1, size - 1);
                break;
        case 2:
                raw_hostdata(data + 1, size - 1);
                break;
        case 3:
                hostdata_then_changed(data + 1, size - 1);
                break;
        }
        return 0;
}
