/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Changing a pool: planning a resize, the host's huge page counts, the pool's
 * hugetlbfs extents, and applying a configuration or releasing the pool. */
#include <dirent.h>
#include <inttypes.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "pool.h"
#include "size.h"

#define HUGEPAGES_SYSFS "/sys/kernel/mm/hugepages"
#define NODES_SYSFS "/sys/devices/system/node"

/* ---- planning ----------------------------------------------------------------------------------- */

int pool_plan_resize(const uint64_t *size, const uint64_t *used, size_t n, uint64_t target, PoolPlan *ret,
                KzError *e)
{
        PoolPlan p = {};
        uint64_t kept = 0, unused = 0;
        size_t n_unused = 0, n_kept = 0;
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];

        if (n > ZONE_POOL_EXTENTS_MAX)
                return kz_error_set(e, E2BIG, "the pool has %zu parts, more than %u.", n, ZONE_POOL_EXTENTS_MAX);
        for (size_t i = 0; i < n; i++)
                if (used[i] > 0) {
                        kept += size[i];
                        n_kept++;
                } else {
                        unused += size[i];
                        n_unused++;
                }
        if (kept > target)
                return kz_error_set(e, EBUSY, "cannot shrink to %s while zones hold memory in %s of it; halt them "
                        "and reload again.", size_format(target, a, sizeof(a)), size_format(kept, b, sizeof(b)));
        /* nothing to do: the part no zone uses is already one extent of the right size */
        if ((n_unused == 1 && unused == target - kept) || (n_unused == 0 && kept == target)) {
                *ret = p;
                return 0;
        }
        if (target > kept && n_kept + 1 > ZONE_POOL_EXTENTS_MAX)
                return kz_error_set(e, E2BIG, "cannot grow: the pool already has %u parts in use.",
                        ZONE_POOL_EXTENTS_MAX);
        for (size_t i = 0; i < n; i++)
                if (used[i] == 0) {
                        p.release[i] = true;
                        p.n_release++;
                }
        p.reserve = target - kept;
        *ret = p;
        return 0;
}

/* ---- the host's huge page counts ------------------------------------------------------------- */

static char *count_path(uint64_t page_size, int node, const char *file)
{
        char *p = NULL;

        if (node < 0)
                (void) asprintf(&p, HUGEPAGES_SYSFS "/hugepages-%" PRIu64 "kB/%s", page_size / SIZE_K, file);
        else
                (void) asprintf(&p, NODES_SYSFS "/node%d/hugepages/hugepages-%" PRIu64 "kB/%s", node,
                        page_size / SIZE_K, file);
        return p;
}

static int count_read(uint64_t page_size, int node, const char *file, uint64_t *ret)
{
        _cleanup_free_ char *path = count_path(page_size, node, file);

        if (!path)
                return -ENOMEM;
        return read_virtual_u64(path, ret);
}

static int count_write(uint64_t page_size, int node, uint64_t value)
{
        _cleanup_free_ char *path = count_path(page_size, node, "nr_hugepages");
        _cleanup_close_ int fd = -EBADF;
        char buf[32];
        int len;

        if (!path)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", value);
        if (write(fd, buf, (size_t) len) != len)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

static uint64_t mem_available(void)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
        char line[256];
        unsigned long long kb;

        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
                        return kb * SIZE_K;
        return UINT64_MAX;
}

/* Raises node's count (or the global one, node < 0) by `pages`; fails, leaving it as it
 * was, when the kernel cannot find them all. */
static int count_raise(uint64_t page_size, int node, uint64_t pages, KzError *e)
{
        uint64_t before, after;
        char a[SIZE_FORMAT_MAX], where[32] = "";
        int r;

        if (node >= 0)
                (void) snprintf(where, sizeof(where), " on NUMA node %d", node);
        r = count_read(page_size, node, "nr_hugepages", &before);
        if (r == -ENOENT && node >= 0)
                return kz_error_set(e, ENOENT, "NUMA node %d has no %s pages on this host (config/lgrps).", node,
                        size_format(page_size, a, sizeof(a)));
        if (r < 0)
                return kz_error_set(e, r, "cannot read the number of %s pages%s: %s.",
                        size_format(page_size, a, sizeof(a)), where, strerror(-r));
        r = count_write(page_size, node, before + pages);
        if (r < 0 && r != -ENOMEM)
                return kz_error_set(e, r, "cannot raise the number of %s pages%s: %s.",
                        size_format(page_size, a, sizeof(a)), where, strerror(-r));
        if (count_read(page_size, node, "nr_hugepages", &after) < 0)
                after = before;
        if (after < before + pages) {
                (void) count_write(page_size, node, before);
                return kz_error_set(e, ENOMEM, "only %" PRIu64 " of %" PRIu64 " more %s pages could be allocated%s "
                        "(free memory is too fragmented or too small).", after > before ? after - before : 0, pages,
                        size_format(page_size, a, sizeof(a)), where);
        }
        return 0;
}

