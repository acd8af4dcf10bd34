/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzones-zone migrate-out NAME DEST CIPHER:CHANNELS: the source side of a live
 * migration, run by the restarter's migrate job (blocking is fine here; the job
 * relays our "progress PCT DONE TOTAL" lines and reads our last line).
 *
 *   1. the destination's system bus over SSH (DEST: ssh://[user@]host[:port]); the
 *      zone must be configured there; its HostId, and both hosts' ciphers;
 *   2. a fresh migration id and 32-byte key (GnuTLS's key generator), held here only;
 *   3. the destination's Zone.PrepareIncoming: its zone waits in migrating-in mode;
 *   4. this host's kz-migr StartOutgoing (to DEST's 8102), which gives the socket the
 *      source QEMU migrates to; the key is wiped here once both daemons hold it;
 *   5. QEMU (control.sock): bandwidth cap lifted, multifd for more than one channel,
 *      migrate, then query-migrate until completed, with progress lines;
 *   6. the destination's job done (the guest runs there): "migrated HOSTID DOWNTIME_MS",
 *      and the restarter halts the unit here with a handover of the host data.
 *
 * Any failure, or SIGTERM (a Cancel): QEMU's migration is cancelled, kz-migr's
 * record and the destination's job too; the guest runs on here. Exit status 1 and
 * the reason as the last line. */
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "kzones-bus.h"
#include "migrate-config.h"
#include "qmp.h"
#include "remote.h"
#include "strv.h"
#include "zone.h"

#define MIGRATE_KEY_SIZE 32u
#define MIGRATE_PORT 8102
#define PREPARE_TIMEOUT_USEC (150ull * 1000000) /* the destination's unit start (TimeoutStartSec=) */
#define STREAM_TIMEOUT_USEC (60ull * 1000000)   /* kz-migr's: the channels must come by then */
#define TARGET_TIMEOUT_USEC (60ull * 1000000)   /* the guest running there after completion */
#define POLL_USEC (250u * 1000u)
#define DOWNTIME_LIMIT_MS 50u /* QEMU's default, 300 ms, lets it pause the guest with 300 ms of RAM left to send */

static volatile sig_atomic_t cancelled;

static void on_signal(int sig)
{
        cancelled = 1;
}

typedef struct Migration {
        const char *name;
        sd_bus *local, *remote;
        char *id;
        char *cipher;
        unsigned channels;
        char *remote_job;
        bool outgoing;  /* kz-migr holds our side */
        bool migrating; /* QEMU's migration started */
        QmpSync *qmp;
} Migration;

static int say_error(const char *name, const char *fmt, ...) _printf_(2, 3);
static int say_error(const char *name, const char *fmt, ...)
{
        va_list ap;

        fprintf(stdout, "zone '%s': ", name);
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
        return -EIO;
}

static int list_ciphers(sd_bus *bus, char ***ret, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, MIGRATION_BUS_NAME, MIGRATION_PATH, MIGRATION_MANAGER_IFACE, "ListCiphers", error,
                &reply, NULL);
        if (r >= 0)
                r = sd_bus_message_read_strv(reply, ret);
        return r;
}

/* The cipher: the one asked for if the destination has it, or the first of ours
 * (our preference order) that the destination offers, never none by default. */
