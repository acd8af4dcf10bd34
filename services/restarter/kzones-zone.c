/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzones-zone: what zone@NAME.service runs.
 *
 *   kzones-zone exec NAME    ExecStart=: reads the zone's configuration, creates its
 *                            taps on their bridges and becomes QEMU (exec), so systemd
 *                            supervises the guest itself.
 *   kzones-zone wait NAME    ExecStartPost=: returns once QMP says the guest runs, so
 *                            the unit is active only when the guest is really running.
 *   kzones-zone reload NAME  ExecReload=: asks the restarter to read the zone's unit
 *                            configuration again (systemctl reload zone@NAME).
 *
 * A failure to start is written, one line, to /run/kzones/NAME/failure, where the
 * restarter picks it up for the error it returns to zoneadm. Every per-zone
 * runtime file lives in the zone's own directory /run/kzones/NAME/, so that no
 * zone's name reaches another zone's files. */
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "console-relay.h"
#include "cpu-probe.h"
#include "disk-image.h"
#include "hostdata.h"
#include "sealed-stream.h"
#include "storage-uri.h"
#include "qmp.h"
#include "zone-net.h"
#include "zone-key.h"
#include "zone-qemu.h"
#include "zone-store.h"

#define WAIT_TIMEOUT_USEC (120u * 1000000u)

static const char *arg_root = "";

#define root_path(...) path_joinf(arg_root, __VA_ARGS__)

static int mkdir_p(const char *path, mode_t mode);

/* The zone's own runtime directory, /run/kzones/NAME. */
static int make_run_dir(const char *name)
{
        _cleanup_free_ char *dir = root_path(ZONE_RUN_DIR "/%s", name);

        return dir ? mkdir_p(dir, 0750) : -ENOMEM;
}

/* Says why the zone did not start: on stderr (the journal) and for the restarter. */
_printf_(2, 3) static int failure(const char *name, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL, *path = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        fprintf(stderr, "zone '%s': %s\n", name, msg);
        path = root_path(ZONE_RUN_DIR "/%s/failure", name);
        if (path && make_run_dir(name) >= 0) {
                _cleanup_free_ char *line = NULL;
                if (asprintf(&line, "%s\n", msg) >= 0)
                        (void) write_file_atomic(path, line, strlen(line), 0644);
        }
        return -EINVAL;
}

static int mkdir_p(const char *path, mode_t mode)
{
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        if (mkdir(p, mode) < 0 && errno != EEXIST)
                                return -errno;
                        *s = '/';
                }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Boot arguments the restarter left for this start: NUL-separated. */
static char **read_boot_args(const char *name)
{
        _cleanup_free_ char *path = root_path(ZONE_RUN_DIR "/%s/bootargs", name), *buf = NULL;
        size_t size = 0, n = 0;
        char **l;

        if (!path || read_file_bounded(path, 64 * 1024, &buf, &size) < 0)
                return NULL;
        (void) unlink(path);
        l = calloc(size + 1, sizeof(char *));
        if (!l)
                return NULL;
        for (size_t i = 0; i < size;) {
                size_t len = strnlen(buf + i, size - i);
                if (len > 0)
                        l[n++] = strndup(buf + i, len);
                i += len + 1;
        }
        return l;
}

static int set_affinity(const ZoneConfig *c)
{
        const ZoneResource *dc = zone_resource_first(c->root, resource_type_child(zone_type(), "dedicated-cpu"));
        const char *cpus = zone_resource_get(dc, "cpus");
        cpu_set_t set;

        if (!cpus)
                return 0;
        CPU_ZERO(&set);
        for (const char *p = cpus; *p;) {
                char *end;
                unsigned long a = strtoul(p, &end, 10), b = a;

                if (*end == '-')
                        b = strtoul(end + 1, &end, 10);
                for (unsigned long i = a; i <= b && i < CPU_SETSIZE; i++)
                        CPU_SET(i, &set);
                p = *end == ',' ? end + 1 : end;
        }
        if (sched_setaffinity(0, sizeof(set), &set) < 0)
                return -errno;
        return 0;
}

/* Closes every descriptor but stdio and keep[] (sorted). */
static void close_all_but(const int *keep, size_t n)
{
        unsigned from = 3;

        for (size_t i = 0; i < n; i++) {
                if (keep[i] < 0 || (unsigned) keep[i] < from)
                        continue;
                if ((unsigned) keep[i] > from)
                        (void) close_range(from, (unsigned) keep[i] - 1, 0);
                from = (unsigned) keep[i] + 1;
        }
        (void) close_range(from, ~0u, 0);
}

static int int_cmp(const void *a, const void *b)
{
        return *(const int *) a < *(const int *) b ? -1 : *(const int *) a > *(const int *) b;
}

/* The console relay's supervisor: holds the relay's end of QEMU's serial port and the
 * listening socket of console.sock, and runs the relay in a child, started again if
 * it dies (QEMU's serial port stays connected: the supervisor holds the other end,
 * and zlogin -C finds console.sock again); it ends when the relay does, i.e. when
 * QEMU closed the serial port. */