/* Makes `pages` pages of page_size available for a reservation: from free pages
 * nobody reserved, else by raising the host's count (on the pool's NUMA nodes: always
 * there, spread evenly). What was added is counted in rec. */
static int pages_provide(uint64_t page_size, uint64_t nodes, uint64_t pages, PoolRecord *rec, KzError *e)
{
        uint64_t avail = 0, need, n_nodes = 0, share[POOL_NODES_MAX] = {};
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], c[SIZE_FORMAT_MAX];
        int r;

        if (nodes == 0) {
                r = hugepage_available(page_size, &avail);
                if (r < 0)
                        return kz_error_set(e, r, "this host has no %s pages: %s.",
                                size_format(page_size, a, sizeof(a)), strerror(-r));
                need = pages > avail ? pages - avail : 0;
        } else
                need = pages;
        if (need == 0)
                return 0;
        if (need * page_size > mem_available())
                return kz_error_set(e, ENOMEM, "%" PRIu64 " more %s pages (%s) are needed but only %s of memory is "
                        "available on this host.", need, size_format(page_size, a, sizeof(a)),
                        size_format(need * page_size, b, sizeof(b)), size_format(mem_available() / SIZE_M * SIZE_M, c,
                                sizeof(c)));
        if (nodes == 0) {
                r = count_raise(page_size, -1, need, e);
                if (r < 0)
                        return r;
                rec->added += need;
                rec->page_size = page_size;
                return 0;
        }
        for (unsigned i = 0; i < POOL_NODES_MAX; i++)
                if (nodes & (UINT64_C(1) << i))
                        n_nodes++;
        for (unsigned i = 0, k = 0; i < POOL_NODES_MAX; i++)
                if (nodes & (UINT64_C(1) << i))
                        share[i] = need / n_nodes + (k++ < need % n_nodes ? 1 : 0);
        for (unsigned i = 0; i < POOL_NODES_MAX; i++) {
                _cleanup_free_ char *dir = NULL;

                if (!(nodes & (UINT64_C(1) << i)))
                        continue;
                if (asprintf(&dir, NODES_SYSFS "/node%u", i) < 0)
                        r = -ENOMEM;
                else if (access(dir, F_OK) < 0)
                        r = kz_error_set(e, ENOENT, "NUMA node %u does not exist on this host (config/lgrps).", i);
                else
                        r = share[i] > 0 ? count_raise(page_size, (int) i, share[i], e) : 0;
                if (r < 0) {
                        /* give back what the nodes before this one gave */
                        for (unsigned j = 0; j < i; j++) {
                                uint64_t now;

                                if (share[j] > 0 && count_read(page_size, (int) j, "nr_hugepages", &now) >= 0)
                                        (void) count_write(page_size, (int) j, now > share[j] ? now - share[j] : 0);
                        }
                        return r;
                }
        }
        for (unsigned i = 0; i < POOL_NODES_MAX; i++)
                rec->added_node[i] += share[i];
        rec->page_size = page_size;
        return 0;
}

/* Lowers the host's counts by what the pool added, down to `keep` pages of it. */
static void pages_give_back(PoolRecord *rec, uint64_t keep)
{
        uint64_t total = pool_record_added(rec);

        if (rec->page_size == 0)
                return;
        for (int i = (int) POOL_NODES_MAX - 1; i >= -1 && total > keep; i--) {
                uint64_t *added = i < 0 ? &rec->added : &rec->added_node[i];
                uint64_t give = total - keep < *added ? total - keep : *added, now;

                if (give == 0)
                        continue;
                /* the kernel never frees reserved or used pages: a lower count only drops free ones */
                if (count_read(rec->page_size, i, "nr_hugepages", &now) >= 0)
                        (void) count_write(rec->page_size, i, now > give ? now - give : 0);
                *added -= give;
                total -= give;
        }
        if (pool_record_added(rec) == 0)
                rec->page_size = 0;
}

/* ---- extents -------------------------------------------------------------------------------- */

