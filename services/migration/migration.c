/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kz-migr's state: the ciphers this host offers, the migrations it prepared
 * (incoming) or started (outgoing), their keys, expiry and end. The channel
 * threads that move the bytes are in channel.c; the bus in migration-dbus.c. */
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "log.h"
#include "migr-proof.h"
#include "migration.h"
#include "zone-store.h"

/* ---- ciphers ------------------------------------------------------------------------------ */

/* The preference order (docs/migration.md): the enum's. AES-GCM first, the
 * fastest on hosts with AES instructions; CCM and ChaCha20 after it by the speed
 * measured here; none last, never chosen unless asked for. */
static const char *const migr_cipher_table[_MIGR_CIPHER_MAX] = {
        [MIGR_CIPHER_AES_128_GCM] = "aes-128-gcm",
        [MIGR_CIPHER_AES_256_GCM] = "aes-256-gcm",
        [MIGR_CIPHER_AES_128_CCM] = "aes-128-ccm",
        [MIGR_CIPHER_CHACHA20_POLY1305] = "chacha20-poly1305",
        [MIGR_CIPHER_NONE] = "none",
};

DEFINE_STRING_TABLE(migr_cipher, MigrCipher, _MIGR_CIPHER_MAX)

static const char *const migration_direction_table[_MIGRATION_DIRECTION_MAX] = {
        [MIGRATION_INCOMING] = "incoming",
        [MIGRATION_OUTGOING] = "outgoing",
};

DEFINE_STRING_TABLE(migration_direction, MigrationDirection, _MIGRATION_DIRECTION_MAX)

static const char *const migration_state_table[_MIGRATION_STATE_MAX] = {
        [MIGRATION_WAITING] = "waiting",
        [MIGRATION_RUNNING] = "running",
        [MIGRATION_DONE] = "done",
        [MIGRATION_FAILED] = "failed",
        [MIGRATION_CANCELLED] = "cancelled",
        [MIGRATION_EXPIRED] = "expired",
};

DEFINE_STRING_TABLE(migration_state, MigrationState, _MIGRATION_STATE_MAX)

TlsRelayCipher migr_cipher_tls(MigrCipher c)
{
        switch (c) {
        case MIGR_CIPHER_AES_128_GCM:
                return TLS_RELAY_AES_128_GCM;
        case MIGR_CIPHER_AES_128_CCM:
                return TLS_RELAY_AES_128_CCM;
        case MIGR_CIPHER_CHACHA20_POLY1305:
                return TLS_RELAY_CHACHA20_POLY1305;
        case MIGR_CIPHER_AES_256_GCM:
                /* TLS_AES_256_GCM_SHA384: GnuTLS before 3.8.10 binds an external PSK to
                 * SHA-256 only, and then never picks a SHA-384 suite (docs/migration.md) */
        case MIGR_CIPHER_NONE:
        case _MIGR_CIPHER_MAX:
        case _MIGR_CIPHER_INVALID:
                break;
        }
        return _TLS_RELAY_CIPHER_INVALID;
}

/* Whether this GnuTLS builds the cipher's priority string at all (a library built
 * without CCM, or in FIPS mode without ChaCha20, says no). */
static bool migr_cipher_supported(MigrCipher c)
{
        gnutls_priority_t p;
        TlsRelayCipher t;

        if (c == MIGR_CIPHER_NONE)
                return true;
        t = migr_cipher_tls(c);
        if (t < 0 || gnutls_priority_init(&p, tls_relay_cipher_priority(t), NULL) < 0)
                return false;
        gnutls_priority_deinit(p);
        return true;
}

/* Ciphers= of ROOT/etc/kzones/migration.conf as a bit set; all when the file or the
 * setting is missing. */
