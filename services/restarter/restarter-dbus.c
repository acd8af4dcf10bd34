/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "log.h"
#include "cpu-probe.h"
#include "restarter.h"
#include "zone-net.h"
#include "storage-uri.h"
#include "hostdata.h"
#include "strv.h"
#include "zone-qemu.h"

/* ---- authorization ------------------------------------------------------------------------- */

/* The caller's effective uid. Only what the bus daemon recorded when the caller
 * connected counts; nothing is looked up in /proc afterwards, where a process could
 * have changed. */
int bus_caller_uid(sd_bus_message *m, uid_t *ret, sd_bus_error *error)
{
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        int r;

        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, ret);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "cannot tell who is calling: %s", strerror(-r));
        return 0;
}

/* What only root may do: work whose cost a caller must not be able to multiply. */
int bus_check_root(sd_bus_message *m, const char *what, sd_bus_error *error)
{
        uid_t uid;
        int r;

        r = bus_caller_uid(m, &uid, error);
        if (r < 0)
                return r;
        if (uid != 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "permission denied: only root may %s",
                        what);
        return 0;
}

/* Root may do anything; a zone's admin resource (user, auths) lets one user manage
 * that zone. */
int bus_check_authorized(Zone *z, sd_bus_message *m, const char *auth, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        struct passwd *pw;
        uid_t uid;
        int r;

        r = bus_caller_uid(m, &uid, error);
        if (r < 0)
                return r;
        if (uid == 0)
                return 0;
        log_debug("caller uid %u asks for '%s'", (unsigned) uid, auth);
        pw = getpwuid(uid);
        if (pw && z && zone_store_load(z->manager->root, z->name, &c, NULL) >= 0) {
                const ResourceType *t = resource_type_child(zone_type(), "admin");

                for (size_t i = 0; i < c->root->n_children; i++) {
                        const ZoneResource *a = c->root->children[i];
                        const char *auths = zone_resource_get(a, "auths");
                        _cleanup_free_ char *padded = NULL, *needle = NULL;

                        if (a->type != t || !streq_ptr(zone_resource_get(a, "user"), pw->pw_name) || !auths)
                                continue;
                        if (asprintf(&padded, ",%s,", auths) < 0 || asprintf(&needle, ",%s,", auth) < 0)
                                return -ENOMEM;
                        if (strstr(padded, needle))
                                return 0;
                }
        }
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                "permission denied: only root or a zone administrator with the '%s' auth may do this", auth);
}

/* ---- the zone object ------------------------------------------------------------------------- */

void bus_zone_send_changed(Zone *z, ZoneState previous)
{
        Manager *m = z->manager;

        /* before the bus name is taken nobody can be listening: the objects say it
         * all once they can be reached (no signal queued per zone at start) */
        if (!m->name_requested)
                return;
        (void) sd_bus_emit_properties_changed(m->bus, z->path, RESTARTER_ZONE_IFACE, "State", "Id",
                "AuxiliaryStates", "Uuid", "Brand", "LiveGeneration", NULL);
        if (previous != z->state) {
                (void) sd_bus_emit_signal(m->bus, z->path, RESTARTER_ZONE_IFACE, "StateChanged", "ss",
                        zone_state_to_string(z->state), zone_state_to_string(previous));
                (void) sd_bus_emit_signal(m->bus, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, "ZoneStateChanged", "sss",
                        z->name, zone_state_to_string(z->state), zone_state_to_string(previous));
        }
}

static int zone_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                sd_bus_error *error)
{
        Manager *m = userdata;
        Zone *z = manager_find_zone_by_path(m, path);

        if (!z)
                return 0;
        *found = z;
        return 1;
}

static int zone_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error)
{
        Manager *m = userdata;
        char **l = calloc(hashmap_size(m->zones) + 1, sizeof(char *));
        size_t n = 0;
        Zone *z;

        if (!l)
                return -ENOMEM;
        HASHMAP_FOREACH(z, m->zones, state) {
                if (z->gone)
                        continue;
                l[n] = strdup(z->path);
                if (!l[n]) {
                        strv_freep(&l);
                        return -ENOMEM;
                }
                n++;
        }
        *nodes = l;
        return 0;
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Zone *z = userdata;

        return sd_bus_message_append(reply, "s", zone_state_to_string(z->state));
}

static int property_get_string_or_empty(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        const char *const *s = userdata;

        return sd_bus_message_append(reply, "s", *s ?: "");
}

static int property_get_job(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Zone *z = userdata;

        return sd_bus_message_append(reply, "o", z->job ? z->job->path : "/");
}

static int property_get_aux(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Zone *z = userdata;

        return sd_bus_message_append_strv(reply, z->aux ?: (char *[]) { NULL });
}

