/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "launch-request.h"
#include "log.h"
#include "cpu-probe.h"
#include "restarter.h"
#include "zone-net.h"
#include "storage-uri.h"
#include "hostdata.h"
#include "zone-qemu.h"

/* ---- authorization ------------------------------------------------------------------------- */

/* The caller's effective uid. Only what the bus daemon recorded when the caller
 * connected counts; nothing is looked up in /proc afterwards, where a process could
 * have changed. */
static int bus_caller_uid(sd_bus_message *m, uid_t *ret, sd_bus_error *error)
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
static int bus_check_root(sd_bus_message *m, const char *what, sd_bus_error *error)
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

        (void) sd_bus_emit_properties_changed(m->bus, z->path, RESTARTER_ZONE_IFACE, "State", "Id",
                "AuxiliaryStates", "Uuid", "Brand", NULL);
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
        char **l = calloc(m->n_zones + 1, sizeof(char *));
        size_t n = 0;

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_zones; i++) {
                if (m->zones[i]->gone)
                        continue;
                l[n] = strdup(m->zones[i]->path);
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

static int property_get_aux(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Zone *z = userdata;

        return sd_bus_message_append_strv(reply, z->aux ?: (char *[]) { NULL });
}

static int property_get_evacuation_target(sd_bus *bus, const char *path, const char *interface,
                const char *property, sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Zone *z = userdata;
        _cleanup_free_ char *v = NULL;
        int r;

        r = zone_evacuation_target(z, &v);
        if (r < 0)
                return r;
        return sd_bus_message_append(reply, "s", v);
}

static int property_set_evacuation_target(sd_bus *bus, const char *path, const char *interface,
                const char *property, sd_bus_message *value, void *userdata, sd_bus_error *error)
{
        Zone *z = userdata;
        const char *v;
        int r;

        r = sd_bus_message_read(value, "s", &v);
        if (r < 0)
                return r;
        r = bus_check_authorized(z, value, "manage", error);
        if (r < 0)
                return r;
        return zone_set_evacuation_target(z, v, error);
}

static int need_state(Zone *z, sd_bus_error *error, ZoneState want, const char *what)
{
        if (z->operation)
                return sd_bus_error_setf(error, KZ_ERROR_BUSY, "another operation (%s) is in progress on the zone",
                        operation_kind_to_string(z->operation->kind));
        if (z->copy_readers > 0)
                return sd_bus_error_setf(error, KZ_ERROR_BUSY, "the zone's disk is being copied by a clone");
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

/* Install and clone: a configured zone, or one that an interrupted install or clone
 * left incomplete (not one whose installer runs). */
static int need_installable(Zone *z, sd_bus_error *error, const char *what)
{
        const char *a = z->active_state;

        if (z->state == ZONE_STATE_INCOMPLETE && !z->operation && z->copy_readers == 0 &&
            (!a || streq(a, "inactive") || streq(a, "failed")))
                return 0;
        return need_state(z, error, ZONE_STATE_CONFIGURED, what);
}

static int need_systemd(Zone *z, sd_bus_error *error)
{
        if (z->manager->have_systemd == 0)
                return sd_bus_error_set(error, KZ_ERROR_NO_SYSTEMD,
                        "systemd is not reachable on this bus; zones cannot be started or stopped");
        return 0;
}

static int check_kz(Zone *z, ZoneConfig *c, sd_bus_error *error)
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

static int boot(sd_bus_message *msg, Zone *z, bool fresh, sd_bus_error *error);

/* A zone that takes its memory from a pool wants and starts after the pool's unit:
 * kzones-memory-reserve-generator writes that drop-in at boot and on every systemd
 * reload. If the zone's pool changed since, systemd reloads (the generator runs
 * again) before the zone's unit starts. See memory-reserve(8). */
static int on_pool_reloaded(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        Operation *o = userdata;
        int r;

        if (sd_bus_message_is_method_error(reply, NULL))
                log_warning("zone '%s': systemd did not reload (%s); starting without its pool's dependency",
                        o->zone->name, sd_bus_message_get_error(reply)->message);
        r = operation_start_unit(o, "StartUnit");
        if (r < 0)
                operation_finish(o, r, KZ_ERROR_BOOT_FAILED, "cannot ask systemd to start %s: %s", o->zone->unit,
                        strerror(-r));
        return 0;
}

static int boot_start_unit(Operation *o, const ZoneConfig *c)
{
        Zone *z = o->zone;
        _cleanup_free_ char *want = NULL, *have = NULL, *path = NULL;
        size_t size;
        int r;

        r = zone_pool_dropin(c, KZONES_LIBEXECDIR, &want);
        if (r < 0)
                return r;
        path = manager_path(z->manager, ZONE_POOL_DROPIN_DIR "/%s.d/" ZONE_POOL_DROPIN, z->unit);
        if (!path)
                return -ENOMEM;
        if (read_file_bounded(path, 4096, &have, &size) < 0)
                have = NULL;
        if (streq_ptr(want, have))
                return operation_start_unit(o, "StartUnit");
        log_info("zone '%s': its memory reservation pool changed; systemd reloads first", z->name);
        return sd_bus_call_method_async(z->manager->bus, NULL, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                "org.freedesktop.systemd1.Manager", "Reload", on_pool_reloaded, o, NULL);
}

static int method_boot(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return boot(msg, userdata, false, error);
}

static int method_boot_fresh(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return boot(msg, userdata, true, error);
}

static int boot(sd_bus_message *msg, Zone *z, bool fresh, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_strv_free_ char **args = NULL;
        Operation *o;
        size_t len = 0;
        int r;

        r = sd_bus_message_read_strv(msg, &args);
        if (r < 0)
                return r;
        /* they end on the guest's kernel command line, which x86 Linux cuts at 2048 bytes */
        for (char **a = args; a && *a; a++) {
                len += strlen(*a) + 1;
                if (strpbrk(*a, "\n\r"))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                "a boot argument may not contain a line break");
        }
        if (len > BOOT_ARGS_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                        "the boot arguments are %zu bytes long: at most %u fit the guest's command line", len,
                        BOOT_ARGS_MAX);
        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        r = need_state(z, error, ZONE_STATE_INSTALLED, "boot it");
        if (r < 0)
                return r;
        r = need_systemd(z, error);
        if (r < 0)
                return r;
        r = zone_load_config(z, &c, error);
        if (r < 0)
                return r;
        r = check_kz(z, c, error);
        if (r < 0)
                return r;

        /* boot arguments and -R for this start, taken once by kzones-zone exec */
        r = zone_request_boot(z, args, fresh);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "cannot write the zone's launch request: %s",
                        strerror(-r));

        r = operation_start(z, OPERATION_BOOT, msg, &o);
        if (r < 0)
                return r;
        r = boot_start_unit(o, c);
        if (r < 0)
                operation_finish(o, r, KZ_ERROR_BOOT_FAILED, "cannot ask systemd to start %s: %s", z->unit,
                        strerror(-r));
        log_info("zone '%s': booting", z->name);
        return 1;
}

