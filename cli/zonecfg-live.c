/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zonecfg -r talks to the zone restarter: the live configuration comes from
 * Zone.GetLiveConfiguration (XML and its generation), a commit is
 * Zone.ReconfigureLive(XML, generation, {DryRun}), a job of kind "apply" followed
 * as zoneadm follows it (its lines as "zone 'NAME': LINE"). Errors are said as
 * zoneadm says them, "zonecfg: zone 'NAME': …". */
#include <stdlib.h>

#include "macro.h"
#include "restarter-client.h"
#include "zonecfg-live.h"

struct ZonecfgLiveBus {
        sd_bus *bus;
        char *zone;
        char *path;
};

ZonecfgLiveBus *zonecfg_live_bus_free(ZonecfgLiveBus *b)
{
        if (!b)
                return NULL;
        sd_bus_flush_close_unref(b->bus);
        free(b->zone);
        free(b->path);
        free(b);
        return NULL;
}

/* The zone's path, found once; the zone running, checked each time (reload too). */
static int need_running(ZonecfgLiveBus *b)
{
        int r;

        if (!b->path) {
                r = zone_lookup(b->bus, b->zone, &b->path);
                if (r < 0)
                        return r;
        }
        return zone_require_running(b->bus, b->zone, b->path,
                "live mode (-r) edits a running zone's live configuration; without -r, zonecfg edits the "
                "configuration the zone boots with");
}

static int live_load(void *userdata, char **ret_xml, uint64_t *ret_generation)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        ZonecfgLiveBus *b = userdata;
        const char *xml;
        uint64_t generation;
        char *copy;
        int r;

        r = need_running(b);
        if (r < 0)
                return r;
        r = sd_bus_call_method(b->bus, RESTARTER_BUS_NAME, b->path, RESTARTER_ZONE_IFACE, "GetLiveConfiguration",
                &error, &reply, NULL);
        if (r < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT))
                return log_not_configured(b->zone);
        if (r < 0)
                return log_call_error(b->zone, &error, r, 0);
        r = sd_bus_message_read(reply, "st", &xml, &generation);
        if (r < 0)
                return log_bad_reply(b->zone, r);
        copy = strdup(xml);
        if (!copy)
                return log_bad_reply(b->zone, -ENOMEM);
        *ret_xml = copy;
        *ret_generation = generation;
        return 0;
}

static int live_commit(void *userdata, const char *xml, uint64_t generation, bool dry_run, bool quiet)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        ZonecfgLiveBus *b = userdata;
        JobCall c = { .zone = b->zone, .quiet = quiet, .silent_refusal = true, .silent_failure = true };
        int r;

        r = need_running(b);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(b->bus, &m, RESTARTER_BUS_NAME, b->path, RESTARTER_ZONE_IFACE,
                "ReconfigureLive");
        if (r >= 0)
                r = sd_bus_message_append(m, "st", xml, generation);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 1, "DryRun", "b", dry_run);
        if (r < 0)
                return log_request_error(r);
        r = zone_job_run(b->bus, m, &c);
        if (r >= 0 || !sd_bus_error_is_set(&c.error)) {
                job_call_done(&c);
                return r;
        }
        /* refused at once (the generation) or found by the job (QMP says otherwise):
         * the caller says it in the guide's words */
        if (sd_bus_error_has_name(&c.error, KZ_ERROR_LIVE_CONFIG_CHANGED))
                r = -ESTALE;
        else if (c.job_failed && !quiet)
                (void) log_apply_error(b->zone, &c.error, r);
        else if (!c.job_failed && sd_bus_error_has_name(&c.error, SD_BUS_ERROR_UNKNOWN_OBJECT))
                r = log_not_configured(b->zone);
        else if (!c.job_failed)
                (void) log_call_error(b->zone, &c.error, r, 0);
        job_call_done(&c);
        return r;
}

int zonecfg_live_bus_new(const char *zone, ZonecfgLive *ret_live, ZonecfgLiveBus **ret)
{
        ZonecfgLiveBus *b;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->zone = strdup(zone);
        if (!b->zone) {
                zonecfg_live_bus_free(b);
                return -ENOMEM;
        }
        r = sd_bus_open_system(&b->bus);
        if (r < 0) {
                zonecfg_live_bus_free(b);
                return log_unreachable(NULL, r);
        }
        *ret_live = (ZonecfgLive) {
                .load = live_load,
                .commit = live_commit,
                .userdata = b,
        };
        *ret = b;
        return 0;
}
