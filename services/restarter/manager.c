/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <stdarg.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include "dropins.h"
#include "log.h"
#include "mkdir.h"
#include "remote.h"
#include "cpu-probe.h"
#include "restarter.h"
#include "zone-net.h"


/* ---- zones ------------------------------------------------------------------------------ */

Zone *zone_free(Zone *z)
{
        if (!z)
                return NULL;
        reconcile_stop(z);
        free(z->guest_status);
        free(z->name);
        free(z->path);
        free(z->unit);
        free(z->unit_path);
        free(z->uuid);
        free(z->brand);
        free(z->active_state);
        free(z->evacuation_target);
        strv_freep(&z->aux);
        free(z);
        return NULL;
}

int zone_new(Manager *m, const char *name, Zone **ret)
{
        Zone *z = calloc(1, sizeof(*z));
        int r;

        if (!z)
                return -ENOMEM;
        z->manager = m;
        z->id = -1;
        z->index_state = ZONE_STATE_CONFIGURED;
        z->state = ZONE_STATE_CONFIGURED;
        z->name = strdup(name);
        if (!z->name || asprintf(&z->unit, "zone@%s.service", name) < 0 ||
            sd_bus_path_encode(RESTARTER_ZONE_PREFIX, name, &z->path) < 0 ||
            sd_bus_path_encode(SYSTEMD_PATH "/unit", z->unit, &z->unit_path) < 0) {
                zone_free(z);
                return -ENOMEM;
        }
        r = hashmap_put(m->zones, z->name, z);
        if (r < 0) {
                zone_free(z);
                return r;
        }
        *ret = z;
        return 0;
}

void zone_remove(Zone *z)
{
        (void) hashmap_remove(z->manager->zones, z->name);
        zone_free(z);
}

Zone *manager_find_zone(Manager *m, const char *name)
{
        Zone *z = hashmap_get(m->zones, name);

        return z && !z->gone ? z : NULL;
}

Zone *manager_find_zone_by_path(Manager *m, const char *path)
{
        _cleanup_free_ char *name = NULL;

        if (sd_bus_path_decode(path, RESTARTER_ZONE_PREFIX, &name) <= 0)
                return NULL;
        return manager_find_zone(m, name);
}

/* zone@NAME.service's object path in systemd */
static Zone *manager_find_zone_by_unit_path(Manager *m, const char *path)
{
        _cleanup_free_ char *unit = NULL;
        size_t len;

        if (!path || sd_bus_path_decode(path, SYSTEMD_PATH "/unit", &unit) <= 0)
                return NULL;
        len = strlen(unit);
        if (len <= strlen("zone@.service") || strncmp(unit, "zone@", 5) != 0 || !streq(unit + len - 8, ".service"))
                return NULL;
        unit[len - 8] = 0;
        return manager_find_zone(m, unit + 5);
}

int zone_load_config(Zone *z, ZoneConfig **ret, sd_bus_error *error)
{
        KzError e = {};
        int r;

        r = zone_store_load(z->manager->root, z->name, ret, &e);
        if (r == -ENOENT)
                return sd_bus_error_setf(error, KZ_ERROR_ZONE_NOT_FOUND, "No such zone configured");
        if (r < 0)
                return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION, "%s",
                        kz_error_message(&e, r));
        return 0;
}

int zone_set_index_state(Zone *z, ZoneState s, sd_bus_error *error)
{
        KzError e = {};
        ZoneState previous = z->state;
        int r;

        r = zone_index_set_state(z->manager->root, z->name, s, &e);
        if (r < 0) {
                log_error("zone '%s': %s", z->name, kz_error_message(&e, r));
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "%s", kz_error_message(&e, r));
        }
        z->index_state = s;
        zone_update_state(z);
        if (z->state == previous)
                bus_zone_send_changed(z, previous);
        return 0;
}

/* Writes the id into the unit's runtime directory, which exists once it runs. */
static void zone_save_id(Zone *z)
{
        _cleanup_free_ char *path = NULL;
        char line[16];
        int r;

        if (z->id <= 0 || z->state != ZONE_STATE_RUNNING)
                return;
        path = manager_path(z->manager, ZONE_RUN_DIR "/%s/zoneid", z->name);
        if (!path)
                return;
        (void) snprintf(line, sizeof(line), "%d\n", z->id);
        r = write_file_atomic(path, line, strlen(line), 0644);
        if (r < 0)
                log_warning("zone '%s': cannot keep its id in %s: %s", z->name, path, strerror(-r));
}

