/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The key proof of "-c none" (lib/migr-proof.c): the right key opens the channel
 * both ways, a wrong key, an unknown migration, a proof made for another
 * connection, garbage and silence are refused, each with its own error, within
 * the deadline; the plain relay moves and counts the bytes. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sys/socket.h>

#include "migr-proof.h"

static const uint8_t good[TLS_RELAY_KEY_SIZE] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
static const uint8_t bad[TLS_RELAY_KEY_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

static int lookup(const char *identity, uint8_t key[TLS_RELAY_KEY_SIZE], void *userdata)
{
        if (!streq(identity, "mig-1"))
                return -ENOENT;
        memcpy(key, good, TLS_RELAY_KEY_SIZE);
        return 0;
}

typedef struct Server {
        int fd, r;
        uint64_t timeout;
        char identity[TLS_RELAY_IDENTITY_MAX];
} Server;

static void *server(void *p)
{
        Server *s = p;

        s->r = migr_proof_server(s->fd, lookup, NULL, now_usec() + (s->timeout ?: 5000000u), s->identity, NULL);
        (void) shutdown(s->fd, SHUT_RDWR);
        return NULL;
}

static int run(const char *id, const uint8_t *key, Server *srv)
{
        int wire[2], r;
        pthread_t th;

        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, wire), 0);
        srv->fd = wire[1];
        cr_assert_eq(pthread_create(&th, NULL, server, srv), 0);
        r = migr_proof_client(wire[0], id, key, now_usec() + 5000000u, NULL);
        cr_assert_eq(pthread_join(th, NULL), 0);
        (void) close(wire[0]);
        (void) close(wire[1]);
        return r;
}

Test(migr_proof, the_right_key_opens_both_ways, .timeout = 20)
{
        Server srv = {};

        cr_assert_eq(run("mig-1", good, &srv), 0);
        cr_assert_eq(srv.r, 0);
        cr_assert_str_eq(srv.identity, "mig-1");
}

Test(migr_proof, a_wrong_key_is_refused_by_both, .timeout = 20)
{
        Server srv = {};

        cr_assert_lt(run("mig-1", bad, &srv), 0, "the client does not go on");
        cr_assert_eq(srv.r, -EKEYREJECTED);
        cr_assert_str_eq(srv.identity, "mig-1", "the log can name what was attacked");
}

Test(migr_proof, an_unknown_migration_is_refused, .timeout = 20)
{
        Server srv = {};

        cr_assert_eq(run("mig-2", good, &srv), -ENOKEY);
        cr_assert_eq(srv.r, -ENOKEY);
}

Test(migr_proof, a_proof_is_good_for_its_nonces_only, .timeout = 20)
{
        uint8_t nc[MIGR_PROOF_NONCE_SIZE] = { 1 }, ns1[MIGR_PROOF_NONCE_SIZE] = { 2 }, ns2[MIGR_PROOF_NONCE_SIZE] = { 3 };
        uint8_t a[MIGR_PROOF_MAC_SIZE], b[MIGR_PROOF_MAC_SIZE], s[MIGR_PROOF_MAC_SIZE];

        cr_assert_eq(migr_proof_mac(good, false, "mig-1", nc, ns1, a), 0);
        cr_assert_eq(migr_proof_mac(good, false, "mig-1", nc, ns2, b), 0);
        cr_assert_neq(memcmp(a, b, sizeof(a)), 0, "another server nonce, another proof");
        cr_assert_eq(migr_proof_mac(good, true, "mig-1", nc, ns1, s), 0);
        cr_assert_neq(memcmp(a, s, sizeof(a)), 0, "the server's proof is not the client's reflected");
        cr_assert_eq(migr_proof_mac(good, false, "mig-2", nc, ns1, b), 0);
        cr_assert_neq(memcmp(a, b, sizeof(a)), 0, "bound to the migration id");
}

