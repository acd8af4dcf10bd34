/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <inttypes.h>
#include <gnutls/gnutls.h>
#include <sys/random.h>

#include "size.h"
#include "storage-uri.h"
#include "zone-config.h"

/* ---- the tables ---------------------------------------------------------------- */

static const char *const bool_values[] = { "true", "false", NULL };
static const char *const brand_values[] = { "kz", "solaris", NULL };
static const char *const autoshutdown_values[] = { "shutdown", "halt", "suspend", NULL };
static const char *const host_compatible_values[] = { "native", "memlzs", "meml2r", "level1", "level2", "adi", NULL };
static const char *const pagesize_policy_values[] = { "smallest-only", "largest-available", "largest-only", "fixed",
        NULL };
static const char *const memlzs_values[] = { "strict", NULL };
static const char *const iov_values[] = { "off", "on", "auto", NULL };
static const char *const auths_values[] = { "login", "manage", "copyfrom", "clonefrom", "config", "liveconfig",
        "migrate", NULL };

#define PROPS(a) .props = a, .n_props = ELEMENTSOF(a)

static const PropInfo zone_props[] = {
        { "zonename", PROP_ZONENAME },
        { "brand", PROP_ENUM, .values = brand_values },
        { "autoboot", PROP_BOOL, .values = bool_values },
        { "autoshutdown", PROP_ENUM, .values = autoshutdown_values },
        { "bootargs", PROP_STRING },
        { "hostid", PROP_HOSTID },
        { "cpu-arch", PROP_CPU_ARCH },
        { "host-compatible", PROP_ENUM, .values = host_compatible_values },
};

static const PropInfo capped_memory_props[] = {
        { "physical", PROP_SIZE, .min = 2 * SIZE_M, .max = 2 * SIZE_T },
        { "pagesize-policy", PROP_ENUM, .values = pagesize_policy_values },
        { "pagesize", PROP_PAGESIZE, .min = 2 * SIZE_M, .max = 16 * SIZE_G },
        { "memory-reserve", PROP_NAME },
        { "memlzs", PROP_ENUM, .values = memlzs_values },
};

static const PropInfo virtual_cpu_props[] = {
        { "ncpus", PROP_UINT, .min = 1, .max = 512 },
};

static const PropInfo dedicated_cpu_props[] = {
        { "ncpus", PROP_UINT, .min = 1, .max = 512 },
        { "cpus", PROP_CPUS },
};

static const PropInfo device_props[] = {
        { "storage", PROP_STORAGE },
        { "id", PROP_UINT, .min = 0, .max = 65535 },
        { "bootpri", PROP_UINT, .min = 0, .max = 65535 },
        { "allow-mhd", PROP_BOOL, .values = bool_values },
};

static const PropInfo mac_props[] = {
        { "mac-address", PROP_MAC },
        { "allowed-mac-address", PROP_MAC_PREFIX, PROP_FLAG_LIST },
};

static const PropInfo vlan_props[] = {
        { "vlan-id", PROP_UINT, .min = 1, .max = 4094 },
        { "allowed-vlan-ids", PROP_VLAN_RANGE, PROP_FLAG_LIST },
};

static const PropInfo anet_props[] = {
        { "lower-link", PROP_LINK },
        { "mac-address", PROP_MAC },
        { "vlan-id", PROP_UINT, .min = 1, .max = 4094 },
        { "configure-allowed-address", PROP_BOOL, .values = bool_values },
        { "iov", PROP_ENUM, .values = iov_values },
        { "id", PROP_UINT, .min = 0, .max = 65535 },
};

static const PropInfo suspend_props[] = {
        { "path", PROP_PATH },
        { "storage", PROP_STORAGE },
};

static const PropInfo keysource_props[] = {
        { "raw", PROP_KEY, PROP_FLAG_SECRET },
};

static const PropInfo admin_props[] = {
        { "user", PROP_USER },
        { "auths", PROP_ENUM, PROP_FLAG_LIST, .values = auths_values },
};

