/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gnutls/gnutls.h>
#include <stdint.h>

#include "kz-error.h"

/* One migration channel on the wire: QEMU speaks plain text on a local socket,
 * the network sees TLS 1.3 with a pre-shared key (GnuTLS PSK), in full-size
 * records. The identity names the migration, so the target finds which waiting
 * zone a connection belongs to (DESIGN.md, "The migration stream").
 *
 * Ciphers by their kzones names (zoneadm migrate -c): aes-128-gcm, aes-128-ccm,
 * chacha20-poly1305. Not aes-256-gcm: its TLS 1.3 suite hashes with SHA-384, and
 * GnuTLS 3.7 (Debian 12) binds an external pre-shared key to SHA-256. */

#define TLS_RELAY_KEY_SIZE 32u
#define TLS_RELAY_IDENTITY_MAX 64u

typedef enum TlsRelayCipher {
        TLS_RELAY_AES_128_GCM,
        TLS_RELAY_AES_128_CCM,
        TLS_RELAY_CHACHA20_POLY1305,
        _TLS_RELAY_CIPHER_MAX,
        _TLS_RELAY_CIPHER_INVALID = -EINVAL,
} TlsRelayCipher;

const char *tls_relay_cipher_to_string(TlsRelayCipher c);
TlsRelayCipher tls_relay_cipher_from_string(const char *s);
/* GnuTLS's priority string that allows only this cipher with a pre-shared key. */
const char *tls_relay_cipher_priority(TlsRelayCipher c);

/* Looks up the key of a migration by its identity (the server's side); returns 0
 * and fills key, or -ENOENT. */
typedef int (*tls_relay_lookup_t)(const char *identity, uint8_t key[TLS_RELAY_KEY_SIZE], void *userdata);

typedef struct TlsRelay TlsRelay;

/* Performs the handshake on a connected TCP socket fd (taken over): as the client
 * with identity and key, or as the server with lookup (ret_identity: whose key it
 * was). Bounded by timeout_usec. */
int tls_relay_client(int fd, const char *identity, const uint8_t key[TLS_RELAY_KEY_SIZE], TlsRelayCipher cipher,
                uint64_t timeout_usec, TlsRelay **ret, KzError *e);
int tls_relay_server(int fd, tls_relay_lookup_t lookup, void *userdata, uint64_t timeout_usec, TlsRelay **ret,
                char ret_identity[TLS_RELAY_IDENTITY_MAX], KzError *e);
TlsRelay *tls_relay_free(TlsRelay *t);
static inline void tls_relay_freep(TlsRelay **t)
{
        if (*t)
                *t = tls_relay_free(*t);
}
/* The cipher the handshake chose. */
TlsRelayCipher tls_relay_cipher(TlsRelay *t);

/* Reads exactly n plain-text bytes from the session (before the pump starts), waiting
 * until deadline (CLOCK_MONOTONIC, µs); -ETIMEDOUT, -EPIPE (the peer closed first) or
 * -EPROTO. What else the records held stays for the pump. */
int tls_relay_recv_full(TlsRelay *t, void *buf, size_t n, uint64_t deadline);

/* Moves bytes both ways between the session and plain_fd until both sides are
 * done; counts the plain-text bytes sent into the session and received from it.
 * Blocking: one thread per channel. */
/* Counters the pump adds to as the bytes move (atomically: another thread may read
 * them), beside the totals it returns. */
void tls_relay_set_counters(TlsRelay *t, uint64_t *sent, uint64_t *received);
int tls_relay_pump(TlsRelay *t, int plain_fd, uint64_t *ret_sent, uint64_t *ret_received);
