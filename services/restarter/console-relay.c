/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The zone's serial console, kept by a small relay that runs beside QEMU in the
 * zone's unit: QEMU connects its serial port to the relay, which writes
 * everything the guest prints to /var/log/zones/NAME.console and to every
 * client of console.sock (zlogin -C), and passes what clients type to the guest.
 * So the guest never waits for a reader, the log is complete, and several
 * people can watch a console at once. The relay ends when QEMU does. */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
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
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, MAX_CLIENTS) < 0) {
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

int console_relay(int serial_listen, int client_listen, int log_fd)
{
        int guest = -EBADF, clients[MAX_CLIENTS];
        size_t n_clients = 0;

        /* QEMU connects once, at start */
        for (;;) {
                struct pollfd p = { .fd = serial_listen, .events = POLLIN };

                if (poll(&p, 1, 60 * 1000) <= 0)
                        return -ETIMEDOUT;
                guest = accept4(serial_listen, NULL, NULL, SOCK_CLOEXEC);
                if (guest >= 0)
                        break;
                if (errno != EAGAIN && errno != EINTR)
                        return -errno;
        }
        (void) close(serial_listen);

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
                                if (log_fd >= 0)
                                        write_all(log_fd, buf, (size_t) n);
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
        return 0;
}
