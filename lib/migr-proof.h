/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "kz-error.h"
#include "tls-relay.h"

/* kz-migr's handshake pieces that are not GnuTLS's (docs/migration.md).
 *
 * A migration id names a migration on both hosts and is the TLS PSK identity:
 * 1 to 63 characters of [A-Za-z0-9._-], not starting with '.' or '-'.
 *
 * "-c none" still proves the key before any byte of the migration flows, both
 * ways, and a proof is good for one connection only:
 *
 *   client -> server  "KZMIGRP1", u8 length, the id, 32 random bytes Nc
 *   server -> client  32 random bytes Ns (only for an id it prepared)
 *   client -> server  HMAC-SHA256(key, "kz-migr none client" | length | id | Nc | Ns)
 *   server -> client  HMAC-SHA256(key, "kz-migr none server" | length | id | Nc | Ns)
 *
 * then plain text both ways. Ns is fresh for every connection, so a recorded
 * client proof is worth nothing on another; the labels keep either side from
 * reflecting the other's proof back. */

#define MIGR_PROOF_MAGIC "KZMIGRP1"
#define MIGR_PROOF_MAGIC_SIZE 8u
#define MIGR_PROOF_NONCE_SIZE 32u
#define MIGR_PROOF_MAC_SIZE 32u
/* the first byte of a TLS handshake record */
#define MIGR_TLS_FIRST_BYTE 0x16

bool migr_id_is_valid(const char *id);

/* The proof of one side ("server" or not) over the id and both nonces. */
int migr_proof_mac(const uint8_t key[TLS_RELAY_KEY_SIZE], bool server, const char *id,
                const uint8_t client_nonce[MIGR_PROOF_NONCE_SIZE], const uint8_t server_nonce[MIGR_PROOF_NONCE_SIZE],
                uint8_t ret[MIGR_PROOF_MAC_SIZE]);

/* Both ends on a connected, blocking socket, bounded by deadline (CLOCK_MONOTONIC,
 * microseconds). The server's lookup is tls-relay's; ret_identity is the id the
 * client named, filled as soon as it is read (also when the proof then fails).
 * Errors: -ETIMEDOUT (too slow), -EPROTO (not this protocol, or cut short),
 * -ENOKEY (an id nobody prepared), -EKEYREJECTED (a proof made with another key). */
int migr_proof_client(int fd, const char *id, const uint8_t key[TLS_RELAY_KEY_SIZE], uint64_t deadline, KzError *e);
int migr_proof_server(int fd, tls_relay_lookup_t lookup, void *userdata, uint64_t deadline,
                char ret_identity[TLS_RELAY_IDENTITY_MAX], KzError *e);

/* Reads exactly n bytes (-EPROTO at an early end of file) or writes them all,
 * waiting at most until deadline. */
int migr_read_full(int fd, void *buf, size_t n, uint64_t deadline);
int migr_write_full(int fd, const void *buf, size_t n, uint64_t deadline);

/* Moves bytes both ways between two sockets until both directions reached their
 * end of file (each passed on with shutdown(SHUT_WR)), counting as it goes (the
 * counters may be read by other threads). Blocking: one thread per channel. */
int migr_relay_plain(int a, int b, uint64_t *a_to_b, uint64_t *b_to_a);
