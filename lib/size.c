/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <inttypes.h>

#include "macro.h"
#include "size.h"

int size_parse(const char *s, uint64_t *ret)
{
        uint64_t v = 0, mul = 1;
        const char *p = s;

        if (isempty(s))
                return -EINVAL;
        if (!isdigit((unsigned char) *p))
                return -EINVAL;
        for (; isdigit((unsigned char) *p); p++) {
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        switch (toupper((unsigned char) *p)) {
        case 'K':
                mul = SIZE_K;
                p++;
                break;
        case 'M':
                mul = SIZE_M;
                p++;
                break;
        case 'G':
                mul = SIZE_G;
                p++;
                break;
        case 'T':
                mul = SIZE_T;
                p++;
                break;
        case '\0':
        case 'B':
        case 'b':
                break;
        default:
                return -EINVAL;
        }
        if (*p == 'B' || *p == 'b')
                p++;
        if (*p)
                return -EINVAL;
        if (v > UINT64_MAX / mul)
                return -ERANGE;
        *ret = v * mul;
        return 0;
}

char *size_format(uint64_t bytes, char *buf, size_t len)
{
        static const struct {
                char suffix;
                uint64_t factor;
        } table[] = {
                { 'T', SIZE_T },
                { 'G', SIZE_G },
                { 'M', SIZE_M },
                { 'K', SIZE_K },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (bytes >= table[i].factor && bytes % table[i].factor == 0) {
                        (void) snprintf(buf, len, "%" PRIu64 "%c", bytes / table[i].factor, table[i].suffix);
                        return buf;
                }
        (void) snprintf(buf, len, "%" PRIu64, bytes);
        return buf;
}
