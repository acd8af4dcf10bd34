/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "macro.h"
#include "sealed-stream.h"
#include "zone-key.h"

#define MAGIC "KZSUSP02"
#define UUID_MAX 40u
#define HEADER 32u
#define TAG 16u

struct SealWriter {
        gnutls_aead_cipher_hd_t h;
        int fd;
        uint8_t header[HEADER];
        char uuid[UUID_MAX];
        uint32_t counter;
        uint8_t *buf;
        size_t len;
        uint8_t *out;
};

struct SealReader {
        gnutls_aead_cipher_hd_t h;
        int fd;
        uint8_t header[HEADER];
        char uuid[UUID_MAX];
        uint32_t counter;
        uint32_t chunk;
        bool done;
        uint8_t *in;
        uint8_t *plain;
        uint64_t total;
};

static int derive(const uint8_t zone_key[16], gnutls_aead_cipher_hd_t *ret)
{
        return zone_key_aead(zone_key, ZONE_KEY_SUSPEND, GNUTLS_CIPHER_AES_128_GCM, ret);
}

#define AD_MAX (HEADER + 5 + UUID_MAX)

static size_t nonce_and_ad(const uint8_t header[HEADER], const char *uuid, uint32_t counter, bool last,
                uint8_t nonce[12], uint8_t ad[AD_MAX])
{
        size_t n = strnlen(uuid, UUID_MAX - 1);

        memcpy(nonce, header + 12, 8);
        nonce[8] = (uint8_t) (counter >> 24);
        nonce[9] = (uint8_t) (counter >> 16);
        nonce[10] = (uint8_t) (counter >> 8);
        nonce[11] = (uint8_t) counter;
        memcpy(ad, header, HEADER);
        memcpy(ad + HEADER, nonce + 8, 4);
        ad[HEADER + 4] = last;
        memcpy(ad + HEADER + 5, uuid, n);
        return HEADER + 5 + n;
}