static int configured_ciphers(const char *root, unsigned *ret, KzError *e)
{
        _cleanup_free_ char *path = path_join(root, "/etc/kzones/migration.conf");
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        unsigned set = (1u << _MIGR_CIPHER_MAX) - 1u;

        if (!path)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f) {
                *ret = set;
                return errno == ENOENT ? 0 : kz_error_set(e, errno, "cannot read %s: %s", path, strerror(errno));
        }
        while (getline(&line, &size, f) >= 0) {
                char *v = line + strspn(line, " \t"), *save = NULL;

                v[strcspn(v, "\r\n")] = 0;
                if (!startswith(v, "Ciphers="))
                        continue; /* comments, [Migration], settings of others */
                set = 0;
                for (char *w = strtok_r(v + strlen("Ciphers="), " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
                        MigrCipher c = migr_cipher_from_string(w);

                        if (c < 0)
                                return kz_error_set(e, EINVAL, "%s: Ciphers= names an unknown cipher '%s'.", path, w);
                        set |= 1u << c;
                }
        }
        *ret = set;
        return 0;
}

int migr_ciphers_offered(const char *root, char ***ret, KzError *e)
{
        _cleanup_strv_free_ char **l = calloc(_MIGR_CIPHER_MAX + 1, sizeof(char *));
        unsigned set;
        size_t n = 0;
        int r;

        if (!l)
                return -ENOMEM;
        r = configured_ciphers(root, &set, e);
        if (r < 0)
                return r;
        for (MigrCipher c = 0; c < _MIGR_CIPHER_MAX; c++) {
                if (!(set & (1u << c)) || !migr_cipher_supported(c))
                        continue;
                l[n] = strdup(migr_cipher_to_string(c));
                if (!l[n++])
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

bool migr_cipher_offered(const char *root, MigrCipher c)
{
        unsigned set;

        return c >= 0 && c < _MIGR_CIPHER_MAX && configured_ciphers(root, &set, NULL) >= 0 && (set & (1u << c)) &&
               migr_cipher_supported(c);
}

/* ---- keys --------------------------------------------------------------------------------- */

/* A key gets a page of its own: locked (never swapped), left out of core dumps,
 * zeroed and unmapped when the migration ends. */
static uint8_t *key_new(const void *key)
{
        size_t page = (size_t) sysconf(_SC_PAGESIZE);
        uint8_t *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED)
                return NULL;
        (void) madvise(p, page, MADV_DONTDUMP);
        if (mlock(p, page) < 0)
                log_warning("cannot lock a migration key in memory: %s", strerror(errno));
        memcpy(p, key, TLS_RELAY_KEY_SIZE);
        return p;
}

void migration_wipe_key(Migration *mig)
{
        if (!mig->key)
                return;
        explicit_bzero(mig->key, TLS_RELAY_KEY_SIZE);
        (void) munmap(mig->key, (size_t) sysconf(_SC_PAGESIZE));
        mig->key = NULL;
}

/* ---- migrations --------------------------------------------------------------------------- */

static Migration *migration_free(Migration *mig)
{
        if (!mig)
                return NULL;
        migration_wipe_key(mig);
        sd_event_source_disable_unref(mig->listen_source);
        sd_event_source_disable_unref(mig->timer_source);
        if (mig->listen_fd >= 0) {
                (void) close(mig->listen_fd);
                if (mig->socket_path)
                        (void) unlink(mig->socket_path);
        }
        free(mig->id);
        free(mig->socket_path);
        free(mig->host);
        free(mig->error);
        free(mig);
        return NULL;
}

/* Main thread only (it may free event sources). */
void migration_unref(Migration *mig)
{
        bool last;

        if (!mig)
                return;
        pthread_mutex_lock(&mig->manager->lock);
        last = --mig->n_ref == 0;
        pthread_mutex_unlock(&mig->manager->lock);
        if (last)
                migration_free(mig);
}

static bool state_is_final(MigrationState s)
{
        return s != MIGRATION_WAITING && s != MIGRATION_RUNNING;
}

bool migration_is_active(Migration *mig)
{
        return !state_is_final(mig->state);
}

/* Under the lock, from any thread: the end of a migration. Its key is wiped, its
 * channels are shut down (their threads end and are joined by the loop), and the
 * loop is woken to tell the bus. */
void migration_stop_locked(Migration *mig, MigrationState state, const char *error)
{
        Manager *m = mig->manager;

        if (state_is_final(mig->state))
                return;
        mig->state = state;
        if (error && !mig->error)
                mig->error = strdup(error);
        migration_wipe_key(mig);
        for (Channel *c = m->channels; c; c = c->next)
                if (c->migration == mig) {
                        (void) shutdown(c->fd, SHUT_RDWR);
                        if (c->plain_fd >= 0)
                                (void) shutdown(c->plain_fd, SHUT_RDWR);
                }
        manager_wake(m);
}

static Hashmap *table(Manager *m, MigrationDirection d)
{
        return d == MIGRATION_INCOMING ? m->incoming : m->outgoing;
}

Migration *manager_get(Manager *m, MigrationDirection d, const char *id)
{
        return hashmap_get(table(m, d), id);
}

void migration_info(Migration *mig, MigrationInfo *ret)
{
        pthread_mutex_lock(&mig->manager->lock);
        *ret = (MigrationInfo) {
                .state = mig->state,
                .cipher = mig->cipher,
                .channels_open = mig->channels_open,
                .channels_total = mig->channels_total,
                .bytes_sent = __atomic_load_n(&mig->bytes_sent, __ATOMIC_RELAXED),
                .bytes_received = __atomic_load_n(&mig->bytes_received, __ATOMIC_RELAXED),
        };
        (void) snprintf(ret->error, sizeof(ret->error), "%s", strempty(mig->error));
        pthread_mutex_unlock(&mig->manager->lock);
}

static void migration_forget(Migration *mig)
{
        Manager *m = mig->manager;

        if (hashmap_get(table(m, mig->direction), mig->id) != mig)
                return;
        pthread_mutex_lock(&m->lock);
        (void) hashmap_remove(table(m, mig->direction), mig->id);
        pthread_mutex_unlock(&m->lock);
        migration_unref(mig);
}

static int on_forget(sd_event_source *s, uint64_t usec, void *userdata)
{
        migration_forget(userdata);
        return 0;
}

/* Main thread: what follows the end of a migration, once. The outgoing socket
 * goes, the bus hears of it, the record stays a while for GetMigration. */
static void migration_settle(Migration *mig)
{
        MigrationInfo info;

        if (mig->finished_announced)
                return;
        migration_info(mig, &info);
        if (!state_is_final(info.state))
                return;
        mig->finished_announced = true;
        mig->listen_source = sd_event_source_disable_unref(mig->listen_source);
        if (mig->listen_fd >= 0) {
                mig->listen_fd = safe_close_fd(mig->listen_fd);
                (void) unlink(mig->socket_path);
        }
        mig->timer_source = sd_event_source_disable_unref(mig->timer_source);
        (void) sd_event_add_time_relative(mig->manager->event, &mig->timer_source, CLOCK_MONOTONIC,
                FINISHED_KEPT_USEC, 0, on_forget, mig);
        if (info.state == MIGRATION_DONE)
                log_info("migration '%s' (%s): done, %" PRIu64 " bytes sent and %" PRIu64
                         " received over %u channel(s)", mig->id, migration_direction_to_string(mig->direction),
                        info.bytes_sent, info.bytes_received, info.channels_total);
        else
                log_notice("migration '%s' (%s): %s%s%s", mig->id, migration_direction_to_string(mig->direction),
                        migration_state_to_string(info.state), info.error[0] ? ": " : "", info.error);
        bus_emit_finished(mig->manager, mig, &info);
}

void manager_settle_all(Manager *m)
{
        Migration *mig;

        for (MigrationDirection d = 0; d < _MIGRATION_DIRECTION_MAX; d++)
                HASHMAP_FOREACH(mig, table(m, d), i)
                        migration_settle(mig);
}

static int on_expire(sd_event_source *s, uint64_t usec, void *userdata)
{
        Migration *mig = userdata;
        char why[128];

        (void) snprintf(why, sizeof(why), "no channel came within %" PRIu64 " s", mig->timeout_usec / 1000000u);
        pthread_mutex_lock(&mig->manager->lock);
        if (mig->state == MIGRATION_WAITING)
                migration_stop_locked(mig, MIGRATION_EXPIRED, why);
        pthread_mutex_unlock(&mig->manager->lock);
        migration_settle(mig);
        return 0;
}

/* Room for one more in a direction's table: finished records go first. */
static int make_room(Manager *m, MigrationDirection d, const char *id, KzError *e)
{
        Migration *old = hashmap_get(table(m, d), id), *mig;
        unsigned active = 0;
        Migration *finished[MIGRATIONS_MAX * 2];
        size_t n = 0;

        if (old && migration_is_active(old))
                return kz_error_set(e, EEXIST, "migration '%s' is %s already.", id,
                        d == MIGRATION_INCOMING ? "prepared" : "started");
        if (old)
                migration_forget(old);
        HASHMAP_FOREACH(mig, table(m, d), i) {
                if (migration_is_active(mig))
                        active++;
                else if (n < ELEMENTSOF(finished))
                        finished[n++] = mig;
        }
        if (active >= MIGRATIONS_MAX)
                return kz_error_set(e, EMFILE, "%u %s migrations at once already.", active,
                        migration_direction_to_string(d));
        if (hashmap_size(table(m, d)) >= ELEMENTSOF(finished))
                for (size_t i = 0; i < n; i++)
                        migration_forget(finished[i]);
        return 0;
}

static int migration_new(Manager *m, MigrationDirection d, const char *id, const void *key, size_t key_size,
                MigrCipher cipher, uint64_t timeout_usec, unsigned channels, Migration **ret, KzError *e)
{
        _cleanup_(migration_unrefp) Migration *mig = NULL;
        int r;

        if (!migr_id_is_valid(id))
                return kz_error_set(e, EINVAL, "'%s' is not a valid migration id (1 to 63 of A-Z a-z 0-9 . _ -).", id);
        if (key_size != TLS_RELAY_KEY_SIZE)
                return kz_error_set(e, EINVAL, "a migration key has %u bytes, not %zu.", TLS_RELAY_KEY_SIZE, key_size);
        if (cipher < 0 || !migr_cipher_offered(m->root, cipher))
                return kz_error_set(e, EPROTONOSUPPORT, "cipher %s not supported by this host.",
                        strna(migr_cipher_to_string(cipher)));
        if (timeout_usec == 0 || timeout_usec > MIGRATION_TIMEOUT_MAX_USEC)
                return kz_error_set(e, EINVAL, "a timeout of %" PRIu64 " µs: it must be more than 0 and at most a day.",
                        timeout_usec);
        if (channels == 0 || channels > MIGRATION_CHANNELS_MAX)
                return kz_error_set(e, EINVAL, "%u channels: a migration has 1 to %u.", channels,
                        MIGRATION_CHANNELS_MAX);
        r = make_room(m, d, id, e);
        if (r < 0)
                return r;

        mig = calloc(1, sizeof(*mig));
        if (!mig)
                return -ENOMEM;
        *mig = (Migration) {
                .manager = m,
                .n_ref = 1,
                .direction = d,
                .cipher = cipher,
                .channels = channels,
                .timeout_usec = timeout_usec,
                .listen_fd = -EBADF,
                .state = MIGRATION_WAITING,
        };
        mig->id = strdup(id);
        mig->key = key_new(key);
        if (!mig->id || !mig->key)
                return -ENOMEM;
        r = sd_event_add_time_relative(m->event, &mig->timer_source, CLOCK_MONOTONIC, timeout_usec, 0, on_expire, mig);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(mig);
        return 0;
}

static int migration_publish(Manager *m, Migration *mig)
{
        int r;

        pthread_mutex_lock(&m->lock);
        r = hashmap_put(table(m, mig->direction), mig->id, mig);
        pthread_mutex_unlock(&m->lock);
        return r;
}

int manager_prepare_incoming(Manager *m, const char *id, const void *key, size_t key_size, MigrCipher cipher,
                const char *socket_path, uint64_t timeout_usec, unsigned channels, pid_t peer_pid, KzError *e)
{
        _cleanup_(migration_unrefp) Migration *mig = NULL;
        struct sockaddr_un sa;
        int r;

        if (!socket_path || socket_path[0] != '/' || strlen(socket_path) >= sizeof(sa.sun_path))
                return kz_error_set(e, EINVAL, "the target's socket must be an absolute path of less than %zu bytes.",
                        sizeof(sa.sun_path));
        r = migration_new(m, MIGRATION_INCOMING, id, key, key_size, cipher, timeout_usec, channels, &mig, e);
        if (r < 0)
                return r;
        mig->socket_path = strdup(socket_path);
        if (!mig->socket_path)
                return -ENOMEM;
        mig->peer_pid = peer_pid > 0 ? peer_pid : 0;
        r = migration_publish(m, mig);
        if (r < 0)
                return r;
        log_info("migration '%s' (incoming): prepared, %s, into %s, for %" PRIu64 " s", id,
                migr_cipher_to_string(cipher), socket_path, timeout_usec / 1000000u);
        TAKE_PTR(mig);
        return 0;
}

int manager_start_outgoing(Manager *m, const char *id, const void *key, size_t key_size, MigrCipher cipher,
                const char *host, uint16_t port, uint64_t timeout_usec, unsigned channels, uid_t socket_uid,
                char **ret_socket_path, KzError *e)
{
        _cleanup_(migration_unrefp) Migration *mig = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ char *path = NULL;
        int r;

        if (isempty(host) || strlen(host) > 253 || strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                            "0123456789.-:[]%_") != strlen(host))
                return kz_error_set(e, EINVAL, "'%s' is not a host name or address.", strempty(host));
        if (port == 0)
                return kz_error_set(e, EINVAL, "port 0.");
        r = migration_new(m, MIGRATION_OUTGOING, id, key, key_size, cipher, timeout_usec, channels, &mig, e);
        if (r < 0)
                return r;
        mig->host = strdup(host[0] == '[' ? host + 1 : host);
        if (!mig->host)
                return -ENOMEM;
        mig->host[strcspn(mig->host, "]")] = 0;
        mig->port = port;
        mig->socket_uid = socket_uid;
        if (asprintf(&path, "%s/%s.sock", m->runtime_dir, id) < 0)
                return -ENOMEM;
        if (strlen(path) >= sizeof(sa.sun_path))
                return kz_error_set(e, ENAMETOOLONG, "the socket path %s is too long.", path);
        strcpy(sa.sun_path, path);
        mig->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (mig->listen_fd < 0)
                return kz_error_set(e, errno, "cannot make a socket: %s", strerror(errno));
        (void) unlink(path);
        /* only its owner may connect: made 0600 before anyone can reach it */
        if (bind(mig->listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
            chown(path, socket_uid, (gid_t) -1) < 0 || listen(mig->listen_fd, (int) channels) < 0) {
                r = -errno;
                (void) unlink(path);
                mig->listen_fd = safe_close_fd(mig->listen_fd);
                return kz_error_set(e, r, "cannot listen on %s: %s", path, strerror(-r));
        }
        mig->socket_path = TAKE_PTR(path);
        r = sd_event_add_io(m->event, &mig->listen_source, mig->listen_fd, EPOLLIN, channel_on_qemu, mig);
        if (r < 0)
                return r;
        r = migration_publish(m, mig);
        if (r < 0)
                return r;
        log_info("migration '%s' (outgoing): started, %s, to %s port %u, QEMU migrates to %s", id,
                migr_cipher_to_string(cipher), mig->host, port, mig->socket_path);
        *ret_socket_path = strdup(mig->socket_path);
        if (!*ret_socket_path) {
                pthread_mutex_lock(&m->lock);
                migration_stop_locked(mig, MIGRATION_FAILED, "out of memory");
                pthread_mutex_unlock(&m->lock);
                TAKE_PTR(mig);
                return -ENOMEM;
        }
        TAKE_PTR(mig);
        return 0;
}

int manager_cancel(Manager *m, MigrationDirection d, const char *id, KzError *e)
{
        Migration *mig = hashmap_get(table(m, d), id);

        if (!mig)
                return kz_error_set(e, ENOENT, "no %s migration '%s'.", migration_direction_to_string(d), id);
        pthread_mutex_lock(&m->lock);
        migration_stop_locked(mig, MIGRATION_CANCELLED, "cancelled");
        pthread_mutex_unlock(&m->lock);
        migration_settle(mig);
        return 0;
}

/* ---- the manager -------------------------------------------------------------------------- */

void manager_wake(Manager *m)
{
        uint64_t one = 1;

        (void) write(m->wake_fd, &one, sizeof(one));
}

static int on_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Manager *m = userdata;
        uint64_t n;

        (void) read(fd, &n, sizeof(n));
        channel_reap(m);
        manager_settle_all(m);
        return 0;
}

