/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A pool as its users see it: its status, the pools of this host, and whether
 * one can host a zone's memory. */
#include <dirent.h>

#include "pool.h"
#include "size.h"
#include "strv.h"
#include "zone-store.h"

/* ---- status --------------------------------------------------------------------------------- */

void pool_status_done(PoolStatus *s)
{
        free(s->name);
        free(s->status);
        pool_extents_free(s->extents, s->n_extents);
        pool_holders_free(s->holders, s->n_holders);
        pool_settings_done(&s->settings);
        *s = (PoolStatus) {};
}

int pool_status(const char *root, const char *pool, bool holders, PoolStatus *ret)
{
        PoolStatus s = { .state = POOL_STATE_DISABLED };
        PoolRecord rec = { .state = POOL_STATE_DISABLED };
        uint64_t sizes[HUGEPAGE_SIZES_MAX];
        size_t n_sizes;
        int r;

        if (!pool_name_is_valid(pool))
                return -EINVAL;
        s.name = strdup(pool);
        if (!s.name)
                return -ENOMEM;
        r = pool_extents(root, pool, &s.extents, &s.n_extents);
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < s.n_extents; i++) {
                s.page_size = s.extents[i].page_size;
                s.total += s.extents[i].size;
                s.free += s.extents[i].free;
        }
        s.used = s.total - s.free;
        if (holders) {
                r = pool_holders(s.extents, s.n_extents, &s.holders, &s.n_holders);
                if (r < 0)
                        goto fail;
                pool_holders_by_zone(s.holders, &s.n_holders);
        }
        r = pool_record_read(root, pool, &rec);
        if (r < 0 && r != -ENOENT)
                goto fail;
        if (s.n_extents > 0)
                s.state = rec.state == POOL_STATE_DISABLED ? POOL_STATE_ONLINE : rec.state;
        else
                s.state = rec.state == POOL_STATE_MAINTENANCE ? POOL_STATE_MAINTENANCE : POOL_STATE_DISABLED;
        if (s.state == POOL_STATE_DISABLED)
                s.status = strdup("");
        else
                s.status = TAKE_PTR(rec.status);
        pool_record_done(&rec);
        if (!s.status)
                s.status = strdup("");
        if (!s.status) {
                r = -ENOMEM;
                goto fail;
        }
        r = pool_settings_load(root, pool, &s.settings);
        if (r < 0)
                goto fail;
        n_sizes = hugepage_sizes(sizes);
        (void) pool_config_parse(&s.settings, sizes, n_sizes, &s.config, &s.config_error);
        *ret = s;
        return 0;
fail:
        pool_record_done(&rec);
        pool_status_done(&s);
        return r;
}

#define POOL_NAMES_MAX 1024u

/* Adds a pool's name once; names past POOL_NAMES_MAX are left out. */
static int pool_name_add(char ***l, size_t *n, const char *s)
{
        int r;

        if (*n >= POOL_NAMES_MAX)
                return 0;
        r = strv_add_unique(l, s);
        if (r > 0)
                (*n)++;
        return r < 0 ? r : 0;
}

/* "memory-reserve@NAME.service" or "…service.d": NAME, if that is what it is */
static bool instance_of(const char *file, char *buf, size_t len)
{
        const char *prefix = "memory-reserve@", *at, *end;

        if (strncmp(file, prefix, strlen(prefix)) != 0)
                return false;
        at = file + strlen(prefix);
        end = strstr(at, ".service");
        if (!end || end == at || (size_t) (end - at) >= len || !(streq(end, ".service") || streq(end, ".service.d")))
                return false;
        memcpy(buf, at, (size_t) (end - at));
        buf[end - at] = 0;
        return pool_name_is_valid(buf);
}

