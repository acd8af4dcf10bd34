/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base64.h"
#include "macro.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(const uint8_t *in, size_t n, char *out)
{
        size_t i = 0;

        for (; i + 2 < n; i += 3) {
                *out++ = alphabet[in[i] >> 2];
                *out++ = alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
                *out++ = alphabet[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
                *out++ = alphabet[in[i + 2] & 63];
        }
        if (i < n) {
                *out++ = alphabet[in[i] >> 2];
                if (i + 1 < n) {
                        *out++ = alphabet[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
                        *out++ = alphabet[(in[i + 1] & 15) << 2];
                } else {
                        *out++ = alphabet[(in[i] & 3) << 4];
                        *out++ = '=';
                }
                *out++ = '=';
        }
        *out = 0;
}

static int value_of(char c)
{
        const char *p = c ? strchr(alphabet, c) : NULL;

        return p ? (int) (p - alphabet) : -1;
}

ssize_t base64_decode(const char *in, uint8_t *out, size_t max)
{
        size_t len = strlen(in), n = 0;

        if (len % 4 != 0)
                return -EINVAL;
        for (size_t i = 0; i < len; i += 4) {
                int v[4];
                unsigned pad = 0;

                for (unsigned j = 0; j < 4; j++) {
                        if (in[i + j] == '=' && i + 4 == len && j >= 2) {
                                v[j] = 0;
                                pad++;
                                continue;
                        }
                        if (pad)
                                return -EINVAL;
                        v[j] = value_of(in[i + j]);
                        if (v[j] < 0)
                                return -EINVAL;
                }
                if (n + 3 - pad > max)
                        return -ENOBUFS;
                /* canonical only: the bits that padding leaves unused are zero */
                if ((pad == 2 && (v[1] & 15)) || (pad == 1 && (v[2] & 3)))
                        return -EINVAL;
                out[n++] = (uint8_t) ((v[0] << 2) | (v[1] >> 4));
                if (pad < 2)
                        out[n++] = (uint8_t) (((v[1] & 15) << 4) | (v[2] >> 2));
                if (pad < 1)
                        out[n++] = (uint8_t) (((v[2] & 3) << 6) | v[3]);
        }
        return (ssize_t) n;
}