/* The zone id: kept in the runtime directory while the zone runs, so a restarted
 * restarter finds the same ids; assigned the lowest free number otherwise. */
/* The id another zone saved, as long as it may still run (its state is not known
 * yet, after a restart, or it runs): ids are unique even before every zone's state
 * is known again. */
static int zone_saved_id(Zone *z)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        size_t size;

        if (z->active_state && z->state != ZONE_STATE_RUNNING && z->state != ZONE_STATE_READY &&
            z->state != ZONE_STATE_SHUTTING_DOWN)
                return -1;
        path = manager_path(z->manager, ZONE_RUN_DIR "/%s/zoneid", z->name);
        if (!path || read_file_bounded(path, 64, &buf, &size) < 0)
                return -1;
        return atoi(buf);
}

static void zone_update_id(Zone *z)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        Manager *m = z->manager;
        size_t size;
        int id = -1;

        if (z->state != ZONE_STATE_RUNNING && z->state != ZONE_STATE_READY && z->state != ZONE_STATE_SHUTTING_DOWN) {
                z->id = -1;
                return;
        }
        if (z->id >= 0) {
                zone_save_id(z);
                return;
        }
        path = manager_path(m, ZONE_RUN_DIR "/%s/zoneid", z->name);
        if (!path)
                return;
        if (read_file_bounded(path, 64, &buf, &size) >= 0)
                id = atoi(buf);
        if (id <= 0)
                for (id = 1;; id++) {
                        bool used = false;
                        Zone *other;

                        HASHMAP_FOREACH(other, m->zones, state)
                                if (other != z && (other->id == id || zone_saved_id(other) == id)) {
                                        used = true;
                                        break;
                                }
                        if (!used)
                                break;
                }
        z->id = id;
        zone_save_id(z);
}

void zone_update_aux(Zone *z)
{
        _cleanup_free_ char *marker = manager_path(z->manager, "/var/lib/kzones/%s.suspended", z->name);
        const char *want[6];
        size_t n = 0, had = 0;
        char **l;

        if (marker && access(marker, F_OK) >= 0)
                want[n++] = "suspended";
        if (z->job && z->job->type == &job_suspend)
                want[n++] = "suspending";
        /* an incoming migration: while the unit is up and the guest not yet running here */
        if (z->job && z->job->type == &job_migrate_in && z->active_state && streq(z->active_state, "active"))
                want[n++] = "migrating-in";
        if (z->job && z->job->type == &job_migrate)
                want[n++] = "migrating-out";
        /* known only while the unit is active (zone_update_state() forgets it otherwise) */
        if (z->guest_status && !streq(z->guest_status, "running"))
                want[n++] = streq(z->guest_status, "guest-panicked") ? "panicked" : "paused";
        while (z->aux && z->aux[had])
                had++;
        if (had == n) {
                bool same = true;
                for (size_t i = 0; i < n && same; i++)
                        same = streq(z->aux[i], want[i]);
                if (same)
                        return;
        }
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return;
        for (size_t i = 0; i < n; i++)
                if (!(l[i] = strdup(want[i]))) {
                        strv_freep(&l);
                        return;
                }
        strv_freep(&z->aux);
        z->aux = l;
        if (z->manager->name_requested)
                (void) sd_bus_emit_properties_changed(z->manager->bus, z->path, RESTARTER_ZONE_IFACE,
                        "AuxiliaryStates", NULL);
}

void zone_update_state(Zone *z)
{
        const char *a = z->active_state;
        ZoneState s;

        /* what QMP said of the guest holds while the unit is active, and is asked again after */
        if (!a || !streq(a, "active")) {
                free(z->guest_status);
                z->guest_status = NULL;
        }
        zone_update_aux(z);
        if (z->index_state == ZONE_STATE_INCOMPLETE)
                s = ZONE_STATE_INCOMPLETE; /* an installer runs (install -b), or an install failed */
        else if (a && (streq(a, "active") || streq(a, "reloading")))
                s = ZONE_STATE_RUNNING;
        else if (a && streq(a, "activating"))
                s = ZONE_STATE_READY;
        else if (a && streq(a, "deactivating"))
                s = ZONE_STATE_SHUTTING_DOWN;
        else
                s = z->index_state;
        if (s != z->state) {
                ZoneState previous = z->state;

                z->state = s;
                zone_update_id(z);
                /* the zone's history: journalctl MESSAGE_ID=<KZ_MESSAGE_ZONE_STATE> ZONE=NAME */
                if (sd_journal_send("MESSAGE=zone '%s': %s -> %s", z->name, zone_state_to_string(previous),
                            zone_state_to_string(s), "PRIORITY=%d", LOG_INFO,
                            "MESSAGE_ID=" SD_ID128_FORMAT_STR, SD_ID128_FORMAT_VAL(KZ_MESSAGE_ZONE_STATE),
                            "ZONE=%s", z->name, "ZONE_STATE=%s", zone_state_to_string(s),
                            "ZONE_PREVIOUS_STATE=%s", zone_state_to_string(previous),
                            z->job ? "JOB=%" PRIu32 : NULL, z->job ? z->job->id : 0, NULL) < 0)
                        log_info("zone '%s': %s -> %s", z->name, zone_state_to_string(previous),
                                zone_state_to_string(s));
                bus_zone_send_changed(z, previous);
        } else
                zone_update_id(z);
}

