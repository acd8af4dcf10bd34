/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who holds a zone: its host data on the boot storage (hostdata.h), claimed before
 * the zone runs, installs or attaches, released when it detaches, and renewed as a
 * lease while it runs. */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "zone.h"

/* The zone's key does not open its host data: the zone is unavailable here. */
static int key_incorrect(const char *name)
{
        return failure_unavailable(name, "error: Encryption key is incorrect. See zonecfg(8) for the configuration "
                "migration\nprocedure (zonecfg export on the old host, zonecfg -f on this one), or make a new key "
                "with\n    zoneadm -z %s attach -x initialize-hostdata", name);
}

/* The newest host data generation this host has seen of the zone (as UUID), kept in
 * /var/lib/kzones/NAME.generation: an older block put back on the storage is refused. */
static uint64_t generation_seen(const char *name, const char *uuid)
{
        _cleanup_free_ char *path = root_path("/var/lib/kzones/%s.generation", name), *buf = NULL;
        size_t size, n;

        if (!path || read_file_bounded(path, 256, &buf, &size) < 0)
                return 0;
        n = strlen(uuid);
        if (size <= n || strncmp(buf, uuid, n) != 0 || buf[n] != ' ')
                return 0;
        return strtoull(buf + n + 1, NULL, 10);
}

static void generation_remember(const char *name, const char *uuid, uint64_t generation)
{
        _cleanup_free_ char *path = root_path("/var/lib/kzones/%s.generation", name),
                            *dir = root_path("/var/lib/kzones"), *line = NULL;

        if (!path || !dir || asprintf(&line, "%s %" PRIu64 "\n", uuid, generation) < 0)
                return;
        (void) mkdir_p(dir, 0700);
        (void) write_file_atomic(path, line, strlen(line), 0600);
}

/* The local lock of a zone's host data: the lease keeper's renewals and this
 * host's claims never interleave their read-modify-writes. */
static int hostdata_local_lock(const char *name)
{
        _cleanup_free_ char *dir = run_dir(name), *path = NULL;

        if (!dir || asprintf(&path, "%s/hostdata.lock", dir) < 0)
                return -ENOMEM;
        (void) make_run_dir(name);
        return lock_file(path);
}

static int in_use(const char *name, const HostData *hd, const char *why)
{
        _cleanup_free_ char *msg = hostdata_in_use_message(name, hd);

        return failure(name, "%s%s%s", msg ?: "in use by another host", why ? "\n" : "", why ?: "");
}

/* Reads the zone's host data and, unless another host owns the zone (and force is
 * not given), records this host as its owner in state, with the next generation and
 * suspend as the generation of the zone's suspend image (KEEP_SUSPEND: as it was).
 * A block that cannot be read, or that is not this zone's current one, is never
 * taken for free storage. Taking the zone from nobody (or from a host whose lease
 * expired) is atomic between hosts: see the leases in hostdata.h. */
