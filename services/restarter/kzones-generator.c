/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzones-generator: a systemd generator (systemd.generator(7)). For every installed
 * zone with autoboot=true it adds zone@NAME.service to multi-user.target's wants,
 * so the zone starts when the host boots; zones are stopped with the host like any
 * unit, in the way their autoshutdown property asks (see kzones-zone stop). */
#include <dirent.h>
#include <sys/stat.h>

#include "maintenance.h"
#include "zone-store.h"

static const char *arg_root = "";

static int want_zone(const char *dir, const char *name)
{
        _cleanup_free_ char *wants = NULL, *link = NULL, *target = NULL;

        if (asprintf(&wants, "%s/multi-user.target.wants", dir) < 0 || asprintf(&link, "%s/zone@%s.service", wants, name) < 0 ||
            asprintf(&target, KZONES_SYSTEMUNITDIR "/zone@.service") < 0)
                return -ENOMEM;
        if (mkdir(wants, 0755) < 0 && errno != EEXIST)
                return -errno;
        /* a link to the template, named for the instance: systemd's own way of enabling one */
        if (symlink(target, link) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int main(int argc, char *argv[])
{
        _cleanup_free_ char *dir = NULL;
        ZoneIndexEntry *l = NULL;
        Maintenance maintenance = {};
        size_t n = 0;
        KzError e = {};
        int r, ret = 0;

        if (argc != 2 && argc != 4) {
                fprintf(stderr, "kzones-generator: expected NORMAL [EARLY LATE] directories\n");
                return 1;
        }
        if (getenv("KZONES_ROOT"))
                arg_root = getenv("KZONES_ROOT");
        /* a host in maintenance mode ('sysadm maintain -s') boots no zone, autoboot or not;
         * an unreadable record counts as maintenance, as in the restarter */
        r = maintenance_read(arg_root, &maintenance, &e);
        maintenance_done(&maintenance);
        if (r != 0) {
                fprintf(stderr, "kzones-generator: %s: no zone is started at boot\n",
                        r > 0 ? "this host is in maintenance mode" : kz_error_message(&e, r));
                return 0;
        }
        r = zone_index_read(arg_root, &l, &n, &e);
        if (r < 0) {
                fprintf(stderr, "kzones-generator: %s\n", kz_error_message(&e, r));
                return 0; /* a broken index must not break the boot */
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
                KzError le = {};

                if (l[i].state != ZONE_STATE_INSTALLED)
                        continue;
                r = zone_store_load(arg_root, l[i].name, &c, &le);
                if (r < 0) {
                        fprintf(stderr, "kzones-generator: zone '%s': %s\n", l[i].name, kz_error_message(&le, r));
                        continue;
                }
                if (!streq_ptr(zone_resource_get(c->root, "autoboot"), "true") || !streq_ptr(zone_config_brand(c), "kz"))
                        continue;
                r = want_zone(argv[1], l[i].name);
                if (r < 0) {
                        fprintf(stderr, "kzones-generator: zone '%s': %s\n", l[i].name, strerror(-r));
                        ret = 1;
                }
        }
        zone_index_free(l, n);
        (void) dir;
        return ret;
}