/* ---- systemd ------------------------------------------------------------------------------ */

/* The unit's ActiveState as systemd reports it. A unit that became active without an
 * operation of ours (a restarter that died meanwhile, systemctl start) has its guest
 * checked (reconcile.c). */
static void zone_set_active_state(Zone *z, const char *state)
{
        bool became_active = streq(state, "active") && !streq_ptr(z->active_state, "active");

        free(z->active_state);
        z->active_state = strdup(state);
        if (!streq(state, "active"))
                reconcile_stop(z);
        zone_update_state(z);
        manager_unit_state_changed(z);
        if (became_active && !z->job)
                reconcile_zone(z, false);
}

typedef struct StateQuery {
        Manager *manager;
        char *zone;
} StateQuery;

static int on_unit_state(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        StateQuery *q = userdata;
        Zone *z = manager_find_zone(q->manager, q->zone);
        const char *state;

        if (z && !sd_bus_message_is_method_error(reply, NULL) &&
            sd_bus_message_enter_container(reply, 'v', "s") >= 0 && sd_bus_message_read(reply, "s", &state) >= 0)
                zone_set_active_state(z, state);
        free(q->zone);
        free(q);
        return 0;
}

void zone_query_unit(Zone *z)
{
        Manager *m = z->manager;
        StateQuery *q;

        if (m->have_systemd <= 0)
                return;
        q = calloc(1, sizeof(*q));
        if (!q || !(q->zone = strdup(z->name))) {
                free(q);
                return;
        }
        q->manager = m;
        if (sd_bus_call_method_async(m->bus, NULL, SYSTEMD_BUS, z->unit_path, DBUS_PROPERTIES_IFACE, "Get",
                    on_unit_state, q, "ss", SYSTEMD_UNIT_IFACE, "ActiveState") < 0) {
                free(q->zone);
                free(q);
        }
}

/* Signals on systemd's paths count only when systemd sent them. A match rule with
 * sender='org.freedesktop.systemd1' does not say so: the bus daemon delivers a
 * signal addressed to us (busctl emit --destination=) whatever our matches say, and
 * sd-bus cannot compare a well-known name with the sender's unique name. So the
 * restarter follows who owns systemd's name and compares unique names itself. */
static bool from_systemd(Manager *m, sd_bus_message *msg)
{
        const char *sender = sd_bus_message_get_sender(msg);
        uint64_t now = 0;

        if (m->systemd_owner && streq_ptr(sender, m->systemd_owner))
                return true;
        /* said at most once in 10 s, so a flood of them cannot flood the journal */
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (m->spoof_logged_usec && now < m->spoof_logged_usec + 10 * 1000000u)
                return false;
        m->spoof_logged_usec = now ?: 1;
        log_warning("ignored %s.%s on %s from %s, which is not systemd", strna(sd_bus_message_get_interface(msg)),
                strna(sd_bus_message_get_member(msg)), strna(sd_bus_message_get_path(msg)), strna(sender));
        return false;
}

static void set_systemd_owner(Manager *m, const char *owner)
{
        if (streq_ptr(owner, m->systemd_owner))
                return;
        free(m->systemd_owner);
        m->systemd_owner = isempty(owner) ? NULL : strdup(owner);
        log_debug("%s is owned by %s", SYSTEMD_BUS, strna(m->systemd_owner));
}

static int on_systemd_owner_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
        Manager *m = userdata;
        const char *name, *old_owner, *new_owner;

        /* only the bus daemon speaks as org.freedesktop.DBus: it sets every sender */
        if (!streq_ptr(sd_bus_message_get_sender(msg), DBUS_BUS_NAME))
                return 0;
        if (sd_bus_message_read(msg, "sss", &name, &old_owner, &new_owner) < 0 || !streq(name, SYSTEMD_BUS))
                return 0;
        set_systemd_owner(m, new_owner);
        return 0;
}

