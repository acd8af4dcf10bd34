/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A migration channel through two relays: the right key moves the bytes both
 * ways, a wrong key or an unknown migration is refused, the client's cipher is
 * the one used. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sys/socket.h>

#include "tls-relay.h"

static const uint8_t good[TLS_RELAY_KEY_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t bad[TLS_RELAY_KEY_SIZE] = { 8, 7, 6, 5, 4, 3, 2, 1 };

static int lookup(const char *identity, uint8_t key[TLS_RELAY_KEY_SIZE], void *userdata)
{
        if (!streq(identity, "mig-1"))
                return -ENOENT;
        memcpy(key, good, TLS_RELAY_KEY_SIZE);
        return 0;
}

typedef struct Side {
        int fd, plain;
        int r;
        char identity[TLS_RELAY_IDENTITY_MAX];
        TlsRelayCipher cipher;
        uint64_t sent, received;
} Side;

static void *server(void *p)
{
        Side *s = p;
        TlsRelay *t = NULL;

        s->r = tls_relay_server(s->fd, lookup, NULL, 5 * 1000000u, &t, s->identity, NULL);
        if (s->r >= 0) {
                s->cipher = tls_relay_cipher(t);
                if (s->plain >= 0)
                        s->r = tls_relay_pump(t, s->plain, &s->sent, &s->received);
        }
        tls_relay_free(t);
        return NULL;
}

static int client(int fd, const char *identity, const uint8_t *key, TlsRelayCipher c, int plain, Side *out)
{
        TlsRelay *t = NULL;
        int r = tls_relay_client(fd, identity, key, c, 5 * 1000000u, &t, NULL);

        if (r >= 0 && plain >= 0)
                r = tls_relay_pump(t, plain, &out->sent, &out->received);
        tls_relay_free(t);
        return r;
}

Test(tls_relay, bytes_cross_both_ways_with_the_right_key, .timeout = 20)
{
        int wire[2], src[2], dst[2];
        Side srv = {}, cli = {};
        pthread_t th;
        char buf[64] = "";

        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, wire), 0);
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, src), 0);
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, dst), 0);
        srv = (Side) { .fd = wire[1], .plain = dst[0] };
        cr_assert_eq(pthread_create(&th, NULL, server, &srv), 0);
        /* what the source's QEMU sends, and what the target's answers */
        cr_assert_eq(write(src[1], "memory pages", 12), 12);
        cr_assert_eq(shutdown(src[1], SHUT_WR), 0);
        cr_assert_eq(write(dst[1], "ok", 2), 2);
        cr_assert_eq(shutdown(dst[1], SHUT_WR), 0);
        cr_assert_eq(client(wire[0], "mig-1", good, TLS_RELAY_CHACHA20_POLY1305, src[0], &cli), 0);
        cr_assert_eq(pthread_join(th, NULL), 0);
        cr_assert_eq(srv.r, 0);
        cr_assert_str_eq(srv.identity, "mig-1");
        cr_assert_eq(srv.cipher, TLS_RELAY_CHACHA20_POLY1305, "the client's cipher is used");
        cr_assert_eq(read(dst[1], buf, sizeof(buf)), 12);
        cr_assert_eq(memcmp(buf, "memory pages", 12), 0);
        cr_assert_eq(read(src[1], buf, sizeof(buf)), 2);
        cr_assert_eq(memcmp(buf, "ok", 2), 0);
        cr_assert_eq(cli.sent, 12);
        cr_assert_eq(cli.received, 2);
        cr_assert_eq(srv.received, 12);
}

static void refused(const char *identity, const uint8_t *key)
{
        int wire[2];
        Side srv = {};
        pthread_t th;

        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, wire), 0);
        srv = (Side) { .fd = wire[1], .plain = -1 };
        cr_assert_eq(pthread_create(&th, NULL, server, &srv), 0);
        cr_assert_lt(client(wire[0], identity, key, TLS_RELAY_AES_128_GCM, -1, &(Side) {}), 0);
        cr_assert_eq(pthread_join(th, NULL), 0);
        cr_assert_lt(srv.r, 0, "the target refused it too");
}

Test(tls_relay, a_wrong_key_is_refused, .timeout = 20)
{
        refused("mig-1", bad);
}

Test(tls_relay, an_unknown_migration_is_refused, .timeout = 20)
{
        refused("mig-2", good);
}

Test(tls_relay, garbage_is_refused, .timeout = 20)
{
        int wire[2];
        Side srv = {};
        pthread_t th;

        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, wire), 0);
        srv = (Side) { .fd = wire[1], .plain = -1 };
        cr_assert_eq(pthread_create(&th, NULL, server, &srv), 0);
        cr_assert_eq(write(wire[0], "GET / HTTP/1.0\r\n\r\n", 18), 18);
        cr_assert_eq(pthread_join(th, NULL), 0);
        cr_assert_lt(srv.r, 0);
        (void) close(wire[0]);
}

Test(tls_relay, cipher_names_both_ways, .timeout = 20)
{
        for (TlsRelayCipher c = 0; c < _TLS_RELAY_CIPHER_MAX; c++) {
                cr_assert_eq(tls_relay_cipher_from_string(tls_relay_cipher_to_string(c)), c);
                cr_assert_not_null(tls_relay_cipher_priority(c));
        }
        cr_assert_eq(tls_relay_cipher_from_string("rc4"), _TLS_RELAY_CIPHER_INVALID);
}
