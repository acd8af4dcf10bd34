/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kz-migr's cipher names and what a host offers: the preference order, the
 * host configuration that narrows it, and names both ways. */
#include <criterion/criterion.h>
#include <sys/stat.h>

#include "migration.h"

static char root[] = "/tmp/kz-migr-ciphers-XXXXXX";

static void make_root(void)
{
        cr_assert_not_null(mkdtemp(root));
}

static void remove_root(void)
{
        char p[256];

        (void) snprintf(p, sizeof(p), "%s/etc/kzones/migration.conf", root);
        (void) unlink(p);
        (void) snprintf(p, sizeof(p), "%s/etc/kzones", root);
        (void) rmdir(p);
        (void) snprintf(p, sizeof(p), "%s/etc", root);
        (void) rmdir(p);
        (void) rmdir(root);
}

static void configure(const char *text)
{
        char p[256];
        FILE *f;

        (void) snprintf(p, sizeof(p), "%s/etc", root);
        (void) mkdir(p, 0755);
        (void) snprintf(p, sizeof(p), "%s/etc/kzones", root);
        (void) mkdir(p, 0755);
        (void) snprintf(p, sizeof(p), "%s/etc/kzones/migration.conf", root);
        f = fopen(p, "we");
        cr_assert_not_null(f);
        fputs(text, f);
        fclose(f);
}

static char *joined(char **l)
{
        static char buf[256];

        buf[0] = 0;
        for (char **i = l; *i; i++)
                (void) snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", buf[0] ? " " : "", *i);
        return buf;
}

TestSuite(migration_ciphers, .init = make_root, .fini = remove_root);

Test(migration_ciphers, names_both_ways)
{
        for (MigrCipher c = 0; c < _MIGR_CIPHER_MAX; c++)
                cr_assert_eq(migr_cipher_from_string(migr_cipher_to_string(c)), c);
        for (MigrationState s = 0; s < _MIGRATION_STATE_MAX; s++)
                cr_assert_eq(migration_state_from_string(migration_state_to_string(s)), s);
        for (MigrationDirection d = 0; d < _MIGRATION_DIRECTION_MAX; d++)
                cr_assert_eq(migration_direction_from_string(migration_direction_to_string(d)), d);
        cr_assert_eq(migr_cipher_from_string("aes-128-cbc"), _MIGR_CIPHER_INVALID);
        cr_assert_eq(migr_cipher_tls(MIGR_CIPHER_NONE), _TLS_RELAY_CIPHER_INVALID);
}

Test(migration_ciphers, this_host_in_preference_order)
{
        _cleanup_strv_free_ char **l = NULL;

        cr_assert_eq(migr_ciphers_offered(root, &l, NULL), 0);
        /* GnuTLS 3.7 has no SHA-384 binder for an external PSK: no aes-256-gcm */
        cr_assert_str_eq(joined(l), "aes-128-gcm aes-128-ccm chacha20-poly1305 none");
}

Test(migration_ciphers, narrowed_by_the_host_configuration)
{
        _cleanup_strv_free_ char **l = NULL;

        configure("# no plain text here\n[Migration]\nCiphers=chacha20-poly1305, aes-128-gcm aes-256-gcm\n");
        cr_assert_eq(migr_ciphers_offered(root, &l, NULL), 0);
        cr_assert_str_eq(joined(l), "aes-128-gcm chacha20-poly1305", "the preference order, not the file's");
        cr_assert(!migr_cipher_offered(root, MIGR_CIPHER_NONE));
        cr_assert(migr_cipher_offered(root, MIGR_CIPHER_CHACHA20_POLY1305));
}

Test(migration_ciphers, an_unknown_name_in_the_configuration_is_an_error)
{
        _cleanup_strv_free_ char **l = NULL;
        KzError e = {};

        configure("Ciphers=aes-128-gcm rot13\n");
        cr_assert_eq(migr_ciphers_offered(root, &l, &e), -EINVAL);
        cr_assert(strstr(e.message, "unknown cipher 'rot13'"), "%s", e.message);
        cr_assert(!migr_cipher_offered(root, MIGR_CIPHER_AES_128_GCM), "nothing is offered from a broken file");
}
