/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Maintenance mode ('sysadm maintain -s'): kzones-evacuated owns it and writes
 * MAINTENANCE_FILE; the restarter reads that file when a zone would attach, boot or
 * migrate in, and refuses while it exists. Reading the file rather than asking
 * org.kzones.Evacuation1 keeps the check synchronous, cheap and independent of
 * whether kzones-evacuated runs (it is bus-activated), and a maintenance started
 * before a reboot holds from the first boot request on (docs/evacuation.md). */
#include "log.h"
#include "maintenance.h"
#include "restarter.h"

int maintenance_check(Manager *m, const char *zone, const char *what, sd_bus_error *error)
{
        _cleanup_free_ char *about = NULL;
        Maintenance s = {};
        KzError e = {};
        int r;

        r = maintenance_read(m->root, &s, &e);
        if (r == 0)
                return 0;
        if (r < 0) {
                /* an unreadable record must not let zones in behind the administrator's back */
                log_error("%s", kz_error_message(&e, r));
                return sd_bus_error_setf(error, KZ_ERROR_MAINTENANCE,
                        "cannot tell whether this host is in maintenance mode (%s); refusing to %s",
                        kz_error_message(&e, r), what);
        }
        about = maintenance_describe(&s);
        maintenance_done(&s);
        log_notice("zone '%s': %s refused: the host is in maintenance mode", zone, what);
        /* the caller names the zone already (zoneadm: "zoneadm: zone 'NAME': …") */
        return sd_bus_error_setf(error, KZ_ERROR_MAINTENANCE,
                "cannot %s: this host is in maintenance mode (%s); end it with 'sysadm maintain -e'", what,
                about ?: "admin");
}
