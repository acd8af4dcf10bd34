/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zoneadm -z NAME apply [-n] [-q]: the restarter's Zone.Apply, which makes the
 * persistent configuration (/etc/zones/NAME.xml) the running zone's live one, as a
 * job of kind "apply" followed to its end: its lines ("zone 'kz1': Checking: …",
 * "zone 'kz1': Applying the changes") as they come, its failure in the guide's form
 * ("zone 'kz1': error: …"). -n: what would change, nothing changed. -q: none of the
 * job's output and not its failure; the exit status says (a refused request is
 * still reported). */
#include <stdio.h>

#include "macro.h"
#include "zoneadm.h"

int zoneadm_apply(sd_bus *bus, const char *zone, bool dry_run, bool quiet)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL;
        /* -q: the exit status only, for the job; a request refused is still said */
        JobCall c = { .zone = zone, .quiet = quiet, .silent_failure = quiet };
        int r;

        r = zone_lookup(bus, zone, &path);
        if (r < 0)
                return r;
        r = zone_require_running(bus, zone, path,
                "apply changes a running zone; its persistent configuration is used when it boots");
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, RESTARTER_BUS_NAME, path, RESTARTER_ZONE_IFACE, "Apply");
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 1, "DryRun", "b", dry_run);
        if (r < 0)
                return log_request_error(r);
        r = zone_job_run(bus, m, &c);
        job_call_done(&c);
        return r;
}
