/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The destination of a migration, before anything moves: Manager.CheckIncoming
 * (can this host take the zone, as the source configures it? nothing is written)
 * and Manager.ImportZone (the source's configuration, key included, written into
 * this host's store as zonecfg commits: atomically, under the store's lock; the
 * zone keeps the source's UUID, for which its suspend image is sealed).
 *
 * The source's migrate helper calls them over SSH as the user of the destination
 * URI (or over a zone administrator's own connection), so a user who could not
 * configure zones here is refused here, before the source changes anything: root
 * may do everything; a zone administrator with the migrate auth on this host's
 * configuration of the zone may have it checked and take the source's UUID, but
 * never write a configuration (that would let it grant itself auths here). */
#include <unistd.h>

#include "log.h"
#include "restarter.h"
#include "strv.h"
#include "zone-compat.h"

/* Root, or (for a zone configured here, nothing written but its UUID) a zone
 * administrator with the migrate auth in this host's configuration of it. */
static int check_caller(Manager *m, sd_bus_message *msg, const char *name, bool writes, sd_bus_error *error)
{
        Zone *z;
        uid_t uid;
        int r;

        r = bus_caller_uid(msg, &uid, error);
        if (r < 0 || uid == 0)
                return r;
        (void) manager_rescan(m);
        z = writes || !zone_name_is_valid(name) ? NULL : manager_find_zone(m, name);
        if (!z)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "permission denied: only root may %s "
                        "zone '%s' for a migration", writes ? "write the configuration of" : "configure", name);
        return bus_check_authorized(z, msg, "migrate", error);
}

static int read_options(sd_bus_message *msg, const char *method, bool *overwrite, const char **uuid,
                const char **kind, sd_bus_error *error)
{
        int b = *overwrite, r;
        /* Uuid and Kind only for the methods that take them */
        const BusOption options[] = { { "Overwrite", "b", &b }, { "Uuid", "s", uuid }, { "Kind", "s", kind } };

        r = bus_read_options(msg, method, options, ELEMENTSOF(options), error);
        *overwrite = b;
        return r;
}

/* The source's configuration as it came: valid, and of the zone named. */
static int parse_config(const char *name, const char *xml, ZoneConfig **ret, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        KzError e = {};
        int r;

        if (!zone_name_is_valid(name))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not a zone name", name);
        if (strlen(xml) > ZONE_CONFIG_MAX_BYTES)
                return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION,
                        "the configuration is larger than %u bytes", ZONE_CONFIG_MAX_BYTES);
        r = zone_config_from_xml(xml, strlen(xml), "the source's configuration", 0, &c, &e);
        if (r >= 0)
                r = zone_config_verify(c, &e);
        if (r < 0)
                return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION, "configuration failed: %s",
                        kz_error_message(&e, r));
        if (!streq(zone_config_name(c), name))
                return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION,
                        "the configuration is of zone '%s', not '%s'", zone_config_name(c), name);
        *ret = TAKE_PTR(c);
        return 0;
}

/* The zone as this host's store has it: -ENOENT when it is not configured here. */
static int load_here(Manager *m, const char *name, ZoneConfig **ret, sd_bus_error *error)
{
        KzError e = {};
        int r;

        r = zone_store_load(m->root, name, ret, &e);
        if (r == -ENOENT)
                return r;
        if (r < 0)
                return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION, "%s", kz_error_message(&e, r));
        return 0;
}

/* A zone that is here already receives a migration only while configured:
 * installed or running here, it belongs to this host. */
static const char *state_here(Manager *m, const char *name)
{
        Zone *z;

        (void) manager_rescan(m);
        z = manager_find_zone(m, name);
        return z ? zone_state_to_string(z->state) : NULL;
}