static int stop_like(sd_bus_message *msg, Zone *z, OperationKind kind, const char *unit_method, sd_bus_error *error)
{
        Operation *o;
        int r;

        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        /* a halt is what an administrator does when a shutdown takes too long */
        if (kind == OPERATION_HALT && z->operation && z->operation->kind == OPERATION_SHUTDOWN && !z->operation->job)
                operation_finish(z->operation, -ECANCELED, KZ_ERROR_BUSY, "the shutdown was interrupted by a halt");
        if (z->operation)
                return sd_bus_error_setf(error, KZ_ERROR_BUSY, "another operation (%s) is in progress on the zone",
                        operation_kind_to_string(z->operation->kind));
        if (z->state != ZONE_STATE_RUNNING && z->state != ZONE_STATE_READY &&
            !(kind == OPERATION_HALT && z->state == ZONE_STATE_SHUTTING_DOWN))
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone is %s, not running",
                        zone_state_to_string(z->state));
        r = need_systemd(z, error);
        if (r < 0)
                return r;
        r = operation_start(z, kind, msg, &o);
        if (r < 0)
                return r;
        /* a halt cuts the guest off: ExecStop does not ask it to power down */
        (void) zone_request_halt(z);
        r = operation_start_unit(o, unit_method);
        if (r < 0)
                operation_finish(o, r, NULL, "cannot ask systemd to %s %s: %s", operation_kind_to_string(kind),
                        z->unit, strerror(-r));
        log_info("zone '%s': %s", z->name, operation_kind_to_string(kind));
        return 1;
}

static int method_halt(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return stop_like(msg, userdata, OPERATION_HALT, "StopUnit", error);
}

static int method_reboot(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return stop_like(msg, userdata, OPERATION_REBOOT, "RestartUnit", error);
}

static int method_shutdown(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Zone *z = userdata;
        Operation *o;
        int reboot;
        uint64_t timeout;
        int r;

        r = sd_bus_message_read(msg, "bt", &reboot, &timeout);
        if (r < 0)
                return r;
        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        r = need_state(z, error, ZONE_STATE_RUNNING, "shut it down");
        if (r < 0)
                return r;
        r = need_systemd(z, error);
        if (r < 0)
                return r;
        r = operation_start(z, OPERATION_SHUTDOWN, msg, &o);
        if (r < 0)
                return r;
        o->reboot = reboot;
        r = operation_powerdown(o, timeout ?: DEFAULT_SHUTDOWN_TIMEOUT_USEC);
        if (r < 0)
                operation_finish(o, r, NULL, "cannot reach the guest's monitor: %s", strerror(-r));
        log_info("zone '%s': shutting down%s", z->name, reboot ? " for a reboot" : "");
        return 1;
}

/* Creates the directories above path: the one that holds it is made 0700 (zone
 * disks are nobody else's business); one that exists is left as it is. */
