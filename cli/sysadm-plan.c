/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sysadm evacuate -n: the plan's destination and estimated time per zone, as kzones-evacuated
 * computes it (its memory over the link rate to its destination; where that rate
 * comes from is said on each line: measured by the last migration there,
 * configured in the unit, or the default). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kzones-bus.h"
#include "macro.h"
#include "size.h"
#include "sysadm-plan.h"

#define PROG "sysadm"

/* The zone's destination in the job's Zones (a list target's is the host chosen
 * for it), as sysadm names hosts: without ssh:// and the user. */
static const char *destination_of(sd_bus_message *zones, const char *zone)
{
        const char *z, *state, *dest, *error, *found = NULL;
        double progress;

        /* from the start of the Get reply each time: the variant, then its array */
        if (!zones || sd_bus_message_rewind(zones, true) < 0 ||
            sd_bus_message_enter_container(zones, 'v', "a(sssds)") < 0 ||
            sd_bus_message_enter_container(zones, 'a', "(sssds)") < 0)
                return NULL;
        while (!found && sd_bus_message_read(zones, "(sssds)", &z, &state, &dest, &progress, &error) > 0)
                if (streq(z, zone) && !isempty(dest))
                        found = dest;
        if (!found)
                return NULL;
        found = startswith(found, "ssh://") ?: found;
        return strchr(found, '@') ? strchr(found, '@') + 1 : found;
}

int print_plan_estimates(sd_bus *bus, const char *path)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *zones = NULL;
        const char *zone, *source, *dest;
        uint64_t memory, rate, usec, total = 0;
        size_t n = 0;
        int r;

        r = sd_bus_get_property(bus, EVACUATION_BUS_NAME, path, EVACUATION_JOB_IFACE, "Estimates", &error, &reply,
                "a(sttts)");
        if (r < 0) {
                fprintf(stderr, PROG ": cannot read the plan's estimates: %s\n", error.message ?: strerror(-r));
                return r;
        }
        if (sd_bus_get_property(bus, EVACUATION_BUS_NAME, path, EVACUATION_JOB_IFACE, "Zones", NULL, &zones,
                    "a(sssds)") < 0)
                zones = NULL;
        r = sd_bus_message_enter_container(reply, 'a', "(sttts)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(sttts)", &zone, &memory, &rate, &usec, &source)) > 0) {
                char m[SIZE_FORMAT_MAX];

                n++;
                total += usec;
                dest = destination_of(zones, zone);
                if (memory == 0) {
                        printf(PROG ": plan: %s to %s: cold, no memory to copy\n", zone, strna(dest));
                        continue;
                }
                printf(PROG ": plan: %s to %s: %s of memory, at least %.1f s at %.0f MB/s (%s rate)\n", zone,
                        strna(dest), size_format(memory, m, sizeof(m)), (double) usec / 1e6, (double) rate / 1e6,
                        source);
        }
        if (r < 0) {
                fprintf(stderr, PROG ": cannot read the plan's estimates: %s\n", strerror(-r));
                return r;
        }
        if (n > 1)
                printf(PROG ": plan: at least %.1f s for %zu zones one at a time\n", (double) total / 1e6, n);
        fflush(stdout);
        return 0;
}