/* Manager.CheckIncoming(s name, s configuration, a{sv} options) -> (b configured, as problems) */
int method_check_incoming(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *source = NULL, *here = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **problems = NULL;
        Manager *m = userdata;
        const char *name, *xml, *kind = "live", *state;
        bool overwrite = false;
        int r;

        r = sd_bus_message_read(msg, "ss", &name, &xml);
        if (r < 0)
                return r;
        r = read_options(msg, "CheckIncoming", &overwrite, NULL, &kind, error);
        if (r < 0)
                return r;
        if (!streq(kind, "live") && !streq(kind, "warm") && !streq(kind, "cold"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "CheckIncoming: Kind is live, warm or "
                        "cold, not '%s'", kind);
        r = check_caller(m, msg, name, overwrite, error);
        if (r < 0)
                return r;
        /* a host in maintenance takes no zone: said before anything moves */
        r = maintenance_check(m, name, "migrate in", error);
        if (r < 0)
                return r;
        r = parse_config(name, xml, &source, error);
        if (r < 0)
                return r;
        r = load_here(m, name, &here, error);
        if (r < 0 && r != -ENOENT)
                return r;
        state = here ? state_here(m, name) : NULL;
        if (state && !streq(state, "configured")) {
                char *p;

                if (asprintf(&p, "zone '%s' is %s on the destination; only a zone that is configured (or not "
                            "configured at all) there can receive it", name, state) < 0)
                        return -ENOMEM;
                r = strv_add_unique(&problems, p);
                free(p);
                if (r < 0)
                        return r;
        }
        /* live and warm: the guest resumes its memory there, so its machine must be the
         * same; cold: it boots afresh, only the key matters (the host data) */
        if (here && !overwrite) {
                _cleanup_strv_free_ char **diff = NULL;

                r = zone_config_migration_differences(source, here, &diff);
                if (r < 0)
                        return r;
                for (char **d = diff; d && *d; d++)
                        if (!streq(kind, "cold") || strstr(*d, "keysource")) {
                                r = strv_add_unique(&problems, *d);
                                if (r < 0)
                                        return r;
                        }
        }
        if (streq(kind, "warm")) {
                /* the image must be where the configuration used here says, readable here */
                _cleanup_free_ char *path = NULL;
                char *p = NULL;

                r = zone_suspend_image_path(here && !overwrite ? here : source, m->root, &path);
                if (r == -ENOENT)
                        r = asprintf(&p, "the zone has no suspend resource on the destination");
                else if (r == -EOPNOTSUPP)
                        r = asprintf(&p, "the suspend resource is not a path; a warm migration needs the image on "
                                "a file system both hosts share");
                else if (r < 0)
                        return r;
                else if (access(path, R_OK) < 0)
                        r = asprintf(&p, "suspend path %s is not reachable from the destination (%m): it must be "
                                "on storage both hosts share", path);
                else
                        r = 0;
                if (r < 0)
                        return -ENOMEM;
                if (p) {
                        r = strv_add_unique(&problems, p);
                        free(p);
                        if (r < 0)
                                return r;
                }
        }
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "b", here != NULL);
        if (r >= 0)
                r = sd_bus_message_append_strv(reply, problems);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* Manager.ImportZone(s name, s configuration, a{sv} options) */
int method_import_zone(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *source = NULL, *here = NULL;
        Manager *m = userdata;
        const char *name, *xml, *uuid = NULL, *state;
        bool overwrite = false;
        KzError e = {};
        int r;

        r = sd_bus_message_read(msg, "ss", &name, &xml);
        if (r < 0)
                return r;
        r = read_options(msg, "ImportZone", &overwrite, &uuid, NULL, error);
        if (r < 0)
                return r;
        if (uuid && (strlen(uuid) != 36 || strspn(uuid, "0123456789abcdef-") != 36))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "ImportZone: '%s' is not a zone UUID",
                        uuid);
        r = check_caller(m, msg, name, overwrite || !isempty(xml), error);
        if (r < 0)
                return r;
        if (!zone_name_is_valid(name))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not a zone name", name);
        r = load_here(m, name, &here, error);
        if (r < 0 && r != -ENOENT)
                return r;
        state = here ? state_here(m, name) : NULL;
        if (state && !streq(state, "configured"))
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone '%s' is %s here; only a configured zone's "
                        "configuration is replaced by a migration", name, state);
        if (!isempty(xml)) {
                r = parse_config(name, xml, &source, error);
                if (r < 0)
                        return r;
                if (here && !overwrite)
                        return sd_bus_error_setf(error, KZ_ERROR_BUSY, "zone '%s' is configured here already; "
                                "Overwrite replaces its configuration", name);
                if (here) {
                        /* commit checks that nobody changed it since it was loaded */
                        zone_resource_free(here->root);
                        here->root = TAKE_PTR(source->root);
                        r = zone_store_commit(m->root, here, &e);
                } else
                        r = zone_store_commit(m->root, source, &e);
                if (r < 0)
                        return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION, "configuration failed: %s",
                                kz_error_message(&e, r));
                log_info("zone '%s': configuration %s from a migration's source", name,
                        here ? "replaced" : "imported");
        } else if (!here)
                return sd_bus_error_setf(error, KZ_ERROR_ZONE_NOT_FOUND, "zone '%s' is not configured here", name);
        if (uuid) {
                r = zone_index_set_uuid(m->root, name, uuid, &e);
                if (r < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "cannot keep the zone's UUID: %s",
                                kz_error_message(&e, r));
        }
        (void) manager_rescan(m);
        return sd_bus_reply_method_return(msg, NULL);
}

/* Manager.ForgetIncoming(s name, s uuid): a configuration ImportZone wrote for a
 * migration that failed or was a dry run goes again, if it is still that one: the
 * zone configured (not installed) here, with the UUID the import gave it. */
int method_forget_incoming(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *here = NULL;
        ZoneIndexEntry x = {};
        Manager *m = userdata;
        const char *name, *uuid, *state;
        KzError e = {};
        bool same;
        int r;

        r = sd_bus_message_read(msg, "ss", &name, &uuid);
        if (r < 0)
                return r;
        r = bus_check_root(msg, "configure zones for a migration", error);
        if (r < 0)
                return r;
        if (!zone_name_is_valid(name))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not a zone name", name);
        r = load_here(m, name, &here, error);
        if (r == -ENOENT)
                return sd_bus_reply_method_return(msg, NULL); /* gone already */
        if (r < 0)
                return r;
        state = state_here(m, name);
        if (state && !streq(state, "configured"))
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone '%s' is %s here; its configuration stays",
                        name, state);
        r = zone_index_lookup(m->root, name, &x, &e);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "%s", kz_error_message(&e, r));
        same = streq_ptr(x.uuid, uuid);
        zone_index_entry_done(&x);
        if (!same)
                return sd_bus_error_setf(error, KZ_ERROR_BUSY, "zone '%s' here is not the one the migration imported "
                        "(another UUID); its configuration stays", name);
        r = zone_store_delete(m->root, here, false, &e);
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "%s", kz_error_message(&e, r));
        log_info("zone '%s': configuration a migration imported removed again", name);
        (void) manager_rescan(m);
        return sd_bus_reply_method_return(msg, NULL);
}
