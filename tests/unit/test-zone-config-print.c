/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Zone configurations as people read them: quoting, info and export. */
#include "zone-config-test.h"

/* ---- quoting -------------------------------------------------------------------------------- */

Test(quote, only_when_needed)
{
        static const struct {
                const char *in, *out;
        } v[] = {
                { "kz1", "kz1" },
                { "/boot/vmlinuz", "/boot/vmlinuz" },
                { "0:1:2:3:4:5", "0:1:2:3:4:5" },
                { "console=ttyS0 quiet", "\"console=ttyS0 quiet\"" },
                { "a=b", "\"a=b\"" },
                { "a;b", "\"a;b\"" },
                { "#x", "\"#x\"" },
                { "say \"hi\"", "\"say \\\"hi\\\"\"" },
                { "back\\slash", "\"back\\\\slash\"" },
                { "it's", "\"it's\"" },
                { "", "\"\"" },
        };

        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                char *q = zonecfg_quote(v[i].in);

                cr_assert_str_eq(q, v[i].out, "quote(%s) is %s, expected %s", v[i].in, q, v[i].out);
                free(q);
        }
}

/* ---- info and export ------------------------------------------------------------------------ */

static char *capture_info(const ZoneConfig *c)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        zone_resource_info(f, c, c->root, 0, NULL);
        fclose(f);
        return buf;
}

Test(info, layout_with_nested_and_secret_values)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *a = add_child(c->root, "anet"), *d = add_child(c->root, "device"), *k;
        char *out;

        set_ok(a, "lower-link", "net0", "net0");
        set_ok(a, "id", "0", "0");
        set_ok(add_child(a, "vlan"), "vlan-id", "45", "45");
        set_ok(add_child(a, "vlan"), "vlan-id", "46", "46");
        set_ok(d, "storage", "file:///z/%{zonename}/d%{id}.img", "file:///z/%{zonename}/d%{id}.img");
        set_ok(d, "id", "2", "2");
        k = add_child(c->root, "keysource");
        set_ok(k, "raw", "{base64}AAECAwQFBgcICQoLDA0ODw==", "{base64}AAECAwQFBgcICQoLDA0ODw==");
        out = capture_info(c);
        cr_assert_str_eq(out,
                "zonename: kz1\n"
                "brand: kz\n"
                "anet:\n"
                "    lower-link: net0\n"
                "    id: 0\n"
                "    vlan 0:\n"
                "        vlan-id: 45\n"
                "    vlan 1:\n"
                "        vlan-id: 46\n"
                "device:\n"
                "    storage.template: file:///z/%{zonename}/d%{id}.img\n"
                "    storage: file:///z/kz1/d2.img\n"
                "    id: 2\n"
                "keysource:\n"
                "    raw: redacted\n");
        free(out);
        zone_config_free(c);
}

Test(export, layout)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *a = add_child(c->root, "anet"), *b = add_child(c->root, "boot");
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        set_ok(c->root, "autoboot", "true", "true");
        set_ok(a, "id", "0", "0");
        set_ok(add_child(a, "vlan"), "vlan-id", "45", "45");
        set_ok(b, "kernel", "/boot/vmlinuz", "/boot/vmlinuz");
        set_ok(b, "cmdline", "console=ttyS0 quiet", "console=ttyS0 quiet");
        f = open_memstream(&buf, &size);
        zone_config_export(f, c);
        fclose(f);
        cr_assert_str_eq(buf,
                "create -b\n"
                "set brand=kz\n"
                "set autoboot=true\n"
                "add anet\n"
                "set id=0\n"
                "add vlan\n"
                "set vlan-id=45\n"
                "end\n"
                "end\n"
                "add boot\n"
                "set kernel=/boot/vmlinuz\n"
                "set cmdline=\"console=ttyS0 quiet\"\n"
                "end\n");
        free(buf);
        zone_config_free(c);
}

Test(data_dir, follows_the_environment)
{
        cr_assert_eq(setenv("KZONES_DATA_DIR", "/opt/kz", 1), 0);
        cr_assert_str_eq(kzones_data_dir(), "/opt/kz");
        cr_assert_eq(setenv("KZONES_DATA_DIR", "", 1), 0);
        cr_assert_str_eq(kzones_data_dir(), KZONES_PKGDATADIR);
        cr_assert_eq(unsetenv("KZONES_DATA_DIR"), 0);
        cr_assert_str_eq(kzones_data_dir(), KZONES_PKGDATADIR);
}
