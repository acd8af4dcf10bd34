/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zoneadm list: the layouts of Solaris's zoneadm list (names, -v, -p, -s), from
 * the restarter's zone objects. */
#include <inttypes.h>

#include "macro.h"
#include "zoneadm.h"

/* One line of 'zoneadm list'. The global zone (the host) is an entry like any other, named "global". */
typedef struct ZoneInfo {
        char *name;
        char *state;
        char *uuid;
        char *brand;
        int32_t id; /* -1 unless the zone is ready or running */
        char **aux; /* auxiliary states, NULL-terminated, or NULL */
} ZoneInfo;

typedef struct ZoneList {
        ZoneInfo *zones;
        size_t n, allocated;
} ZoneList;

/* ---- list ---- */

static void zone_info_done(ZoneInfo *z)
{
        free(z->name);
        free(z->state);
        free(z->uuid);
        free(z->brand);
        strv_freep(&z->aux);
        *z = (ZoneInfo) { .id = -1 };
}

static void zone_list_done(ZoneList *l)
{
        for (size_t i = 0; i < l->n; i++)
                zone_info_done(&l->zones[i]);
        free(l->zones);
        *l = (ZoneList) {};
}

/* Appends an empty entry (id -1) and returns it, or NULL if out of memory. */
static ZoneInfo *zone_list_add(ZoneList *l)
{
        if (l->n == l->allocated) {
                size_t a = l->allocated ? l->allocated * 2 : 16;
                ZoneInfo *z;

                if (a > SIZE_MAX / sizeof(ZoneInfo))
                        return NULL;
                z = realloc(l->zones, a * sizeof(ZoneInfo));
                if (!z)
                        return NULL;
                l->zones = z;
                l->allocated = a;
        }
        l->zones[l->n] = (ZoneInfo) { .id = -1 };
        return &l->zones[l->n++];
}

static int zone_info_compare(const void *a, const void *b)
{
        return strcmp(((const ZoneInfo *) a)->name, ((const ZoneInfo *) b)->name);
}

static bool zone_is_global(const ZoneInfo *z)
{
        return streq(z->name, GLOBAL_ZONE);
}

static void print_id(FILE *f, const char *fmt, int32_t id)
{
        char buf[16] = "-";

        if (id >= 0)
                (void) snprintf(buf, sizeof(buf), "%" PRIi32, id);
        fprintf(f, fmt, buf);
}

/* Auxiliary states comma-separated; @none when there are none. */
static void print_aux(FILE *f, char **aux, const char *none)
{
        if (!aux || !aux[0]) {
                fputs(none, f);
                return;
        }
        for (char **a = aux; *a; a++)
                fprintf(f, "%s%s", a == aux ? "" : ",", *a);
}

static void list_print_names(FILE *f, const ZoneInfo *zones, size_t n)
{
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s\n", zones[i].name);
}

/* The columns of Solaris 'zoneadm list -v'. Kernel zones have no path in the host's file system. */
static void list_print_verbose(FILE *f, const ZoneInfo *zones, size_t n)
{
        fprintf(f, "%4s %-16s %-11s %-30s %-10s %-6s\n", "ID", "NAME", "STATUS", "PATH", "BRAND", "IP");
        for (size_t i = 0; i < n; i++) {
                const ZoneInfo *z = &zones[i];
                bool global = zone_is_global(z);

                print_id(f, "%4s", z->id);
                fprintf(f, " %-16s %-11s %-30s %-10s %-6s\n", z->name, z->state ?: "-", global ? "/" : "-",
                        z->brand ?: "-", global ? "shared" : "excl");
        }
}

/* ID:NAME:STATE:PATH:UUID:BRAND:IP:-:MAC-PROFILE-OR-BRAND:AUX, as Solaris 'zoneadm list -p'. Zone names,
 * UUIDs, brands and auxiliary states never contain ':'. */
static void list_print_parsable(FILE *f, const ZoneInfo *zones, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                const ZoneInfo *z = &zones[i];

                print_id(f, "%s", z->id);
                if (zone_is_global(z))
                        fprintf(f, ":%s:%s:/:%s:%s:shared:-:none:", z->name, z->state ?: "", z->uuid ?: "",
                                z->brand ?: "");
                else
                        fprintf(f, ":%s:%s:/run/kzones/%s:%s:%s:excl:-:%s:", z->name, z->state ?: "", z->name,
                                z->uuid ?: "", z->brand ?: "", z->brand ?: "");
                print_aux(f, z->aux, "");
                fputc('\n', f);
        }
}

