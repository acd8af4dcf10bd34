/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "kz-error.h"
#include "zone-config.h"

#define ZONE_IFNAMSIZ 16 /* IFNAMSIZ, with its NUL */

/* A zone's network: each anet becomes a tap on a bridge or a macvtap on a
 * physical link, made by the launcher before QEMU starts and handed to QEMU as a
 * file descriptor.
 *
 * lower-link=auto (and unset) means the host's default lower link: the
 * DefaultLowerLink= of the zone unit's drop-ins ([X-Kzones]), or else the link
 * of the host's default route (IPv4 first, then IPv6). A lower link that is a
 * bridge gets a tap on it; any other link gets a macvtap (bridge mode) on it. */

typedef enum ZoneLinkKind {
        ZONE_LINK_BRIDGE,  /* a tap, a port of the bridge */
        ZONE_LINK_MACVTAP, /* a macvtap on the link */
        _ZONE_LINK_KIND_MAX,
        _ZONE_LINK_KIND_INVALID = -EINVAL,
} ZoneLinkKind;

const char *zone_link_kind_to_string(ZoneLinkKind k);
ZoneLinkKind zone_link_kind_from_string(const char *s);

typedef struct ZoneLowerLink {
        char name[ZONE_IFNAMSIZ];
        int ifindex;
        ZoneLinkKind kind;
        bool automatic;      /* chosen for lower-link=auto */
        bool vlan_filtering; /* a bridge that filters VLANs (needed for vlan-id on a bridge) */
} ZoneLowerLink;

/* The link of the default route in this network namespace, from the routing
 * tables in /proc/net (route_v4 and route_v6 are their texts; NULL: read them). */
int zone_default_route_link(const char *route_v4, const char *route_v6, char ret[ZONE_IFNAMSIZ]);

/* The [X-Kzones] KEY= of the zone unit's drop-ins (zone@ZONE.service.d, then
 * zone@.service.d; zone may be NULL); *ret is NULL when none sets it. */
int zone_unit_setting(const char *root, const char *zone, const char *key, char **ret);

/* What an anet's lower-link is on this host, with a message saying what to change
 * when it cannot be used. default_link is DefaultLowerLink= (may be NULL). */
int zone_anet_lower_link(const ZoneResource *anet, const char *default_link, ZoneLowerLink *ret, KzError *e);

/* Creates the anet's device and returns a file descriptor for QEMU: a tap on a
 * bridge (gone with the last descriptor), or a macvtap with the anet's MAC on a
 * link (a link of its own, labelled for the zone, removed by zone_net_cleanup()).
 * The anet's vlan-id is the tap's untagged VLAN on a VLAN-filtering bridge, or
 * the VLAN device (made if needed) the macvtap sits on; nested vlan resources
 * are tagged VLANs of a bridge port (a macvtap refuses them).
 * rundir is where a scratch sysfs is mounted when the one in /sys shows another
 * network namespace (a container's). */
int zone_anet_open(const char *zone, const ZoneResource *anet, const ZoneLowerLink *l, const char *mac,
                const char *rundir, KzError *e);

/* Removes the macvtaps this zone left (labelled for it), e.g. when it stops. */
int zone_net_cleanup(const char *zone);
/* The same for one anet (its macvtap, if it has one), e.g. when it is removed from
 * a running zone; a tap goes by itself with its last descriptor. */
int zone_anet_cleanup(const char *zone, const ZoneResource *anet);
