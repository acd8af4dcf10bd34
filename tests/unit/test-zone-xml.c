/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <string.h>

#include "zone-config-test.h"
#include "zone-store.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static char *export_text(const ZoneConfig *c)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        cr_assert_not_null(f);
        zone_config_export(f, c);
        cr_assert_eq(fclose(f), 0);
        return buf;
}

/* A configuration with every resource type and almost every property. */
static ZoneConfig *full_config(void)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *z, *a, *m, *d, *cm, *adm, *b;

        cr_assert_not_null(c);
        z = c->root;
        set_value(z, "autoboot", "true");
        set_value(z, "autoshutdown", "suspend");
        set_value(z, "bootargs", "-v <a & \"b\" 'c'> café");
        set_value(z, "hostid", "6F038B0B");
        set_value(z, "cpu-arch", "migration-class1");
        set_value(z, "host-compatible", "level2");

        a = add_child(z, "anet");
        set_value(a, "lower-link", "net0");
        set_value(a, "mac-address", "0:1:2:3:4:5");
        set_value(a, "vlan-id", "10");
        set_value(a, "configure-allowed-address", "false");
        set_value(a, "iov", "auto");
        set_value(a, "id", "0");
        m = add_child(a, "mac");
        set_value(m, "mac-address", "2:8:20:1:2:3");
        set_value(m, "allowed-mac-address", "fa:16:3f,0:14:4f");
        set_value(add_child(a, "vlan"), "vlan-id", "45");
        set_value(add_child(a, "vlan"), "allowed-vlan-ids", "100-199,300");

        a = add_child(z, "anet");
        set_value(a, "lower-link", "auto");
        set_value(a, "id", "1");

        d = add_child(z, "device");
        set_value(d, "storage", "file:///var/lib/zones/%{zonename}/disk%{id}.img");
        set_value(d, "id", "0");
        set_value(d, "bootpri", "0");
        set_value(d, "allow-mhd", "false");
        d = add_child(z, "device");
        set_value(d, "storage", "iscsi://zfssa/luname.naa.600144F0DBF8AF19000052E820D60003");
        set_value(d, "id", "1");

        cm = add_child(z, "capped-memory");
        set_value(cm, "physical", "16g");
        set_value(cm, "pagesize-policy", "fixed");
        set_value(cm, "pagesize", "1G");
        set_value(cm, "memlzs", "strict");

        set_value(add_child(z, "virtual-cpu"), "ncpus", "4");
        set_value(add_child(z, "dedicated-cpu"), "cpus", "0-1,4");
        set_value(add_child(z, "suspend"), "storage", "nfs://admin:staff@host/export/%{zonename}.suspend");
        set_value(add_child(z, "keysource"), "raw", "{base64}AAECAwQFBgcICQoLDA0ODw==");

        adm = add_child(z, "admin");
        set_value(adm, "user", "alice");
        set_value(adm, "auths", "login,manage");
        set_value(add_child(z, "admin"), "user", "bob");

        b = add_child(z, "boot");
        set_value(b, "kernel", "/boot/vmlinuz");
        set_value(b, "initrd", "/boot/initrd.img");
        set_value(b, "cmdline", "console=ttyS0 quiet");

        cr_assert_eq(zone_config_verify(c, NULL), 0);
        return c;
}

/* Parses buf; expects a refusal with errno `error` and a message containing `part`. */
static void refused(const char *buf, size_t size, int error, const char *part)
{
        ZoneConfig *c = (ZoneConfig *) 0x1;
        KzError e = {};
        int r;

        r = zone_config_from_xml(buf, size, "hostile.xml", 0, &c, &e);
        cr_assert_eq(r, -error, "expected %d, got %d (%s)", -error, r, e.message);
        cr_assert_eq(c, (ZoneConfig *) 0x1, "a configuration was returned although the document was refused");
        cr_assert_eq(e.error, error);
        cr_assert(strstr(e.message, "hostile.xml"), "the message does not name the file: %s", e.message);
        cr_assert(strstr(e.message, part), "the message \"%s\" does not say \"%s\"", e.message, part);
        cr_assert_null(strchr(e.message, '\n'), "the message is not one line: %s", e.message);
}

static void refused_str(const char *buf, int error, const char *part)
{
        refused(buf, strlen(buf), error, part);
}

static ZoneConfig *parses(const char *buf, unsigned flags)
{
        ZoneConfig *c = NULL;
        KzError e = {};
        int r = zone_config_from_xml(buf, strlen(buf), "good.xml", flags, &c, &e);

        cr_assert_eq(r, 0, "refused: %s", e.message);
        cr_assert_not_null(c);
        return c;
}

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