static int on_properties_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
        Manager *m = userdata;
        const char *path = sd_bus_message_get_path(msg), *iface, *name;
        Zone *z;
        int r;

        if (!from_systemd(m, msg))
                return 0;
        z = manager_find_zone_by_unit_path(m, path);
        if (!z)
                return 0;
        r = sd_bus_message_read(msg, "s", &iface);
        if (r < 0 || !streq(iface, SYSTEMD_UNIT_IFACE))
                return 0;
        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return 0;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                r = sd_bus_message_read(msg, "s", &name);
                if (r < 0)
                        return 0;
                if (streq(name, "ActiveState")) {
                        const char *state;

                        if (sd_bus_message_enter_container(msg, 'v', "s") < 0 ||
                            sd_bus_message_read(msg, "s", &state) < 0)
                                return 0;
                        (void) sd_bus_message_exit_container(msg);
                        zone_set_active_state(z, state);
                } else if (sd_bus_message_skip(msg, "v") < 0)
                        return 0;
                (void) sd_bus_message_exit_container(msg);
        }
        return 0;
}

static int on_job_removed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
        Manager *m = userdata;
        const char *job, *unit, *result;
        uint32_t id;

        if (!from_systemd(m, msg))
                return 0;
        if (sd_bus_message_read(msg, "uoss", &id, &job, &unit, &result) < 0)
                return 0;
        manager_unit_job_removed(m, job, result);
        return 0;
}

static int on_reloading(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
        Manager *m = userdata;
        int active;

        if (!from_systemd(m, msg))
                return 0;
        if (sd_bus_message_read(msg, "b", &active) >= 0 && !active)
                (void) manager_rescan(m);
        return 0;
}

int manager_new(sd_event *e, sd_bus *bus, const char *root, Manager **ret)
{
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(e);
        m->bus = sd_bus_ref(bus);
        m->root = strdup(root ?: "");
        m->have_systemd = -1;
        m->zones = hashmap_new();
        m->jobs = hashmap_new();
        if (!m->root || !m->zones || !m->jobs)
                return -ENOMEM;
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m)
{
        if (!m)
                return NULL;
        Zone *z;
        Job *j;

        m->want_name = false;
        HASHMAP_FOREACH(j, m->jobs, state)
                job_free(j);
        hashmap_free(m->jobs);
        HASHMAP_FOREACH(z, m->zones, state)
                zone_free(z);
        hashmap_free(m->zones);
        sd_event_source_unref(m->name_timer);
        sd_event_source_unref(m->inotify);
        sd_event_source_unref(m->rescan_timer);
        sd_bus_unref(m->bus);
        sd_event_unref(m->event);
        free(m->root);
        free(m->default_evacuation_target);
        sd_event_source_unref(m->cpu_probe_source);
        cpu_probe_free(m->cpu);
        free(m->systemd_owner);
        free(m);
        return NULL;
}

/* Startup, step 3: a zone's ActiveState, then its check (reconcile.c). */
static int on_startup_unit_state(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        StateQuery *q = userdata;
        Manager *m = q->manager;
        Zone *z = manager_find_zone(m, q->zone);
        const char *state;

        if (z && !sd_bus_message_is_method_error(reply, NULL) &&
            sd_bus_message_enter_container(reply, 'v', "s") >= 0 && sd_bus_message_read(reply, "s", &state) >= 0) {
                free(z->active_state);
                z->active_state = strdup(state);
                zone_update_state(z);
        }
        /* what a restarter killed in the middle of a job left half done */
        if (z)
                reconcile_zone(z, true);
        free(q->zone);
        free(q);
        manager_reconciled(m);
        return 0;
}

