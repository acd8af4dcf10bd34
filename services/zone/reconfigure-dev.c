/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Disks and NICs added to and removed from a running zone (reconfigure.h): what the
 * launcher does for each at boot, for one, through QMP. Each change undoes itself
 * when a step fails, so a failure leaves QEMU and the host as they were. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "qmp.h"
#include "reconfigure.h"
#include "strv.h"
#include "zone-net.h"
#include "zone.h"

#define POLL_USEC (50u * 1000u)
#define BLOCKDEV_DEL_TIMEOUT_USEC (2u * 1000000u)

/* {"k1": "v1", …}, pairs of strings up to a NULL key; NULL on ENOMEM. */
static json_object *args_new(const char *key, ...)
{
        json_object *a = json_object_new_object();
        va_list ap;

        if (!a)
                return NULL;
        va_start(ap, key);
        for (const char *k = key; k; k = va_arg(ap, const char *)) {
                const char *v = va_arg(ap, const char *);
                json_object *s = json_object_new_string(v);

                if (!s || json_object_object_add(a, k, s) < 0) {
                        json_object_put(s);
                        json_object_put(a);
                        a = NULL;
                        break;
                }
        }
        va_end(ap);
        return a;
}

/* A command whose reply does not matter (undoing a step): its error is not ours to report. */
static void execute_quietly(QmpSync *q, const char *command, json_object *args)
{
        _cleanup_free_ char *err = NULL;

        if (args)
                (void) qmp_sync_execute(q, command, args, NULL, &err);
}

/* The names under a QOM path (qom-list), as a list. */
static int qom_names(QmpSync *q, const char *path, char ***ret, KzError *e)
{
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *err = NULL;
        json_object *reply = NULL, *a = args_new("path", path, NULL);
        int r;

        if (!a)
                return -ENOMEM;
        r = qmp_sync_execute(q, "qom-list", a, &reply, &err);
        if (r < 0)
                return kz_error_set(e, r, "QEMU did not list %s: %s.", path, err ?: strerror(-r));
        for (size_t i = 0; json_object_is_type(reply, json_type_array) && i < json_object_array_length(reply); i++) {
                json_object *name;

                if (json_object_object_get_ex(json_object_array_get_idx(reply, i), "name", &name) &&
                    strv_add_unique(&l, json_object_get_string(name)) < 0) {
                        json_object_put(reply);
                        return -ENOMEM;
                }
        }
        json_object_put(reply);
        *ret = TAKE_PTR(l);
        return 0;
}

static int peripheral_has(QmpSync *q, const char *id, bool *ret, KzError *e)
{
        _cleanup_strv_free_ char **l = NULL;
        int r = qom_names(q, "/machine/peripheral", &l, e);

        if (r < 0)
                return r;
        *ret = strv_contains(l, id);
        return 0;
}

/* The first PCIe root port made for hot-plugging whose slot is empty (its bus has no
 * child), in port order. */
static int free_port(QmpSync *q, const char *what, char ret[32], KzError *e)
{
        _cleanup_strv_free_ char **l = NULL;
        unsigned n = 0;
        int r;

        r = qom_names(q, "/machine/peripheral", &l, e);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < ZONE_HOTPLUG_PORTS_MAX; i++) {
                _cleanup_strv_free_ char **children = NULL;
                char port[32], path[96];
                bool used = false;

                (void) snprintf(port, sizeof(port), ZONE_HOTPLUG_PORT "%u", i);
                if (!strv_contains(l, port))
                        break;
                n++;
                (void) snprintf(path, sizeof(path), "/machine/peripheral/%s/%s", port, port);
                r = qom_names(q, path, &children, e);
                if (r < 0)
                        return r;
                for (char **c = children; c && *c && !used; c++)
                        used = startswith(*c, "child[") != NULL;
                if (!used) {
                        strcpy(ret, port);
                        return 0;
                }
        }
        if (n == 0)
                return kz_error_set(e, EOPNOTSUPP, "%s: the zone was booted without PCIe ports for hot-plugging; "
                        "reboot it to add it.", what);
        return kz_error_set(e, ENOSPC, "%s: all %u PCIe ports of the zone for hot-plugging are taken (one for "
                "each disk and NIC, and %u more, made at boot); reboot the zone to add it.", what, n,
                ZONE_HOTPLUG_SPARE_PORTS);
}

