/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The launch request (restarter -> zone@NAME.service) and the launch result (back):
 * what one writes the other reads exactly, a request is taken once, a file is
 * replaced whole or not at all, and a garbled, hostile or oversized file is refused
 * with a reason and never read twice. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch-request.h"
#include "zone-store.h"

static char dir[256];

static void setup(void)
{
        const char *tmp = getenv("TMPDIR");

        (void) snprintf(dir, sizeof(dir), "%s/kzones-launch-XXXXXX", isempty(tmp) ? "/tmp" : tmp);
        cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
        DIR *d = opendir(dir);
        struct dirent *de;

        while (d && (de = readdir(d))) {
                char p[512];

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                (void) snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
                if (unlink(p) < 0)
                        (void) rmdir(p);
        }
        if (d)
                closedir(d);
        (void) rmdir(dir);
}

TestSuite(launch, .init = setup, .fini = teardown);

static size_t entries(void)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        cr_assert_not_null(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void put(const char *file, const char *content)
{
        char p[512];
        FILE *f;

        (void) snprintf(p, sizeof(p), "%s/%s", dir, file);
        f = fopen(p, "w");
        cr_assert_not_null(f);
        fputs(content, f);
        fclose(f);
}

static LaunchRequest sample(void)
{
        static char *args[] = { "-v", "console=ttyS0 quiet", "caf\xc3\xa9 \"q\" \\", NULL };

        return (LaunchRequest) {
                .boot_args = args,
                .fresh = true,
                .installer = { .path = "/proc/1234/fd/17", .dev = 0xfd01, .ino = UINT64_MAX - 1 },
                .incoming = { .migration_id = "m-42", .uri = "unix:/run/kzones/kz1/incoming/migr.sock",
                              .channels = 5 },
                .handover = "0a1b2c3d",
        };
}

Test(launch, request_round_trip)
{
        LaunchRequest want = sample(), got = {};
        KzError e = {};

        cr_assert_eq(launch_request_write(dir, &want), 0);
        cr_assert_eq(launch_request_read(dir, &got, &e), 0, "%s", e.message);
        cr_assert_not_null(got.boot_args);
        for (size_t i = 0; i < 4; i++)
                cr_assert_str_eq(got.boot_args[i] ?: "(end)", want.boot_args[i] ?: "(end)");
        cr_assert(got.fresh);
        cr_assert(!got.halt);
        cr_assert_str_eq(got.installer.path, want.installer.path);
        cr_assert_eq(got.installer.dev, want.installer.dev);
        cr_assert_eq(got.installer.ino, want.installer.ino);
        cr_assert_str_eq(got.incoming.migration_id, "m-42");
        cr_assert_str_eq(got.incoming.uri, want.incoming.uri);
        cr_assert_eq(got.incoming.channels, 5);
        cr_assert_str_eq(got.handover, "0a1b2c3d");
        launch_request_done(&got);

        /* an empty request is a plain boot: nothing is invented */
        cr_assert_eq(launch_request_write(dir, &(LaunchRequest) { .halt = true }), 0);
        cr_assert_eq(launch_request_read(dir, &got, &e), 0, "%s", e.message);
        cr_assert_null(got.boot_args);
        cr_assert_null(got.installer.path);
        cr_assert_null(got.incoming.migration_id);
        cr_assert_null(got.handover);
        cr_assert(got.halt && !got.fresh);
        launch_request_done(&got);
}

Test(launch, result_round_trip)
{
        LaunchResult want = { .step = "exec", .error = EKEYREJECTED, .unavailable = true,
                .reason = "error: Encryption key is incorrect.\n    zoneadm -z kz1 attach -x initialize-hostdata" };
        LaunchResult got = {};
        KzError e = {};

        cr_assert_eq(launch_result_write(dir, &want), 0);
        cr_assert_eq(launch_result_read(dir, &got, &e), 0, "%s", e.message);
        cr_assert_str_eq(got.step, "exec");
        cr_assert_eq(got.error, EKEYREJECTED);
        cr_assert_str_eq(got.reason, want.reason);
        cr_assert(got.unavailable);
        launch_result_done(&got);
        cr_assert_eq(launch_result_take(dir, &got, &e), 0);
        launch_result_done(&got);
        cr_assert_eq(launch_result_take(dir, &got, &e), -ENOENT, "a result was taken twice");
        cr_assert_eq(entries(), 0u);
}

Test(launch, taken_once)
{
        LaunchRequest want = sample(), got = {};
        KzError e = {};

        cr_assert_eq(launch_request_take(dir, &got, &e), -ENOENT);
        cr_assert_eq(launch_request_write(dir, &want), 0);
        cr_assert_eq(launch_request_take(dir, &got, &e), 0, "%s", e.message);
        cr_assert(got.fresh);
        launch_request_done(&got);
        cr_assert_eq(launch_request_take(dir, &got, &e), -ENOENT, "a later start would reuse the request");
        cr_assert_eq(launch_request_read(dir, &got, &e), -ENOENT);
        cr_assert_eq(entries(), 0u, "the taken request left a file behind");
}

Test(launch, written_atomically_and_private)
{
        LaunchRequest a = sample(), b = { .halt = true }, got = {};
        char p[512];
        struct stat st;
        KzError e = {};

        (void) umask(0);
        cr_assert_eq(launch_request_write(dir, &a), 0);
        cr_assert_eq(launch_request_write(dir, &b), 0);
        (void) snprintf(p, sizeof(p), "%s/" LAUNCH_REQUEST_FILE, dir);
        cr_assert_eq(stat(p, &st), 0);
        cr_assert_eq(st.st_mode & 07777, 0600, "the request is mode %o", st.st_mode & 07777);
        cr_assert_eq(entries(), 1u, "a temporary file was left beside the request");
        /* the second replaced the first whole */
        cr_assert_eq(launch_request_read(dir, &got, &e), 0);
        cr_assert(got.halt && !got.fresh && !got.boot_args && !got.installer.path);
        launch_request_done(&got);

        /* a directory that cannot be written keeps the request it had */
        cr_assert_eq(chmod(dir, 0500), 0);
        if (access(dir, W_OK) < 0) {
                cr_assert_lt(launch_request_write(dir, &a), 0);
                cr_assert_eq(launch_request_read(dir, &got, &e), 0);
                cr_assert(got.halt);
                launch_request_done(&got);
        }
        cr_assert_eq(chmod(dir, 0700), 0);
}

static void refused(const char *content, const char *why)
{
        LaunchRequest got = {};
        KzError e = {};
        int r;

        put(LAUNCH_REQUEST_FILE, content);
        r = launch_request_take(dir, &got, &e);
        cr_assert_lt(r, 0, "accepted: %s", content);
        cr_assert_neq(r, -ENOENT);
        cr_assert(strstr(e.message, why), "for %s: '%s' does not say '%s'", content, e.message, why);
        cr_assert_null(got.boot_args);
        cr_assert_eq(entries(), 0u, "a refused request stays to be read again");
}

Test(launch, garbled_and_hostile)
{
        refused("", "not JSON");
        refused("{\"version\": 1, \"fresh\": tru", "not JSON");
        refused("[1, 2]", "not a JSON object");
        refused("{\"fresh\": true}", "no version");
        refused("{\"version\": 2}", "version 2");
        refused("{\"version\": \"1\"}", "not an integer");
        refused("{\"version\": 1} {\"version\": 1}", "goes on after");
        refused("{\"version\": 1, \"fresh\": 1}", "not true or false");
        refused("{\"version\": 1, \"boot-arguments\": \"-v\"}", "not an array");
        refused("{\"version\": 1, \"boot-arguments\": [\"-v\", 3]}", "not a string");
        refused("{\"version\": 1, \"boot-arguments\": [\"a\\u0000b\"]}", "NUL character");
        refused("{\"version\": 1, \"boot-arguments\": [[[[[\"deep\"]]]]]}", "not JSON");
        refused("{\"version\": 1, \"rm -rf\": true}", "unknown");
        refused("{\"version\": 1, \"installer\": {\"path\": \"/etc/shadow\", \"device\": 1, \"inode\": 2}}",
                "not a descriptor in /proc");
        refused("{\"version\": 1, \"installer\": {\"path\": \"/proc/1/fd/3/../../root\", \"device\": 1, "
                "\"inode\": 2}}", "not a descriptor in /proc");
        refused("{\"version\": 1, \"installer\": {\"path\": \"/proc/1/fd/3\", \"device\": -1, \"inode\": 2}}",
                "out of range");
        refused("{\"version\": 1, \"installer\": {\"path\": \"/proc/1/fd/3\"}}", "lacks");
        refused("{\"version\": 1, \"incoming\": {\"uri\": \"tcp:0:8102\"}}", "no id");
        refused("{\"version\": 1, \"incoming\": {\"migration-id\": \"m\", \"channels\": 0}}", "no channel");
        refused("{\"version\": 1, \"incoming\": {\"migration-id\": \"m\", \"channels\": 65}}", "channels");
        refused("{\"version\": 1, \"halt\": true, \"handover\": \"../etc\"}", "not a hostid");
        refused("{\"version\": 1, \"halt\": true, \"handover\": \"0A1B2C3D\"}", "not a hostid");
        {
                /* a NUL byte in the file itself */
                char p[512];
                int fd;

                (void) snprintf(p, sizeof(p), "%s/" LAUNCH_REQUEST_FILE, dir);
                fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                cr_assert_geq(fd, 0);
                cr_assert_eq(write(fd, "{\"version\": 1}\0", 15), 15);
                close(fd);
                LaunchRequest got = {};
                KzError e = {};
                cr_assert_lt(launch_request_take(dir, &got, &e), 0);
                cr_assert(strstr(e.message, "NUL"), "%s", e.message);
                cr_assert_eq(entries(), 0u);
        }
}

Test(launch, not_a_regular_file)
{
        char p[512];
        LaunchRequest got = {};
        KzError e = {};

        /* a symbolic link is not followed, and goes */
        (void) snprintf(p, sizeof(p), "%s/" LAUNCH_REQUEST_FILE, dir);
        cr_assert_eq(symlink("/etc/passwd", p), 0);
        cr_assert_lt(launch_request_take(dir, &got, &e), 0);
        cr_assert(strstr(e.message, "cannot read"), "%s", e.message);
        cr_assert_eq(entries(), 0u);
        /* a FIFO would block a reader that opened it plainly */
        cr_assert_eq(mkfifo(p, 0600), 0);
        cr_assert_lt(launch_request_take(dir, &got, &e), 0);
        cr_assert_eq(entries(), 0u);
}

Test(launch, too_large)
{
        size_t n = LAUNCH_FILE_MAX + 2;
        char *big = malloc(n + 1), **args = calloc(3, sizeof(char *));
        LaunchRequest got = {}, req = {};
        KzError e = {};

        cr_assert(big && args);
        /* a valid object, only too long */
        memset(big, ' ', n);
        memcpy(big, "{\"version\": 1}", 14);
        big[n] = 0;
        put(LAUNCH_REQUEST_FILE, big);
        cr_assert_eq(launch_request_take(dir, &got, &e), -EFBIG);
        cr_assert(strstr(e.message, "larger than"), "%s", e.message);
        cr_assert_eq(entries(), 0u);

        /* and what the writer would make too large is not written */
        memset(big, 'a', n);
        args[0] = big;
        req.boot_args = args;
        cr_assert_eq(launch_request_write(dir, &req), -EFBIG);
        cr_assert_eq(entries(), 0u);
        free(big);
        free(args);
}

Test(launch, result_needs_a_reason)
{
        LaunchResult got = {};
        KzError e = {};

        put(LAUNCH_RESULT_FILE, "{\"version\": 1, \"step\": \"exec\", \"error\": 5, \"unavailable\": true}");
        cr_assert_lt(launch_result_read(dir, &got, &e), 0);
        cr_assert(strstr(e.message, "no reason"), "%s", e.message);
        kz_error_clear(&e);
        put(LAUNCH_RESULT_FILE, "{\"version\": 1, \"reason\": \"x\", \"error\": 99999}");
        cr_assert_lt(launch_result_read(dir, &got, &e), 0);
        cr_assert(strstr(e.message, "out of range"), "%s", e.message);
}
