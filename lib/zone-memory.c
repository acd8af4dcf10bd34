/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where a zone's RAM comes from: the host's huge pages and memory reservation
 * pools (memory-reserve(8)). Declared in zone-qemu.h. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "fs-util.h"
#include "mkdir.h"
#include "size.h"
#include "zone-qemu.h"
#include "zone-store.h"

/* ---- memory: huge pages and memory reservation pools ---------------------------------------- */

static const char *const pagesize_policy_table[_PAGESIZE_POLICY_MAX] = {
        [PAGESIZE_SMALLEST_ONLY] = "smallest-only",
        [PAGESIZE_LARGEST_AVAILABLE] = "largest-available",
        [PAGESIZE_LARGEST_ONLY] = "largest-only",
        [PAGESIZE_FIXED] = "fixed",
};

DEFINE_STRING_TABLE(pagesize_policy, PageSizePolicy, _PAGESIZE_POLICY_MAX)

#define HUGEPAGES_SYSFS "/sys/kernel/mm/hugepages"

size_t hugepage_sizes(uint64_t ret[HUGEPAGE_SIZES_MAX])
{
        DIR *d = opendir(HUGEPAGES_SYSFS);
        struct dirent *de;
        size_t n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)) && n < HUGEPAGE_SIZES_MAX) {
                unsigned long long kb;
                char tail;

                if (sscanf(de->d_name, "hugepages-%llukB%c", &kb, &tail) != 1 || kb == 0)
                        continue;
                ret[n++] = (uint64_t) kb * SIZE_K;
        }
        closedir(d);
        /* ascending */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && ret[j - 1] > ret[j]; j--) {
                        uint64_t t = ret[j];
                        ret[j] = ret[j - 1];
                        ret[j - 1] = t;
                }
        return n;
}

int hugepage_available(uint64_t page_size, uint64_t *ret_pages)
{
        char path[128];
        uint64_t free_pages, resv;
        int r;

        (void) snprintf(path, sizeof(path), HUGEPAGES_SYSFS "/hugepages-%" PRIu64 "kB/free_hugepages",
                page_size / SIZE_K);
        r = read_virtual_u64(path, &free_pages);
        if (r < 0)
                return r;
        (void) snprintf(path, sizeof(path), HUGEPAGES_SYSFS "/hugepages-%" PRIu64 "kB/resv_hugepages",
                page_size / SIZE_K);
        r = read_virtual_u64(path, &resv);
        if (r < 0)
                return r;
        *ret_pages = free_pages > resv ? free_pages - resv : 0;
        return 0;
}

int pagesize_candidates(PageSizePolicy policy, uint64_t fixed, uint64_t memory, const uint64_t *sizes, size_t n,
                uint64_t ret[HUGEPAGE_SIZES_MAX])
{
        size_t k = 0;
        uint64_t only = 0;

        switch (policy) {
        case PAGESIZE_FIXED: {
                bool known = false;

                for (size_t i = 0; i < n; i++)
                        known = known || sizes[i] == fixed;
                if (!known || fixed == 0)
                        return -EOPNOTSUPP;
                only = fixed;
                break;
        }
        case PAGESIZE_SMALLEST_ONLY:
                if (n == 0)
                        return -EOPNOTSUPP;
                only = sizes[0];
                break;
        case PAGESIZE_LARGEST_ONLY:
                if (n == 0)
                        return -EOPNOTSUPP;
                only = sizes[n - 1];
                break;
        case PAGESIZE_LARGEST_AVAILABLE:
                if (n == 0)
                        return -EOPNOTSUPP;
                for (size_t i = n; i > 0 && k < HUGEPAGE_SIZES_MAX; i--)
                        if (memory > 0 && memory % sizes[i - 1] == 0)
                                ret[k++] = sizes[i - 1];
                return k > 0 ? (int) k : -EDOM;
        case _PAGESIZE_POLICY_MAX:
        case _PAGESIZE_POLICY_INVALID:
                return -EINVAL;
        }
        if (memory == 0 || memory % only != 0)
                return -EDOM;
        ret[0] = only;
        return 1;
}

bool pool_name_is_valid(const char *name)
{
        size_t n;

        if (isempty(name) || !isalnum((unsigned char) name[0]))
                return false;
        n = strlen(name);
        if (n > 63)
                return false;
        for (const char *c = name; *c; c++)
                if (!isalnum((unsigned char) *c) && !strchr("-_.", *c))
                        return false;
        return true;
}

