/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zoneadm -z NAME migrate [-nqw] [-c CIPHER|list|none] [-t auto|live] [ssh://][user@]host[:port]:
 * the restarter's Zone.Migrate on the zone's host, followed as every job is, its
 * steps (the job's Message) printed as they come. -c list asks both hosts' kz-migr.
 * The zone's state picks live, warm or cold (the restarter does); -t live refuses
 * any but a running zone; -w replaces the destination's configuration.
 * A caller who is not root reaches the destination with their own SSH identity:
 * zoneadm starts ssh and hands its end to the restarter (Connection), so the
 * destination's restarter checks that caller's migrate auth there. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "remote.h"
#include "strv.h"
#include "zoneadm.h"

static int list_ciphers(sd_bus *bus, const char *zone, const char *what)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *s = NULL;
        int r;

        r = sd_bus_call_method(bus, MIGRATION_BUS_NAME, MIGRATION_PATH, MIGRATION_MANAGER_IFACE, "ListCiphers", &error,
                &reply, NULL);
        if (r >= 0)
                r = sd_bus_message_read_strv(reply, &l);
        if (r < 0) {
                fprintf(stderr, "zoneadm: zone '%s': cannot ask the %s's kz-migr for its ciphers: %s\n", zone, what,
                        error.message ?: strerror(-r));
                return r;
        }
        s = strv_join(l, ", ");
        if (!s)
                return -ENOMEM;
        printf("%s ciphers: %s\n", what, s);
        return 0;
}

int zoneadm_migrate(sd_bus *bus, const char *zone, const char *destination, const char *cipher, const char *type,
                bool dry_run, bool overwrite, bool quiet)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(remote_uri_done) RemoteUri uri = {};
        _cleanup_free_ char *path = NULL, *host = NULL;
        _cleanup_close_ int connection = -EBADF;
        const char *reason = NULL;
        pid_t ssh = 0;
        int r;

        r = remote_uri_parse(destination, &uri, &reason);
        if (r < 0) {
                fprintf(stderr, "zoneadm: zone '%s': the destination '%s' is not [ssh://][user@]host[:port]: %s\n",
                        zone, destination, strna(reason));
                return -EINVAL;
        }
        if (streq_ptr(cipher, "list")) {
                _cleanup_(sd_bus_flush_close_unrefp) sd_bus *remote = NULL;

                host = remote_uri_to_bus_host(&uri);
                if (!host)
                        return -ENOMEM;
                r = list_ciphers(bus, zone, "source");
                if (r < 0)
                        return r;
                r = sd_bus_open_system_remote(&remote, host);
                if (r < 0) {
                        fprintf(stderr, "zoneadm: zone '%s': cannot reach %s over SSH: %s\n", zone, host, strerror(-r));
                        return r;
                }
                return list_ciphers(remote, zone, "destination");
        }
        r = zone_lookup(bus, zone, &path);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, RESTARTER_BUS_NAME, path, RESTARTER_ZONE_IFACE, "Migrate");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", destination);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && cipher)
                r = sd_bus_message_append(m, "{sv}", "Cipher", "s", cipher);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "DryRun", "b", dry_run);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "Type", "s", type);
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "Overwrite", "b", overwrite);
        if (r >= 0 && geteuid() != 0 && !zoneadm_host) {
                r = remote_ssh_bridge(&uri, -EBADF, &connection, &ssh);
                if (r < 0) {
                        fprintf(stderr, "zoneadm: zone '%s': cannot start ssh to %s: %s\n", zone, uri.host,
                                strerror(-r));
                        return r;
                }
                r = sd_bus_message_append(m, "{sv}", "Connection", "h", connection);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_request_error(r);
        r = zone_job_call(bus, m, zone, quiet);
        if (ssh > 0) {
                /* the restarter's helper holds the connection until the migration ended */
                connection = safe_close_fd(connection);
                (void) kill(ssh, SIGTERM);
                (void) waitpid(ssh, NULL, 0);
        }
        return r;
}