int zone_need_state(Zone *z, sd_bus_error *error, ZoneState want, const char *what)
{
        int r;

        r = zone_check_idle(z, error);
        if (r < 0)
                return r;
        if (z->state == want)
                return 0;
        if (z->state == ZONE_STATE_RUNNING && want == ZONE_STATE_INSTALLED)
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone is already running; %s", what);
        if (z->state == ZONE_STATE_UNAVAILABLE)
                return sd_bus_error_setf(error, KZ_ERROR_UNAVAILABLE, "zone is unavailable: its key does not open "
                        "its host data, or its storage cannot be used; see 'zoneadm attach'");
        return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone is %s; it must be %s to %s",
                zone_state_to_string(z->state), zone_state_to_string(want), what);
}

int zone_need_systemd(Zone *z, sd_bus_error *error)
{
        if (z->manager->have_systemd == 0)
                return sd_bus_error_set(error, KZ_ERROR_NO_SYSTEMD,
                        "systemd is not reachable on this bus; zones cannot be started or stopped");
        return 0;
}

static int zone_check_kz(Zone *z, ZoneConfig *c, sd_bus_error *error)
{
        KzError e = {};
        int r;

        if (!streq_ptr(zone_config_brand(c), "kz"))
                return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION,
                        "brand '%s' zones are not run by kzones", strna(zone_config_brand(c)));
        r = zone_config_verify(c, &e);
        if (r < 0)
                return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION, "%s", kz_error_message(&e, r));
        return 0;
}

int zone_load_kz_config(Zone *z, ZoneConfig **ret, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        int r;

        r = zone_load_config(z, &c, error);
        if (r < 0)
                return r;
        r = zone_check_kz(z, c, error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

/* An option's variant, of the one type it must have: otherwise InvalidArgs naming the key. */
int bus_read_option(sd_bus_message *msg, const char *what, const char *key, const char *type, void *ret,
                sd_bus_error *error)
{
        const char *contents = NULL;
        char t;
        int r;

        r = sd_bus_message_peek_type(msg, &t, &contents);
        if (r < 0)
                return r;
        if (t != SD_BUS_TYPE_VARIANT || !streq_ptr(contents, type))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s option '%s' must be of type %s, not %s",
                        what, key, type, strna(contents));
        return sd_bus_message_read(msg, "v", type, ret);
}

int bus_read_options(sd_bus_message *msg, const char *what, const BusOption *options, size_t n, sd_bus_error *error)
{
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const BusOption *o = NULL;
                const char *k;

                r = sd_bus_message_read(msg, "s", &k);
                if (r < 0)
                        return r;
                for (size_t i = 0; !o && i < n; i++)
                        if (options[i].ret && streq(k, options[i].key))
                                o = &options[i];
                if (!o)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s: unknown option '%s'", what, k);
                r = bus_read_option(msg, what, k, o->type, o->ret, error);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(msg);
}

static int method_verify(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_strv_free_ char **problems = NULL;
        _cleanup_free_ char *text = NULL;
        Zone *z = userdata;
        int r;

        /* it parses the configuration and looks at the host as root: not for everyone */
        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        r = zone_load_kz_config(z, &c, error);
        if (r < 0)
                return r;
        r = zone_verify_host(z, c, &problems);
        if (r < 0)
                return r;
        if (!problems)
                return sd_bus_reply_method_return(msg, NULL);
        text = strv_join(problems, "\n");
        if (!text)
                return -ENOMEM;
        return sd_bus_error_set(error, KZ_ERROR_INVALID_CONFIGURATION, text);
}

/* zlogin -C for whoever may log in: the restarter connects to the console relay's
 * socket (root's alone) and hands the caller the connection, as machined's
 * OpenMachinePTY does. */
static int method_open_console(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        Zone *z = userdata;
        int r;

        r = bus_check_authorized(z, msg, "login", error);
        if (r < 0)
                return r;
        path = manager_path(z->manager, ZONE_RUN_DIR "/%s/" ZONE_CONSOLE_SOCKET, z->name);
        if (!path)
                return -ENOMEM;
        if (strlen(path) >= sizeof(sa.sun_path))
                return sd_bus_error_set_errnof(error, ENAMETOOLONG, "%s: path too long", path);
        strcpy(sa.sun_path, path);
        /* never blocks the loop: a relay with a full backlog says EAGAIN */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                if (errno == ENOENT || errno == ECONNREFUSED || errno == ENOTDIR)
                        return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "not running");
                return sd_bus_error_set_errnof(error, errno, "cannot connect to the console: %m");
        }
        r = fcntl(fd, F_GETFL);
        if (r < 0 || fcntl(fd, F_SETFL, r & ~O_NONBLOCK) < 0)
                return -errno;
        log_info("zone '%s': console handed to a caller", z->name);
        return sd_bus_reply_method_return(msg, "h", fd);
}