/* ---- round trip ------------------------------------------------------------------------------ */

Test(xml, round_trip_of_every_resource_type)
{
        ZoneConfig *c = full_config(), *back = NULL;
        char *xml = NULL, *ex1, *ex2;
        size_t size = 0;
        KzError e = {};

        cr_assert_eq(zone_config_to_xml(c, &xml, &size, &e), 0, "%s", e.message);
        cr_assert_eq(strlen(xml), size);
        cr_assert(strstr(xml, "<zone zonename=\"kz1\" brand=\"kz\""), "%s", xml);
        cr_assert(strstr(xml, "<vlan vlan-id=\"45\"/>"), "nested vlan missing:\n%s", xml);
        cr_assert(strstr(xml, "hostid=\"0x6f038b0b\""), "%s", xml);
        cr_assert(strstr(xml, "physical=\"16G\""), "%s", xml);
        cr_assert_null(strstr(xml, "<!DOCTYPE"));

        cr_assert_eq(zone_config_from_xml(xml, size, "kz1.xml", 0, &back, &e), 0, "%s\n%s", e.message, xml);
        cr_assert(zone_resource_equal(c->root, back->root), "the configuration read back differs:\n%s", xml);
        cr_assert_str_eq(zone_resource_get(back->root, "bootargs"), "-v <a & \"b\" 'c'> café");

        ex1 = export_text(c);
        ex2 = export_text(back);
        cr_assert_str_eq(ex1, ex2);
        cr_assert(strstr(ex1, "add vlan\nset vlan-id=45\nend\n"), "%s", ex1);

        /* and writing it again gives the same bytes */
        {
                char *xml2 = NULL;
                size_t size2 = 0;

                cr_assert_eq(zone_config_to_xml(back, &xml2, &size2, &e), 0, "%s", e.message);
                cr_assert_eq(size2, size);
                cr_assert_str_eq(xml2, xml);
                free(xml2);
        }
        free(ex1);
        free(ex2);
        free(xml);
        zone_config_free(back);
        zone_config_free(c);
}

Test(xml, round_trip_of_a_minimal_configuration)
{
        ZoneConfig *c = zone_config_new("kz1"), *back = NULL;
        char *xml = NULL;
        size_t size = 0;

        cr_assert_eq(zone_config_to_xml(c, &xml, &size, NULL), 0);
        cr_assert_eq(zone_config_from_xml(xml, size, "kz1.xml", 0, &back, NULL), 0);
        cr_assert(zone_resource_equal(c->root, back->root));
        cr_assert_eq(back->root->n_children, 0);
        free(xml);
        zone_config_free(back);
        zone_config_free(c);
}

Test(xml, values_are_read_in_canonical_form)
{
        ZoneConfig *c = parses(HEAD "<zone zonename=\"kz1\" brand=\"kz\">\n"
                                    "  <anet mac-address=\"00:01:02:03:04:05\" id=\"007\"/>\n"
                                    "  <capped-memory physical=\"2048M\"/>\n"
                                    "</zone>\n",
                0);
        ZoneResource *a = zone_resource_first(c->root, resource_type_child(zone_type(), "anet"));
        ZoneResource *m = zone_resource_first(c->root, resource_type_child(zone_type(), "capped-memory"));

        cr_assert_str_eq(zone_resource_get(a, "mac-address"), "0:1:2:3:4:5");
        cr_assert_str_eq(zone_resource_get(a, "id"), "7");
        cr_assert_str_eq(zone_resource_get(m, "physical"), "2G");
        zone_config_free(c);
}

/* Whatever zone_resource_set accepts must also be savable: zonecfg accepts the value,
 * and only 'commit' would find out that it cannot be written. */
static void set_implies_savable(const char *type, const char *prop, const char *value)
{
        ZoneConfig *c = zone_config_new("kz1");
        ZoneResource *r = type ? add_child(c->root, type) : c->root;
        KzError e = {};
        char *xml = NULL;
        size_t size = 0;
        int k;

        /* the properties these resources cannot be saved without */
        if (type && streq(type, "boot") && !streq(prop, "kernel"))
                set_value(r, "kernel", "/boot/vmlinuz");
        if (type && (streq(type, "device") || streq(type, "anet")) && !streq(prop, "id"))
                set_value(r, "id", "0");
        if (zone_resource_set(r, prop, value, NULL) < 0) {
                zone_config_free(c);
                return; /* refused up front: fine */
        }
        k = zone_config_to_xml(c, &xml, &size, &e);
        cr_assert_eq(k, 0, "set %s%s%s=<%zu bytes> was accepted, but the configuration cannot be saved: %s",
                type ?: "", type ? ":" : "", prop, strlen(value), e.message);
        free(xml);
        zone_config_free(c);
}

