/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Zones whose evacuation target is a list ("ssh://h2 ssh://h3"): each host of
 * the lists is asked, over SSH and all at once, for its room — its restarter's
 * HostMemory, its memory-reserve service's pools (when a zone of the lists has a
 * pool) and whether it is in maintenance mode (its kzones-evacuated) — and each
 * such zone then goes to the host with the most room for it
 * (evacuation-place.c), largest zone first, after the memory of the zones whose
 * own single target is one of these hosts is counted there. A host that cannot be reached or is in
 * maintenance takes none, and the job's Notes say so; a zone no host can take is
 * FAILED with each host's reason. A target of one host is not asked: the
 * migration's own checks answer for it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evacuation.h"
#include "log.h"
#include "remote.h"
#include "strv.h"

Target *target_free(Target *t)
{
        if (!t)
                return NULL;
        sd_bus_slot_unref(t->memory_call);
        sd_bus_slot_unref(t->maintenance_call);
        sd_bus_slot_unref(t->pools_call);
        sd_bus_flush_close_unref(t->remote);
        if (t->ssh_errors >= 0)
                close(t->ssh_errors);
        place_target_free(t->place);
        free(t);
        return NULL;
}

static void targets_answered(Evacuation *ev);

static void target_unusable(Target *t, const char *fmt, ...) _printf_(2, 3);
static void target_unusable(Target *t, const char *fmt, ...)
{
        va_list ap;
        char *s;

        if (t->place->unusable)
                return; /* the first reason stays */
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        t->place->unusable = s ?: strdup("out of memory");
}

/* A call that failed because the host could not be reached: ssh's own reason. */
static bool target_lost(Target *t, const sd_bus_error *err)
{
        char buf[256];
        const char *why;

        if (!sd_bus_error_has_name(err, SD_BUS_ERROR_NO_REPLY) && !sd_bus_error_has_name(err, SD_BUS_ERROR_DISCONNECTED))
                return false;
        why = remote_ssh_reason(t->ssh_errors, buf, sizeof(buf));
        target_unusable(t, "cannot be reached: %s", why ?: err->message);
        return true;
}

static void target_answered(Target *t)
{
        Evacuation *ev = t->evacuation;

        ev->n_asking--;
        if (ev->n_asking == 0)
                targets_answered(ev);
}

static int on_host_memory(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Target *t = userdata;
        const sd_bus_error *err = sd_bus_message_get_error(m);
        uint64_t total, available;

        t->memory_call = sd_bus_slot_unref(t->memory_call);
        if (err) {
                if (!target_lost(t, err))
                        t->place->memory_error = strdup(err->message ?: err->name);
        } else if (sd_bus_message_read(m, "v", "(tt)", &total, &available) < 0)
                t->place->memory_error = strdup("its restarter's HostMemory is not (tt)");
        else {
                t->place->available = available;
                t->place->memory_known = true;
        }
        target_answered(t);
        return 0;
}

static int on_maintenance(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Target *t = userdata;
        const sd_bus_error *err = sd_bus_message_get_error(m);
        int on = 0;

        t->maintenance_call = sd_bus_slot_unref(t->maintenance_call);
        /* a host without kzones-evacuated is in no maintenance mode it knows of: its
         * restarter refuses an incoming migration if it is (maintenance_check()) */
        if (err)
                (void) target_lost(t, err);
        else if (sd_bus_message_read(m, "v", "b", &on) >= 0 && on)
                target_unusable(t, "in maintenance mode");
        target_answered(t);
        return 0;
}

