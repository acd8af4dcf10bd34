/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How fast a suspend image is sealed and opened, side by side with its anchor:
 * GnuTLS's AES-128-GCM on the same 1 MiB chunks with nothing around it. The
 * difference is what the sealed stream's framing and I/O cost. */
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <time.h>

#include "macro.h"
#include "sealed-stream.h"

#define TOTAL (1024ull * 1024 * 1024)

static double now(void)
{
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(void)
{
        static uint8_t key[16] = { 1, 2, 3 }, nonce[12];
        _cleanup_free_ uint8_t *buf = malloc(SEALED_CHUNK), *out = malloc(SEALED_CHUNK + 16);
        char path[] = "/tmp/kzones-bench-XXXXXX";
        gnutls_aead_cipher_hd_t h;
        gnutls_datum_t k = { key, 16 };
        SealWriter *w = NULL;
        SealReader *r = NULL;
        const uint8_t *data;
        double t, anchor, seal, open_;
        ssize_t n;
        int fd;

        if (!buf || !out)
                return 1;
        memset(buf, 0x5a, SEALED_CHUNK);

        /* the anchor: the cipher alone */
        if (gnutls_aead_cipher_init(&h, GNUTLS_CIPHER_AES_128_GCM, &k) < 0)
                return 1;
        t = now();
        for (uint64_t done = 0; done < TOTAL; done += SEALED_CHUNK) {
                size_t outlen = SEALED_CHUNK + 16;
                nonce[0]++;
                if (gnutls_aead_cipher_encrypt(h, nonce, 12, NULL, 0, 16, buf, SEALED_CHUNK, out, &outlen) < 0)
                        return 1;
        }
        anchor = (double) TOTAL / (now() - t) / 1e9;
        gnutls_aead_cipher_deinit(h);

        /* sealing to a file (tmpfs or disk: where /tmp is) */
        fd = mkstemp(path);
        if (fd < 0)
                return 1;
        t = now();
        if (seal_writer_new(fd, key, "00000000-0000-4000-8000-000000000000", 1, &w) < 0)
                return 1;
        for (uint64_t done = 0; done < TOTAL; done += SEALED_CHUNK)
                if (seal_writer_write(w, buf, SEALED_CHUNK) < 0)
                        return 1;
        if (seal_writer_finish(w) < 0)
                return 1;
        seal = (double) TOTAL / (now() - t) / 1e9;

        /* opening and verifying it */
        (void) lseek(fd, 0, SEEK_SET);
        t = now();
        if (seal_reader_new(fd, key, "00000000-0000-4000-8000-000000000000", 1, &r) < 0)
                return 1;
        while ((n = seal_reader_next(r, &data)) > 0)
                ;
        open_ = (double) TOTAL / (now() - t) / 1e9;
        if (n < 0 || seal_reader_total(r) != TOTAL)
                return 1;
        seal_reader_free(r);
        (void) close(fd);
        (void) unlink(path);

        printf("%-44s %8s\n", "1 GiB in 1 MiB chunks", "GB/s");
        printf("%-44s %8.2f\n", "anchor: GnuTLS AES-128-GCM, memory to memory", anchor);
        printf("%-44s %8.2f  (%.0f%% of the anchor)\n", "sealing a suspend image to /tmp", seal, 100 * seal / anchor);
        printf("%-44s %8.2f  (%.0f%% of the anchor)\n", "opening and verifying it", open_, 100 * open_ / anchor);
        return 0;
}
