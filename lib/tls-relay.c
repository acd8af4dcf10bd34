/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include "tls-relay.h"

#define RELAY_BUFFER (256u * 1024u)

struct TlsRelay {
        gnutls_session_t session;
        /* what was read from the socket and not yet given to GnuTLS: one read() for many
         * records, instead of two for each */
        uint8_t *rx;
        size_t rx_start, rx_end;
        bool nonblocking; /* after the handshake: the pump polls, GnuTLS never waits in read() */
        gnutls_psk_client_credentials_t client;
        gnutls_psk_server_credentials_t server;
        tls_relay_lookup_t lookup;
        void *userdata;
        uint64_t *live_sent, *live_received; /* counted as the bytes move, for other threads */
        int fd;
};

static const char *const tls_relay_cipher_table[_TLS_RELAY_CIPHER_MAX] = {
        [TLS_RELAY_AES_128_GCM] = "aes-128-gcm",
        [TLS_RELAY_AES_128_CCM] = "aes-128-ccm",
        [TLS_RELAY_CHACHA20_POLY1305] = "chacha20-poly1305",
};

DEFINE_STRING_TABLE(tls_relay_cipher, TlsRelayCipher, _TLS_RELAY_CIPHER_MAX)

/* TLS 1.3 only, a pre-shared key (with an ephemeral key exchange where both offer
 * one), one cipher. */
#define PRIORITY_BASE "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:+DHE-PSK:+PSK:-CIPHER-ALL:"

static const char *const tls_relay_priority_table[_TLS_RELAY_CIPHER_MAX] = {
        [TLS_RELAY_AES_128_GCM] = PRIORITY_BASE "+AES-128-GCM",
        [TLS_RELAY_AES_128_CCM] = PRIORITY_BASE "+AES-128-CCM",
        [TLS_RELAY_CHACHA20_POLY1305] = PRIORITY_BASE "+CHACHA20-POLY1305",
};

/* The server accepts any of them; the client's choice decides. */
#define PRIORITY_SERVER PRIORITY_BASE "+AES-128-GCM:+AES-128-CCM:+CHACHA20-POLY1305"

const char *tls_relay_cipher_priority(TlsRelayCipher c)
{
        return c >= 0 && c < _TLS_RELAY_CIPHER_MAX ? tls_relay_priority_table[c] : NULL;
}

TlsRelay *tls_relay_free(TlsRelay *t)
{
        if (!t)
                return NULL;
        if (t->session)
                gnutls_deinit(t->session);
        if (t->client)
                gnutls_psk_free_client_credentials(t->client);
        if (t->server)
                gnutls_psk_free_server_credentials(t->server);
        if (t->fd >= 0)
                (void) close(t->fd);
        free(t->rx);
        free(t);
        return NULL;
}

static ssize_t pull(gnutls_transport_ptr_t p, void *data, size_t size)
{
        TlsRelay *t = p;
        size_t n;

        if (t->rx_start == t->rx_end) {
                ssize_t k = recv(t->fd, t->rx, RELAY_BUFFER, t->nonblocking ? MSG_DONTWAIT : 0);

                if (k < 0) {
                        gnutls_transport_set_errno(t->session, errno);
                        return -1;
                }
                if (k == 0)
                        return 0;
                t->rx_start = 0;
                t->rx_end = (size_t) k;
        }
        n = MIN(size, t->rx_end - t->rx_start);
        memcpy(data, t->rx + t->rx_start, n);
        t->rx_start += n;
        return (ssize_t) n;
}

static int pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
        TlsRelay *t = p;
        struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
        int r;

        if (t->rx_start < t->rx_end)
                return 1;
        r = poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int) ms);
        return r < 0 ? -1 : r;
}

static ssize_t push(gnutls_transport_ptr_t p, const void *data, size_t size)
{
        TlsRelay *t = p;
        ssize_t k = send(t->fd, data, size, MSG_NOSIGNAL);

        if (k < 0)
                gnutls_transport_set_errno(t->session, errno);
        return k;
}

void tls_relay_set_counters(TlsRelay *t, uint64_t *sent, uint64_t *received)
{
        t->live_sent = sent;
        t->live_received = received;
}

