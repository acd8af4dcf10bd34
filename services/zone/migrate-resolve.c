/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzones-zone migrate-out NAME DESTINATION resolve: after a restarter died during a
 * live migration out whose stream completed, the guest here is paused for good
 * (QEMU's postmigrate) and may run at the destination. Continuing it blindly could
 * run the zone twice on shared storage; halting it blindly could lose it. So the
 * destination's restarter is asked:
 *
 *  - the zone runs there and no job of it is at work (the target's migrate-in job
 *    saw the guest running): the last line is "migrated HOSTID 0" and the
 *    restarter here halts the zone and hands its host data over, as at the end of
 *    an uninterrupted migration;
 *  - the zone does not run there and nothing is at work on it: the guest is
 *    continued here (exit 1, the migration failed);
 *  - the destination cannot be asked, or does not settle in RESOLVE_TIMEOUT_USEC:
 *    the guest stays paused (exit MIGRATE_HELPER_STILL_PAUSED), and the next
 *    restarter start asks again. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "bus-error.h"
#include "kzones-bus.h"
#include "qmp.h"
#include "remote.h"
#include "strv.h"
#include "zone-qemu.h"
#include "zone.h"

#define RESOLVE_TIMEOUT_USEC (90ull * 1000000)
#define RESOLVE_POLL_USEC (1000u * 1000u)

static int guest_status(QmpSync *q, char **ret)
{
        json_object *reply = NULL, *v;
        int r;

        r = qmp_sync_execute(q, "query-status", NULL, &reply, NULL);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(reply, "status", &v))
                r = -EBADMSG;
        else if (!(*ret = strdup(json_object_get_string(v))))
                r = -ENOMEM;
        json_object_put(reply);
        return r;
}

typedef enum Where {
        WHERE_THERE,    /* runs at the destination, settled */
        WHERE_NOT_THERE, /* does not run there, nothing at work */
        WHERE_UNSETTLED, /* a job at work there, or migrating-in */
} Where;

static int ask_destination(sd_bus *remote, const char *name, Where *ret, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *state = NULL, *job = NULL;
        _cleanup_strv_free_ char **aux = NULL;
        const char *path;
        int r;

        r = sd_bus_call_method(remote, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, "GetZone", error,
                &reply, "s", name);
        if (r < 0 && sd_bus_error_has_name(error, KZ_ERROR_ZONE_NOT_FOUND)) {
                sd_bus_error_free(error);
                *ret = WHERE_NOT_THERE;
                return 0;
        }
        if (r >= 0)
                r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                r = sd_bus_get_property_string(remote, RESTARTER_BUS_NAME, path, RESTARTER_ZONE_IFACE, "State", error,
                        &state);
        if (r >= 0)
                r = sd_bus_get_property_strv(remote, RESTARTER_BUS_NAME, path, RESTARTER_ZONE_IFACE,
                        "AuxiliaryStates", error, &aux);
        if (r >= 0) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                const char *o;

                r = sd_bus_get_property(remote, RESTARTER_BUS_NAME, path, RESTARTER_ZONE_IFACE, "Job", error, &m,
                        "o");
                if (r >= 0)
                        r = sd_bus_message_read(m, "o", &o);
                if (r >= 0 && !(job = strdup(o)))
                        r = -ENOMEM;
        }
        if (r < 0)
                return r;
        if (!streq(job, "/") || strv_contains(aux, "migrating-in"))
                *ret = WHERE_UNSETTLED;
        else
                *ret = streq(state, "running") ? WHERE_THERE : WHERE_NOT_THERE;
        return 0;
}

int verb_migrate_resolve(const char *name, const char *destination)
{
        _cleanup_(remote_uri_done) RemoteUri dest = {};
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *remote = NULL;
        _cleanup_(qmp_sync_closep) QmpSync *q = NULL;
        _cleanup_free_ char *sock = root_path(ZONE_RUN_DIR "/%s/" ZONE_CONTROL_SOCKET, name), *status = NULL;
        _cleanup_free_ char *bus_host = NULL, *hostid = NULL;
        _cleanup_close_ int ssh_errors = -EBADF;
        char ssh_buf[1024];
        const char *reason = NULL;
        uint64_t deadline = now_usec() + RESOLVE_TIMEOUT_USEC;
        Where where = WHERE_UNSETTLED;
        int r;

        if (!sock)
                return -ENOMEM;
        r = qmp_sync_open(sock, 10 * 1000000u, &q);
        if (r >= 0)
                r = guest_status(q, &status);
        if (r < 0) {
                printf("zone '%s': cannot ask the guest here how it is: %s\n", name, strerror(-r));
                return MIGRATE_HELPER_STILL_PAUSED;
        }
        if (!streq(status, "postmigrate") && !streq(status, "finish-migrate")) {
                printf("zone '%s': the guest here is %s, not paused at a migration's end: it stays so\n", name,
                        status);
                return 1;
        }
        if (remote_uri_parse(destination, &dest, &reason) < 0 || !(bus_host = remote_uri_to_bus_host(&dest))) {
                printf("zone '%s': the destination %s is not a host: %s\n", name, destination, strna(reason));
                return MIGRATE_HELPER_STILL_PAUSED;
        }
        r = remote_bus_open(&remote, bus_host, &ssh_errors);
        if (r >= 0)
                r = sd_bus_get_property_string(remote, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                        "HostId", &error, &hostid);
        while (r >= 0) {
                r = ask_destination(remote, name, &where, &error);
                if (r < 0 || where != WHERE_UNSETTLED || now_usec() > deadline)
                        break;
                (void) usleep(RESOLVE_POLL_USEC);
        }
        if (r < 0) {
                const char *ssh = remote_ssh_reason(ssh_errors, ssh_buf, sizeof(ssh_buf));

                printf("zone '%s': the guest stays paused here: %s cannot say whether it runs there (%s); the "
                        "restarter asks again when it starts\n", name, dest.host,
                        ssh ?: error.message ?: strerror(-r));
                return MIGRATE_HELPER_STILL_PAUSED;
        }
        switch (where) {
        case WHERE_THERE:
                if (strlen(hostid) != 8) {
                        printf("zone '%s': the guest stays paused here: %s runs it but gives no host id\n", name,
                                dest.host);
                        return MIGRATE_HELPER_STILL_PAUSED;
                }
                printf("step the guest runs on %s: the migration completed\n", dest.host);
                printf("migrated %s 0\n", hostid);
                return 0;
        case WHERE_NOT_THERE: {
                json_object *reply = NULL;

                r = qmp_sync_execute(q, "cont", NULL, &reply, NULL);
                json_object_put(reply);
                if (r < 0) {
                        printf("zone '%s': the guest does not run on %s, but cannot be continued here: %s\n", name,
                                dest.host, strerror(-r));
                        return MIGRATE_HELPER_STILL_PAUSED;
                }
                printf("zone '%s': the migration to %s did not complete there; the guest goes on here\n", name,
                        dest.host);
                return 1;
        }
        case WHERE_UNSETTLED:
        default:
                printf("zone '%s': the guest stays paused here: the zone on %s did not settle in %llu s\n", name,
                        dest.host, RESOLVE_TIMEOUT_USEC / 1000000);
                return MIGRATE_HELPER_STILL_PAUSED;
        }
}