static int console_supervise(const char *name, int serial_fd, int console_fd, const char *log)
{
        /* no parent-death signal: the relay logs the guest's last words after QEMU exits,
         * and systemd ends whatever is left in the unit's cgroup */
        for (unsigned restarts = 0;; restarts++) {
                int status, log_fd;
                pid_t pid;

                /* the guest's console is nobody else's business, also in a log an older version
                 * made; opened for each relay, as the one before may have rotated it */
                log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (log_fd >= 0)
                        (void) fchmod(log_fd, 0600);
                else
                        fprintf(stderr, "zone '%s': cannot open %s: %m; the console is not logged.\n", name, log);
                pid = fork();
                if (pid < 0) {
                        fprintf(stderr, "zone '%s': cannot start the console relay: %m\n", name);
                        return 1;
                }
                if (pid == 0) {
                        ConsoleLog cl = { .fd = log_fd, .path = log, .max = CONSOLE_LOG_MAX };

                        _exit(console_relay(serial_fd, console_fd, &cl) < 0 ? 1 : 0);
                }
                if (log_fd >= 0)
                        (void) close(log_fd);
                while (waitpid(pid, &status, 0) < 0)
                        if (errno != EINTR)
                                return 1;
                if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                        return 0; /* QEMU is gone */
                fprintf(stderr, "zone '%s': the console relay %s %d; starting it again\n", name,
                        WIFSIGNALED(status) ? "was killed by signal" : "exited with status",
                        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
                if (restarts >= 100)
                        (void) usleep(1000 * 1000); /* one that keeps dying: not faster than once a second */
                else
                        (void) usleep(100 * 1000);
        }
}

/* The console relay (and its supervisor) run in a child of the launcher that stays
 * root (the log is root's) and that QEMU inherits (the unit's cgroup keeps it).
 * QEMU's serial port is the other end of serial, a socket pair, so the guest never
 * writes into the void and QEMU opens nothing. The relay keeps none of QEMU's
 * descriptors: when QEMU ends, its monitors, disks, taps and memory go with it. */
static int start_console_relay(const char *name, const char *rundir, const char *log, int serial)
{
        _cleanup_free_ char *console = NULL;
        int console_fd;
        pid_t pid;

        if (asprintf(&console, "%s/" ZONE_CONSOLE_SOCKET, rundir) < 0)
                return -ENOMEM;
        console_fd = console_listen(console);
        if (console_fd < 0)
                return failure(name, "cannot create %s: %s.", console, strerror(-console_fd));
        pid = fork();
        if (pid < 0) {
                (void) close(console_fd);
                return failure(name, "cannot start the console relay: %m.");
        }
        if (pid == 0) {
                int keep[] = { serial, console_fd };

                (void) prctl(PR_SET_NAME, "kz-console");
                qsort(keep, ELEMENTSOF(keep), sizeof(int), int_cmp);
                close_all_but(keep, ELEMENTSOF(keep));
                _exit(console_supervise(name, serial, console_fd, log));
        }
        (void) close(console_fd);
        return 0;
}

/* ---- QEMU's user ------------------------------------------------------------------------ */

typedef struct QemuUser {
        uid_t uid;
        gid_t gid;
        gid_t groups[64];
        int n_groups;
} QemuUser;

static int qemu_user_lookup(const char *name, QemuUser *ret)
{
        struct passwd *pw;

        errno = 0;
        pw = getpwnam(KZONES_QEMU_USER);
        if (!pw)
                return failure(name, "QEMU runs as the system user '%s', which does not exist on this host: create "
                        "it with 'systemd-sysusers kzones.conf' (it comes with kzones, in sysusers.d).",
                        KZONES_QEMU_USER);
        if (pw->pw_uid == 0 || pw->pw_gid == 0)
                return failure(name, "the user '%s' that QEMU runs as must not be root or in group root.",
                        KZONES_QEMU_USER);
        ret->uid = pw->pw_uid;
        ret->gid = pw->pw_gid;
        ret->n_groups = (int) ELEMENTSOF(ret->groups);
        if (getgrouplist(KZONES_QEMU_USER, pw->pw_gid, ret->groups, &ret->n_groups) < 0)
                return failure(name, "the user '%s' is in too many groups.", KZONES_QEMU_USER);
        for (int i = 0; i < ret->n_groups; i++)
                if (ret->groups[i] == 0)
                        return failure(name, "the user '%s' that QEMU runs as must not be in group root.",
                                KZONES_QEMU_USER);
        return 0;
}

/* Becomes QEMU's user for good: its groups, gid and uid, real, effective and saved,
 * and with them every capability goes (no SECBIT_KEEP_CAPS, no ambient ones). */
static int drop_privileges(const QemuUser *u)
{
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || setgroups((size_t) u->n_groups, u->groups) < 0 ||
            setresgid(u->gid, u->gid, u->gid) < 0 || setresuid(u->uid, u->uid, u->uid) < 0)
                return -errno;
        /* there is no way back */
        if (setuid(0) >= 0 || geteuid() == 0)
                return -EPERM;
        return 0;
}

/* What QEMU opens itself, as its user, tried out in a child as that user before
 * QEMU starts, so that a host set up wrong gets one clear message: /dev/kvm, and a
 * boot resource's kernel and initrd. */
static int qemu_user_check(const char *name, const ZoneConfig *c, const QemuUser *u)
{
        const ZoneResource *boot = zone_resource_first(c->root, resource_type_child(zone_type(), "boot"));
        const char *files[] = { zone_resource_get(boot, "kernel"), zone_resource_get(boot, "initrd") };
        const char *what[] = { "kernel", "initrd" };
        char msg[1024] = "";
        int p[2], status;
        ssize_t n;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                (void) close(p[0]);
                (void) close(p[1]);
                return failure(name, "cannot fork: %m.");
        }
        if (pid == 0) {
                int fd, r;

                (void) close(p[0]);
                r = drop_privileges(u);
                if (r < 0) {
                        (void) snprintf(msg, sizeof(msg), "cannot become the user '%s': %s.", KZONES_QEMU_USER,
                                strerror(-r));
                        goto out;
                }
                fd = open("/dev/kvm", O_RDWR | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        int err = errno;
                        struct stat st = {};
                        struct group *g = stat("/dev/kvm", &st) >= 0 ? getgrgid(st.st_gid) : NULL;

                        (void) snprintf(msg, sizeof(msg), "QEMU runs as the user '%s', which cannot open /dev/kvm: %s. "
                                "/dev/kvm must be mode 0660 in group kvm (here it is %04o, group %s) and '%s' a "
                                "member of kvm (sysusers.d/kzones.conf).", KZONES_QEMU_USER, strerror(err),
                                (unsigned) (st.st_mode & 07777), g ? g->gr_name : "?", KZONES_QEMU_USER);
                        goto out;
                }
                (void) close(fd);
                for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                        if (!files[i])
                                continue;
                        fd = open(files[i], O_RDONLY | O_CLOEXEC | O_NOCTTY);
                        if (fd < 0) {
                                (void) snprintf(msg, sizeof(msg), "the boot %s %s cannot be read by QEMU's user "
                                        "'%s': %m. Make it readable by that user (for example mode 0644, or "
                                        "group %s).", what[i], files[i], KZONES_QEMU_USER, KZONES_QEMU_USER);
                                goto out;
                        }
                        (void) close(fd);
                }
        out:
                n = (ssize_t) strlen(msg);
                _exit(write(p[1], msg, (size_t) n) == n ? 0 : 1);
        }
        (void) close(p[1]);
        do
                n = read(p[0], msg, sizeof(msg) - 1);
        while (n < 0 && errno == EINTR);
        (void) close(p[0]);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        msg[n > 0 ? n : 0] = 0;
        if (n > 0)
                return failure(name, "%s", msg);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return failure(name, "cannot check what QEMU's user '%s' may open.", KZONES_QEMU_USER);
        return 0;
}