Test(xml, accepted_values_are_savable_long_dev_uri)
{
        char uri[4097];

        memset(uri, 'a', 4096);
        memcpy(uri, "dev:/dev/", 9);
        uri[4096] = 0;
        set_implies_savable("device", "storage", uri);
}

Test(xml, accepted_values_are_savable_non_utf8)
{
        set_implies_savable(NULL, "bootargs", "caf\xe9");
}

Test(xml, accepted_values_are_savable_long_values)
{
        char v[4097];

        memset(v, 'x', 4096);
        v[4096] = 0;
        set_implies_savable(NULL, "bootargs", v);
        v[0] = '/';
        set_implies_savable("boot", "cmdline", v);
        memcpy(v, "file:///", 8);
        set_implies_savable("device", "storage", v);
        memcpy(v, "nfs://u:g@h/e/", 14);
        set_implies_savable("device", "storage", v);
}

/* ---- hostile documents ------------------------------------------------------------------------ */

Test(hostile, external_entity)
{
        refused_str(HEAD "<!DOCTYPE zone [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n"
                         "<zone zonename=\"kz1\" brand=\"kz\" bootargs=\"&xxe;\"/>\n",
                EBADMSG, "document type or entity declaration");
}

Test(hostile, external_dtd)
{
        refused_str(HEAD "<!DOCTYPE zone SYSTEM \"http://127.0.0.1:1/zone.dtd\">\n"
                         "<zone zonename=\"kz1\" brand=\"kz\"/>\n",
                EBADMSG, "document type or entity declaration");
}

Test(hostile, billion_laughs)
{
        refused_str(HEAD "<!DOCTYPE lolz [\n"
                         " <!ENTITY lol \"lol\">\n"
                         " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
                         " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
                         " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
                         " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
                         " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
                         " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
                         " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
                         " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
                         " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
                         "]>\n"
                         "<zone zonename=\"kz1\" brand=\"kz\" bootargs=\"&lol9;\"/>\n",
                EBADMSG, "document type or entity declaration");
}

Test(hostile, undeclared_entity_reference)
{
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\" bootargs=\"&xxe;\"/>\n", EBADMSG,
                "is not well-formed XML");
}

static char *padded_document(size_t total)
{
        static const char head[] = HEAD "<zone zonename=\"kz1\" brand=\"kz\"/>\n<!--";
        static const char tail[] = "-->\n";
        char *buf = malloc(total + 1);

        cr_assert_not_null(buf);
        cr_assert_gt(total, sizeof(head) + sizeof(tail));
        memset(buf, 'x', total);
        memcpy(buf, head, sizeof(head) - 1);
        memcpy(buf + total - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
        buf[total] = 0;
        return buf;
}

Test(hostile, larger_than_256k)
{
        char *buf = padded_document(256 * 1024 + 1);

        refused(buf, 256 * 1024 + 1, EFBIG, "is larger than 262144 bytes");
        free(buf);
}

Test(hostile, exactly_256k_is_allowed)
{
        char *buf = padded_document(256 * 1024);
        ZoneConfig *c = NULL;
        KzError e = {};

        cr_assert_eq(zone_config_from_xml(buf, 256 * 1024, "big.xml", 0, &c, &e), 0, "%s", e.message);
        cr_assert_str_eq(zone_config_name(c), "kz1");
        zone_config_free(c);
        free(buf);
}

Test(hostile, nul_byte)
{
        static const char buf[] = HEAD "<zone zonename=\"kz1\" brand=\"kz\" bootargs=\"a\0b\"/>\n";

        refused(buf, sizeof(buf) - 1, EBADMSG, "contains a NUL byte");
}

Test(hostile, malformed)
{
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\"", EBADMSG, "is not well-formed XML");
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\"><anet></zone>", EBADMSG, "is not well-formed XML");
        refused_str("", EBADMSG, "is not well-formed XML");
        refused_str("not xml at all", EBADMSG, "is not well-formed XML");
        refused_str(HEAD "<zone zonename=\"kz1\" zonename=\"kz2\" brand=\"kz\"/>", EBADMSG, "is not well-formed XML");
}