static int pick_cipher(Migration *m, const char *want)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_strv_free_ char **ours = NULL, **theirs = NULL;
        _cleanup_free_ char *list = NULL;
        int r;

        r = list_ciphers(m->local, &ours, &error);
        if (r < 0)
                return say_error(m->name, "cannot ask this host's kz-migr for its ciphers: %s",
                        error.message ?: strerror(-r));
        r = list_ciphers(m->remote, &theirs, &error);
        if (r < 0)
                return say_error(m->name, "cannot ask the destination's kz-migr for its ciphers: %s",
                        error.message ?: strerror(-r));
        if (!isempty(want)) {
                if (!strv_contains(ours, want))
                        return say_error(m->name, "cipher %s not supported by this host", want);
                if (!strv_contains(theirs, want)) {
                        list = strv_join(theirs, ", ");
                        return say_error(m->name, "cipher %s not supported by destination\n"
                                "zone '%s': destination supports: %s", want, m->name, strna(list));
                }
                m->cipher = strdup(want);
                return m->cipher ? 0 : -ENOMEM;
        }
        for (char **c = ours; c && *c; c++)
                if (!streq(*c, "none") && strv_contains(theirs, *c)) {
                        m->cipher = strdup(*c);
                        return m->cipher ? 0 : -ENOMEM;
                }
        list = strv_join(theirs, ", ");
        return say_error(m->name, "no cipher in common with the destination (it supports: %s)", strna(list));
}

static int remote_job_state(Migration *m, char **ret_state, char **ret_message)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_get_property_string(m->remote, RESTARTER_BUS_NAME, m->remote_job, RESTARTER_JOB_IFACE, "State",
                &error, ret_state);
        if (r >= 0)
                r = sd_bus_get_property_string(m->remote, RESTARTER_BUS_NAME, m->remote_job, RESTARTER_JOB_IFACE,
                        "Message", &error, ret_message);
        return r;
}

/* The destination's zone waits for the stream (or its job ended: why). */
static int prepare_remote(Migration *m, const uint8_t *key)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_free_ char *zone_path = NULL;
        const char *job, *path;
        int r;

        r = sd_bus_call_method(m->remote, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE, "GetZone",
                &error, &reply, "s", m->name);
        if (r < 0)
                return say_error(m->name, "not configured on the destination (%s); configure it there first "
                        "(zonecfg export here, zonecfg -f there)", error.message ?: strerror(-r));
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0 || !(zone_path = strdup(path)))
                return r < 0 ? r : -ENOMEM;
        reply = sd_bus_message_unref(reply);
        r = sd_bus_message_new_method_call(m->remote, &call, RESTARTER_BUS_NAME, zone_path, RESTARTER_ZONE_IFACE,
                "PrepareIncoming");
        if (r >= 0)
                r = sd_bus_message_open_container(call, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(call, "{sv}", "MigrationId", "s", m->id);
        if (r >= 0)
                r = sd_bus_message_append(call, "{sv}", "Cipher", "s", m->cipher);
        if (r >= 0)
                r = sd_bus_message_append(call, "{sv}", "Channels", "u", m->channels);
        if (r >= 0)
                r = sd_bus_message_open_container(call, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(call, "s", "Key");
        if (r >= 0)
                r = sd_bus_message_open_container(call, 'v', "ay");
        if (r >= 0)
                r = sd_bus_message_append_array(call, 'y', key, MIGRATE_KEY_SIZE);
        if (r >= 0)
                r = sd_bus_message_close_container(call);
        if (r >= 0)
                r = sd_bus_message_close_container(call);
        if (r >= 0)
                r = sd_bus_message_close_container(call);
        if (r < 0)
                return r;
        r = sd_bus_call(m->remote, call, 30 * 1000000ull, &error, &reply);
        if (r < 0)
                return say_error(m->name, "the destination refused the incoming migration: %s",
                        error.message ?: strerror(-r));
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0 || !(m->remote_job = strdup(job)))
                return r < 0 ? r : -ENOMEM;
        printf("step Booting zone in 'migrating-in' mode.\n");
        fflush(stdout);
        for (uint64_t deadline = now_usec() + PREPARE_TIMEOUT_USEC;; (void) usleep(POLL_USEC)) {
                _cleanup_free_ char *state = NULL, *message = NULL;

                if (cancelled)
                        return say_error(m->name, "cancelled");
                r = remote_job_state(m, &state, &message);
                if (r < 0)
                        return say_error(m->name, "cannot follow the destination's job: %s", strerror(-r));
                if (!streq(state, "running"))
                        return say_error(m->name, "the destination did not start the zone in migrating-in mode: %s",
                                strna(message));
                if (streq_ptr(message, "waiting for the migration stream"))
                        return 0;
                if (now_usec() > deadline)
                        return say_error(m->name, "the destination did not start the zone within %llu s",
                                PREPARE_TIMEOUT_USEC / 1000000);
        }
}

