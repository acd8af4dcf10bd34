/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <pthread.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-error.h"
#include "hashmap.h"
#include "kz-error.h"
#include "kzones-bus.h"
#include "tls-relay.h"


/* Bounds on what a caller or a peer can make kz-migr hold (docs/migration.md). */
#define MIGRATIONS_MAX 32u               /* prepared or running, each direction */
#define MIGRATION_CHANNELS_MAX 64u
#define HANDSHAKES_MAX 64u               /* unauthenticated connections on 8102 at once */
#define HANDSHAKE_TIMEOUT_USEC (10u * 1000000u)
#define CONNECT_TIMEOUT_USEC (10u * 1000000u)
#define MIGRATION_TIMEOUT_MAX_USEC (24ull * 3600u * 1000000u)
#define FINISHED_KEPT_USEC (600ull * 1000000u) /* a finished migration stays visible this long */
#define CHANNEL_STACK_SIZE (512u * 1024u)

/* A cipher as zoneadm migrate -c names it: the TLS ones, and none. */
typedef enum MigrCipher {
        MIGR_CIPHER_AES_128_GCM,
        MIGR_CIPHER_AES_256_GCM,
        MIGR_CIPHER_AES_128_CCM,
        MIGR_CIPHER_CHACHA20_POLY1305,
        MIGR_CIPHER_NONE,
        _MIGR_CIPHER_MAX,
        _MIGR_CIPHER_INVALID = -EINVAL,
} MigrCipher;

const char *migr_cipher_to_string(MigrCipher c);
MigrCipher migr_cipher_from_string(const char *s);
/* The TLS cipher behind it; _TLS_RELAY_CIPHER_INVALID for none, or where this
 * GnuTLS has no TLS 1.3 PSK suite for it. */
TlsRelayCipher migr_cipher_tls(MigrCipher c);
/* What this host offers, in the preference order, narrowed by Ciphers= in
 * ROOT/etc/kzones/migration.conf (a strv; e: why the file was not used). */
int migr_ciphers_offered(const char *root, char ***ret, KzError *e);
bool migr_cipher_offered(const char *root, MigrCipher c);

typedef enum MigrationDirection {
        MIGRATION_INCOMING,
        MIGRATION_OUTGOING,
        _MIGRATION_DIRECTION_MAX,
        _MIGRATION_DIRECTION_INVALID = -EINVAL,
} MigrationDirection;

typedef enum MigrationState {
        MIGRATION_WAITING,   /* prepared, no channel yet */
        MIGRATION_RUNNING,   /* at least one channel authenticated and relaying */
        MIGRATION_DONE,      /* every channel ended cleanly */
        MIGRATION_FAILED,
        MIGRATION_CANCELLED,
        MIGRATION_EXPIRED,   /* no channel came in time */
        _MIGRATION_STATE_MAX,
        _MIGRATION_STATE_INVALID = -EINVAL,
} MigrationState;

const char *migration_direction_to_string(MigrationDirection d);
MigrationDirection migration_direction_from_string(const char *s);
const char *migration_state_to_string(MigrationState s);
MigrationState migration_state_from_string(const char *s);

typedef struct Manager Manager;
typedef struct Channel Channel;

typedef struct Migration {
        Manager *manager;
        unsigned n_ref; /* the table's, and one per channel thread */
        char *id;
        MigrationDirection direction;
        MigrCipher cipher;
        uint8_t *key; /* a page of its own, locked in memory; NULL once wiped */
        char *socket_path; /* incoming: the target QEMU's; outgoing: ours */
        pid_t peer_pid;    /* incoming: the process listening on socket_path (SO_PEERCRED), 0: any */
        char *host;
        uint16_t port;
        unsigned channels; /* QEMU's main channel and its multifd channels, all authenticated */
        uint64_t timeout_usec;
        uid_t socket_uid; /* outgoing: who may connect to socket_path */

        /* under manager->lock */
        MigrationState state;
        char *error;
        unsigned channels_open, channels_total;
        uint64_t bytes_sent, bytes_received; /* plain text, into and out of the wire */
        bool main_channel_connected;          /* incoming, multifd: QEMU's main channel reached the target */

        int listen_fd; /* outgoing */
        sd_event_source *listen_source, *timer_source;
        bool finished_announced;
} Migration;

struct Channel {
        Manager *manager;
        Migration *migration; /* incoming: set once authenticated */
        int fd;               /* the network side, owned here: shut down to stop the thread */
        int plain_fd;         /* QEMU's side */
        pthread_t thread;
        bool handshaking, evicted;
        uint64_t deadline;
        char peer[64];
        char identity[TLS_RELAY_IDENTITY_MAX]; /* what the peer named, for the log */
        bool identity_known;
        Channel *prev, *next;
};

struct Manager {
        sd_event *event;
        sd_bus *bus;
        char *root;        /* KZONES_ROOT, for the configuration file */
        char *runtime_dir; /* where the outgoing sockets live */
        int listen_fd;     /* 8102, from systemd */
        sd_event_source *listen_source;
        int wake_fd;       /* an eventfd: a channel thread ended */
        sd_event_source *wake_source;
        uint64_t handshake_timeout_usec;

        pthread_mutex_t lock;
        Hashmap *incoming, *outgoing; /* by id */
        Channel *channels;            /* every running channel thread, newest first */
        Channel *ended;               /* threads that ended, to be joined by the loop */
        unsigned n_handshakes;
};

int manager_new(sd_event *e, sd_bus *bus, const char *root, const char *runtime_dir, int listen_fd, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m)
{
        if (*m)
                *m = manager_free(*m);
}

/* The bus's view; each returns -errno with a sentence in e. */
int manager_prepare_incoming(Manager *m, const char *id, const void *key, size_t key_size, MigrCipher cipher,
                const char *socket_path, uint64_t timeout_usec, unsigned channels, pid_t peer_pid, KzError *e);
int manager_start_outgoing(Manager *m, const char *id, const void *key, size_t key_size, MigrCipher cipher,
                const char *host, uint16_t port, uint64_t timeout_usec, unsigned channels, uid_t socket_uid,
                char **ret_socket_path, KzError *e);
int manager_cancel(Manager *m, MigrationDirection d, const char *id, KzError *e);
Migration *manager_get(Manager *m, MigrationDirection d, const char *id);

/* A snapshot, taken under the lock. */
typedef struct MigrationInfo {
        MigrationState state;
        MigrCipher cipher;
        unsigned channels_open, channels_total;
        uint64_t bytes_sent, bytes_received;
        char error[256];
} MigrationInfo;
void migration_info(Migration *mig, MigrationInfo *ret);

/* migration.c, for channel.c */
void migration_unref(Migration *mig); /* main thread only */
static inline void migration_unrefp(Migration **mig)
{
        if (*mig)
                migration_unref(*mig);
}
void migration_wipe_key(Migration *mig);
bool migration_is_active(Migration *mig);
void migration_stop_locked(Migration *mig, MigrationState state, const char *error);
void manager_wake(Manager *m);
void manager_settle_all(Manager *m);

/* channel.c: the threads that authenticate and relay */
int channel_on_network(sd_event_source *s, int fd, uint32_t revents, void *userdata);
int channel_on_qemu(sd_event_source *s, int fd, uint32_t revents, void *userdata);
void channel_reap(Manager *m);
void channel_join_all(Manager *m);

/* The bus (migration-dbus.c) */
int bus_register(Manager *m);
void bus_emit_finished(Manager *m, Migration *mig, const MigrationInfo *info);
extern const sd_bus_vtable manager_vtable[];
