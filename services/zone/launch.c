/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The zone's unit, zone@NAME.service:
 *
 *   kzones-zone exec NAME       ExecStart=: takes the zone's launch request (boot
 *                               arguments, boot -R, the installer), reads its
 *                               configuration, claims it, creates its taps and becomes
 *                               QEMU (exec), so systemd supervises the guest itself.
 *   kzones-zone wait NAME PID   ExecStartPost=: returns once QMP says the guest runs, so
 *                               the unit is active only when the guest is really running.
 *   kzones-zone stop NAME PID   ExecStop=: a halt, or the zone's autoshutdown.
 *   kzones-zone stopped NAME    ExecStopPost=: the host data says the zone is down.
 *   kzones-zone reload NAME     ExecReload=: the restarter reads the zone's unit
 *                               configuration again (systemctl reload zone@NAME).
 *
 * The first failure of a run goes, with its reason and whether the zone is
 * unavailable here, into the launch result (launch-request.h) and the unit's
 * status; the restarter takes it from there and alone writes /etc/zones/index. Every
 * per-zone runtime file lives in the zone's own directory /run/kzones/NAME/, so that
 * no zone's name reaches another zone's files. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "cpu-probe.h"
#include "qmp.h"
#include "zone-net.h"
#include "kzones-bus.h"
#include "zone.h"

#define WAIT_TIMEOUT_USEC (120u * 1000000u)

/* An incoming start's directory: its socket, then itself (nothing else is put there). */
static int rm_rf_dir_socket(const char *dir)
{
        _cleanup_free_ char *sock = NULL;

        if (asprintf(&sock, "%s/migr.sock", dir) < 0)
                return -ENOMEM;
        (void) unlink(sock);
        return rmdir(dir) < 0 && errno != ENOENT ? -errno : 0;
}

/* An incoming live migration (the launch request's incoming): QEMU binds its
 * listening socket itself (QEMU 7.2 takes no listening descriptor for migrations),
 * in a directory of its own user; the note tells kzones-zone wait what to start. */
static int prepare_incoming(const char *name, const char *rundir, LaunchIncoming *in, const QemuUser *user)
{
        _cleanup_free_ char *dir = NULL, *sock = NULL, *uri = NULL, *note = NULL, *line = NULL;
        struct stat st;
        int r;

        if (asprintf(&dir, "%s/" ZONE_INCOMING_DIR, rundir) < 0 ||
            asprintf(&sock, "%s/" ZONE_INCOMING_SOCKET, rundir) < 0 || asprintf(&uri, "unix:%s", sock) < 0 ||
            asprintf(&note, "%s/" ZONE_INCOMING_NOTE, rundir) < 0 ||
            asprintf(&line, "%" PRIu32 " %s\n", in->channels ?: 1, in->migration_id) < 0)
                return -ENOMEM;
        /* the socket is the launcher's choice: a request naming another is refused */
        if (in->uri && !streq(in->uri, uri))
                return failure(name, "the launch request's incoming migration names %s; this zone's is %s.", in->uri,
                        uri);
        if (strpbrk(in->migration_id, " \n"))
                return failure(name, "the launch request's migration id is not a word.");
        /* QEMU's user reaches its directory through the zone's: the group lets it pass
         * (what is in there is root's, 0600; a later plain start gives it back to root) */
        if (user && (chown(rundir, 0, user->gid) < 0 || chmod(rundir, 0750) < 0))
                return failure(name, "cannot let QEMU's user reach %s: %m.", rundir);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return failure(name, "cannot create %s: %m.", dir);
        if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return failure(name, "%s is not a directory.", dir);
        /* chmod first: once it is QEMU's, root may not (no CAP_FOWNER in the unit) */
        if (chmod(dir, 0700) < 0 || (user && chown(dir, user->uid, user->gid) < 0))
                return failure(name, "cannot hand %s to QEMU's user: %m.", dir);
        if (unlink(sock) < 0 && errno != ENOENT)
                return failure(name, "cannot remove the old %s: %m.", sock);
        r = write_file_atomic(note, line, strlen(line), 0600);
        if (r < 0)
                return failure(name, "cannot write %s: %s.", note, strerror(-r));
        fprintf(stderr, "zone '%s': incoming migration %s on %s, %" PRIu32 " channel(s)\n", name, in->migration_id,
                uri, in->channels ?: 1);
        return 0;
}

