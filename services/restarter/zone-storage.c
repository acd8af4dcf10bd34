/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The jobs on a zone's boot storage: install (an empty disk, an image copied onto
 * it, or an installer booted from an ISO) and clone; zone-claim.c has uninstall,
 * attach and detach.
 * The disk work happens in the job's steps and its helper (kzones-zone), never in
 * the method call, which replies with the job's path at once. */
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>

#include "hostdata.h"
#include "launch-request.h"
#include "log.h"
#include "mkdir.h"
#include "restarter.h"
#include "storage-uri.h"

/* Creates the directories above path: the one that holds it is made 0700 (zone
 * disks are nobody else's business); one that exists is left as it is. */
static int mkdir_parents_of(const char *path)
{
        _cleanup_free_ char *dir = strdup(path);
        char *slash = dir ? strrchr(dir, '/') : NULL;

        if (!dir)
                return -ENOMEM;
        if (!slash || slash == dir)
                return 0;
        *slash = 0;
        return mkdir_p_full(dir, 0755, 0700);
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
int zone_boot_storage(Zone *z, const ZoneConfig *c, StorageUri **ret_uri, char **ret_string, char **ret_local,
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


/* Install and clone: a configured zone, or one that an interrupted install or clone
 * left incomplete (not one whose installer runs). */
static int need_installable(Zone *z, sd_bus_error *error, const char *what)
{
        const char *a = z->active_state;

        if (z->state == ZONE_STATE_INCOMPLETE && !z->job && z->copy_readers == 0 &&
            (!a || streq(a, "inactive") || streq(a, "failed")))
                return 0;
        return zone_need_state(z, error, ZONE_STATE_CONFIGURED, what);
}



/* ---- what every storage job does ---------------------------------------------------------------- */

/* The helper's failure: 3 is a key that does not open the host data. */
void job_storage_helper_failed(Job *j, int status, const char *message)
{
        const char *msg = *message ? message : "the zone helper failed";

        if (status == LAUNCH_EXIT_UNAVAILABLE)
                job_finish(j, -EKEYREJECTED, KZ_ERROR_UNAVAILABLE, "%s", msg);
        else
                job_finish(j, -EIO, KZ_ERROR_IN_USE, "%s", msg);
}

/* Install and clone copy with a helper that can be stopped at any moment: what
 * the job created goes, and the zone is configured again, as before. */
static int copy_cancel(Job *j, sd_bus_error *error)
{
        if (j->installer_running)
                return sd_bus_error_setf(error, KZ_ERROR_NOT_CANCELLABLE,
                        "the installer runs in the zone; it ends when the guest powers off");
        if (j->unit_job || j->unit_call)
                return sd_bus_error_setf(error, KZ_ERROR_NOT_CANCELLABLE, "the installer is being started");
        job_kill_helper(j);
        job_finish(j, -ECANCELED, KZ_ERROR_CANCELLED, "cancelled");
        return 0;
}

/* The boot disk of file storage, for this job: a new file (O_EXCL, so never
 * one that was there before: only what this job created is removed if it
 * fails), 0600, in a directory made as needed. The job owns the descriptor;
 * on failure the job is finished.
 *
 * A restarter killed at any moment leaves the truth: the zone is incomplete, and
 * the file is recorded as created, before the file exists (a record of a file that
 * was never made is forgotten when the restarter starts). So the zone can be
 * uninstalled, and a retry replaces the partial file: an incomplete zone's own
 * file, never another one. */
static int create_boot_disk(Job *j)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Zone *z = j->zone;
        const char *local = j->local;
        bool recorded = zone_created(z, local);
        int fd, r;

        if (recorded && z->index_state == ZONE_STATE_INCOMPLETE && unlink(local) >= 0)
                log_info("zone '%s': removed %s, left by an interrupted install or clone", z->name, local);
        r = mkdir_parents_of(local);
        if (r < 0) {
                job_finish(j, r, KZ_ERROR_STORAGE, "cannot create the directory of %s: %s", local, strerror(-r));
                return r;
        }
        r = zone_set_index_state(z, ZONE_STATE_INCOMPLETE, &error);
        if (r >= 0)
                r = zone_record_created(z, local);
        if (r < 0) {
                job_finish(j, r, error.name ?: KZ_ERROR_STORAGE, "cannot record the new disk %s: %s", local,
                        error.message ?: strerror(-r));
                return r;
        }
        fd = open(local, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0) {
                r = -errno;
                if (!recorded)
                        (void) zone_forget_created(z, local); /* someone else's file */
                if (r == -EEXIST)
                        job_finish(j, r, KZ_ERROR_STORAGE, "%s exists already; uninstall the zone or remove it first",
                                local);
                else
                        job_finish(j, r, KZ_ERROR_STORAGE, "cannot create %s: %s", local, strerror(-r));
                return r;
        }
        j->created = strdup(local);
        /* above 9, so that the copy helper's descriptors 3 and 4 can be set up from it */
        j->target_fd = fcntl(fd, F_DUPFD_CLOEXEC, 10);
        r = j->target_fd < 0 ? -errno : !j->created ? -ENOMEM : 0;
        (void) close(fd);
        if (r < 0) {
                job_finish(j, r, KZ_ERROR_STORAGE, "cannot create %s: %s", local, strerror(-r));
                return r;
        }
        return 0;
}

/* Install and clone write the boot storage: the zone is incomplete until they are
 * done, so a restarter killed meanwhile leaves it so. File storage gets a new disk. */
static int prepare_target(Job *j)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (j->storage_scheme == STORAGE_FILE)
                return create_boot_disk(j);
        r = zone_set_index_state(j->zone, ZONE_STATE_INCOMPLETE, &error);
        if (r < 0)
                job_finish(j, r, error.name, "%s", error.message ?: strerror(-r));
        return r;
}

