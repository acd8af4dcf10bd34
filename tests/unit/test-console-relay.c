/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The console relay's log: a guest printing without end does not fill the disk. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "console-relay.h"

#define CAP (64u * 1024u)

static char dir[] = "/tmp/kzones-test-console.XXXXXX";
static char log_path[128], old_path[128], client_path[128];

static void setup(void)
{
        cr_assert_not_null(mkdtemp(dir));
        (void) snprintf(log_path, sizeof(log_path), "%s/kz1.console", dir);
        (void) snprintf(old_path, sizeof(old_path), "%s/kz1.console.0", dir);
        (void) snprintf(client_path, sizeof(client_path), "%s/console.sock", dir);
}

static void teardown(void)
{
        (void) unlink(log_path);
        (void) unlink(old_path);
        (void) unlink(client_path);
        (void) rmdir(dir);
}

static off_t size_of(const char *path)
{
        struct stat st;

        return stat(path, &st) < 0 ? -1 : st.st_size;
}

/* Runs the relay in a child, as kzones-zone does, and plays the guest: writes
 * total bytes of a counting pattern, then hangs up as QEMU does when it ends. */
static void flood(uint64_t total)
{
        int client = console_listen(client_path), pair[2], guest;
        char buf[8192];
        pid_t pid;
        int status;

        cr_assert_geq(client, 0);
        /* QEMU's serial port: one end of a socket pair, the relay holds the other */
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
        pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                ConsoleLog log = { .path = log_path, .max = CAP };

                (void) close(pair[1]);
                log.fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                _exit(console_relay(pair[0], client, &log) < 0 ? 1 : 0);
        }
        (void) close(pair[0]);
        (void) close(client);
        guest = pair[1];
        for (uint64_t done = 0; done < total;) {
                size_t n = total - done < sizeof(buf) ? (size_t) (total - done) : sizeof(buf);
                ssize_t k;

                for (size_t i = 0; i < n; i++)
                        buf[i] = (char) ('a' + (done + i) % 26);
                k = write(guest, buf, n);
                cr_assert_gt(k, 0, "write: %s", strerror(errno));
                done += (uint64_t) k;
        }
        (void) close(guest);
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the relay failed");
}

Test(console_relay, a_flooding_guest_keeps_the_log_under_its_cap, .init = setup, .fini = teardown)
{
        uint64_t total = 10u * 1024u * 1024u; /* 160 times the cap */
        char tail[26];
        int fd;

        flood(total);
        cr_assert_leq(size_of(log_path), CAP, "the log grew to %lld bytes", (long long) size_of(log_path));
        cr_assert_leq(size_of(old_path), CAP, "the rotated log is %lld bytes", (long long) size_of(old_path));
        cr_assert_gt(size_of(old_path), CAP / 2, "the log was not rotated");
        /* the newest output is kept: the log ends with what the guest printed last */
        fd = open(log_path, O_RDONLY | O_CLOEXEC);
        cr_assert_geq(fd, 0);
        cr_assert_eq(pread(fd, tail, sizeof(tail), size_of(log_path) - (off_t) sizeof(tail)), (ssize_t) sizeof(tail));
        (void) close(fd);
        for (size_t i = 0; i < sizeof(tail); i++)
                cr_assert_eq(tail[i], (char) ('a' + (total - sizeof(tail) + i) % 26));
        cr_assert_eq(size_of(log_path) + size_of(old_path) <= 2 * CAP, true);
}

Test(console_relay, a_small_output_is_logged_whole, .init = setup, .fini = teardown)
{
        flood(1000);
        cr_assert_eq(size_of(log_path), 1000);
        cr_assert_eq(size_of(old_path), -1, "nothing is rotated before the cap");
}

Test(console_relay, the_log_of_an_earlier_boot_counts, .init = setup, .fini = teardown)
{
        int fd = open(log_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

        cr_assert_geq(fd, 0);
        cr_assert_eq(ftruncate(fd, CAP - 100), 0);
        (void) close(fd);
        flood(1000);
        cr_assert_geq(size_of(old_path), CAP - 100, "the old log was not rotated");
        cr_assert_leq(size_of(old_path), CAP);
        cr_assert_eq(size_of(old_path) + size_of(log_path), CAP - 100 + 1000);
}