int verb_exec(const char *name)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_(launch_request_done) LaunchRequest req = {};
        _cleanup_free_ char *rundir = NULL, *logdir = NULL, *console = NULL, *result = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        ZoneIndexEntry x = {};
        int taps[64];
        size_t n_taps = 0;
        uint64_t boot_size = 0;
        bool resuming = false, incoming;
        _cleanup_close_ int installer = -EBADF, qmp = -EBADF, control = -EBADF;
        _cleanup_free_ const ZoneResource **devices = NULL;
        _cleanup_free_ int *device_fds = NULL;
        size_t n_devices;
        int serial[2] = { -EBADF, -EBADF };
        bool drop = geteuid() == 0;
        QemuUser user = {};
        _cleanup_(zone_memory_done) ZoneMemory memory = { .fd = -EBADF, .vmem_fd = -EBADF };
        _cleanup_(cpu_probe_freep) CpuProbe *probe = NULL;
        _cleanup_free_ char *cpu_model = NULL;
        _cleanup_free_ char *default_link = NULL;
        KzError e = {};
        int r;

        rundir = run_dir(name);
        if (!rundir || asprintf(&result, "%s/" LAUNCH_RESULT_FILE, rundir) < 0)
                return -ENOMEM;
        /* the result of a previous run (the zone's directory outlives the unit) */
        (void) unlink(result);
        /* what the restarter asks of this start, taken once: none is a plain boot */
        r = launch_request_take(rundir, &req, &e);
        if (r < 0 && r != -ENOENT)
                return failure(name, "%s", kz_error_message(&e, r));
        incoming = req.incoming.migration_id != NULL;
        {
                /* a note of an earlier incoming start is not this start's */
                _cleanup_free_ char *note = NULL;

                if (asprintf(&note, "%s/" ZONE_INCOMING_NOTE, rundir) < 0)
                        return -ENOMEM;
                (void) unlink(note);
        }

        r = zone_store_load(arg_root, name, &c, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        if (!streq_ptr(zone_config_brand(c), "kz"))
                return failure(name, "brand '%s' zones are not run by kzones.", strna(zone_config_brand(c)));

        (void) zone_index_lookup(arg_root, name, &x, NULL);

        logdir = root_path(ZONE_LOG_DIR);
        if (!logdir || asprintf(&console, "%s/%s.console", logdir, name) < 0)
                return -ENOMEM;
        r = mkdir_p(rundir, 0750);
        if (r < 0)
                return failure(name, "cannot create %s: %s.", rundir, strerror(-r));
        r = mkdir_p(logdir, 0700);
        if (r >= 0 && chmod(logdir, 0700) < 0)
                r = -errno;
        if (r < 0)
                return failure(name, "cannot create %s: %s.", logdir, strerror(-r));

        /* its network: a tap on a bridge or a macvtap on a link per anet (zone-net.h) */
        r = zone_unit_setting(arg_root, name, "DefaultLowerLink", &default_link);
        if (r < 0)
                return failure(name, "cannot read the zone unit's drop-ins: %s.", strerror(-r));
        (void) zone_net_cleanup(name); /* what a launcher killed before ExecStopPost left */
        for (size_t i = 0; i < c->root->n_children; i++) {
                const ZoneResource *anet = c->root->children[i];
                int fd;

                if (anet->type != resource_type_child(zone_type(), "anet"))
                        continue;
                if (n_taps >= ELEMENTSOF(taps))
                        return failure(name, "too many anet resources.");
                fd = anet_make(name, c, anet, default_link, rundir, &e);
                if (fd < 0) {
                        (void) zone_net_cleanup(name);
                        return failure(name, "%s", kz_error_message(&e, fd));
                }
                /* handed to QEMU across exec */
                (void) fcntl(fd, F_SETFD, 0);
                taps[n_taps++] = fd;
        }

        /* its RAM: from its memory reservation pool, or as its pagesize-policy says */
        r = zone_memory_prepare(c, arg_root, &memory, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        /* handed to QEMU across exec */
        if (memory.fd >= 0)
                (void) fcntl(memory.fd, F_SETFD, 0);
        if (memory.vmem_fd >= 0)
                (void) fcntl(memory.vmem_fd, F_SETFD, 0);

        /* the zone runs on one host at a time: claim it in its host data first; an incoming
         * migration's source holds it until the zone runs here, and then hands it over */
        if (zone_boot_device(c)) {
                r = incoming ? boot_size_unclaimed(name, c, &boot_size) : claim(name, c, "running", &boot_size);
                if (r < 0)
                        return r;
        }

        if (!incoming) {
                r = check_resume(name, c, req.fresh, &resuming);
                if (r < 0)
                        return r;
        }

        /* the CPU: what cpu-arch asks for, if this host's QEMU runs it with
         * its accelerator (probed once a boot) */
        r = cpu_probe_get(arg_root, getenv("KZONES_QEMU"), &probe, &e);
        if (r >= 0)
                r = cpu_probe_zone_model(probe, zone_resource_get(c->root, "cpu-arch"), &cpu_model, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));

        /* QEMU runs as its own unprivileged user (as root only when the launcher is not root,
         * in tests): what it must open itself is tried as that user first */
        if (drop) {
                r = qemu_user_lookup(name, &user);
                if (r >= 0)
                        r = qemu_user_check(name, c, &user, probe->accel == ZONE_ACCEL_KVM);
                if (r < 0)
                        return r;
        }

        if (incoming) {
                r = prepare_incoming(name, rundir, &req.incoming, drop ? &user : NULL);
                if (r < 0)
                        return r;
        } else if (drop) {
                _cleanup_free_ char *dir = NULL;

                /* what an incoming start let QEMU's user reach goes back to root */
                if (asprintf(&dir, "%s/" ZONE_INCOMING_DIR, rundir) < 0)
                        return -ENOMEM;
                (void) rm_rf_dir_socket(dir);
                (void) chown(rundir, 0, 0);
        }

        r = set_affinity(c);
        if (r < 0)
                return failure(name, "cannot bind to the dedicated CPUs: %s.", strerror(-r));

        if (req.installer.path) {
                r = open_installer(name, &req.installer, &installer);
                if (r < 0)
                        return r;
        }

        /* its disks, its monitors and its console, opened here for QEMU */
        n_devices = zone_devices_sorted(c, &devices);
        device_fds = calloc(n_devices + 1, sizeof(int));
        if (!device_fds)
                return -ENOMEM;
        r = open_devices(name, c, devices, n_devices, device_fds);
        if (r < 0)
                return r;
        qmp = monitor_socket(name, rundir, ZONE_QMP_SOCKET);
        if (qmp < 0)
                return qmp;
        control = monitor_socket(name, rundir, ZONE_CONTROL_SOCKET);
        if (control < 0)
                return control;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, serial) < 0)
                return failure(name, "cannot make the console's socket pair: %m.");
        {
                ZoneQemuFds fds = {
                        .qmp = qmp,
                        .control = control,
                        .serial = serial[1],
                        .devices = device_fds,
                        .n_devices = n_devices,
                        .installer = installer,
                };
                ZoneQemuOptions o = {
                        .qemu = getenv("KZONES_QEMU"),
                        .runtime_dir = rundir,
                        .fds = &fds,
                        .sandbox = true,
                        .uuid = x.uuid,
                        .cpu_model = cpu_model,
                        .accel = probe->accel,
                        .tap_fds = taps,
                        .n_taps = n_taps,
                        .boot_args = req.boot_args,
                        .boot_size = boot_size,
                        .incoming = resuming || incoming,
                        .memory = &memory,
                };
                r = zone_qemu_argv(c, &o, &argv, &e);
        }
        zone_index_entry_done(&x);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        r = live_config_write(name, rundir, c);
        if (r < 0)
                return r;

        /* the relay keeps its end of the console and nothing of QEMU's, the lease keeper
         * nothing at all */
        r = start_console_relay(name, rundir, console, serial[0]);
        (void) close(serial[0]);
        if (r >= 0)
                r = start_lease_keeper(name, c, incoming);
        if (r < 0)
                return r;

        /* the zone's memory in its pool is reopened by QEMU through /proc/self/fd: its user
         * must own it (the file is unlinked, nobody else can reach it) */
        if (drop && ((memory.fd >= 0 && fchown(memory.fd, user.uid, user.gid) < 0) ||
                            (memory.vmem_fd >= 0 && fchown(memory.vmem_fd, user.uid, user.gid) < 0)))
                return failure(name, "cannot hand the zone's memory to QEMU's user: %m.");

        /* handed to QEMU across exec */
        (void) fcntl(qmp, F_SETFD, 0);
        (void) fcntl(control, F_SETFD, 0);
        (void) fcntl(serial[1], F_SETFD, 0);
        if (installer >= 0)
                (void) fcntl(installer, F_SETFD, 0);
        for (size_t i = 0; i < n_devices; i++)
                if (device_fds[i] >= 0)
                        (void) fcntl(device_fds[i], F_SETFD, 0);

        for (char **a = argv; *a; a++)
                fprintf(stderr, "%s%s", a == argv ? "" : " ", *a);
        fputc('\n', stderr);
        if (drop)
                fprintf(stderr, "zone '%s': QEMU runs as user %s (uid %u)\n", name, KZONES_QEMU_USER,
                        (unsigned) user.uid);
        fflush(stderr);

        /* everything QEMU needs from root is open: root goes, for good */
        if (drop) {
                r = drop_privileges(&user);
                if (r < 0)
                        return failure(name, "cannot become the user '%s': %s.", KZONES_QEMU_USER, strerror(-r));
        }
        execvp(argv[0], argv);
        /* no longer root: the zone's directory is not ours to write */
        fprintf(stderr, "zone '%s': cannot run %s: %m.\n", name, argv[0]);
        return -errno;
}

