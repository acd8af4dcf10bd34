/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzones-memory-reserved: the memory reservation pools on the bus, org.kzones.MemoryReserve1.
 * See memory-reserve(8). It reports; the pools' own units (memory-reserve@POOL.service)
 * reserve, resize and release. */
#include "daemon-util.h"
#include "log.h"
#include "memory-reserve.h"

static int run(void)
{
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        (void) kz_bus_error_map_register();
        r = daemon_event_new(NULL, &event);
        if (r < 0)
                return r;
        r = sd_bus_open_system(&bus);
        if (r < 0) {
                log_error("cannot connect to the system bus: %s", strerror(-r));
                return r;
        }
        r = manager_new(event, bus, getenv("KZONES_ROOT"), &m);
        if (r < 0)
                return r;
        r = bus_register(m);
        if (r < 0) {
                log_error("cannot register the bus objects: %s", strerror(-r));
                return r;
        }
        r = sd_bus_request_name_async(bus, NULL, MEMORY_RESERVE_BUS_NAME, 0, NULL, NULL);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        return daemon_event_loop(event, "Reporting the memory reservation pools.");
}

DEFINE_DAEMON_MAIN(run, "kzones-memory-reserved (takes no arguments; see memory-reserve(8))")