static const PropInfo boot_props[] = {
        { "kernel", PROP_PATH },
        { "initrd", PROP_PATH },
        { "cmdline", PROP_STRING },
};

static const ResourceType mac_type = { "mac", PROPS(mac_props), .multi = true };
static const ResourceType vlan_type = { "vlan", PROPS(vlan_props), .multi = true };
static const ResourceType *const anet_children[] = { &mac_type, &vlan_type, NULL };

static const ResourceType anet_type = {
        "anet", PROPS(anet_props), .multi = true, .key = "id", .auto_key = true, .children = anet_children
};
static const ResourceType device_type = { "device", PROPS(device_props), .multi = true, .key = "id", .auto_key = true };
static const ResourceType capped_memory_type = { "capped-memory", PROPS(capped_memory_props) };
static const ResourceType virtual_cpu_type = { "virtual-cpu", PROPS(virtual_cpu_props) };
static const ResourceType dedicated_cpu_type = { "dedicated-cpu", PROPS(dedicated_cpu_props) };
static const ResourceType suspend_type = { "suspend", PROPS(suspend_props) };
static const ResourceType keysource_type = { "keysource", PROPS(keysource_props) };
static const ResourceType admin_type = { "admin", PROPS(admin_props), .multi = true, .key = "user" };
static const ResourceType boot_type = { "boot", PROPS(boot_props) };

/* The order here is the order of 'info', 'export' and the XML file. */
static const ResourceType *const zone_children[] = {
        &anet_type,
        &device_type,
        &capped_memory_type,
        &virtual_cpu_type,
        &dedicated_cpu_type,
        &suspend_type,
        &keysource_type,
        &admin_type,
        &boot_type,
        NULL,
};

static const ResourceType zone_type_info = { "zone", PROPS(zone_props), .children = zone_children };

const ResourceType *zone_type(void)
{
        return &zone_type_info;
}

static const char *const prop_type_table[_PROP_TYPE_MAX] = {
        [PROP_STRING] = "string",
        [PROP_ZONENAME] = "zonename",
        [PROP_BOOL] = "boolean",
        [PROP_ENUM] = "enum",
        [PROP_UINT] = "integer",
        [PROP_SIZE] = "size",
        [PROP_PAGESIZE] = "pagesize",
        [PROP_CPUS] = "cpu-list",
        [PROP_MAC] = "mac-address",
        [PROP_MAC_PREFIX] = "mac-prefix",
        [PROP_VLAN_RANGE] = "vlan-range",
        [PROP_STORAGE] = "storage-uri",
        [PROP_PATH] = "path",
        [PROP_KEY] = "key",
        [PROP_HOSTID] = "hostid",
        [PROP_LINK] = "link",
        [PROP_CPU_ARCH] = "cpu-arch",
        [PROP_USER] = "user",
        [PROP_NAME] = "name",
};

DEFINE_STRING_TABLE(prop_type, PropType, _PROP_TYPE_MAX)

static const char *const zone_state_table[_ZONE_STATE_MAX] = {
        [ZONE_STATE_CONFIGURED] = "configured",
        [ZONE_STATE_INCOMPLETE] = "incomplete",
        [ZONE_STATE_UNAVAILABLE] = "unavailable",
        [ZONE_STATE_INSTALLED] = "installed",
        [ZONE_STATE_READY] = "ready",
        [ZONE_STATE_RUNNING] = "running",
        [ZONE_STATE_SHUTTING_DOWN] = "shutting_down",
        [ZONE_STATE_DOWN] = "down",
};

DEFINE_STRING_TABLE(zone_state, ZoneState, _ZONE_STATE_MAX)

const ResourceType *resource_type_child(const ResourceType *t, const char *name)
{
        if (!t->children || !name)
                return NULL;
        for (const ResourceType *const *c = t->children; *c; c++)
                if (streq((*c)->name, name))
                        return *c;
        return NULL;
}