/* device_del, then the guest's release: the device's id leaves /machine/peripheral
 * (QEMU sends DEVICE_DELETED then). Bounded by RECONFIGURE_UNPLUG_TIMEOUT_USEC. */
static int unplug(QmpSync *q, const char *what, const char *id, KzError *e)
{
        _cleanup_free_ char *err = NULL;
        json_object *a = args_new("id", id, NULL);
        uint64_t deadline;
        bool present;
        int r;

        if (!a)
                return -ENOMEM;
        r = qmp_sync_execute(q, "device_del", a, NULL, &err);
        /* asked before (a removal that timed out): the guest has still to release it */
        if (r < 0 && !(err && strstr(err, "already in the process of unplug")))
                return kz_error_set(e, r, "%s: QEMU cannot unplug it: %s.", what, err ?: strerror(-r));
        for (deadline = now_usec() + RECONFIGURE_UNPLUG_TIMEOUT_USEC;; (void) usleep(POLL_USEC)) {
                r = peripheral_has(q, id, &present, e);
                if (r < 0)
                        return r;
                if (!present)
                        return 0;
                if (now_usec() > deadline)
                        return kz_error_set(e, ETIMEDOUT, "%s: the guest did not release it within %u s (it must "
                                "support PCI hot-plug); it stays in the zone.", what,
                                RECONFIGURE_UNPLUG_TIMEOUT_USEC / 1000000u);
        }
}

/* The ID of a name PREFIX ID "-dev" (ID: digits), or NULL. */
static char *id_of(const char *name, const char *prefix)
{
        const char *p = startswith(name, prefix), *end;

        if (!p)
                return NULL;
        end = p + strspn(p, "0123456789");
        if (end == p || !streq(end, "-dev"))
                return NULL;
        return strndup(p, (size_t) (end - p));
}

int reconfigure_read_devices(QmpSync *q, char ***ret_devices, char ***ret_anets, KzError *e)
{
        _cleanup_strv_free_ char **l = NULL, **devices = NULL, **anets = NULL;
        int r;

        r = qom_names(q, "/machine/peripheral", &l, e);
        if (r < 0)
                return r;
        for (char **n = l; n && *n; n++) {
                _cleanup_free_ char *d = id_of(*n, "disk"), *a = id_of(*n, "net");

                if ((d && strv_add_unique(&devices, d) < 0) || (a && strv_add_unique(&anets, a) < 0))
                        return -ENOMEM;
        }
        *ret_devices = TAKE_PTR(devices);
        *ret_anets = TAKE_PTR(anets);
        return 0;
}

/* ---- devices ------------------------------------------------------------------------------- */

static unsigned long device_bootpri(const ZoneResource *d)
{
        return strtoul(zone_resource_get(d, "bootpri") ?: "65536", NULL, 10);
}

static unsigned long device_id(const ZoneResource *d)
{
        return strtoul(zone_resource_get(d, "id") ?: "0", NULL, 10);
}

/* Whether d would come first in the boot order of live's devices (zone_devices_sorted()'s
 * order), i.e. become the boot device; d may be in live already. */
static bool would_boot_first(const ZoneConfig *live, const ZoneResource *d)
{
        const ResourceType *t = resource_type_child(zone_type(), "device");

        for (size_t i = 0; i < live->root->n_children; i++) {
                const ZoneResource *o = live->root->children[i];

                if (o->type != t || o == d || device_id(o) == device_id(d))
                        continue;
                if (device_bootpri(o) < device_bootpri(d) ||
                    (device_bootpri(o) == device_bootpri(d) && device_id(o) < device_id(d)))
                        return false;
        }
        return true;
}