/* The host data records this host as the owner; refused if another host holds
 * the storage; network storage must be reachable for that. */
static void claim(Job *j)
{
        int r;

        job_set_message(j, "writing the host data");
        r = job_run_helper(j, "attach", NULL);
        if (r < 0)
                job_finish(j, r, KZ_ERROR_STORAGE, "cannot write the host data: %s", strerror(-r));
}

/* The disk is ready: the zone is installed, or (install -b) its installer boots. */
void job_installed(Job *j)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (j->installer_iso && !j->installer_running) {
                /* install -b: the disk is ready; now the installer runs from the ISO, and the
                 * zone is incomplete until the guest powers off */
                if (j->created) {
                        (void) zone_record_created(j->zone, j->created);
                        j->created = mfree_str(j->created);
                }
                /* the launcher reads the medium through the descriptor we hold */
                r = zone_request_installer(j->zone, j->installer_fd);
                if (r >= 0)
                        r = zone_set_index_state(j->zone, ZONE_STATE_INCOMPLETE, &error);
                if (r >= 0)
                        r = job_start_unit(j, "StartUnit");
                if (r < 0) {
                        job_finish(j, r, error.name, "cannot boot the installer: %s", error.message ?: strerror(-r));
                        sd_bus_error_free(&error);
                        return;
                }
                j->installer_running = true;
                log_info("zone '%s': the installer runs from %s; the zone is installed when it powers off",
                        j->zone->name, j->installer_iso);
                return;
        }

        if (j->created) {
                r = zone_record_created(j->zone, j->created);
                if (r < 0) {
                        job_finish(j, r, KZ_ERROR_STORAGE, "cannot record the new disk: %s", strerror(-r));
                        return;
                }
                j->created = mfree_str(j->created); /* it stays: it is this zone's disk now */
        }
        if (zone_set_index_state(j->zone, ZONE_STATE_INSTALLED, &error) < 0) {
                job_finish(j, -EIO, error.name, "%s", error.message);
                sd_bus_error_free(&error);
                return;
        }
        log_info("zone '%s' installed", j->zone->name);
        job_finish(j, 0, NULL, NULL);
}

