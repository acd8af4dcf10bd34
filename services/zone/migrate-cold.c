/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzones-zone migrate-cold NAME DEST KIND[:dry|:w]: cold and warm migration, run
 * by the restarter's migrate job for a zone that is installed here (KIND cold) or
 * installed and suspended (warm). Nothing runs, so nothing but ownership moves:
 *
 *   1. the destination over SSH, its HostId;
 *   2. every check (migrate-config.c); a dry run stops here: "dry-run HOSTID";
 *   3. the destination's configuration (imported, replaced with -w, or its own);
 *   4. the host data released here (as zoneadm detach): nobody holds the zone;
 *   5. the destination's Zone.Attach — for warm with resume-suspended, so that it
 *      takes the suspend image (on storage both share) as its own and its next
 *      boot resumes it — which claims the host data there;
 *   6. "moved HOSTID": the restarter marks the zone configured here and forgets
 *      its suspended state here.
 *
 * The host data is held by this host until step 4 and by the destination from
 * step 5: it moves once, and the zone is never attached on both. If step 5 fails
 * the zone is claimed here again (nobody could take it meanwhile without force)
 * and a configuration imported in step 3 is removed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kzones-bus.h"
#include "migrate-config.h"
#include "remote.h"
#include "sealed-stream.h"
#include "zone.h"

#define ATTACH_TIMEOUT_USEC (120ull * 1000000)
#define POLL_USEC (250u * 1000u)

/* A Cancel (SIGTERM) is taken between steps: before the destination's attach the
 * migration rolls back; once that attach was asked for, it runs to its end. */
static volatile sig_atomic_t cancelled;

static void on_signal(int sig)
{
        cancelled = 1;
}

static int check_cancelled(const char *name)
{
        if (!cancelled)
                return 0;
        printf("zone '%s': cancelled\n", name);
        return -ECANCELED;
}

/* The destination's Attach job, followed to its end. */
static int attach_remote(sd_bus *remote, const char *name, bool warm)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *zone_path = NULL, *job = NULL;
        const char *p;
        int r;

        r = sd_bus_call_method(remote, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, "GetZone", &error,
                &reply, "s", name);
        if (r >= 0)
                r = sd_bus_message_read(reply, "o", &p);
        if (r < 0 || !(zone_path = strdup(p))) {
                printf("zone '%s': the destination does not know the zone: %s\n", name, error.message ?: strerror(-r));
                return -EIO;
        }
        reply = sd_bus_message_unref(reply);
        if (warm)
                r = sd_bus_call_method(remote, RESTARTER_BUS_NAME, zone_path, RESTARTER_ZONE_IFACE, "Attach", &error,
                        &reply, "a{sv}", 2, "resume-suspended", "b", 1, "migration", "b", 1);
        else
                r = sd_bus_call_method(remote, RESTARTER_BUS_NAME, zone_path, RESTARTER_ZONE_IFACE, "Attach", &error,
                        &reply, "a{sv}", 1, "migration", "b", 1);
        if (r >= 0)
                r = sd_bus_message_read(reply, "o", &p);
        if (r < 0 || !(job = strdup(p))) {
                printf("zone '%s': the destination refused to attach the zone: %s\n", name,
                        error.message ?: strerror(-r));
                return -EIO;
        }
        for (uint64_t deadline = now_usec() + ATTACH_TIMEOUT_USEC;; (void) usleep(POLL_USEC)) {
                _cleanup_free_ char *state = NULL, *message = NULL;

                sd_bus_error_free(&error);
                r = sd_bus_get_property_string(remote, RESTARTER_BUS_NAME, job, RESTARTER_JOB_IFACE, "State", &error,
                        &state);
                if (r >= 0)
                        r = sd_bus_get_property_string(remote, RESTARTER_BUS_NAME, job, RESTARTER_JOB_IFACE, "Message",
                                &error, &message);
                if (r < 0) {
                        printf("zone '%s': cannot follow the destination's attach: %s\n", name,
                                error.message ?: strerror(-r));
                        return -EIO;
                }
                if (streq(state, "done"))
                        return 0;
                if (!streq(state, "running")) {
                        printf("zone '%s': the destination could not attach the zone: %s\n", name, strna(message));
                        return -EIO;
                }
                if (now_usec() > deadline) {
                        printf("zone '%s': the destination did not attach the zone within %llu s\n", name,
                                ATTACH_TIMEOUT_USEC / 1000000);
                        return -ETIMEDOUT;
                }
        }
}

