/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "dropins.h"
#include "rtnetlink.h"
#include "zone-net.h"
#include "zone-store.h"

/* What labels a macvtap as a zone's (its ifalias): "kzones zone NAME anet ID". */
#define ALIAS_PREFIX "kzones zone "

static const char *const zone_link_kind_table[_ZONE_LINK_KIND_MAX] = {
        [ZONE_LINK_BRIDGE] = "bridge",
        [ZONE_LINK_MACVTAP] = "macvtap",
};

DEFINE_STRING_TABLE(zone_link_kind, ZoneLinkKind, _ZONE_LINK_KIND_MAX)

/* ---- the default route ---- */

static int read_text(const char *path, char **ret)
{
        return read_virtual_file(path, 1024 * 1024, ret);
}

int zone_default_route_link(const char *route_v4, const char *route_v6, char ret[ZONE_IFNAMSIZ])
{
        _cleanup_free_ char *v4 = NULL, *v6 = NULL;
        unsigned long best = (unsigned long) -1;
        char *save = NULL, *line;
        bool found = false;

        if (!route_v4 && read_text("/proc/net/route", &v4) >= 0)
                route_v4 = v4;
        if (!route_v6 && read_text("/proc/net/ipv6_route", &v6) >= 0)
                route_v6 = v6;

        if (route_v4) {
                _cleanup_free_ char *t = strdup(route_v4);

                if (!t)
                        return -ENOMEM;
                /* Iface Destination Gateway Flags RefCnt Use Metric Mask ... */
                for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                        char iface[64], dest[16], mask[16];
                        unsigned long flags, metric;

                        if (sscanf(line, "%63s %15s %*s %lx %*s %*s %lu %15s", iface, dest, &flags, &metric, mask) != 5)
                                continue;
                        if (!streq(dest, "00000000") || !streq(mask, "00000000") || !(flags & 0x1) ||
                            strlen(iface) >= ZONE_IFNAMSIZ || metric >= best)
                                continue;
                        best = metric;
                        strcpy(ret, iface);
                        found = true;
                }
        }
        if (found)
                return 0;
        if (route_v6) {
                _cleanup_free_ char *t = strdup(route_v6);

                if (!t)
                        return -ENOMEM;
                save = NULL;
                /* dest plen src plen nexthop metric refcnt use flags dev */
                for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                        char dest[40], dev[64];
                        unsigned plen;
                        unsigned long metric, flags;

                        if (sscanf(line, "%39s %x %*s %*s %*s %lx %*s %*s %lx %63s", dest, &plen, &metric, &flags,
                                    dev) != 5)
                                continue;
                        if (strspn(dest, "0") != 32 || plen != 0 || !(flags & 0x1) || (flags & 0x200) ||
                            streq(dev, "lo") || strlen(dev) >= ZONE_IFNAMSIZ || metric >= best)
                                continue;
                        best = metric;
                        strcpy(ret, dev);
                        found = true;
                }
        }
        return found ? 0 : -ENETUNREACH;
}

/* ---- unit configuration ---- */

typedef struct Setting {
        const char *key;
        char *value;
} Setting;

static int setting_key(const char *key, const char *value, void *userdata)
{
        Setting *s = userdata;

        if (!streq(key, s->key))
                return 0;
        free(s->value);
        s->value = strdup(value);
        return s->value ? 0 : -ENOMEM;
}

static int setting_dropin(char *text, void *userdata)
{
        return ini_section_foreach(text, "X-Kzones", setting_key, userdata);
}

int zone_unit_setting(const char *root, const char *zone, const char *key, char **ret)
{
        _cleanup_free_ char *instance = NULL;
        Setting s = { .key = key };
        int r;

        if (zone && asprintf(&instance, "zone@%s.service", zone) < 0)
                return -ENOMEM;
        r = unit_dropins_foreach(root, instance, "zone@.service", 64 * 1024, setting_dropin, &s);
        if (r < 0) {
                free(s.value);
                return r;
        }
        *ret = s.value && *s.value ? s.value : mfree_str(s.value);
        return 0;
}