static int mkdir_parents_of(const char *path)
{
        _cleanup_free_ char *p = strdup(path);
        char *last;

        if (!p)
                return -ENOMEM;
        last = strrchr(p, '/');
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        if (mkdir(p, s == last ? 0700 : 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *s = '/';
                }
        return 0;
}

/* The boot disk of file storage, for this operation: a new file (O_EXCL, so never
 * one that was there before: only what this operation created is removed if it
 * fails), 0600, in a directory made as needed. The operation owns the descriptor;
 * on failure the operation is finished.
 *
 * A restarter killed at any moment leaves the truth: the zone is incomplete, and
 * the file is recorded as created, before the file exists (a record of a file that
 * was never made is forgotten when the restarter starts). So the zone can be
 * uninstalled, and a retry replaces the partial file: an incomplete zone's own
 * file, never another one. */
static int create_boot_disk(Operation *o, const char *local)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Zone *z = o->zone;
        bool recorded = zone_created(z, local);
        int fd, r;

        if (recorded && z->index_state == ZONE_STATE_INCOMPLETE && unlink(local) >= 0)
                log_info("zone '%s': removed %s, left by an interrupted install or clone", z->name, local);
        r = mkdir_parents_of(local);
        if (r < 0) {
                operation_finish(o, r, KZ_ERROR_STORAGE, "cannot create the directory of %s: %s", local,
                        strerror(-r));
                return r;
        }
        r = zone_set_index_state(z, ZONE_STATE_INCOMPLETE, &error);
        if (r >= 0)
                r = zone_record_created(z, local);
        if (r < 0) {
                operation_finish(o, r, error.name ?: KZ_ERROR_STORAGE, "cannot record the new disk %s: %s", local,
                        error.message ?: strerror(-r));
                return r;
        }
        fd = open(local, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0) {
                r = -errno;
                if (!recorded)
                        (void) zone_forget_created(z, local); /* someone else's file */
                if (r == -EEXIST)
                        operation_finish(o, r, KZ_ERROR_STORAGE,
                                "%s exists already; uninstall the zone or remove it first", local);
                else
                        operation_finish(o, r, KZ_ERROR_STORAGE, "cannot create %s: %s", local, strerror(-r));
                return r;
        }
        o->created = strdup(local);
        /* above 9, so that the copy helper's descriptors 3 and 4 can be set up from it */
        o->target_fd = fcntl(fd, F_DUPFD_CLOEXEC, 10);
        r = o->target_fd < 0 ? -errno : !o->created ? -ENOMEM : 0;
        (void) close(fd);
        if (r < 0) {
                operation_finish(o, r, KZ_ERROR_STORAGE, "cannot create %s: %s", local, strerror(-r));
                return r;
        }
        return 0;
}

/* Install and clone write the boot storage: the zone is incomplete until they are
 * done, so a restarter killed meanwhile leaves it so. */
static int mark_incomplete(Operation *o)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = zone_set_index_state(o->zone, ZONE_STATE_INCOMPLETE, &error);
        if (r < 0)
                operation_finish(o, r, error.name, "%s", error.message ?: strerror(-r));
        return r;
}

/* A file that Install reads (the image to copy, the installer's ISO). Root may name
 * it by its path (under the alternate root, if any); anyone else passes a file
 * descriptor it opened for reading itself, so the kernel has checked that the
 * caller may read the file and nothing of the host's is disclosed through the
 * zone. It must be a regular file, for root also a block device. Returns a
 * descriptor (above 9, close-on-exec) that the caller owns. */
static int install_source(sd_bus_message *msg, Zone *z, const char *what, const char *path, int fd,
                sd_bus_error *error)
{
        _cleanup_close_ int own = -EBADF;
        struct stat st;
        uid_t uid;
        int r;

        r = bus_caller_uid(msg, &uid, error);
        if (r < 0)
                return r;
        if (path) {
                _cleanup_free_ char *local = NULL;

                if (uid != 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                "only root may name the %s by its path; pass a file descriptor opened for "
                                "reading instead (zoneadm does)", what);
                if (path[0] != '/')
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                "the %s must be given as an absolute path", what);
                local = path_join(z->manager->root, path);
                if (!local)
                        return -ENOMEM;
                own = open(local, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (own < 0)
                        return sd_bus_error_set_errnof(error, errno, "cannot read the %s %s: %m", what, path);
        } else {
                int flags = fcntl(fd, F_GETFL);

                if (flags < 0)
                        return sd_bus_error_set_errnof(error, errno, "the %s's file descriptor is not usable: %m",
                                what);
                /* an O_PATH descriptor proves nothing: its opener need not be able to read the file */
                if ((flags & O_PATH) || ((flags & O_ACCMODE) != O_RDONLY && (flags & O_ACCMODE) != O_RDWR))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                "the %s's file descriptor is not open for reading", what);
                own = fcntl(fd, F_DUPFD_CLOEXEC, 10);
                if (own < 0)
                        return -errno;
        }
        if (fstat(own, &st) < 0)
                return sd_bus_error_set_errnof(error, errno, "cannot read the %s: %m", what);
        if (!S_ISREG(st.st_mode) && !(uid == 0 && S_ISBLK(st.st_mode)))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "the %s must be a regular file%s", what,
                        uid == 0 ? " or a block device" : "");
        if (own < 10) {
                int high = fcntl(own, F_DUPFD_CLOEXEC, 10);

                if (high < 0)
                        return -errno;
                (void) close(own);
                own = high;
        }
        return TAKE_FD(own);
}

