/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Property values: each kind checked and turned into its canonical form. */
#include <ctype.h>
#include <inttypes.h>

#include "size.h"
#include "storage-uri.h"
#include "zone-config-internal.h"

/* ---- values ------------------------------------------------------------------------ */

static bool valid_utf8(const char *s)
{
        const unsigned char *p = (const unsigned char *) s;

        while (*p) {
                unsigned n, cp;

                if (*p < 0x80) {
                        p++;
                        continue;
                }
                if ((*p & 0xe0) == 0xc0)
                        n = 1, cp = *p & 0x1f;
                else if ((*p & 0xf0) == 0xe0)
                        n = 2, cp = *p & 0x0f;
                else if ((*p & 0xf8) == 0xf0)
                        n = 3, cp = *p & 0x07;
                else
                        return false;
                p++;
                for (unsigned i = 0; i < n; i++, p++) {
                        if ((*p & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (*p & 0x3f);
                }
                if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
                    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
                        return false;
        }
        return true;
}

static bool has_control_chars(const char *s)
{
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

static bool valid_simple_name(const char *s, size_t max, const char *extra)
{
        size_t n = strlen(s);

        if (n == 0 || n > max || !isalnum((unsigned char) s[0]))
                return false;
        for (const char *c = s; *c; c++)
                if (!isalnum((unsigned char) *c) && !strchr(extra, *c))
                        return false;
        return true;
}

bool zone_name_is_valid(const char *name)
{
        if (!name || !valid_simple_name(name, ZONE_NAME_MAX, "-_."))
                return false;
        if (streq(name, "global") || strncmp(name, "SYS", 3) == 0)
                return false;
        return true;
}

static int parse_uint(const char *s, uint64_t *ret)
{
        uint64_t v = 0;

        if (isempty(s) || strlen(s) > 19)
                return -EINVAL;
        for (const char *c = s; *c; c++) {
                if (!isdigit((unsigned char) *c))
                        return -EINVAL;
                v = v * 10 + (uint64_t) (*c - '0');
        }
        *ret = v;
        return 0;
}

/* "0-3,8,10-11": ascending, each CPU at most 8191. */
static bool valid_cpu_list(const char *s)
{
        long last = -1;
        const char *p = s;

        if (isempty(s))
                return false;
        for (;;) {
                char *end;
                long a, b;

                if (!isdigit((unsigned char) *p))
                        return false;
                a = strtol(p, &end, 10);
                b = a;
                p = end;
                if (*p == '-') {
                        p++;
                        if (!isdigit((unsigned char) *p))
                                return false;
                        b = strtol(p, &end, 10);
                        p = end;
                }
                if (a > b || a <= last || b > 8191)
                        return false;
                last = b;
                if (*p == 0)
                        return true;
                if (*p != ',')
                        return false;
                p++;
        }
}

/* n octets of one or two hex digits separated by ':'; returns the octet count. */
static int parse_octets(const char *s, uint8_t *ret, size_t max)
{
        size_t n = 0;
        const char *p = s;

        if (isempty(s))
                return -EINVAL;
        for (;;) {
                unsigned v = 0, digits = 0;

                while (isxdigit((unsigned char) *p) && digits < 3) {
                        v = v * 16 + (unsigned) (isdigit((unsigned char) *p) ? *p - '0' : (tolower(*p) - 'a' + 10));
                        p++;
                        digits++;
                }
                if (digits == 0 || digits > 2 || n >= max)
                        return -EINVAL;
                ret[n++] = (uint8_t) v;
                if (*p == 0)
                        return (int) n;
                if (*p != ':')
                        return -EINVAL;
                p++;
        }
}

static char *format_octets(const uint8_t *o, size_t n)
{
        char buf[3 * 6 + 1] = "", *p = buf;

        for (size_t i = 0; i < n; i++)
                p += sprintf(p, i ? ":%x" : "%x", o[i]);
        return strdup(buf);
}

/* Checks value for property p and returns its canonical form. */
int prop_item_canonicalize(const PropInfo *p, const char *value, char **ret, KzError *e)
{
        uint64_t u;
        int r;

        if (strlen(value) > 4096)
                return kz_error_set(e, EINVAL, "%s value is too long.", p->name);
        if (has_control_chars(value))
                return kz_error_set(e, EINVAL, "%s value contains control characters.", p->name);
        if (!valid_utf8(value))
                return kz_error_set(e, EINVAL, "%s value is not valid UTF-8.", p->name);

        switch (p->type) {
        case PROP_STRING:
                break;

        case PROP_ZONENAME:
                if (!zone_name_is_valid(value))
                        return kz_error_set(e, EINVAL,
                                "\"%s\" is not a valid zone name: use up to %u letters, digits, '-', '_' and '.', "
                                "starting with a letter or digit; 'global' and names starting with 'SYS' are reserved.",
                                value, ZONE_NAME_MAX);
                break;

        case PROP_BOOL:
        case PROP_ENUM:
                for (const char *const *v = p->values; *v; v++)
                        if (streq(*v, value))
                                goto done;
                if (p->type == PROP_BOOL)
                        return kz_error_set(e, EINVAL, "\"%s\" is not a valid %s value: use true or false.", value,
                                p->name);
                return kz_error_set(e, EINVAL, "\"%s\" is not a valid %s name.", value, p->name);

        case PROP_UINT:
                if (parse_uint(value, &u) < 0)
                        return kz_error_set(e, EINVAL, "\"%s\" is not a valid %s: expected a number.", value,
                                p->name);
                if (u < p->min || u > p->max)
                        return kz_error_set(e, ERANGE, "%s value %s is out of range: it must be between %" PRIu64
                                " and %" PRIu64 ".", p->name, value, p->min, p->max);
                if (asprintf(ret, "%" PRIu64, u) < 0)
                        return -ENOMEM;
                return 0;

        case PROP_SIZE:
        case PROP_PAGESIZE: {
                char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];

                r = size_parse(value, &u);
                if (r < 0)
                        return kz_error_set(e, EINVAL,
                                "\"%s\" is not a valid %s: expected a number with an optional K, M, G or T.",
                                value, p->name);
                if (u < p->min)
                        return kz_error_set(e, ERANGE, "%s value is too small. It must be at least %s.", p->name,
                                size_format(p->min, a, sizeof(a)));
                if (u > p->max)
                        return kz_error_set(e, ERANGE, "%s value is too large. It must be at most %s.", p->name,
                                size_format(p->max, a, sizeof(a)));
                if (p->type == PROP_PAGESIZE && (u & (u - 1)) != 0)
                        return kz_error_set(e, EINVAL, "%s value %s is not a page size: it must be a power of two "
                                "(2M, 1G, …).", p->name, value);
                if (p->type == PROP_SIZE && u % (2 * SIZE_M) != 0)
                        return kz_error_set(e, EINVAL, "%s value %s is not a multiple of %s.", p->name, value,
                                size_format(2 * SIZE_M, b, sizeof(b)));
                *ret = strdup(size_format(u, a, sizeof(a)));
                return *ret ? 0 : -ENOMEM;
        }

        case PROP_CPUS:
                if (!valid_cpu_list(value))
                        return kz_error_set(e, EINVAL,
                                "\"%s\" is not a valid CPU list: expected ascending CPU numbers and ranges such as 8-15,20.",
                                value);
                break;

        case PROP_MAC: {
                uint8_t o[6];

                if (streq(value, "auto") || streq(value, "random"))
                        break;
                r = parse_octets(value, o, 6);
                if (r != 6)
                        return kz_error_set(e, EINVAL, "\"%s\" is not a valid %s: expected auto, random or six "
                                "hexadecimal octets such as 0:1:2:3:4:5.", value, p->name);
                if (o[0] & 1)
                        return kz_error_set(e, EINVAL, "%s %s is a multicast address.", p->name, value);
                *ret = format_octets(o, 6);
                return *ret ? 0 : -ENOMEM;
        }

        case PROP_MAC_PREFIX: {
                uint8_t o[6];

                if (streq(value, "any"))
                        break;
                r = parse_octets(value, o, 6);
                if (r < 0)
                        return kz_error_set(e, EINVAL, "\"%s\" is not a valid %s: expected any or one to six "
                                "hexadecimal octets such as fa:16:3f.", value, p->name);
                *ret = format_octets(o, (size_t) r);
                return *ret ? 0 : -ENOMEM;
        }

        case PROP_VLAN_RANGE: {
                uint64_t a, b;
                const char *dash = strchr(value, '-');
                _cleanup_free_ char *first = NULL;

                if (streq(value, "any"))
                        break;
                first = strndup(value, dash ? (size_t) (dash - value) : strlen(value));
                if (!first)
                        return -ENOMEM;
                if (parse_uint(first, &a) < 0 || (dash && parse_uint(dash + 1, &b) < 0))
                        return kz_error_set(e, EINVAL, "\"%s\" is not a valid %s: expected any, a VLAN id or a "
                                "range such as 100-199.", value, p->name);
                if (!dash)
                        b = a;
                if (a < 1 || b > 4094 || a > b)
                        return kz_error_set(e, ERANGE, "%s %s is out of range: VLAN ids are 1 to 4094.", p->name,
                                value);
                if (dash ? asprintf(ret, "%" PRIu64 "-%" PRIu64, a, b) < 0 : asprintf(ret, "%" PRIu64, a) < 0)
                        return -ENOMEM;
                return 0;
        }

        case PROP_STORAGE: {
                const char *reason = NULL;
                _cleanup_free_ char *probe = NULL;
                const char *check = value;

                /* Tokens are checked with a stand-in value; the real one comes at use. */
                if (strstr(value, "%{")) {
                        probe = strdup(value);
                        if (!probe)
                                return -ENOMEM;
                        for (char *t; (t = strstr(probe, "%{"));) {
                                char *end = strchr(t, '}');
                                if (!end || (strncmp(t, "%{zonename}", 11) != 0 && strncmp(t, "%{id}", 5) != 0))
                                        return kz_error_set(e, EINVAL, "%s %s uses an unknown token: only "
                                                "%%{zonename} and %%{id} are known.", p->name, value);
                                memset(t, 'x', (size_t) (end - t + 1));
                        }
                        check = probe;
                }
                r = storage_uri_parse(check, NULL, &reason);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return kz_error_set(e, EINVAL, "%s is not a valid storage URI: %s.", value, reason);
                break;
        }

        case PROP_PATH: {
                const char *reason = NULL;
                _cleanup_free_ char *uri = NULL;

                if (value[0] != '/')
                        return kz_error_set(e, EINVAL, "%s %s is not an absolute path.", p->name, value);
                if (asprintf(&uri, "file://%s", value) < 0)
                        return -ENOMEM;
                if (storage_uri_parse(uri, NULL, &reason) < 0)
                        return kz_error_set(e, EINVAL, "%s %s is not a clean absolute path.", p->name, value);
                break;
        }

        case PROP_KEY: {
                uint8_t key[16];

                if (zone_keysource_decode(value, key) < 0)
                        return kz_error_set(e, EINVAL,
                                "%s is not a valid key: expected {base64} followed by a base64-encoded 16-byte key.",
                                p->name);
                break;
        }

        case PROP_HOSTID: {
                const char *h = value;
                unsigned long v;

                if (strncmp(h, "0x", 2) == 0 || strncmp(h, "0X", 2) == 0)
                        h += 2;
                if (isempty(h) || strlen(h) > 8)
                        goto bad_hostid;
                for (const char *c = h; *c; c++)
                        if (!isxdigit((unsigned char) *c))
                                goto bad_hostid;
                v = strtoul(h, NULL, 16);
                if (asprintf(ret, "0x%08lx", v) < 0)
                        return -ENOMEM;
                return 0;
        bad_hostid:
                return kz_error_set(e, EINVAL, "\"%s\" is not a valid hostid: expected up to 8 hexadecimal digits.",
                        value);
        }

        case PROP_LINK:
                if (!streq(value, "auto") && !valid_simple_name(value, 15, "-_."))
                        return kz_error_set(e, EINVAL, "\"%s\" is not a valid %s: expected auto or a network "
                                "interface name of up to 15 characters.", value, p->name);
                break;

        case PROP_CPU_ARCH:
                if (!valid_simple_name(value, 63, "-_.+"))
                        return kz_error_set(e, EINVAL, "\"%s\" is not a valid %s: expected generic, native, "
                                "migration-classN or a CPU model name.", value, p->name);
                break;

        case PROP_USER:
                if (!valid_simple_name(value, 32, "-_.") || isdigit((unsigned char) value[0]))
                        return kz_error_set(e, EINVAL, "\"%s\" is not a valid user name.", value);
                break;

        case PROP_NAME:
                if (!valid_simple_name(value, 63, "-_."))
                        return kz_error_set(e, EINVAL, "\"%s\" is not a valid %s: use letters, digits, '-', '_' "
                                "and '.'.", value, p->name);
                break;

        case _PROP_TYPE_MAX:
        case _PROP_TYPE_INVALID:
                return -EINVAL;
        }
done:
        *ret = strdup(value);
        return *ret ? 0 : -ENOMEM;
}

/* A list value: each element canonical, no duplicates. */
static int list_canonicalize(const PropInfo *p, const char *value, char **ret, KzError *e)
{
        _cleanup_free_ char *copy = strdup(value), *out = NULL;
        size_t len = 0;
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        if (isempty(value) || value[0] == ',' || value[strlen(value) - 1] == ',' || strstr(value, ",,"))
                return kz_error_set(e, EINVAL, "\"%s\" is not a valid %s list: expected comma-separated values.",
                        value, p->name);
        if (strchr(value, ',') && (streq(value, "any") || strncmp(value, "any,", 4) == 0 || strstr(value, ",any,") ||
                                   (strlen(value) > 4 && streq(value + strlen(value) - 4, ",any"))))
                return kz_error_set(e, EINVAL, "%s: 'any' cannot be combined with other values.", p->name);
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                _cleanup_free_ char *c = NULL;
                char *n;
                int r;

                r = prop_item_canonicalize(p, tok, &c, e);
                if (r < 0)
                        return r;
                if (out) {
                        _cleanup_free_ char *probe = NULL;
                        if (asprintf(&probe, ",%s,", out) < 0)
                                return -ENOMEM;
                        /* compare as ",a,b," against ",c," */
                        _cleanup_free_ char *needle = NULL;
                        if (asprintf(&needle, ",%s,", c) < 0)
                                return -ENOMEM;
                        if (strstr(probe, needle))
                                return kz_error_set(e, EEXIST, "%s %s is listed twice.", p->name, c);
                }
                n = realloc(out, len + strlen(c) + 2);
                if (!n)
                        return -ENOMEM;
                out = n;
                if (len)
                        out[len++] = ',';
                strcpy(out + len, c);
                len += strlen(c);
        }
        *ret = TAKE_PTR(out);
        return 0;
}

int prop_value_canonicalize(const PropInfo *p, const char *value, char **ret, KzError *e)
{
        if (p->flags & PROP_FLAG_LIST)
                return list_canonicalize(p, value, ret, e);
        return prop_item_canonicalize(p, value, ret, e);
}
