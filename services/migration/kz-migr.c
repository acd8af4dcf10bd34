/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kz-migr: the migration stream, org.kzones.Migration1. See kz-migr(8) and
 * docs/migration.md. kz-migr.socket hands it the listening socket (TCP 8102). */
#include <fcntl.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "migration.h"

static int listening_socket(void)
{
        int n = sd_listen_fds(true), fd = SD_LISTEN_FDS_START;

        if (n != 1 || sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
                log_error("kz-migr needs one listening stream socket from systemd (kz-migr.socket), got %d", n);
                return -EBADF;
        }
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
                return -errno;
        return fd;
}

static int run(void)
{
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(manager_freep) Manager *m = NULL;
        const char *runtime_dir = getenv("RUNTIME_DIRECTORY") ?: "/run/kz-migr";
        int fd, r;

        (void) kz_bus_error_map_register();
        signal(SIGPIPE, SIG_IGN);
        fd = listening_socket();
        if (fd < 0)
                return fd;
        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
        if (r < 0) {
                (void) close(fd);
                return r;
        }
        r = sd_bus_open_system(&bus);
        if (r < 0) {
                log_error("cannot connect to the system bus: %s", strerror(-r));
                (void) close(fd);
                return r;
        }
        r = manager_new(event, bus, getenv("KZONES_ROOT"), runtime_dir, fd, &m);
        if (r < 0) {
                log_error("cannot start: %s", strerror(-r));
                return r;
        }
        r = bus_register(m);
        if (r < 0) {
                log_error("cannot register the bus objects: %s", strerror(-r));
                return r;
        }
        r = sd_bus_request_name_async(bus, NULL, MIGRATION_BUS_NAME, 0, NULL, NULL);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        (void) sd_notify(false, "READY=1\nSTATUS=Waiting for migrations.");
        r = sd_event_loop(event);
        (void) sd_notify(false, "STOPPING=1");
        return r;
}

int main(int argc, char *argv[])
{
        if (argc == 2 && streq(argv[1], "--version")) {
                printf("kz-migr (kzones) %s\n", KZONES_VERSION);
                return 0;
        }
        if (argc > 1) {
                fprintf(stderr, "usage: kz-migr (takes no arguments; see kz-migr(8))\n");
                return 2;
        }
        return run() < 0 ? 1 : 0;
}