/* Startup, step 2: systemd subscribed (or not there); each zone's unit state is asked for. */
static int on_startup_subscribed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        Manager *m = userdata;
        Zone *z;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                log_warning("systemd is not reachable (%s): zones can be configured and installed but not booted",
                        sd_bus_message_get_error(reply)->message);
                m->have_systemd = 0;
                HASHMAP_FOREACH(z, m->zones, state)
                        reconcile_zone(z, true);
                manager_reconciled(m);
                return 0;
        }
        m->have_systemd = 1;
        HASHMAP_FOREACH(z, m->zones, state) {
                StateQuery *q = calloc(1, sizeof(*q));

                if (!q || !(q->zone = strdup(z->name))) {
                        free(q);
                        reconcile_zone(z, true);
                        continue;
                }
                q->manager = m;
                if (sd_bus_call_method_async(m->bus, NULL, SYSTEMD_BUS, z->unit_path, DBUS_PROPERTIES_IFACE,
                            "Get", on_startup_unit_state, q, "ss", SYSTEMD_UNIT_IFACE, "ActiveState") < 0) {
                        free(q->zone);
                        free(q);
                        reconcile_zone(z, true);
                        continue;
                }
                m->reconciling++;
        }
        manager_reconciled(m);
        return 0;
}

/* Startup, step 1: whose signals are systemd's (NameOwnerChanged keeps this current). */
static int on_startup_owner(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        Manager *m = userdata;
        const char *owner;
        int r;

        if (!sd_bus_message_is_method_error(reply, NULL) && sd_bus_message_read(reply, "s", &owner) >= 0)
                set_systemd_owner(m, owner);
        r = sd_bus_call_method_async(m->bus, NULL, SYSTEMD_BUS, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe",
                on_startup_subscribed, m, NULL);
        if (r < 0) {
                log_warning("cannot ask systemd for its signals: %s", strerror(-r));
                m->have_systemd = 0;
                manager_reconciled(m);
        }
        return 0;
}

int manager_start(Manager *m)
{
        int r;

        r = manager_watch_zones(m);
        if (r < 0)
                return r;
        r = sd_bus_add_match_async(m->bus, NULL,
                "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" SYSTEMD_BUS "'",
                on_systemd_owner_changed, NULL, m);
        if (r < 0)
                return r;
        r = sd_bus_match_signal_async(m->bus, NULL, SYSTEMD_BUS, NULL, DBUS_PROPERTIES_IFACE,
                "PropertiesChanged", on_properties_changed, NULL, m);
        if (r < 0)
                return r;
        r = sd_bus_match_signal_async(m->bus, NULL, SYSTEMD_BUS, SYSTEMD_PATH, SYSTEMD_MANAGER, "JobRemoved",
                on_job_removed, NULL, m);
        if (r < 0)
                return r;
        r = sd_bus_match_signal_async(m->bus, NULL, SYSTEMD_BUS, SYSTEMD_PATH, SYSTEMD_MANAGER, "Reloading",
                on_reloading, NULL, m);
        if (r < 0)
                return r;
        r = manager_rescan(m);
        if (r < 0)
                return r;
        r = manager_probe_cpu(m);
        if (r < 0)
                log_warning("cannot probe this host's CPU models: %s", strerror(-r));
        /* Before the bus name is taken, and only then, the restarter waits (without
         * blocking: each answer comes through the event loop): it learns from systemd
         * which zones run, so that nobody is ever told a running zone is installed. */
        m->reconciling++; /* the startup itself, until systemd answered */
        r = sd_bus_call_method_async(m->bus, NULL, DBUS_BUS_NAME, DBUS_PATH,
                DBUS_IFACE, "GetNameOwner", on_startup_owner, m, "s", SYSTEMD_BUS);
        if (r < 0)
                return r;
        return 0;
}

static int manager_do_request_name(Manager *m)
{
        int r;

        m->name_timer = sd_event_source_disable_unref(m->name_timer);
        if (m->name_requested)
                return 0;
        m->name_requested = true;
        r = sd_bus_request_name_async(m->bus, NULL, RESTARTER_BUS_NAME, 0, NULL, NULL);
        if (r < 0)
                log_error("cannot request the bus name %s: %s", RESTARTER_BUS_NAME, strerror(-r));
        return r;
}

static int on_name_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;

        log_warning("the running zones' guests have not all been checked; taking the bus name anyway");
        (void) manager_do_request_name(m);
        return 0;
}

int manager_request_name(Manager *m)
{
        m->want_name = true;
        if (m->reconciling == 0)
                return manager_do_request_name(m);
        log_info("asking systemd which zones run, and checking their guests, before taking the bus name");
        /* each check has its own deadline; this one is for all of them */
        return sd_event_add_time_relative(m->event, &m->name_timer, CLOCK_MONOTONIC, 30ull * 1000000, 0,
                on_name_timer, m);
}

void manager_reconciled(Manager *m)
{
        if (m->reconciling > 0)
                m->reconciling--;
        if (m->reconciling == 0 && m->want_name && !m->name_requested)
                (void) manager_do_request_name(m);
}