/* ---- links ---- */

typedef struct LinkInfo {
        int ifindex;
        int link;           /* IFLA_LINK: the lower device, or 0 */
        char kind[32];
        bool vlan_filtering; /* a bridge's */
        unsigned vlan_id;    /* a VLAN device's */
        char alias[128];
} LinkInfo;

static int link_info_cb(struct ifinfomsg *i, struct rtattr **tb, void *userdata)
{
        LinkInfo *l = userdata;

        l->ifindex = i->ifi_index;
        if (tb[IFLA_IFALIAS])
                (void) snprintf(l->alias, sizeof(l->alias), "%.*s",
                        (int) strnlen(RTA_DATA(tb[IFLA_IFALIAS]), RTA_PAYLOAD(tb[IFLA_IFALIAS])),
                        (const char *) RTA_DATA(tb[IFLA_IFALIAS]));
        if (tb[IFLA_LINK] && RTA_PAYLOAD(tb[IFLA_LINK]) >= sizeof(uint32_t))
                l->link = (int) *(uint32_t *) RTA_DATA(tb[IFLA_LINK]);
        if (tb[IFLA_LINKINFO]) {
                int len = (int) RTA_PAYLOAD(tb[IFLA_LINKINFO]);

                for (struct rtattr *a = RTA_DATA(tb[IFLA_LINKINFO]); RTA_OK(a, len); a = RTA_NEXT(a, len))
                        if (a->rta_type == IFLA_INFO_KIND)
                                (void) snprintf(l->kind, sizeof(l->kind), "%.*s", (int) RTA_PAYLOAD(a),
                                        (const char *) RTA_DATA(a));
                len = (int) RTA_PAYLOAD(tb[IFLA_LINKINFO]);
                for (struct rtattr *a = RTA_DATA(tb[IFLA_LINKINFO]); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                        int dlen = (int) RTA_PAYLOAD(a);

                        if (a->rta_type != IFLA_INFO_DATA)
                                continue;
                        for (struct rtattr *d = RTA_DATA(a); RTA_OK(d, dlen); d = RTA_NEXT(d, dlen)) {
                                if (streq(l->kind, "bridge") && d->rta_type == IFLA_BR_VLAN_FILTERING &&
                                    RTA_PAYLOAD(d) >= 1)
                                        l->vlan_filtering = *(uint8_t *) RTA_DATA(d) != 0;
                                if (streq(l->kind, "vlan") && d->rta_type == IFLA_VLAN_ID && RTA_PAYLOAD(d) >= 2)
                                        l->vlan_id = *(uint16_t *) RTA_DATA(d);
                        }
                }
        }
        return 0;
}

/* The link's index and kind ("bridge", "veth", "" for a physical NIC), asked of
 * the kernel in this network namespace. */
static int link_info(const char *name, LinkInfo *ret)
{
        NlRequest req;
        int r;

        if (strlen(name) >= ZONE_IFNAMSIZ)
                return -EINVAL;
        nl_request_init(&req, RTM_GETLINK, 0);
        if (!nla_put(&req, IFLA_IFNAME, name, strlen(name) + 1))
                return -ENOBUFS;
        *ret = (LinkInfo) {};
        r = nl_talk(&req, link_info_cb, ret);
        if (r < 0)
                return r;
        return ret->ifindex > 0 ? 0 : -ENODEV;
}