void pool_extents_free(PoolExtent *l, size_t n)
{
        for (size_t i = 0; l && i < n; i++)
                free(l[i].path);
        free(l);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape_octal(char *s)
{
        char *w = s;

        for (char *p = s; *p; p++) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
                    p[3] <= '7') {
                        *w++ = (char) ((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        p += 3;
                } else
                        *w++ = *p;
        }
        *w = 0;
}

int pool_extents(const char *root, const char *pool, PoolExtent **ret, size_t *ret_n)
{
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *dir = NULL, *rel = NULL, *line = NULL;
        PoolExtent *l = NULL;
        size_t n = 0, cap = 0, dlen, len = 0;
        int r = 0;

        if (!pool_name_is_valid(pool))
                return -EINVAL;
        if (asprintf(&rel, ZONE_POOL_DIR "/%s", pool) < 0 || !(dir = path_join(root, rel)))
                return -ENOMEM;
        dlen = strlen(dir);
        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;
        for (;;) {
                char *fields[6] = {}, *save = NULL, *sep, *mp, *end;
                unsigned long idx;
                struct statfs sfs;
                struct stat st;
                size_t i;

                if (getline(&line, &len, f) < 0)
                        break;
                sep = strstr(line, " - ");
                if (!sep || strncmp(sep + 3, "hugetlbfs ", 10) != 0)
                        continue;
                *sep = 0;
                fields[0] = strtok_r(line, " ", &save);
                for (i = 1; i < 5 && fields[i - 1]; i++)
                        fields[i] = strtok_r(NULL, " ", &save);
                mp = fields[4];
                if (!mp)
                        continue;
                unescape_octal(mp);
                if (strncmp(mp, dir, dlen) != 0 || mp[dlen] != '/' || !isdigit((unsigned char) mp[dlen + 1]))
                        continue;
                idx = strtoul(mp + dlen + 1, &end, 10);
                if (*end || idx >= ZONE_POOL_EXTENTS_MAX)
                        continue;
                if (statfs(mp, &sfs) < 0 || sfs.f_type != HUGETLBFS_MAGIC || stat(mp, &st) < 0)
                        continue;
                /* a mount stacked on an earlier one hides it: the last one counts */
                for (i = 0; i < n; i++)
                        if (l[i].index == idx)
                                break;
                if (i == n) {
                        if (n == cap) {
                                PoolExtent *t = realloc(l, (cap + 4) * sizeof(*l));
                                if (!t) {
                                        r = -ENOMEM;
                                        break;
                                }
                                l = t;
                                cap += 4;
                        }
                        l[n] = (PoolExtent) { .index = (unsigned) idx };
                        n++;
                }
                free(l[i].path);
                l[i].path = strdup(mp);
                if (!l[i].path) {
                        r = -ENOMEM;
                        break;
                }
                l[i].dev = st.st_dev;
                l[i].page_size = (uint64_t) sfs.f_bsize;
                l[i].size = (uint64_t) sfs.f_blocks * (uint64_t) sfs.f_bsize;
                l[i].free = (uint64_t) sfs.f_bfree * (uint64_t) sfs.f_bsize;
        }
        if (r < 0) {
                pool_extents_free(l, n);
                return r;
        }
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && l[j - 1].index > l[j].index; j--) {
                        PoolExtent t = l[j];
                        l[j] = l[j - 1];
                        l[j - 1] = t;
                }
        *ret = l;
        *ret_n = n;
        return 0;
}

ssize_t pool_extent_fit(const PoolExtent *l, size_t n, uint64_t memory)
{
        ssize_t best = -1;

        for (size_t i = 0; i < n; i++)
                if (l[i].free >= memory && (best < 0 || l[i].free < l[best].free))
                        best = (ssize_t) i;
        return best;
}

int pool_lock(const char *root)
{
        _cleanup_free_ char *dir = path_join(root, ZONE_POOL_DIR), *path = path_join(root, ZONE_POOL_LOCK);

        if (!dir || !path)
                return -ENOMEM;
        (void) mkdir_p(dir, 0755);
        return lock_file(path);
}

void zone_memory_done(ZoneMemory *m)
{
        if (!m)
                return;
        if (m->fd >= 0)
                (void) close(m->fd);
        if (m->vmem_fd >= 0)
                (void) close(m->vmem_fd);
        m->fd = m->vmem_fd = -EBADF;
}

/* The virtio-mem region's file, beside the RAM in the same extent: sized, not mapped, so
 * no page of the pool is taken until the guest plugs memory (zone_qemu_argv()). */
static int vmem_file(const char *extent, const ZoneConfig *c, uint64_t region, int *ret, KzError *e)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *path = NULL;
        int r;

        if (asprintf(&path, "%s/%s" ZONE_POOL_VMEM_SUFFIX, extent, zone_config_name(c)) < 0)
                return -ENOMEM;
        (void) unlink(path); /* left by a launcher that died before it could unlink it */
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return kz_error_set(e, errno, "cannot create %s: %m.", path);
        r = ftruncate(fd, (off_t) region) < 0 ? -errno : 0;
        (void) unlink(path);
        if (r < 0)
                return kz_error_set(e, r, "cannot size %s: %s.", path, strerror(-r));
        *ret = TAKE_FD(fd);
        return 0;
}