/* The fdset whose descriptors carry opaque (the boot's "diskID", or ours), or -1. */
static int64_t fdset_of(QmpSync *q, const char *opaque)
{
        json_object *reply = NULL;
        _cleanup_free_ char *err = NULL;
        int64_t found = -1;

        if (qmp_sync_execute(q, "query-fdsets", NULL, &reply, &err) < 0)
                return -1;
        for (size_t i = 0; json_object_is_type(reply, json_type_array) && i < json_object_array_length(reply) &&
                           found < 0; i++) {
                json_object *set = json_object_array_get_idx(reply, i), *id, *fds, *o;

                if (!json_object_object_get_ex(set, "fdset-id", &id) || !json_object_object_get_ex(set, "fds", &fds))
                        continue;
                for (size_t j = 0; j < json_object_array_length(fds); j++)
                        if (json_object_object_get_ex(json_object_array_get_idx(fds, j), "opaque", &o) &&
                            streq(json_object_get_string(o), opaque))
                                found = json_object_get_int64(id);
        }
        json_object_put(reply);
        return found;
}

static void fdset_remove(QmpSync *q, int64_t fdset)
{
        json_object *a = json_object_new_object();

        if (fdset < 0 || !a || json_object_object_add(a, "fdset-id", json_object_new_int64(fdset)) < 0) {
                json_object_put(a);
                return;
        }
        execute_quietly(q, "remove-fd", a);
}

/* blockdev-del of node: QEMU may still hold it for a moment after the device went. */
static int blockdev_del(QmpSync *q, const char *node, char **ret_error)
{
        for (uint64_t deadline = now_usec() + BLOCKDEV_DEL_TIMEOUT_USEC;; (void) usleep(POLL_USEC)) {
                json_object *a = args_new("node-name", node, NULL);
                int r;

                if (!a)
                        return -ENOMEM;
                free(*ret_error);
                *ret_error = NULL;
                r = qmp_sync_execute(q, "blockdev-del", a, NULL, ret_error);
                if (r >= 0 || !*ret_error || !strstr(*ret_error, "in use") || now_usec() > deadline)
                        return r;
        }
}

/* What a disk that is no longer plugged left in QEMU: its block node and its fdset (a
 * removal that timed out, and the guest released the disk later). */
static void disk_leftovers_remove(QmpSync *q, const char *node)
{
        _cleanup_free_ char *err = NULL;

        (void) blockdev_del(q, node, &err);
        fdset_remove(q, fdset_of(q, node));
}

