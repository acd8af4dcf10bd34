/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which zones a job moves, before it moves any: an evacuation lists this host's
 * zones and asks each kz zone's EvacuationTarget; a return takes the record's
 * EVACUATED zones and leaves out those that are back already; a recovery asks this
 * host (a restarter job still at work is followed) and the destinations where each
 * zone of an interrupted run really is. Then evacuation_planned() starts the moves. */
#include <stdlib.h>
#include <string.h>

#include "evacuation.h"
#include "log.h"
#include "remote.h"
#include "strv.h"

/* ---- planning an evacuation --------------------------------------------------------------------- */

static int on_target(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Entry *e = userdata;
        Evacuation *ev = e->evacuation;
        const sd_bus_error *err = sd_bus_message_get_error(m);
        const char *target = NULL;

        e->call = sd_bus_slot_unref(e->call);
        ev->n_asking--;
        if (err || sd_bus_message_read(m, "v", "s", &target) < 0) {
                (void) entry_set_error(e, "cannot read its evacuation target: %s", err ? err->message : "bad reply");
                e->state = ENTRY_FAILED;
        } else if (isempty(target)) {
                (void) entry_set_error(e, "no evacuation target: set the restarter's DefaultEvacuationTarget or "
                        "the zone's EvacuationTarget");
                e->state = ENTRY_FAILED;
        } else {
                _cleanup_strv_free_ char **l = NULL;
                _cleanup_free_ char *bad = NULL;
                const char *reason = NULL;
                int r = remote_uri_list_split(target, &l, &bad, &reason);

                /* one host, or a list: then the placement picks one (evacuation-targets.c) */
                if (r < 0) {
                        if (r == -ENOMEM)
                                (void) entry_set_error(e, "out of memory");
                        else
                                (void) entry_set_error(e, "its evacuation target '%s' is not valid: %s%s%s%s", target,
                                        bad ? "'" : "", strempty(bad), bad ? "': " : "", strna(reason));
                        e->state = ENTRY_FAILED;
                } else if (strv_length(l) > 1)
                        e->candidates = TAKE_PTR(l);
                else {
                        free(e->destination);
                        e->destination = TAKE_PTR(l[0]);
                }
        }
        if (ev->n_asking == 0)
                evacuation_place(ev);
        return 0;
}

/* The restarter's ListZones: a(sssso) name, state, uuid, brand, path. */
static int on_list_zones(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Evacuation *ev = userdata;
        _cleanup_(evacuation_freep) Evacuation *rec = NULL;
        const sd_bus_error *err = sd_bus_message_get_error(m);
        const char *name, *state, *uuid, *brand, *path;
        int r;

        ev->list_call = sd_bus_slot_unref(ev->list_call);
        if (err) {
                evacuation_fail(ev, err->name, "cannot list this host's zones: %s", err->message);
                return 0;
        }
        r = record_load(ev->manager, &rec);
        if (r < 0)
                log_warning("the evacuation record cannot be read (%s); starting a new one", strerror(-r));
        r = sd_bus_message_enter_container(m, 'a', "(sssso)");
        while (r >= 0 && (r = sd_bus_message_read(m, "(sssso)", &name, &state, &uuid, &brand, &path)) > 0) {
                bool running = streq(state, "running"), installed = streq(state, "installed");
                Entry *old = rec ? evacuation_find_entry(rec, name) : NULL, *e;

                if (!running && !(installed && ev->all)) {
                        /* away since an earlier run: it stays in the record */
                        if (old && old->state == ENTRY_EVACUATED && !ev->dry_run && !installed) {
                                r = evacuation_add_entry(ev, name, &e);
                                if (r >= 0) {
                                        e->state = ENTRY_EVACUATED;
                                        e->progress = 1;
                                        e->cold = old->cold;
                                        free(e->destination);
                                        e->destination = strdup(old->destination);
                                        r = e->destination ? 0 : -ENOMEM;
                                }
                        }
                        continue;
                }
                r = evacuation_add_entry(ev, name, &e);
                if (r < 0)
                        break;
                e->cold = installed;
                e->memory = manager_zone_memory(ev->manager, name, &e->pool);
                free(e->brand);
                e->brand = strdup(brand);
                e->zone_path = strdup(path);
                if (!e->brand || !e->zone_path) {
                        r = -ENOMEM;
                        break;
                }
                if (!streq(brand, "kz")) {
                        (void) entry_set_error(e, "cannot evacuate %s-brand zones", brand);
                        e->state = ENTRY_SKIPPED;
                        continue;
                }
                r = sd_bus_call_method_async(ev->manager->bus, &e->call, RESTARTER_BUS_NAME, path,
                        DBUS_PROPERTIES_IFACE, "Get", on_target, e, "ss", RESTARTER_ZONE_IFACE, "EvacuationTarget");
                if (r < 0)
                        break;
                ev->n_asking++;
        }
        if (r < 0) {
                evacuation_fail(ev, SD_BUS_ERROR_FAILED, "cannot read this host's zones: %s", strerror(-r));
                return 0;
        }
        if (ev->n_asking == 0)
                evacuation_place(ev);
        return 0;
}

/* ---- planning a return and a recovery ----------------------------------------------------------- */