/* ---- what QEMU gets as descriptors -------------------------------------------------------- */

/* The zone's local disks, opened here as root and handed to QEMU (an fdset each):
 * QEMU's user opens no disk itself. Network storage (nbd, iscsi, nfs) is reached by
 * QEMU and needs nothing here. fds[i] is device i in boot order, or -1. */
static int open_devices(const char *name, const ZoneConfig *c, const ZoneResource *const *devices, size_t n, int *fds)
{
        for (size_t i = 0; i < n; i++)
                fds[i] = -EBADF;
        for (size_t i = 0; i < n; i++) {
                _cleanup_(storage_uri_freep) StorageUri *u = NULL;
                _cleanup_free_ char *uri = zone_config_expand(c, devices[i], zone_resource_get(devices[i], "storage"));
                const char *id = zone_resource_get(devices[i], "id") ?: "0";
                struct stat st;
                int fd;

                if (!uri)
                        return -ENOMEM;
                if (storage_uri_parse(uri, &u, NULL) < 0)
                        return failure(name, "device %s: %s is not a valid storage URI.", id, uri);
                if (u->scheme != STORAGE_FILE && u->scheme != STORAGE_DEV)
                        continue;
                fd = open(u->path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
                if (fd < 0 && errno == EROFS)
                        return failure(name, "device %s: cannot open %s: %m. zone@.service may write only where "
                                "zones keep their data (ReadWritePaths=, see kzones-restarterd(8)); add the disk's "
                                "directory to ReadWritePaths= of zone@.service and kzones-restarterd.service.", id,
                                u->path);
                if (fd < 0)
                        return failure(name, "device %s: cannot open %s: %m.", id, u->path);
                fds[i] = fd;
                if (fstat(fd, &st) < 0)
                        return failure(name, "device %s: cannot stat %s: %m.", id, u->path);
                if (u->scheme == STORAGE_FILE && !S_ISREG(st.st_mode))
                        return failure(name, "device %s: %s is not a regular file.", id, u->path);
                if (u->scheme == STORAGE_DEV && !S_ISBLK(st.st_mode))
                        return failure(name, "device %s: %s is not a block device.", id, u->path);
        }
        return 0;
}

/* A monitor's socket in the zone's directory, bound and listening here: QEMU gets
 * the descriptor and never needs to write the directory. */
static int monitor_socket(const char *name, const char *rundir, const char *sock)
{
        _cleanup_free_ char *path = NULL;
        int fd;

        if (asprintf(&path, "%s/%s", rundir, sock) < 0)
                return -ENOMEM;
        fd = console_listen(path);
        if (fd < 0)
                return failure(name, "cannot create %s: %s.", path, strerror(-fd));
        return fd;
}

#define EXIT_UNAVAILABLE 3

/* Whether QEMU (the unit's main process) still runs. It is another user's process:
 * without CAP_KILL, kill() says EPERM for a live one. */
static bool pid_alive(pid_t pid)
{
        return kill(pid, 0) >= 0 || errno == EPERM;
}

static int zone_key(const ZoneConfig *c, uint8_t key[16])
{
        const ZoneResource *k = zone_resource_first(c->root, resource_type_child(zone_type(), "keysource"));

        return zone_keysource_decode(zone_resource_get(k, "raw"), key);
}

/* The zone's key does not open its host data: the zone is unavailable here. */
static int key_incorrect(const char *name)
{
        (void) zone_index_set_state(arg_root, name, ZONE_STATE_UNAVAILABLE, NULL);
        (void) failure(name, "error: Encryption key is incorrect. See zonecfg(8) for the configuration migration\n"
                "procedure (zonecfg export on the old host, zonecfg -f on this one), or make a new key with\n"
                "    zoneadm -z %s attach -x initialize-hostdata", name);
        return -EKEYREJECTED;
}

/* The zone's UUID (from the index): its host data and suspend images are bound to it. */
static int zone_uuid(const char *name, char **ret)
{
        ZoneIndexEntry x = {};
        int r;

        r = zone_index_lookup(arg_root, name, &x, NULL);
        if (r < 0)
                return r;
        *ret = isempty(x.uuid) ? NULL : strdup(x.uuid);
        zone_index_entry_done(&x);
        return *ret ? 0 : -ENOENT;
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

#define CLAIM_FORCE 1u   /* whatever the host data says (attach -x force-takeover, initialize-hostdata) */
#define CLAIM_ATTACH 2u  /* the host data may come from another host, with the zone's UUID there */
#define CLAIM_RELEASE 4u /* detach: the host data names no host */
#define KEEP_SUSPEND UINT64_MAX

static uint64_t now_realtime(void)
{
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* The local lock of a zone's host data: the lease keeper's renewals and this
 * host's claims never interleave their read-modify-writes. */
static int hostdata_local_lock(const char *name)
{
        _cleanup_free_ char *dir = root_path(ZONE_RUN_DIR "/%s", name), *path = NULL;
        int fd;

        if (!dir || asprintf(&path, "%s/hostdata.lock", dir) < 0)
                return -ENOMEM;
        (void) mkdir_p(dir, 0750);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX) < 0) {
                int r = -errno;
                (void) close(fd);
                return r;
        }
        return fd;
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
static int claim_full(const char *name, const ZoneConfig *c, const char *state, unsigned flags, uint64_t suspend,
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

        if (zone_key(c, key) < 0) {
                (void) zone_index_set_state(arg_root, name, ZONE_STATE_UNAVAILABLE, NULL);
                return failure(name, "error: the zone has no keysource, so its host data cannot be read; make one with\n"
                        "    zoneadm -z %s attach -x initialize-hostdata", name);
        }
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
static int lease_renew(const char *name, const ZoneConfig *c, const char *me)
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
        if (r >= 0)
                r = hostdata_open(buf, key, uuid, 0, &hd);
        if (r < 0)
                return r;
        if (!streq(hd.hostid, me))
                return -EOWNERDEAD;
        hd.updated = now_realtime();
        hd.generation++;
        r = hostdata_seal(&hd, key, buf);
        if (r >= 0)
                r = boot_storage_write_hostdata(s, buf, NULL);
        return r;
}

_noreturn_ static void lease_keeper(const char *name, const ZoneConfig *c, pid_t qemu)
{
        char me[9] = "";

        (void) prctl(PR_SET_NAME, "kz-lease");
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != qemu)
                _exit(0);
        /* none of QEMU's descriptors (disks, monitors, console, taps, memory) */
        close_all_but(NULL, 0);
        (void) hostdata_local_hostid(me);
        (void) sd_notify(false, "WATCHDOG=1");
        for (unsigned failures = 0;;) {
                int r = 0;

                (void) usleep(LEASE_RENEW_USEC);
                if (zone_boot_device(c))
                        r = lease_renew(name, c, me);
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

static int start_lease_keeper(const char *name, const ZoneConfig *c)
{
        pid_t qemu = getpid(), pid = fork();

        if (pid < 0)
                return failure(name, "cannot start the lease keeper: %m.");
        if (pid == 0)
                lease_keeper(name, c, qemu);
        return 0;
}

static int claim(const char *name, const ZoneConfig *c, const char *state, bool force, uint64_t *ret_size)
{
        return claim_full(name, c, state, force ? CLAIM_FORCE : 0, KEEP_SUSPEND, ret_size);
}

/* The generation of the zone's current suspend image, as its host data records it. */
static int hostdata_suspend_generation(const char *name, const ZoneConfig *c, uint64_t *ret)
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

/* install -b: the restarter left a note, "/proc/PID/fd/N DEV INO": the installer's
 * medium as a descriptor it holds (the caller opened the file, or root named it).
 * It is opened through that descriptor, checked to be the same file, and handed
 * to QEMU as our own descriptor (*ret_fd, -1 without an installer). */
static int open_installer(const char *name, int *ret_fd)
{
        _cleanup_free_ char *note = root_path(ZONE_RUN_DIR "/%s/installer", name), *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        unsigned long long dev, ino;
        char path[64];
        struct stat st;
        size_t size;

        *ret_fd = -EBADF;
        if (!note)
                return -ENOMEM;
        if (read_file_bounded(note, 4096, &buf, &size) < 0)
                return 0;
        (void) unlink(note);
        if (sscanf(buf, "%63s %llu %llu", path, &dev, &ino) != 3 || strncmp(path, "/proc/", 6) != 0)
                return failure(name, "the installer's note is not understood.");
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return failure(name, "cannot read the installer's medium: %m.");
        if (st.st_dev != (dev_t) dev || st.st_ino != (ino_t) ino || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)))
                return failure(name, "the installer's medium is no longer the file that was given.");
        fprintf(stderr, "zone '%s': booting the installer\n", name);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static char *marker_path(const char *name);
static int check_resume(const char *name, const ZoneConfig *c, bool *ret_resume);
static int resume(const char *name, const char *sock);

static int verb_exec(const char *name)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_free_ char *rundir = NULL, *logdir = NULL, *console = NULL, *failure_path = NULL;
        _cleanup_strv_free_ char **boot_args = NULL, **argv = NULL;
        ZoneIndexEntry x = {};
        int taps[64];
        size_t n_taps = 0;
        uint64_t boot_size = 0;
        bool resuming = false;
        _cleanup_close_ int installer = -EBADF, qmp = -EBADF, control = -EBADF;
        _cleanup_free_ const ZoneResource **devices = NULL;
        _cleanup_free_ int *device_fds = NULL;
        size_t n_devices;
        int serial[2] = { -EBADF, -EBADF };
        bool drop = geteuid() == 0;
        QemuUser user = {};
        _cleanup_(zone_memory_done) ZoneMemory memory = { .fd = -EBADF };
        _cleanup_(cpu_probe_freep) CpuProbe *probe = NULL;
        _cleanup_free_ char *cpu_model = NULL;
        _cleanup_free_ char *default_link = NULL;
        KzError e = {};
        int r;

        /* what a previous run left in the zone's directory (which systemd keeps) */
        failure_path = root_path(ZONE_RUN_DIR "/%s/failure", name);
        if (failure_path)
                (void) unlink(failure_path);
        {
                _cleanup_free_ char *id = root_path(ZONE_RUN_DIR "/%s/zoneid", name);
                if (id)
                        (void) unlink(id);
        }

        r = zone_store_load(arg_root, name, &c, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        if (!streq_ptr(zone_config_brand(c), "kz"))
                return failure(name, "brand '%s' zones are not run by kzones.", strna(zone_config_brand(c)));

        (void) zone_index_lookup(arg_root, name, &x, NULL);

        rundir = root_path(ZONE_RUN_DIR "/%s", name);
        logdir = root_path(ZONE_LOG_DIR);
        if (!rundir || !logdir || asprintf(&console, "%s/%s.console", logdir, name) < 0)
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
                ZoneLowerLink l;
                char mac[18];
                int fd;

                if (anet->type != resource_type_child(zone_type(), "anet"))
                        continue;
                if (n_taps >= ELEMENTSOF(taps))
                        return failure(name, "too many anet resources.");
                zone_anet_mac(c, anet, mac);
                r = zone_anet_lower_link(anet, default_link, &l, &e);
                fd = r < 0 ? r : zone_anet_open(name, anet, &l, mac, rundir, &e);
                if (fd < 0) {
                        (void) zone_net_cleanup(name);
                        return failure(name, "%s", kz_error_message(&e, fd));
                }
                fprintf(stderr, "zone '%s': anet %s: %s on %s%s, MAC %s\n", name, zone_resource_get(anet, "id") ?: "0",
                        l.kind == ZONE_LINK_BRIDGE ? "a tap" : "a macvtap", l.name,
                        !l.automatic ? "" : default_link ? " (DefaultLowerLink=)" : " (the default route's link)", mac);
                /* handed to QEMU across exec */
                (void) fcntl(fd, F_SETFD, 0);
                taps[n_taps++] = fd;
        }

        /* its RAM: from its memory reservation pool, or as its pagesize-policy says */
        r = zone_memory_prepare(c, arg_root, &memory, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        if (memory.fd >= 0)
                (void) fcntl(memory.fd, F_SETFD, 0); /* handed to QEMU across exec */

        /* the zone runs on one host at a time: claim it in its host data first */
        if (zone_boot_device(c)) {
                r = claim(name, c, "running", false, &boot_size);
                if (r < 0)
                        return r;
        }

        r = check_resume(name, c, &resuming);
        if (r < 0)
                return r;

        /* QEMU runs as its own unprivileged user (as root only when the launcher is not root,
         * in tests): what it must open itself is tried as that user first */
        if (drop) {
                r = qemu_user_lookup(name, &user);
                if (r >= 0)
                        r = qemu_user_check(name, c, &user);
                if (r < 0)
                        return r;
        }

        /* the CPU: what cpu-arch asks for, if this host's QEMU/KVM runs it (probed once a boot) */
        r = cpu_probe_get(arg_root, getenv("KZONES_QEMU"), &probe, &e);
        if (r >= 0)
                r = cpu_probe_zone_model(probe, zone_resource_get(c->root, "cpu-arch"), &cpu_model, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));

        r = set_affinity(c);
        if (r < 0)
                return failure(name, "cannot bind to the dedicated CPUs: %s.", strerror(-r));

        boot_args = read_boot_args(name);
        r = open_installer(name, &installer);
        if (r < 0)
                return r;

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
                        .tap_fds = taps,
                        .n_taps = n_taps,
                        .boot_args = boot_args,
                        .boot_size = boot_size,
                        .incoming = resuming,
                        .memory = &memory,
                };
                r = zone_qemu_argv(c, &o, &argv, &e);
        }
        zone_index_entry_done(&x);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));

        /* the relay keeps its end of the console and nothing of QEMU's, the lease keeper
         * nothing at all */
        r = start_console_relay(name, rundir, console, serial[0]);
        (void) close(serial[0]);
        if (r >= 0)
                r = start_lease_keeper(name, c);
        if (r < 0)
                return r;

        /* the zone's memory in its pool is reopened by QEMU through /proc/self/fd: its user
         * must own it (the file is unlinked, nobody else can reach it) */
        if (drop && memory.fd >= 0 && fchown(memory.fd, user.uid, user.gid) < 0)
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