/* ---- install -------------------------------------------------------------------------------------- */

static void install_helper_done(Job *j, int status, const char *message)
{
        if (status != 0)
                job_storage_helper_failed(j, status, message);
        else
                job_installed(j);
}

static void install_unit_job_done(Job *j, bool ok, const char *result)
{
        _cleanup_free_ char *why = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;

        if (ok)
                return; /* the installer runs: the job ends when it powers off */
        why = zone_boot_failure(j->zone);
        (void) zone_set_index_state(j->zone, ZONE_STATE_CONFIGURED, &error);
        sd_bus_error_free(&error);
        j->installer_running = false;
        job_finish(j, -EIO, KZ_ERROR_BOOT_FAILED, "the installer did not start: %s", why ?: "see the zone's journal");
}

/* the installer powered the guest off: the zone is installed */
static void install_unit_state_changed(Job *j)
{
        Zone *z = j->zone;

        /* a StartUnit not answered yet, or its job not done: the unit's state is from before */
        if (!j->installer_running || j->unit_job || j->unit_call || !z->active_state ||
            !(streq(z->active_state, "inactive") || streq(z->active_state, "failed")))
                return;
        j->installer_running = false;
        j->installer_iso = mfree_str(j->installer_iso);
        j->installer_fd = safe_close_fd(j->installer_fd);
        job_installed(j);
}

const JobType job_install = {
        .kind = "install",
        .unit_job_done = install_unit_job_done,
        .unit_state_changed = install_unit_state_changed,
        .helper_done = install_helper_done,
        .cancel = copy_cancel,
};

static void install_begin(Job *j)
{
        Zone *z = j->zone;
        const char *local = j->local;
        struct stat st;
        int r;

        if (j->storage_scheme < 0) {
                /* no disk: a zone that boots a kernel directly */
                job_installed(j);
                return;
        }
        if (j->image_fd >= 0) {
                /* the helper copies it (reporting progress) into the disk created here, and
                 * claims the zone */
                if (prepare_target(j) < 0)
                        return;
                job_set_message(j, "copying %s", j->source_name);
                r = job_run_copy_helper(j, "install-image", "/proc/self/fd/3");
                if (r < 0)
                        job_finish(j, r, KZ_ERROR_STORAGE, "cannot install the image: %s", strerror(-r));
                return;
        }
        if (j->storage_scheme == STORAGE_FILE) {
                /* an existing image is the administrator's, unless it is what an interrupted
                 * install of this zone left: that is made again */
                if (stat(local, &st) >= 0 && !(z->index_state == ZONE_STATE_INCOMPLETE && zone_created(z, local))) {
                        if (!S_ISREG(st.st_mode)) {
                                job_finish(j, -EEXIST, KZ_ERROR_STORAGE, "%s exists and is not a file", local);
                                return;
                        }
                        /* an existing image is used as it is, with room for the host data
                         * added at its end unless it has some already */
                        r = make_room_for_hostdata(local);
                        if (r < 0) {
                                job_finish(j, r, KZ_ERROR_STORAGE, "cannot extend %s: %s", local, strerror(-r));
                                return;
                        }
                        claim(j);
                        return;
                }
                if (create_boot_disk(j) < 0)
                        return;
                if (ftruncate(j->target_fd, (off_t) (j->size + HOSTDATA_AREA)) < 0 || fsync(j->target_fd) < 0) {
                        r = -errno;
                        job_finish(j, r, KZ_ERROR_STORAGE, "cannot size %s: %s", local, strerror(-r));
                        return;
                }
                j->target_fd = safe_close_fd(j->target_fd);
                log_info("zone '%s': created boot disk %s (%llu bytes)", z->name, local, (unsigned long long) j->size);
        } else if (j->storage_scheme == STORAGE_DEV && (stat(local, &st) < 0 || !S_ISBLK(st.st_mode))) {
                job_finish(j, -ENODEV, KZ_ERROR_STORAGE, "%s is not a block device on this host", local);
                return;
        }
        claim(j);
}

