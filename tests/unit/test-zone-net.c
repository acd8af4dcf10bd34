/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lower-link=auto: the link of the default route, read from /proc/net routing tables. */
#include <criterion/criterion.h>

#include "zone-net.h"

static const char v4_header[] =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

Test(zone_net, default_route_v4)
{
        char link[ZONE_IFNAMSIZ] = "";
        char *t = NULL;

        cr_assert(asprintf(&t, "%s"
                        "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
                        "wlan0\t00000000\t0102A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
                        "eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n",
                        v4_header) > 0);
        cr_assert_eq(zone_default_route_link(t, "", link), 0);
        cr_assert_str_eq(link, "eth0", "the default route with the lowest metric");
        free(t);
}

Test(zone_net, a_down_or_partial_route_is_not_the_default)
{
        char link[ZONE_IFNAMSIZ] = "";
        char *t = NULL;

        cr_assert(asprintf(&t, "%s"
                        "eth1\t00000000\t0100000A\t0002\t0\t0\t0\t00000000\t0\t0\t0\n" /* not up */
                        "eth2\t00000000\t0100000A\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0\n", /* not a /0 */
                        v4_header) > 0);
        cr_assert_eq(zone_default_route_link(t, "", link), -ENETUNREACH);
        free(t);
}

Test(zone_net, default_route_v6_when_no_v4)
{
        char link[ZONE_IFNAMSIZ] = "";
        const char *v6 =
                "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
                "00000000000000000000000000000000 00000100 00000001 00000000 00000001     ens3\n"
                /* the kernel's unreachable default on lo */
                "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
                "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
                "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
                "fe800000000000000000000000000001 00000400 00000001 00000000 00000003     ens3\n";

        cr_assert_eq(zone_default_route_link(v4_header, v6, link), 0);
        cr_assert_str_eq(link, "ens3");
        cr_assert_eq(zone_default_route_link(v4_header, "", link), -ENETUNREACH, "no route at all");
}

Test(zone_net, link_kinds_both_ways)
{
        for (ZoneLinkKind k = 0; k < _ZONE_LINK_KIND_MAX; k++)
                cr_assert_eq(zone_link_kind_from_string(zone_link_kind_to_string(k)), k);
        cr_assert_eq(zone_link_kind_from_string("vxlan"), _ZONE_LINK_KIND_INVALID);
}
