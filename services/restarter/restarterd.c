/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzones-restarterd: the zone restarter. See kzones-restarterd(8). */
#include <signal.h>
#include <systemd/sd-daemon.h>

#include "bus-error.h"
#include "daemon-util.h"
#include "log.h"
#include "restarter.h"

static int run(void)
{
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(manager_freep) Manager *m = NULL;
        sigset_t mask;
        int r;

        /* children (qemu-img) are reaped through the event loop */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;

        (void) kz_bus_error_map_register();
        r = daemon_event_new(NULL, &event);
        if (r < 0)
                return r;
        /* WatchdogSec= of the unit: sd-event sends WATCHDOG=1 while the loop turns */
        r = sd_event_set_watchdog(event, true);
        if (r < 0)
                log_warning("cannot feed the service watchdog: %s", strerror(-r));
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
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        r = manager_start(m);
        if (r < 0) {
                log_error("cannot start: %s", strerror(-r));
                return r;
        }
        r = manager_request_name(m);
        if (r < 0)
                return r;
        return daemon_event_loop(event, "Watching zones.");
}

DEFINE_DAEMON_MAIN(run, "kzones-restarterd (takes no arguments; see kzones-restarterd(8))")
