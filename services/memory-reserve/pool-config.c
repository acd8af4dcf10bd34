/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <inttypes.h>

#include "dropins.h"
#include "pool-config.h"
#include "size.h"
#include "zone-store.h"

void pool_settings_done(PoolSettings *s)
{
        free(s->size);
        free(s->policy);
        free(s->page_size);
        free(s->type);
        free(s->lgroups);
        free(s->unknown);
        *s = (PoolSettings) {};
}

static int set_string(char **field, const char *value)
{
        char *v = strdup(value);

        if (!v)
                return -ENOMEM;
        free(*field);
        *field = v;
        return 0;
}

int pool_settings_apply(PoolSettings *s, const char *text)
{
        static const struct {
                const char *key;
                size_t offset;
        } keys[] = {
                { "Size", offsetof(PoolSettings, size) },
                { "PageSizePolicy", offsetof(PoolSettings, policy) },
                { "PageSize", offsetof(PoolSettings, page_size) },
                { "Type", offsetof(PoolSettings, type) },
                { "LGroups", offsetof(PoolSettings, lgroups) },
        };
        _cleanup_free_ char *buf = strdup(text);
        bool in_section = false;
        char *save = NULL;

        if (!buf)
                return -ENOMEM;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *l = line + strspn(line, " \t"), *eq, *v;
                size_t len = strlen(l), klen;
                bool known = false;
                int r;

                while (len > 0 && strchr(" \t\r", l[len - 1]))
                        l[--len] = 0;
                if (*l == '#' || *l == ';' || *l == 0)
                        continue;
                if (*l == '[') {
                        in_section = streq(l, POOL_SECTION);
                        continue;
                }
                if (!in_section)
                        continue;
                eq = strchr(l, '=');
                if (!eq) {
                        if (!s->unknown && set_string(&s->unknown, l) < 0)
                                return -ENOMEM;
                        continue;
                }
                klen = (size_t) (eq - l);
                while (klen > 0 && strchr(" \t", l[klen - 1]))
                        klen--;
                v = eq + 1 + strspn(eq + 1, " \t");
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (strlen(keys[i].key) == klen && strncmp(l, keys[i].key, klen) == 0) {
                                r = set_string((char **) ((uint8_t *) s + keys[i].offset), v);
                                if (r < 0)
                                        return r;
                                known = true;
                        }
                if (!known && !s->unknown) {
                        s->unknown = strndup(l, klen);
                        if (!s->unknown)
                                return -ENOMEM;
                }
        }
        return 0;
}

static int settings_dropin(char *text, void *userdata)
{
        return pool_settings_apply(userdata, text);
}

int pool_settings_load(const char *root, const char *pool, PoolSettings *ret)
{
        _cleanup_free_ char *instance = NULL;
        PoolSettings s = {};
        int r;

        if (!pool_name_is_valid(pool))
                return -EINVAL;
        if (asprintf(&instance, "memory-reserve@%s.service", pool) < 0)
                return -ENOMEM;
        r = unit_dropins_foreach(root, instance, "memory-reserve@.service", POOL_DROPIN_MAX_BYTES, settings_dropin, &s);
        if (r < 0) {
                pool_settings_done(&s);
                return r;
        }
        *ret = s;
        return 0;
}

int nodes_parse(const char *s, uint64_t *ret)
{
        uint64_t mask = 0;
        const char *p = s;

        if (!s)
                return -EINVAL;
        p += strspn(p, " \t");
        while (*p) {
                char *end;
                unsigned long a, b;

                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                a = strtoul(p, &end, 10);
                b = a;
                if (*end == '-') {
                        if (!isdigit((unsigned char) end[1]))
                                return -EINVAL;
                        b = strtoul(end + 1, &end, 10);
                }
                if (a > b || b >= POOL_NODES_MAX)
                        return -EINVAL;
                for (unsigned long i = a; i <= b; i++)
                        mask |= UINT64_C(1) << i;
                end += strspn(end, " \t");
                if (*end == ',' || *end == ' ') {
                        end++;
                        end += strspn(end, " \t");
                        if (!*end)
                                return -EINVAL;
                } else if (*end)
                        return -EINVAL;
                p = end;
        }
        *ret = mask;
        return 0;
}

char *nodes_format(uint64_t nodes, char *buf, size_t len)
{
        size_t k = 0;

        buf[0] = 0;
        for (unsigned i = 0; i < POOL_NODES_MAX && k < len; i++)
                if (nodes & (UINT64_C(1) << i)) {
                        unsigned j = i;

                        while (j + 1 < POOL_NODES_MAX && (nodes & (UINT64_C(1) << (j + 1))))
                                j++;
                        if (j > i)
                                k += (size_t) snprintf(buf + k, len - k, "%s%u-%u", k ? "," : "", i, j);
                        else
                                k += (size_t) snprintf(buf + k, len - k, "%s%u", k ? "," : "", i);
                        i = j;
                }
        return buf;
}