/* The boot device's storage, expanded, under the alternate root for local paths. */
static int boot_storage(Zone *z, const ZoneConfig *c, StorageUri **ret_uri, char **ret_string, char **ret_local,
                sd_bus_error *error)
{
        const ZoneResource *boot = zone_boot_device(c);
        _cleanup_free_ char *s = NULL;
        _cleanup_(storage_uri_freep) StorageUri *u = NULL;
        int r;

        if (!boot) {
                *ret_uri = NULL;
                *ret_string = NULL;
                *ret_local = NULL;
                return 0;
        }
        s = zone_config_expand(c, boot, zone_resource_get(boot, "storage"));
        if (!s)
                return -ENOMEM;
        r = storage_uri_parse(s, &u, NULL);
        if (r < 0)
                return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION, "%s is not a valid storage URI", s);
        if (u->scheme == STORAGE_FILE || u->scheme == STORAGE_DEV) {
                *ret_local = path_join(z->manager->root, u->path);
                if (!*ret_local)
                        return -ENOMEM;
        } else
                *ret_local = NULL;
        *ret_uri = TAKE_PTR(u);
        *ret_string = TAKE_PTR(s);
        return 1;
}

/* Extends an image that has no host data yet by the host data area, so that the
 * guest keeps every byte it had. */
static int make_room_for_hostdata(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        char magic[8] = "";
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size >= (off_t) (HOSTDATA_AREA + 512) &&
            pread(fd, magic, sizeof(magic), st.st_size - (off_t) HOSTDATA_AREA) == sizeof(magic) &&
            memcmp(magic, "KZHOSTD", 7) == 0) /* any version of it */
                return 0;
        if (ftruncate(fd, st.st_size + (off_t) HOSTDATA_AREA) < 0 || fsync(fd) < 0)
                return -errno;
        return 1;
}

/* An option's variant, of the one type it must have: otherwise InvalidArgs naming the key. */
static int read_option(sd_bus_message *msg, const char *what, const char *key, const char *type, void *ret,
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

/* Install's "image" and "iso" options: a path (s, root only) or a file descriptor (h). */
static int read_install_file_option(sd_bus_message *msg, const char *key, const char **ret_path, int *ret_fd,
                sd_bus_error *error)
{
        const char *contents = NULL;
        char type;
        int r;

        r = sd_bus_message_peek_type(msg, &type, &contents);
        if (r < 0)
                return r;
        if (streq_ptr(contents, "s"))
                return sd_bus_message_read(msg, "v", "s", ret_path);
        if (streq_ptr(contents, "h"))
                return sd_bus_message_read(msg, "v", "h", ret_fd);
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                "install option '%s' is a file descriptor (h), or for root a path (s)", key);
}

