/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Live zone reconfiguration's plan: each kind of change with the line zoneadm
 * apply prints for it, the refusal table, and the QEMU machine that makes it
 * possible (maxcpus, the virtio-mem device), from the configuration only. */
#include <criterion/criterion.h>
#include <string.h>

#include "zone-live.h"
#include "zone-qemu.h"

static const char *const BASE =
        "<?xml version=\"1.0\"?>\n"
        "<zone zonename=\"kz1\" brand=\"kz\" autoboot=\"false\" host-compatible=\"memlzs\">\n"
        "  <anet id=\"0\" lower-link=\"auto\"/>\n"
        "  <device id=\"0\" storage=\"file:///var/lib/zones/kz1/disk0.img\" bootpri=\"0\"/>\n"
        "  <capped-memory physical=\"512M\"/>\n"
        "  <virtual-cpu ncpus=\"1\"/>\n"
        "</zone>\n";

static ZoneConfig *parse(const char *xml)
{
        ZoneConfig *c = NULL;
        KzError e = {};

        cr_assert_eq(zone_config_from_xml(xml, strlen(xml), "test", 0, &c, &e), 0, "%s", e.message);
        return c;
}

/* BASE with one text replaced. */
static ZoneConfig *variant(const char *from, const char *to)
{
        char buf[4096];
        const char *p = strstr(BASE, from);

        cr_assert_not_null(p, "%s", from);
        (void) snprintf(buf, sizeof(buf), "%.*s%s%s", (int) (p - BASE), BASE, to, p + strlen(from));
        return parse(buf);
}

static ZoneLivePlan plan(const ZoneConfig *live, const ZoneConfig *wanted)
{
        ZoneLivePlan p = {};

        cr_assert_eq(zone_live_plan(live, wanted, &p), 0);
        return p;
}

static void assert_one(const ZoneLivePlan *p, ZoneLiveChangeKind kind, const char *text)
{
        cr_assert_eq(p->n, 1, "%zu changes, the first: %s", p->n, p->n ? p->changes[0].text : "");
        cr_assert_eq(p->changes[0].kind, kind, "%s", zone_live_change_kind_to_string(p->changes[0].kind));
        cr_assert_str_eq(p->changes[0].text, text);
}

Test(zone_live, no_changes)
{
        _cleanup_(zone_config_freep) ZoneConfig *a = parse(BASE), *b = parse(BASE);
        ZoneLivePlan p = plan(a, b);

        cr_assert_eq(p.n, 0);
        zone_live_plan_done(&p);
}

Test(zone_live, anet_added_and_removed)
{
        _cleanup_(zone_config_freep) ZoneConfig *a = parse(BASE),
                *b = variant("  <anet id=\"0\" lower-link=\"auto\"/>\n",
                        "  <anet id=\"0\" lower-link=\"auto\"/>\n  <anet id=\"1\" lower-link=\"br0\"/>\n");
        ZoneLivePlan p = plan(a, b), q = plan(b, a);

        assert_one(&p, ZONE_LIVE_ANET_ADD, "Adding anet id=1");
        cr_assert_str_eq(zone_resource_get(p.changes[0].resource, "lower-link"), "br0");
        assert_one(&q, ZONE_LIVE_ANET_REMOVE, "Removing anet id=1");
        cr_assert_eq(q.n_refused, 0);
        zone_live_plan_done(&p);
        zone_live_plan_done(&q);
}

Test(zone_live, device_added_and_removed_named_by_storage)
{
        _cleanup_(zone_config_freep) ZoneConfig *a = parse(BASE),
                *b = variant("  <capped", "  <device id=\"1\" storage=\"file:///var/lib/kzones/disks/x.img\"/>\n  <capped");
        ZoneLivePlan p = plan(a, b), q = plan(b, a);

        assert_one(&p, ZONE_LIVE_DEVICE_ADD, "Adding device storage=file:///var/lib/kzones/disks/x.img");
        assert_one(&q, ZONE_LIVE_DEVICE_REMOVE, "Removing device storage=file:///var/lib/kzones/disks/x.img");
        zone_live_plan_done(&p);
        zone_live_plan_done(&q);
}

Test(zone_live, ncpus_up_and_down)
{
        _cleanup_(zone_config_freep) ZoneConfig *a = parse(BASE), *b = variant("ncpus=\"1\"", "ncpus=\"2\"");
        ZoneLivePlan p = plan(a, b), q = plan(b, a);

        assert_one(&p, ZONE_LIVE_NCPUS, "Modifying virtual-cpu ncpus=2");
        cr_assert_eq(p.changes[0].value, 2);
        assert_one(&q, ZONE_LIVE_NCPUS, "Modifying virtual-cpu ncpus=1");
        cr_assert_eq(q.changes[0].value, 1);
        zone_live_plan_done(&p);
        zone_live_plan_done(&q);
}