int verb_migrate_cold(const char *name, const char *destination, const char *options)
{
        _cleanup_(remote_uri_done) RemoteUri dest = {};
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *local = NULL, *remote = NULL;
        _cleanup_free_ char *bus_host = NULL, *hostid = NULL, *kind_s = NULL;
        _cleanup_close_ int ssh_errors = -EBADF;
        MigrateConfig mc = { .name = name };
        const char *reason = NULL, *ssh_reason, *colon;
        char ssh_buf[1024];
        bool dry_run = false, detached = false;
        int r;

        (void) signal(SIGTERM, on_signal);
        (void) signal(SIGINT, on_signal);
        r = remote_uri_parse(destination, &dest, &reason);
        if (r < 0) {
                printf("zone '%s': the destination %s is not a host: %s\n", name, destination, strna(reason));
                return -EINVAL;
        }
        colon = strchr(options, ':');
        kind_s = colon ? strndup(options, (size_t) (colon - options)) : strdup(options);
        if (!kind_s)
                return -ENOMEM;
        mc.kind = migrate_kind_from_string(kind_s);
        dry_run = streq_ptr(colon, ":dry");
        mc.overwrite = streq_ptr(colon, ":w");
        if ((mc.kind != MIGRATE_COLD && mc.kind != MIGRATE_WARM) || (colon && !dry_run && !mc.overwrite)) {
                printf("zone '%s': bad options '%s' (cold|warm[:dry|:w])\n", name, options);
                return -EINVAL;
        }
        bus_host = remote_uri_to_bus_host(&dest);
        if (!bus_host)
                return -ENOMEM;
        r = sd_bus_open_system(&local);
        if (r < 0) {
                printf("zone '%s': cannot connect to this host's system bus: %s\n", name, strerror(-r));
                return r;
        }
        /* a zone administrator's: its own connection (the destination checks it) */
        r = destination_bus_open(&remote, bus_host, &ssh_errors);
        if (r >= 0)
                r = sd_bus_get_property_string(remote, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                        "HostId", &error, &hostid);
        if (r < 0 && (ssh_reason = remote_ssh_reason(ssh_errors, ssh_buf, sizeof(ssh_buf)))) {
                printf("zone '%s': cannot reach the destination %s over SSH: %s\n", name, dest.host, ssh_reason);
                return -EIO;
        }
        if (r < 0 || strlen(hostid) != 8) {
                printf("zone '%s': cannot reach the destination's restarter on %s: %s\n", name, dest.host,
                        r < 0 ? error.message ?: strerror(-r) : "it has no HostId");
                return -EIO;
        }
        mc.local = local;
        mc.remote = remote;
        migrate_step("Checking migration compatibility.");
        r = migrate_config_check(&mc);
        if (r < 0)
                goto out;
        if (dry_run) {
                migrate_step("Dry-run migration successful.");
                printf("dry-run %s\n", hostid);
                goto out;
        }
        r = check_cancelled(name);
        if (r >= 0)
                r = migrate_config_apply(&mc);
        if (r >= 0)
                r = check_cancelled(name);
        if (r < 0)
                goto fail;
        migrate_step("Detaching zone on source host.");
        r = verb_detach(name);
        if (r < 0)
                goto fail;
        detached = true;
        r = check_cancelled(name);
        if (r < 0)
                goto fail;
        migrate_step("Attaching zone.");
        r = attach_remote(remote, name, mc.kind == MIGRATE_WARM);
        if (r < 0)
                goto fail;
        migrate_step(mc.kind == MIGRATE_WARM ? "Migration successful. 'zoneadm boot' on the destination resumes the "
                "zone." : "Migration successful.");
        printf("moved %s\n", hostid);
        fflush(stdout);
        r = 0;
        goto out;
fail:
        if (detached && verb_attach(name, NULL) < 0)
                printf("zone '%s': the zone is detached here and not attached on the destination; attach it where "
                        "it should run ('zoneadm -z %s attach')\n", name, name);
        migrate_config_roll_back(&mc);
        if (r >= 0)
                r = -EIO;
out:
        fflush(stdout);
        migrate_config_done(&mc);
        return r;
}

/* zoneadm attach on the destination of a warm migration (Attach resume-suspended):
 * the suspend image the zone's host data records becomes this host's suspended
 * state (the marker its next boot resumes from), then the zone is claimed. The
 * image is checked first: sealed with the zone's key, for its UUID (which it kept,
 * ImportZone), of the generation the host data records. */
int verb_attach_suspended(const char *name)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_(seal_reader_freep) SealReader *sr = NULL;
        _cleanup_free_ char *path = NULL, *uuid = NULL, *line = NULL, *marker = root_path("/var/lib/kzones/%s.suspended",
                name), *dir = root_path("/var/lib/kzones");
        _cleanup_close_ int fd = -EBADF;
        _cleanup_key_ uint8_t key[16];
        uint64_t generation = 0;
        int r;

        if (!marker || !dir)
                return -ENOMEM;
        r = zone_store_load(arg_root, name, &c, NULL);
        if (r < 0)
                return failure(name, "cannot read the configuration.");
        r = zone_suspend_image_path(c, arg_root, &path);
        if (r < 0)
                return failure(name, "the zone has no suspend image path here: %s.", strerror(-r));
        if (zone_key(c, key) < 0 || zone_uuid(name, &uuid) < 0)
                return failure(name, "cannot read the zone's key and UUID.");
        r = hostdata_suspend_generation(name, c, &generation);
        if (r < 0 || generation == 0)
                return failure(name, "the zone's host data records no suspend image (%s).",
                        r < 0 ? strerror(-r) : "none");
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return failure(name, "suspend path %s is not reachable from this host: %m.", path);
        r = seal_reader_new(fd, key, uuid, generation, &sr);
        if (r < 0)
                return failure(name, "the suspend image %s is not the zone's current one for this key and UUID: %s.",
                        path, strerror(-r));
        if (asprintf(&line, "%s\n%" PRIu64 "\n", path, generation) < 0)
                return -ENOMEM;
        (void) mkdir_p(dir, 0700);
        r = write_file_atomic(marker, line, strlen(line), 0600);
        if (r < 0)
                return failure(name, "cannot record the suspended state in %s: %s.", marker, strerror(-r));
        r = verb_attach(name, NULL);
        if (r < 0)
                (void) unlink(marker);
        return r;
}