static int method_install(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_(storage_uri_freep) StorageUri *u = NULL;
        _cleanup_free_ char *uri = NULL, *local = NULL;
        _cleanup_close_ int image_fd = -EBADF, iso_fd = -EBADF;
        uint64_t size = DEFAULT_INSTALL_SIZE;
        Zone *z = userdata;
        Operation *o;
        const char *key, *image = NULL, *iso = NULL;
        int image_msg_fd = -EBADF, iso_msg_fd = -EBADF; /* the message's own */
        bool with_image, with_iso;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "iso"))
                        r = read_install_file_option(msg, key, &iso, &iso_msg_fd, error);
                else if (streq(key, "image"))
                        r = read_install_file_option(msg, key, &image, &image_msg_fd, error);
                else if (streq(key, "install-size")) {
                        r = read_option(msg, "install", key, "t", &size, error);
                        if (r < 0)
                                return r;
                        if (size < 1024 * 1024)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "install-size must be at least 1M");
                        /* the host data's 1M goes after it, and files are sized as off_t */
                        if (size > (uint64_t) INT64_MAX - HOSTDATA_AREA)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "install-size %" PRIu64 " is too large: at most %" PRIu64 " bytes", size,
                                        (uint64_t) INT64_MAX - HOSTDATA_AREA);
                } else
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "unknown install option '%s'", key);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        with_image = image || image_msg_fd >= 0;
        with_iso = iso || iso_msg_fd >= 0;

        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        r = need_installable(z, error, "install it");
        if (r < 0)
                return r;
        r = zone_load_config(z, &c, error);
        if (r < 0)
                return r;
        r = check_kz(z, c, error);
        if (r < 0)
                return r;
        r = boot_storage(z, c, &u, &uri, &local, error);
        if (r < 0)
                return r;
        if (with_image && with_iso)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "give an image or an ISO, not both");
        if (with_iso) {
                iso_fd = install_source(msg, z, "ISO", iso, iso_msg_fd, error);
                if (iso_fd < 0)
                        return iso_fd;
                r = need_systemd(z, error);
                if (r < 0)
                        return r;
        }
        if (with_image) {
                if (!u)
                        return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION,
                                "the zone has no boot device to install the image on");
                image_fd = install_source(msg, z, "image", image, image_msg_fd, error);
                if (image_fd < 0)
                        return image_fd;
        }
        r = operation_start(z, OPERATION_INSTALL, msg, &o);
        if (r < 0)
                return r;
        if (with_iso) {
                o->installer_iso = strdup(iso ?: "the medium the caller opened");
                o->installer_fd = TAKE_FD(iso_fd);
                if (!o->installer_iso) {
                        operation_finish(o, -ENOMEM, NULL, "out of memory");
                        return 1;
                }
        }
        if (!u) {
                /* no disk: a zone that boots a kernel directly */
                operation_installed(o);
                return 1;
        }
        if (with_image) {
                /* the helper copies it (reporting progress) into the disk created here, and
                 * claims the zone */
                if (u->scheme == STORAGE_FILE ? create_boot_disk(o, local) < 0 : mark_incomplete(o) < 0)
                        return 1;
                o->image_fd = TAKE_FD(image_fd);
                r = operation_run_copy_helper(o, "install-image", "/proc/self/fd/3");
                if (r < 0)
                        operation_finish(o, r, KZ_ERROR_STORAGE, "cannot install the image: %s", strerror(-r));
                log_info("zone '%s': installing from %s", z->name, image ?: "an image the caller opened");
                return 1;
        }
        if (u->scheme == STORAGE_FILE) {
                struct stat st;

                /* an existing image is the administrator's, unless it is what an interrupted
                 * install of this zone left: that is made again */
                if (stat(local, &st) >= 0 &&
                    !(z->index_state == ZONE_STATE_INCOMPLETE && zone_created(z, local))) {
                        if (!S_ISREG(st.st_mode)) {
                                operation_finish(o, -EEXIST, KZ_ERROR_STORAGE, "%s exists and is not a file", local);
                                return 1;
                        }
                        /* an existing image is used as it is, with room for the host data
                         * added at its end unless it has some already */
                        r = make_room_for_hostdata(local);
                        if (r < 0) {
                                operation_finish(o, r, KZ_ERROR_STORAGE, "cannot extend %s: %s", local, strerror(-r));
                                return 1;
                        }
                        goto claim;
                }
                if (create_boot_disk(o, local) < 0)
                        return 1;
                if (ftruncate(o->target_fd, (off_t) (size + HOSTDATA_AREA)) < 0 || fsync(o->target_fd) < 0) {
                        r = -errno;
                        operation_finish(o, r, KZ_ERROR_STORAGE, "cannot size %s: %s", local, strerror(-r));
                        return 1;
                }
                (void) close(TAKE_FD(o->target_fd));
                log_info("zone '%s': created boot disk %s (%llu bytes)", z->name, local, (unsigned long long) size);
                goto claim;
        }
        if (u->scheme == STORAGE_DEV) {
                struct stat st;

                if (stat(local, &st) < 0 || !S_ISBLK(st.st_mode)) {
                        operation_finish(o, -ENODEV, KZ_ERROR_STORAGE, "%s is not a block device on this host", local);
                        return 1;
                }
        }
claim:
        /* the host data records this host as the owner; refused if another host
         * holds the storage; network storage must be reachable for that */
        r = operation_run_helper(o, "attach", NULL);
        if (r < 0)
                operation_finish(o, r, KZ_ERROR_STORAGE, "cannot write the host data: %s", strerror(-r));
        return 1;
}

/* Removes exactly what install or clone created, and the record of it. */
static int uninstall_remove_created(Zone *z, bool force, sd_bus_error *error)
{
        _cleanup_free_ char *record = manager_path(z->manager, "/var/lib/kzones/%s.created", z->name), *buf = NULL;
        char *save = NULL;
        size_t size;

        if (!record)
                return -ENOMEM;
        if (read_file_bounded(record, 64 * 1024, &buf, &size) >= 0)
                for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                        struct stat st;
                        _cleanup_free_ char *dir = NULL;

                        if (lstat(line, &st) < 0 || !S_ISREG(st.st_mode))
                                continue;
                        if (unlink(line) < 0) {
                                if (!force)
                                        return sd_bus_error_set_errnof(error, errno, "cannot remove %s: %m", line);
                                continue;
                        }
                        log_info("zone '%s': removed %s", z->name, line);
                        dir = strdup(line);
                        if (dir && strrchr(dir, '/')) {
                                *strrchr(dir, '/') = 0;
                                (void) rmdir(dir); /* the zone's own directory, if now empty */
                        }
                }
        (void) unlink(record);
        return 0;
}