static int verb_wait(const char *name, pid_t main_pid)
{
        _cleanup_free_ char *sock = root_path(ZONE_RUN_DIR "/%s/" ZONE_CONTROL_SOCKET, name);
        uint64_t deadline = now_usec() + WAIT_TIMEOUT_USEC;

        _cleanup_free_ char *marker = marker_path(name);

        if (!sock || !marker)
                return -ENOMEM;
        if (access(marker, F_OK) >= 0) {
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
                        bool ok = streq(s, "running");

                        json_object_put(ret);
                        if (ok)
                                return 0;
                        if (streq(s, "shutdown") || streq(s, "internal-error") || streq(s, "guest-panicked"))
                                return failure(name, "the guest stopped while starting (%s).", s);
                } else if (ret)
                        json_object_put(ret);
                if (main_pid > 0 && !pid_alive(main_pid)) {
                        _cleanup_free_ char *why = NULL, *path = root_path(ZONE_RUN_DIR "/%s/failure", name);
                        size_t size;

                        /* kzones-zone exec (or QEMU) failed; its reason is already written */
                        if (path && read_file_bounded(path, 4096, &why, &size) >= 0)
                                return -EIO;
                        return failure(name, "QEMU exited while the guest was starting.");
                }
                if (now_usec() > deadline)
                        return failure(name, "the guest did not start running within %u seconds.",
                                WAIT_TIMEOUT_USEC / 1000000u);
                (void) usleep(20 * 1000);
        }
}

