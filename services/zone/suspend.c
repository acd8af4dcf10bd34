/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zoneadm suspend: the guest's state sealed into its suspend image; and at the next
 * boot, that image checked and fed back to QEMU (-incoming defer). */
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qmp.h"
#include "sealed-stream.h"
#include "zone.h"


/* Where the zone's suspend resource puts the image (a path, or file:// storage). */
static int suspend_path(const char *name, const ZoneConfig *c, char **ret)
{
        const ZoneResource *s = zone_resource_first(c->root, resource_type_child(zone_type(), "suspend"));
        int r = zone_suspend_image_path(c, arg_root, ret);

        if (r == -ENOENT)
                return failure(name, "the zone has no suspend resource; add one with zonecfg (add suspend; set "
                        "path=…; end).");
        if (r == -EOPNOTSUPP)
                return failure(name, "suspend images on %s are not supported yet; use a path (on a shared file "
                        "system, for warm migration).", strna(zone_resource_get(s, "storage")));
        return r;
}

static char *marker_path(const char *name)
{
        return root_path("/var/lib/kzones/%s.suspended", name);
}

/* Whether the zone was suspended: its next start resumes it. */
bool suspended(const char *name)
{
        _cleanup_free_ char *marker = marker_path(name);

        return marker && access(marker, F_OK) >= 0;
}

/* The suspend marker: the image's path, and on a second line its generation. */
static int read_marker(const char *marker, char **ret_path, uint64_t *ret_generation)
{
        _cleanup_free_ char *buf = NULL;
        char *nl;
        size_t size;
        int r;

        r = read_file_bounded(marker, 4096, &buf, &size);
        if (r < 0)
                return r;
        nl = strchr(buf, '\n');
        if (nl)
                *nl++ = 0;
        *ret_generation = nl ? strtoull(nl, NULL, 10) : 0;
        *ret_path = TAKE_PTR(buf);
        return 0;
}

#define SUSPEND_CHUNK 65536u

static void erase_chunkp(char **p)
{
        if (*p)
                explicit_bzero(*p, SUSPEND_CHUNK);
        free(*p);
}

/* zoneadm suspend: QEMU's migration stream goes through a pipe into a sealed
 * image; the guest stays paused afterwards and the restarter stops the unit.
 *
 * A helper killed at any moment (with the restarter) leaves what the restarter's
 * reconciliation (reconcile.c) can read: the restarter's ZONE_SUSPENDING_NOTE while
 * this helper runs; the image as PATH.partial until it is sealed; the zone's host data naming the new
 * image; and last the marker, which alone makes the suspension real. Without the
 * marker the guest is continued; with it the unit is stopped. */