/* After QEMU started with -incoming defer for a live migration: the capabilities
 * both sides must share (multifd for more than one channel), then the listening
 * socket. The unit is started once QEMU listens: the guest stays paused
 * (inmigrate) until the migration completes, which the restarter's migrate-in job
 * follows. */
static int start_incoming(const char *name, const char *sock, pid_t main_pid)
{
        _cleanup_free_ char *note = root_path(ZONE_RUN_DIR "/%s/" ZONE_INCOMING_NOTE, name),
                            *listen = root_path(ZONE_RUN_DIR "/%s/" ZONE_INCOMING_SOCKET, name), *buf = NULL,
                            *err = NULL, *args = NULL;
        _cleanup_(qmp_sync_closep) QmpSync *q = NULL;
        unsigned channels;
        size_t size;
        char id[129];
        struct stat st;
        int r;

        if (!note || !listen)
                return -ENOMEM;
        r = read_file_bounded(note, 256, &buf, &size);
        if (r < 0)
                return failure(name, "cannot read the incoming migration's note: %s.", strerror(-r));
        (void) unlink(note);
        if (sscanf(buf, "%u %128s", &channels, id) != 2 || channels < 1 || channels > LAUNCH_INCOMING_CHANNELS_MAX)
                return failure(name, "the incoming migration's note is not one.");
        for (uint64_t deadline = now_usec() + 30 * 1000000u;;) {
                r = qmp_sync_open(sock, 10 * 1000000u, &q);
                if (r >= 0 || now_usec() > deadline || (main_pid > 0 && !pid_alive(main_pid)))
                        break;
                (void) usleep(20 * 1000);
        }
        if (r < 0)
                return failure(name, "cannot reach the guest's monitor: %s.", strerror(-r));
        if (channels > 1) {
                r = qmp_sync_execute(q, "migrate-set-capabilities", json_tokener_parse(
                        "{\"capabilities\": [{\"capability\": \"multifd\", \"state\": true}]}"), NULL, &err);
                if (r >= 0 && asprintf(&args, "{\"multifd-channels\": %u}", channels - 1) < 0)
                        return -ENOMEM;
                if (r >= 0)
                        r = qmp_sync_execute(q, "migrate-set-parameters", json_tokener_parse(args), NULL, &err);
                if (r < 0)
                        return failure(name, "QEMU did not take %u migration channels: %s.", channels,
                                err ?: strerror(-r));
        }
        {
                json_object *a = json_object_new_object();
                _cleanup_free_ char *uri = NULL;

                if (!a || asprintf(&uri, "unix:%s", listen) < 0 ||
                    json_object_object_add(a, "uri", json_object_new_string(uri)) < 0) {
                        json_object_put(a);
                        return -ENOMEM;
                }
                r = qmp_sync_execute(q, "migrate-incoming", a, NULL, &err);
        }
        if (r < 0)
                return failure(name, "QEMU did not listen for migration %s: %s.", id, err ?: strerror(-r));
        if (stat(listen, &st) < 0 || !S_ISSOCK(st.st_mode))
                return failure(name, "QEMU does not listen on %s for migration %s.", listen, id);
        fprintf(stderr, "zone '%s': waiting for migration %s on %s\n", name, id, listen);
        return 0;
}