const PropInfo *resource_type_prop(const ResourceType *t, const char *name, size_t *ret_index)
{
        if (!name)
                return NULL;
        for (size_t i = 0; i < t->n_props; i++)
                if (streq(t->props[i].name, name)) {
                        if (ret_index)
                                *ret_index = i;
                        return &t->props[i];
                }
        return NULL;
}

static size_t type_order(const ResourceType *parent, const ResourceType *t)
{
        size_t i = 0;

        if (parent->children)
                for (; parent->children[i]; i++)
                        if (parent->children[i] == t)
                                return i;
        return i;
}

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
static int prop_canonicalize(const PropInfo *p, const char *value, char **ret, KzError *e)
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

                r = prop_canonicalize(p, tok, &c, e);
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

static int value_canonicalize(const PropInfo *p, const char *value, char **ret, KzError *e)
{
        if (p->flags & PROP_FLAG_LIST)
                return list_canonicalize(p, value, ret, e);
        return prop_canonicalize(p, value, ret, e);
}

/* ---- resources ----------------------------------------------------------------------- */

ZoneResource *zone_resource_new(const ResourceType *t)
{
        ZoneResource *r = calloc(1, sizeof(*r));

        if (!r)
                return NULL;
        r->type = t;
        r->values = calloc(t->n_props ?: 1, sizeof(char *));
        if (!r->values) {
                free(r);
                return NULL;
        }
        return r;
}

ZoneResource *zone_resource_free(ZoneResource *r)
{
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->type->n_props; i++)
                free(r->values[i]);
        free(r->values);
        for (size_t i = 0; i < r->n_children; i++)
                zone_resource_free(r->children[i]);
        free(r->children);
        free(r);
        return NULL;
}

ZoneResource *zone_resource_dup(const ZoneResource *r)
{
        _cleanup_(zone_resource_freep) ZoneResource *n = zone_resource_new(r->type);

        if (!n)
                return NULL;
        for (size_t i = 0; i < r->type->n_props; i++)
                if (r->values[i] && !(n->values[i] = strdup(r->values[i])))
                        return NULL;
        if (r->n_children) {
                n->children = calloc(r->n_children, sizeof(ZoneResource *));
                if (!n->children)
                        return NULL;
                for (size_t i = 0; i < r->n_children; i++) {
                        n->children[i] = zone_resource_dup(r->children[i]);
                        if (!n->children[i])
                                return NULL;
                        n->n_children++;
                }
        }
        return TAKE_PTR(n);
}

bool zone_resource_equal(const ZoneResource *a, const ZoneResource *b)
{
        if (a->type != b->type || a->n_children != b->n_children)
                return false;
        for (size_t i = 0; i < a->type->n_props; i++)
                if (!streq_ptr(a->values[i], b->values[i]))
                        return false;
        for (size_t i = 0; i < a->n_children; i++)
                if (!zone_resource_equal(a->children[i], b->children[i]))
                        return false;
        return true;
}

const char *zone_resource_get(const ZoneResource *r, const char *prop)
{
        size_t i;

        if (!r || !resource_type_prop(r->type, prop, &i))
                return NULL;
        return r->values[i];
}

static int unknown_property(const ZoneResource *r, const char *prop, KzError *e)
{
        if (r->type == &zone_type_info)
                return kz_error_set(e, EINVAL, "unknown property: %s", prop);
        return kz_error_set(e, EINVAL, "%s has no property %s.", r->type->name, prop);
}

/* Rules between properties of one resource, checked when one of them is set. */
static int check_exclusive(const ZoneResource *r, const char *prop, KzError *e)
{
        static const struct {
                const ResourceType *type;
                const char *a, *b;
        } pairs[] = {
                { &capped_memory_type, "memory-reserve", "pagesize-policy" },
                { &capped_memory_type, "memory-reserve", "pagesize" },
                { &suspend_type, "path", "storage" },
        };

        for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                const char *other;

                if (pairs[i].type != r->type)
                        continue;
                if (streq(prop, pairs[i].a))
                        other = pairs[i].b;
                else if (streq(prop, pairs[i].b))
                        other = pairs[i].a;
                else
                        continue;
                if (zone_resource_get(r, other))
                        return kz_error_set(e, EINVAL, "%s: %s and %s are mutually exclusive; clear %s first.",
                                r->type->name, prop, other, other);
        }
        return 0;
}

