/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The maintenance file that 'sysadm maintain' writes and the restarter reads: what is
 * written is read back, its absence is no maintenance, a file that says little is
 * still maintenance, messages that would break a line or the journal are refused. */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "maintenance.h"
#include "test-root.h"

TestSuite(maintenance, .init = make_root, .fini = remove_root);

Test(maintenance, written_then_read_back_then_removed)
{
        Maintenance m = { .type = (char *) "admin", .user = (char *) "root", .uid = 0, .since_usec = 1764500000000000,
                .message = (char *) "Updating system to new release" }, r = {};
        _cleanup_free_ char *path = path_join(root, MAINTENANCE_FILE), *about = NULL;
        KzError e = {};
        struct stat st;

        cr_assert_eq(maintenance_read(root, &r, &e), 0, "no file, no maintenance");
        cr_assert_eq(maintenance_write(root, &m, &e), 0, "%s", e.message);
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_eq(st.st_mode & 0777, 0600);
        cr_assert_eq(maintenance_read(root, &r, &e), 1);
        cr_assert_str_eq(r.type, "admin");
        cr_assert_str_eq(r.user, "root");
        cr_assert_eq(r.since_usec, 1764500000000000);
        cr_assert_str_eq(r.message, "Updating system to new release");
        about = maintenance_describe(&r);
        cr_assert_str_eq(about, "admin, by root since 2025-11-30 10:53 UTC: Updating system to new release");
        maintenance_done(&r);
        cr_assert_eq(maintenance_remove(root, &e), 0);
        cr_assert_eq(maintenance_read(root, &r, &e), 0);
        cr_assert_eq(maintenance_remove(root, &e), 0, "removing twice is fine");
}

Test(maintenance, a_file_that_says_little_is_still_maintenance)
{
        _cleanup_free_ char *path = path_join(root, MAINTENANCE_FILE);
        Maintenance r = {};
        KzError e = {};

        cr_assert_eq(maintenance_write(root, &(Maintenance) { .message = (char *) "" }, &e), 0);
        cr_assert_eq(write_file_atomic(path, "garbage\n", 8, 0600), 0);
        cr_assert_eq(maintenance_read(root, &r, &e), 1);
        cr_assert_str_eq(r.type, "admin");
        cr_assert_str_eq(r.user, "unknown");
        cr_assert_str_eq(r.message, "");
        maintenance_done(&r);
}

Test(maintenance, messages_that_would_break_a_line_are_refused)
{
        char long_one[MAINTENANCE_MESSAGE_MAX + 2];
        KzError e = {};

        cr_assert(maintenance_message_is_valid(""));
        cr_assert(maintenance_message_is_valid("Mise à jour — noyau 6.1"));
        cr_assert(!maintenance_message_is_valid("two\nlines"));
        cr_assert(!maintenance_message_is_valid("tab\there"));
        cr_assert(!maintenance_message_is_valid("\x1b[2J"));
        cr_assert(!maintenance_message_is_valid("bad \xc3 utf-8"));
        cr_assert(!maintenance_message_is_valid("overlong \xc0\xaf"));
        memset(long_one, 'x', sizeof(long_one) - 1);
        long_one[sizeof(long_one) - 1] = 0;
        cr_assert(!maintenance_message_is_valid(long_one));
        long_one[MAINTENANCE_MESSAGE_MAX] = 0;
        cr_assert(maintenance_message_is_valid(long_one));
        cr_assert_lt(maintenance_write(root, &(Maintenance) { .message = (char *) "a\nb" }, &e), 0);
}