int verb_suspend(const char *name)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_(qmp_sync_closep) QmpSync *q = NULL;
        _cleanup_free_ char *path = NULL, *tmp = NULL, *sock = NULL, *err = NULL, *marker = NULL, *uuid = NULL;
        _cleanup_(erase_chunkp) char *buf = malloc(SUSPEND_CHUNK); /* the guest's memory */
        _cleanup_close_ int fd = -EBADF, rd = -EBADF;
        _cleanup_key_ uint8_t key[16];
        SealWriter *w = NULL;
        int p[2], r;
        ssize_t n;
        uint64_t total = 0, generation;

        r = zone_store_load(arg_root, name, &c, NULL);
        if (r < 0)
                return failure(name, "cannot read the configuration.");
        r = suspend_path(name, c, &path);
        if (r < 0)
                return r;
        if (zone_key(c, key) < 0)
                return failure(name, "the zone has no keysource to seal its suspend image with.");
        if (!buf)
                return -ENOMEM;
        if (zone_uuid(name, &uuid) < 0)
                return failure(name, "cannot read the zone's UUID from the index.");
        /* the image's generation: the time, so each image has its own; the marker and
         * the host data record it, and only that image resumes */
        generation = now_realtime();
        sock = root_path(ZONE_RUN_DIR "/%s/" ZONE_CONTROL_SOCKET, name);
        marker = marker_path(name);
        if (!sock || !marker || asprintf(&tmp, "%s" ZONE_SUSPEND_PARTIAL_SUFFIX, path) < 0)
                return -ENOMEM;
        r = mkdir_p(path, 0700);
        if (r >= 0)
                (void) rmdir(path); /* made to create the parents; the image is a file */
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || fchmod(fd, 0600) < 0) /* the guest's memory: nobody else's business */
                return failure(name, "cannot write %s: %m.", tmp);
        r = seal_writer_new(fd, key, uuid, generation, &w);
        explicit_bzero(key, sizeof(key));
        if (r < 0)
                return failure(name, "cannot start the suspend image: %s.", strerror(-r));

        r = qmp_sync_open(sock, 60 * 1000000u, &q);
        if (r < 0) {
                seal_writer_free(w);
                (void) unlink(tmp);
                return failure(name, "cannot reach the guest's monitor: %s.", strerror(-r));
        }
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        rd = p[0];
        r = qmp_sync_send_fd(q, p[1], "kzsuspend", &err);
        (void) close(p[1]);
        if (r >= 0)
                r = qmp_sync_execute(q, "migrate-set-parameters",
                        json_tokener_parse("{\"max-bandwidth\": 17179869184}"), NULL, &err);
        if (r >= 0)
                r = qmp_sync_execute(q, "migrate", json_tokener_parse("{\"uri\": \"fd:kzsuspend\"}"), NULL, &err);
        if (r < 0) {
                seal_writer_free(w);
                (void) unlink(tmp);
                return failure(name, "the guest's state could not be saved: %s.", err ?: strerror(-r));
        }
        while ((n = read(rd, buf, SUSPEND_CHUNK)) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                r = seal_writer_write(w, buf, (size_t) n);
                if (r < 0)
                        break;
                total += (uint64_t) n;
        }
        /* the stream has ended: did QEMU finish it? */
        for (int i = 0; r >= 0 && i < 600; i++) {
                json_object *ret = NULL, *status;
                const char *s;

                r = qmp_sync_execute(q, "query-migrate", NULL, &ret, &err);
                if (r < 0)
                        break;
                s = json_object_object_get_ex(ret, "status", &status) ? json_object_get_string(status) : "";
                if (streq(s, "completed")) {
                        json_object_put(ret);
                        break;
                }
                if (streq(s, "failed") || streq(s, "cancelled")) {
                        json_object_put(ret);
                        r = -EIO;
                        break;
                }
                json_object_put(ret);
                (void) usleep(10 * 1000);
        }
        if (r < 0) {
                seal_writer_free(w);
                (void) unlink(tmp);
                (void) qmp_sync_execute(q, "cont", NULL, NULL, NULL); /* the zone goes on running */
                return failure(name, "the guest's state could not be saved: %s.", err ?: strerror(-r));
        }
        r = seal_writer_finish(w);
        if (r < 0 || rename(tmp, path) < 0) {
                (void) unlink(tmp);
                (void) qmp_sync_execute(q, "cont", NULL, NULL, NULL);
                return failure(name, "cannot write %s: %s.", path, strerror(r < 0 ? -r : errno));
        }
        /* the host data names the new image before the marker makes it the zone's state */
        if (zone_boot_device(c))
                (void) claim_full(name, c, "suspended", 0, generation, NULL);
        {
                _cleanup_free_ char *line = NULL, *dir = root_path("/var/lib/kzones");
                if (dir)
                        (void) mkdir_p(dir, 0700);
                if (asprintf(&line, "%s\n%" PRIu64 "\n", path, generation) < 0)
                        r = -ENOMEM;
                else
                        r = write_file_atomic(marker, line, strlen(line), 0600);
                if (r < 0) {
                        (void) qmp_sync_execute(q, "cont", NULL, NULL, NULL);
                        return failure(name, "cannot record the suspension in %s: %s.", marker, strerror(-r));
                }
        }
        fprintf(stderr, "zone '%s': suspended to %s (%" PRIu64 " bytes of state)\n", name, path, total);
        return 0;
}

/* Before QEMU starts: is there a suspended state to resume, and is its image
 * whole and sealed with this zone's key? A bad image is kept and the boot refused. */
