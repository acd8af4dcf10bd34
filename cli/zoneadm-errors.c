/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zoneadm's (and zonecfg -r's) messages for what went wrong talking to the restarter:
 * each one line (zoneadm(8) DIAGNOSTICS), saying what to do next where there is
 * something to do. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "remote.h"
#include "restarter-client.h"

#define USEC_PER_MINUTE (UINT64_C(60) * 1000000)

const char *cli_prog = "zoneadm";
const char *zoneadm_host;
int zoneadm_ssh_errors = -EBADF;

/* The restarter is not on the bus, or the bus itself is gone (with -H: ssh failed, and said why). */
static bool error_is_unreachable(const sd_bus_error *e, int r)
{
        return !sd_bus_error_is_set(e) ||
               sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                       SD_BUS_ERROR_NO_SERVER, SD_BUS_ERROR_DISCONNECTED) ||
               r == -ENOTCONN || r == -ECONNRESET || r == -ECONNREFUSED || r == -EPIPE || r == -ESHUTDOWN;
}


int log_unreachable(const sd_bus_error *e, int r)
{
        const char *reason = sd_bus_error_is_set(e) && !isempty(e->message) ? e->message : strerror(-r);
        bool no_restarter = sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER);
        char buf[4096];
        const char *ssh;

        if (zoneadm_host && !no_restarter && (ssh = remote_ssh_reason(zoneadm_ssh_errors, buf, sizeof(buf))))
                fprintf(stderr, "%s: cannot reach host '%s' over SSH: %s\n", cli_prog, zoneadm_host, ssh);
        else if (zoneadm_host)
                fprintf(stderr, "%s: cannot reach the zone restarter (%s) on '%s': %s; is kzones-restarterd "
                        "running there? See 'systemctl status kzones-restarterd' on that host.\n", cli_prog,
                        RESTARTER_BUS_NAME, zoneadm_host, reason);
        else
                fprintf(stderr, "%s: cannot reach the zone restarter (%s): %s; is kzones-restarterd running? "
                        "See 'systemctl status kzones-restarterd'.\n", cli_prog, RESTARTER_BUS_NAME, reason);
        return r;
}

int log_not_configured(const char *zone)
{
        fprintf(stderr, "%s: zone '%s': No such zone configured\n", cli_prog, zone);
        return -ENOENT;
}

int log_bad_reply(const char *zone, int r)
{
        if (zone)
                fprintf(stderr, "%s: zone '%s': cannot read the zone restarter's answer: %s\n", cli_prog, zone,
                        strerror(-r));
        else
                fprintf(stderr, "%s: cannot read the zone restarter's answer: %s\n", cli_prog, strerror(-r));
        return r;
}

/* Turns a failed call into a message. @zone may be NULL (manager calls); @timeout is the call's
 * timeout, 0 for sd-bus's default. ZoneNotFound is left to the callers: after a method call it may be
 * about another zone (clone's source), so only lookups turn it into "No such zone configured". */
int log_call_error(const char *zone, const sd_bus_error *e, int r, uint64_t timeout)
{
        if (error_is_unreachable(e, r))
                return log_unreachable(e, r);

        if (zone && e->message && strchr(e->message, '\n')) {
                /* several lines: a zone held by another host or a wrong key, each line in the
                 * guide's form, "zone 'NAME': error: …"; verify's problems, each on a line of its
                 * own in zoneadm's form; anything else (a helper's or QEMU's output) is its first
                 * line and where the rest is, as zoneadm(8) promises one line */
                bool guide = startswith(e->message, "error:");
                bool problems = sd_bus_error_has_name(e, KZ_ERROR_INVALID_CONFIGURATION);
                const char *p = e->message;

                if (!guide && !problems) {
                        size_t n = strcspn(p, "\n");

                        fprintf(stderr, "%s: zone '%s': %.*s (more in 'journalctl -u zone@%s.service')\n",
                                cli_prog, zone, (int) n, p, zone);
                        return r;
                }
                for (;;) {
                        const char *nl = strchr(p, '\n');
                        fprintf(stderr, "%s%szone '%s': %.*s\n", guide ? "" : cli_prog, guide ? "" : ": ", zone,
                                nl ? (int) (nl - p) : (int) strlen(p), p);
                        if (!nl)
                                break;
                        p = nl + 1;
                }
                return r;
        }
        fprintf(stderr, "%s: ", cli_prog);
        if (zone)
                fprintf(stderr, "zone '%s': ", zone);
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_TIMEOUT) && r == -ETIMEDOUT) {
                /* sd-bus gave up waiting; the restarter may still be at work. */
                if (timeout > 0)
                        fprintf(stderr, "no answer from the zone restarter within %" PRIu64 " minutes; ",
                                timeout / USEC_PER_MINUTE);
                else
                        fputs("no answer from the zone restarter in time; ", stderr);
                fputs("the operation may still be in progress (see 'zoneadm list -cv').\n", stderr);
        } else if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY))
                /* The restarter left the bus mid-call: it crashed or was stopped. */
                fputs("the zone restarter stopped before answering; the operation may not have completed "
                      "(see 'zoneadm list -cv').\n",
                        stderr);
        else
                fprintf(stderr, "%s\n", !isempty(e->message) ? e->message : strerror(-r));
        return r;
}


int log_request_error(int r)
{
        fprintf(stderr, "%s: cannot build the request to the zone restarter: %s\n", cli_prog, strerror(-r));
        return r;
}
