/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The migration data path's relay alone, for bench/migrate-datapath: QEMU's
 * plain-text channels on a unix socket, TLS 1.3 with a pre-shared key on TCP,
 * one thread per channel (lib/tls-relay.c), as kz-migr will run them.
 *
 *   migr-relay out UNIX-LISTEN HOST PORT CIPHER   source side: QEMU migrates to UNIX-LISTEN
 *   migr-relay in PORT UNIX-TARGET                 target side: QEMU listens on UNIX-TARGET
 *
 * Both sides use the key in $KZ_BENCH_KEY (64 hex digits). */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "tls-relay.h"

static uint8_t arg_key[TLS_RELAY_KEY_SIZE];
static const char *arg_host, *arg_port, *arg_unix;
static TlsRelayCipher arg_cipher;

static int lookup(const char *identity, uint8_t key[TLS_RELAY_KEY_SIZE], void *userdata)
{
        if (!streq(identity, "bench"))
                return -ENOENT;
        memcpy(key, arg_key, TLS_RELAY_KEY_SIZE);
        return 0;
}

static int unix_socket(const char *path, bool listening)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
                return -EINVAL;
        strcpy(sa.sun_path, path);
        if (listening) {
                (void) unlink(path);
                if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 64) < 0)
                        return -errno;
        } else if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return fd;
}

static int tcp_connect(void)
{
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
        int fd = -1, one = 1;

        if (getaddrinfo(arg_host, arg_port, &hints, &ai) != 0)
                return -EHOSTUNREACH;
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                (void) close(fd);
                fd = -errno;
        }
        freeaddrinfo(ai);
        if (fd >= 0)
                (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return fd;
}

static void *channel_out(void *p)
{
        int plain = (int) (intptr_t) p, tcp = tcp_connect();
        TlsRelay *t = NULL;
        KzError e = {};
        uint64_t sent = 0, received = 0;

        if (tcp < 0 || tls_relay_client(tcp, "bench", arg_key, arg_cipher, 10 * 1000000u, &t, &e) < 0) {
                fprintf(stderr, "migr-relay: out: %s\n", tcp < 0 ? strerror(-tcp) : e.message);
                (void) close(plain);
                return NULL;
        }
        (void) tls_relay_pump(t, plain, &sent, &received);
        fprintf(stderr, "migr-relay: out: channel done, %llu bytes sent\n", (unsigned long long) sent);
        tls_relay_free(t);
        (void) close(plain);
        return NULL;
}

static void *channel_in(void *p)
{
        int tcp = (int) (intptr_t) p, plain;
        char id[TLS_RELAY_IDENTITY_MAX];
        TlsRelay *t = NULL;
        KzError e = {};
        uint64_t sent = 0, received = 0;

        if (tls_relay_server(tcp, lookup, NULL, 10 * 1000000u, &t, id, &e) < 0) {
                fprintf(stderr, "migr-relay: in: %s\n", e.message);
                return NULL;
        }
        plain = unix_socket(arg_unix, false);
        if (plain < 0) {
                fprintf(stderr, "migr-relay: in: cannot reach %s: %s\n", arg_unix, strerror(-plain));
                tls_relay_free(t);
                return NULL;
        }
        (void) tls_relay_pump(t, plain, &sent, &received);
        fprintf(stderr, "migr-relay: in: channel of %s done (%s), %llu bytes received\n", id,
                tls_relay_cipher_to_string(tls_relay_cipher(t)), (unsigned long long) received);
        tls_relay_free(t);
        (void) close(plain);
        return NULL;
}

static int serve(int listen_fd, void *(*fn)(void *))
{
        for (;;) {
                pthread_t th;
                int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC), one = 1;

                if (fd < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                if (pthread_create(&th, NULL, fn, (void *) (intptr_t) fd) != 0) {
                        (void) close(fd);
                        continue;
                }
                (void) pthread_detach(th);
        }
}

int main(int argc, char *argv[])
{
        const char *hex = getenv("KZ_BENCH_KEY");

        signal(SIGPIPE, SIG_IGN);
        if (!hex || strlen(hex) != 2 * TLS_RELAY_KEY_SIZE) {
                fprintf(stderr, "migr-relay: set KZ_BENCH_KEY to 64 hex digits\n");
                return 2;
        }
        for (size_t i = 0; i < TLS_RELAY_KEY_SIZE; i++)
                if (sscanf(hex + 2 * i, "%2hhx", &arg_key[i]) != 1)
                        return 2;
        if (argc == 6 && streq(argv[1], "out")) {
                int fd = unix_socket(argv[2], true);

                arg_host = argv[3];
                arg_port = argv[4];
                arg_cipher = tls_relay_cipher_from_string(argv[5]);
                if (fd < 0 || arg_cipher < 0) {
                        fprintf(stderr, "migr-relay: bad socket or cipher\n");
                        return 1;
                }
                return serve(fd, channel_out) < 0 ? 1 : 0;
        }
        if (argc == 4 && streq(argv[1], "in")) {
                struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t) atoi(argv[2])) };
                int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

                arg_unix = argv[3];
                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
                        fprintf(stderr, "migr-relay: cannot listen on port %s: %m\n", argv[2]);
                        return 1;
                }
                return serve(fd, channel_in) < 0 ? 1 : 0;
        }
        fprintf(stderr, "usage: migr-relay out UNIX-LISTEN HOST PORT CIPHER | in PORT UNIX-TARGET\n");
        return 2;
}