int zone_resource_set(ZoneResource *r, const char *prop, const char *value, KzError *e)
{
        const PropInfo *p;
        char *canon = NULL;
        size_t i;
        int k;

        p = resource_type_prop(r->type, prop, &i);
        if (!p)
                return unknown_property(r, prop, e);
        if (!value)
                return kz_error_set(e, EINVAL, "no value given for %s.", prop);
        k = value_canonicalize(p, value, &canon, e);
        if (k < 0)
                return k;
        k = check_exclusive(r, prop, e);
        if (k < 0) {
                free(canon);
                return k;
        }
        free(r->values[i]);
        r->values[i] = canon;
        return 0;
}

int zone_resource_clear(ZoneResource *r, const char *prop, KzError *e)
{
        size_t i;

        if (!resource_type_prop(r->type, prop, &i))
                return unknown_property(r, prop, e);
        if (r->type == &zone_type_info && (streq(prop, "zonename") || streq(prop, "brand")))
                return kz_error_set(e, EINVAL, "%s cannot be cleared.", prop);
        r->values[i] = mfree_str(r->values[i]);
        return 0;
}

int zone_resource_list_add(ZoneResource *r, const char *prop, const char *value, KzError *e)
{
        const PropInfo *p;
        _cleanup_free_ char *joined = NULL;
        size_t i;

        p = resource_type_prop(r->type, prop, &i);
        if (!p)
                return unknown_property(r, prop, e);
        if (!(p->flags & PROP_FLAG_LIST))
                return kz_error_set(e, EINVAL, "%s is not a list property; use 'set %s=VALUE'.", prop, prop);
        if (isempty(value) || strchr(value, ','))
                return kz_error_set(e, EINVAL, "add %s takes one value.", prop);
        if (r->values[i]) {
                if (asprintf(&joined, "%s,%s", r->values[i], value) < 0)
                        return -ENOMEM;
        } else if (!(joined = strdup(value)))
                return -ENOMEM;
        return zone_resource_set(r, prop, joined, e);
}

int zone_resource_list_remove(ZoneResource *r, const char *prop, const char *value, KzError *e)
{
        const PropInfo *p;
        _cleanup_free_ char *canon = NULL, *copy = NULL, *out = NULL;
        char *save = NULL;
        bool found = false;
        size_t i;
        int k;

        p = resource_type_prop(r->type, prop, &i);
        if (!p)
                return unknown_property(r, prop, e);
        if (!(p->flags & PROP_FLAG_LIST))
                return kz_error_set(e, EINVAL, "%s is not a list property; use 'clear %s'.", prop, prop);
        k = prop_canonicalize(p, value, &canon, e);
        if (k < 0)
                return k;
        if (!r->values[i] || !(copy = strdup(r->values[i])))
                return r->values[i] ? -ENOMEM : kz_error_set(e, ENOENT, "%s does not contain %s.", prop, canon);
        out = calloc(1, strlen(copy) + 1);
        if (!out)
                return -ENOMEM;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (!found && streq(tok, canon)) {
                        found = true;
                        continue;
                }
                if (*out)
                        strcat(out, ",");
                strcat(out, tok);
        }
        if (!found)
                return kz_error_set(e, ENOENT, "%s does not contain %s.", prop, canon);
        free(r->values[i]);
        r->values[i] = *out ? TAKE_PTR(out) : NULL;
        return 0;
}

size_t zone_resource_count(const ZoneResource *parent, const ResourceType *t)
{
        size_t n = 0;

        for (size_t i = 0; i < parent->n_children; i++)
                if (parent->children[i]->type == t)
                        n++;
        return n;
}