int claim_full(const char *name, const ZoneConfig *c, const char *state, unsigned flags, uint64_t suspend,
                uint64_t *ret_size)
{
        _cleanup_(boot_storage_freep) BootStorage *s = NULL;
        _cleanup_free_ char *uuid = NULL;
        _cleanup_close_ int lock = -EBADF;
        _cleanup_key_ uint8_t key[16];
        uint8_t buf[HOSTDATA_BLOCK], again[HOSTDATA_BLOCK];
        bool force = flags & CLAIM_FORCE, taking;
        uint64_t seen, t_read;
        char me[9];
        HostData hd = {}, old = {};
        KzError e = {};
        int r;

        if (zone_key(c, key) < 0)
                return failure_unavailable(name, "error: the zone has no keysource, so its host data cannot be "
                        "read; make one with\n    zoneadm -z %s attach -x initialize-hostdata", name);
        r = zone_uuid(name, &uuid);
        if (r < 0 || strlen(uuid) >= sizeof(hd.uuid))
                return failure(name, "cannot read the zone's UUID from the index: %s.", strerror(r < 0 ? -r : EINVAL));
        r = hostdata_local_hostid(me);
        if (r < 0)
                return failure(name, "cannot tell this host's hostid (from /etc/machine-id): %s.", strerror(-r));
        r = boot_storage_open(c, arg_root, &s, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        if (ret_size)
                *ret_size = boot_storage_size(s);
        lock = hostdata_local_lock(name);
        if (lock < 0)
                return failure(name, "cannot lock the zone's host data on this host: %s.", strerror(-lock));
        t_read = now_usec();
        r = boot_storage_read_hostdata(s, buf, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        seen = generation_seen(name, uuid);
        /* attach: from another host, where the zone had another UUID; it becomes ours */
        r = hostdata_open(buf, key, flags & CLAIM_ATTACH ? NULL : uuid, flags & CLAIM_ATTACH ? 0 : seen, &old);
        if (r >= 0 && streq(old.uuid, uuid) && old.generation < seen)
                r = -ESTALE;
        if (r == -EBADMSG && !force)
                return key_incorrect(name);
        if (r == -EXDEV && !force) {
                /* another host's record of the zone (its UUID there differs): held there, say by whom */
                HostData other = {};

                if (hostdata_open(buf, key, NULL, 0, &other) >= 0 && !isempty(other.hostid) && !streq(other.hostid, me))
                        return in_use(name, &other, NULL);
        }
        if (r == -EXDEV && !force)
                return failure(name, "the host data on %s was written for another zone that shares this zone's key; "
                        "if the storage is this zone's, attach it with\n    zoneadm -z %s attach -x force-takeover",
                        boot_storage_uri(s), name);
        if (r == -ESTALE && !force)
                return failure(name, "the host data on %s is older than the newest this host has seen of the zone "
                        "(generation %" PRIu64 "): it was put back; refusing it. If that is meant, attach with\n"
                        "    zoneadm -z %s attach -x force-takeover", boot_storage_uri(s), seen, name);
        if (r < 0 && r != -ENODATA && r != -EBADMSG && r != -EXDEV && r != -ESTALE)
                return failure(name, "cannot open the host data of %s: %s.", boot_storage_uri(s), strerror(-r));
        if (r < 0)
                old = (HostData) {};
        if (!force && !isempty(old.hostid) && !streq(old.hostid, me)) {
                char why[160];

                if (!hostdata_is_lease(&old))
                        return in_use(name, &old, NULL);
                if (hostdata_lease_fresh(&old, now_realtime())) {
                        (void) snprintf(why, sizeof(why), "error: host %s renews the zone's lease (it runs there); "
                                "it expires %u s after the host stops renewing it.", old.hostid,
                                LEASE_EXPIRY_USEC / 1000000u);
                        return in_use(name, &old, why);
                }
                /* a lease that looks old: is its host still renewing it? */
                fprintf(stderr, "zone '%s': host %s's lease looks expired; watching it for %u s\n", name, old.hostid,
                        LEASE_EXPIRY_USEC / 1000000u);
                lock = safe_close_fd(lock);
                (void) usleep(LEASE_EXPIRY_USEC);
                lock = hostdata_local_lock(name);
                if (lock < 0)
                        return failure(name, "cannot lock the zone's host data on this host: %s.", strerror(-lock));
                t_read = now_usec();
                r = boot_storage_read_hostdata(s, again, &e);
                if (r < 0)
                        return failure(name, "%s", kz_error_message(&e, r));
                if (memcmp(buf, again, HOSTDATA_BLOCK) != 0) {
                        HostData now = {};

                        if (hostdata_open(again, key, NULL, 0, &now) < 0)
                                now = old;
                        return in_use(name, &now, "error: its host renewed the zone's lease while this host watched it.");
                }
                fprintf(stderr, "zone '%s': host %s's lease expired (no renewal in %u s): taking the zone\n", name,
                        old.hostid, LEASE_EXPIRY_USEC / 1000000u);
        }
        taking = !streq(old.hostid, me) && !(flags & CLAIM_RELEASE);
        r = hostdata_for_this_host(state, zone_config_brand(c), &hd);
        if (r < 0)
                return failure(name, "%s", strerror(-r));
        if (flags & CLAIM_RELEASE)
                hd.hostid[0] = 0; /* held by nobody */
        hd.generation = (old.generation > seen ? old.generation : seen) + 1;
        hd.suspend = suspend == KEEP_SUSPEND ? old.suspend : suspend;
        strcpy(hd.uuid, uuid);
        r = hostdata_seal(&hd, key, buf);
        if (r < 0)
                return failure(name, "cannot seal the host data: %s.", strerror(-r));
        r = boot_storage_write_hostdata(s, buf, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        generation_remember(name, uuid, hd.generation);
        if (taking) {
                /* another host that read the record before this write may still write its own:
                 * whoever wrote last holds the zone, and only a write within the I/O timeout counts */
                uint64_t took = now_usec() - t_read;
                HostData winner = {};

                if (took > LEASE_IO_TIMEOUT_USEC)
                        return failure(name, "the storage %s took %" PRIu64 " ms to read and write the host data "
                                "(at most %u ms for a safe claim): not taking the zone; try again.",
                                boot_storage_uri(s), took / 1000u, LEASE_IO_TIMEOUT_USEC / 1000u);
                (void) usleep(LEASE_CLAIM_DELAY_USEC);
                r = boot_storage_read_hostdata(s, again, &e);
                if (r < 0)
                        return failure(name, "%s", kz_error_message(&e, r));
                if (memcmp(buf, again, HOSTDATA_BLOCK) != 0) {
                        if (hostdata_open(again, key, NULL, 0, &winner) < 0 || isempty(winner.hostid))
                                return failure(name, "another host wrote the zone's host data at the same time; "
                                        "not taking the zone.");
                        return in_use(name, &winner, "error: that host took the zone at the same time as this one.");
                }
        }
        return 0;
}

/* The lease keeper: renews a running zone's lease, and feeds the unit's watchdog
 * only after each renewal, so a host that cannot renew has its QEMU killed by
 * systemd (WatchdogSec=) before another host may take the zone. If another host
 * took it over, QEMU (its parent) is killed at once. Runs until QEMU exits. */
/* @adopt: the record may be another UUID's (handed over, or taken after a handover
 * that never came); @take_generation: not UINT64_MAX: the record names another host,
 * whose lease expired at that generation, and becomes ours if it still has it.
 * *ret_generation: the record's generation as read. */
static int lease_renew(const char *name, const ZoneConfig *c, const char *me, bool adopt, uint64_t take_generation,
                uint64_t *ret_generation)
{
        _cleanup_(boot_storage_freep) BootStorage *s = NULL;
        _cleanup_free_ char *uuid = NULL;
        _cleanup_close_ int lock = -EBADF;
        _cleanup_key_ uint8_t key[16];
        uint8_t buf[HOSTDATA_BLOCK];
        HostData hd = {};
        int r;

        if (zone_key(c, key) < 0 || zone_uuid(name, &uuid) < 0)
                return -ENOKEY;
        r = boot_storage_open(c, arg_root, &s, NULL);
        if (r < 0)
                return r;
        lock = hostdata_local_lock(name);
        if (lock < 0)
                return lock;
        r = boot_storage_read_hostdata(s, buf, NULL);
        /* handed over from another host, where the zone has another UUID: the key
         * proves the record is the zone's, and its hostid that it was given to us */
        if (r >= 0)
                r = hostdata_open(buf, key, adopt ? NULL : uuid, 0, &hd);
        if (r < 0)
                return r;
        if (ret_generation)
                *ret_generation = hd.generation;
        if (!streq(hd.hostid, me) && (take_generation == UINT64_MAX || hd.generation != take_generation))
                return -EOWNERDEAD;
        if (adopt) {
                /* handed over by the zone's previous host: the record becomes this host's own */
                HostData mine = {};

                r = hostdata_for_this_host("running", zone_config_brand(c), &mine);
                if (r < 0)
                        return r;
                if (strlen(uuid) >= sizeof(mine.uuid))
                        return -EINVAL;
                mine.generation = hd.generation;
                mine.suspend = hd.suspend;
                strcpy(mine.uuid, uuid);
                hd = mine;
        }
        hd.updated = now_realtime();
        hd.generation++;
        r = hostdata_seal(&hd, key, buf);
        if (r >= 0)
                r = boot_storage_write_hostdata(s, buf, NULL);
        return r;
}

_noreturn_ static void lease_keeper(const char *name, const ZoneConfig *c, pid_t qemu, bool incoming)
{
        _cleanup_free_ char *running_note = NULL;
        uint64_t seen_generation = UINT64_MAX, seen_since = 0;
        char me[9] = "";

        (void) prctl(PR_SET_NAME, "kz-lease");
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != qemu)
                _exit(0);
        /* none of QEMU's descriptors (disks, monitors, console, taps, memory) */
        close_all_but(NULL, 0);
        running_note = root_path(ZONE_RUN_DIR "/%s/" ZONE_INCOMING_RUNNING_NOTE, name);
        (void) hostdata_local_hostid(me);
        (void) sd_notify(false, "WATCHDOG=1");
        for (unsigned failures = 0;;) {
                uint64_t generation = UINT64_MAX, take = UINT64_MAX;
                int r = 0;

                (void) usleep(LEASE_RENEW_USEC);
                /* the source stopped renewing without handing the zone over (its host died,
                 * or the handover could not be written) while the guest runs here: its lease
                 * is taken once it expired, watched here as a claim watches it */
                if (incoming && seen_generation != UINT64_MAX && now_usec() - seen_since >= LEASE_EXPIRY_USEC &&
                    running_note && access(running_note, F_OK) >= 0)
                        take = seen_generation;
                if (zone_boot_device(c))
                        r = lease_renew(name, c, me, incoming, take, &generation);
                if (r >= 0 && take != UINT64_MAX)
                        fprintf(stderr, "zone '%s': the migration's source stopped renewing the zone's lease "
                                "without handing it over; this host took it after %u s\n", name,
                                LEASE_EXPIRY_USEC / 1000000u);
                if (r == -EOWNERDEAD && incoming) {
                        /* an incoming migration: the source holds the zone until it hands it
                         * over, and the guest here is paused until the migration completes
                         * (the restarter's migrate-in job bounds the wait and stops the unit) */
                        if (generation != seen_generation) {
                                seen_generation = generation;
                                seen_since = now_usec();
                        }
                        (void) sd_notify(false, "WATCHDOG=1");
                        continue;
                }
                if (r >= 0 && incoming) {
                        if (take == UINT64_MAX)
                                fprintf(stderr, "zone '%s': the zone's host data was handed over to this host\n",
                                        name);
                        incoming = false;
                }
                if (r == -EOWNERDEAD) {
                        fprintf(stderr, "zone '%s': another host took the zone over: stopping it here\n", name);
                        (void) kill(qemu, SIGKILL);
                        _exit(1);
                }
                if (r < 0) {
                        if (failures++ == 0)
                                fprintf(stderr, "zone '%s': cannot renew the zone's lease: %s; the zone is stopped "
                                        "if no renewal succeeds within %u s\n", name, strerror(-r),
                                        LEASE_WATCHDOG_USEC / 1000000u);
                        continue;
                }
                if (failures > 0)
                        fprintf(stderr, "zone '%s': the zone's lease is renewed again\n", name);
                failures = 0;
                (void) sd_notify(false, "WATCHDOG=1");
        }
}

int start_lease_keeper(const char *name, const ZoneConfig *c, bool incoming)
{
        pid_t qemu = getpid(), pid = fork();

        if (pid < 0)
                return failure(name, "cannot start the lease keeper: %m.");
        if (pid == 0)
                lease_keeper(name, c, qemu, incoming);
        return 0;
}

/* Whether the zone's host data names this host (any UUID: a record handed over
 * still carries the source's until this host's keeper rewrote it). */
bool hostdata_names_this_host(const char *name, const ZoneConfig *c)
{
        _cleanup_(boot_storage_freep) BootStorage *s = NULL;
        _cleanup_key_ uint8_t key[16];
        uint8_t buf[HOSTDATA_BLOCK];
        char me[9];
        HostData hd = {};

        if (zone_key(c, key) < 0 || hostdata_local_hostid(me) < 0 || boot_storage_open(c, arg_root, &s, NULL) < 0 ||
            boot_storage_read_hostdata(s, buf, NULL) < 0 || hostdata_open(buf, key, NULL, 0, &hd) < 0)
                return false;
        return streq(hd.hostid, me);
}

/* An incoming migration does not claim the zone: the size of its boot storage
 * (for QEMU's view of the disk, less the host data area) is read alone. */
int boot_size_unclaimed(const char *name, const ZoneConfig *c, uint64_t *ret)
{
        _cleanup_(boot_storage_freep) BootStorage *s = NULL;
        KzError e = {};
        int r;

        r = boot_storage_open(c, arg_root, &s, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        *ret = boot_storage_size(s);
        return 0;
}

/* After a migration out (the launch request's handover, from ExecStopPost once the
 * guest here is stopped): the host data names the zone's new host, as a running
 * zone's lease, which that host's lease keeper (waiting for it) renews and makes its
 * own. Only a record this host holds is handed over. */
int hand_over_to(const char *name, const ZoneConfig *c, const char *hostid)
{
        _cleanup_(boot_storage_freep) BootStorage *s = NULL;
        _cleanup_free_ char *uuid = NULL;
        _cleanup_close_ int lock = -EBADF;
        _cleanup_key_ uint8_t key[16];
        uint8_t buf[HOSTDATA_BLOCK];
        char me[9];
        HostData hd = {};
        KzError e = {};
        int r;

        if (zone_key(c, key) < 0 || zone_uuid(name, &uuid) < 0)
                return failure(name, "cannot read the zone's key or UUID to hand its host data over.");
        r = hostdata_local_hostid(me);
        if (r < 0)
                return failure(name, "cannot tell this host's hostid: %s.", strerror(-r));
        r = boot_storage_open(c, arg_root, &s, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        lock = hostdata_local_lock(name);
        if (lock < 0)
                return failure(name, "cannot lock the zone's host data on this host: %s.", strerror(-lock));
        r = boot_storage_read_hostdata(s, buf, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        r = hostdata_open(buf, key, uuid, generation_seen(name, uuid), &hd);
        if (r < 0)
                return failure(name, "cannot open the host data of %s to hand it over: %s.", boot_storage_uri(s),
                        strerror(-r));
        if (!streq(hd.hostid, me))
                return in_use(name, &hd, "error: this host does not hold the zone; it cannot hand it over.");
        (void) snprintf(hd.hostid, sizeof(hd.hostid), "%s", hostid);
        hd.hostname[0] = 0; /* the new host writes its own with its first renewal */
        (void) snprintf(hd.state, sizeof(hd.state), "running");
        hd.updated = now_realtime();
        hd.generation++;
        r = hostdata_seal(&hd, key, buf);
        if (r < 0)
                return failure(name, "cannot seal the host data: %s.", strerror(-r));
        r = boot_storage_write_hostdata(s, buf, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        generation_remember(name, uuid, hd.generation);
        fprintf(stderr, "zone '%s': host data handed over to host %s\n", name, hostid);
        return 0;
}

int claim(const char *name, const ZoneConfig *c, const char *state, uint64_t *ret_size)
{
        return claim_full(name, c, state, 0, KEEP_SUSPEND, ret_size);
}

/* The generation of the zone's current suspend image, as its host data records it. */
int hostdata_suspend_generation(const char *name, const ZoneConfig *c, uint64_t *ret)
{
        _cleanup_(boot_storage_freep) BootStorage *s = NULL;
        _cleanup_free_ char *uuid = NULL;
        _cleanup_key_ uint8_t key[16];
        uint8_t buf[HOSTDATA_BLOCK];
        HostData hd;
        int r;

        if (zone_key(c, key) < 0 || zone_uuid(name, &uuid) < 0 || boot_storage_open(c, arg_root, &s, NULL) < 0 ||
            boot_storage_read_hostdata(s, buf, NULL) < 0)
                return -EIO;
        r = hostdata_open(buf, key, uuid, generation_seen(name, uuid), &hd);
        if (r < 0)
                return r;
        *ret = hd.suspend;
        return 0;
}

/* zoneadm attach (claim the zone for this host: refused when another host holds it,
 * unless force-takeover; or start over with a new key and host data) and detach (the
 * host data says nobody holds the zone). The restarter sets the zone's state in the
 * index when this succeeds, and marks it unavailable on EXIT_UNAVAILABLE. */
static int hand_over(const char *name, bool attach, const char *option)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        KzError e = {};
        int r;

        r = zone_store_load(arg_root, name, &c, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        if (attach && streq_ptr(option, "initialize-hostdata")) {
                r = zone_config_new_keysource(c);
                if (r >= 0)
                        r = zone_store_commit(arg_root, c, &e);
                if (r < 0)
                        return failure(name, "cannot store the new key: %s", kz_error_message(&e, r));
        }
        if (!zone_boot_device(c))
                return 0;
        /* attach: a new key cannot open the old host data, which is written anew */
        return claim_full(name, c, attach ? "installed" : "detached",
                attach ? CLAIM_ATTACH | (option ? CLAIM_FORCE : 0) : CLAIM_RELEASE, KEEP_SUSPEND, NULL);
}

int verb_attach(const char *name, const char *option)
{
        return hand_over(name, true, option);
}

int verb_detach(const char *name)
{
        return hand_over(name, false, NULL);
}