const sd_bus_vtable zone_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", property_get_string_or_empty, offsetof(Zone, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Id", "i", NULL, offsetof(Zone, id), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Uuid", "s", property_get_string_or_empty, offsetof(Zone, uuid),
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Brand", "s", property_get_string_or_empty, offsetof(Zone, brand),
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("AuxiliaryStates", "as", property_get_aux, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Unit", "s", property_get_string_or_empty, offsetof(Zone, unit), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_WRITABLE_PROPERTY("EvacuationTarget", "s", bus_property_get_evacuation_target,
                bus_property_set_evacuation_target, 0, SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Job", "o", property_get_job, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LiveGeneration", "t", bus_property_get_live_generation, 0,
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Install", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("o", job), method_install,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Uninstall", SD_BUS_ARGS("b", force), SD_BUS_RESULT("o", job), method_uninstall,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Boot", SD_BUS_ARGS("as", arguments), SD_BUS_RESULT("o", job), method_boot,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Halt", SD_BUS_NO_ARGS, SD_BUS_RESULT("o", job), method_halt,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Shutdown", SD_BUS_ARGS("b", reboot, "t", timeout_usec), SD_BUS_RESULT("o", job),
                method_shutdown, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reboot", SD_BUS_NO_ARGS, SD_BUS_RESULT("o", job), method_reboot,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Verify", NULL, NULL, method_verify, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("BootFresh", SD_BUS_ARGS("as", arguments), SD_BUS_RESULT("o", job), method_boot_fresh,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Suspend", SD_BUS_NO_ARGS, SD_BUS_RESULT("o", job), method_suspend,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Attach", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("o", job), method_attach,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Detach", SD_BUS_NO_ARGS, SD_BUS_RESULT("o", job), method_detach,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Migrate", SD_BUS_ARGS("s", destination, "a{sv}", options), SD_BUS_RESULT("o", job),
                method_migrate, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PrepareIncoming", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("o", job),
                method_prepare_incoming, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Clone", SD_BUS_ARGS("s", source), SD_BUS_RESULT("o", job), method_clone,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetLiveConfiguration", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", config, "t", generation),
                method_get_live_configuration, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ReconfigureLive", SD_BUS_ARGS("s", config, "t", generation, "a{sv}", options),
                SD_BUS_RESULT("o", job), method_reconfigure_live, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Apply", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("o", job), method_apply,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("OpenConsole", SD_BUS_NO_ARGS, SD_BUS_RESULT("h", console), method_open_console,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("StateChanged", SD_BUS_ARGS("s", state, "s", previous), 0),
        SD_BUS_VTABLE_END,
};

/* ---- the manager object ------------------------------------------------------------------------- */

static int method_list_zones(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        Zone *z;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(sssso)");
        if (r < 0)
                return r;
        HASHMAP_FOREACH(z, m->zones, state) {
                if (z->gone)
                        continue;
                r = sd_bus_message_append(reply, "(sssso)", z->name, zone_state_to_string(z->state), z->uuid ?: "",
                        z->brand ?: "", z->path);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* Everything 'zoneadm list' shows of every zone, in one reply: one call, however many
 * zones there are, instead of a GetAll per zone. */
static int method_list_zones_detailed(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        Zone *z;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssssiaso)");
        if (r < 0)
                return r;
        HASHMAP_FOREACH(z, m->zones, state) {
                if (z->gone)
                        continue;
                r = sd_bus_message_open_container(reply, 'r', "ssssiaso");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "ssssi", z->name, zone_state_to_string(z->state),
                                z->uuid ?: "", z->brand ?: "", (int32_t) z->id);
                if (r >= 0)
                        r = sd_bus_message_append_strv(reply, z->aux ?: (char *[]) { NULL });
                if (r >= 0)
                        r = sd_bus_message_append(reply, "o", z->path);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_zone(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Manager *m = userdata;
        const char *name;
        Zone *z;
        int r;

        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        z = manager_find_zone(m, name);
        if (!z && zone_name_is_valid(name)) {
                uid_t uid;

                /* just configured, before the change notification arrived: root looks
                 * now; anyone else waits for the notification rather than make the
                 * restarter read every configuration again for each call */
                r = bus_caller_uid(msg, &uid, error);
                if (r < 0)
                        return r;
                if (uid == 0) {
                        (void) manager_rescan(m);
                        z = manager_find_zone(m, name);
                }
        }
        if (!z)
                return sd_bus_error_setf(error, KZ_ERROR_ZONE_NOT_FOUND, "No such zone configured");
        return sd_bus_reply_method_return(msg, "o", z->path);
}

static int method_rescan(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Manager *m = userdata;
        int r;

        r = bus_check_root(msg, "make the restarter read every zone's configuration again", error);
        if (r < 0)
                return r;
        r = manager_rescan(m);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "rescan failed: %s", strerror(-r));
        return sd_bus_reply_method_return(msg, NULL);
}

static int property_get_native_cpu(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Manager *m = userdata;

        if (streq(property, "NativeCpuModel"))
                return sd_bus_message_append(reply, "s", m->cpu && m->cpu->native_model ? m->cpu->native_model : "");
        if (streq(property, "NativeCpuSignature"))
                return sd_bus_message_append(reply, "s", m->cpu && m->cpu->signature ? m->cpu->signature : "");
        if (streq(property, "Accelerator"))
                return sd_bus_message_append(reply, "s", m->cpu ? strempty(zone_accel_to_string(m->cpu->accel)) : "");
        return sd_bus_message_append_strv(reply, m->cpu ? m->cpu->native_features : NULL);
}

/* "probing" while kzones-zone cpu-probe runs, then "done", or "failed" (no result). */
static int property_get_cpu_probe_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Manager *m = userdata;

        return sd_bus_message_append(reply, "s", m->cpu_probe_source ? "probing" : m->cpu ? "done" : "failed");
}

static int property_get_cpu_migration_classes(sd_bus *bus, const char *path, const char *interface,
                const char *property, sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "s");
        for (CpuArch a = CPU_ARCH_GENERIC; r >= 0 && m->cpu && a < _CPU_ARCH_MAX; a++)
                if (cpu_probe_class_runs(m->cpu, a))
                        r = sd_bus_message_append(reply, "s", cpu_arch_to_string(a));
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

/* The hostid host data records (hostdata.h): the source of a migration hands the
 * zone's host data to the target's. */
static int property_get_host_id(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        char id[9] = "";

        (void) hostdata_local_hostid(id);
        return sd_bus_message_append(reply, "s", id);
}

const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_WRITABLE_PROPERTY("DefaultEvacuationTarget", "s", bus_property_get_evacuation_target,
                bus_property_set_evacuation_target, 0,
                SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("HostId", "s", property_get_host_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("NativeCpuModel", "s", property_get_native_cpu, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NativeCpuSignature", "s", property_get_native_cpu, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NativeCpuFeatures", "as", property_get_native_cpu, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CpuMigrationClasses", "as", property_get_cpu_migration_classes, 0,
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CpuProbeState", "s", property_get_cpu_probe_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Accelerator", "s", property_get_native_cpu, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("HostMemory", "(tt)", bus_property_get_host_memory, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("ListZones", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sssso)", zones), method_list_zones,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListZonesDetailed", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssssiaso)", zones),
                method_list_zones_detailed, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetZone", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", zone), method_get_zone,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Rescan", NULL, NULL, method_rescan, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CheckIncoming", SD_BUS_ARGS("s", name, "s", configuration, "a{sv}", options),
                SD_BUS_RESULT("b", configured, "as", problems), method_check_incoming, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ImportZone", SD_BUS_ARGS("s", name, "s", configuration, "a{sv}", options),
                SD_BUS_NO_RESULT, method_import_zone, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ForgetIncoming", SD_BUS_ARGS("s", name, "s", uuid), SD_BUS_NO_RESULT,
                method_forget_incoming, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListJobs", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(usssdo)", jobs), method_list_jobs,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("JobNew", SD_BUS_ARGS("u", id, "o", job, "s", zone, "s", kind), 0),
        SD_BUS_SIGNAL_WITH_ARGS("JobRemoved", SD_BUS_ARGS("u", id, "o", job, "s", zone, "s", result), 0),
        SD_BUS_SIGNAL_WITH_ARGS("ZoneStateChanged", SD_BUS_ARGS("s", name, "s", state, "s", previous), 0),
        SD_BUS_VTABLE_END,
};

int bus_register(Manager *m)
{
        int r;

        r = sd_bus_add_object_vtable(m->bus, NULL, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, manager_vtable, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, NULL, RESTARTER_ZONE_PREFIX, RESTARTER_ZONE_IFACE, zone_vtable,
                zone_object_find, m);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(m->bus, NULL, RESTARTER_ZONE_PREFIX, zone_node_enumerator, m);
        if (r < 0)
                return r;
        r = bus_register_jobs(m);
        if (r < 0)
                return r;
        return sd_bus_add_object_manager(m->bus, NULL, RESTARTER_PATH);
}