Test(hostile, malformed_message_has_a_line_number)
{
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\">\n<anet id=\"0\">\n</zone>\n", EBADMSG, "line ");
}

Test(hostile, deep_nesting)
{
        size_t depth = 20000, len = 0;
        char *buf = malloc(depth * 7 + 64);

        cr_assert_not_null(buf);
        len += (size_t) sprintf(buf, "<zone brand=\"kz\" zonename=\"kz1\">");
        for (size_t i = 0; i < depth; i++)
                len += (size_t) sprintf(buf + len, "<anet>");
        refused(buf, len, EBADMSG, "hostile.xml");
        free(buf);
}

Test(hostile, wrong_root_element)
{
        refused_str(HEAD "<zones zonename=\"kz1\" brand=\"kz\"/>\n", EBADMSG,
                "does not match the zone configuration schema");
        refused_str(HEAD "<anet id=\"0\"/>\n", EBADMSG, "does not match the zone configuration schema");
}

Test(hostile, unknown_attribute)
{
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\" color=\"red\"/>\n", EBADMSG,
                "does not match the zone configuration schema");
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\"><anet id=\"0\" speed=\"10G\"/></zone>\n", EBADMSG,
                "does not match the zone configuration schema");
}

Test(hostile, unknown_element)
{
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\"><net id=\"0\"/></zone>\n", EBADMSG,
                "does not match the zone configuration schema");
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\" xmlns:xi=\"http://www.w3.org/2001/XInclude\">"
                         "<xi:include href=\"/etc/passwd\" parse=\"text\"/></zone>\n",
                EBADMSG, "does not match the zone configuration schema");
}

Test(hostile, resources_in_the_wrong_order_or_number)
{
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\"><capped-memory physical=\"4G\"/>"
                         "<capped-memory physical=\"8G\"/></zone>\n",
                EBADMSG, "does not match the zone configuration schema");
}

Test(hostile, too_many_resources)
{
        size_t cap = 1100 * 32 + 128, len = 0;
        char *buf = malloc(cap);

        cr_assert_not_null(buf);
        len += (size_t) sprintf(buf, "<zone zonename=\"kz1\" brand=\"kz\">");
        for (unsigned i = 0; i < 1025; i++)
                len += (size_t) sprintf(buf + len, "<anet id=\"%u\"/>", i);
        len += (size_t) sprintf(buf + len, "</zone>");
        refused(buf, len, E2BIG, "too many resources");
        free(buf);
}

Test(hostile, control_character_reference)
{
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\" bootargs=\"a&#10;b\"/>\n", EBADMSG,
                "bootargs value contains control characters.");
}

Test(semantic, memory_reserve_and_pagesize_policy)
{
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\">\n"
                         "  <capped-memory memory-reserve=\"pool1\" pagesize-policy=\"largest-only\"/>\n"
                         "</zone>\n",
                EBADMSG,
                "hostile.xml, line 3: capped-memory: pagesize-policy and memory-reserve are mutually exclusive; "
                "clear memory-reserve first.");
}

Test(semantic, physical_not_a_multiple_of_2M)
{
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\">\n"
                         "  <capped-memory physical=\"3M\"/>\n"
                         "</zone>\n",
                EBADMSG, "hostile.xml, line 3: physical value 3M is not a multiple of 2M.");
}

Test(semantic, rules_checked_at_the_end)
{
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\"><capped-memory pagesize-policy=\"fixed\"/></zone>\n",
                EBADMSG, "hostile.xml: capped-memory: pagesize-policy=fixed requires the pagesize property.");
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\"><anet id=\"0\"/><anet id=\"0\"/></zone>\n", EBADMSG,
                "hostile.xml: anet id=0 already exists.");
        refused_str(HEAD "<zone zonename=\"kz1\" brand=\"kz\"><device storage=\"dev:/etc/passwd\" id=\"0\"/></zone>\n",
                EBADMSG, "hostile.xml, line 2: dev:/etc/passwd is not a valid storage URI: a dev: URI names a device under /dev.");
        refused_str(HEAD "<zone brand=\"kz\"/>\n", EBADMSG, "hostile.xml: zonename must be set.");
        refused_str(HEAD "<zone zonename=\"global\" brand=\"kz\"/>\n", EBADMSG, "is not a valid zone name");
        refused_str(HEAD "<zone zonename=\"SYSkz\" brand=\"kz\"/>\n", EBADMSG, "is not a valid zone name");
}