/* ---- install from an image ------------------------------------------------------------ */

/* Runs qemu-img with args, by argv: never a shell, whatever the names in args say.
 * With ret_output, its standard output is kept there (at most 256 KiB); without,
 * its "(12.34/100%)" progress becomes "progress 12" lines on ours, which the
 * restarter relays to zoneadm. The last line it wrote to standard error goes to
 * *ret_error. */
static int qemu_img(const char *const args[], char **ret_output, char **ret_error)
{
        const size_t max_output = 256 * 1024;
        const char *argv[16] = { "qemu-img" };
        _cleanup_close_ int err_fd = -EBADF;
        _cleanup_free_ char *out = NULL;
        size_t n_out = 0, llen = 0;
        char buf[4096], last[256] = "";
        int p[2], status, shown = -1;
        pid_t pid, parent;

        for (size_t i = 0; args[i]; i++) {
                if (i + 2 >= ELEMENTSOF(argv))
                        return -E2BIG;
                argv[i + 1] = args[i];
        }
        if (ret_output) {
                out = malloc(max_output + 1);
                if (!out)
                        return -ENOMEM;
        }
        parent = getpid();
        err_fd = memfd_create("qemu-img-stderr", MFD_CLOEXEC);
        if (err_fd < 0)
                return -errno;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                (void) close(p[0]);
                (void) close(p[1]);
                return -errno;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY);

                /* a copy ends with the helper that runs it (which ends with the restarter) */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                if (null >= 0)
                        (void) dup2(null, STDIN_FILENO);
                (void) dup2(p[1], STDOUT_FILENO);
                (void) dup2(err_fd, STDERR_FILENO);
                execvp(argv[0], (char *const *) argv);
                _exit(127);
        }
        (void) close(p[1]);
        for (;;) {
                ssize_t n = read(p[0], buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                if (out) {
                        size_t k = MIN((size_t) n, max_output - n_out);
                        memcpy(out + n_out, buf, k);
                        n_out += k;
                        continue;
                }
                for (ssize_t i = 0; i < n; i++) {
                        char c = buf[i];
                        if (c == '\r' || c == '\n') {
                                char *pct;
                                last[llen] = 0;
                                pct = strchr(last, '(');
                                if (pct && strstr(pct, "/100%)")) {
                                        int v = atoi(pct + 1);
                                        if (v != shown) {
                                                printf("progress %d\n", v);
                                                fflush(stdout);
                                                shown = v;
                                        }
                                }
                                llen = 0;
                                continue;
                        }
                        if (llen < sizeof(last) - 1)
                                last[llen++] = c;
                }
        }
        (void) close(p[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (ret_error) {
                struct stat st;

                if (fstat(err_fd, &st) >= 0 && st.st_size > 0) {
                        off_t off = st.st_size > (off_t) sizeof(buf) - 1 ? st.st_size - (off_t) sizeof(buf) + 1 : 0;
                        ssize_t n = pread(err_fd, buf, sizeof(buf) - 1, off);
                        char *line;

                        if (n > 0) {
                                buf[n] = 0;
                                while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                                        buf[--n] = 0;
                                line = strrchr(buf, '\n');
                                free(*ret_error);
                                *ret_error = strdup(line ? line + 1 : buf);
                        }
                }
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -EIO;
        if (ret_output) {
                out[n_out] = 0;
                *ret_output = TAKE_PTR(out);
        }
        return 0;
}

/* The json: name of an image for qemu-img, with its format given, so that QEMU
 * probes nothing; a qcow2 image's backing file is not opened even if one was
 * written into it after it was checked. */
static char *image_source(const char *path, const char *fmt, bool block_device)
{
        json_object *j = json_object_new_object(), *file = json_object_new_object();
        char *s = NULL;

        if (!j || !file) {
                json_object_put(j);
                json_object_put(file);
                return NULL;
        }
        json_object_object_add(file, "driver", json_object_new_string(block_device ? "host_device" : "file"));
        json_object_object_add(file, "filename", json_object_new_string(path));
        json_object_object_add(j, "driver", json_object_new_string(fmt));
        json_object_object_add(j, "file", file);
        if (streq(fmt, "qcow2"))
                json_object_object_add(j, "backing", NULL);
        if (asprintf(&s, "json:%s", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
                                                                               JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
                s = NULL;
        json_object_put(j);
        return s;
}

/* QEMU's own view of the whole chain (qemu-img info --backing-chain): does any image
 * in it name a backing file or an external data file? */
static bool chain_refers_to_other_files(json_object *chain)
{
        size_t n = json_object_array_length(chain);

        if (n != 1)
                return true;
        for (size_t i = 0; i < n; i++) {
                json_object *img = json_object_array_get_idx(chain, i), *spec, *data;

                if (json_object_object_get_ex(img, "backing-filename", NULL) ||
                    json_object_object_get_ex(img, "full-backing-filename", NULL))
                        return true;
                if (json_object_object_get_ex(img, "format-specific", &spec) &&
                    json_object_object_get_ex(spec, "data", &data) &&
                    json_object_object_get_ex(data, "data-file", NULL))
                        return true;
        }
        return false;
}

static int copy_to_boot(const char *name, const ZoneConfig *c, const char *source, uint64_t vsize,
                const char *target);

/* zoneadm install -a: the image (raw or qcow2, self-contained) becomes the boot disk.
 * image is what the restarter hands over (/proc/self/fd/N: a file the caller could
 * read); target, for file storage, the boot disk the restarter created for this
 * install. */
static int verb_install_image(const char *name, const char *image, const char *target)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_free_ char *out = NULL, *err = NULL, *source = NULL;
        _cleanup_close_ int fd = -EBADF;
        json_object *chain = NULL, *v;
        const char *fmt;
        struct stat st;
        uint64_t vsize = 0;
        bool refused;
        KzError e = {};
        int r;

        r = zone_store_load(arg_root, name, &c, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        if (!zone_boot_device(c))
                return failure(name, "the zone has no boot device to install the image on.");
        fd = open(image, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return failure(name, "cannot read the image: %m.");
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return failure(name, "the image is neither a file nor a block device.");
        r = disk_image_format(fd, &fmt, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        source = image_source(image, fmt, S_ISBLK(st.st_mode));
        if (!source)
                return -ENOMEM;
        {
                const char *args[] = { "info", "--backing-chain", "--output=json", source, NULL };
                r = qemu_img(args, &out, &err);
        }
        if (r < 0 || !(chain = json_tokener_parse(out)) || !json_object_is_type(chain, json_type_array) ||
            json_object_array_length(chain) == 0) {
                json_object_put(chain);
                return failure(name, "the image is not a %s image QEMU can read%s%s.", fmt, err ? ": " : "",
                        err ?: "");
        }
        refused = chain_refers_to_other_files(chain);
        if (json_object_object_get_ex(json_object_array_get_idx(chain, 0), "virtual-size", &v))
                vsize = (uint64_t) json_object_get_int64(v);
        json_object_put(chain);
        if (refused)
                return failure(name, "the image refers to other files (a backing file or an external data file); "
                        "only a self-contained image can be installed.");
        return copy_to_boot(name, c, source, vsize, target);
}

/* Copies source (a json: name) of vsize bytes onto the zone's boot storage with
 * progress, then claims the zone. File storage is the file target the restarter
 * created for this operation (never a file that was there before); other storage
 * exists already and must be large enough. */
static int copy_to_boot(const char *name, const ZoneConfig *c, const char *source, uint64_t vsize,
                const char *target)
{
        _cleanup_(storage_uri_freep) StorageUri *u = NULL;
        _cleanup_free_ char *uri = NULL, *err = NULL, *json = NULL, *dst = NULL;
        const ZoneResource *boot = zone_boot_device(c);
        KzError e = {};
        int r;

        uri = zone_config_expand(c, boot, zone_resource_get(boot, "storage"));
        if (!uri || storage_uri_parse(uri, &u, NULL) < 0)
                return failure(name, "the boot storage is not a valid URI.");
        if (u->scheme == STORAGE_FILE) {
                if (!target)
                        return failure(name, "the restarter creates a zone's file storage; use 'zoneadm install'.");
                if (truncate(target, (off_t) (vsize + HOSTDATA_AREA)) < 0)
                        return failure(name, "cannot size the boot disk %s: %m.", uri);
                dst = strdup(target);
        } else {
                _cleanup_(boot_storage_freep) BootStorage *s = NULL;

                r = boot_storage_open(c, arg_root, &s, &e);
                if (r < 0)
                        return failure(name, "%s", kz_error_message(&e, r));
                if (vsize + HOSTDATA_AREA > boot_storage_size(s))
                        return failure(name, "the image (%" PRIu64 " bytes) does not fit on %s (%" PRIu64 " bytes, "
                                "1M of which holds the host data).", vsize, uri, boot_storage_size(s));
                /* storage that exists already may be another host's zone: claimed before a byte
                 * of it is written (and released by uninstall, should the copy not finish) */
                r = claim(name, c, "incomplete", false, NULL);
                if (r < 0)
                        return r;
                r = zone_device_blockdev_json(c, boot, NULL, &json, &e);
                if (r < 0)
                        return failure(name, "%s", kz_error_message(&e, r));
                if (asprintf(&dst, "json:%s", json) < 0)
                        dst = NULL;
        }
        if (!dst)
                return -ENOMEM;
        {
                /* -n: into the storage as it is, never a file qemu-img creates */
                const char *args[] = { "convert", "-p", "-n", "-O", "raw", source, dst, NULL };
                r = qemu_img(args, NULL, &err);
        }
        if (r < 0)
                return failure(name, "copying the image failed: %s", err ?: strerror(-r));
        if (u->scheme == STORAGE_FILE) {
                /* on the disk before the claim: the claim's own write must not wait for the
                 * copy's (a claim that takes longer than the I/O timeout is given up) */
                _cleanup_close_ int fd = open(target, O_RDWR | O_CLOEXEC);

                if (fd < 0 || fsync(fd) < 0)
                        return failure(name, "cannot write the boot disk %s: %m.", uri);
        }
        printf("progress 100\n");
        fflush(stdout);
        return claim(name, c, "installed", false, NULL);
}

/* zoneadm clone SOURCE: what the source's guest sees of its boot disk (not its host
 * data) becomes this zone's boot disk (target: as for install-image). */
static int verb_clone(const char *name, const char *source, const char *target)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL, *sc = NULL;
        _cleanup_(boot_storage_freep) BootStorage *s = NULL;
        _cleanup_free_ char *json = NULL, *image = NULL;
        json_object *j;
        KzError e = {};
        int r;

        r = zone_store_load(arg_root, name, &c, &e);
        if (r >= 0)
                r = zone_store_load(arg_root, source, &sc, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        if (!zone_boot_device(c) || !zone_boot_device(sc))
                return failure(name, "both zones need a boot device to clone.");
        r = boot_storage_open(sc, arg_root, &s, &e);
        if (r < 0)
                return failure(name, "source zone '%s': %s", source, kz_error_message(&e, r));
        r = zone_device_blockdev_json(sc, zone_boot_device(sc), NULL, &json, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        j = json_tokener_parse(json);
        if (!j)
                return -ENOMEM;
        json_object_object_add(j, "size", json_object_new_int64((int64_t) (boot_storage_size(s) - HOSTDATA_AREA)));
        {
                /* a local file or device lives under the alternate root, if any */
                json_object *file, *fn;
                if (json_object_object_get_ex(j, "file", &file) && json_object_object_get_ex(file, "filename", &fn)) {
                        _cleanup_free_ char *rooted = path_join(arg_root, json_object_get_string(fn));
                        if (!rooted) {
                                json_object_put(j);
                                return -ENOMEM;
                        }
                        json_object_object_add(file, "filename", json_object_new_string(rooted));
                }
        }
        r = asprintf(&image, "json:%s", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(j);
        if (r < 0)
                return -ENOMEM;
        return copy_to_boot(name, c, image, boot_storage_size(s) - HOSTDATA_AREA, target);
}

/* ---- suspend and resume -------------------------------------------------------------- */

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

/* The note that a suspend is in progress: removed however the helper returns. */
static void unlink_notep(char **p)
{
        if (*p)
                (void) unlink(*p);
        free(*p);
}

/* zoneadm suspend: QEMU's migration stream goes through a pipe into a sealed
 * image; the guest stays paused afterwards and the restarter stops the unit.
 *
 * A helper killed at any moment (with the restarter) leaves what the restarter's
 * reconciliation (reconcile.c) can read: ZONE_SUSPENDING_NOTE while it works; the
 * image as PATH.partial until it is sealed; the zone's host data naming the new
 * image; and last the marker, which alone makes the suspension real. Without the
 * marker the guest is continued; with it the unit is stopped. */
static int verb_suspend(const char *name)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_(qmp_sync_closep) QmpSync *q = NULL;
        _cleanup_free_ char *path = NULL, *tmp = NULL, *sock = NULL, *err = NULL, *marker = NULL, *uuid = NULL;
        _cleanup_(unlink_notep) char *note = NULL;
        _cleanup_(erase_chunkp) char *buf = malloc(SUSPEND_CHUNK); /* the guest's memory */
        _cleanup_close_ int fd = -EBADF, rd = -EBADF;
        _cleanup_key_ uint8_t key[16];
        SealWriter *w = NULL;
        int p[2], r;
        ssize_t n;
        uint64_t total = 0, generation;
        struct timespec ts;

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
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        generation = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
        sock = root_path(ZONE_RUN_DIR "/%s/" ZONE_CONTROL_SOCKET, name);
        marker = marker_path(name);
        if (!sock || !marker || asprintf(&tmp, "%s" ZONE_SUSPEND_PARTIAL_SUFFIX, path) < 0)
                return -ENOMEM;
        {
                _cleanup_free_ char *np = root_path(ZONE_RUN_DIR "/%s/" ZONE_SUSPENDING_NOTE, name), *line = NULL;

                if (!np || asprintf(&line, "%d\n", (int) getpid()) < 0)
                        return -ENOMEM;
                r = make_run_dir(name);
                if (r >= 0)
                        r = write_file_atomic(np, line, strlen(line), 0600);
                if (r < 0)
                        return failure(name, "cannot write %s: %s.", np, strerror(-r));
                note = TAKE_PTR(np);
        }
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
static int check_resume(const char *name, const ZoneConfig *c, bool *ret_resume)
{
        _cleanup_free_ char *marker = marker_path(name), *fresh = root_path(ZONE_RUN_DIR "/%s/fresh", name), *buf = NULL,
                            *uuid = NULL;
        _cleanup_(seal_reader_freep) SealReader *sr = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_key_ uint8_t key[16];
        uint64_t generation, recorded;
        ssize_t n;
        const uint8_t *data;
        int r;

        *ret_resume = false;
        if (!marker || !fresh)
                return -ENOMEM;
        if (access(fresh, F_OK) >= 0) {
                /* zoneadm boot -R: boot afresh, forget the suspended state */
                (void) unlink(fresh);
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
static int resume(const char *name, const char *sock)
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

/* ExecStop=: the unit is being stopped. 'zoneadm halt' and 'reboot' leave a note
 * (/run/kzones/NAME/halt) and the guest is cut off at once (SIGTERM to QEMU);
 * otherwise — the host shuts down, or 'systemctl stop' — the zone's autoshutdown
 * decides: shutdown (the default) presses the ACPI power button and waits for the
 * guest to power off, halt cuts it off. */
static int verb_stop(const char *name, pid_t main_pid)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        _cleanup_free_ char *note = root_path(ZONE_RUN_DIR "/%s/halt", name), *sock = NULL, *err = NULL;
        const char *how;
        uint64_t deadline;
        json_object *ret = NULL;
        int r;

        if (note && access(note, F_OK) >= 0) {
                (void) unlink(note);
                return 0;
        }
        r = zone_store_load(arg_root, name, &c, NULL);
        how = r >= 0 ? zone_resource_get(c->root, "autoshutdown") : NULL;
        if (streq_ptr(how, "halt"))
                return 0;
        if (streq_ptr(how, "suspend")) {
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
static int verb_stopped(const char *name)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        KzError e = {};
        int r;

        /* the monitors' sockets were the launcher's: nobody listens on them any more; the
         * zone id the restarter kept for the running zone is no one's now (left, it would
         * be taken for the id of the zone's next run) */
        {
                _cleanup_free_ char *qmp = root_path(ZONE_RUN_DIR "/%s/" ZONE_QMP_SOCKET, name),
                                    *control = root_path(ZONE_RUN_DIR "/%s/" ZONE_CONTROL_SOCKET, name),
                                    *id = root_path(ZONE_RUN_DIR "/%s/zoneid", name);
                if (qmp)
                        (void) unlink(qmp);
                if (control)
                        (void) unlink(control);
                if (id)
                        (void) unlink(id);
        }
        r = zone_net_cleanup(name); /* its macvtaps (taps go with QEMU) */
        if (r < 0)
                fprintf(stderr, "zone '%s': cannot remove its macvtaps: %s\n", name, strerror(-r));

        r = zone_store_load(arg_root, name, &c, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        if (!zone_boot_device(c))
                return 0;
        return claim(name, c, "installed", false, NULL);
}

/* zoneadm attach: claim the zone for this host (refused when another host holds
 * it, unless force-takeover), or start over with a new key and host data. */
static int verb_attach(const char *name, const char *option)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        /* install -b claims the zone before its installer runs: the zone stays incomplete
         * (a restarter killed before the installer ran must not find it installed) */
        bool installer = option && streq(option, "installer");
        KzError e = {};
        int r;

        if (installer)
                option = NULL;

        r = zone_store_load(arg_root, name, &c, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        if (option && streq(option, "initialize-hostdata")) {
                r = zone_config_new_keysource(c);
                if (r >= 0)
                        r = zone_store_commit(arg_root, c, &e);
                if (r < 0)
                        return failure(name, "cannot store the new key: %s", kz_error_message(&e, r));
        }
        if (zone_boot_device(c)) {
                /* a new key cannot open the old host data: it is written anew */
                r = claim_full(name, c, "installed", CLAIM_ATTACH | (option ? CLAIM_FORCE : 0), KEEP_SUSPEND, NULL);
                if (r < 0)
                        return r;
        }
        if (installer)
                return 0;
        r = zone_index_set_state(arg_root, name, ZONE_STATE_INSTALLED, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        return 0;
}

/* zoneadm detach: the host data says nobody holds the zone; it is configured here. */
static int verb_detach(const char *name)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        KzError e = {};
        int r;

        r = zone_store_load(arg_root, name, &c, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        if (zone_boot_device(c)) {
                r = claim_full(name, c, "detached", CLAIM_RELEASE, KEEP_SUSPEND, NULL);
                if (r < 0)
                        return r;
        }
        r = zone_index_set_state(arg_root, name, ZONE_STATE_CONFIGURED, &e);
        if (r < 0)
                return failure(name, "%s", kz_error_message(&e, r));
        return 0;
}

static int verb_reload(const char *name)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "zone '%s': cannot connect to the system bus: %s\n", name, strerror(-r));
                return r;
        }
        r = sd_bus_call_method(bus, "org.kzones.Restarter1", "/org/kzones/Restarter1", "org.kzones.Restarter1.Manager",
                "Rescan", &error, NULL, NULL);
        if (r < 0) {
                fprintf(stderr, "zone '%s': the restarter did not rescan: %s\n", name, error.message ?: strerror(-r));
                return r;
        }
        return 0;
}

/* kzones-zone cpu-probe: what this host's QEMU/KVM runs (cpu-arch), probed once a
 * boot and cached; printed as JSON. The restarter runs it at start. */
static int verb_cpu_probe(void)
{
        _cleanup_(cpu_probe_freep) CpuProbe *p = NULL;
        _cleanup_free_ char *json = NULL;
        KzError e = {};
        int r;

        r = cpu_probe_get(arg_root, getenv("KZONES_QEMU"), &p, &e);
        if (r < 0) {
                fprintf(stderr, "cannot probe this host's CPU models: %s\n", kz_error_message(&e, r));
                return r;
        }
        json = cpu_probe_to_json(p);
        if (!json)
                return -ENOMEM;
        puts(json);
        return 0;
}

int main(int argc, char *argv[])
{
        const char *root = getenv("KZONES_ROOT");
        int r;

        if (root)
                arg_root = root;
        if (argc == 2 && streq(argv[1], "cpu-probe"))
                return verb_cpu_probe() < 0 ? 1 : 0;
        if (argc < 3 || argc > 5 || !zone_name_is_valid(argv[2])) {
                fprintf(stderr, "usage: kzones-zone exec|wait|stopped|reload|attach|detach ZONENAME [ARG]\n");
                return 2;
        }
        if (streq(argv[1], "stopped"))
                return verb_stopped(argv[2]) < 0 ? 1 : 0;
        if (streq(argv[1], "clone") && argc >= 4)
                return verb_clone(argv[2], argv[3], argc > 4 ? argv[4] : NULL) < 0 ? 1 : 0;
        if (streq(argv[1], "install-image") && argc >= 4)
                return verb_install_image(argv[2], argv[3], argc > 4 ? argv[4] : NULL) < 0 ? 1 : 0;
        if (streq(argv[1], "suspend"))
                return verb_suspend(argv[2]) < 0 ? 1 : 0;
        if (streq(argv[1], "stop"))
                return verb_stop(argv[2], argc > 3 ? (pid_t) atoi(argv[3]) : 0) < 0 ? 1 : 0;
        if (streq(argv[1], "attach")) {
                r = verb_attach(argv[2], argc > 3 ? argv[3] : NULL);
                return r == -EKEYREJECTED ? EXIT_UNAVAILABLE : r < 0 ? 1 : 0;
        }
        if (streq(argv[1], "detach")) {
                r = verb_detach(argv[2]);
                return r == -EKEYREJECTED ? EXIT_UNAVAILABLE : r < 0 ? 1 : 0;
        }
        if (streq(argv[1], "exec"))
                r = verb_exec(argv[2]);
        else if (streq(argv[1], "wait"))
                r = verb_wait(argv[2], argc > 3 ? (pid_t) atoi(argv[3]) : 0);
        else if (streq(argv[1], "reload"))
                r = verb_reload(argv[2]);
        else {
                fprintf(stderr, "usage: kzones-zone exec|wait|reload ZONENAME\n");
                return 2;
        }
        return r < 0 ? 1 : 0;
}