static int start_outgoing(Migration *m, const RemoteUri *dest, const uint8_t *key, char **ret_socket)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        struct passwd *pw = getpwnam(KZONES_QEMU_USER);
        uint32_t uid = pw ? (uint32_t) pw->pw_uid : (uint32_t) geteuid();
        const char *path;
        int r;

        r = sd_bus_message_new_method_call(m->local, &call, MIGRATION_BUS_NAME, MIGRATION_PATH,
                MIGRATION_MANAGER_IFACE, "StartOutgoing");
        if (r >= 0)
                r = sd_bus_message_append(call, "s", m->id);
        if (r >= 0)
                r = sd_bus_message_append_array(call, 'y', key, MIGRATE_KEY_SIZE);
        if (r >= 0)
                r = sd_bus_message_append(call, "ssqta{sv}", m->cipher, dest->host, (uint16_t) MIGRATE_PORT,
                        STREAM_TIMEOUT_USEC, 2, "Channels", "u", m->channels, "SocketUser", "u", uid);
        if (r < 0)
                return r;
        r = sd_bus_call(m->local, call, 30 * 1000000ull, &error, &reply);
        if (r < 0)
                return say_error(m->name, "this host's kz-migr did not start the stream: %s",
                        error.message ?: strerror(-r));
        m->outgoing = true;
        r = sd_bus_message_read(reply, "s", &path);
        if (r < 0)
                return r;
        *ret_socket = strdup(path);
        return *ret_socket ? 0 : -ENOMEM;
}

static int qmp_do(Migration *m, const char *command, const char *args_json, json_object **ret)
{
        _cleanup_free_ char *err = NULL;
        int r;

        r = qmp_sync_execute(m->qmp, command, args_json ? json_tokener_parse(args_json) : NULL, ret, &err);
        if (r < 0)
                return say_error(m->name, "QEMU refused %s: %s", command, err ?: strerror(-r));
        return 0;
}

static uint64_t get_u64(json_object *o, const char *a, const char *b)
{
        json_object *x, *y;

        if (!json_object_object_get_ex(o, a, &x))
                return 0;
        if (!b)
                return (uint64_t) json_object_get_int64(x);
        return json_object_object_get_ex(x, b, &y) ? (uint64_t) json_object_get_int64(y) : 0;
}