static int uninstall_finish(Zone *z, bool force, sd_bus_error *error)
{
        int r;

        r = uninstall_remove_created(z, force, error);
        if (r >= 0)
                r = zone_set_index_state(z, ZONE_STATE_CONFIGURED, error);
        if (r >= 0)
                log_info("zone '%s' uninstalled", z->name);
        return r;
}

/* The host data released (kzones-zone detach): the zone's storage stays, and no
 * host may be kept from attaching it. With -F what cannot be released is left. */
void uninstall_released(Operation *o, int status, const char *message)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Zone *z = o->zone;
        int r;

        if (status != 0) {
                if (!o->force) {
                        operation_finish(o, -EIO, status == 3 ? KZ_ERROR_UNAVAILABLE : KZ_ERROR_IN_USE,
                                "%s\nthe zone's host data was not released; 'zoneadm uninstall -F' uninstalls it "
                                "anyway", message);
                        return;
                }
                log_warning("zone '%s': its host data was not released (%s); uninstalled anyway (-F)", z->name,
                        message);
        }
        r = uninstall_finish(z, o->force, &error);
        if (r < 0)
                operation_finish(o, r, error.name, "%s", error.message ?: strerror(-r));
        else
                operation_finish(o, 0, NULL, NULL);
}

static int method_uninstall(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_(storage_uri_freep) StorageUri *u = NULL;
        _cleanup_free_ char *uri = NULL, *local = NULL;
        Zone *z = userdata;
        const char *a = z->active_state;
        Operation *o;
        int force, r;

        r = sd_bus_message_read(msg, "b", &force);
        if (r < 0)
                return r;
        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        if (z->operation)
                return sd_bus_error_setf(error, KZ_ERROR_BUSY, "another operation (%s) is in progress on the zone",
                        operation_kind_to_string(z->operation->kind));
        if (z->copy_readers > 0)
                return sd_bus_error_setf(error, KZ_ERROR_BUSY, "the zone's disk is being copied by a clone");
        /* an incomplete zone is what an interrupted install or clone left; one whose installer
         * runs is not uninstalled under it */
        if (z->state != ZONE_STATE_INSTALLED && !(force && z->state == ZONE_STATE_UNAVAILABLE) &&
            !(z->state == ZONE_STATE_INCOMPLETE && (!a || streq(a, "inactive") || streq(a, "failed"))))
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone is %s; only an installed zone that is "
                        "not running can be uninstalled", zone_state_to_string(z->state));

        /* storage that install did not create stays: its host data is released, so that
         * another host that shares it attaches the zone without force-takeover */
        r = zone_load_config(z, &c, error);
        if (r < 0 && !force)
                return r;
        if (r >= 0) {
                sd_bus_error_free(error);
                r = boot_storage(z, c, &u, &uri, &local, error);
                if (r < 0 && !force)
                        return r;
                sd_bus_error_free(error);
        } else
                sd_bus_error_free(error);
        if (u && !(local && (zone_created(z, local) || (u->scheme == STORAGE_FILE && access(local, F_OK) < 0)))) {
                r = operation_start(z, OPERATION_UNINSTALL, msg, &o);
                if (r < 0)
                        return r;
                o->force = force;
                r = operation_run_helper(o, "detach", NULL);
                if (r < 0)
                        operation_finish(o, r, NULL, "cannot release the zone's host data: %s", strerror(-r));
                log_info("zone '%s': uninstalling; releasing its host data on %s", z->name, uri);
                return 1;
        }
        r = uninstall_finish(z, force, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_suspend(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        Zone *z = userdata;
        Operation *o;
        int r;

        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        r = need_state(z, error, ZONE_STATE_RUNNING, "suspend it");
        if (r < 0)
                return r;
        r = zone_load_config(z, &c, error);
        if (r < 0)
                return r;
        if (!zone_resource_first(c->root, resource_type_child(zone_type(), "suspend")))
                return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION,
                        "the zone has no suspend resource; add one with zonecfg (add suspend; set path=…; end)");
        r = operation_start(z, OPERATION_SUSPEND, msg, &o);
        if (r < 0)
                return r;
        r = zone_note_suspending(z, true);
        if (r >= 0)
                r = operation_run_helper(o, "suspend", NULL);
        if (r < 0) {
                (void) zone_note_suspending(z, false);
                operation_finish(o, r, NULL, "cannot suspend: %s", strerror(-r));
        }
        log_info("zone '%s': suspending", z->name);
        return 1;
}

