/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A stand-in for systemd's manager on a test's private bus, as much of it as the
 * restarter uses: Subscribe, StartUnit/StopUnit/RestartUnit (each a job that is
 * done at once: JobRemoved follows), Reload, and each unit's ActiveState with its
 * PropertiesChanged. A test sets a unit's state as systemctl would leave it with
 * org.kzones.Test.SetActiveState(unit, state) on /org/kzones/test, and reads the
 * jobs it was asked for in DIR/calls, one "METHOD UNIT" line each. With
 * org.kzones.Test.FailNextStart(unit) the next StartUnit of that unit ends as a
 * failed start does: JobRemoved "failed", ActiveState "failed". A unit's MainPID is
 * this stand-in's own pid.
 *
 *   fake-systemd DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "kzones-bus.h"

#define MAX_UNITS 4096 /* bench/control configures 1000 zones */

typedef struct Unit {
        char *name;
        char *path;
        char *state;
        int fail_next_start;
} Unit;

static struct {
        const char *dir;
        Unit units[MAX_UNITS];
        size_t n_units;
        unsigned next_job;
        sd_bus *bus;
} fake;

static Unit *unit_get(const char *name, int create)
{
        Unit *u;

        for (size_t i = 0; i < fake.n_units; i++)
                if (strcmp(fake.units[i].name, name) == 0)
                        return &fake.units[i];
        if (!create || fake.n_units >= MAX_UNITS)
                return NULL;
        u = &fake.units[fake.n_units];
        u->name = strdup(name);
        u->state = strdup("inactive");
        if (!u->name || !u->state || sd_bus_path_encode(SYSTEMD_UNIT_PREFIX, name, &u->path) < 0)
                return NULL;
        fake.n_units++;
        return u;
}

static void set_state(Unit *u, const char *state)
{
        free(u->state);
        u->state = strdup(state);
        (void) sd_bus_emit_properties_changed(fake.bus, u->path, SYSTEMD_UNIT_IFACE, "ActiveState",
                NULL);
}

static void record(const char *method, const char *unit)
{
        char path[4096];
        FILE *f;

        (void) snprintf(path, sizeof(path), "%s/calls", fake.dir);
        f = fopen(path, "a");
        if (!f)
                return;
        fprintf(f, "%s %s\n", method, unit);
        fclose(f);
}

static int method_job(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        const char *method = sd_bus_message_get_member(m), *name, *mode;
        char job[64];
        unsigned id = ++fake.next_job;
        Unit *u;
        int r;

        r = sd_bus_message_read(m, "ss", &name, &mode);
        if (r < 0)
                return r;
        u = unit_get(name, 1);
        if (!u)
                return -ENOMEM;
        record(method, name);
        (void) snprintf(job, sizeof(job), SYSTEMD_JOB_PREFIX "/%u", id);
        r = sd_bus_reply_method_return(m, "o", job);
        if (r < 0)
                return r;
        if (strcmp(method, "StartUnit") == 0 && u->fail_next_start) {
                u->fail_next_start = 0;
                set_state(u, "failed");
                return sd_bus_emit_signal(fake.bus, SYSTEMD_PATH, SYSTEMD_MANAGER,
                        "JobRemoved", "uoss", id, job, name, "failed");
        }
        set_state(u, strcmp(method, "StopUnit") == 0 ? "inactive" : "active");
        return sd_bus_emit_signal(fake.bus, SYSTEMD_PATH, SYSTEMD_MANAGER,
                "JobRemoved", "uoss", id, job, name, "done");
}

static int method_nothing(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        return sd_bus_reply_method_return(m, NULL);
}

static int method_set_state(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        const char *name, *state;
        Unit *u;
        int r;

        r = sd_bus_message_read(m, "ss", &name, &state);
        if (r < 0)
                return r;
        u = unit_get(name, 1);
        if (!u)
                return -ENOMEM;
        set_state(u, state);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_fail_next_start(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        const char *name;
        Unit *u;
        int r;

        r = sd_bus_message_read(m, "s", &name);
        if (r < 0)
                return r;
        u = unit_get(name, 1);
        if (!u)
                return -ENOMEM;
        u->fail_next_start = 1;
        return sd_bus_reply_method_return(m, NULL);
}

static int unit_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                sd_bus_error *error)
{
        char *name = NULL;
        Unit *u;

        if (sd_bus_path_decode(path, SYSTEMD_UNIT_PREFIX, &name) <= 0)
                return 0;
        u = unit_get(name, 1);
        free(name);
        if (!u)
                return -ENOMEM;
        *found = u;
        return 1;
}

static int property_active_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Unit *u = userdata;

        return sd_bus_message_append(reply, "s", u->state);
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Subscribe", "", "", method_nothing, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Reload", "", "", method_nothing, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("StartUnit", "ss", "o", method_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("StopUnit", "ss", "o", method_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("RestartUnit", "ss", "o", method_job, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL("JobRemoved", "uoss", 0),
        SD_BUS_SIGNAL("Reloading", "b", 0),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable unit_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("ActiveState", "s", property_active_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

/* a service's main process: this stand-in itself */
static int property_main_pid(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        return sd_bus_message_append(reply, "u", (uint32_t) getpid());
}

static const sd_bus_vtable service_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("MainPID", "u", property_main_pid, 0, 0),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable test_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("SetActiveState", "ss", "", method_set_state, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("FailNextStart", "s", "", method_fail_next_start, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int main(int argc, char *argv[])
{
        sd_event *e = NULL;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: fake-systemd DIR\n");
                return 2;
        }
        fake.dir = argv[1];
        r = sd_event_default(&e);
        if (r >= 0)
                r = sd_bus_open_system(&fake.bus);
        if (r >= 0)
                r = sd_bus_add_object_vtable(fake.bus, NULL, SYSTEMD_PATH,
                        SYSTEMD_MANAGER, manager_vtable, NULL);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(fake.bus, NULL, SYSTEMD_UNIT_PREFIX,
                        SYSTEMD_UNIT_IFACE, unit_vtable, unit_find, NULL);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(fake.bus, NULL, SYSTEMD_UNIT_PREFIX,
                        SYSTEMD_SERVICE_IFACE, service_vtable, unit_find, NULL);
        if (r >= 0)
                r = sd_bus_add_object_vtable(fake.bus, NULL, "/org/kzones/test", "org.kzones.Test", test_vtable, NULL);
        if (r >= 0)
                r = sd_bus_request_name(fake.bus, SYSTEMD_BUS, 0);
        if (r >= 0)
                r = sd_bus_attach_event(fake.bus, e, 0);
        if (r >= 0)
                r = sd_event_loop(e);
        if (r < 0)
                fprintf(stderr, "fake-systemd: %s\n", strerror(-r));
        return r < 0 ? 1 : 0;
}