static int extent_reserve(const char *root, const char *pool, unsigned index, uint64_t size, uint64_t page_size,
                uint64_t nodes, PoolRecord *rec, KzError *e)
{
        _cleanup_free_ char *dir = pool_path(root, pool, NULL), *path = NULL, *source = NULL, *options = NULL;
        uint64_t added_before = pool_record_added(rec);
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];
        int r;

        if (!dir || asprintf(&path, "%s/%u", dir, index) < 0 || asprintf(&source, "memory-reserve@%s", pool) < 0 ||
            asprintf(&options, "pagesize=%" PRIu64 "K,size=%" PRIu64 ",min_size=%" PRIu64 ",mode=0700",
                    page_size / SIZE_K, size, size) < 0)
                return -ENOMEM;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return kz_error_set(e, errno, "cannot create %s: %m.", dir);
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return kz_error_set(e, errno, "cannot create %s: %m.", path);
        r = pages_provide(page_size, nodes, size / page_size, rec, e);
        if (r < 0) {
                (void) rmdir(path);
                return r;
        }
        if (mount(source, path, "hugetlbfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options) < 0) {
                r = -errno;
                pages_give_back(rec, added_before);
                (void) rmdir(path);
                return kz_error_set(e, r, "cannot reserve %s of %s pages: %s.", size_format(size, a, sizeof(a)),
                        size_format(page_size, b, sizeof(b)), r == -ENOMEM ? "the kernel could not reserve them" :
                                strerror(-r));
        }
        return 0;
}

