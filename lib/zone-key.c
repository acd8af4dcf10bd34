/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "zone-key.h"

int zone_key_derive(const uint8_t zone_key[ZONE_KEY_SIZE], const char *label, uint8_t ret[ZONE_KEY_SIZE])
{
        static const char salt[] = "kzones zone key";
        gnutls_datum_t ikm = { (unsigned char *) zone_key, ZONE_KEY_SIZE },
                       s = { (unsigned char *) salt, sizeof(salt) - 1 },
                       info = { (unsigned char *) label, (unsigned) strlen(label) };
        uint8_t prk[32];
        gnutls_datum_t p = { prk, sizeof(prk) };
        int r;

        r = gnutls_hkdf_extract(GNUTLS_MAC_SHA256, &ikm, &s, prk);
        if (r >= 0)
                r = gnutls_hkdf_expand(GNUTLS_MAC_SHA256, &p, &info, ret, ZONE_KEY_SIZE);
        explicit_bzero(prk, sizeof(prk));
        if (r < 0) {
                explicit_bzero(ret, ZONE_KEY_SIZE);
                return -EIO;
        }
        return 0;
}

int zone_key_aead(const uint8_t zone_key[ZONE_KEY_SIZE], const char *label, gnutls_cipher_algorithm_t cipher,
                gnutls_aead_cipher_hd_t *ret)
{
        _cleanup_key_ uint8_t key[ZONE_KEY_SIZE];
        gnutls_datum_t k = { key, ZONE_KEY_SIZE };
        int r;

        r = zone_key_derive(zone_key, label, key);
        if (r < 0)
                return r;
        return gnutls_aead_cipher_init(ret, cipher, &k) < 0 ? -EIO : 0;
}