static int on_local_job(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Entry *e = userdata;
        Evacuation *ev = e->evacuation;
        const char *job = "/";

        e->call = sd_bus_slot_unref(e->call);
        ev->n_asking--;
        if (!sd_bus_message_get_error(m))
                (void) sd_bus_message_read(m, "v", "o", &job);
        if (!streq(job, "/"))
                /* its migration goes on in the restarter: it ends as that job ends */
                entry_follow_job(e, job);
        else {
                (void) entry_set_error(e, "interrupted: the zone runs here");
                e->state = ENTRY_FAILED;
                entry_journal(e);
        }
        if (ev->n_asking == 0)
                evacuation_planned(ev);
        return 0;
}

static int on_list_zones_back(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Evacuation *ev = userdata;
        const sd_bus_error *err = sd_bus_message_get_error(m);
        const char *name, *state, *uuid, *brand, *path;
        int r;

        ev->list_call = sd_bus_slot_unref(ev->list_call);
        if (err) {
                evacuation_fail(ev, err->name, "cannot list this host's zones: %s", err->message);
                return 0;
        }
        r = sd_bus_message_enter_container(m, 'a', "(sssso)");
        while (r >= 0 && (r = sd_bus_message_read(m, "(sssso)", &name, &state, &uuid, &brand, &path)) > 0) {
                Entry *e = evacuation_find_entry(ev, name);
                bool here = streq(state, "running") || (e && e->cold && streq(state, "installed"));

                if (!e)
                        continue;
                if (ev->kind == EVACUATION_RETURN && here && e->state == ENTRY_PENDING) {
                        e->state = ENTRY_RETURNED; /* back already (by hand, or an interrupted return) */
                        e->progress = 1;
                } else if (ev->kind == EVACUATION_RECOVER && e->state == ENTRY_RETURNING)
                        e->state = here ? ENTRY_RETURNED : ENTRY_EVACUATED;
                else if (ev->kind == EVACUATION_RECOVER && e->state == ENTRY_MIGRATING && here) {
                        /* still here: a migration of the restarter may still be at work */
                        free(e->zone_path);
                        e->zone_path = strdup(path);
                        if (!e->zone_path ||
                            sd_bus_call_method_async(ev->manager->bus, &e->call, RESTARTER_BUS_NAME, path,
                                    DBUS_PROPERTIES_IFACE, "Get", on_local_job, e, "ss", RESTARTER_ZONE_IFACE,
                                    "Job") < 0) {
                                (void) entry_set_error(e, "interrupted: the zone runs here");
                                e->state = ENTRY_FAILED;
                        } else
                                ev->n_asking++;
                }
        }
        if (r < 0) {
                evacuation_fail(ev, SD_BUS_ERROR_FAILED, "cannot read this host's zones: %s", strerror(-r));
                return 0;
        }
        if (ev->kind == EVACUATION_RECOVER)
                /* MIGRATING and not here: its destination says whether it arrived */
                for (size_t i = 0; i < ev->n_entries; i++) {
                        Entry *e = ev->entries[i];

                        if (e->state == ENTRY_MIGRATING && !e->call && !e->job)
                                entry_ask_destination(e);
                }
        if (ev->n_asking == 0)
                evacuation_planned(ev);
        return 0;
}

int evacuation_plan(sd_event_source *s, void *userdata)
{
        Evacuation *ev = userdata;
        _cleanup_(evacuation_freep) Evacuation *rec = NULL;
        sd_bus_message_handler_t handler = on_list_zones;
        int r;

        ev->step = sd_event_source_disable_unref(ev->step);
        if (ev->kind == EVACUATION_RETURN) {
                r = record_load(ev->manager, &rec);
                if (r < 0) {
                        evacuation_fail(ev, SD_BUS_ERROR_FAILED, "the evacuation record cannot be read: %s",
                                strerror(-r));
                        return 0;
                }
                if (r == 0) {
                        evacuation_fail(ev, KZ_ERROR_NO_EVACUATION, "no active evacuation");
                        return 0;
                }
                free(ev->return_uri);
                ev->return_uri = TAKE_PTR(rec->return_uri);
                for (size_t i = 0; i < rec->n_entries; i++) {
                        Entry *o = rec->entries[i], *e;

                        if (o->state != ENTRY_EVACUATED && o->state != ENTRY_RETURNING)
                                continue;
                        r = evacuation_add_entry(ev, o->zone, &e);
                        if (r < 0)
                                return r;
                        e->state = ENTRY_PENDING;
                        e->cold = o->cold;
                        free(e->destination);
                        e->destination = TAKE_PTR(o->destination);
                        free(e->brand);
                        e->brand = TAKE_PTR(o->brand);
                }
                handler = on_list_zones_back;
        } else if (ev->kind == EVACUATION_RECOVER)
                handler = on_list_zones_back;
        r = sd_bus_call_method_async(ev->manager->bus, &ev->list_call, RESTARTER_BUS_NAME, RESTARTER_PATH,
                RESTARTER_MANAGER_IFACE, "ListZones", handler, ev, NULL);
        if (r < 0)
                evacuation_fail(ev, SD_BUS_ERROR_FAILED, "cannot ask the restarter for the zones: %s", strerror(-r));
        return 0;
}