ZoneResource *zone_resource_first(const ZoneResource *parent, const ResourceType *t)
{
        for (size_t i = 0; i < parent->n_children; i++)
                if (parent->children[i]->type == t)
                        return parent->children[i];
        return NULL;
}

int zone_resource_attach(ZoneResource *parent, ZoneResource *child)
{
        ZoneResource **n;
        size_t order = type_order(parent->type, child->type), at = parent->n_children;

        if (parent->n_children >= ZONE_CONFIG_MAX_RESOURCES)
                return -E2BIG;
        for (size_t i = 0; i < parent->n_children; i++)
                if (type_order(parent->type, parent->children[i]->type) > order) {
                        at = i;
                        break;
                }
        n = realloc(parent->children, (parent->n_children + 1) * sizeof(ZoneResource *));
        if (!n)
                return -ENOMEM;
        parent->children = n;
        memmove(n + at + 1, n + at, (parent->n_children - at) * sizeof(ZoneResource *));
        n[at] = child;
        parent->n_children++;
        return 0;
}

void zone_resource_remove(ZoneResource *parent, ZoneResource *child)
{
        for (size_t i = 0; i < parent->n_children; i++)
                if (parent->children[i] == child) {
                        zone_resource_free(child);
                        memmove(parent->children + i, parent->children + i + 1,
                                (parent->n_children - i - 1) * sizeof(ZoneResource *));
                        parent->n_children--;
                        return;
                }
}

void zone_resource_replace(ZoneResource *parent, ZoneResource *old, ZoneResource *new)
{
        for (size_t i = 0; i < parent->n_children; i++)
                if (parent->children[i] == old) {
                        zone_resource_free(old);
                        parent->children[i] = new;
                        return;
                }
}

