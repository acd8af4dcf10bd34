/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How long each zone of a plan should take to move: its memory over the link's rate.
 *
 * The rate to a destination is, in this order: the one measured by the last live
 * migration this service ran to (or back from) that destination — entry_measure(),
 * kept in EVACUATION_RATES_FILE —, the
 * one kzones-evacuated.service sets with Environment=KZONES_EVACUATION_LINK_RATE=
 * (bytes per second, K/M/G suffixes), or EVACUATION_LINK_RATE_DEFAULT. A live
 * migration copies the memory once and then what the guest dirtied meanwhile, so
 * the estimate is a lower bound; a cold migration copies no memory. */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evacuation.h"
#include "fs-util.h"
#include "log.h"
#include "mkdir.h"
#include "size.h"
#include "zone-qemu.h"
#include "zone-store.h"

static const char *const rate_source_table[_RATE_SOURCE_MAX] = {
        [RATE_MEASURED] = "measured",
        [RATE_CONFIGURED] = "configured",
        [RATE_DEFAULT] = "default",
};
DEFINE_STRING_TABLE(rate_source, RateSource, _RATE_SOURCE_MAX)

int manager_read_link_rate(Manager *m)
{
        const char *p = getenv("KZONES_EVACUATION_LINK_RATE");
        uint64_t v;

        m->link_rate = EVACUATION_LINK_RATE_DEFAULT;
        m->link_rate_source = RATE_DEFAULT;
        if (!p)
                return 0;
        if (size_parse(p, &v) < 0 || v == 0) {
                log_warning("KZONES_EVACUATION_LINK_RATE=%s is not a rate in bytes per second: using %" PRIu64, p,
                        m->link_rate);
                return -EINVAL;
        }
        m->link_rate = v;
        m->link_rate_source = RATE_CONFIGURED;
        return 0;
}

static json_object *rates_load(Manager *m)
{
        _cleanup_free_ char *path = manager_path(m, EVACUATION_RATES_FILE), *text = NULL;
        json_object *o;
        size_t size;

        if (!path || read_file_bounded(path, EVACUATION_RECORD_MAX, &text, &size) < 0)
                return NULL;
        o = json_tokener_parse(text);
        if (o && !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

uint64_t manager_link_rate(Manager *m, const char *destination, RateSource *ret_source)
{
        json_object *o = rates_load(m), *d, *v;
        uint64_t rate = 0;

        if (o && destination && json_object_object_get_ex(o, destination, &d) &&
            json_object_object_get_ex(d, "rate", &v))
                rate = (uint64_t) json_object_get_int64(v);
        json_object_put(o);
        if (rate > 0) {
                *ret_source = RATE_MEASURED;
                return rate;
        }
        *ret_source = m->link_rate_source;
        return m->link_rate;
}

int manager_remember_link_rate(Manager *m, const char *destination, uint64_t rate)
{
        _cleanup_free_ char *path = manager_path(m, EVACUATION_RATES_FILE);
        json_object *o, *d;
        const char *text;
        int r = 0;

        if (!path)
                return -ENOMEM;
        if (isempty(destination) || rate == 0)
                return 0;
        o = rates_load(m) ?: json_object_new_object();
        d = json_object_new_object();
        if (!o || !d || json_object_object_add(d, "rate", json_object_new_int64((int64_t) rate)) < 0 ||
            json_object_object_add(d, "time", json_object_new_int64((int64_t) time(NULL))) < 0 ||
            json_object_object_add(o, destination, d) < 0) {
                json_object_put(d);
                r = -ENOMEM;
        }
        if (r >= 0) {
                text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
                r = mkdir_parents(path, 0700);
                if (r >= 0)
                        r = write_file_atomic(path, text, strlen(text), 0600);
                if (r < 0)
                        log_warning("cannot write the link rates %s: %s", path, strerror(-r));
                else
                        log_info("link rate to %s: %" PRIu64 " bytes/s", destination, rate);
        }
        json_object_put(o);
        return r;
}

/* The link rate a move shows: the restarter's per-second Rate (0 for a copy under a
 * second) or the bytes since the first sample over the time since, whichever is
 * higher (the last rounds of a live migration move little). */
void entry_measure(Entry *e, uint64_t rate, uint64_t bytes_done)
{
        uint64_t now = 0, r;

        if (rate > e->rate)
                e->rate = rate;
        if (bytes_done == 0 || sd_event_now(e->evacuation->manager->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (e->first_usec == 0 || bytes_done < e->first_bytes) {
                e->first_usec = now;
                e->first_bytes = bytes_done;
                return;
        }
        if (now <= e->first_usec)
                return;
        r = (bytes_done - e->first_bytes) * 1000000 / (now - e->first_usec);
        if (r > e->rate)
                e->rate = r;
}

uint64_t manager_zone_memory(Manager *m, const char *zone, char **ret_pool)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        const ZoneResource *cm;
        const char *pool;

        if (ret_pool)
                *ret_pool = NULL;
        if (zone_store_load(m->root ?: "", zone, &c, NULL) < 0)
                return 0;
        /* its memory reservation pool, if it has one: a list target places it by the
         * pool's free memory (evacuation-place.c) */
        cm = zone_resource_first(c->root, resource_type_child(zone_type(), "capped-memory"));
        pool = cm ? zone_resource_get(cm, "memory-reserve") : NULL;
        if (ret_pool && !isempty(pool))
                *ret_pool = strdup(pool);
        return zone_memory_bytes(c);
}

/* Estimates: a(sttts) zone, memory to copy, rate, estimated µs, where the rate comes from,
 * for each entry that has a destination. */
int bus_append_estimates(sd_bus_message *reply, Evacuation *ev)
{
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(sttts)");
        for (size_t i = 0; r >= 0 && ev && ev->planned && i < ev->n_entries; i++) {
                const Entry *e = ev->entries[i];
                uint64_t memory = e->cold ? 0 : e->memory, rate, usec;
                RateSource source;

                if (isempty(e->destination) || e->state == ENTRY_SKIPPED)
                        continue;
                rate = manager_link_rate(ev->manager, e->destination, &source);
                usec = rate ? (uint64_t) ((long double) memory * 1000000 / rate) : 0;
                r = sd_bus_message_append(reply, "(sttts)", e->zone, memory, rate, usec,
                        rate_source_to_string(source));
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}
