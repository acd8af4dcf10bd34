/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gnutls/crypto.h>
#include <poll.h>
#include <sys/socket.h>

#include "migr-proof.h"

#define PLAIN_BUFFER (256u * 1024u)

bool migr_id_is_valid(const char *id)
{
        size_t n;

        if (!id)
                return false;
        n = strlen(id);
        if (n == 0 || n >= TLS_RELAY_IDENTITY_MAX || id[0] == '.' || id[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = id[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                            c == '_' || c == '-'))
                        return false;
        }
        return true;
}

int migr_proof_mac(const uint8_t key[TLS_RELAY_KEY_SIZE], bool server, const char *id,
                const uint8_t client_nonce[MIGR_PROOF_NONCE_SIZE], const uint8_t server_nonce[MIGR_PROOF_NONCE_SIZE],
                uint8_t ret[MIGR_PROOF_MAC_SIZE])
{
        const char *label = server ? "kz-migr none server" : "kz-migr none client";
        uint8_t msg[32 + 1 + TLS_RELAY_IDENTITY_MAX + 2 * MIGR_PROOF_NONCE_SIZE];
        size_t n = 0, l = strlen(id);

        if (!migr_id_is_valid(id))
                return -EINVAL;
        memcpy(msg, label, strlen(label));
        n += strlen(label);
        msg[n++] = (uint8_t) l;
        memcpy(msg + n, id, l);
        n += l;
        memcpy(msg + n, client_nonce, MIGR_PROOF_NONCE_SIZE);
        n += MIGR_PROOF_NONCE_SIZE;
        memcpy(msg + n, server_nonce, MIGR_PROOF_NONCE_SIZE);
        n += MIGR_PROOF_NONCE_SIZE;
        if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, TLS_RELAY_KEY_SIZE, msg, n, ret) < 0)
                return -EIO;
        return 0;
}

static bool equal_in_constant_time(const uint8_t *a, const uint8_t *b, size_t n)
{
        uint8_t d = 0;

        for (size_t i = 0; i < n; i++)
                d |= a[i] ^ b[i];
        return d == 0;
}

static int wait_fd(int fd, short events, uint64_t deadline)
{
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                uint64_t now = now_usec();
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) MIN((deadline - now + 999u) / 1000u, (uint64_t) INT32_MAX));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r > 0)
                        return 0;
        }
}