int reconfigure_device_add(QmpSync *q, const char *zone, const ZoneConfig *live, const ZoneResource *device,
                KzError *e)
{
        _cleanup_free_ char *bd = NULL, *err = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *id = zone_resource_get(device, "id") ?: "0";
        char what[64], node[32], dev[40], serial[40], port[32];
        json_object *a, *reply = NULL, *v;
        int64_t fdset = -1;
        bool present;
        int r;

        (void) snprintf(what, sizeof(what), "device %s", id);
        (void) snprintf(node, sizeof(node), "disk%s", id);
        (void) snprintf(dev, sizeof(dev), "%s-dev", node);
        (void) snprintf(serial, sizeof(serial), "kz-%s", node);

        /* the first device in the boot order holds the zone's host data (its lease on
         * shared storage), claimed at boot and renewed while the zone runs: that one is
         * not changed under a running zone */
        if (would_boot_first(live, device))
                return kz_error_set(e, EBUSY, "%s would be the zone's boot device (the first in the boot order, "
                        "which holds the zone's host data): add it while the zone is not running, or give it a "
                        "bootpri after the boot device's.", what);
        r = peripheral_has(q, dev, &present, e);
        if (r < 0)
                return r;
        if (present)
                return kz_error_set(e, EEXIST, "%s: the zone has a disk with that id already.", what);
        disk_leftovers_remove(q, node);
        r = free_port(q, what, port, e);
        if (r < 0)
                return r;

        r = device_open_storage(live, device, &fd, e);
        if (r < 0)
                return r;
        if (fd >= 0) {
                /* QEMU gets its own copy of the descriptor; ours goes when we return */
                a = args_new("opaque", node, NULL);
                if (!a)
                        return -ENOMEM;
                r = qmp_sync_execute_fd(q, fd, "add-fd", a, &reply, &err);
                if (r >= 0 && json_object_object_get_ex(reply, "fdset-id", &v))
                        fdset = json_object_get_int64(v);
                json_object_put(reply);
                if (r < 0 || fdset < 0) {
                        fdset_remove(q, fdset);
                        return kz_error_set(e, r < 0 ? r : EIO, "%s: QEMU did not take its storage: %s.", what,
                                err ?: "no fdset");
                }
        }
        r = zone_device_blockdev_fdset_json(live, device, node, fd, fdset < 0 ? 0 : (unsigned) fdset, &bd, e);
        if (r < 0)
                goto fail_fdset;
        a = json_tokener_parse(bd);
        if (!a) {
                r = -ENOMEM;
                goto fail_fdset;
        }
        r = qmp_sync_execute(q, "blockdev-add", a, NULL, &err);
        if (r < 0) {
                r = kz_error_set(e, r, "%s: QEMU cannot open its storage %s: %s.", what,
                        strna(zone_resource_get(device, "storage")), err ?: strerror(-r));
                goto fail_fdset;
        }
        a = args_new("driver", "virtio-blk-pci", "drive", node, "id", dev, "serial", serial, "bus", port, NULL);
        if (!a) {
                r = -ENOMEM;
                goto fail_node;
        }
        r = qmp_sync_execute(q, "device_add", a, NULL, &err);
        if (r < 0) {
                r = kz_error_set(e, r, "%s: QEMU did not plug the disk in: %s.", what, err ?: strerror(-r));
                goto fail_node;
        }
        return 0;

fail_node:
        execute_quietly(q, "blockdev-del", args_new("node-name", node, NULL));
fail_fdset:
        fdset_remove(q, fdset);
        return r;
}

int reconfigure_device_remove(QmpSync *q, const char *zone, const ZoneConfig *live, const ZoneResource *device,
                KzError *e)
{
        _cleanup_free_ char *err = NULL;
        const char *id = zone_resource_get(device, "id") ?: "0";
        const ZoneResource *boot = zone_boot_device(live);
        char what[64], node[32], dev[40];
        bool present;
        int r;

        (void) snprintf(what, sizeof(what), "device %s", id);
        (void) snprintf(node, sizeof(node), "disk%s", id);
        (void) snprintf(dev, sizeof(dev), "%s-dev", node);

        if (boot && device_id(boot) == device_id(device))
                return kz_error_set(e, EBUSY, "%s is the zone's boot device, which holds its host data (the zone's "
                        "lease): it cannot be removed while the zone runs.", what);
        r = peripheral_has(q, dev, &present, e);
        if (r < 0)
                return r;
        if (present) {
                r = unplug(q, what, dev, e);
                if (r < 0)
                        return r;
        }
        /* the guest no longer sees the disk: what QEMU keeps of it goes (should that
         * fail, a later add of this id clears it) */
        r = blockdev_del(q, node, &err);
        if (r < 0 && err && !strstr(err, "Failed to find"))
                fprintf(stderr, "zone '%s': %s: QEMU keeps its block node %s: %s\n", zone, what, node, err);
        fdset_remove(q, fdset_of(q, node));
        return 0;
}

/* ---- anets --------------------------------------------------------------------------------- */

