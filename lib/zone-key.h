/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gnutls/crypto.h>
#include <stdint.h>
#include <string.h>

/* The zone's keysource key is never used as it is: each use gets its own key,
 * derived with HKDF-SHA256 (RFC 5869) under its own label, so that nothing sealed
 * for one use (host data) opens as another (a suspend image). */

#define ZONE_KEY_SIZE 16u
#define ZONE_KEY_HOSTDATA "kzones host data v2"
#define ZONE_KEY_SUSPEND "kzones suspend image v2"

int zone_key_derive(const uint8_t zone_key[ZONE_KEY_SIZE], const char *label, uint8_t ret[ZONE_KEY_SIZE]);
/* A GnuTLS AEAD cipher of that algorithm under the key derived for label; the
 * derived key itself is wiped at once. -EIO if GnuTLS refuses. */
int zone_key_aead(const uint8_t zone_key[ZONE_KEY_SIZE], const char *label, gnutls_cipher_algorithm_t cipher,
                gnutls_aead_cipher_hd_t *ret);

/* _cleanup_key_ uint8_t key[ZONE_KEY_SIZE]; is wiped on every way out of its scope. */
static inline void zone_key_erase(uint8_t (*k)[ZONE_KEY_SIZE])
{
        explicit_bzero(*k, sizeof(*k));
}
#define _cleanup_key_ __attribute__((cleanup(zone_key_erase)))