int pool_names(const char *root, char ***ret)
{
        static const char *const dirs[] = { "/etc/systemd/system", "/run/systemd/system",
                "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system" };
        char **l = NULL;
        size_t n = 0;
        int r;

        r = pool_name_add(&l, &n, "zones");
        for (size_t d = 0; d < ELEMENTSOF(dirs) + 1 && r >= 0; d++) {
                _cleanup_free_ char *dir = path_join(root, d < ELEMENTSOF(dirs) ? dirs[d] : ZONE_POOL_DIR);
                struct dirent *de;
                DIR *dp;

                if (!dir) {
                        r = -ENOMEM;
                        break;
                }
                dp = opendir(dir);
                while (dp && (de = readdir(dp)) && r >= 0) {
                        char name[64];
                        size_t len = strlen(de->d_name);

                        if (d == ELEMENTSOF(dirs)) {
                                /* the pools' own directories */
                                if (pool_name_is_valid(de->d_name))
                                        r = pool_name_add(&l, &n, de->d_name);
                        } else if (instance_of(de->d_name, name, sizeof(name)))
                                r = pool_name_add(&l, &n, name);
                        else if (len > 6 && (streq(de->d_name + len - 6, ".wants") ||
                                                    (len > 9 && streq(de->d_name + len - 9, ".requires")))) {
                                /* enabled: WantedBy= links */
                                _cleanup_free_ char *sub = NULL;
                                DIR *wp;
                                struct dirent *we;

                                if (asprintf(&sub, "%s/%s", dir, de->d_name) < 0) {
                                        r = -ENOMEM;
                                        break;
                                }
                                wp = opendir(sub);
                                while (wp && (we = readdir(wp)) && r >= 0)
                                        if (instance_of(we->d_name, name, sizeof(name)))
                                                r = pool_name_add(&l, &n, name);
                                if (wp)
                                        closedir(wp);
                        }
                }
                if (dp)
                        closedir(dp);
        }
        if (r < 0) {
                strv_freep(&l);
                return r;
        }
        qsort(l, n, sizeof(char *), strv_cmp);
        *ret = l;
        return 0;
}

int pool_can_host(const PoolStatus *s, uint64_t page_size, uint64_t size, char **ret_reason)
{
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX], d[SIZE_FORMAT_MAX];
        uint64_t largest = 0;
        int k;

        for (size_t i = 0; i < s->n_extents; i++)
                if (s->extents[i].free > largest)
                        largest = s->extents[i].free;
        if (s->n_extents == 0)
                k = asprintf(ret_reason, "memory reservation pool '%s' is not reserved on this host", s->name);
        else if (s->state == POOL_STATE_MAINTENANCE)
                k = asprintf(ret_reason, "memory reservation pool '%s' is in maintenance: %s", s->name,
                        isempty(s->status) ? "its unit is not active" : s->status);
        else if (page_size > 0 && s->page_size < page_size)
                k = asprintf(ret_reason, "memory reservation pool '%s' has %s pages, smaller than the zone's %s pages",
                        s->name, size_format(s->page_size, a, sizeof(a)), size_format(page_size, b, sizeof(b)));
        else if (size == 0 || size % s->page_size != 0)
                k = asprintf(ret_reason, "%s is not a multiple of the page size %s of memory reservation pool '%s'",
                        size_format(size, a, sizeof(a)), size_format(s->page_size, b, sizeof(b)), s->name);
        else if (pool_extent_fit(s->extents, s->n_extents, size) < 0)
                k = asprintf(ret_reason, "memory reservation pool '%s' has %s free of %s%s%s, not %s", s->name,
                        size_format(s->free, a, sizeof(a)), size_format(s->total, b, sizeof(b)),
                        largest < s->free ? ", at most in one piece " : "",
                        largest < s->free ? size_format(largest, c, sizeof(c)) : "", size_format(size, d, sizeof(d)));
        else {
                k = asprintf(ret_reason, "memory reservation pool '%s' can take %s: %s free of %s, in %s pages",
                        s->name, size_format(size, a, sizeof(a)), size_format(s->free, b, sizeof(b)),
                        size_format(s->total, c, sizeof(c)), size_format(s->page_size, d, sizeof(d)));
                return k < 0 ? -ENOMEM : 1;
        }
        return k < 0 ? -ENOMEM : 0;
}