static int set_uuid(char dest[UUID_MAX], const char *uuid)
{
        if (!uuid || strlen(uuid) >= UUID_MAX)
                return -EINVAL;
        strcpy(dest, uuid);
        return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static ssize_t read_full(int fd, uint8_t *p, size_t n)
{
        size_t done = 0;

        while (done < n) {
                ssize_t k = read(fd, p + done, n - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

SealWriter *seal_writer_free(SealWriter *w)
{
        if (!w)
                return NULL;
        if (w->h)
                gnutls_aead_cipher_deinit(w->h);
        /* the guest's memory, in the clear */
        if (w->buf)
                explicit_bzero(w->buf, SEALED_CHUNK);
        free(w->buf);
        free(w->out);
        free(w);
        return NULL;
}

int seal_writer_new(int fd, const uint8_t zone_key[16], const char *uuid, uint64_t generation, SealWriter **ret)
{
        _cleanup_(seal_writer_freep) SealWriter *w = calloc(1, sizeof(*w));
        uint32_t chunk = SEALED_CHUNK;
        int r;

        if (!w)
                return -ENOMEM;
        r = set_uuid(w->uuid, uuid);
        if (r < 0)
                return r;
        w->fd = fd;
        w->buf = malloc(SEALED_CHUNK);
        w->out = malloc(SEALED_CHUNK + TAG);
        if (!w->buf || !w->out)
                return -ENOMEM;
        r = derive(zone_key, &w->h);
        if (r < 0)
                return r;
        memcpy(w->header, MAGIC, 8);
        memcpy(w->header + 8, &chunk, 4);
        if (gnutls_rnd(GNUTLS_RND_NONCE, w->header + 12, 8) < 0)
                return -EIO;
        for (unsigned i = 0; i < 8; i++)
                w->header[20 + i] = (uint8_t) (generation >> (8 * i));
        r = write_all(fd, w->header, HEADER);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(w);
        return 0;
}

static int emit(SealWriter *w, bool last)
{
        uint8_t nonce[12], ad[AD_MAX], head[5];
        size_t outlen = SEALED_CHUNK + TAG, adlen;
        uint32_t len = (uint32_t) w->len;
        int r;

        adlen = nonce_and_ad(w->header, w->uuid, w->counter, last, nonce, ad);
        if (gnutls_aead_cipher_encrypt(w->h, nonce, 12, ad, adlen, TAG, w->buf, w->len, w->out, &outlen) < 0)
                return -EIO;
        memcpy(head, &len, 4);
        head[4] = last;
        r = write_all(w->fd, head, 5);
        if (r >= 0)
                r = write_all(w->fd, w->out, outlen);
        if (r < 0)
                return r;
        w->counter++;
        w->len = 0;
        return 0;
}

int seal_writer_write(SealWriter *w, const void *data, size_t n)
{
        const uint8_t *p = data;

        while (n > 0) {
                size_t k = MIN(n, SEALED_CHUNK - w->len);
                int r;

                memcpy(w->buf + w->len, p, k);
                w->len += k;
                p += k;
                n -= k;
                if (w->len == SEALED_CHUNK) {
                        r = emit(w, false);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int seal_writer_finish(SealWriter *w)
{
        int r = emit(w, true);

        if (r >= 0 && fsync(w->fd) < 0 && errno != EINVAL)
                r = -errno;
        seal_writer_free(w);
        return r;
}

SealReader *seal_reader_free(SealReader *r)
{
        if (!r)
                return NULL;
        if (r->h)
                gnutls_aead_cipher_deinit(r->h);
        free(r->in);
        if (r->plain)
                explicit_bzero(r->plain, r->chunk);
        free(r->plain);
        free(r);
        return NULL;
}

int seal_reader_new(int fd, const uint8_t zone_key[16], const char *uuid, uint64_t generation, SealReader **ret)
{
        _cleanup_(seal_reader_freep) SealReader *r = calloc(1, sizeof(*r));
        uint64_t g = 0;
        ssize_t n;
        int k;

        if (!r)
                return -ENOMEM;
        k = set_uuid(r->uuid, uuid);
        if (k < 0)
                return k;
        r->fd = fd;
        n = read_full(fd, r->header, HEADER);
        if (n < 0)
                return (int) n;
        if (n != HEADER || memcmp(r->header, MAGIC, 8) != 0)
                return -EBADMSG;
        memcpy(&r->chunk, r->header + 8, 4);
        if (r->chunk == 0 || r->chunk > 16 * SEALED_CHUNK)
                return -EBADMSG;
        for (unsigned i = 0; i < 8; i++)
                g |= (uint64_t) r->header[20 + i] << (8 * i);
        if (g != generation)
                return -ESTALE;
        r->in = malloc(r->chunk + TAG);
        r->plain = malloc(r->chunk);
        if (!r->in || !r->plain)
                return -ENOMEM;
        k = derive(zone_key, &r->h);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(r);
        return 0;
}

ssize_t seal_reader_next(SealReader *r, const uint8_t **ret)
{
        uint8_t head[5], nonce[12], ad[AD_MAX];
        size_t plen = r->chunk, adlen;
        uint32_t len;
        ssize_t n;

        if (r->done)
                return 0;
        n = read_full(r->fd, head, 5);
        if (n < 0)
                return n;
        if (n < 5)
                return -EPIPE; /* cut short: the last chunk never came */
        memcpy(&len, head, 4);
        if (len > r->chunk || head[4] > 1)
                return -EBADMSG;
        n = read_full(r->fd, r->in, (size_t) len + TAG);
        if (n < 0)
                return n;
        if ((size_t) n < (size_t) len + TAG)
                return -EPIPE;
        adlen = nonce_and_ad(r->header, r->uuid, r->counter, head[4], nonce, ad);
        if (gnutls_aead_cipher_decrypt(r->h, nonce, 12, ad, adlen, TAG, r->in, (size_t) len + TAG, r->plain,
                    &plen) < 0)
                return -EBADMSG;
        r->counter++;
        r->total += plen;
        if (head[4]) {
                /* nothing may follow the last chunk */
                uint8_t extra;
                if (read_full(r->fd, &extra, 1) != 0)
                        return -EBADMSG;
                r->done = true;
                if (plen == 0)
                        return 0;
        }
        *ret = r->plain;
        return (ssize_t) plen;
}

uint64_t seal_reader_total(const SealReader *r)
{
        return r->total;
}