static int migrate(Migration *m, const char *socket_path, uint64_t *ret_downtime)
{
        _cleanup_free_ char *sock = root_path(ZONE_RUN_DIR "/%s/" ZONE_CONTROL_SOCKET, m->name), *args = NULL;
        int r;

        if (!sock)
                return -ENOMEM;
        r = qmp_sync_open(sock, 10 * 1000000u, &m->qmp);
        if (r < 0)
                return say_error(m->name, "cannot reach the guest's monitor: %s", strerror(-r));
        if (asprintf(&args, "{\"capabilities\": [{\"capability\": \"multifd\", \"state\": %s}]}",
                    m->channels > 1 ? "true" : "false") < 0)
                return -ENOMEM;
        r = qmp_do(m, "migrate-set-capabilities", args, NULL);
        if (r < 0)
                return r;
        free(args);
        /* QEMU's default cap is 128 MiB/s: the stream goes as fast as kz-migr takes it */
        if (m->channels > 1)
                r = asprintf(&args, "{\"max-bandwidth\": %" PRIu64 ", \"downtime-limit\": %u, "
                        "\"multifd-channels\": %u}", (uint64_t) 1 << 40, DOWNTIME_LIMIT_MS, m->channels - 1);
        else
                r = asprintf(&args, "{\"max-bandwidth\": %" PRIu64 ", \"downtime-limit\": %u}", (uint64_t) 1 << 40,
                        DOWNTIME_LIMIT_MS);
        if (r < 0) {
                args = NULL;
                return -ENOMEM;
        }
        r = qmp_do(m, "migrate-set-parameters", args, NULL);
        if (r < 0)
                return r;
        free(args);
        if (asprintf(&args, "{\"uri\": \"unix:%s\"}", socket_path) < 0)
                return -ENOMEM;
        printf("step Starting migration.\n");
        fflush(stdout);
        r = qmp_do(m, "migrate", args, NULL);
        if (r < 0)
                return r;
        m->migrating = true;
        for (;;) {
                json_object *st = NULL, *status;
                const char *s;
                uint64_t total, remaining, done;

                if (cancelled)
                        return say_error(m->name, "cancelled");
                r = qmp_do(m, "query-migrate", NULL, &st);
                if (r < 0)
                        return r;
                s = json_object_object_get_ex(st, "status", &status) ? json_object_get_string(status) : "";
                total = get_u64(st, "ram", "total");
                remaining = get_u64(st, "ram", "remaining");
                done = get_u64(st, "ram", "transferred");
                if (streq(s, "completed")) {
                        *ret_downtime = get_u64(st, "downtime", NULL);
                        json_object_put(st);
                        printf("progress 100 %" PRIu64 " %" PRIu64 "\n", done, total);
                        fflush(stdout);
                        return 0;
                }
                if (streq(s, "failed") || streq(s, "cancelled")) {
                        json_object *e;
                        _cleanup_free_ char *why = strdup(json_object_object_get_ex(st, "error-desc", &e)
                                                                  ? json_object_get_string(e) : s);
                        json_object_put(st);
                        return say_error(m->name, "the migration %s: %s", s, strna(why));
                }
                json_object_put(st);
                if (total > 0) {
                        unsigned pct = (unsigned) ((total - (remaining < total ? remaining : total)) * 100 / total);
                        printf("progress %u %" PRIu64 " %" PRIu64 "\n", pct > 99 ? 99 : pct, done, total);
                        fflush(stdout);
                }
                (void) usleep(POLL_USEC);
        }
}

/* After QEMU here completed: the guest must run there before anything is handed over. */
static int wait_target(Migration *m)
{
        printf("step Waiting for migration to complete.\n");
        fflush(stdout);
        for (uint64_t deadline = now_usec() + TARGET_TIMEOUT_USEC;; (void) usleep(POLL_USEC)) {
                _cleanup_free_ char *state = NULL, *message = NULL;
                int r = remote_job_state(m, &state, &message);

                if (r < 0)
                        return say_error(m->name, "cannot follow the destination's job: %s", strerror(-r));
                if (streq(state, "done"))
                        return 0;
                if (!streq(state, "running"))
                        return say_error(m->name, "the zone did not run on the destination: %s", strna(message));
                if (now_usec() > deadline)
                        return say_error(m->name, "the zone did not run on the destination within %llu s",
                                TARGET_TIMEOUT_USEC / 1000000);
        }
}

/* Undoes what was started. The guest runs on here unless QEMU here completed and
 * the destination may run it: then only a destination that says its job failed, or
 * took our Cancel (its unit stops), lets the guest continue here; otherwise it stays
 * paused here, and the administrator looks at the destination first. */
