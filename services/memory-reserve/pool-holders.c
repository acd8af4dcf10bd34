/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who holds memory in a pool: the processes with a file of its extents open
 * or mapped, found in /proc. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "pool.h"
#include "size.h"

/* ---- who holds memory in the pool ------------------------------------------------------------ */

/* The last component without " (deleted)"; *ret_vmem: it is a virtio-mem region's file
 * (ZONE_POOL_VMEM_SUFFIX), whose suffix goes too. */
static char *holder_zone(const char *path, bool *ret_vmem)
{
        const char *slash = strrchr(path, '/');
        const char *name = slash ? slash + 1 : path;
        size_t len = strlen(name), k = strlen(ZONE_POOL_VMEM_SUFFIX);

        if (len > 10 && streq(name + len - 10, " (deleted)"))
                len -= 10;
        *ret_vmem = len > k && strncmp(name + len - k, ZONE_POOL_VMEM_SUFFIX, k) == 0;
        if (*ret_vmem)
                len -= k;
        return strndup(name, len);
}

char *pool_holder_zone(const char *path)
{
        bool vmem;

        return holder_zone(path, &vmem);
}

void pool_holders_free(PoolHolder *h, size_t n)
{
        for (size_t i = 0; h && i < n; i++)
                free(h[i].zone);
        free(h);
}

static bool dev_in(const PoolExtent *l, size_t n, dev_t dev)
{
        for (size_t i = 0; i < n; i++)
                if (l[i].dev == dev)
                        return true;
        return false;
}

typedef struct HolderList {
        PoolHolder *h;
        size_t n, cap;
} HolderList;

/* size: what the file holds of the pool. A zone's RAM is reserved whole: its size. Its
 * virtio-mem region is not reserved: what the guest plugged, the pages the file has
 * (allocated, or 0 when only its mapping is seen, which is the whole region). */
static int holder_add(HolderList *l, dev_t dev, ino_t ino, uint64_t size, uint64_t allocated, const char *path,
                pid_t pid)
{
        bool vmem;
        char *zone = holder_zone(path, &vmem);

        if (!zone)
                return -ENOMEM;
        if (vmem)
                size = allocated;
        for (size_t i = 0; i < l->n; i++)
                if (l->h[i].dev == dev && l->h[i].ino == ino) {
                        if (size > l->h[i].size)
                                l->h[i].size = size;
                        free(zone);
                        return 0;
                }
        if (l->n >= POOL_HOLDERS_MAX) {
                free(zone);
                return 0;
        }
        if (l->n == l->cap) {
                PoolHolder *t = realloc(l->h, (l->cap + 16) * sizeof(*t));
                if (!t) {
                        free(zone);
                        return -ENOMEM;
                }
                l->h = t;
                l->cap += 16;
        }
        l->h[l->n++] = (PoolHolder) { .dev = dev, .ino = ino, .size = size, .pid = pid, .zone = zone };
        return 0;
}

/* Files of the pool that process pid has open. */
static int scan_fds(int proc, const char *pid_s, pid_t pid, const PoolExtent *l, size_t n, HolderList *out)
{
        _cleanup_free_ char *rel = NULL;
        struct dirent *de;
        DIR *d;
        int fd, r = 0;

        if (asprintf(&rel, "%s/fd", pid_s) < 0)
                return -ENOMEM;
        fd = openat(proc, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 0; /* gone, or not ours to look at */
        d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return 0;
        }
        while ((de = readdir(d)) && r >= 0) {
                char target[PATH_MAX];
                struct stat st;
                ssize_t k;

                if (de->d_name[0] == '.')
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode) || !dev_in(l, n, st.st_dev))
                        continue;
                k = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
                if (k < 0)
                        continue;
                target[k] = 0;
                r = holder_add(out, st.st_dev, st.st_ino, (uint64_t) st.st_size, (uint64_t) st.st_blocks * 512u,
                        target, pid);
        }
        closedir(d);
        return r;
}