Test(zone_live, physical_with_memory_reconfiguration)
{
        _cleanup_(zone_config_freep) ZoneConfig *a = parse(BASE), *b = variant("physical=\"512M\"", "physical=\"1G\"");
        ZoneLivePlan p = plan(a, b);

        assert_one(&p, ZONE_LIVE_PHYSICAL, "Modifying capped-memory physical=1G");
        cr_assert_eq(p.changes[0].value, 1024ull * 1024 * 1024);
        zone_live_plan_done(&p);
}

Test(zone_live, physical_refused_without_memory_reconfiguration)
{
        _cleanup_(zone_config_freep) ZoneConfig *a = variant(" host-compatible=\"memlzs\"", ""),
                *b = variant(" host-compatible=\"memlzs\"", "");
        ZoneResource *cm = zone_resource_first(b->root, resource_type_child(zone_type(), "capped-memory"));
        KzError e = {};
        ZoneLivePlan p;

        cr_assert_eq(zone_resource_set(cm, "physical", "32G", &e), 0);
        p = plan(a, b);
        assert_one(&p, ZONE_LIVE_REFUSED, "Modifying capped-memory physical=32G");
        cr_assert_str_eq(p.changes[0].refusal,
                "Modifying capped-memory physical=32G failed: Memory reconfiguration not enabled");
        cr_assert_eq(p.n_refused, 1);
        zone_live_plan_done(&p);
}

Test(zone_live, physical_of_a_pool_zone_changes_live)
{
        /* its region is a file in its pool (zone_memory_prepare()) */
        _cleanup_(zone_config_freep) ZoneConfig *a = variant("physical=\"512M\"",
                                                          "physical=\"512M\" memory-reserve=\"zones\""),
                                                 *b = variant("physical=\"512M\"",
                                                          "physical=\"1G\" memory-reserve=\"zones\""),
                                                 *c = variant("physical=\"512M\"",
                                                          "physical=\"512M\" pagesize-policy=\"largest-only\""),
                                                 *d = variant("physical=\"512M\"",
                                                          "physical=\"1G\" pagesize-policy=\"largest-only\"");
        ZoneLivePlan p = plan(a, b);

        cr_assert_null(zone_live_memory_refusal(a));
        cr_assert_eq(zone_vmem_region(a), 1536ull << 20);
        assert_one(&p, ZONE_LIVE_PHYSICAL, "Modifying capped-memory physical=1G");
        cr_assert_eq(p.changes[0].value, 1ull << 30);
        cr_assert_eq(p.n_refused, 0);
        zone_live_plan_done(&p);

        /* without a pool, a policy that insists on huge pages still has no region */
        p = plan(c, d);
        assert_one(&p, ZONE_LIVE_REFUSED, "Modifying capped-memory physical=1G");
        cr_assert_str_eq(p.changes[0].refusal, "Modifying capped-memory physical=1G failed: memory live "
                "reconfiguration with pagesize-policy other than largest-available is not supported yet");
        zone_live_plan_done(&p);
}

Test(zone_live, recorded_only)
{
        _cleanup_(zone_config_freep) ZoneConfig *a = parse(BASE),
                *b = variant("autoboot=\"false\"", "autoboot=\"true\" bootargs=\"-v\""),
                *c = variant("physical=\"512M\"", "physical=\"512M\" memlzs=\"strict\""),
                *d = variant("</zone>", "  <admin user=\"bob\" auths=\"login\"/>\n</zone>");
        ZoneLivePlan p = plan(a, b), q = plan(a, c), r = plan(a, d);

        cr_assert_eq(p.n, 2);
        cr_assert_str_eq(p.changes[0].text, "Modifying autoboot=true");
        cr_assert_str_eq(p.changes[1].text, "Modifying bootargs=-v");
        cr_assert(p.changes[0].kind == ZONE_LIVE_RECORD && p.changes[1].kind == ZONE_LIVE_RECORD);
        assert_one(&q, ZONE_LIVE_RECORD, "Modifying capped-memory memlzs=strict");
        assert_one(&r, ZONE_LIVE_RECORD, "Adding admin user=bob");
        zone_live_plan_done(&p);
        zone_live_plan_done(&q);
        zone_live_plan_done(&r);

        /* recorded into the live configuration */
        KzError e = {};
        cr_assert_eq(zone_live_apply_records(a, b, &e), 0);
        cr_assert_eq(zone_live_apply_records(a, c, &e), 0);
        cr_assert_str_eq(zone_resource_get(a->root, "autoboot"), "false", "c's autoboot is false again");
        cr_assert_str_eq(zone_resource_get(zone_resource_first(a->root, resource_type_child(zone_type(),
                                 "capped-memory")), "memlzs"), "strict");
}