int verb_wait(const char *name, pid_t main_pid)
{
        _cleanup_free_ char *sock = root_path(ZONE_RUN_DIR "/%s/" ZONE_CONTROL_SOCKET, name),
                            *note = root_path(ZONE_RUN_DIR "/%s/" ZONE_INCOMING_NOTE, name);
        uint64_t deadline = now_usec() + WAIT_TIMEOUT_USEC;

        if (!sock)
                return -ENOMEM;
        if (!note)
                return -ENOMEM;
        if (suspended(name)) {
                json_object *st = NULL, *status;
                bool incoming = false;

                /* QEMU was started to take a suspended state (or -R removed the note) */
                for (uint64_t d = now_usec() + 30 * 1000000u; now_usec() < d; (void) usleep(20 * 1000))
                        if (qmp_command_sync(sock, "query-status", NULL, 5 * 1000000u, &st, NULL) >= 0) {
                                incoming = json_object_object_get_ex(st, "status", &status) &&
                                        streq(json_object_get_string(status), "inmigrate");
                                json_object_put(st);
                                break;
                        }
                if (incoming) {
                        int r = resume(name, sock);
                        if (r < 0)
                                return r;
                }
        }
        for (;;) {
                json_object *ret = NULL, *status;
                _cleanup_free_ char *err = NULL;
                int r;

                r = qmp_command_sync(sock, "query-status", NULL, 5 * 1000000u, &ret, &err);
                if (r >= 0 && json_object_object_get_ex(ret, "status", &status)) {
                        const char *s = json_object_get_string(status);
                        bool ok = streq(s, "running"), inmigrate = streq(s, "inmigrate");

                        json_object_put(ret);
                        if (ok)
                                return 0;
                        /* an incoming migration's QEMU: the launcher left its note before it
                         * became QEMU, so once QEMU answers the note is there (we may have
                         * started before the launcher wrote it) */
                        if (inmigrate && access(note, F_OK) >= 0)
                                return start_incoming(name, sock, main_pid);
                        if (streq(s, "shutdown") || streq(s, "internal-error") || streq(s, "guest-panicked"))
                                return failure(name, "the guest stopped while starting (%s).", s);
                } else if (ret)
                        json_object_put(ret);
                if (main_pid > 0 && !pid_alive(main_pid)) {
                        _cleanup_free_ char *path = root_path(ZONE_RUN_DIR "/%s/" LAUNCH_RESULT_FILE, name);

                        /* kzones-zone exec (or QEMU) failed; its reason is already written */
                        if (path && access(path, F_OK) >= 0)
                                return -EIO;
                        return failure(name, "QEMU exited while the guest was starting.");
                }
                if (now_usec() > deadline)
                        return failure(name, "the guest did not start running within %u seconds.",
                                WAIT_TIMEOUT_USEC / 1000000u);
                (void) usleep(20 * 1000);
        }
}

