/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "remote.h"
#include "zone-key.h"
#include "mkdir.h"
#include "zone.h"

const char *arg_root = "";
const char *arg_step = NULL;

char *run_dir(const char *name)
{
        return root_path(ZONE_RUN_DIR "/%s", name);
}

/* The zone's own runtime directory, /run/kzones/NAME. */
int make_run_dir(const char *name)
{
        _cleanup_free_ char *dir = run_dir(name);

        return dir ? mkdir_p(dir, 0750) : -ENOMEM;
}

/* The first failure of a run is its cause; what fails after it (wait, stopped) is its
 * consequence and does not replace it. exec removes what an earlier run left. */
static void write_result(const char *name, bool unavailable, int error, const char *msg)
{
        _cleanup_free_ char *dir = run_dir(name), *path = NULL;
        LaunchResult res = {
                .step = (char *) arg_step,
                .error = error,
                .reason = (char *) msg,
                .unavailable = unavailable,
        };
        size_t first_line = strcspn(msg, "\n");
        int r;

        (void) sd_notifyf(false, "STATUS=%.*s\nERRNO=%d", (int) first_line, msg, error);
        if (!dir || asprintf(&path, "%s/" LAUNCH_RESULT_FILE, dir) < 0 || access(path, F_OK) >= 0)
                return;
        r = make_run_dir(name);
        if (r >= 0)
                r = launch_result_write(dir, &res);
        if (r < 0)
                fprintf(stderr, "zone '%s': cannot write the launch result in %s: %s\n", name, dir, strerror(-r));
}

int failure_full(const char *name, bool unavailable, const char *fmt, ...)
{
        int error = unavailable ? EKEYREJECTED : EINVAL;
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        fprintf(stderr, "zone '%s': %s\n", name, msg);
        if (arg_step)
                write_result(name, unavailable, error, msg);
        return -error;
}

/* Whether QEMU (the unit's main process) still runs. It is another user's process:
 * without CAP_KILL, kill() says EPERM for a live one. */
bool pid_alive(pid_t pid)
{
        return kill(pid, 0) >= 0 || errno == EPERM;
}

int zone_key(const ZoneConfig *c, uint8_t key[16])
{
        const ZoneResource *k = zone_resource_first(c->root, resource_type_child(zone_type(), "keysource"));

        return zone_keysource_decode(zone_resource_get(k, "raw"), key);
}

/* The zone's UUID (from the index): its host data and suspend images are bound to it. */
int zone_uuid(const char *name, char **ret)
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

uint64_t now_realtime(void)
{
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static int int_cmp(const void *a, const void *b)
{
        return *(const int *) a < *(const int *) b ? -1 : *(const int *) a > *(const int *) b;
}

void close_all_but(int *keep, size_t n)
{
        unsigned from = 3;

        if (n > 0)
                qsort(keep, n, sizeof(int), int_cmp);
        for (size_t i = 0; i < n; i++) {
                if (keep[i] < 0 || (unsigned) keep[i] < from)
                        continue;
                if ((unsigned) keep[i] > from)
                        (void) close_range(from, (unsigned) keep[i] - 1, 0);
                from = (unsigned) keep[i] + 1;
        }
        (void) close_range(from, ~0u, 0);
}

int destination_bus_open(sd_bus **ret, const char *bus_host, int *ret_errors)
{
        const char *fd = getenv("KZONES_DESTINATION_FD");

        *ret_errors = -EBADF;
        if (fd)
                return remote_bus_from_fd(ret, atoi(fd));
        return remote_bus_open(ret, bus_host, ret_errors);
}