int method_install(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_(storage_uri_freep) StorageUri *u = NULL;
        _cleanup_free_ char *uri = NULL, *local = NULL;
        _cleanup_close_ int image_fd = -EBADF, iso_fd = -EBADF;
        uint64_t size = DEFAULT_INSTALL_SIZE;
        Zone *z = userdata;
        Job *j;
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
                        r = bus_read_option(msg, "install", key, "t", &size, error);
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
        r = zone_load_kz_config(z, &c, error);
        if (r < 0)
                return r;
        r = zone_boot_storage(z, c, &u, &uri, &local, error);
        if (r < 0)
                return r;
        if (with_image && with_iso)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "give an image or an ISO, not both");
        if (with_iso) {
                iso_fd = install_source(msg, z, "ISO", iso, iso_msg_fd, error);
                if (iso_fd < 0)
                        return iso_fd;
                r = zone_need_systemd(z, error);
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
        r = job_new(z, &job_install, msg, error, &j);
        if (r < 0)
                return r;
        j->size = size;
        j->storage_scheme = u ? (int) u->scheme : -1;
        j->local = TAKE_PTR(local);
        j->image_fd = TAKE_FD(image_fd);
        j->source_name = strdup(image ?: "the image the caller opened");
        if (with_iso) {
                j->installer_iso = strdup(iso ?: "the medium the caller opened");
                j->installer_fd = TAKE_FD(iso_fd);
        }
        if (!j->source_name || (with_iso && !j->installer_iso)) {
                job_finish(j, -ENOMEM, NULL, "out of memory");
                return -ENOMEM;
        }
        log_info("zone '%s': installing%s%s", z->name, with_image ? " from " : "", with_image ? j->source_name : "");
        return job_start(j, msg, install_begin);
}

/* ---- clone ---------------------------------------------------------------------------------------- */

const JobType job_clone = {
        .kind = "clone",
        .helper_done = install_helper_done,
        .cancel = copy_cancel,
};

static void clone_begin(Job *j)
{
        int r;

        /* recorded, and the zone incomplete, before the copy starts */
        if (prepare_target(j) < 0)
                return;
        job_set_message(j, "copying the boot disk of '%s'", j->source_name);
        r = job_run_copy_helper(j, "clone", j->source_name);
        if (r < 0)
                job_finish(j, r, KZ_ERROR_STORAGE, "cannot copy the boot disk: %s", strerror(-r));
}

int method_clone(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL, *sc = NULL;
        _cleanup_(storage_uri_freep) StorageUri *u = NULL, *su = NULL;
        _cleanup_free_ char *uri = NULL, *local = NULL, *suri = NULL, *slocal = NULL;
        Zone *z = userdata, *src;
        const char *source;
        Job *j;
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
        if (src->state != ZONE_STATE_INSTALLED || src->job)
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE,
                        "source zone '%s' is %s; it must be installed and not running", source,
                        zone_state_to_string(src->state));
        r = zone_load_kz_config(z, &c, error);
        if (r < 0)
                return r;
        r = zone_load_config(src, &sc, error);
        if (r < 0)
                return r;
        r = zone_boot_storage(z, c, &u, &uri, &local, error);
        if (r < 0)
                return r;
        r = zone_boot_storage(src, sc, &su, &suri, &slocal, error);
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
        r = job_new(z, &job_clone, msg, error, &j);
        if (r < 0)
                return r;
        j->storage_scheme = (int) u->scheme;
        j->local = TAKE_PTR(local);
        j->source_name = strdup(src->name);
        if (!j->source_name) {
                job_finish(j, -ENOMEM, NULL, "out of memory");
                return -ENOMEM;
        }
        /* the source must not boot while its disk is read */
        j->copy_source = src;
        src->copy_readers++;
        log_info("zone '%s': cloning from '%s'", z->name, source);
        return job_start(j, msg, clone_begin);
}