/* Reserves the zone's RAM in the pool: one file, in the extent that fits it best;
 * mapping it shared makes the kernel reserve its pages from the extent's own
 * reservation, and the reservation stays with the file after munmap. */
static int zone_memory_from_pool(const ZoneConfig *c, const char *root, const char *pool, ZoneMemory *m,
                KzError *e)
{
        _cleanup_close_ int lock = -EBADF, fd = -EBADF;
        _cleanup_free_ char *path = NULL, *extent = NULL;
        PoolExtent *l = NULL;
        size_t n = 0;
        uint64_t total = 0, free_bytes = 0, largest = 0, region = zone_vmem_region(c);
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX], d[SIZE_FORMAT_MAX];
        ssize_t i;
        void *p;
        int r;

        lock = pool_lock(root);
        if (lock < 0)
                return kz_error_set(e, lock, "cannot lock the memory reservation pools: %s.", strerror(-lock));
        r = pool_extents(root, pool, &l, &n);
        if (r < 0)
                return kz_error_set(e, r, "cannot look at memory reservation pool '%s': %s.", pool, strerror(-r));
        if (n == 0) {
                pool_extents_free(l, n);
                return kz_error_set(e, ENOENT, "Memory reservation pool '%s' is not reserved on this host: enable it "
                        "with 'systemctl enable --now memory-reserve@%s.service' (see memory-reserve(8)).", pool,
                        pool);
        }
        m->page_size = l[0].page_size;
        for (size_t k = 0; k < n; k++) {
                total += l[k].size;
                free_bytes += l[k].free;
                if (l[k].free > largest)
                        largest = l[k].free;
        }
        if (m->size % m->page_size != 0) {
                r = kz_error_set(e, EINVAL, "capped-memory:physical value of %s is not aligned to the page size %s "
                        "of memory reservation pool '%s': it must be a multiple of %s.",
                        size_format(m->size, a, sizeof(a)), size_format(m->page_size, b, sizeof(b)), pool, b);
                pool_extents_free(l, n);
                return r;
        }
        i = pool_extent_fit(l, n, m->size);
        if (i < 0) {
                char piece[64] = "";

                if (largest < free_bytes)
                        (void) snprintf(piece, sizeof(piece), ", at most %s in one piece",
                                size_format(largest, d, sizeof(d)));
                r = kz_error_set(e, ENOSPC, "Not enough free memory in memory reservation pool '%s' to allocate "
                        "capped-memory:physical value of %s for zone: %s free of %s%s. Consider enlarging the pool "
                        "(Size= of memory-reserve@%s.service, see memory-reserve(8)).", pool,
                        size_format(m->size, a, sizeof(a)), size_format(free_bytes, b, sizeof(b)),
                        size_format(total, d, sizeof(d)), piece, pool);
                pool_extents_free(l, n);
                return r;
        }
        if (asprintf(&path, "%s/%s", l[i].path, zone_config_name(c)) < 0 || !(extent = strdup(l[i].path))) {
                pool_extents_free(l, n);
                return -ENOMEM;
        }
        pool_extents_free(l, n);

        (void) unlink(path); /* left by a launcher that died before it could unlink it */
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return kz_error_set(e, errno, "cannot create %s: %m.", path);
        if (ftruncate(fd, (off_t) m->size) < 0) {
                r = kz_error_set(e, errno, "cannot size %s: %m.", path);
                (void) unlink(path);
                return r;
        }
        p = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
                r = -errno;
                (void) unlink(path);
                return kz_error_set(e, r, "Not enough free memory in memory reservation pool '%s' to allocate "
                        "capped-memory:physical value of %s for zone: %s. Consider enlarging the pool (Size= of "
                        "memory-reserve@%s.service, see memory-reserve(8)).", pool, size_format(m->size, a, sizeof(a)),
                        strerror(-r), pool);
        }
        (void) munmap(p, m->size);
        (void) unlink(path);
        /* memory resized live comes from the same extent (zone-qemu.h) */
        if (region > 0) {
                r = vmem_file(extent, c, region, &m->vmem_fd, e);
                if (r < 0)
                        return r;
        }
        m->kind = ZONE_MEMORY_POOL;
        m->fd = TAKE_FD(fd);
        return 0;
}