static void list_print_status(FILE *f, const ZoneInfo *zones, size_t n)
{
        fprintf(f, "%-16s %-16s %s\n", "NAME", "STATUS", "AUXILIARY STATE");
        for (size_t i = 0; i < n; i++) {
                fprintf(f, "%-16s %-16s ", zones[i].name, zones[i].state ?: "-");
                print_aux(f, zones[i].aux, "-");
                fputc('\n', f);
        }
}

static void list_print(FILE *f, ListFormat format, const ZoneInfo *zones, size_t n)
{
        switch (format) {
        case LIST_NAMES:
                list_print_names(f, zones, n);
                break;
        case LIST_VERBOSE:
                list_print_verbose(f, zones, n);
                break;
        case LIST_PARSABLE:
                list_print_parsable(f, zones, n);
                break;
        case LIST_STATUS:
                list_print_status(f, zones, n);
                break;
        case _LIST_FORMAT_MAX:
        case _LIST_FORMAT_INVALID:
                break;
        }
}

static int strdup_to(char **dst, const char *s)
{
        char *p = strdup(s);

        if (!p)
                return -ENOMEM;
        free(*dst);
        *dst = p;
        return 0;
}

/* Fills @z from the zone object's properties. Name, State, Uuid and Brand are taken only where @z has
 * none yet (ListZones already gave them). Returns -ENOENT if the zone went away meanwhile, quietly. */
static int zone_info_read(sd_bus *bus, const char *path, ZoneInfo *z, const char *zone)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, RESTARTER_BUS_NAME, path, DBUS_PROPERTIES_IFACE, "GetAll", &error,
                &reply, "s", RESTARTER_ZONE_IFACE);
        if (r < 0) {
                if (sd_bus_error_has_names(&error, KZ_ERROR_ZONE_NOT_FOUND, SD_BUS_ERROR_UNKNOWN_OBJECT))
                        return -ENOENT;
                return log_call_error(zone, &error, r, 0);
        }

        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return log_bad_reply(zone, r);
        while ((r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
                char **field = NULL;
                const char *key, *s;

                r = sd_bus_message_read(reply, "s", &key);
                if (r < 0)
                        return log_bad_reply(zone, r);
                if (streq(key, "Name"))
                        field = &z->name;
                else if (streq(key, "State"))
                        field = &z->state;
                else if (streq(key, "Uuid"))
                        field = &z->uuid;
                else if (streq(key, "Brand"))
                        field = &z->brand;

                if (field && !*field) {
                        r = sd_bus_message_read(reply, "v", "s", &s);
                        if (r >= 0)
                                r = strdup_to(field, s);
                } else if (streq(key, "Id"))
                        r = sd_bus_message_read(reply, "v", "i", &z->id);
                else if (streq(key, "AuxiliaryStates")) {
                        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_VARIANT, "as");
                        if (r >= 0) {
                                strv_freep(&z->aux);
                                r = sd_bus_message_read_strv(reply, &z->aux);
                        }
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                } else
                        r = sd_bus_message_skip(reply, "v");
                if (r < 0)
                        return log_bad_reply(zone, r);
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return log_bad_reply(zone, r);
        }
        if (r < 0)
                return log_bad_reply(zone, r);
        return 0;
}

static int list_add_global(ZoneList *l)
{
        ZoneInfo *z = zone_list_add(l);

        if (!z)
                return -ENOMEM;
        z->id = 0;
        if (strdup_to(&z->name, GLOBAL_ZONE) < 0 || strdup_to(&z->state, "running") < 0 ||
                strdup_to(&z->uuid, "") < 0 || strdup_to(&z->brand, "linux") < 0)
                return -ENOMEM;
        return 0;
}

static bool state_is_listed(const char *state, ZoneState min_state)
{
        ZoneState s = zone_state_from_string(state);

        /* A state this zoneadm does not know yet shows with -c only. */
        if (s < 0)
                return min_state == ZONE_STATE_CONFIGURED;
        return s >= min_state;
}

/* Every zone with what 'zoneadm list' shows of it, in the one call ListZonesDetailed: -EOPNOTSUPP
 * from a restarter that does not have it yet (one started before an upgrade). */