/* ExecStop=: the unit is being stopped. 'zoneadm halt', 'reboot' and 'suspend' leave a
 * launch request that says halt, and the guest is cut off at once (SIGTERM to QEMU);
 * otherwise — the host shuts down, or 'systemctl stop' — the zone's autoshutdown
 * decides: shutdown (the default) presses the ACPI power button and waits for the
 * guest to power off, halt cuts it off. */
int verb_stop(const char *name, pid_t main_pid)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_(launch_request_done) LaunchRequest req = {};
        _cleanup_free_ char *dir = run_dir(name), *sock = NULL, *err = NULL;
        const char *how;
        uint64_t deadline;
        json_object *ret = NULL;
        int r;

        if (!dir)
                return -ENOMEM;
        /* a request for the next start stays for it; a halt is this stop's (one that
         * hands the zone over after a migration out stays for ExecStopPost, which does) */
        if (launch_request_read(dir, &req, NULL) >= 0 && req.halt) {
                if (req.handover)
                        return 0;
                launch_request_done(&req);
                (void) launch_request_take(dir, &req, NULL);
                return 0;
        }
        r = zone_store_load(arg_root, name, &c, NULL);
        how = r >= 0 ? zone_resource_get(c->root, "autoshutdown") : NULL;
        if (streq_ptr(how, "halt"))
                return 0;
        if (streq_ptr(how, "suspend") && live_config_reshaped(name))
                /* what a resume would start is not the machine the guest state comes from */
                fprintf(stderr, "zone '%s': reconfigured live since it booted, it cannot be suspended; shutting "
                        "the guest down instead\n", name);
        else if (streq_ptr(how, "suspend")) {
                /* saved, and resumed at the next boot; the guest is paused now and SIGTERM follows */
                if (verb_suspend(name) >= 0)
                        return 0;
                fprintf(stderr, "zone '%s': the zone could not be suspended; shutting the guest down instead\n", name);
        }
        sock = root_path(ZONE_RUN_DIR "/%s/" ZONE_CONTROL_SOCKET, name);
        if (!sock)
                return -ENOMEM;
        r = qmp_command_sync(sock, "system_powerdown", NULL, 5 * 1000000u, &ret, &err);
        json_object_put(ret);
        if (r < 0) {
                fprintf(stderr, "zone '%s': cannot press the power button (%s); halting\n", name,
                        err ?: strerror(-r));
                return 0;
        }
        /* systemd's TimeoutStopSec= bounds this; then it halts the zone */
        deadline = now_usec() + 25 * 1000000u;
        while (main_pid > 0 && pid_alive(main_pid) && now_usec() < deadline)
                (void) usleep(50 * 1000);
        if (main_pid > 0 && pid_alive(main_pid))
                fprintf(stderr, "zone '%s': the guest did not power off in time; halting\n", name);
        return 0;
}