int zone_anet_lower_link(const ZoneResource *anet, const char *default_link, ZoneLowerLink *ret, KzError *e)
{
        const char *id = zone_resource_get(anet, "id") ?: "0";
        const char *name = zone_resource_get(anet, "lower-link");
        ZoneLowerLink l = {};
        LinkInfo info;
        int r;

        if (!name || streq(name, "auto")) {
                l.automatic = true;
                if (default_link)
                        name = default_link;
                else {
                        r = zone_default_route_link(NULL, NULL, l.name);
                        if (r < 0)
                                return kz_error_set(e, ENETUNREACH, "anet %s: lower-link=auto, but this host has no "
                                        "default route to take a link from. Set lower-link to a bridge or a network "
                                        "interface with zonecfg, or DefaultLowerLink= for all zones (see "
                                        "kzones-zone.xml(5)).", id);
                        name = l.name;
                }
        }
        if (strlen(name) >= ZONE_IFNAMSIZ)
                return kz_error_set(e, EINVAL, "anet %s: '%s' is not a network interface name.", id, name);
        if (name != l.name)
                strcpy(l.name, name);
        r = link_info(l.name, &info);
        if (r == -ENODEV)
                return kz_error_set(e, ENODEV, "anet %s: lower-link '%s'%s does not exist on this host.", id, l.name,
                        l.automatic ? (default_link ? " (DefaultLowerLink=)" : " (the default route's)") : "");
        if (r < 0)
                return kz_error_set(e, r, "anet %s: cannot look at link '%s': %s.", id, l.name, strerror(-r));
        l.ifindex = info.ifindex;
        l.vlan_filtering = info.vlan_filtering;
        if (streq(info.kind, "bridge"))
                l.kind = ZONE_LINK_BRIDGE;
        else if (streq(info.kind, "macvtap") || streq(info.kind, "tun") || streq(info.kind, "macvlan"))
                return kz_error_set(e, EINVAL, "anet %s: lower-link '%s' is a %s device; name a bridge or the "
                        "physical link the zone's VNIC is made on.", id, l.name, info.kind);
        else
                l.kind = ZONE_LINK_MACVTAP;
        *ret = l;
        return 0;
}

/* ---- taps and macvtaps ---- */

static uint32_t name_hash(const char *zone, unsigned salt)
{
        uint32_t h = 2166136261u; /* FNV-1a */

        for (const char *p = zone; *p; p++)
                h = (h ^ (uint8_t) *p) * 16777619u;
        return (h ^ salt) & 0xffffff;
}

static void set_ifname(struct ifreq *ifr, const char *name)
{
        memset(ifr->ifr_name, 0, IFNAMSIZ);
        memcpy(ifr->ifr_name, name, strnlen(name, IFNAMSIZ - 1));
}

/* A tap on the bridge, owned by the returned fd: it goes when QEMU exits. */
static int bridge_port_vlans(const ZoneResource *anet, const ZoneLowerLink *l, int port, const char *tap, KzError *e);

static int tap_open(const char *zone, const ZoneResource *anet, const ZoneLowerLink *l, KzError *e)
{
        const char *id = zone_resource_get(anet, "id") ?: "0";

        for (unsigned salt = 0;; salt += 0x9e3779) {
                _cleanup_close_ int fd = -EBADF, s = -EBADF;
                struct ifreq ifr = {};
                char tap[IFNAMSIZ + 8];
                int index;

                /* kz + 6 hex digits of the zone name's hash + . + anet id (at most 5 digits) */
                (void) snprintf(tap, IFNAMSIZ, "kz%06x.%s", name_hash(zone, salt), id);
                fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
                if (fd < 0)
                        return kz_error_set(e, errno, "anet %s: cannot open /dev/net/tun: %m.", id);
                ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
                set_ifname(&ifr, tap);
                if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                        if (errno == EBUSY && salt < 16 * 0x9e3779)
                                continue; /* another zone's tap has this name: try another */
                        return kz_error_set(e, errno, "anet %s: cannot create tap %s: %m.", id, tap);
                }
                s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (s < 0)
                        return -errno;
                memset(&ifr, 0, sizeof(ifr));
                set_ifname(&ifr, tap);
                if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
                        return -errno;
                ifr.ifr_flags |= IFF_UP;
                if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                        return kz_error_set(e, errno, "anet %s: cannot bring tap %s up: %m.", id, tap);
                if (ioctl(s, SIOCGIFINDEX, &ifr) < 0)
                        return -errno;
                index = ifr.ifr_ifindex;
                memset(&ifr, 0, sizeof(ifr));
                set_ifname(&ifr, l->name);
                ifr.ifr_ifindex = index;
                if (ioctl(s, SIOCBRADDIF, &ifr) < 0)
                        return kz_error_set(e, errno, "anet %s: cannot add tap %s to bridge '%s': %m.", id, tap,
                                l->name);
                if (bridge_port_vlans(anet, l, index, tap, e) < 0)
                        return -e->error;
                return TAKE_FD(fd);
        }
}