int zone_resource_complete(ZoneResource *r, const ZoneResource *parent, const ZoneResource *replacing, bool assign,
                KzError *e)
{
        const ResourceType *t = r->type;
        const char *key = t->key ? zone_resource_get(r, t->key) : NULL;
        int k;

        if (t->key && !key && t->auto_key && assign) {
                /* the lowest number no sibling uses */
                for (unsigned id = 0; id <= 65535; id++) {
                        char buf[16];
                        bool used = false;

                        (void) snprintf(buf, sizeof(buf), "%u", id);
                        for (size_t i = 0; i < parent->n_children && !used; i++) {
                                const ZoneResource *s = parent->children[i];
                                used = s != replacing && s != r && s->type == t &&
                                        streq_ptr(zone_resource_get(s, t->key), buf);
                        }
                        if (!used) {
                                k = zone_resource_set(r, t->key, buf, e);
                                if (k < 0)
                                        return k;
                                break;
                        }
                }
                key = zone_resource_get(r, t->key);
        }
        if (t->key && !key && !t->auto_key)
                return kz_error_set(e, EINVAL, "%s: %s must be set.", t->name, t->key);
        if (key)
                for (size_t i = 0; i < parent->n_children; i++) {
                        const ZoneResource *s = parent->children[i];
                        if (s != replacing && s != r && s->type == t && streq_ptr(zone_resource_get(s, t->key), key))
                                return kz_error_set(e, EEXIST, "%s %s=%s already exists.", t->name, t->key, key);
                }

        if (t == &device_type && !zone_resource_get(r, "storage"))
                return kz_error_set(e, EINVAL, "device: storage must be set.");
        if (t == &suspend_type && !zone_resource_get(r, "path") && !zone_resource_get(r, "storage"))
                return kz_error_set(e, EINVAL, "suspend: either path or storage must be set.");
        if (t == &boot_type && !zone_resource_get(r, "kernel"))
                return kz_error_set(e, EINVAL, "boot: kernel must be set.");
        if (t == &keysource_type && !zone_resource_get(r, "raw"))
                return kz_error_set(e, EINVAL, "keysource: raw must be set.");
        if (t == &dedicated_cpu_type && !zone_resource_get(r, "ncpus") && !zone_resource_get(r, "cpus"))
                return kz_error_set(e, EINVAL, "dedicated-cpu: ncpus or cpus must be set.");
        if (t == &virtual_cpu_type && !zone_resource_get(r, "ncpus"))
                return kz_error_set(e, EINVAL, "virtual-cpu: ncpus must be set.");
        if (t == &capped_memory_type) {
                const char *policy = zone_resource_get(r, "pagesize-policy");
                if (streq_ptr(policy, "fixed") && !zone_resource_get(r, "pagesize"))
                        return kz_error_set(e, EINVAL,
                                "capped-memory: pagesize-policy=fixed requires the pagesize property.");
                if (zone_resource_get(r, "pagesize") && !streq_ptr(policy, "fixed"))
                        return kz_error_set(e, EINVAL,
                                "capped-memory: pagesize can only be set with pagesize-policy=fixed.");
        }
        if (t == &vlan_type && parent->type == &anet_type && zone_resource_get(r, "vlan-id") &&
            streq_ptr(zone_resource_get(r, "vlan-id"), zone_resource_get(parent, "vlan-id")))
                return kz_error_set(e, EEXIST, "vlan: vlan-id %s is already the anet's own vlan-id.",
                        zone_resource_get(r, "vlan-id"));
        if (t == &vlan_type && zone_resource_get(r, "vlan-id"))
                for (size_t i = 0; i < parent->n_children; i++) {
                        const ZoneResource *s = parent->children[i];
                        if (s != replacing && s != r && s->type == t &&
                            streq_ptr(zone_resource_get(s, "vlan-id"), zone_resource_get(r, "vlan-id")))
                                return kz_error_set(e, EEXIST, "vlan vlan-id=%s already exists.",
                                        zone_resource_get(r, "vlan-id"));
                }
        if (t == &vlan_type && !zone_resource_get(r, "vlan-id") && !zone_resource_get(r, "allowed-vlan-ids"))
                return kz_error_set(e, EINVAL, "vlan: vlan-id or allowed-vlan-ids must be set.");

        for (size_t i = 0; i < r->n_children; i++) {
                k = zone_resource_complete(r->children[i], r, NULL, false, e);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* ---- the whole configuration -------------------------------------------------------- */

ZoneConfig *zone_config_new(const char *name)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->root = zone_resource_new(&zone_type_info);
        if (!c->root)
                return NULL;
        if (name && zone_resource_set(c->root, "zonename", name, NULL) < 0)
                return NULL;
        if (zone_resource_set(c->root, "brand", "kz", NULL) < 0)
                return NULL;
        return TAKE_PTR(c);
}

ZoneConfig *zone_config_free(ZoneConfig *c)
{
        if (!c)
                return NULL;
        zone_resource_free(c->root);
        free(c->loaded_name);
        free(c->snapshot);
        free(c);
        return NULL;
}

const char *zone_config_name(const ZoneConfig *c)
{
        return zone_resource_get(c->root, "zonename");
}

const char *zone_config_brand(const ZoneConfig *c)
{
        return zone_resource_get(c->root, "brand");
}

int zone_config_verify(const ZoneConfig *c, KzError *e)
{
        return zone_config_verify_full(c, false, e);
}

int zone_config_verify_full(const ZoneConfig *c, bool template, KzError *e)
{
        const ZoneResource *root = c->root;
        int k;

        if (!template && !zone_config_name(c))
                return kz_error_set(e, EINVAL, "zonename must be set.");
        if (!zone_config_brand(c))
                return kz_error_set(e, EINVAL, "brand must be set.");
        for (const ResourceType *const *t = zone_children; *t; t++)
                if (!(*t)->multi && zone_resource_count(root, *t) > 1)
                        return kz_error_set(e, EEXIST, "only one %s resource is allowed.", (*t)->name);
        for (size_t i = 0; i < root->n_children; i++) {
                k = zone_resource_complete(root->children[i], root, NULL, false, e);
                if (k < 0)
                        return k;
        }
        for (size_t i = 0; i < root->n_children; i++) {
                const ZoneResource *r = root->children[i];
                const char *s = zone_resource_get(r, "storage");
                _cleanup_free_ char *x = NULL;
                const char *reason = NULL;

                if (!s || template)
                        continue;
                x = zone_config_expand(c, r, s);
                if (!x)
                        return -ENOMEM;
                if (storage_uri_parse(x, NULL, &reason) < 0)
                        return kz_error_set(e, EINVAL, "%s: storage %s is not a valid storage URI: %s.",
                                r->type->name, x, reason);
        }
        return 0;
}

char *zone_config_expand(const ZoneConfig *c, const ZoneResource *r, const char *value)
{
        const char *name = zone_config_name(c) ?: "", *id = zone_resource_get(r, "id") ?: "0";
        size_t len = 1;
        char *out, *o;

        for (const char *p = value; *p; p++)
                len += 1 + strlen(name) + strlen(id);
        out = malloc(len);
        if (!out)
                return NULL;
        o = out;
        for (const char *p = value; *p;) {
                if (strncmp(p, "%{zonename}", 11) == 0) {
                        o = stpcpy(o, name);
                        p += 11;
                } else if (strncmp(p, "%{id}", 5) == 0) {
                        o = stpcpy(o, id);
                        p += 5;
                } else
                        *o++ = *p++;
        }
        *o = 0;
        return out;
}

/* ---- info and export ------------------------------------------------------------------- */

static void print_indent(FILE *f, unsigned indent)
{
        for (unsigned i = 0; i < indent; i++)
                fputs("    ", f);
}

void zone_resource_info(FILE *f, const ZoneConfig *c, const ZoneResource *r, unsigned indent, const char *label)
{
        unsigned props_indent = indent;

        if (label) {
                print_indent(f, indent);
                fprintf(f, "%s:\n", label);
                props_indent++;
        }
        for (size_t i = 0; i < r->type->n_props; i++) {
                const PropInfo *p = &r->type->props[i];
                const char *v = r->values[i];

                if (!v)
                        continue;
                if (p->flags & PROP_FLAG_SECRET) {
                        print_indent(f, props_indent);
                        fprintf(f, "%s: redacted\n", p->name);
                        continue;
                }
                if (p->type == PROP_STORAGE && strstr(v, "%{")) {
                        _cleanup_free_ char *x = zone_config_expand(c, r, v);
                        print_indent(f, props_indent);
                        fprintf(f, "%s.template: %s\n", p->name, v);
                        print_indent(f, props_indent);
                        fprintf(f, "%s: %s\n", p->name, x ?: v);
                        continue;
                }
                print_indent(f, props_indent);
                fprintf(f, "%s: %s\n", p->name, v);
        }
        for (size_t i = 0; i < r->n_children; i++) {
                const ZoneResource *ch = r->children[i];
                char buf[64];

                if (r->type == &zone_type_info)
                        zone_resource_info(f, c, ch, 0, ch->type->name);
                else {
                        /* nested resources are numbered: "vlan 0:", "vlan 1:" */
                        size_t n = 0;
                        for (size_t j = 0; j < i; j++)
                                if (r->children[j]->type == ch->type)
                                        n++;
                        (void) snprintf(buf, sizeof(buf), "%s %zu", ch->type->name, n);
                        zone_resource_info(f, c, ch, props_indent, buf);
                }
        }
}

char *zonecfg_quote(const char *s)
{
        bool plain = !isempty(s);
        char *out, *o;

        for (const char *p = s; *p && plain; p++)
                if (isspace((unsigned char) *p) || strchr(";\"'\\#=", *p))
                        plain = false;
        if (plain && strstr(s, "=") == NULL)
                return strdup(s);
        out = malloc(strlen(s) * 2 + 3);
        if (!out)
                return NULL;
        o = out;
        *o++ = '"';
        for (const char *p = s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        *o++ = '\\';
                *o++ = *p;
        }
        *o++ = '"';
        *o = 0;
        return out;
}

static void export_props(FILE *f, const ZoneResource *r)
{
        for (size_t i = 0; i < r->type->n_props; i++) {
                _cleanup_free_ char *q = NULL;

                if (!r->values[i] || (r->type == &zone_type_info && streq(r->type->props[i].name, "zonename")))
                        continue;
                q = zonecfg_quote(r->values[i]);
                fprintf(f, "set %s=%s\n", r->type->props[i].name, q ?: r->values[i]);
        }
}

static void export_resource(FILE *f, const ZoneResource *r)
{
        fprintf(f, "add %s\n", r->type->name);
        export_props(f, r);
        for (size_t i = 0; i < r->n_children; i++)
                export_resource(f, r->children[i]);
        fputs("end\n", f);
}

void zone_config_export(FILE *f, const ZoneConfig *c)
{
        fputs("create -b\n", f);
        export_props(f, c->root);
        for (size_t i = 0; i < c->root->n_children; i++)
                export_resource(f, c->root->children[i]);
}

/* ---- keys ------------------------------------------------------------------------------- */

/* Wipes and frees a datum GnuTLS allocated (it may hold a key). */
static void datum_wipe(gnutls_datum_t *d)
{
        if (d->data) {
                explicit_bzero(d->data, d->size);
                gnutls_free(d->data);
        }
        *d = (gnutls_datum_t) {};
}

int zone_keysource_generate(char **ret)
{
        uint8_t key[16];
        gnutls_datum_t in = { key, sizeof(key) }, b64 = {};
        int r;

        if (getrandom(key, sizeof(key), 0) != (ssize_t) sizeof(key))
                return -EIO;
        r = gnutls_base64_encode2(&in, &b64);
        explicit_bzero(key, sizeof(key));
        if (r < 0)
                return -ENOMEM;
        r = asprintf(ret, "{base64}%.*s", (int) b64.size, (const char *) b64.data);
        datum_wipe(&b64);
        return r < 0 ? -ENOMEM : 0;
}

int zone_keysource_decode(const char *raw, uint8_t key[16])
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
        gnutls_datum_t in, out = {};
        int r;

        if (!raw || strncmp(raw, "{base64}", 8) != 0)
                return -EINVAL;
        raw += 8;
        /* GnuTLS skips blanks and newlines; a key is written without any */
        if (raw[strspn(raw, alphabet)] != 0)
                return -EINVAL;
        in = (gnutls_datum_t) { (unsigned char *) raw, strlen(raw) };
        r = gnutls_base64_decode2(&in, &out);
        if (r >= 0 && out.size == 16)
                memcpy(key, out.data, 16);
        else
                r = -EINVAL;
        datum_wipe(&out);
        return r < 0 ? r : 0;
}

int zone_config_new_keysource(ZoneConfig *c)
{
        _cleanup_(zone_resource_freep) ZoneResource *k = NULL;
        _cleanup_free_ char *raw = NULL;
        ZoneResource *old;
        int r;

        r = zone_keysource_generate(&raw);
        if (r < 0)
                return r;
        k = zone_resource_new(&keysource_type);
        if (!k)
                return -ENOMEM;
        r = zone_resource_set(k, "raw", raw, NULL);
        if (r < 0)
                return r;
        explicit_bzero(raw, strlen(raw));
        while ((old = zone_resource_first(c->root, &keysource_type)))
                zone_resource_remove(c->root, old);
        r = zone_resource_attach(c->root, k);
        if (r < 0)
                return r;
        TAKE_PTR(k);
        return 0;
}

const char *kzones_data_dir(void)
{
        const char *d = getenv("KZONES_DATA_DIR");

        return isempty(d) ? KZONES_PKGDATADIR : d;
}