int zone_memory_prepare(const ZoneConfig *c, const char *root, ZoneMemory *ret, KzError *e)
{
        const ZoneResource *cm = zone_resource_first(c->root, resource_type_child(zone_type(), "capped-memory"));
        const char *pool = zone_resource_get(cm, "memory-reserve");
        const char *policy_s = zone_resource_get(cm, "pagesize-policy");
        ZoneMemory m = { .kind = ZONE_MEMORY_ORDINARY, .size = zone_memory_bytes(c), .fd = -EBADF,
                .vmem_fd = -EBADF };
        uint64_t sizes[HUGEPAGE_SIZES_MAX], cand[HUGEPAGE_SIZES_MAX], fixed = 0;
        char a[SIZE_FORMAT_MAX], b[SIZE_FORMAT_MAX];
        PageSizePolicy policy;
        size_t n;
        int k, r;

        if (pool) {
                r = zone_memory_from_pool(c, root, pool, &m, e);
                if (r < 0)
                        return r;
                *ret = m;
                return 0;
        }
        /* no policy: "the lowest allowable page size", the host's base pages */
        if (!policy_s) {
                *ret = m;
                return 0;
        }
        policy = pagesize_policy_from_string(policy_s);
        if (policy < 0)
                return kz_error_set(e, EINVAL, "\"%s\" is not a valid pagesize-policy name", policy_s);
        if (policy == PAGESIZE_FIXED && size_parse(zone_resource_get(cm, "pagesize") ?: "", &fixed) < 0)
                return kz_error_set(e, EINVAL, "capped-memory:pagesize-policy=fixed requires the pagesize property.");
        n = hugepage_sizes(sizes);
        k = pagesize_candidates(policy, fixed, m.size, sizes, n, cand);
        if (k == -EOPNOTSUPP && policy == PAGESIZE_LARGEST_AVAILABLE) {
                *ret = m; /* no huge pages on this host: base pages; largest-available always boots */
                return 0;
        }
        if (k == -EOPNOTSUPP && policy == PAGESIZE_FIXED)
                return kz_error_set(e, EOPNOTSUPP, "The capped-memory:pagesize value %s is not supported on this host.",
                        size_format(fixed, a, sizeof(a)));
        if (k == -EOPNOTSUPP)
                return kz_error_set(e, EOPNOTSUPP, "capped-memory:pagesize-policy=%s: this host has no huge pages.",
                        policy_s);
        if (k == -EDOM && policy == PAGESIZE_LARGEST_AVAILABLE) {
                *ret = m;
                return 0;
        }
        if (k == -EDOM)
                return kz_error_set(e, EINVAL, "capped-memory:physical value of %s is not a multiple of the page size "
                        "%s (pagesize-policy=%s).", size_format(m.size, a, sizeof(a)),
                        size_format(policy == PAGESIZE_FIXED ? fixed :
                                policy == PAGESIZE_SMALLEST_ONLY ? sizes[0] : sizes[n - 1], b, sizeof(b)),
                        policy_s);
        if (k < 0)
                return kz_error_set(e, k, "cannot choose a page size: %s.", strerror(-k));
        for (int i = 0; i < k; i++) {
                uint64_t avail = 0;

                if (hugepage_available(cand[i], &avail) >= 0 && avail >= m.size / cand[i]) {
                        m.kind = ZONE_MEMORY_HUGEPAGES;
                        m.page_size = cand[i];
                        *ret = m;
                        return 0;
                }
        }
        /* "Booting with pagesize-policy=largest-available always succeeds" */
        if (policy == PAGESIZE_LARGEST_AVAILABLE) {
                *ret = m;
                return 0;
        }
        return kz_error_set(e, ENOMEM, "Not enough contiguous free memory pages to allocate capped-memory:physical "
                "value of %s for zone. Consider using memory-reserve(8) to facilitate reserving memory for Kernel "
                "Zones", size_format(m.size, a, sizeof(a)));
}

int zone_pool_dropin(const ZoneConfig *c, const char *libexecdir, char **ret)
{
        const char *pool = zone_resource_get(zone_resource_first(c->root, resource_type_child(zone_type(), "capped-memory")), "memory-reserve");

        if (!pool || !pool_name_is_valid(pool)) {
                *ret = NULL;
                return 0;
        }
        if (asprintf(ret,
                    "# Generated by kzones-memory-reserve-generator: zone %s takes its memory from\n"
                    "# the memory reservation pool %s (capped-memory:memory-reserve), see memory-reserve(8).\n"
                    "[Unit]\n"
                    "Wants=memory-reserve@%s.service\n"
                    "After=memory-reserve@%s.service\n"
                    "\n"
                    "[Service]\n"
                    "# A pool whose unit was stopped while zones used it goes with the last of them.\n"
                    "ExecStopPost=-+%s/kzones/kzones-memory-reserve release-unused %s\n",
                    zone_config_name(c), pool, pool, pool, libexecdir, pool) < 0)
                return -ENOMEM;
        return 0;
}