static int list_collect_detailed(sd_bus *bus, ZoneState min_state, ZoneList *l)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *name, *state, *uuid, *brand, *path;
        int32_t id;
        int r;

        r = sd_bus_call_method(bus, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                "ListZonesDetailed", &error, &reply, NULL);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD))
                        return -EOPNOTSUPP;
                return log_call_error(NULL, &error, r, 0);
        }
        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "(ssssiaso)");
        if (r < 0)
                return log_bad_reply(NULL, r);
        while ((r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_STRUCT, "ssssiaso")) > 0) {
                _cleanup_strv_free_ char **aux = NULL;
                ZoneInfo *z;

                r = sd_bus_message_read(reply, "ssssi", &name, &state, &uuid, &brand, &id);
                if (r >= 0)
                        r = sd_bus_message_read_strv(reply, &aux);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "o", &path);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return log_bad_reply(NULL, r);
                if (!state_is_listed(state, min_state))
                        continue;
                z = zone_list_add(l);
                if (!z || strdup_to(&z->name, name) < 0 || strdup_to(&z->state, state) < 0 ||
                        strdup_to(&z->uuid, uuid) < 0 || strdup_to(&z->brand, brand) < 0)
                        return log_bad_reply(NULL, -ENOMEM);
                z->id = id;
                z->aux = TAKE_PTR(aux);
        }
        if (r < 0)
                return log_bad_reply(NULL, r);
        return 0;
}

/* The zones 'zoneadm list' shows: the global zone, then the others by name; with -z, that zone only,
 * in whatever state. */
static int list_collect(sd_bus *bus, const char *zone, ZoneState min_state, ZoneList *l)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *name, *state, *uuid, *brand, *path;
        int r;

        if (!zone || streq(zone, GLOBAL_ZONE)) {
                if (list_add_global(l) < 0)
                        return log_bad_reply(NULL, -ENOMEM);
                if (zone)
                        return 0;
        }

        if (zone) {
                _cleanup_free_ char *zpath = NULL;
                ZoneInfo *z;

                r = zone_lookup(bus, zone, &zpath);
                if (r < 0)
                        return r;
                z = zone_list_add(l);
                if (!z)
                        return log_bad_reply(zone, -ENOMEM);
                r = zone_info_read(bus, zpath, z, zone);
                if (r == -ENOENT)
                        return log_not_configured(zone);
                if (r < 0)
                        return r;
                if (!z->name && strdup_to(&z->name, zone) < 0)
                        return log_bad_reply(zone, -ENOMEM);
                return 0;
        }

        r = list_collect_detailed(bus, min_state, l);
        if (r >= 0) {
                if (l->n > 1)
                        qsort(l->zones + 1, l->n - 1, sizeof(ZoneInfo), zone_info_compare);
                return 0;
        }
        if (r != -EOPNOTSUPP)
                return r;
        r = sd_bus_call_method(bus, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, "ListZones", &error,
                &reply, NULL);
        if (r < 0)
                return log_call_error(NULL, &error, r, 0);
        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "(sssso)");
        if (r < 0)
                return log_bad_reply(NULL, r);
        while ((r = sd_bus_message_read(reply, "(sssso)", &name, &state, &uuid, &brand, &path)) > 0) {
                ZoneInfo *z;

                if (!state_is_listed(state, min_state))
                        continue;
                z = zone_list_add(l);
                if (!z || strdup_to(&z->name, name) < 0 || strdup_to(&z->state, state) < 0 ||
                        strdup_to(&z->uuid, uuid) < 0 || strdup_to(&z->brand, brand) < 0)
                        return log_bad_reply(NULL, -ENOMEM);
                r = zone_info_read(bus, path, z, name);
                if (r == -ENOENT) {
                        /* Deleted since ListZones answered: not a zone any more. */
                        zone_info_done(z);
                        l->n--;
                        continue;
                }
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return log_bad_reply(NULL, r);

        if (l->n > 1)
                qsort(l->zones + 1, l->n - 1, sizeof(ZoneInfo), zone_info_compare);
        return 0;
}

int zoneadm_list(sd_bus *bus, const char *zone, ZoneState min_state, ListFormat format)
{
        _cleanup_(zone_list_done) ZoneList l = {};
        int r;

        r = list_collect(bus, zone, min_state, &l);
        if (r < 0)
                return r;
        list_print(stdout, format, l.zones, l.n);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                r = negative_errno();
                fprintf(stderr, "zoneadm: cannot write the list: %s\n", strerror(-r));
                return r;
        }
        return 0;
}
