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

char *pool_holder_zone(const char *path)
{
        const char *slash = strrchr(path, '/');
        const char *name = slash ? slash + 1 : path;
        size_t len = strlen(name);

        if (len > 10 && streq(name + len - 10, " (deleted)"))
                len -= 10;
        return strndup(name, len);
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

static int holder_add(HolderList *l, dev_t dev, ino_t ino, uint64_t size, const char *path, pid_t pid)
{
        for (size_t i = 0; i < l->n; i++)
                if (l->h[i].dev == dev && l->h[i].ino == ino) {
                        if (size > l->h[i].size)
                                l->h[i].size = size;
                        return 0;
                }
        if (l->n >= POOL_HOLDERS_MAX)
                return 0;
        if (l->n == l->cap) {
                PoolHolder *t = realloc(l->h, (l->cap + 16) * sizeof(*t));
                if (!t)
                        return -ENOMEM;
                l->h = t;
                l->cap += 16;
        }
        l->h[l->n] = (PoolHolder) { .dev = dev, .ino = ino, .size = size, .pid = pid, .zone = pool_holder_zone(path) };
        if (!l->h[l->n].zone)
                return -ENOMEM;
        l->n++;
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
                r = holder_add(out, st.st_dev, st.st_ino, (uint64_t) st.st_size, target, pid);
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
                r = holder_add(out, makedev(maj, min), (ino_t) inode, end - start, path, pid);
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

char *pool_holders_format(const PoolHolder *h, size_t n)
{
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);

        if (!f)
                return NULL;
        fputs(n == 1 ? "zone " : "zones ", f);
        for (size_t i = 0; i < n; i++) {
                char a[SIZE_FORMAT_MAX];
                fprintf(f, "%s%s (%s)", i ? ", " : "", h[i].zone, size_format(h[i].size, a, sizeof(a)));
        }
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}