static int extent_release(const PoolExtent *x)
{
        if (umount2(x->path, UMOUNT_NOFOLLOW) < 0) {
                /* busy (a process has its cwd there): detach it; the kernel lets the
                 * reservation go with the last user */
                if (errno != EBUSY || umount2(x->path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                        return -errno;
        }
        (void) rmdir(x->path);
        return 0;
}

/* Files nobody holds (a launcher died between creating and unlinking one) keep their
 * pages from the pool: remove them. */
static void extents_clean(const PoolExtent *l, size_t n, const PoolHolder *h, size_t nh)
{
        for (size_t i = 0; i < n; i++) {
                DIR *d = opendir(l[i].path);
                struct dirent *de;

                while (d && (de = readdir(d))) {
                        struct stat st;
                        bool held = false;

                        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                                continue;
                        for (size_t k = 0; k < nh && !held; k++)
                                held = h[k].dev == st.st_dev && h[k].ino == st.st_ino;
                        if (!held)
                                (void) unlinkat(dirfd(d), de->d_name, 0);
                }
                if (d)
                        closedir(d);
        }
}

static unsigned free_index(const PoolExtent *l, size_t n, const PoolPlan *p)
{
        for (unsigned idx = 0;; idx++) {
                bool taken = false;

                for (size_t i = 0; i < n && !taken; i++)
                        taken = l[i].index == idx && !(p && p->release[i]);
                if (!taken)
                        return idx;
        }
}

/* A pool from nothing: the first page size of the candidates that can be had. */
static int pool_create(const char *root, const char *pool, const PoolConfig *cfg, PoolRecord *rec, KzError *e)
{
        int r = -EINVAL;

        for (size_t i = 0; i < cfg->n_candidates; i++) {
                KzError attempt = {};
                char a[SIZE_FORMAT_MAX];

                r = extent_reserve(root, pool, 0, cfg->size, cfg->candidates[i], cfg->nodes, rec, &attempt);
                if (r >= 0)
                        return 0;
                kz_error_clear(e);
                (void) kz_error_set(e, r, "Cannot reserve %s for memory reservation pool '%s': %s",
                        size_format(cfg->size, a, sizeof(a)), pool, kz_error_message(&attempt, r));
        }
        return r;
}

static bool has_candidate(const PoolConfig *cfg, uint64_t page_size)
{
        for (size_t i = 0; i < cfg->n_candidates; i++)
                if (cfg->candidates[i] == page_size)
                        return true;
        return false;
}

int pool_apply(const char *root, const char *pool, const PoolConfig *cfg, PoolRecord *rec, KzError *e)
{
        PoolExtent *l = NULL;
        PoolHolder *h = NULL;
        size_t n = 0, nh = 0;
        uint64_t sizes[ZONE_POOL_EXTENTS_MAX], used[ZONE_POOL_EXTENTS_MAX], page_size, total = 0;
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];
        PoolPlan plan;
        int r;

        r = pool_extents(root, pool, &l, &n);
        if (r < 0)
                return kz_error_set(e, r, "cannot look at the pool's mounts: %s.", strerror(-r));
        if (n == 0) {
                pool_extents_free(l, n);
                return pool_create(root, pool, cfg, rec, e);
        }
        r = pool_holders(l, n, &h, &nh);
        if (r < 0) {
                pool_extents_free(l, n);
                return kz_error_set(e, r, "cannot tell which zones use the pool: %s.", strerror(-r));
        }
        extents_clean(l, n, h, nh);
        pool_extents_free(l, n);
        r = pool_extents(root, pool, &l, &n);
        if (r < 0) {
                pool_holders_free(h, nh);
                return kz_error_set(e, r, "cannot look at the pool's mounts: %s.", strerror(-r));
        }
        page_size = n > 0 ? l[0].page_size : 0;
        for (size_t i = 0; i < n && i < ZONE_POOL_EXTENTS_MAX; i++) {
                sizes[i] = l[i].size;
                used[i] = l[i].size - l[i].free;
                total += l[i].size;
        }

        if (n > 0 && !has_candidate(cfg, page_size)) {
                /* another page size: only a pool nobody uses can be made again */
                if (nh > 0) {
                        _cleanup_free_ char *who = pool_holders_format(h, nh);
                        r = kz_error_set(e, EBUSY, "cannot change the page size from %s to %s while %s use%s the pool.",
                                size_format(page_size, a, sizeof(a)), size_format(cfg->candidates[0], b, sizeof(b)),
                                strna(who), pool_holders_zones(h, nh) == 1 ? "s" : "");
                        goto finish;
                }
                for (size_t i = n; i > 0; i--)
                        (void) extent_release(&l[i - 1]);
                pages_give_back(rec, 0);
                r = pool_create(root, pool, cfg, rec, e);
                if (r < 0) {
                        /* put the old pool back, as far as the kernel lets us */
                        KzError ignored = {};
                        PoolConfig old = { .size = total, .nodes = cfg->nodes, .n_candidates = 1,
                                .candidates = { page_size } };
                        (void) pool_create(root, pool, &old, rec, &ignored);
                }
                goto finish;
        }

        r = pool_plan_resize(sizes, used, n, cfg->size, &plan, e);
        if (r < 0 || (plan.n_release == 0 && plan.reserve == 0))
                goto finish;
        {
                uint64_t released = 0;
                unsigned idx = free_index(l, n, &plan);

                for (size_t i = n; i > 0; i--)
                        if (plan.release[i - 1] && extent_release(&l[i - 1]) >= 0)
                                released += l[i - 1].size;
                if (plan.reserve > 0) {
                        KzError attempt = {};

                        r = extent_reserve(root, pool, idx, plan.reserve, page_size, cfg->nodes, rec, &attempt);
                        if (r < 0) {
                                KzError ignored = {};

                                (void) kz_error_set(e, r, "cannot make the pool %s: %s",
                                        size_format(cfg->size, a, sizeof(a)), kz_error_message(&attempt, r));
                                if (released > 0)
                                        (void) extent_reserve(root, pool, idx, released, page_size, cfg->nodes, rec,
                                                &ignored);
                                goto finish;
                        }
                }
        }
        r = 0;
finish:
        {
                /* what the pool has now decides what it keeps of the pages it added */
                PoolExtent *now = NULL;
                size_t k = 0;
                uint64_t pages = 0;

                if (pool_extents(root, pool, &now, &k) >= 0) {
                        for (size_t i = 0; i < k; i++)
                                pages += now[i].size / now[i].page_size;
                        pages_give_back(rec, pages);
                        pool_extents_free(now, k);
                }
        }
        pool_extents_free(l, n);
        pool_holders_free(h, nh);
        return r;
}

int pool_release(const char *root, const char *pool, PoolRecord *rec, KzError *e)
{
        _cleanup_free_ char *dir = pool_path(root, pool, NULL), *record = pool_path(root, pool, POOL_RECORD);
        PoolExtent *l = NULL;
        PoolHolder *h = NULL;
        size_t n = 0, nh = 0;
        int r;

        if (!dir || !record)
                return -ENOMEM;
        r = pool_extents(root, pool, &l, &n);
        if (r < 0)
                return kz_error_set(e, r, "cannot look at the pool's mounts: %s.", strerror(-r));
        r = pool_holders(l, n, &h, &nh);
        if (r < 0) {
                pool_extents_free(l, n);
                return kz_error_set(e, r, "cannot tell which zones use the pool: %s.", strerror(-r));
        }
        if (nh > 0) {
                _cleanup_free_ char *who = pool_holders_format(h, nh);
                r = kz_error_set(e, EBUSY, "Memory reservation pool '%s' is in use by %s: the reservation is kept "
                        "until %s halted.", pool, strna(who),
                        pool_holders_zones(h, nh) == 1 ? "that zone is" : "those zones are");
                pool_extents_free(l, n);
                pool_holders_free(h, nh);
                return r;
        }
        extents_clean(l, n, h, nh);
        for (size_t i = n; i > 0; i--) {
                r = extent_release(&l[i - 1]);
                if (r < 0) {
                        (void) kz_error_set(e, r, "cannot unmount %s: %s.", l[i - 1].path, strerror(-r));
                        pool_extents_free(l, n);
                        pool_holders_free(h, nh);
                        return r;
                }
        }
        pool_extents_free(l, n);
        pool_holders_free(h, nh);
        pages_give_back(rec, 0);
        (void) unlink(record);
        (void) rmdir(dir);
        return 0;
}