int manager_new(sd_event *e, sd_bus *bus, const char *root, const char *runtime_dir, int listen_fd, Manager **ret)
{
        _cleanup_(manager_freep) Manager *m = calloc(1, sizeof(*m));
        int r;

        if (!m)
                return -ENOMEM;
        m->listen_fd = -EBADF;
        m->wake_fd = -EBADF;
        pthread_mutex_init(&m->lock, NULL);
        m->event = sd_event_ref(e);
        m->bus = sd_bus_ref(bus);
        m->handshake_timeout_usec = HANDSHAKE_TIMEOUT_USEC;
        m->root = strdup(root ?: "");
        m->runtime_dir = strdup(runtime_dir);
        m->incoming = hashmap_new();
        m->outgoing = hashmap_new();
        if (!m->root || !m->runtime_dir || !m->incoming || !m->outgoing)
                return -ENOMEM;
        m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->wake_fd < 0)
                return -errno;
        r = sd_event_add_io(e, &m->wake_source, m->wake_fd, EPOLLIN, on_wake, m);
        if (r < 0)
                return r;
        m->listen_fd = listen_fd;
        r = sd_event_add_io(e, &m->listen_source, listen_fd, EPOLLIN, channel_on_network, m);
        if (r < 0) {
                m->listen_fd = -EBADF;
                return r;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m)
{
        Migration *mig;

        if (!m)
                return NULL;
        /* every channel stops, every thread is joined, then the migrations go */
        pthread_mutex_lock(&m->lock);
        for (MigrationDirection d = 0; d < _MIGRATION_DIRECTION_MAX; d++)
                if (table(m, d))
                        HASHMAP_FOREACH(mig, table(m, d), i)
                                migration_stop_locked(mig, MIGRATION_CANCELLED, "kz-migr stopped");
        for (Channel *c = m->channels; c; c = c->next)
                (void) shutdown(c->fd, SHUT_RDWR);
        pthread_mutex_unlock(&m->lock);
        channel_join_all(m);
        for (MigrationDirection d = 0; d < _MIGRATION_DIRECTION_MAX; d++) {
                Hashmap *h = table(m, d);

                if (!h)
                        continue;
                while (hashmap_size(h) > 0) {
                        size_t state = 0;

                        if (!hashmap_next(h, &state, (void **) &mig))
                                break;
                        (void) hashmap_remove(h, mig->id);
                        migration_unref(mig);
                }
                hashmap_free(h);
        }
        sd_event_source_disable_unref(m->listen_source);
        sd_event_source_disable_unref(m->wake_source);
        (void) safe_close_fd(m->listen_fd);
        (void) safe_close_fd(m->wake_fd);
        sd_bus_unref(m->bus);
        sd_event_unref(m->event);
        pthread_mutex_destroy(&m->lock);
        free(m->root);
        free(m->runtime_dir);
        free(m);
        return NULL;
}