static int method_attach(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Zone *z = userdata;
        const char *key, *option = NULL;
        Operation *o;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                int on;

                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                if (!streq(key, "force-takeover") && !streq(key, "initialize-hostdata"))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "unknown attach option '%s'", key);
                r = read_option(msg, "attach", key, "b", &on, error);
                if (r < 0)
                        return r;
                if (on) {
                        if (option)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "force-takeover and initialize-hostdata exclude each other");
                        option = streq(key, "force-takeover") ? "force-takeover" : "initialize-hostdata";
                }
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        if (z->operation)
                return sd_bus_error_setf(error, KZ_ERROR_BUSY, "another operation (%s) is in progress on the zone",
                        operation_kind_to_string(z->operation->kind));
        if (z->state != ZONE_STATE_CONFIGURED && z->state != ZONE_STATE_UNAVAILABLE &&
            !(z->state == ZONE_STATE_INSTALLED && option))
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone is %s; only a configured (detached) or "
                        "unavailable zone can be attached", zone_state_to_string(z->state));
        r = operation_start(z, OPERATION_ATTACH, msg, &o);
        if (r < 0)
                return r;
        r = operation_run_helper(o, "attach", option);
        if (r < 0)
                operation_finish(o, r, NULL, "cannot attach: %s", strerror(-r));
        log_info("zone '%s': attaching%s%s", z->name, option ? " with " : "", option ?: "");
        return 1;
}

static int method_detach(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Zone *z = userdata;
        Operation *o;
        int r;

        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        r = need_state(z, error, ZONE_STATE_INSTALLED, "detach it");
        if (r < 0)
                return r;
        r = operation_start(z, OPERATION_DETACH, msg, &o);
        if (r < 0)
                return r;
        r = operation_run_helper(o, "detach", NULL);
        if (r < 0)
                operation_finish(o, r, NULL, "cannot detach: %s", strerror(-r));
        log_info("zone '%s': detaching", z->name);
        return 1;
}

