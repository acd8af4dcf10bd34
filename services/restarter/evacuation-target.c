/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where 'sysadm evacuate' sends a zone: EvacuationTarget= in [X-Kzones] of the
 * unit's drop-ins, zone@NAME.service.d/ for one zone, zone@.service.d/ for the
 * default (the Manager's DefaultEvacuationTarget), so that systemd's own tools
 * show and edit it. One getter and one setter serve both. */
#include <sys/stat.h>

#include "log.h"
#include "mkdir.h"
#include "remote.h"
#include "restarter.h"
#include "strv.h"
#include "zone-net.h"

#define EVACUATION_DROPIN "50-kzones-evacuation.conf"

int evacuation_target(Manager *m, const char *zone, char **ret)
{
        char *v = NULL;
        int r = zone_unit_setting(m->root, zone, "EvacuationTarget", &v);

        if (r < 0)
                return r;
        *ret = v ?: strdup("");
        return *ret ? 0 : -ENOMEM;
}

static int write_evacuation_dropin(Manager *m, const char *unit, const char *value, sd_bus_error *error)
{
        _cleanup_free_ char *dir = manager_path(m, "/etc/systemd/system/%s.d", unit), *path = NULL,
                            *content = NULL, *bad = NULL, *joined = NULL;
        _cleanup_strv_free_ char **targets = NULL;
        const char *reason = NULL;
        int r;

        if (!dir || asprintf(&path, "%s/" EVACUATION_DROPIN, dir) < 0)
                return -ENOMEM;
        if (isempty(value)) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return sd_bus_error_set_errnof(error, errno, "cannot remove %s: %m", path);
                return 0;
        }
        /* one URI, or a list of them separated by spaces: the evacuation places each
         * zone on the one with the most room (docs/evacuation.md) */
        r = remote_uri_list_split(value, &targets, &bad, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0 && bad && !strpbrk(value, " \t"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                        "'%s' is not a valid evacuation target (ssh://[USER@]HOST[:PORT]): %s.", value, reason);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                        "'%s' is not a valid evacuation target list (ssh://[USER@]HOST[:PORT], separated by "
                        "spaces): %s%s%s%s.", value, bad ? "'" : "", strempty(bad), bad ? "': " : "", reason);
        joined = strv_join(targets, " ");
        if (!joined || asprintf(&content,
                    "# Written by kzones-restarterd; 'busctl set-property' or editing this file and\n"
                    "# 'systemctl reload' (or daemon-reload) changes it.\n"
                    "[X-Kzones]\n"
                    "EvacuationTarget=%s\n",
                    joined) < 0)
                return -ENOMEM;
        /* /etc/systemd/system and the .d directory, as needed */
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "cannot create %s: %s", dir, strerror(-r));
        r = write_file_atomic(path, content, strlen(content), 0644);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "cannot write %s: %s", path, strerror(-r));
        return 0;
}

void evacuation_targets_changed(Manager *m)
{
        _cleanup_free_ char *d = NULL;
        Zone *z;

        /* what was not known before (a zone just seen, the restarter's start) is
         * no change: only the bus name's owner is heard, and the objects say it */
        if (evacuation_target(m, NULL, &d) >= 0 && !streq_ptr(d, m->default_evacuation_target)) {
                bool known = m->default_evacuation_target && m->name_requested;

                free(m->default_evacuation_target);
                m->default_evacuation_target = TAKE_PTR(d);
                if (known)
                        (void) sd_bus_emit_properties_changed(m->bus, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                                "DefaultEvacuationTarget", NULL);
        }
        HASHMAP_FOREACH(z, m->zones, state) {
                _cleanup_free_ char *v = NULL;
                bool known;

                if (evacuation_target(m, z->name, &v) < 0 || streq_ptr(v, z->evacuation_target))
                        continue;
                known = z->evacuation_target && m->name_requested;
                free(z->evacuation_target);
                z->evacuation_target = TAKE_PTR(v);
                if (known)
                        (void) sd_bus_emit_properties_changed(m->bus, z->path, RESTARTER_ZONE_IFACE,
                                "EvacuationTarget", NULL);
        }
}

int evacuation_target_set(Manager *m, const char *zone, const char *value, sd_bus_error *error)
{
        _cleanup_free_ char *unit = NULL;
        int r;

        if (zone ? asprintf(&unit, "zone@%s.service", zone) < 0 : !(unit = strdup("zone@.service")))
                return -ENOMEM;
        r = write_evacuation_dropin(m, unit, value, error);
        if (r < 0)
                return r;
        if (zone)
                log_info("zone '%s': evacuation target set to '%s'", zone, value);
        else
                log_info("default evacuation target set to '%s'", value);
        evacuation_targets_changed(m);
        return 0;
}

/* The Manager's DefaultEvacuationTarget and a Zone's EvacuationTarget. */
static Manager *target_of(const char *interface, void *userdata, const char **ret_zone)
{
        if (streq(interface, RESTARTER_MANAGER_IFACE)) {
                *ret_zone = NULL;
                return userdata;
        }
        *ret_zone = ((Zone *) userdata)->name;
        return ((Zone *) userdata)->manager;
}

int bus_property_get_evacuation_target(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        _cleanup_free_ char *v = NULL;
        const char *zone;
        Manager *m = target_of(interface, userdata, &zone);
        int r;

        r = evacuation_target(m, zone, &v);
        if (r < 0)
                return r;
        return sd_bus_message_append(reply, "s", v);
}

int bus_property_set_evacuation_target(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *value, void *userdata, sd_bus_error *error)
{
        const char *zone, *v;
        Manager *m = target_of(interface, userdata, &zone);
        int r;

        r = sd_bus_message_read(value, "s", &v);
        if (r < 0)
                return r;
        r = bus_check_authorized(zone ? userdata : NULL, value, "manage", error);
        if (r < 0)
                return r;
        return evacuation_target_set(m, zone, v, error);
}

/* The Manager's HostMemory (tt): MemTotal and MemAvailable of /proc/meminfo, in
 * bytes, read when asked. An evacuation whose target is a list asks each
 * target's restarter for it and places a zone without a memory pool on the one
 * with the most available. */
int bus_property_get_host_memory(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
        unsigned long long total = 0, available = 0, kb;
        bool have_total = false, have_available = false;
        char line[256];

        if (!f)
                return sd_bus_error_set_errnof(error, errno, "cannot read /proc/meminfo: %m");
        while (fgets(line, sizeof(line), f)) {
                if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
                        total = kb;
                        have_total = true;
                } else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
                        available = kb;
                        have_available = true;
                }
        }
        if (!have_total || !have_available)
                return sd_bus_error_set(error, SD_BUS_ERROR_FAILED,
                        "/proc/meminfo gives no MemTotal or MemAvailable");
        return sd_bus_message_append(reply, "(tt)", (uint64_t) total * 1024, (uint64_t) available * 1024);
}
