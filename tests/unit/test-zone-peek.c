/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "zone-config-test.h"
#include "zone-peek.h"
#include "zone-qemu.h"
#include "zone-store.h"

static char *to_xml(const ZoneConfig *c)
{
        char *buf = NULL;
        size_t size = 0;
        KzError e = {};

        cr_assert_eq(zone_config_to_xml(c, &buf, &size, &e), 0, "%s", e.message);
        return buf;
}

static void peeks(const char *xml, unsigned flags, ZonePeek *p)
{
        int r = zone_peek(xml, strlen(xml), flags, p);

        cr_assert_eq(r, 0, "refused (%d): %s", r, xml);
}

static void refused(const char *xml)
{
        ZonePeek p = { .name = (char *) 0x1 };

        cr_assert_eq(zone_peek(xml, strlen(xml), ZONE_PEEK_SUSPEND, &p), -EBADMSG, "accepted: %s", xml);
        cr_assert_eq(p.name, (char *) 0x1, "something was returned for a refused document");
}

/* What zonecfg writes, peeked, says what the whole parse says: name, brand, autoboot,
 * and the suspend image's path. Values with every character XML escapes. */
Test(zone_peek, agrees_with_the_whole_parse_of_what_zonecfg_writes)
{
        static const char *const storages[] = { "file:///var/lib/zones/%{zonename}/s & <t> \"q\" 'a'.img",
                "nfs://admin:staff@host/export/%{zonename}.suspend", NULL };

        for (const char *const *st = storages; *st; st++)
                for (int autoboot = 0; autoboot < 2; autoboot++) {
                        ZoneConfig *c = zone_config_new("kz-1.a_b"), *back = NULL;
                        _cleanup_free_ char *xml = NULL, *want = NULL, *got = NULL;
                        ZonePeek p = {};
                        ZoneResource *a;
                        int r_want, r_got;

                        cr_assert_not_null(c);
                        set_value(c->root, "brand", "kz");
                        set_value(c->root, "autoboot", autoboot ? "true" : "false");
                        set_value(c->root, "bootargs", "-v <a & \"b\" 'c'> café");
                        a = add_child(c->root, "anet");
                        set_value(a, "id", "0");
                        set_value(add_child(a, "vlan"), "vlan-id", "45");
                        set_value(add_child(c->root, "suspend"), "storage", *st);
                        xml = to_xml(c);
                        cr_assert_eq(zone_config_from_xml(xml, strlen(xml), "t.xml", 0, &back, NULL), 0);

                        peeks(xml, ZONE_PEEK_SUSPEND, &p);
                        cr_assert_str_eq(p.name, zone_config_name(back));
                        cr_assert_str_eq(p.brand, zone_config_brand(back));
                        cr_assert_eq(p.autoboot, !!autoboot);
                        cr_assert(p.has_suspend);
                        r_want = zone_suspend_image_path(back, "/r", &want);
                        r_got = zone_peek_suspend_image(&p, "/r", &got);
                        cr_assert_eq(r_got, r_want);
                        if (r_want == 0)
                                cr_assert_str_eq(got, want);
                        zone_peek_done(&p);
                        zone_config_free(c);
                        zone_config_free(back);
                }
}

Test(zone_peek, without_suspend_wanted_only_the_zone_element_is_read)
{
        /* what follows the zone tag is not looked at */
        const char *xml = "<zone zonename='a' brand='kz'><suspend path='/x'/><<<";
        ZonePeek p = {};
        _cleanup_free_ char *path = NULL;

        peeks(xml, 0, &p);
        cr_assert_str_eq(p.brand, "kz");
        cr_assert_not(p.has_suspend);
        cr_assert_not(p.autoboot);
        cr_assert_eq(zone_peek_suspend_image(&p, "", &path), -ENOENT);
        zone_peek_done(&p);
}

Test(zone_peek, declarations_comments_references_and_nesting)
{
        const char *xml = "\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!-- <zone zonename='not'> -->\n"
                          "<zone\n zonename = \"k&#x7a;&#49;\" brand='k&#122;' autoboot=\"true\">"
                          "<anet id='0'><suspend path='/nested'/></anet>"
                          "<!-- <suspend path='/comment'/> --><![CDATA[<suspend path='/cdata'/>]]>"
                          "<suspend path='/a&amp;b&#x20AC;\tc\r\nd&#9;e'/><suspend path='/second'/></zone>";
        ZonePeek p = {};
        _cleanup_free_ char *path = NULL;

        peeks(xml, ZONE_PEEK_SUSPEND, &p);
        cr_assert_str_eq(p.name, "kz1");
        cr_assert_str_eq(p.brand, "kz");
        cr_assert(p.autoboot);
        cr_assert_str_eq(p.suspend_path, "/a&b\xe2\x82\xac c d\te");
        cr_assert_null(p.suspend_storage);
        cr_assert_eq(zone_peek_suspend_image(&p, "/root", &path), 0);
        cr_assert_str_eq(path, "/root/a&b\xe2\x82\xac c d\te");
        zone_peek_done(&p);

        peeks("<zone zonename='e' brand='solaris'/>", ZONE_PEEK_SUSPEND, &p);
        cr_assert_str_eq(p.brand, "solaris");
        cr_assert_not(p.has_suspend);
        zone_peek_done(&p);

        /* a suspend resource on a storage that is not a local file */
        peeks("<zone zonename='n'><suspend storage='nfs://h/e'/></zone>", ZONE_PEEK_SUSPEND, &p);
        cr_assert_eq(zone_peek_suspend_image(&p, "", &path), -EOPNOTSUPP);
        zone_peek_done(&p);
}

Test(zone_peek, what_is_not_a_zone_configuration_is_refused)
{
        refused("");
        refused("   ");
        refused("text<zone zonename='a'/>");
        refused("<zones zonename='a'/>");
        refused("<!DOCTYPE zone><zone zonename='a'/>");
        refused("<!ENTITY x 'y'><zone zonename='a'/>");
        refused("<zone zonename='&x;'/>");
        refused("<zone zonename='&#0;'/>");
        refused("<zone zonename='&#xd800;'/>");
        refused("<zone zonename='&#x110000;'/>");
        refused("<zone zonename='&#123456789;'/>");
        refused("<zone zonename='&amp'/>");
        refused("<zone zonename='a' zonename='b'/>");
        refused("<zone zonename='a'brand='kz'/>");
        refused("<zone zonename=a/>");
        refused("<zone zonename='a/>");
        refused("<zone zonename='<'/>");
        refused("<zone zonename='a'");
        refused("<zone zonename='a'><suspend path='/x'/>");          /* never closed */
        refused("<zone zonename='a'><!-- </zone>");
        refused("<?xml version='1.0'");
        refused("<![CDATA[x]]><zone zonename='a'/>");
        refused("<zone zonename='a'><suspend = 'x'/></zone>");
        refused("</zone>");
}

Test(zone_peek, a_nul_byte_is_refused)
{
        static const char xml[] = "<zone zonename='a\0'/>";
        ZonePeek p = {};

        cr_assert_eq(zone_peek(xml, sizeof(xml) - 1, 0, &p), -EBADMSG);
}
