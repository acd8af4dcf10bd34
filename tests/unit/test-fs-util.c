/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The file helpers every service relies on: mkdir -p with its modes, locks, numbers
 * from sysfs-like files, string lists. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "mkdir.h"
#include "strv.h"
#include "test-root.h"

TestSuite(fs, .init = make_root, .fini = remove_root);

static char *at(const char *rel)
{
        char *p = path_join(root, rel);

        cr_assert_not_null(p);
        return p;
}

static mode_t mode_at(const char *rel)
{
        _cleanup_free_ char *p = at(rel);
        struct stat st;

        cr_assert_eq(stat(p, &st), 0, "%s: %m", p);
        cr_assert(S_ISDIR(st.st_mode), "%s is not a directory", p);
        return st.st_mode & 07777;
}

Test(fs, mkdir_p_makes_every_missing_directory_with_its_modes)
{
        _cleanup_free_ char *deep = at("/run/kzones/kz1");

        (void) umask(0);
        cr_assert_eq(mkdir_p_full(deep, 0755, 0750), 0);
        cr_assert_eq(mode_at("/run"), 0755);
        cr_assert_eq(mode_at("/run/kzones"), 0755);
        cr_assert_eq(mode_at("/run/kzones/kz1"), 0750);
        /* again: everything exists, nothing changes */
        cr_assert_eq(mkdir_p(deep, 0700), 0);
        cr_assert_eq(mode_at("/run/kzones/kz1"), 0750);
}

Test(fs, mkdir_parents_leaves_the_last_name_alone)
{
        _cleanup_free_ char *file = at("/var/lib/zones/kz1/disk.img"), *dir = at("/var/lib/zones/kz1"),
                            *img = at("/var/lib/zones/kz1/disk.img");

        cr_assert_eq(mkdir_parents(file, 0755), 0);
        cr_assert_eq(access(dir, F_OK), 0);
        cr_assert_eq(access(img, F_OK), -1);
        cr_assert_eq(errno, ENOENT);
}

Test(fs, mkdir_p_says_why_it_cannot)
{
        _cleanup_free_ char *file = at("/plain"), *below = at("/plain/sub/dir");
        int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

        cr_assert_geq(fd, 0);
        (void) close(fd);
        cr_assert_eq(mkdir_p(below, 0755), -ENOTDIR);
}

Test(fs, lock_file_is_exclusive_until_closed)
{
        _cleanup_free_ char *path = at("/.lock");
        int fd = lock_file(path), other;

        cr_assert_geq(fd, 0, "lock_file: %s", strerror(-fd));
        other = open(path, O_RDWR | O_CLOEXEC);
        cr_assert_geq(other, 0);
        cr_assert_eq(flock(other, LOCK_EX | LOCK_NB), -1, "a second holder got the lock");
        cr_assert_eq(errno, EWOULDBLOCK);
        (void) close(fd);
        cr_assert_eq(flock(other, LOCK_EX | LOCK_NB), 0, "the lock outlived its descriptor");
        (void) close(other);
}

Test(fs, read_virtual_u64_reads_a_number_or_says_there_is_none)
{
        _cleanup_free_ char *good = at("/nr_hugepages"), *bad = at("/garbage"), *gone = at("/missing");
        uint64_t v = 7;

        cr_assert_eq(write_file_atomic(good, "1024\n", 5, 0644), 0);
        cr_assert_eq(write_file_atomic(bad, "none\n", 5, 0644), 0);
        cr_assert_eq(read_virtual_u64(good, &v), 0);
        cr_assert_eq(v, 1024);
        cr_assert_eq(read_virtual_u64(bad, &v), -EIO);
        cr_assert_eq(read_virtual_u64(gone, &v), -ENOENT);
        cr_assert_eq(v, 1024, "a failed read changed the result");
}

Test(strv, add_unique_keeps_the_first_of_each_and_joins)
{
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *s = NULL;

        cr_assert_eq(strv_add_unique(&l, "zones"), 1);
        cr_assert_eq(strv_add_unique(&l, "big"), 1);
        cr_assert_eq(strv_add_unique(&l, "zones"), 0);
        cr_assert_eq(strv_length(l), 2);
        cr_assert(strv_contains(l, "big"));
        cr_assert_not(strv_contains(l, "small"));
        qsort(l, strv_length(l), sizeof(char *), strv_cmp);
        s = strv_join(l, ", ");
        cr_assert_str_eq(s, "big, zones");
}

Test(strv, an_empty_list_is_null)
{
        _cleanup_free_ char *s = strv_join(NULL, ", ");

        cr_assert_eq(strv_length(NULL), 0);
        cr_assert_not(strv_contains(NULL, "x"));
        cr_assert_str_eq(s, "");
}