static int parse_mac(const char *s, uint8_t mac[6])
{
        unsigned o[6];

        if (sscanf(s, "%x:%x:%x:%x:%x:%x", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5]) != 6)
                return -EINVAL;
        for (size_t i = 0; i < 6; i++) {
                if (o[i] > 0xff)
                        return -EINVAL;
                mac[i] = (uint8_t) o[i];
        }
        return 0;
}

typedef struct LinkList {
        LinkInfo *l;
        size_t n;
} LinkList;

static int link_list_cb(struct ifinfomsg *i, struct rtattr **tb, void *userdata)
{
        LinkList *list = userdata;
        LinkInfo *t;

        if (list->n >= 4096)
                return -E2BIG;
        t = realloc(list->l, (list->n + 1) * sizeof(LinkInfo));
        if (!t)
                return -ENOMEM;
        list->l = t;
        t[list->n] = (LinkInfo) {};
        (void) link_info_cb(i, tb, &t[list->n]);
        list->n++;
        return 0;
}

/* Every link of this network namespace. */
static int links_dump(LinkList *ret)
{
        NlRequest req;
        int r;

        *ret = (LinkList) {};
        nl_request_init(&req, RTM_GETLINK, NLM_F_DUMP);
        r = nl_talk(&req, link_list_cb, ret);
        if (r < 0) {
                free(ret->l);
                *ret = (LinkList) {};
        }
        return r;
}

static int link_delete(int ifindex)
{
        NlRequest req;

        nl_request_init(&req, RTM_DELLINK, NLM_F_ACK);
        req.i.ifi_index = ifindex;
        return nl_talk(&req, NULL, NULL);
}