static int method_verify(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_free_ char *default_link = NULL;
        Zone *z = userdata;
        int r;

        /* it parses the configuration and looks at the host as root: not for everyone */
        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        r = zone_load_config(z, &c, error);
        if (r < 0)
                return r;
        r = check_kz(z, c, error);
        if (r < 0)
                return r;
        /* what this host must provide */
        r = zone_unit_setting(z->manager->root, z->name, "DefaultLowerLink", &default_link);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->root->n_children; i++) {
                const ZoneResource *res = c->root->children[i];
                ZoneLowerLink l;
                KzError e = {};

                if (res->type != resource_type_child(zone_type(), "anet"))
                        continue;
                r = zone_anet_lower_link(res, default_link, &l, &e);
                if (r < 0)
                        return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION, "%s",
                                kz_error_message(&e, r));
        }
        if (z->manager->cpu) {
                _cleanup_free_ char *model = NULL;
                KzError e = {};

                r = cpu_probe_zone_model(z->manager->cpu, zone_resource_get(c->root, "cpu-arch"), &model, &e);
                if (r < 0)
                        return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION, "%s",
                                kz_error_message(&e, r));
        }
        {
                const ZoneResource *boot = zone_resource_first(c->root, resource_type_child(zone_type(), "boot"));
                const char *kernel = zone_resource_get(boot, "kernel");
                _cleanup_free_ char *k = kernel ? path_join(z->manager->root, kernel) : NULL;

                if (kernel && (!k || access(k, R_OK) < 0))
                        return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION,
                                "boot: kernel %s cannot be read on this host", kernel);
        }
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_clone(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL, *sc = NULL;
        _cleanup_(storage_uri_freep) StorageUri *u = NULL, *su = NULL;
        _cleanup_free_ char *uri = NULL, *local = NULL, *suri = NULL, *slocal = NULL;
        Zone *z = userdata, *src;
        const char *source;
        Operation *o;
        int r;

        r = sd_bus_message_read(msg, "s", &source);
        if (r < 0)
                return r;
        r = bus_check_authorized(z, msg, "manage", error);
        if (r < 0)
                return r;
        src = manager_find_zone(z->manager, source);
        if (!src)
                return sd_bus_error_setf(error, KZ_ERROR_ZONE_NOT_FOUND, "source zone '%s': No such zone configured",
                        source);
        if (src == z)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "a zone cannot be cloned from itself");
        r = need_installable(z, error, "clone into it");
        if (r < 0)
                return r;
        /* reading the source's disk: clonefrom, or copyfrom (which allows a copy as well) */
        if (bus_check_authorized(src, msg, "clonefrom", NULL) < 0) {
                r = bus_check_authorized(src, msg, "copyfrom", error);
                if (r < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                "permission denied: only root or an administrator of '%s' with the 'clonefrom' or "
                                "'copyfrom' auth may clone it", src->name);
        }
        if (src->state != ZONE_STATE_INSTALLED || src->operation)
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE,
                        "source zone '%s' is %s; it must be installed and not running", source,
                        zone_state_to_string(src->state));
        r = zone_load_config(z, &c, error);
        if (r < 0)
                return r;
        r = check_kz(z, c, error);
        if (r < 0)
                return r;
        r = zone_load_config(src, &sc, error);
        if (r < 0)
                return r;
        r = boot_storage(z, c, &u, &uri, &local, error);
        if (r < 0)
                return r;
        r = boot_storage(src, sc, &su, &suri, &slocal, error);
        if (r < 0)
                return r;
        if (!u || !su)
                return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION,
                        "both zones need a boot device to clone");
        if (streq(uri, suri))
                return sd_bus_error_setf(error, KZ_ERROR_INVALID_CONFIGURATION,
                        "both zones use the same boot storage %s", uri);
        /* a copy an interrupted clone left behind (the zone is incomplete) is replaced */
        if (u->scheme == STORAGE_FILE && access(local, F_OK) >= 0 &&
            !(z->index_state == ZONE_STATE_INCOMPLETE && zone_created(z, local)))
                return sd_bus_error_setf(error, KZ_ERROR_STORAGE, "%s exists already", local);
        r = operation_start(z, OPERATION_CLONE, msg, &o);
        if (r < 0)
                return r;
        /* recorded, and the zone incomplete, before the copy starts */
        if (u->scheme == STORAGE_FILE ? create_boot_disk(o, local) < 0 : mark_incomplete(o) < 0)
                return 1;
        o->copy_source = src;
        src->copy_readers++;
        r = operation_run_copy_helper(o, "clone", src->name);
        if (r < 0)
                operation_finish(o, r, KZ_ERROR_STORAGE, "cannot copy the boot disk: %s", strerror(-r));
        log_info("zone '%s': cloning from '%s'", z->name, source);
        return 1;
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
        SD_BUS_WRITABLE_PROPERTY("EvacuationTarget", "s", property_get_evacuation_target,
                property_set_evacuation_target, 0, SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Install", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_install,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Uninstall", SD_BUS_ARGS("b", force), SD_BUS_NO_RESULT, method_uninstall,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Boot", SD_BUS_ARGS("as", arguments), SD_BUS_NO_RESULT, method_boot,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Halt", NULL, NULL, method_halt, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Shutdown", SD_BUS_ARGS("b", reboot, "t", timeout_usec), SD_BUS_NO_RESULT,
                method_shutdown, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Reboot", NULL, NULL, method_reboot, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Verify", NULL, NULL, method_verify, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("BootFresh", SD_BUS_ARGS("as", arguments), SD_BUS_NO_RESULT, method_boot_fresh,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Suspend", NULL, NULL, method_suspend, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Attach", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_attach,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Detach", NULL, NULL, method_detach, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Clone", SD_BUS_ARGS("s", source), SD_BUS_NO_RESULT, method_clone,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("OpenConsole", SD_BUS_NO_ARGS, SD_BUS_RESULT("h", console), method_open_console,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("StateChanged", SD_BUS_ARGS("s", state, "s", previous), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Progress", SD_BUS_ARGS("s", operation, "u", percent), 0),
        SD_BUS_VTABLE_END,
};

/* ---- the manager object ------------------------------------------------------------------------- */

static int method_list_zones(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(sssso)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_zones; i++) {
                Zone *z = m->zones[i];

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

static int property_get_default_evacuation_target(sd_bus *bus, const char *path, const char *interface,
                const char *property, sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        _cleanup_free_ char *v = NULL;
        int r;

        r = manager_default_evacuation_target(userdata, &v);
        if (r < 0)
                return r;
        return sd_bus_message_append(reply, "s", v);
}

static int property_set_default_evacuation_target(sd_bus *bus, const char *path, const char *interface,
                const char *property, sd_bus_message *value, void *userdata, sd_bus_error *error)
{
        const char *v;
        int r;

        r = sd_bus_message_read(value, "s", &v);
        if (r < 0)
                return r;
        r = bus_check_authorized(NULL, value, "manage", error);
        if (r < 0)
                return r;
        return manager_set_default_evacuation_target(userdata, v, error);
}

static int property_get_native_cpu(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Manager *m = userdata;

        if (streq(property, "NativeCpuModel"))
                return sd_bus_message_append(reply, "s", m->cpu && m->cpu->native_model ? m->cpu->native_model : "");
        if (streq(property, "NativeCpuSignature"))
                return sd_bus_message_append(reply, "s", m->cpu && m->cpu->signature ? m->cpu->signature : "");
        return sd_bus_message_append_strv(reply, m->cpu ? m->cpu->native_features : NULL);
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

const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_WRITABLE_PROPERTY("DefaultEvacuationTarget", "s", property_get_default_evacuation_target,
                property_set_default_evacuation_target, 0,
                SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NativeCpuModel", "s", property_get_native_cpu, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NativeCpuSignature", "s", property_get_native_cpu, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NativeCpuFeatures", "as", property_get_native_cpu, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CpuMigrationClasses", "as", property_get_cpu_migration_classes, 0,
                SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("ListZones", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sssso)", zones), method_list_zones,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetZone", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", zone), method_get_zone,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Rescan", NULL, NULL, method_rescan, SD_BUS_VTABLE_UNPRIVILEGED),
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
        return sd_bus_add_object_manager(m->bus, NULL, RESTARTER_PATH);
}