static bool power_of_two(uint64_t v)
{
        return v && !(v & (v - 1));
}

int pool_config_parse(const PoolSettings *s, const uint64_t *sizes, size_t n, PoolConfig *ret, KzError *e)
{
        PoolConfig c = { .policy = PAGESIZE_LARGEST_AVAILABLE };
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];
        int k;

        if (s->unknown)
                return kz_error_set(e, EINVAL,
                        "Invalid service configuration: unknown setting '%s' in " POOL_SECTION ".", s->unknown);
        if (!isempty(s->type) && !streq(s->type, POOL_TYPE_KZ))
                return kz_error_set(e, EINVAL, "Invalid service configuration: unsupported type in config/type.");
        if (isempty(s->size))
                return kz_error_set(e, EINVAL, "Invalid service configuration: config/size is not set.");
        if (size_parse(s->size, &c.size) < 0 || c.size == 0)
                return kz_error_set(e, EINVAL, "Invalid service configuration: invalid size in config/size.");
        if (!isempty(s->policy)) {
                c.policy = pagesize_policy_from_string(s->policy);
                if (c.policy < 0)
                        return kz_error_set(e, EINVAL, "Invalid service configuration: unsupported page size "
                                "policy in config/pagesize-policy.");
        }
        if (!isempty(s->page_size)) {
                bool known = false;

                /* a page size alone means that size: the policy is fixed */
                if (isempty(s->policy))
                        c.policy = PAGESIZE_FIXED;
                if (c.policy != PAGESIZE_FIXED)
                        return kz_error_set(e, EINVAL, "Invalid service configuration: config/pagesize is only used "
                                "with config/pagesize-policy=fixed.");
                if (size_parse(s->page_size, &c.page_size) < 0)
                        c.page_size = 0;
                for (size_t i = 0; i < n; i++)
                        known = known || sizes[i] == c.page_size;
                if (!power_of_two(c.page_size) || c.page_size < 2 * SIZE_M || !known)
                        return kz_error_set(e, EINVAL,
                                "Invalid service configuration: unsupported page size in config/pagesize.");
        } else if (c.policy == PAGESIZE_FIXED)
                return kz_error_set(e, EINVAL,
                        "Invalid service configuration: config/pagesize-policy=fixed requires config/pagesize.");
        if (!isempty(s->lgroups) && nodes_parse(s->lgroups, &c.nodes) < 0)
                return kz_error_set(e, EINVAL,
                        "Invalid service configuration: invalid NUMA node list in config/lgrps.");

        k = pagesize_candidates(c.policy, c.page_size, c.size, sizes, n, c.candidates);
        if (k == -EOPNOTSUPP)
                return kz_error_set(e, EOPNOTSUPP, "Cannot reserve memory: this host has no huge pages "
                        "(/sys/kernel/mm/hugepages is empty).");
        if (k == -EDOM) {
                size_format(c.size, a, sizeof(a));
                switch (c.policy) {
                case PAGESIZE_FIXED:
                        return kz_error_set(e, EINVAL, "Invalid service configuration: config/size %s is not "
                                "a multiple "
                                "of config/pagesize %s.", a, size_format(c.page_size, b, sizeof(b)));
                case PAGESIZE_SMALLEST_ONLY:
                case PAGESIZE_LARGEST_ONLY:
                        return kz_error_set(e, EINVAL, "Invalid service configuration: config/size %s is not "
                                "a multiple "
                                "of the %s page size %s (config/pagesize-policy=%s).", a,
                                c.policy == PAGESIZE_SMALLEST_ONLY ? "smallest" : "largest",
                                size_format(c.policy == PAGESIZE_SMALLEST_ONLY ? sizes[0] : sizes[n - 1], b, sizeof(b)),
                                pagesize_policy_to_string(c.policy));
                case PAGESIZE_LARGEST_AVAILABLE:
                        return kz_error_set(e, EINVAL, "Invalid service configuration: config/size %s is not "
                                "a multiple "
                                "of any page size of this host (the smallest is %s).", a,
                                size_format(sizes[0], b, sizeof(b)));
                case _PAGESIZE_POLICY_MAX:
                case _PAGESIZE_POLICY_INVALID:
                        break;
                }
                return -EINVAL;
        }
        if (k < 0)
                return kz_error_set(e, k, "Invalid service configuration: %s.", strerror(-k));
        c.n_candidates = (size_t) k;
        *ret = c;
        return 0;
}