/* ListPools: a(sstttto) name, state, page size, total, used, free, path. */
static int on_pools(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Target *t = userdata;
        const sd_bus_error *err = sd_bus_message_get_error(m);
        const char *name, *state, *path;
        uint64_t page, total, used, free_memory;
        int r;

        t->pools_call = sd_bus_slot_unref(t->pools_call);
        if (err) {
                if (!target_lost(t, err))
                        t->place->pools_error = strdup(err->message ?: err->name);
                target_answered(t);
                return 0;
        }
        r = sd_bus_message_enter_container(m, 'a', "(sstttto)");
        while (r >= 0 && (r = sd_bus_message_read(m, "(sstttto)", &name, &state, &page, &total, &used, &free_memory,
                                  &path)) > 0)
                r = place_target_add_pool(t->place, name, free_memory,
                        streq(state, "online") || streq(state, "degraded"));
        if (r < 0)
                t->place->pools_error = strdup("its memory-reserve service's ListPools could not be read");
        else
                t->place->pools_known = true;
        target_answered(t);
        return 0;
}

static Target *find_target(Evacuation *ev, const char *uri)
{
        for (size_t i = 0; i < ev->n_targets; i++)
                if (streq(ev->targets[i]->place->uri, uri))
                        return ev->targets[i];
        return NULL;
}

static int target_add(Evacuation *ev, const char *uri, Target **ret)
{
        Target **l, *t;
        int r;

        l = reallocarray(ev->targets, ev->n_targets + 1, sizeof(Target *));
        if (!l)
                return -ENOMEM;
        ev->targets = l;
        t = calloc(1, sizeof(Target));
        if (!t)
                return -ENOMEM;
        *t = (Target) { .evacuation = ev, .ssh_errors = -EBADF };
        r = place_target_new(uri, &t->place);
        if (r < 0) {
                free(t);
                return r;
        }
        ev->targets[ev->n_targets++] = t;
        *ret = t;
        return 0;
}