/* None of the refusals above prints anything: the caller prints the one message. */
Test(hostile, refusals_print_nothing, .init = cr_redirect_stderr)
{
        static const char *const docs[] = {
                HEAD "<zone zonename=\"kz1\" brand=\"kz\"",
                HEAD "<zone zonename=\"kz1\" brand=\"kz\" bootargs=\"&xxe;\"/>",
                HEAD "<zones zonename=\"kz1\" brand=\"kz\"/>",
                HEAD "<zone zonename=\"kz1\" brand=\"kz\" color=\"red\"/>",
                HEAD "<zone zonename=\"kz1\" brand=\"kz\"><capped-memory physical=\"3M\"/></zone>",
                "\xff\xfe<\x00z\x00",
        };

        for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
                ZoneConfig *c = NULL;
                KzError e = {};

                cr_assert_lt(zone_config_from_xml(docs[i], strlen(docs[i]), "x.xml", 0, &c, &e), 0);
                cr_assert_neq(e.message[0], 0);
        }
        fflush(stderr);
        cr_assert_stderr_eq_str("", "libxml2 printed to stderr");
}

/* ---- templates -------------------------------------------------------------------------------- */

static ZoneConfig *load_template_file(const char *name, unsigned flags, int *ret, KzError *e)
{
        char *path = NULL, *buf = NULL;
        size_t size = 0;
        ZoneConfig *c = NULL;

        cr_assert_gt(asprintf(&path, "%s/%s", kzones_data_dir(), name), 0);
        cr_assert_eq(read_file_bounded(path, ZONE_CONFIG_MAX_BYTES, &buf, &size), 0, "cannot read %s", path);
        *ret = zone_config_from_xml(buf, size, path, flags, &c, e);
        free(buf);
        free(path);
        return c;
}

static const char *get(const ZoneConfig *c, const char *type, const char *prop)
{
        return zone_resource_get(zone_resource_first(c->root, resource_type_child(zone_type(), type)), prop);
}

Test(templates, syskz_loads)
{
        KzError e = {};
        int r;
        ZoneConfig *c = load_template_file("SYSkz.xml", ZONE_XML_TEMPLATE, &r, &e);

        cr_assert_eq(r, 0, "%s", e.message);
        cr_assert_null(zone_config_name(c));
        cr_assert_str_eq(zone_config_brand(c), "kz");
        cr_assert_str_eq(get(c, "capped-memory", "physical"), "4G");
        cr_assert_str_eq(get(c, "virtual-cpu", "ncpus"), "4");
        cr_assert_str_eq(get(c, "device", "storage"), "file:///var/lib/zones/%{zonename}/disk%{id}.img");
        cr_assert_str_eq(get(c, "anet", "id"), "0");
        zone_config_free(c);
}

Test(templates, syskz_minimal_loads)
{
        KzError e = {};
        int r;
        ZoneConfig *c = load_template_file("SYSkz-minimal.xml", ZONE_XML_TEMPLATE, &r, &e);

        cr_assert_eq(r, 0, "%s", e.message);
        cr_assert_null(zone_config_name(c));
        cr_assert_str_eq(get(c, "capped-memory", "physical"), "2G");
        cr_assert_str_eq(get(c, "virtual-cpu", "ncpus"), "1");
        zone_config_free(c);
}

Test(templates, need_the_template_flag)
{
        KzError e = {};
        int r;
        ZoneConfig *c = load_template_file("SYSkz.xml", 0, &r, &e);

        cr_assert_null(c);
        cr_assert_eq(r, -EBADMSG);
        cr_assert(strstr(e.message, "zonename must be set."), "%s", e.message);
}

Test(templates, schema_missing_is_reported, .init = cr_redirect_stderr)
{
        KzError e = {};
        ZoneConfig *c = NULL;
        static const char doc[] = HEAD "<zone zonename=\"kz1\" brand=\"kz\"/>\n";

        cr_assert_eq(setenv("KZONES_DATA_DIR", "/nonexistent-kzones-data", 1), 0);
        cr_assert_eq(zone_config_from_xml(doc, strlen(doc), "kz1.xml", 0, &c, &e), -ENOENT);
        cr_assert_null(c);
        cr_assert(strstr(e.message, "cannot load the zone configuration schema from /nonexistent-kzones-data"), "%s",
                e.message);
        /* the library returns the message; it prints nothing itself */
        fflush(stderr);
        cr_assert_stderr_eq_str("", "libxml2 printed to stderr");
}