/* ExecStopPost=: the zone is down; its host data says so (and still names this host). */
int verb_stopped(const char *name)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_(launch_request_done) LaunchRequest req = {};
        _cleanup_free_ char *dir = run_dir(name);
        KzError e = {};
        int r;

        if (!dir)
                return -ENOMEM;
        /* after a migration out: the halt that hands the zone to its new host */
        if (launch_request_read(dir, &req, NULL) >= 0 && req.halt && req.handover)
                (void) launch_request_take(dir, &req, NULL);
        else
                launch_request_done(&req);

        /* the monitors' sockets were the launcher's: nobody listens on them any more */
        {
                _cleanup_free_ char *qmp = root_path(ZONE_RUN_DIR "/%s/" ZONE_QMP_SOCKET, name),
                                    *control = root_path(ZONE_RUN_DIR "/%s/" ZONE_CONTROL_SOCKET, name);
                if (qmp)
                        (void) unlink(qmp);
                if (control)
                        (void) unlink(control);
        }
        r = zone_net_cleanup(name); /* its macvtaps (taps go with QEMU) */
        if (r < 0)
                fprintf(stderr, "zone '%s': cannot remove its macvtaps: %s\n", name, strerror(-r));
        live_config_remove(name);

        r = zone_store_load(arg_root, name, &c, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        if (!zone_boot_device(c))
                return 0;
        if (req.handover)
                return hand_over_to(name, c, req.handover);
        {
                _cleanup_free_ char *incoming = NULL;

                /* an incoming migration that never completed here: the zone was never
                 * this host's, and its host data stays as its source keeps it */
                if (asprintf(&incoming, "%s/" ZONE_INCOMING_DIR, dir) < 0)
                        return -ENOMEM;
                if (access(incoming, F_OK) >= 0 && !hostdata_names_this_host(name, c)) {
                        fprintf(stderr, "zone '%s': the incoming migration did not complete here; the host data "
                                "is left to its source\n", name);
                        return 0;
                }
        }
        return claim(name, c, "installed", NULL);
}

int verb_reload(const char *name)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "zone '%s': cannot connect to the system bus: %s\n", name, strerror(-r));
                return r;
        }
        r = sd_bus_call_method(bus, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                "Rescan", &error, NULL, NULL);
        if (r < 0) {
                fprintf(stderr, "zone '%s': the restarter did not rescan: %s\n", name, error.message ?: strerror(-r));
                return r;
        }
        return 0;
}