/* Connects to the host and asks it all at once; each answer counts down n_asking. */
static void target_ask(Target *t, bool pools)
{
        _cleanup_(remote_uri_done) RemoteUri u = {};
        _cleanup_free_ char *host = NULL;
        Evacuation *ev = t->evacuation;
        const char *reason = NULL;
        int r;

        if (remote_uri_parse(t->place->uri, &u, &reason) < 0)
                return target_unusable(t, "not a host to migrate to: %s", strna(reason));
        host = remote_uri_to_bus_host(&u);
        if (!host)
                return target_unusable(t, "out of memory");
        r = remote_bus_open(&t->remote, host, &t->ssh_errors);
        if (r >= 0)
                r = sd_bus_attach_event(t->remote, ev->manager->event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_call_method_async(t->remote, &t->memory_call, RESTARTER_BUS_NAME, RESTARTER_PATH,
                        DBUS_PROPERTIES_IFACE, "Get", on_host_memory, t, "ss", RESTARTER_MANAGER_IFACE, "HostMemory");
        if (r >= 0) {
                ev->n_asking++;
                r = sd_bus_call_method_async(t->remote, &t->maintenance_call, EVACUATION_BUS_NAME, EVACUATION_PATH,
                        DBUS_PROPERTIES_IFACE, "Get", on_maintenance, t, "ss", EVACUATION_MANAGER_IFACE, "Maintenance");
                if (r >= 0)
                        ev->n_asking++;
        }
        if (r >= 0 && pools) {
                r = sd_bus_call_method_async(t->remote, &t->pools_call, MEMORY_RESERVE_BUS_NAME, MEMORY_RESERVE_PATH,
                        MEMORY_RESERVE_MANAGER_IFACE, "ListPools", on_pools, t, NULL);
                if (r >= 0)
                        ev->n_asking++;
        }
        if (r < 0)
                target_unusable(t, "cannot be reached over SSH: %s", strerror(-r));
}

void evacuation_place(Evacuation *ev)
{
        int r = 0;

        for (size_t i = 0; r >= 0 && i < ev->n_entries; i++) {
                Entry *e = ev->entries[i];

                if (e->state != ENTRY_PENDING)
                        continue;
                for (char **u = e->candidates; u && *u; u++) {
                        Target *t = find_target(ev, *u);

                        if (!t && (r = target_add(ev, *u, &t)) < 0)
                                break;
                }
        }
        if (r < 0) {
                evacuation_fail(ev, SD_BUS_ERROR_NO_MEMORY, "out of memory");
                return;
        }
        if (ev->n_targets == 0)
                return evacuation_planned(ev);
        /* counted as asked until all are, so that a quick answer does not place early */
        ev->n_asking++;
        for (size_t i = 0; i < ev->n_targets; i++) {
                bool pools = false;

                for (size_t j = 0; !pools && j < ev->n_entries; j++)
                        pools = ev->entries[j]->pool && strv_contains(ev->entries[j]->candidates,
                                                                        ev->targets[i]->place->uri);
                target_ask(ev->targets[i], pools);
        }
        ev->n_asking--;
        if (ev->n_asking == 0)
                targets_answered(ev);
}

/* Largest first (it is the hardest to place), then by name. */
static int entry_size_cmp(const void *a, const void *b)
{
        const Entry *x = *(Entry *const *) a, *y = *(Entry *const *) b;

        if (x->memory != y->memory)
                return x->memory > y->memory ? -1 : 1;
        return strcmp(x->zone, y->zone);
}

static void place_entry(Evacuation *ev, Entry *e)
{
        _cleanup_free_ PlaceTarget **l = calloc(strv_length(e->candidates), sizeof(PlaceTarget *));
        _cleanup_free_ char *why = NULL;
        size_t n = 0;
        int r;

        if (!l) {
                (void) entry_set_error(e, "out of memory");
                e->state = ENTRY_FAILED;
                return;
        }
        for (char **u = e->candidates; *u; u++)
                l[n++] = find_target(ev, *u)->place;
        /* a cold zone is placed as if it ran: where it could boot */
        r = place_choose(l, n, e->memory, e->pool, &why);
        if (r < 0) {
                (void) entry_set_error(e, "no target can take it: %s", why ?: "out of memory");
                e->state = ENTRY_FAILED;
                return;
        }
        place_take(l[r], e->memory, e->pool);
        free(e->destination);
        e->destination = strdup(l[r]->uri);
        if (!e->destination) {
                e->destination = strdup("");
                e->state = ENTRY_FAILED;
        }
        log_info("zone '%s': placed on %s of %zu targets", e->zone, l[r]->uri, n);
}

static void targets_answered(Evacuation *ev)
{
        _cleanup_free_ Entry **order = NULL;
        size_t n = 0;

        for (size_t i = 0; i < ev->n_targets; i++) {
                Target *t = ev->targets[i];
                _cleanup_free_ char *note = NULL;

                t->remote = sd_bus_flush_close_unref(t->remote);
                if (!t->place->unusable)
                        continue;
                if (asprintf(&note, "%s is left out of the placement: %s", place_host(t->place->uri),
                            t->place->unusable) >= 0) {
                        log_notice("%s", note);
                        (void) strv_add_unique(&ev->notes, note);
                }
        }
        order = calloc(ev->n_entries ?: 1, sizeof(Entry *));
        if (!order) {
                evacuation_fail(ev, SD_BUS_ERROR_NO_MEMORY, "out of memory");
                return;
        }
        for (size_t i = 0; i < ev->n_entries; i++) {
                Entry *e = ev->entries[i];
                Target *t;

                if (e->state != ENTRY_PENDING)
                        continue;
                if (e->candidates)
                        order[n++] = e;
                else if ((t = find_target(ev, e->destination)))
                        /* a zone whose own target is one host of a list goes there: its
                         * memory is not free there for the zones placed after */
                        place_take(t->place, e->memory, e->pool);
        }
        if (n > 1)
                qsort(order, n, sizeof(Entry *), entry_size_cmp);
        for (size_t i = 0; i < n; i++)
                place_entry(ev, order[i]);
        evacuation_planned(ev);
}