Test(migr_proof, a_recorded_proof_is_refused, .timeout = 20)
{
        /* a client that replays what it saw: its proof was made for another server
         * nonce than the fresh one this connection got */
        uint8_t hello[MIGR_PROOF_MAGIC_SIZE + 1 + 5 + MIGR_PROOF_NONCE_SIZE] = "KZMIGRP1\x05mig-1";
        uint8_t ns[MIGR_PROOF_NONCE_SIZE], old_ns[MIGR_PROOF_NONCE_SIZE] = {}, proof[MIGR_PROOF_MAC_SIZE];
        Server srv = {};
        int wire[2];
        pthread_t th;

        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, wire), 0);
        srv.fd = wire[1];
        cr_assert_eq(pthread_create(&th, NULL, server, &srv), 0);
        cr_assert_eq(migr_proof_mac(good, false, "mig-1", hello + 14, old_ns, proof), 0);
        cr_assert_eq(write(wire[0], hello, sizeof(hello)), (ssize_t) sizeof(hello));
        cr_assert_eq(migr_read_full(wire[0], ns, sizeof(ns), now_usec() + 5000000u), 0);
        cr_assert_neq(memcmp(ns, old_ns, sizeof(ns)), 0);
        cr_assert_eq(write(wire[0], proof, sizeof(proof)), (ssize_t) sizeof(proof));
        cr_assert_eq(pthread_join(th, NULL), 0);
        cr_assert_eq(srv.r, -EKEYREJECTED);
        cr_assert_eq(read(wire[0], proof, sizeof(proof)), 0, "no proof of the server's comes back");
        (void) close(wire[0]);
        (void) close(wire[1]);
}

Test(migr_proof, garbage_and_silence, .timeout = 20)
{
        Server srv = { .timeout = 300000u };
        int wire[2];
        pthread_t th;
        uint64_t start;

        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, wire), 0);
        srv.fd = wire[1];
        cr_assert_eq(pthread_create(&th, NULL, server, &srv), 0);
        cr_assert_eq(write(wire[0], "GET / HTTP/1.0\r\n", 16), 16);
        cr_assert_eq(pthread_join(th, NULL), 0);
        cr_assert_eq(srv.r, -EPROTO);
        (void) close(wire[0]);
        (void) close(wire[1]);

        srv = (Server) { .timeout = 300000u };
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, wire), 0);
        srv.fd = wire[1];
        start = now_usec();
        cr_assert_eq(pthread_create(&th, NULL, server, &srv), 0);
        cr_assert_eq(write(wire[0], "KZMIG", 5), 5); /* and then nothing */
        cr_assert_eq(pthread_join(th, NULL), 0);
        cr_assert_eq(srv.r, -ETIMEDOUT);
        cr_assert_lt(now_usec() - start, 2000000u, "within its deadline");
        (void) close(wire[0]);
        (void) close(wire[1]);
}

Test(migr_proof, ids, .timeout = 20)
{
        cr_assert(migr_id_is_valid("kz1-4f2a.9_x"));
        cr_assert(!migr_id_is_valid(""));
        cr_assert(!migr_id_is_valid("-x"));
        cr_assert(!migr_id_is_valid(".x"));
        cr_assert(!migr_id_is_valid("a/b"));
        cr_assert(!migr_id_is_valid("a b"));
        cr_assert(!migr_id_is_valid("0123456789012345678901234567890123456789012345678901234567890123"));
        cr_assert(migr_id_is_valid("012345678901234567890123456789012345678901234567890123456789012"));
}

typedef struct Relay {
        int a, b, r;
        uint64_t ab, ba;
} Relay;

static void *relay(void *p)
{
        Relay *x = p;

        x->r = migr_relay_plain(x->a, x->b, &x->ab, &x->ba);
        return NULL;
}

Test(migr_proof, the_plain_relay_moves_and_counts, .timeout = 20)
{
        int left[2], right[2];
        Relay x = {};
        pthread_t th;
        static char big[64 * 1024]; /* fits in the socket buffers: the test writes all, then reads */
        char buf[64];
        size_t got = 0;

        memset(big, 'm', sizeof(big));
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, left), 0);
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, right), 0);
        x.a = left[1];
        x.b = right[0];
        cr_assert_eq(pthread_create(&th, NULL, relay, &x), 0);
        cr_assert_eq(migr_write_full(left[0], big, sizeof(big), now_usec() + 5000000u), 0);
        cr_assert_eq(shutdown(left[0], SHUT_WR), 0);
        for (ssize_t k; (k = read(right[1], big, sizeof(big))) > 0;)
                got += (size_t) k;
        cr_assert_eq(got, sizeof(big), "all of it, then the end");
        cr_assert_eq(write(right[1], "answer", 6), 6);
        cr_assert_eq(shutdown(right[1], SHUT_WR), 0);
        cr_assert_eq(pthread_join(th, NULL), 0);
        cr_assert_eq(x.r, 0);
        cr_assert_eq(read(left[0], buf, sizeof(buf)), 6);
        cr_assert_eq(x.ab, sizeof(big));
        cr_assert_eq(x.ba, 6);
}