int reconfigure_anet_add(QmpSync *q, const char *zone, const ZoneConfig *live, const ZoneResource *anet, KzError *e)
{
        _cleanup_free_ char *rundir = NULL, *default_link = NULL, *err = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *id = zone_resource_get(anet, "id") ?: "0";
        char what[64], netdev[32], dev[40], port[32], mac[18];
        json_object *a;
        bool present;
        int r;

        (void) snprintf(what, sizeof(what), "anet %s", id);
        (void) snprintf(netdev, sizeof(netdev), "net%s", id);
        (void) snprintf(dev, sizeof(dev), "%s-dev", netdev);

        r = peripheral_has(q, dev, &present, e);
        if (r < 0)
                return r;
        if (present)
                return kz_error_set(e, EEXIST, "%s: the zone has a NIC with that id already.", what);
        /* a removal that timed out and that the guest completed later left its backend */
        execute_quietly(q, "netdev_del", args_new("id", netdev, NULL));
        r = free_port(q, what, port, e);
        if (r < 0)
                return r;

        rundir = run_dir(zone);
        if (!rundir)
                return -ENOMEM;
        r = zone_unit_setting(arg_root, zone, "DefaultLowerLink", &default_link);
        if (r < 0)
                return kz_error_set(e, r, "cannot read the zone unit's drop-ins: %s.", strerror(-r));
        fd = anet_make(zone, live, anet, default_link, rundir, e);
        if (fd < 0) {
                r = fd;
                goto fail_link;
        }
        r = qmp_sync_send_fd(q, fd, netdev, &err);
        if (r < 0) {
                r = kz_error_set(e, r, "%s: QEMU did not take its tap: %s.", what, err ?: strerror(-r));
                goto fail_fd;
        }
        a = args_new("type", "tap", "id", netdev, "fd", netdev, NULL);
        if (!a) {
                r = -ENOMEM;
                goto fail_fd;
        }
        r = qmp_sync_execute(q, "netdev_add", a, NULL, &err);
        if (r < 0) {
                r = kz_error_set(e, r, "%s: QEMU did not take its tap: %s.", what, err ?: strerror(-r));
                goto fail_fd;
        }
        zone_anet_mac(live, anet, mac);
        a = args_new("driver", "virtio-net-pci", "netdev", netdev, "id", dev, "mac", mac, "bus", port, NULL);
        if (!a) {
                r = -ENOMEM;
                goto fail_netdev;
        }
        r = qmp_sync_execute(q, "device_add", a, NULL, &err);
        if (r < 0) {
                r = kz_error_set(e, r, "%s: QEMU did not plug the NIC in: %s.", what, err ?: strerror(-r));
                goto fail_netdev;
        }
        return 0;

fail_netdev:
        execute_quietly(q, "netdev_del", args_new("id", netdev, NULL));
fail_fd:
        /* netdev_add takes the descriptor only when it succeeds */
        execute_quietly(q, "closefd", args_new("fdname", netdev, NULL));
fail_link:
        fd = safe_close_fd(fd); /* a tap goes with its last descriptor */
        (void) zone_anet_cleanup(zone, anet);
        return r;
}

int reconfigure_anet_remove(QmpSync *q, const char *zone, const ZoneConfig *live, const ZoneResource *anet,
                KzError *e)
{
        _cleanup_free_ char *err = NULL;
        const char *id = zone_resource_get(anet, "id") ?: "0";
        char what[64], netdev[32], dev[40];
        json_object *a;
        bool present;
        int r;

        (void) snprintf(what, sizeof(what), "anet %s", id);
        (void) snprintf(netdev, sizeof(netdev), "net%s", id);
        (void) snprintf(dev, sizeof(dev), "%s-dev", netdev);

        r = peripheral_has(q, dev, &present, e);
        if (r < 0)
                return r;
        if (present) {
                r = unplug(q, what, dev, e);
                if (r < 0)
                        return r;
        }
        /* the backend closes QEMU's tap descriptor: a tap goes with it */
        a = args_new("id", netdev, NULL);
        if (!a)
                return -ENOMEM;
        r = qmp_sync_execute(q, "netdev_del", a, NULL, &err);
        if (r < 0 && err && !strstr(err, "not found"))
                fprintf(stderr, "zone '%s': %s: QEMU keeps its backend %s: %s\n", zone, what, netdev, err);
        /* the guest has no such NIC any more: a macvtap that cannot go is said, not failed */
        r = zone_anet_cleanup(zone, anet);
        if (r < 0)
                fprintf(stderr, "zone '%s': %s: cannot remove its macvtap: %s\n", zone, what, strerror(-r));
        return 0;
}