static void count(uint64_t *c, uint64_t n)
{
        if (c)
                __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

TlsRelayCipher tls_relay_cipher(TlsRelay *t)
{
        static const gnutls_cipher_algorithm_t map[_TLS_RELAY_CIPHER_MAX] = {
                [TLS_RELAY_AES_128_GCM] = GNUTLS_CIPHER_AES_128_GCM,
                [TLS_RELAY_AES_128_CCM] = GNUTLS_CIPHER_AES_128_CCM,
                [TLS_RELAY_CHACHA20_POLY1305] = GNUTLS_CIPHER_CHACHA20_POLY1305,
        };
        gnutls_cipher_algorithm_t c = gnutls_cipher_get(t->session);

        for (TlsRelayCipher i = 0; i < _TLS_RELAY_CIPHER_MAX; i++)
                if (map[i] == c)
                        return i;
        return _TLS_RELAY_CIPHER_INVALID;
}

static int handshake(TlsRelay *t, uint64_t timeout_usec, KzError *e)
{
        int r;

        t->rx = malloc(RELAY_BUFFER);
        if (!t->rx)
                return -ENOMEM;
        gnutls_transport_set_ptr(t->session, t);
        gnutls_transport_set_pull_function(t->session, pull);
        gnutls_transport_set_pull_timeout_function(t->session, pull_timeout);
        gnutls_transport_set_push_function(t->session, push);
        gnutls_handshake_set_timeout(t->session, (unsigned) (timeout_usec / 1000u) ?: 1u);
        do
                r = gnutls_handshake(t->session);
        while (r < 0 && !gnutls_error_is_fatal(r));
        if (r < 0)
                return kz_error_set(e, r == GNUTLS_E_TIMEDOUT ? ETIMEDOUT : EPROTO, "TLS handshake failed: %s.",
                        gnutls_strerror(r));
        t->nonblocking = true;
        return 0;
}

int tls_relay_client(int fd, const char *identity, const uint8_t key[TLS_RELAY_KEY_SIZE], TlsRelayCipher cipher,
                uint64_t timeout_usec, TlsRelay **ret, KzError *e)
{
        TlsRelay *t = calloc(1, sizeof(*t));
        gnutls_datum_t k = { .data = (unsigned char *) key, .size = TLS_RELAY_KEY_SIZE };
        const char *prio = tls_relay_cipher_priority(cipher);
        int r;

        if (!t) {
                (void) close(fd);
                return -ENOMEM;
        }
        t->fd = fd;
        if (!prio || strlen(identity) >= TLS_RELAY_IDENTITY_MAX) {
                tls_relay_free(t);
                return kz_error_set(e, EINVAL, "no such cipher, or an identity too long.");
        }
        if (gnutls_psk_allocate_client_credentials(&t->client) < 0 ||
            gnutls_psk_set_client_credentials(t->client, identity, &k, GNUTLS_PSK_KEY_RAW) < 0 ||
            gnutls_init(&t->session, GNUTLS_CLIENT | GNUTLS_NO_TICKETS) < 0 ||
            gnutls_credentials_set(t->session, GNUTLS_CRD_PSK, t->client) < 0 ||
            gnutls_priority_set_direct(t->session, prio, NULL) < 0) {
                tls_relay_free(t);
                return kz_error_set(e, ENOMEM, "cannot set up a TLS session.");
        }
        r = handshake(t, timeout_usec, e);
        if (r < 0) {
                tls_relay_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

static int server_key(gnutls_session_t s, const char *identity, gnutls_datum_t *key)
{
        TlsRelay *t = gnutls_session_get_ptr(s);
        uint8_t k[TLS_RELAY_KEY_SIZE];

        if (strlen(identity) >= TLS_RELAY_IDENTITY_MAX || t->lookup(identity, k, t->userdata) < 0)
                return -1;
        key->data = gnutls_malloc(TLS_RELAY_KEY_SIZE);
        if (!key->data) {
                explicit_bzero(k, sizeof(k));
                return -1;
        }
        memcpy(key->data, k, TLS_RELAY_KEY_SIZE);
        key->size = TLS_RELAY_KEY_SIZE;
        explicit_bzero(k, sizeof(k));
        return 0;
}

int tls_relay_server(int fd, tls_relay_lookup_t lookup, void *userdata, uint64_t timeout_usec, TlsRelay **ret,
                char ret_identity[TLS_RELAY_IDENTITY_MAX], KzError *e)
{
        TlsRelay *t = calloc(1, sizeof(*t));
        const char *id;
        int r;

        if (!t) {
                (void) close(fd);
                return -ENOMEM;
        }
        t->fd = fd;
        t->lookup = lookup;
        t->userdata = userdata;
        if (gnutls_psk_allocate_server_credentials(&t->server) < 0 ||
            gnutls_init(&t->session, GNUTLS_SERVER | GNUTLS_NO_TICKETS) < 0 ||
            gnutls_credentials_set(t->session, GNUTLS_CRD_PSK, t->server) < 0 ||
            gnutls_priority_set_direct(t->session, PRIORITY_SERVER, NULL) < 0) {
                tls_relay_free(t);
                return kz_error_set(e, ENOMEM, "cannot set up a TLS session.");
        }
        gnutls_psk_set_server_credentials_function(t->server, server_key);
        gnutls_session_set_ptr(t->session, t);
        r = handshake(t, timeout_usec, e);
        if (r < 0) {
                tls_relay_free(t);
                return r;
        }
        id = gnutls_psk_server_get_username(t->session);
        (void) snprintf(ret_identity, TLS_RELAY_IDENTITY_MAX, "%s", id ?: "");
        *ret = t;
        return 0;
}

int tls_relay_recv_full(TlsRelay *t, void *buf, size_t n, uint64_t deadline)
{
        uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = gnutls_record_recv(t->session, p, n);
                struct timespec ts;
                uint64_t now;

                if (k > 0) {
                        p += k;
                        n -= (size_t) k;
                        continue;
                }
                if (k == 0 || (k < 0 && k != GNUTLS_E_AGAIN && k != GNUTLS_E_INTERRUPTED))
                        return k == 0 || k == GNUTLS_E_PREMATURE_TERMINATION ? -EPIPE : -EPROTO;
                if (gnutls_record_check_pending(t->session) > 0 || t->rx_start < t->rx_end)
                        continue;
                (void) clock_gettime(CLOCK_MONOTONIC, &ts);
                now = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
                if (now >= deadline)
                        return -ETIMEDOUT;
                if (poll(&(struct pollfd) { .fd = t->fd, .events = POLLIN }, 1,
                            (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX)) < 0 && errno != EINTR)
                        return -errno;
        }
        return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int tls_relay_pump(TlsRelay *t, int plain_fd, uint64_t *ret_sent, uint64_t *ret_received)
{
        _cleanup_free_ uint8_t *buf = malloc(RELAY_BUFFER);
        bool plain_open = true, tls_open = true;
        uint64_t sent = 0, received = 0;
        int r = 0;

        if (!buf)
                return -ENOMEM;
        while (plain_open || tls_open) {
                struct pollfd p[2] = {
                        { .fd = plain_open ? plain_fd : -1, .events = POLLIN },
                        { .fd = tls_open ? t->fd : -1, .events = POLLIN },
                };

                /* records already decrypted, or read and not yet decrypted, are not seen by poll */
                bool pending = tls_open && (gnutls_record_check_pending(t->session) > 0 || t->rx_start < t->rx_end);

                if (!pending && poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (plain_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
                        ssize_t n = read(plain_fd, buf, RELAY_BUFFER);

                        if (n < 0 && errno != EINTR && errno != EAGAIN) {
                                r = -errno;
                                break;
                        }
                        if (n == 0) {
                                plain_open = false;
                                (void) gnutls_bye(t->session, GNUTLS_SHUT_WR);
                        }
                        /* all of it as one send: the records are corked, then flushed together */
                        gnutls_record_cork(t->session);
                        for (ssize_t done = 0; n > 0 && done < n;) {
                                ssize_t k = gnutls_record_send(t->session, buf + done, (size_t) (n - done));

                                if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED)
                                        continue;
                                if (k < 0) {
                                        r = -EPIPE;
                                        goto out;
                                }
                                done += k;
                        }
                        if (n > 0)
                                for (int k;;) {
                                        k = gnutls_record_uncork(t->session, GNUTLS_RECORD_WAIT);
                                        if (k >= 0)
                                                break;
                                        if (k != GNUTLS_E_AGAIN && k != GNUTLS_E_INTERRUPTED) {
                                                r = -EPIPE;
                                                goto out;
                                        }
                                }
                        if (n > 0) {
                                sent += (uint64_t) n;
                                count(t->live_sent, (uint64_t) n);
                        }
                }
                if (tls_open && ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) || pending)) {
                        ssize_t n = gnutls_record_recv(t->session, buf, RELAY_BUFFER);
                        bool peer_done = false;

                        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
                                continue;
                        /* the records already read: into the same write */
                        while (n > 0 && (size_t) n + 16384u <= RELAY_BUFFER &&
                               (gnutls_record_check_pending(t->session) > 0 || t->rx_start < t->rx_end)) {
                                ssize_t more = gnutls_record_recv(t->session, buf + n, RELAY_BUFFER - (size_t) n);

                                if (more == 0 || (more < 0 && more != GNUTLS_E_AGAIN && more != GNUTLS_E_INTERRUPTED))
                                        peer_done = true; /* its close_notify, read with the data: it must not be lost */
                                if (more <= 0)
                                        break;
                                n += more;
                        }
                        if (n <= 0) {
                                /* the other side is done (or gone): so is the plain side's input */
                                tls_open = false;
                                (void) shutdown(plain_fd, SHUT_WR);
                                if (n < 0 && n != GNUTLS_E_PREMATURE_TERMINATION)
                                        r = -EPROTO;
                                continue;
                        }
                        r = write_all(plain_fd, buf, (size_t) n);
                        if (r < 0)
                                break;
                        received += (uint64_t) n;
                        count(t->live_received, (uint64_t) n);
                        if (peer_done) {
                                tls_open = false;
                                (void) shutdown(plain_fd, SHUT_WR);
                        }
                }
        }
out:
        if (ret_sent)
                *ret_sent = sent;
        if (ret_received)
                *ret_received = received;
        return r;
}
