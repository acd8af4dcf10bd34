/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.kzones.Migration1.Manager (bus-interfaces/org.kzones.Migration1.Manager.xml). */
#include <inttypes.h>

#include "log.h"
#include "migration.h"

/* Keys come and go through here: only root (the restarter, zoneadm as root, or a
 * remote host's root over SSH) may hand one over. What the bus daemon recorded
 * when the caller connected counts, nothing looked up afterwards. */
static int check_root(sd_bus_message *msg, const char *what, sd_bus_error *error)
{
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;
        int r;

        r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "cannot tell who is calling: %s", strerror(-r));
        if (uid != 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "permission denied: only root may %s", what);
        return 0;
}

static int reply_error(sd_bus_error *error, int r, const KzError *e)
{
        const char *msg = kz_error_message(e, r);

        switch (-r) {
        case EEXIST:
                return sd_bus_error_set(error, KZ_ERROR_MIGRATION_EXISTS, msg);
        case ENOENT:
                return sd_bus_error_set(error, KZ_ERROR_MIGRATION_NOT_FOUND, msg);
        case EPROTONOSUPPORT:
                return sd_bus_error_set(error, KZ_ERROR_CIPHER_NOT_SUPPORTED, msg);
        case EMFILE:
                return sd_bus_error_set(error, KZ_ERROR_TOO_MANY_MIGRATIONS, msg);
        case EINVAL:
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, msg);
        default:
                return sd_bus_error_set_errnof(error, -r, "%s", msg);
        }
}

typedef struct Options {
        unsigned channels;
        uid_t socket_user;
        pid_t peer_pid; /* incoming: the process that must listen on the target's socket, 0: any */
} Options;

static int read_options(sd_bus_message *msg, bool outgoing, Options *o, sd_bus_error *error)
{
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const char *name;
                uint32_t v;

                r = sd_bus_message_read(msg, "s", &name);
                if (r < 0)
                        return r;
                if (!streq(name, "Channels") && !(outgoing && streq(name, "SocketUser")) &&
                    !(!outgoing && streq(name, "PeerPid")))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "unknown option '%s'", name);
                r = sd_bus_message_read(msg, "v", "u", &v);
                if (r < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "option '%s' takes a 'u'", name);
                if (streq(name, "Channels"))
                        o->channels = v;
                else if (streq(name, "PeerPid"))
                        o->peer_pid = (pid_t) v;
                else
                        o->socket_user = (uid_t) v;
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(msg);
}

/* The key as it came: the message's copy is wiped in place once it is in kz-migr's
 * locked page (sd-bus's buffers are the caller's heap; best effort). */
static void wipe(const void *p, size_t n)
{
        if (p)
                explicit_bzero((void *) p, n);
}

static int method_prepare_incoming(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Manager *m = userdata;
        const char *id, *cipher, *path;
        const void *key = NULL;
        size_t key_size = 0;
        uint64_t timeout;
        Options o = { .channels = 1 };
        KzError e = {};
        int r;

        r = sd_bus_message_read(msg, "s", &id);
        if (r >= 0)
                r = sd_bus_message_read_array(msg, 'y', &key, &key_size);
        if (r >= 0)
                r = sd_bus_message_read(msg, "sst", &cipher, &path, &timeout);
        if (r >= 0)
                r = read_options(msg, false, &o, error);
        if (r >= 0)
                r = check_root(msg, "prepare an incoming migration", error);
        if (r >= 0) {
                MigrCipher c = migr_cipher_from_string(cipher);

                if (c < 0)
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "unknown cipher '%s'", cipher);
                else {
                        r = manager_prepare_incoming(m, id, key, key_size, c, path, timeout, o.channels,
                                o.peer_pid, &e);
                        if (r < 0)
                                r = reply_error(error, r, &e);
                }
        }
        wipe(key, key_size);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_start_outgoing(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        Manager *m = userdata;
        _cleanup_free_ char *path = NULL;
        const char *id, *cipher, *host;
        const void *key = NULL;
        size_t key_size = 0;
        uint16_t port;
        uint64_t timeout;
        Options o = { .channels = 1 };
        KzError e = {};
        int r;

        r = sd_bus_message_read(msg, "s", &id);
        if (r >= 0)
                r = sd_bus_message_read_array(msg, 'y', &key, &key_size);
        if (r >= 0)
                r = sd_bus_message_read(msg, "ssqt", &cipher, &host, &port, &timeout);
        if (r >= 0)
                r = read_options(msg, true, &o, error);
        if (r >= 0)
                r = check_root(msg, "start an outgoing migration", error);
        if (r >= 0) {
                MigrCipher c = migr_cipher_from_string(cipher);

                if (c < 0)
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "unknown cipher '%s'", cipher);
                else {
                        r = manager_start_outgoing(m, id, key, key_size, c, host, port, timeout, o.channels,
                                o.socket_user, &path, &e);
                        if (r < 0)
                                r = reply_error(error, r, &e);
                }
        }
        wipe(key, key_size);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "s", path);
}