int check_resume(const char *name, const ZoneConfig *c, bool fresh, bool *ret_resume)
{
        _cleanup_free_ char *marker = marker_path(name), *buf = NULL, *uuid = NULL;
        _cleanup_(seal_reader_freep) SealReader *sr = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_key_ uint8_t key[16];
        uint64_t generation, recorded;
        ssize_t n;
        const uint8_t *data;
        int r;

        *ret_resume = false;
        if (!marker)
                return -ENOMEM;
        if (fresh) {
                /* zoneadm boot -R: boot afresh, forget the suspended state */
                (void) unlink(marker);
                return 0;
        }
        if (read_marker(marker, &buf, &generation) < 0)
                return 0;
        if (zone_key(c, key) < 0)
                return failure(name, "the zone has no keysource to open its suspend image with.");
        if (zone_uuid(name, &uuid) < 0)
                return failure(name, "cannot read the zone's UUID from the index.");
        /* the host data, where there is some, names the zone's current image too */
        if (zone_boot_device(c) && (hostdata_suspend_generation(name, c, &recorded) < 0 || recorded != generation))
                return failure(name, "the suspend image %s is not the one the zone's host data records; it is kept. "
                        "Use 'zoneadm -z %s boot -R' to boot afresh.", buf, name);
        fd = open(buf, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                explicit_bzero(key, sizeof(key));
                return failure(name, "the suspend image %s cannot be read: %m. Use 'zoneadm -z %s boot -R' to boot "
                        "afresh.", buf, name);
        }
        r = seal_reader_new(fd, key, uuid, generation, &sr);
        explicit_bzero(key, sizeof(key));
        while (r >= 0 && (n = seal_reader_next(sr, &data)) != 0)
                if (n < 0)
                        r = (int) n;
        if (r < 0)
                return failure(name, "the suspend image %s cannot be resumed: %s; it is kept. Use 'zoneadm -z %s "
                        "boot -R' to boot afresh.", buf,
                        r == -EBADMSG ? "it was not sealed with this zone's key for this zone, or it was changed"
                        : r == -ESTALE ? "it is not the zone's latest suspend image"
                        : r == -EPIPE  ? "it is cut short"
                                      : strerror(-r),
                        name);
        *ret_resume = true;
        return 0;
}

/* After QEMU started with -incoming defer: feed it the opened image. */
int resume(const char *name, const char *sock)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_(qmp_sync_closep) QmpSync *q = NULL;
        _cleanup_(seal_reader_freep) SealReader *sr = NULL;
        _cleanup_free_ char *marker = marker_path(name), *buf = NULL, *err = NULL, *uuid = NULL;
        _cleanup_close_ int fd = -EBADF, wr = -EBADF;
        _cleanup_key_ uint8_t key[16];
        uint64_t generation;
        const uint8_t *data;
        ssize_t n;
        int p[2], r;

        if (!marker || read_marker(marker, &buf, &generation) < 0)
                return failure(name, "the suspended state vanished while the zone started.");
        r = zone_store_load(arg_root, name, &c, NULL);
        if (r < 0 || zone_key(c, key) < 0 || zone_uuid(name, &uuid) < 0)
                return failure(name, "cannot read the zone's key.");
        fd = open(buf, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return failure(name, "cannot read %s: %m.", buf);
        r = seal_reader_new(fd, key, uuid, generation, &sr);
        explicit_bzero(key, sizeof(key));
        if (r < 0)
                return failure(name, "cannot open %s: %s.", buf, strerror(-r));
        for (uint64_t deadline = now_usec() + 30 * 1000000u;;) {
                r = qmp_sync_open(sock, 60 * 1000000u, &q);
                if (r >= 0 || now_usec() > deadline)
                        break;
                (void) usleep(20 * 1000);
        }
        if (r < 0)
                return failure(name, "cannot reach the guest's monitor: %s.", strerror(-r));
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        wr = p[1];
        r = qmp_sync_send_fd(q, p[0], "kzresume", &err);
        (void) close(p[0]);
        if (r >= 0)
                r = qmp_sync_execute(q, "migrate-incoming", json_tokener_parse("{\"uri\": \"fd:kzresume\"}"), NULL,
                        &err);
        if (r < 0)
                return failure(name, "QEMU did not take the suspended state: %s.", err ?: strerror(-r));
        while ((n = seal_reader_next(sr, &data)) > 0) {
                for (ssize_t done = 0; done < n;) {
                        ssize_t k = write(wr, data + done, (size_t) (n - done));
                        if (k < 0) {
                                if (errno == EINTR)
                                        continue;
                                return failure(name, "QEMU stopped reading the suspended state: %m.");
                        }
                        done += k;
                }
        }
        if (n < 0)
                return failure(name, "the suspend image %s changed while it was resumed: %s.", buf, strerror((int) -n));
        (void) close(TAKE_FD(wr));
        (void) unlink(marker);
        fprintf(stderr, "zone '%s': resumed from %s\n", name, buf);
        return 0;
}