static void roll_back(Migration *m, bool completed)
{
        bool target_down = !completed;
        json_object *ret = NULL;

        if (m->remote_job) {
                _cleanup_free_ char *state = NULL, *message = NULL;

                if (sd_bus_call_method(m->remote, RESTARTER_BUS_NAME, m->remote_job, RESTARTER_JOB_IFACE, "Cancel",
                            NULL, NULL, NULL) >= 0)
                        target_down = true;
                else if (remote_job_state(m, &state, &message) >= 0 && !streq(state, "running") &&
                         !streq(state, "done"))
                        target_down = true;
        }
        if (m->outgoing)
                (void) sd_bus_call_method(m->local, MIGRATION_BUS_NAME, MIGRATION_PATH, MIGRATION_MANAGER_IFACE,
                        "CancelOutgoing", NULL, NULL, "s", m->id);
        if (!m->migrating || !m->qmp)
                return;
        if (!target_down) {
                say_error(m->name, "the migration completed but the destination's state is unknown: the guest "
                        "stays paused here; check the destination, then 'zoneadm -z %s halt' here if it runs "
                        "there", m->name);
                return;
        }
        (void) qmp_sync_execute(m->qmp, "migrate_cancel", NULL, &ret, NULL);
        json_object_put(ret);
        ret = NULL;
        /* a migration that completed left the guest paused (postmigrate) */
        if (completed) {
                (void) qmp_sync_execute(m->qmp, "cont", NULL, &ret, NULL);
                json_object_put(ret);
        }
}

