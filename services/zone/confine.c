/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What QEMU gets from the launcher before it becomes QEMU: its unprivileged user,
 * its disks, monitors and installer as descriptors, its console relay, its CPUs. */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "console-relay.h"
#include "storage-uri.h"
#include "zone.h"

int set_affinity(const ZoneConfig *c)
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
int start_console_relay(const char *name, const char *rundir, const char *log, int serial)
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
                close_all_but(keep, ELEMENTSOF(keep));
                _exit(console_supervise(name, serial, console_fd, log));
        }
        (void) close(console_fd);
        return 0;
}

/* ---- QEMU's user ------------------------------------------------------------------------ */

int qemu_user_lookup(const char *name, QemuUser *ret)
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
int drop_privileges(const QemuUser *u)
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
 * QEMU starts, so that a host set up wrong gets one clear message: /dev/kvm (with
 * KVM), and a boot resource's kernel and initrd. */
int qemu_user_check(const char *name, const ZoneConfig *c, const QemuUser *u, bool kvm)
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
                fd = kvm ? open("/dev/kvm", O_RDWR | O_CLOEXEC | O_NOCTTY) : -EBADF;
                if (kvm && fd < 0) {
                        int err = errno;
                        struct stat st = {};
                        struct group *g = stat("/dev/kvm", &st) >= 0 ? getgrgid(st.st_gid) : NULL;

                        (void) snprintf(msg, sizeof(msg), "QEMU runs as the user '%s', which cannot open /dev/kvm: %s. "
                                "/dev/kvm must be mode 0660 in group kvm (here it is %04o, group %s) and '%s' a "
                                "member of kvm (sysusers.d/kzones.conf).", KZONES_QEMU_USER, strerror(err),
                                (unsigned) (st.st_mode & 07777), g ? g->gr_name : "?", KZONES_QEMU_USER);
                        goto out;
                }
                if (fd >= 0)
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
int open_devices(const char *name, const ZoneConfig *c, const ZoneResource *const *devices, size_t n, int *fds)
{
        for (size_t i = 0; i < n; i++)
                fds[i] = -EBADF;
        for (size_t i = 0; i < n; i++) {
                KzError e = {};
                int r = device_open_storage(c, devices[i], &fds[i], &e);

                if (r < 0)
                        return r == -ENOMEM ? r : failure(name, "%s", kz_error_message(&e, r));
        }
        return 0;
}

/* A monitor's socket in the zone's directory, bound and listening here: QEMU gets
 * the descriptor and never needs to write the directory. */
int monitor_socket(const char *name, const char *rundir, const char *sock)
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

/* install -b: the launch request names the installer's medium as a descriptor the
 * restarter holds, /proc/PID/fd/N (the caller opened the file, or root named it),
 * with its device and inode. It is opened through that descriptor, checked to be
 * the same file, and handed to QEMU as our own descriptor (*ret_fd). */
int open_installer(const char *name, const LaunchInstaller *i, int *ret_fd)
{
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(i->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                return failure(name, "cannot read the installer's medium: %m.");
        if (st.st_dev != (dev_t) i->dev || st.st_ino != (ino_t) i->ino || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)))
                return failure(name, "the installer's medium is no longer the file that was given.");
        fprintf(stderr, "zone '%s': booting the installer\n", name);
        *ret_fd = TAKE_FD(fd);
        return 0;
}