static int cancel(sd_bus_message *msg, Manager *m, MigrationDirection d, sd_bus_error *error)
{
        const char *id;
        KzError e = {};
        int r;

        r = sd_bus_message_read(msg, "s", &id);
        if (r < 0)
                return r;
        r = check_root(msg, "cancel a migration", error);
        if (r < 0)
                return r;
        r = manager_cancel(m, d, id, &e);
        if (r < 0)
                return reply_error(error, r, &e);
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_cancel_incoming(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return cancel(msg, userdata, MIGRATION_INCOMING, error);
}

static int method_cancel_outgoing(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return cancel(msg, userdata, MIGRATION_OUTGOING, error);
}

static int method_list_ciphers(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **l = NULL;
        Manager *m = userdata;
        KzError e = {};
        int r;

        r = migr_ciphers_offered(m->root, &l, &e);
        if (r < 0)
                return sd_bus_error_set(error, KZ_ERROR_INVALID_CONFIGURATION, kz_error_message(&e, r));
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(reply, l);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_migration(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        const char *direction, *id;
        MigrationDirection d;
        MigrationInfo info;
        Migration *mig;
        int r;

        r = sd_bus_message_read(msg, "ss", &direction, &id);
        if (r < 0)
                return r;
        d = migration_direction_from_string(direction);
        if (d < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                        "'%s' is not a direction: incoming or outgoing", direction);
        mig = manager_get(userdata, d, id);
        if (!mig)
                return sd_bus_error_setf(error, KZ_ERROR_MIGRATION_NOT_FOUND, "no %s migration '%s'", direction, id);
        migration_info(mig, &info);
        return sd_bus_reply_method_return(msg, "ssuutts", migration_state_to_string(info.state),
                migr_cipher_to_string(info.cipher), info.channels_open, info.channels_total, info.bytes_sent,
                info.bytes_received, info.error);
}

static int method_list_migrations(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        Migration *mig;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssss)");
        if (r < 0)
                return r;
        for (MigrationDirection d = 0; d < _MIGRATION_DIRECTION_MAX; d++)
                HASHMAP_FOREACH(mig, d == MIGRATION_INCOMING ? m->incoming : m->outgoing, i) {
                        MigrationInfo info;

                        migration_info(mig, &info);
                        r = sd_bus_message_append(reply, "(ssss)", migration_direction_to_string(d), mig->id,
                                migration_state_to_string(info.state), migr_cipher_to_string(info.cipher));
                        if (r < 0)
                                return r;
                }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

void bus_emit_finished(Manager *m, Migration *mig, const MigrationInfo *info)
{
        int r = sd_bus_emit_signal(m->bus, MIGRATION_PATH, MIGRATION_MANAGER_IFACE, "MigrationFinished", "ssssutt",
                migration_direction_to_string(mig->direction), mig->id, migration_state_to_string(info->state),
                info->error, info->channels_total, info->bytes_sent, info->bytes_received);

        if (r < 0)
                log_warning("cannot announce the end of migration '%s': %s", mig->id, strerror(-r));
}

const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("PrepareIncoming",
                SD_BUS_ARGS("s", migration_id, "ay", key, "s", cipher, "s", socket_path, "t", timeout_usec, "a{sv}",
                        options),
                SD_BUS_NO_RESULT, method_prepare_incoming, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CancelIncoming", SD_BUS_ARGS("s", migration_id), SD_BUS_NO_RESULT,
                method_cancel_incoming, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartOutgoing",
                SD_BUS_ARGS("s", migration_id, "ay", key, "s", cipher, "s", host, "q", port, "t", timeout_usec,
                        "a{sv}", options),
                SD_BUS_RESULT("s", socket_path), method_start_outgoing, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CancelOutgoing", SD_BUS_ARGS("s", migration_id), SD_BUS_NO_RESULT,
                method_cancel_outgoing, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListCiphers", SD_BUS_NO_ARGS, SD_BUS_RESULT("as", ciphers), method_list_ciphers,
                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetMigration", SD_BUS_ARGS("s", direction, "s", migration_id),
                SD_BUS_RESULT("s", state, "s", cipher, "u", channels_open, "u", channels_total, "t", bytes_sent, "t",
                        bytes_received, "s", error),
                method_get_migration, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListMigrations", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssss)", migrations),
                method_list_migrations, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("MigrationFinished",
                SD_BUS_ARGS("s", direction, "s", migration_id, "s", state, "s", error, "u", channels, "t", bytes_sent,
                        "t", bytes_received),
                0),
        SD_BUS_VTABLE_END,
};

int bus_register(Manager *m)
{
        return sd_bus_add_object_vtable(m->bus, NULL, MIGRATION_PATH, MIGRATION_MANAGER_IFACE, manager_vtable, m);
}