int migr_read_full(int fd, void *buf, size_t n, uint64_t deadline)
{
        uint8_t *p = buf;

        while (n > 0) {
                ssize_t k;
                int r = wait_fd(fd, POLLIN, deadline);

                if (r < 0)
                        return r;
                k = recv(fd, p, n, MSG_DONTWAIT);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0)
                        return errno == ECONNRESET ? -EPROTO : -errno;
                if (k == 0)
                        return -EPROTO;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int migr_write_full(int fd, const void *buf, size_t n, uint64_t deadline)
{
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t k;
                int r = wait_fd(fd, POLLOUT, deadline);

                if (r < 0)
                        return r;
                k = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int io_error(KzError *e, int r, const char *what)
{
        if (r == -ETIMEDOUT)
                return kz_error_set(e, ETIMEDOUT, "did not finish its hello in time (%s).", what);
        if (r == -EPROTO)
                return kz_error_set(e, EPROTO, "closed the connection during the hello (%s).", what);
        return kz_error_set(e, r, "%s: %s.", what, strerror(-r));
}

int migr_proof_client(int fd, const char *id, const uint8_t key[TLS_RELAY_KEY_SIZE], uint64_t deadline, KzError *e)
{
        uint8_t hello[MIGR_PROOF_MAGIC_SIZE + 1 + TLS_RELAY_IDENTITY_MAX + MIGR_PROOF_NONCE_SIZE];
        uint8_t nc[MIGR_PROOF_NONCE_SIZE], ns[MIGR_PROOF_NONCE_SIZE], mine[MIGR_PROOF_MAC_SIZE],
                theirs[MIGR_PROOF_MAC_SIZE], expected[MIGR_PROOF_MAC_SIZE];
        size_t l, n = 0;
        int r;

        if (!migr_id_is_valid(id))
                return kz_error_set(e, EINVAL, "'%s' is not a valid migration id.", strna(id));
        l = strlen(id);
        if (gnutls_rnd(GNUTLS_RND_NONCE, nc, sizeof(nc)) < 0)
                return kz_error_set(e, EIO, "no random numbers.");
        memcpy(hello, MIGR_PROOF_MAGIC, MIGR_PROOF_MAGIC_SIZE);
        n += MIGR_PROOF_MAGIC_SIZE;
        hello[n++] = (uint8_t) l;
        memcpy(hello + n, id, l);
        n += l;
        memcpy(hello + n, nc, sizeof(nc));
        n += sizeof(nc);
        r = migr_write_full(fd, hello, n, deadline);
        if (r < 0)
                return io_error(e, r, "sending the hello");
        r = migr_read_full(fd, ns, sizeof(ns), deadline);
        if (r == -EPROTO)
                return kz_error_set(e, ENOKEY, "the target does not know migration '%s'.", id);
        if (r < 0)
                return io_error(e, r, "reading the target's nonce");
        r = migr_proof_mac(key, false, id, nc, ns, mine);
        if (r < 0)
                return kz_error_set(e, r, "cannot compute the proof.");
        r = migr_write_full(fd, mine, sizeof(mine), deadline);
        if (r < 0)
                return io_error(e, r, "sending the proof");
        r = migr_read_full(fd, theirs, sizeof(theirs), deadline);
        if (r == -EPROTO)
                return kz_error_set(e, EKEYREJECTED, "the target refused the key of migration '%s'.", id);
        if (r < 0)
                return io_error(e, r, "reading the target's proof");
        r = migr_proof_mac(key, true, id, nc, ns, expected);
        explicit_bzero(mine, sizeof(mine));
        if (r < 0)
                return kz_error_set(e, r, "cannot compute the proof.");
        if (!equal_in_constant_time(theirs, expected, sizeof(expected)))
                return kz_error_set(e, EKEYREJECTED, "the target does not hold the key of migration '%s'.", id);
        return 0;
}

int migr_proof_server(int fd, tls_relay_lookup_t lookup, void *userdata, uint64_t deadline,
                char ret_identity[TLS_RELAY_IDENTITY_MAX], KzError *e)
{
        uint8_t magic[MIGR_PROOF_MAGIC_SIZE], l, key[TLS_RELAY_KEY_SIZE];
        uint8_t nc[MIGR_PROOF_NONCE_SIZE], ns[MIGR_PROOF_NONCE_SIZE], theirs[MIGR_PROOF_MAC_SIZE],
                expected[MIGR_PROOF_MAC_SIZE];
        char id[TLS_RELAY_IDENTITY_MAX] = "";
        int r;

        ret_identity[0] = 0;
        r = migr_read_full(fd, magic, sizeof(magic), deadline);
        if (r < 0)
                return io_error(e, r, "the hello");
        if (memcmp(magic, MIGR_PROOF_MAGIC, MIGR_PROOF_MAGIC_SIZE) != 0)
                return kz_error_set(e, EPROTO, "not a migration hello.");
        r = migr_read_full(fd, &l, 1, deadline);
        if (r < 0)
                return io_error(e, r, "the hello");
        if (l == 0 || l >= TLS_RELAY_IDENTITY_MAX)
                return kz_error_set(e, EPROTO, "a migration id of %u bytes.", l);
        r = migr_read_full(fd, id, l, deadline);
        if (r < 0)
                return io_error(e, r, "the hello");
        id[l] = 0;
        if (!migr_id_is_valid(id))
                return kz_error_set(e, EPROTO, "not a valid migration id.");
        memcpy(ret_identity, id, (size_t) l + 1);
        r = migr_read_full(fd, nc, sizeof(nc), deadline);
        if (r < 0)
                return io_error(e, r, "the hello");
        if (lookup(id, key, userdata) < 0)
                return kz_error_set(e, ENOKEY, "no migration '%s' is prepared here.", id);
        if (gnutls_rnd(GNUTLS_RND_NONCE, ns, sizeof(ns)) < 0) {
                explicit_bzero(key, sizeof(key));
                return kz_error_set(e, EIO, "no random numbers.");
        }
        r = migr_write_full(fd, ns, sizeof(ns), deadline);
        if (r >= 0)
                r = migr_read_full(fd, theirs, sizeof(theirs), deadline);
        if (r < 0) {
                explicit_bzero(key, sizeof(key));
                return io_error(e, r, "the proof");
        }
        r = migr_proof_mac(key, false, id, nc, ns, expected);
        if (r >= 0 && !equal_in_constant_time(theirs, expected, sizeof(expected)))
                r = -EKEYREJECTED;
        if (r >= 0)
                r = migr_proof_mac(key, true, id, nc, ns, expected);
        explicit_bzero(key, sizeof(key));
        if (r == -EKEYREJECTED)
                return kz_error_set(e, EKEYREJECTED, "a wrong key (or a replayed proof) for migration '%s'.", id);
        if (r < 0)
                return kz_error_set(e, r, "cannot compute the proof.");
        r = migr_write_full(fd, expected, sizeof(expected), deadline);
        if (r < 0)
                return io_error(e, r, "sending the proof");
        return 0;
}

static void count(uint64_t *c, size_t n)
{
        if (c)
                __atomic_fetch_add(c, (uint64_t) n, __ATOMIC_RELAXED);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN) {
                        struct pollfd w = { .fd = fd, .events = POLLOUT };
                        (void) poll(&w, 1, -1);
                        continue;
                }
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int migr_relay_plain(int a, int b, uint64_t *a_to_b, uint64_t *b_to_a)
{
        _cleanup_free_ uint8_t *buf = malloc(PLAIN_BUFFER);
        bool a_open = true, b_open = true;

        if (!buf)
                return -ENOMEM;
        while (a_open || b_open) {
                struct pollfd p[2] = {
                        { .fd = a_open ? a : -1, .events = POLLIN },
                        { .fd = b_open ? b : -1, .events = POLLIN },
                };

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < 2; i++) {
                        int from = i == 0 ? a : b, to = i == 0 ? b : a;
                        bool *open = i == 0 ? &a_open : &b_open;
                        ssize_t n;
                        int r;

                        if (!*open || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        n = recv(from, buf, PLAIN_BUFFER, MSG_DONTWAIT);
                        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (n < 0)
                                return -errno;
                        if (n == 0) {
                                *open = false;
                                (void) shutdown(to, SHUT_WR);
                                continue;
                        }
                        r = write_all(to, buf, (size_t) n);
                        if (r < 0)
                                return r;
                        count(i == 0 ? a_to_b : b_to_a, (size_t) n);
                }
        }
        return 0;
}