int verb_migrate_out(const char *name, const char *destination, const char *options)
{
        _cleanup_(remote_uri_done) RemoteUri dest = {};
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *bus_host = NULL, *hostid = NULL, *socket_path = NULL, *want = NULL;
        Migration m = { .name = name, .channels = 1 };
        MigrateConfig mc = { .name = name, .kind = MIGRATE_LIVE };
        _cleanup_close_ int ssh_errors = -EBADF;
        const char *reason = NULL, *colon, *ssh_reason;
        char ssh_buf[1024];
        bool dry_run = false;
        size_t len;
        uint8_t *key = NULL;
        uint8_t nonce[8];
        uint64_t downtime = 0;
        bool completed = false;
        int r;

        (void) signal(SIGTERM, on_signal);
        (void) signal(SIGINT, on_signal);
        r = remote_uri_parse(destination, &dest, &reason);
        if (r < 0)
                return say_error(name, "the destination %s is not a host: %s", destination, strna(reason));
        /* CIPHER:CHANNELS, or CIPHER:CHANNELS:dry for a dry run, CIPHER:CHANNELS:w to
         * overwrite the destination's configuration (-w; never with -n) */
        len = options ? strlen(options) : 0;
        if (len > 2 && streq(options + len - 2, ":w")) {
                mc.overwrite = true;
                len -= 2;
        }
        if (len > 4 && streq(options + len - 4, ":dry")) {
                dry_run = true;
                len -= 4;
        }
        colon = options ? memrchr(options, ':', len) : NULL;
        if (!colon || (unsigned) atoi(colon + 1) < 1 || (unsigned) atoi(colon + 1) > LAUNCH_INCOMING_CHANNELS_MAX)
                return say_error(name, "bad options '%s' (CIPHER:CHANNELS[:dry])", strna(options));
        m.channels = (unsigned) atoi(colon + 1);
        want = strndup(options, (size_t) (colon - options));
        bus_host = remote_uri_to_bus_host(&dest);
        if (!want || !bus_host)
                return -ENOMEM;

        r = sd_bus_open_system(&m.local);
        if (r < 0)
                return say_error(name, "cannot connect to this host's system bus: %s", strerror(-r));
        /* a zone administrator's: its own connection (the destination checks it) */
        r = destination_bus_open(&m.remote, bus_host, &ssh_errors);
        if (r >= 0)
                r = sd_bus_get_property_string(m.remote, RESTARTER_BUS_NAME, RESTARTER_PATH, RESTARTER_MANAGER_IFACE,
                        "HostId", &error, &hostid);
        if (r < 0 && (ssh_reason = remote_ssh_reason(ssh_errors, ssh_buf, sizeof(ssh_buf)))) {
                r = say_error(name, "cannot reach the destination %s over SSH: %s", dest.host, ssh_reason);
                goto out;
        }
        if (r < 0 || strlen(hostid) != 8) {
                r = say_error(name, "cannot reach the destination's restarter on %s: %s", dest.host,
                        r < 0 ? error.message ?: strerror(-r) : "it has no HostId");
                goto out;
        }
        printf("step Checking migration compatibility.\n");
        fflush(stdout);
        r = pick_cipher(&m, want);
        if (r < 0)
                goto fail;
        /* migrate-config.c: every check, then the destination's configuration */
        mc.local = m.local;
        mc.remote = m.remote;
        mc.dry_run = dry_run;
        r = migrate_config_check(&mc);
        if (r >= 0)
                r = migrate_config_apply(&mc);
        if (r < 0)
                goto fail;

        /* the key lives in one locked page, never swapped or dumped, wiped at the end */
        key = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (key == MAP_FAILED) {
                key = NULL;
                r = -errno;
                goto fail;
        }
        (void) madvise(key, 4096, MADV_DONTDUMP);
        (void) mlock(key, 4096);
        if (gnutls_rnd(GNUTLS_RND_KEY, key, MIGRATE_KEY_SIZE) < 0 || gnutls_rnd(GNUTLS_RND_NONCE, nonce, sizeof(nonce)) < 0 ||
            asprintf(&m.id, "%s-%02x%02x%02x%02x%02x%02x%02x%02x", name, nonce[0], nonce[1], nonce[2], nonce[3],
                    nonce[4], nonce[5], nonce[6], nonce[7]) < 0) {
                m.id = NULL;
                r = say_error(name, "cannot make the migration's key");
                goto fail;
        }
        printf("step Migration %s with %s, %u channel(s), to %s (host %s).\n", m.id, m.cipher, m.channels, dest.host,
                hostid);
        fflush(stdout);
        r = prepare_remote(&m, key);
        if (r >= 0 && dry_run) {
                /* every check of the real run has passed: the destination's zone goes */
                explicit_bzero(key, MIGRATE_KEY_SIZE);
                roll_back(&m, false);
                /* the destination's zone is stopped and configured again before we say so */
                for (uint64_t deadline = now_usec() + PREPARE_TIMEOUT_USEC;; (void) usleep(POLL_USEC)) {
                        _cleanup_free_ char *state = NULL, *message = NULL;

                        if (remote_job_state(&m, &state, &message) < 0 || !streq(state, "running"))
                                break;
                        if (now_usec() > deadline) {
                                r = say_error(name, "the destination did not stop its zone after the dry run: %s",
                                        strna(message));
                                goto out;
                        }
                }
                migrate_step("Cleaning up.");
                migrate_config_roll_back(&mc);
                printf("step Dry run: the zone can migrate; nothing was changed on either host.\n");
                printf("dry-run %s\n", hostid);
                fflush(stdout);
                goto out;
        }
        if (r >= 0)
                r = start_outgoing(&m, &dest, key, &socket_path);
        explicit_bzero(key, MIGRATE_KEY_SIZE);
        if (r < 0)
                goto fail;
        r = migrate(&m, socket_path, &downtime);
        if (r < 0)
                goto fail;
        completed = true;
        r = wait_target(&m);
        if (r < 0)
                goto fail;
        printf("step Migration successful.\n");
        printf("migrated %s %" PRIu64 "\n", hostid, downtime);
        fflush(stdout);
        r = 0;
        goto out;
fail:
        roll_back(&m, completed);
        migrate_config_roll_back(&mc);
        if (r >= 0)
                r = -EIO;
out:
        if (key) {
                explicit_bzero(key, MIGRATE_KEY_SIZE);
                (void) munmap(key, 4096);
        }
        qmp_sync_close(m.qmp);
        migrate_config_done(&mc);
        sd_bus_flush_close_unref(m.local);
        sd_bus_flush_close_unref(m.remote);
        free(m.id);
        free(m.cipher);
        free(m.remote_job);
        return r;
}
