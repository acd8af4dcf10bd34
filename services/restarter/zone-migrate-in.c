/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The target of a live migration: Zone.PrepareIncoming starts a migrate-in job.
 *
 *   1. the launch request says incoming (its id, QEMU's socket, the channels);
 *   2. zone@NAME.service starts: the launcher starts QEMU with -incoming defer and
 *      without claiming the zone's host data, and kzones-zone wait returns once QEMU
 *      listens; the zone is running with the auxiliary state migrating-in;
 *   2b. kz-migr on this host is told to expect the migration (PrepareIncoming: id,
 *      key, cipher, that socket, and the unit's MainPID, the only process it hands
 *      the stream to), so only the holder of the key reaches this QEMU; then the
 *      job says "waiting for the migration stream", which the source waits for;
 *   3. the job follows QEMU (query-status) and kz-migr (GetMigration) until the guest
 *      runs here: done. The zone's source hands its host data over when it stops
 *      (launch-request.h, handover), and the lease keeper here takes it from there.
 *
 * Any failure, a Cancel, or a migration that kz-migr gave up (expired, failed):
 * kz-migr forgets it, the unit is stopped (a halt: nothing was claimed, nothing is
 * written), and a zone that was only configured here is configured again. */
#include <errno.h>
#include <string.h>

#include "launch-request.h"
#include "log.h"
#include "restarter.h"

#define MIGRATE_IN_KEY_SIZE 32u
#define MIGRATE_IN_TIMEOUT_USEC (60ull * 1000000)  /* kz-migr's: the first channel must come by then */
#define MIGRATE_IN_POLL_USEC (200ull * 1000)

struct JobMigration {
        char *id;
        uint8_t key[MIGRATE_IN_KEY_SIZE];
        char *cipher;
        uint32_t channels;
        uint64_t timeout_usec;
        bool was_configured; /* the zone was configured only: it is again on failure */
        bool prepared;       /* kz-migr expects the migration */
        bool listening;      /* the unit started: QEMU waits for the stream */
        bool stopping;       /* failed or cancelled: the unit is being stopped */
        int error;           /* the failure, reported once the unit stopped */
        char *error_name;
        char *error_message;
        unsigned polls;
        bool status_pending, migr_pending;
};

static void migration_free(Job *j)
{
        JobMigration *m = j->migration;

        if (!m)
                return;
        explicit_bzero(m->key, sizeof(m->key));
        free(m->id);
        free(m->cipher);
        free(m->error_name);
        free(m->error_message);
        free(m);
        j->migration = NULL;
}

static char *incoming_socket(Zone *z)
{
        return manager_path(z->manager, ZONE_RUN_DIR "/%s/" ZONE_INCOMING_SOCKET, z->name);
}

static void restore_index(Job *j)
{
        sd_bus_error e = SD_BUS_ERROR_NULL;

        if (j->migration->was_configured && j->zone->index_state == ZONE_STATE_INSTALLED)
                (void) zone_set_index_state(j->zone, ZONE_STATE_CONFIGURED, &e);
        sd_bus_error_free(&e);
}

static void cancel_in_kz_migr(Job *j)
{
        JobMigration *m = j->migration;

        if (!m->prepared)
                return;
        m->prepared = false;
        /* no answer awaited: MigrationNotFound (it expired, or ended) is as good */
        (void) sd_bus_call_method_async(j->manager->bus, NULL, MIGRATION_BUS_NAME, MIGRATION_PATH,
                MIGRATION_MANAGER_IFACE, "CancelIncoming", NULL, NULL, "s", m->id);
}

/* The end of a failure: the unit is down, or was never started. */
static void migrate_in_finish_failed(Job *j)
{
        JobMigration *m = j->migration;

        restore_index(j);
        job_finish(j, m->error, m->error_name, "%s", m->error_message ?: "the incoming migration failed");
}

static void migrate_in_fail(Job *j, int error, const char *name, const char *fmt, ...) _printf_(4, 5);
static void migrate_in_fail(Job *j, int error, const char *name, const char *fmt, ...)
{
        JobMigration *m = j->migration;
        va_list ap;
        int r;

        if (j->state != JOB_RUNNING || m->stopping)
                return;
        m->stopping = true;
        m->error = error;
        m->error_name = name ? strdup(name) : NULL;
        va_start(ap, fmt);
        if (vasprintf(&m->error_message, fmt, ap) < 0)
                m->error_message = NULL;
        va_end(ap);
        log_warning("zone '%s': incoming migration %s: %s", j->zone->name, m->id, strna(m->error_message));
        cancel_in_kz_migr(j);
        j->timer = sd_event_source_disable_unref(j->timer);
        qmp_close(TAKE_PTR(j->qmp));
        if (!m->listening && !j->unit_job && !j->unit_call) {
                migrate_in_finish_failed(j);
                return;
        }
        /* nothing here holds the zone: a halt, with no host data written */
        (void) zone_request_halt(j->zone);
        r = job_start_unit(j, "StopUnit");
        if (r < 0)
                migrate_in_finish_failed(j);
}

static void on_status(Qmp *q, json_object *reply, const char *error, void *userdata);
static int on_poll(sd_event_source *s, uint64_t usec, void *userdata);

static void schedule_poll(Job *j)
{
        int r;

        j->timer = sd_event_source_disable_unref(j->timer);
        r = sd_event_add_time_relative(j->manager->event, &j->timer, CLOCK_MONOTONIC, MIGRATE_IN_POLL_USEC, 0,
                on_poll, j);
        if (r < 0)
                migrate_in_fail(j, r, NULL, "cannot arm the migration's poll: %s", strerror(-r));
}

static int on_migration_state(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        Job *j = userdata;
        JobMigration *m = j->migration;
        const char *state, *cipher, *err;
        uint32_t open, total;
        uint64_t sent, received;

        if (j->state != JOB_RUNNING || !m)
                return 0;
        m->migr_pending = false;
        if (m->stopping)
                return 0;
        if (sd_bus_message_is_method_error(reply, NULL)) {
                /* forgotten once it ended: QEMU tells how */
                if (!sd_bus_message_is_method_error(reply, KZ_ERROR_MIGRATION_NOT_FOUND))
                        log_debug("zone '%s': GetMigration: %s", j->zone->name,
                                sd_bus_message_get_error(reply)->message);
                return 0;
        }
        if (sd_bus_message_read(reply, "ssuuttts", &state, &cipher, &open, &total, &sent, &received, &err) < 0)
                return 0;
        if (received > 0)
                job_set_progress(j, -1, received, 0);
        if (streq(state, "expired"))
                migrate_in_fail(j, -ETIMEDOUT, KZ_ERROR_TIMEOUT, "no migration stream came from the source within "
                        "%" PRIu64 " s", m->timeout_usec / 1000000);
        else if (streq(state, "failed") || streq(state, "cancelled"))
                migrate_in_fail(j, -EIO, NULL, "the migration stream %s: %s", state, *err ? err : "(no reason)");
        return 0;
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
        Job *j = userdata;
        JobMigration *m = j->migration;
        int r;

        j->timer = sd_event_source_disable_unref(j->timer);
        if (!m->status_pending && j->qmp) {
                r = qmp_execute(j->qmp, "query-status", NULL, on_status, j);
                if (r < 0) {
                        migrate_in_fail(j, r, NULL, "cannot ask QEMU how the migration goes: %s", strerror(-r));
                        return 0;
                }
                m->status_pending = true;
        }
        /* kz-migr, once a second: the bytes so far, and a stream given up */
        if (!m->migr_pending && m->polls++ % 5 == 0) {
                r = sd_bus_call_method_async(j->manager->bus, NULL, MIGRATION_BUS_NAME, MIGRATION_PATH,
                        MIGRATION_MANAGER_IFACE, "GetMigration", on_migration_state, j, "ss", "incoming", m->id);
                if (r >= 0)
                        m->migr_pending = true;
        }
        schedule_poll(j);
        return 0;
}

static void on_status(Qmp *q, json_object *reply, const char *error, void *userdata)
{
        Job *j = userdata;
        JobMigration *m = j->migration;
        json_object *status;
        const char *s;

        if (j->qmp != q || !m)
                return;
        m->status_pending = false;
        if (!reply || !json_object_object_get_ex(reply, "status", &status)) {
                migrate_in_fail(j, -EIO, NULL, "QEMU did not say how the migration goes: %s", strna(error));
                return;
        }
        s = json_object_get_string(status);
        if (streq(s, "inmigrate"))
                return;
        if (streq(s, "running")) {
                Zone *z = j->zone; /* the job lets go of it when it finished */

                /* kz-migr's record ends with the stream; the host data comes from the source,
                 * or is taken by the lease keeper if the source stops renewing without
                 * handing it over: the guest runs here, the note tells the keeper so */
                m->prepared = false;
                (void) zone_write_run_note(z, ZONE_INCOMING_RUNNING_NOTE, "");
                log_info("zone '%s': incoming migration %s complete; the zone runs here", z->name, m->id);
                job_finish(j, 0, NULL, NULL);
                zone_update_aux(z);
                return;
        }
        migrate_in_fail(j, -EIO, NULL, "the guest is %s after the migration, not running", s);
}

static int on_main_pid(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);

static void migrate_in_unit_job_done(Job *j, bool ok, const char *result)
{
        JobMigration *m = j->migration;
        _cleanup_free_ char *why = NULL;
        int r;

        if (m->stopping) {
                zone_launch_ended(j->zone);
                migrate_in_finish_failed(j);
                return;
        }
        if (!ok) {
                why = zone_boot_failure(j->zone);
                migrate_in_fail(j, -EIO, KZ_ERROR_BOOT_FAILED, "the zone did not start in migrating-in mode: %s",
                        why ?: result);
                return;
        }
        m->listening = true;
        zone_update_aux(j->zone);
        /* QEMU listens: kz-migr is told which process it is (SO_PEERCRED), so that only
         * this zone's QEMU can take the stream (all QEMUs share one user) */
        r = sd_bus_call_method_async(j->manager->bus, &j->unit_call, SYSTEMD_BUS, j->zone->unit_path,
                DBUS_PROPERTIES_IFACE, "Get", on_main_pid, j, "ss", SYSTEMD_SERVICE_IFACE, "MainPID");
        if (r < 0)
                migrate_in_fail(j, r, NULL, "cannot ask systemd for the zone's QEMU: %s", strerror(-r));
}

static void migrate_in_unit_state_changed(Job *j)
{
        Zone *z = j->zone;

        if (!j->migration->listening || j->migration->stopping || j->unit_job || j->unit_call)
                return;
        /* QEMU exits when the stream breaks off or cannot be loaded */
        if (z->active_state && (streq(z->active_state, "inactive") || streq(z->active_state, "failed"))) {
                j->migration->listening = false;
                migrate_in_fail(j, -EIO, NULL, "QEMU ended before the migration completed (see 'journalctl -u %s')",
                        z->unit);
        }
}

static int migrate_in_cancel(Job *j, sd_bus_error *error)
{
        if (j->migration->stopping)
                return sd_bus_error_setf(error, KZ_ERROR_NOT_CANCELLABLE, "the incoming migration is being stopped");
        migrate_in_fail(j, -ECANCELED, KZ_ERROR_CANCELLED, "cancelled");
        return 0;
}

const JobType job_migrate_in = {
        .kind = "migrate-in",
        .unit_job_done = migrate_in_unit_job_done,
        .unit_state_changed = migrate_in_unit_state_changed,
        .cancel = migrate_in_cancel,
        .release = migration_free,
};

static int on_prepared(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        Job *j = userdata;
        JobMigration *m = j->migration;
        _cleanup_free_ char *sock = NULL;
        const sd_bus_error *e;
        int r;

        j->unit_call = sd_bus_slot_unref(j->unit_call);
        if (j->state != JOB_RUNNING || m->stopping)
                return 0;
        if (sd_bus_message_is_method_error(reply, NULL)) {
                e = sd_bus_message_get_error(reply);
                migrate_in_fail(j, -EIO, e->name, "kz-migr did not prepare the migration: %s", e->message);
                return 0;
        }
        m->prepared = true;
        explicit_bzero(m->key, sizeof(m->key)); /* kz-migr holds it now */
        sock = manager_path(j->manager, ZONE_RUN_DIR "/%s/" ZONE_QMP_SOCKET, j->zone->name);
        if (!sock) {
                migrate_in_fail(j, -ENOMEM, NULL, "out of memory");
                return 0;
        }
        r = qmp_connect(j->manager->event, sock, NULL, NULL, NULL, &j->qmp);
        if (r < 0) {
                migrate_in_fail(j, r, NULL, "cannot reach the guest's monitor: %s", strerror(-r));
                return 0;
        }
        /* what the source waits for before it sends a byte */
        job_set_message(j, "waiting for the migration stream");
        schedule_poll(j);
        return 0;
}

static int on_main_pid(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_free_ char *sock = NULL;
        Job *j = userdata;
        JobMigration *m = j->migration;
        uint32_t pid = 0;
        int r;

        j->unit_call = sd_bus_slot_unref(j->unit_call);
        if (j->state != JOB_RUNNING || m->stopping)
                return 0;
        if (sd_bus_message_is_method_error(reply, NULL) || sd_bus_message_read(reply, "v", "u", &pid) < 0 ||
            pid == 0) {
                migrate_in_fail(j, -ESRCH, NULL, "systemd does not say which process is the zone's QEMU");
                return 0;
        }
        sock = incoming_socket(j->zone);
        if (!sock) {
                migrate_in_fail(j, -ENOMEM, NULL, "out of memory");
                return 0;
        }
        job_set_message(j, "preparing kz-migr for migration %s", m->id);
        r = sd_bus_message_new_method_call(j->manager->bus, &call, MIGRATION_BUS_NAME, MIGRATION_PATH,
                MIGRATION_MANAGER_IFACE, "PrepareIncoming");
        if (r >= 0)
                r = sd_bus_message_append(call, "s", m->id);
        if (r >= 0)
                r = sd_bus_message_append_array(call, 'y', m->key, sizeof(m->key));
        if (r >= 0)
                r = sd_bus_message_append(call, "sst", m->cipher, sock, m->timeout_usec);
        if (r >= 0)
                r = sd_bus_message_append(call, "a{sv}", 2, "Channels", "u", m->channels, "PeerPid", "u", pid);
        if (r >= 0)
                r = sd_bus_call_async(j->manager->bus, &j->unit_call, call, on_prepared, j, 0);
        if (r < 0)
                migrate_in_fail(j, r, NULL, "cannot ask kz-migr to prepare the migration: %s", strerror(-r));
        return 0;
}

static void migrate_in_begin(Job *j)
{
        JobMigration *m = j->migration;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        if (m->was_configured) {
                /* the source holds the zone: installed here without a claim */
                r = zone_set_index_state(j->zone, ZONE_STATE_INSTALLED, &e);
                if (r < 0) {
                        migrate_in_fail(j, r, e.name, "%s", e.message ?: strerror(-r));
                        sd_bus_error_free(&e);
                        return;
                }
        }
        (void) zone_write_run_note(j->zone, ZONE_INCOMING_RUNNING_NOTE, NULL);
        r = zone_request_incoming(j->zone, m->id, m->channels);
        if (r < 0) {
                migrate_in_fail(j, r, NULL, "cannot write the zone's launch request: %s", strerror(-r));
                return;
        }
        r = job_start_unit(j, "StartUnit");
        if (r < 0)
                migrate_in_fail(j, r, KZ_ERROR_BOOT_FAILED, "cannot ask systemd to start %s: %s", j->zone->unit,
                        strerror(-r));
}

/* Zone.PrepareIncoming(a{sv} options) -> o job; options: MigrationId (s), Key (ay,
 * 32 bytes), Cipher (s), Channels (u, 1–64, default 1), TimeoutUSec (t, default 60 s). */
int method_prepare_incoming(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(zone_config_freep) ZoneConfig *c = NULL;
        Zone *z = userdata;
        JobMigration *m;
        const char *id = NULL, *cipher = NULL;
        const void *key = NULL;
        size_t key_size = 0;
        uint32_t channels = 1;
        uint64_t timeout = MIGRATE_IN_TIMEOUT_USEC;
        Job *j;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const char *k;

                r = sd_bus_message_read(msg, "s", &k);
                if (r < 0)
                        return r;
                if (streq(k, "MigrationId"))
                        r = bus_read_option(msg, "PrepareIncoming", k, "s", &id, error);
                else if (streq(k, "Cipher"))
                        r = bus_read_option(msg, "PrepareIncoming", k, "s", &cipher, error);
                else if (streq(k, "Channels"))
                        r = bus_read_option(msg, "PrepareIncoming", k, "u", &channels, error);
                else if (streq(k, "TimeoutUSec"))
                        r = bus_read_option(msg, "PrepareIncoming", k, "t", &timeout, error);
                else if (streq(k, "Key")) {
                        r = sd_bus_message_enter_container(msg, 'v', "ay");
                        if (r < 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "PrepareIncoming: option Key must be of type ay");
                        r = sd_bus_message_read_array(msg, 'y', &key, &key_size);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(msg);
                } else
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                "PrepareIncoming: unknown option '%s'", k);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        /* the id names the migration in kz-migr's records and logs, and QEMU's note */
        if (isempty(id) || strlen(id) > 128 || strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                          "0123456789-_.") != strlen(id))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                        "PrepareIncoming: MigrationId must be 1–128 letters, digits, '-', '_' or '.'");
        if (key_size != MIGRATE_IN_KEY_SIZE)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "PrepareIncoming: Key must be %u bytes",
                        MIGRATE_IN_KEY_SIZE);
        if (isempty(cipher))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "PrepareIncoming: Cipher is missing");
        if (channels < 1 || channels > LAUNCH_INCOMING_CHANNELS_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "PrepareIncoming: Channels must be "
                        "1–%u", LAUNCH_INCOMING_CHANNELS_MAX);
        if (timeout < 1000000 || timeout > 3600ull * 1000000)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                        "PrepareIncoming: TimeoutUSec must be 1 s to 1 h");
        r = bus_check_authorized(z, msg, "migrate", error);
        if (r < 0)
                return r;
        r = zone_check_idle(z, error);
        if (r < 0)
                return r;
        if (z->state != ZONE_STATE_INSTALLED && z->state != ZONE_STATE_CONFIGURED)
                return sd_bus_error_setf(error, KZ_ERROR_WRONG_STATE, "zone is %s; it must be configured or "
                        "installed to take an incoming migration", zone_state_to_string(z->state));
        r = maintenance_check(z->manager, z->name, "migrate in", error);
        if (r < 0)
                return r;
        r = zone_need_systemd(z, error);
        if (r < 0)
                return r;
        r = zone_load_kz_config(z, &c, error);
        if (r < 0)
                return r;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->id = strdup(id);
        m->cipher = strdup(cipher);
        if (!m->id || !m->cipher) {
                free(m->id);
                free(m->cipher);
                free(m);
                return -ENOMEM;
        }
        memcpy(m->key, key, MIGRATE_IN_KEY_SIZE);
        explicit_bzero((void *) key, key_size); /* best effort: sd-bus's copy of the message */
        m->channels = channels;
        m->timeout_usec = timeout;
        m->was_configured = z->state == ZONE_STATE_CONFIGURED;
        r = job_new(z, &job_migrate_in, msg, error, &j);
        if (r < 0) {
                explicit_bzero(m->key, sizeof(m->key));
                free(m->id);
                free(m->cipher);
                free(m);
                return r;
        }
        j->migration = m;
        log_info("zone '%s': incoming migration %s (%s, %" PRIu32 " channel(s))", z->name, id, cipher, channels);
        return job_start(j, msg, migrate_in_begin);
}