Test(zone_live, refusals)
{
        _cleanup_(zone_config_freep) ZoneConfig *a = parse(BASE),
                *brand = variant("brand=\"kz\"", "brand=\"solaris\""),
                *hc = variant("host-compatible=\"memlzs\"", "host-compatible=\"level1\""),
                *anet = variant("lower-link=\"auto\"", "lower-link=\"br0\""),
                *ps = variant("physical=\"512M\"", "physical=\"512M\" pagesize-policy=\"fixed\" pagesize=\"2M\""),
                *boot = variant("</zone>", "  <boot kernel=\"/boot/vmlinuz\"/>\n</zone>");
        ZoneLivePlan p;

        p = plan(a, brand);
        assert_one(&p, ZONE_LIVE_REFUSED, "Modifying brand=solaris");
        cr_assert_str_eq(p.changes[0].refusal, "cannot change brand of a running zone");
        zone_live_plan_done(&p);
        p = plan(a, hc);
        assert_one(&p, ZONE_LIVE_REFUSED, "Modifying host-compatible=level1");
        zone_live_plan_done(&p);
        p = plan(a, anet);
        assert_one(&p, ZONE_LIVE_REFUSED, "Modifying anet id=0");
        cr_assert_str_eq(p.changes[0].refusal, "cannot change anet id=0 of a running zone");
        zone_live_plan_done(&p);
        p = plan(a, ps);
        cr_assert_eq(p.n, 2);
        cr_assert_eq(p.n_refused, 2);
        cr_assert_str_eq(p.changes[0].refusal, "cannot change capped-memory:pagesize-policy of a running zone");
        cr_assert_str_eq(p.changes[1].refusal, "cannot change capped-memory:pagesize of a running zone");
        zone_live_plan_done(&p);
        p = plan(a, boot);
        assert_one(&p, ZONE_LIVE_REFUSED, "Adding boot");
        cr_assert_str_eq(p.changes[0].refusal, "cannot change boot of a running zone");
        zone_live_plan_done(&p);
}

Test(zone_live, order_removals_changes_additions)
{
        _cleanup_(zone_config_freep) ZoneConfig *a = parse(BASE), *b = NULL;
        KzError e = {};

        b = variant("<anet id=\"0\"", "<anet id=\"2\"");
        cr_assert_eq(zone_live_set_ncpus(b, 3, &e), 0);
        ZoneLivePlan p = plan(a, b);

        cr_assert_eq(p.n, 3);
        cr_assert_str_eq(p.changes[0].text, "Removing anet id=0");
        cr_assert_str_eq(p.changes[1].text, "Modifying virtual-cpu ncpus=3");
        cr_assert_str_eq(p.changes[2].text, "Adding anet id=2");
        zone_live_plan_done(&p);
}

Test(zone_live, kind_strings_both_ways)
{
        for (int k = 0; k < _ZONE_LIVE_CHANGE_KIND_MAX; k++)
                cr_assert_eq(zone_live_change_kind_from_string(zone_live_change_kind_to_string(k)), k);
        cr_assert_eq(zone_live_change_kind_from_string("nope"), _ZONE_LIVE_CHANGE_KIND_INVALID);
}

static const char *after(char **argv, const char *opt, int nth)
{
        for (size_t i = 0; argv[i]; i++)
                if (streq(argv[i], opt) && nth-- == 0)
                        return argv[i + 1];
        return NULL;
}

Test(zone_live, boot_preparation)
{
        _cleanup_(zone_config_freep) ZoneConfig *a = parse(BASE), *plain = variant(" host-compatible=\"memlzs\"", ""),
                *many = variant("ncpus=\"1\"", "ncpus=\"40\"");
        ZoneQemuOptions o = { .cpu_model = "qemu64", .runtime_dir = "/run/kzones/kz1" };
        _cleanup_strv_free_ char **v = NULL, **w = NULL;
        KzError e = {};

        cr_assert_eq(zone_qemu_argv(a, &o, &v, &e), 0, "%s", e.message);
        cr_assert_str_eq(after(v, "-smp", 0), "1,maxcpus=16");
        cr_assert_str_eq(after(v, "-m", 0), "512M,maxmem=2048M");
        cr_assert_str_eq(after(v, "-object", 0), "memory-backend-ram,id=vmem0-mem,size=1536M");
        cr_assert_str_eq(after(v, "-device", 0),
                "virtio-mem-pci,id=vmem0,memdev=vmem0-mem,block-size=2097152,requested-size=0");
        cr_assert_eq(zone_vmem_region(a), 1536ull << 20);

        /* without host-compatible: as before, no virtio-mem */
        cr_assert_eq(zone_qemu_argv(plain, &o, &w, &e), 0, "%s", e.message);
        cr_assert_str_eq(after(w, "-m", 0), "512M");
        cr_assert_null(after(w, "-object", 0));
        cr_assert_eq(zone_vmem_region(plain), 0);

        cr_assert_eq(zone_max_vcpus(many), 80);
}