static int macvtap_create(const char *name, int parent, const uint8_t mac[6], const char *alias)
{
        struct rtattr *linkinfo, *data;
        uint32_t mode = MACVLAN_MODE_BRIDGE, link = (uint32_t) parent;
        NlRequest req;
        int r;

        nl_request_init(&req, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
        req.i.ifi_flags = IFF_UP;
        req.i.ifi_change = IFF_UP;
        if (!nla_put(&req, IFLA_IFNAME, name, strlen(name) + 1) || !nla_put(&req, IFLA_LINK, &link, sizeof(link)) ||
            !nla_put(&req, IFLA_ADDRESS, mac, 6) || !(linkinfo = nla_put(&req, IFLA_LINKINFO, NULL, 0)) ||
            !nla_put(&req, IFLA_INFO_KIND, "macvtap", strlen("macvtap")) ||
            !(data = nla_put(&req, IFLA_INFO_DATA, NULL, 0)) ||
            !nla_put(&req, IFLA_MACVLAN_MODE, &mode, sizeof(mode)))
                return -ENOBUFS;
        nla_nest_end(&req, data);
        nla_nest_end(&req, linkinfo);
        r = nl_talk(&req, NULL, NULL);
        if (r < 0)
                return r;
        /* the label that says whose it is (a new link takes no alias) */
        {
                LinkInfo info;

                r = link_info(name, &info);
                if (r < 0)
                        return r;
                nl_request_init(&req, RTM_NEWLINK, NLM_F_ACK);
                req.i.ifi_index = info.ifindex;
                if (!nla_put(&req, IFLA_IFALIAS, alias, strlen(alias)))
                        return -ENOBUFS;
                r = nl_talk(&req, NULL, NULL);
                if (r < 0) {
                        (void) link_delete(info.ifindex);
                        return r;
                }
                return info.ifindex;
        }
}

static int read_devnum(const char *path, dev_t *ret)
{
        _cleanup_free_ char *buf = NULL;
        unsigned maj, min;

        if (read_virtual_file(path, 64, &buf) < 0 || sscanf(buf, "%u:%u", &maj, &min) != 2)
                return -ENOENT;
        *ret = makedev(maj, min);
        return 0;
}

/* The character device of macvtap NAME: sysfs has it, but a container's /sys may
 * show another network namespace's links; then a sysfs of our own network
 * namespace is mounted in a private mount namespace, just to read it. */
static int macvtap_devnum(const char *name, int ifindex, const char *rundir, dev_t *ret)
{
        _cleanup_free_ char *idx = NULL, *dev = NULL, *buf = NULL, *mnt = NULL;
        int p[2], status;
        pid_t pid;

        if (asprintf(&idx, "/sys/class/net/%s/ifindex", name) < 0 ||
            asprintf(&dev, "/sys/class/net/%s/macvtap/tap%d/dev", name, ifindex) < 0)
                return -ENOMEM;
        if (read_virtual_file(idx, 64, &buf) >= 0 && atoi(buf) == ifindex && read_devnum(dev, ret) >= 0)
                return 0;
        if (asprintf(&mnt, "%s/.sysfs", rundir) < 0)
                return -ENOMEM;
        if (mkdir(mnt, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                (void) close(p[0]);
                (void) close(p[1]);
                return -errno;
        }
        if (pid == 0) {
                _cleanup_free_ char *path = NULL;
                dev_t d;

                (void) close(p[0]);
                if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                    mount("sysfs", mnt, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
                    asprintf(&path, "%s/class/net/%s/macvtap/tap%d/dev", mnt, name, ifindex) < 0 ||
                    read_devnum(path, &d) < 0)
                        _exit(1);
                _exit(write(p[1], &d, sizeof(d)) == sizeof(d) ? 0 : 1);
        }
        (void) close(p[1]);
        {
                dev_t d;
                ssize_t n = read(p[0], &d, sizeof(d));

                (void) close(p[0]);
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                        ;
                (void) rmdir(mnt);
                if (n != sizeof(d) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        return -ENOENT;
                *ret = d;
        }
        return 0;
}

/* ---- VLANs ---- */

/* Adds (RTM_SETLINK) or removes (RTM_DELLINK) VLANs first..last on a bridge port. */
static int bridge_vlan(int port, int cmd, unsigned first, unsigned last, uint16_t flags)
{
        struct bridge_vlan_info v = { .flags = flags, .vid = (uint16_t) first };
        struct rtattr *spec;
        NlRequest req;

        nl_request_init(&req, cmd, NLM_F_ACK);
        req.i.ifi_family = AF_BRIDGE;
        req.i.ifi_index = port;
        if (!(spec = nla_put(&req, IFLA_AF_SPEC, NULL, 0)))
                return -ENOBUFS;
        if (first == last) {
                if (!nla_put(&req, IFLA_BRIDGE_VLAN_INFO, &v, sizeof(v)))
                        return -ENOBUFS;
        } else {
                struct bridge_vlan_info end = { .flags = flags | BRIDGE_VLAN_INFO_RANGE_END, .vid = (uint16_t) last };

                v.flags |= BRIDGE_VLAN_INFO_RANGE_BEGIN;
                if (!nla_put(&req, IFLA_BRIDGE_VLAN_INFO, &v, sizeof(v)) ||
                    !nla_put(&req, IFLA_BRIDGE_VLAN_INFO, &end, sizeof(end)))
                        return -ENOBUFS;
        }
        nla_nest_end(&req, spec);
        return nl_talk(&req, NULL, NULL);
}

/* Calls cb for each VLAN range the anet's nested vlan resources allow (tagged). */
static int anet_tagged_vlans(const ZoneResource *anet, int (*cb)(unsigned first, unsigned last, void *userdata),
                void *userdata)
{
        const ResourceType *vt = resource_type_child(anet->type, "vlan");

        for (size_t i = 0; vt && i < anet->n_children; i++) {
                const ZoneResource *v = anet->children[i];
                const char *vid = zone_resource_get(v, "vlan-id"), *allowed = zone_resource_get(v, "allowed-vlan-ids");
                int r;

                if (v->type != vt)
                        continue;
                if (vid && (r = cb((unsigned) atoi(vid), (unsigned) atoi(vid), userdata)) < 0)
                        return r;
                if (allowed) {
                        _cleanup_free_ char *copy = strdup(allowed);
                        char *save = NULL;

                        if (!copy)
                                return -ENOMEM;
                        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                                unsigned a = 1, b = 4094;

                                if (!streq(t, "any") && sscanf(t, "%u-%u", &a, &b) < 2)
                                        b = a;
                                if ((r = cb(a, b, userdata)) < 0)
                                        return r;
                        }
                }
        }
        return 0;
}

typedef struct PortVlans {
        int port;
        unsigned n;
} PortVlans;

static int port_tagged_cb(unsigned first, unsigned last, void *userdata)
{
        PortVlans *p = userdata;

        p->n++;
        return p->port > 0 ? bridge_vlan(p->port, RTM_SETLINK, first, last, 0) : 0;
}

/* vlan-id: the port's untagged VLAN (PVID); nested vlans: tagged VLANs of the port.
 * Both need a bridge that filters VLANs. */
static int bridge_port_vlans(const ZoneResource *anet, const ZoneLowerLink *l, int port, const char *tap, KzError *e)
{
        const char *id = zone_resource_get(anet, "id") ?: "0", *vid = zone_resource_get(anet, "vlan-id");
        PortVlans count = {};
        int r;

        (void) anet_tagged_vlans(anet, port_tagged_cb, &count);
        if (!vid && count.n == 0)
                return 0;
        if (!l->vlan_filtering)
                return kz_error_set(e, EOPNOTSUPP, "anet %s: VLANs on bridge '%s' need VLAN filtering on it "
                        "(ip link set %s type bridge vlan_filtering 1, or VLANFiltering=yes in systemd.netdev).", id,
                        l->name, l->name);
        if (vid) {
                unsigned v = (unsigned) atoi(vid);

                r = bridge_vlan(port, RTM_SETLINK, v, v, BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED);
                if (r < 0)
                        return kz_error_set(e, r, "anet %s: cannot put tap %s on VLAN %u: %s.", id, tap, v,
                                strerror(-r));
                if (v != 1)
                        (void) bridge_vlan(port, RTM_DELLINK, 1, 1, 0); /* the bridge's default VLAN */
        }
        count = (PortVlans) { .port = port };
        r = anet_tagged_vlans(anet, port_tagged_cb, &count);
        if (r < 0)
                return kz_error_set(e, r, "anet %s: cannot add the tagged VLANs to tap %s: %s.", id, tap, strerror(-r));
        return 0;
}

/* The VLAN device for VLAN vid on link: an existing one, or one made for zones
 * (named kzvIFINDEX.VID, labelled "kzones vlan", removed with its last zone). */
static int vlan_device(const ZoneLowerLink *l, unsigned vid, KzError *e, const char *id)
{
        LinkList list;
        struct rtattr *linkinfo, *data;
        uint32_t link = (uint32_t) l->ifindex;
        uint16_t v = (uint16_t) vid;
        char name[ZONE_IFNAMSIZ];
        LinkInfo info;
        NlRequest req;
        int r;

        r = links_dump(&list);
        if (r < 0)
                return kz_error_set(e, r, "anet %s: cannot list the host's links: %s.", id, strerror(-r));
        for (size_t i = 0; i < list.n; i++)
                if (streq(list.l[i].kind, "vlan") && list.l[i].link == l->ifindex && list.l[i].vlan_id == vid) {
                        r = list.l[i].ifindex;
                        free(list.l);
                        return r;
                }
        free(list.l);
        (void) snprintf(name, sizeof(name), "kzv%d.%u", l->ifindex, vid);
        nl_request_init(&req, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
        req.i.ifi_flags = IFF_UP;
        req.i.ifi_change = IFF_UP;
        if (!nla_put(&req, IFLA_IFNAME, name, strlen(name) + 1) || !nla_put(&req, IFLA_LINK, &link, sizeof(link)) ||
            !(linkinfo = nla_put(&req, IFLA_LINKINFO, NULL, 0)) || !nla_put(&req, IFLA_INFO_KIND, "vlan", 4) ||
            !(data = nla_put(&req, IFLA_INFO_DATA, NULL, 0)) || !nla_put(&req, IFLA_VLAN_ID, &v, sizeof(v)))
                return -ENOBUFS;
        nla_nest_end(&req, data);
        nla_nest_end(&req, linkinfo);
        r = nl_talk(&req, NULL, NULL);
        if (r >= 0)
                r = link_info(name, &info);
        if (r == -EOPNOTSUPP)
                return kz_error_set(e, r, "anet %s: cannot make VLAN %u on '%s': this host's kernel has no 802.1Q "
                        "VLAN devices (module 8021q).", id, vid, l->name);
        if (r < 0)
                return kz_error_set(e, r, "anet %s: cannot make VLAN %u on '%s': %s.", id, vid, l->name, strerror(-r));
        nl_request_init(&req, RTM_NEWLINK, NLM_F_ACK);
        req.i.ifi_index = info.ifindex;
        if (nla_put(&req, IFLA_IFALIAS, "kzones vlan", strlen("kzones vlan")))
                (void) nl_talk(&req, NULL, NULL);
        return info.ifindex;
}

static int no_tagged_cb(unsigned first, unsigned last, void *userdata)
{
        return -EOPNOTSUPP;
}

/* A macvtap of its own on the link (or on its VLAN device), with the anet's MAC.
 * Its device node is made in /dev under a name of ours (no udev needed, and no
 * race with it: /run is mounted nodev), opened, and unlinked. */
static int macvtap_open(const char *zone, const ZoneResource *anet, const ZoneLowerLink *l, const char *mac_s,
                const char *rundir, KzError *e)
{
        const char *id = zone_resource_get(anet, "id") ?: "0", *vid = zone_resource_get(anet, "vlan-id");
        _cleanup_free_ char *alias = NULL, *node = NULL;
        LinkList list;
        uint8_t mac[6];
        char name[ZONE_IFNAMSIZ];
        int parent = l->ifindex, ifindex = -1, fd, r;
        dev_t dev;

        if (parse_mac(mac_s, mac) < 0)
                return kz_error_set(e, EINVAL, "anet %s: '%s' is not a MAC address.", id, mac_s);
        if (anet_tagged_vlans(anet, no_tagged_cb, NULL) < 0)
                return kz_error_set(e, EOPNOTSUPP, "anet %s: tagged VLANs (vlan resources) need a bridge as "
                        "lower-link; '%s' gets a macvtap, which carries the anet's own vlan-id only.", id, l->name);
        if (asprintf(&alias, ALIAS_PREFIX "%s anet %s", zone, id) < 0)
                return -ENOMEM;
        /* one left by this zone's last run (the launcher killed before it could clean up) */
        if (links_dump(&list) >= 0) {
                for (size_t i = 0; i < list.n; i++)
                        if (streq(list.l[i].alias, alias))
                                (void) link_delete(list.l[i].ifindex);
                free(list.l);
        }
        if (vid) {
                parent = vlan_device(l, (unsigned) atoi(vid), e, id);
                if (parent < 0)
                        return parent;
        }
        for (unsigned salt = 0; salt < 16 * 0x9e3779; salt += 0x9e3779) {
                (void) snprintf(name, sizeof(name), "kzm%06x.%s", name_hash(zone, salt), id);
                ifindex = macvtap_create(name, parent, mac, alias);
                if (ifindex != -EEXIST)
                        break;
        }
        if (ifindex == -EADDRINUSE || ifindex == -ENOTUNIQ)
                return kz_error_set(e, -ifindex, "anet %s: another interface on '%s' has the MAC address %s already "
                        "(is this zone running elsewhere, or does another anet have its mac-address?).", id, l->name,
                        mac_s);
        if (ifindex < 0)
                return kz_error_set(e, -ifindex, "anet %s: cannot make a macvtap on '%s': %s.", id, l->name,
                        strerror(-ifindex));
        r = macvtap_devnum(name, ifindex, rundir, &dev);
        if (r < 0) {
                (void) link_delete(ifindex);
                return kz_error_set(e, r, "anet %s: cannot find the device of macvtap %s on '%s'.", id, name,
                        l->name);
        }
        if (asprintf(&node, "/dev/.kzones-tap%d", ifindex) < 0) {
                (void) link_delete(ifindex);
                return -ENOMEM;
        }
        (void) unlink(node);
        if (mknod(node, S_IFCHR | 0600, dev) < 0) {
                r = kz_error_set(e, errno, "anet %s: cannot make the device node %s: %m.", id, node);
                (void) link_delete(ifindex);
                return r;
        }
        fd = open(node, O_RDWR | O_CLOEXEC | O_NOCTTY);
        r = -errno;
        (void) unlink(node);
        if (fd < 0) {
                (void) link_delete(ifindex);
                return kz_error_set(e, r, "anet %s: cannot open macvtap %s: %s.", id, name, strerror(-r));
        }
        return fd;
}

int zone_anet_open(const char *zone, const ZoneResource *anet, const ZoneLowerLink *l, const char *mac,
                const char *rundir, KzError *e)
{
        switch (l->kind) {
        case ZONE_LINK_BRIDGE:
                return tap_open(zone, anet, l, e);
        case ZONE_LINK_MACVTAP:
                return macvtap_open(zone, anet, l, mac, rundir, e);
        case _ZONE_LINK_KIND_MAX:
        case _ZONE_LINK_KIND_INVALID:
                break;
        }
        return -EINVAL;
}

/* Removes the links whose alias is match (prefix: starts with it), then the VLAN
 * devices made for zones that no link uses any more. */
static int links_cleanup(const char *match, bool prefix)
{
        LinkList list;
        int r;

        r = links_dump(&list);
        if (r < 0)
                return r;
        for (size_t i = 0; i < list.n; i++)
                if (prefix ? strncmp(list.l[i].alias, match, strlen(match)) == 0 : streq(list.l[i].alias, match)) {
                        int k = link_delete(list.l[i].ifindex);
                        if (k < 0 && k != -ENODEV && r >= 0)
                                r = k;
                        list.l[i].ifindex = 0;
                }
        /* the VLAN devices made for zones that no zone uses any more */
        for (size_t i = 0; i < list.n; i++) {
                bool used = false;

                if (!streq(list.l[i].alias, "kzones vlan") || list.l[i].ifindex <= 0)
                        continue;
                for (size_t j = 0; j < list.n && !used; j++)
                        used = list.l[j].ifindex > 0 && list.l[j].link == list.l[i].ifindex;
                if (!used)
                        (void) link_delete(list.l[i].ifindex);
        }
        free(list.l);
        return r;
}

int zone_net_cleanup(const char *zone)
{
        _cleanup_free_ char *prefix = NULL;

        if (asprintf(&prefix, ALIAS_PREFIX "%s anet ", zone) < 0)
                return -ENOMEM;
        return links_cleanup(prefix, true);
}

int zone_anet_cleanup(const char *zone, const ZoneResource *anet)
{
        _cleanup_free_ char *alias = NULL;

        if (asprintf(&alias, ALIAS_PREFIX "%s anet %s", zone, zone_resource_get(anet, "id") ?: "0") < 0)
                return -ENOMEM;
        return links_cleanup(alias, false);
}
