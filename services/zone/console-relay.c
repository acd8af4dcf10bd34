/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The zone's serial console, kept by a small relay that runs beside QEMU in the
 * zone's unit: QEMU's serial port is one end of a socket pair and the relay holds
 * the other (QEMU, which runs as an unprivileged user, opens nothing), and writes
 * everything the guest prints to /var/log/zones/NAME.console and to every
 * client of console.sock (zlogin -C), and passes what clients type to the guest.
 * So the guest never waits for a reader, the log is complete, and several
 * people can watch a console at once. The relay ends when QEMU does.
 *
 * The log is bounded (CONSOLE_LOG_MAX): a guest that prints without end rotates
 * it to NAME.console.0 and cannot fill the host's disk. */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "console-relay.h"
#include "macro.h"

#define MAX_CLIENTS 16

int console_listen(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        (void) unlink(path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* root's alone: others get the console from the restarter (OpenConsole), if they may log in */
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
            listen(fd, MAX_CLIENTS) < 0) {
                int r = -errno;
                (void) close(fd);
                return r;
        }
        return fd;
}

static void write_all(int fd, const char *buf, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, buf, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                buf += k;
                n -= (size_t) k;
        }
}

/* Makes room for n more bytes in the log: when they would take it past its bound,
 * the log so far becomes PATH.0 and a new one starts (or, with no path, it starts
 * over). A log that cannot be rotated is closed: the console goes on unlogged
 * rather than unbounded. */
static void log_make_room(ConsoleLog *log, uint64_t *size, size_t n)
{
        _cleanup_free_ char *old = NULL;
        int fd;

        if (*size + n <= log->max || *size == 0)
                return;
        if (!log->path) {
                if (ftruncate(log->fd, 0) < 0) {
                        (void) close(log->fd);
                        log->fd = -EBADF;
                }
                *size = 0;
                return;
        }
        if (asprintf(&old, "%s.0", log->path) < 0 || rename(log->path, old) < 0) {
                (void) close(log->fd);
                log->fd = -EBADF;
                return;
        }
        fd = open(log->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        (void) close(log->fd);
        log->fd = fd < 0 ? -EBADF : fd;
        *size = 0;
}

static void log_write(ConsoleLog *log, uint64_t *size, const char *buf, size_t n)
{
        if (log->fd < 0)
                return;
        /* a single read is never more than the bound: it is 4 KiB at most */
        if (n > log->max)
                n = log->max;
        log_make_room(log, size, n);
        if (log->fd < 0)
                return;
        write_all(log->fd, buf, n);
        *size += n;
}

int console_relay(int guest, int client_listen, ConsoleLog *log)
{
        int clients[MAX_CLIENTS];
        size_t n_clients = 0;
        uint64_t log_size = 0;
        struct stat st;

        /* a zone that boots again appends to the log it had */
        if (log->fd >= 0 && fstat(log->fd, &st) >= 0)
                log_size = (uint64_t) st.st_size;

        for (;;) {
                struct pollfd p[2 + MAX_CLIENTS];
                char buf[4096];
                ssize_t n;

                p[0] = (struct pollfd) { .fd = guest, .events = POLLIN };
                p[1] = (struct pollfd) { .fd = client_listen, .events = POLLIN };
                for (size_t i = 0; i < n_clients; i++)
                        p[2 + i] = (struct pollfd) { .fd = clients[i], .events = POLLIN };
                if (poll(p, 2 + n_clients, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p[0].revents) {
                        n = read(guest, buf, sizeof(buf));
                        if (n <= 0 && !(n < 0 && (errno == EINTR || errno == EAGAIN)))
                                break; /* QEMU is gone */
                        if (n > 0) {
                                log_write(log, &log_size, buf, (size_t) n);
                                for (size_t i = 0; i < n_clients; i++)
                                        (void) send(clients[i], buf, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL);
                        }
                }
                if (p[1].revents & POLLIN) {
                        int c = accept4(client_listen, NULL, NULL, SOCK_CLOEXEC);
                        if (c >= 0) {
                                if (n_clients < MAX_CLIENTS)
                                        clients[n_clients++] = c;
                                else {
                                        static const char busy[] = "console: too many clients\r\n";
                                        (void) send(c, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
                                        (void) close(c);
                                }
                        }
                }
                for (size_t i = 0; i < n_clients;) {
                        if (!p[2 + i].revents) {
                                i++;
                                continue;
                        }
                        n = read(clients[i], buf, sizeof(buf));
                        if (n > 0) {
                                write_all(guest, buf, (size_t) n);
                                i++;
                                continue;
                        }
                        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
                                i++;
                                continue;
                        }
                        (void) close(clients[i]);
                        /* keep p[] in step with clients[] for the rest of this round */
                        memmove(clients + i, clients + i + 1, (n_clients - i - 1) * sizeof(int));
                        memmove(p + 2 + i, p + 3 + i, (n_clients - i - 1) * sizeof(struct pollfd));
                        n_clients--;
                }
        }
        for (size_t i = 0; i < n_clients; i++)
                (void) close(clients[i]);
        (void) close(guest);
        if (log->fd >= 0)
                (void) close(log->fd);
        log->fd = -EBADF;
        return 0;
}
