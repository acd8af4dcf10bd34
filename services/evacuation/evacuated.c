/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzones-evacuated: maintenance mode and the evacuation of a host's zones,
 * org.kzones.Evacuation1. See kzones-evacuated(8) and sysadm(8). It moves zones by
 * asking the restarters for migrations over D-Bus and links none of their code. */
#include <stdlib.h>

#include "daemon-util.h"
#include "evacuation.h"
#include "fs-util.h"
#include "log.h"

char *manager_path(Manager *m, const char *path)
{
        return path_join(m->root, path);
}

int manager_new(sd_event *e, sd_bus *bus, const char *root, Manager **ret)
{
        Manager *m = calloc(1, sizeof(Manager));
        const char *p = getenv("KZONES_EVACUATION_PARALLEL");

        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(e);
        m->bus = sd_bus_ref(bus);
        m->parallel = EVACUATION_PARALLEL_DEFAULT;
        if (p) {
                char *end;
                unsigned long v = strtoul(p, &end, 10);

                if (*p && !*end && v >= 1 && v <= EVACUATION_PARALLEL_MAX)
                        m->parallel = (unsigned) v;
                else
                        log_warning("KZONES_EVACUATION_PARALLEL=%s is not 1–%u: using %u", p,
                                EVACUATION_PARALLEL_MAX, m->parallel);
        }
        (void) manager_read_link_rate(m);
        if (root && !(m->root = strdup(root))) {
                manager_free(m);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m)
{
        if (!m)
                return NULL;
        evacuation_free(m->current);
        for (size_t i = 0; i < m->n_finished; i++)
                evacuation_free(m->finished[i]);
        sd_bus_unref(m->bus);
        sd_event_unref(m->event);
        free(m->root);
        free(m);
        return NULL;
}

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
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        /* an evacuation that was interrupted: checked before anyone asks */
        (void) manager_recover(m);
        r = sd_bus_request_name_async(bus, NULL, EVACUATION_BUS_NAME, 0, NULL, NULL);
        if (r < 0)
                return r;
        r = daemon_event_loop(event, "Ready to evacuate.");
        /* what is at work in the restarters goes on there; the record says where */
        return r;
}

DEFINE_DAEMON_MAIN(run, "kzones-evacuated (takes no arguments; see kzones-evacuated(8))")