/* Files of the pool that process pid has mapped (it may have closed them). */
static int scan_maps(int proc, const char *pid_s, pid_t pid, const PoolExtent *l, size_t n, HolderList *out)
{
        _cleanup_free_ char *rel = NULL, *line = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t len = 0;
        int fd, r = 0;

        if (asprintf(&rel, "%s/maps", pid_s) < 0)
                return -ENOMEM;
        fd = openat(proc, rel, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        f = fdopen(fd, "re");
        if (!f) {
                (void) close(fd);
                return 0;
        }
        while (r >= 0 && getline(&line, &len, f) > 0) {
                unsigned long long start, end, offset, inode;
                unsigned maj, min;
                char perms[8];
                int pos = 0;
                char *path;

                if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &offset, &maj, &min, &inode,
                            &pos) < 7 || pos == 0)
                        continue;
                if (inode == 0 || !dev_in(l, n, makedev(maj, min)))
                        continue;
                path = line + pos;
                path[strcspn(path, "\n")] = 0;
                r = holder_add(out, makedev(maj, min), (ino_t) inode, end - start, 0, path, pid);
        }
        return r;
}

static int holder_cmp(const void *a, const void *b)
{
        const PoolHolder *x = a, *y = b;
        int c = strcmp(x->zone, y->zone);

        return c ? c : (x->ino > y->ino) - (x->ino < y->ino);
}

int pool_holders(const PoolExtent *l, size_t n, PoolHolder **ret, size_t *ret_n)
{
        _cleanup_close_ int proc = -EBADF;
        HolderList out = {};
        struct dirent *de;
        DIR *d;
        int r = 0;

        *ret = NULL;
        *ret_n = 0;
        if (n == 0)
                return 0;
        proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (proc < 0)
                return -errno;
        d = opendir("/proc");
        if (!d)
                return -errno;
        while ((de = readdir(d)) && r >= 0) {
                pid_t pid;

                if (!isdigit((unsigned char) de->d_name[0]))
                        continue;
                pid = (pid_t) strtol(de->d_name, NULL, 10);
                r = scan_fds(proc, de->d_name, pid, l, n, &out);
                if (r >= 0)
                        r = scan_maps(proc, de->d_name, pid, l, n, &out);
        }
        closedir(d);
        if (r < 0) {
                pool_holders_free(out.h, out.n);
                return r;
        }
        if (out.n > 1)
                qsort(out.h, out.n, sizeof(*out.h), holder_cmp);
        *ret = out.h;
        *ret_n = out.n;
        return 0;
}

void pool_holders_by_zone(PoolHolder *h, size_t *n)
{
        size_t w = 0;

        /* sorted by zone (pool_holders()): a zone's files are next to each other */
        for (size_t i = 0; i < *n; i++) {
                if (w > 0 && streq(h[w - 1].zone, h[i].zone)) {
                        h[w - 1].size += h[i].size;
                        free(h[i].zone);
                        continue;
                }
                h[w++] = h[i];
        }
        *n = w;
}

size_t pool_holders_zones(const PoolHolder *h, size_t n)
{
        size_t zones = 0;

        for (size_t i = 0; i < n; i++)
                zones += i == 0 || !streq(h[i - 1].zone, h[i].zone);
        return zones;
}

char *pool_holders_format(const PoolHolder *h, size_t n)
{
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);

        if (!f)
                return NULL;
        fputs(pool_holders_zones(h, n) == 1 ? "zone " : "zones ", f);
        for (size_t i = 0; i < n;) {
                char a[SIZE_FORMAT_MAX];
                uint64_t size = 0;
                size_t k = i;

                /* a zone's RAM and the memory it plugged live, as one (pool_holders_by_zone()) */
                for (; k < n && streq(h[k].zone, h[i].zone); k++)
                        size += h[k].size;
                fprintf(f, "%s%s (%s)", i ? ", " : "", h[i].zone, size_format(size, a, sizeof(a)));
                i = k;
        }
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}
