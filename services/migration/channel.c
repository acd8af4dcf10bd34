/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One thread per connection: on 8102 it authenticates the peer (TLS 1.3 with the
 * migration's pre-shared key, or the key proof of -c none) within the handshake
 * timeout, then relays into the target QEMU's socket; on an outgoing migration's
 * socket it connects to the target, authenticates, and relays. The event loop
 * only accepts, bounds, and joins; a thread touches shared state under the
 * manager's lock only, and wakes the loop through an eventfd when it ends. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "log.h"
#include "migr-proof.h"
#include "migration.h"

static void copy_printable(char *dst, size_t size, const char *src)
{
        size_t i = 0;

        for (; src[i] && i + 1 < size; i++)
                dst[i] = (src[i] > 32 && src[i] < 127 && src[i] != '\'') ? src[i] : '?';
        dst[i] = 0;
}

static void peer_name(int fd, char *buf, size_t size)
{
        struct sockaddr_storage sa;
        socklen_t l = sizeof(sa);
        char host[INET6_ADDRSTRLEN] = "?";

        if (getpeername(fd, (struct sockaddr *) &sa, &l) < 0) {
                (void) snprintf(buf, size, "?");
                return;
        }
        if (sa.ss_family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *) &sa;
                (void) inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
                (void) snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
        } else if (sa.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *) &sa)->sin6_addr)) {
                /* an IPv4 peer of the dual-stack socket systemd made for ListenStream=8102 */
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &sa;
                (void) inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof(host));
                (void) snprintf(buf, size, "%s:%u", host, ntohs(in6->sin6_port));
        } else if (sa.ss_family == AF_INET6) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &sa;
                (void) inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
                (void) snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
        } else
                (void) snprintf(buf, size, "a local process");
}

static Channel *channel_new(Manager *m, int fd, int plain_fd)
{
        Channel *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->manager = m;
        c->fd = fd;
        c->plain_fd = plain_fd;
        c->deadline = now_usec() + m->handshake_timeout_usec;
        return c;
}

static void channel_free(Channel *c)
{
        (void) safe_close_fd(c->fd);
        (void) safe_close_fd(c->plain_fd);
        free(c);
}

/* Under the lock. */
static void channel_unlink(Manager *m, Channel *c)
{
        if (c->prev)
                c->prev->next = c->next;
        else
                m->channels = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
}

static int channel_start(Channel *c, void *(*fn)(void *))
{
        Manager *m = c->manager;
        pthread_attr_t a;
        int r;

        pthread_mutex_lock(&m->lock);
        c->next = m->channels;
        if (m->channels)
                m->channels->prev = c;
        m->channels = c;
        if (c->handshaking)
                m->n_handshakes++;
        pthread_mutex_unlock(&m->lock);

        (void) pthread_attr_init(&a);
        (void) pthread_attr_setstacksize(&a, CHANNEL_STACK_SIZE);
        r = pthread_create(&c->thread, &a, fn, c);
        (void) pthread_attr_destroy(&a);
        if (r != 0) {
                pthread_mutex_lock(&m->lock);
                channel_unlink(m, c);
                if (c->handshaking)
                        m->n_handshakes--;
                pthread_mutex_unlock(&m->lock);
                return -r;
        }
        return 0;
}

static void handshake_over(Channel *c)
{
        pthread_mutex_lock(&c->manager->lock);
        if (c->handshaking) {
                c->handshaking = false;
                c->manager->n_handshakes--;
        }
        pthread_mutex_unlock(&c->manager->lock);
}

/* The end of a thread: its migration learns how the channel ended, the loop joins it. */
static void *channel_end(Channel *c, int r, const char *error)
{
        Manager *m = c->manager;
        Migration *mig = c->migration;

        pthread_mutex_lock(&m->lock);
        if (c->handshaking) {
                c->handshaking = false;
                m->n_handshakes--;
        }
        if (mig) {
                mig->channels_open--;
                if (r < 0)
                        migration_stop_locked(mig, MIGRATION_FAILED, error);
                else if (mig->channels_open == 0 && mig->channels_total >= mig->channels &&
                         mig->state == MIGRATION_RUNNING) {
                        mig->state = MIGRATION_DONE;
                        migration_wipe_key(mig);
                }
        }
        channel_unlink(m, c);
        c->next = m->ended;
        m->ended = c;
        pthread_mutex_unlock(&m->lock);
        manager_wake(m);
        return NULL;
}

void channel_reap(Manager *m)
{
        Channel *c;

        pthread_mutex_lock(&m->lock);
        c = m->ended;
        m->ended = NULL;
        pthread_mutex_unlock(&m->lock);
        while (c) {
                Channel *next = c->next;

                (void) pthread_join(c->thread, NULL);
                migration_unref(c->migration);
                channel_free(c);
                c = next;
        }
}

void channel_join_all(Manager *m)
{
        for (;;) {
                bool running;

                channel_reap(m);
                pthread_mutex_lock(&m->lock);
                running = m->channels || m->ended;
                pthread_mutex_unlock(&m->lock);
                if (!running)
                        return;
                (void) usleep(10000);
        }
}

/* ---- the target's side: connections on 8102 ---------------------------------------------------- */

/* tls-relay's and migr-proof's lookup: the key of a migration prepared here for this
 * kind of connection (TLS or none). */
static int lookup(Channel *c, const char *identity, uint8_t key[TLS_RELAY_KEY_SIZE], bool none)
{
        Manager *m = c->manager;
        Migration *mig;
        bool ok;

        copy_printable(c->identity, sizeof(c->identity), identity);
        if (!migr_id_is_valid(identity))
                return -ENOENT;
        pthread_mutex_lock(&m->lock);
        mig = hashmap_get(m->incoming, identity);
        ok = mig && mig->key && migration_is_active(mig) && (mig->cipher == MIGR_CIPHER_NONE) == none;
        if (ok)
                memcpy(key, mig->key, TLS_RELAY_KEY_SIZE);
        c->identity_known = ok;
        pthread_mutex_unlock(&m->lock);
        return ok ? 0 : -ENOENT;
}

static int lookup_tls(const char *identity, uint8_t key[TLS_RELAY_KEY_SIZE], void *userdata)
{
        return lookup(userdata, identity, key, false);
}

static int lookup_none(const char *identity, uint8_t key[TLS_RELAY_KEY_SIZE], void *userdata)
{
        return lookup(userdata, identity, key, true);
}

static int peek_first_byte(int fd, uint8_t *ret, uint64_t deadline)
{
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now = now_usec();
                ssize_t k;

                if (now >= deadline)
                        return -ETIMEDOUT;
                if (poll(&p, 1, (int) ((deadline - now + 999u) / 1000u)) < 0 && errno != EINTR)
                        return -errno;
                k = recv(fd, ret, 1, MSG_PEEK | MSG_DONTWAIT);
                if (k == 1)
                        return 0;
                if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
                        return -EPROTO;
        }
}

/* The one line a refused connection leaves. */
static void *refuse(Channel *c, int r, const KzError *e)
{
        Manager *m = c->manager;

        if (c->evicted)
                log_warning("connection from %s refused: closed to make room, %u unauthenticated connections at once",
                        c->peer, HANDSHAKES_MAX);
        else if (r == -ETIMEDOUT)
                log_warning("connection from %s refused: no complete hello within %" PRIu64 " s", c->peer,
                        m->handshake_timeout_usec / 1000000u);
        else if (c->identity[0] && !c->identity_known)
                log_warning("connection from %s refused: no migration '%s' is prepared here (unknown, expired or ended)",
                        c->peer, c->identity);
        else if (c->identity_known)
                log_warning("connection from %s refused: wrong key for migration '%s' (%s)", c->peer, c->identity,
                        kz_error_message(e, r));
        else
                log_warning("connection from %s refused: not a migration hello (%s)", c->peer, kz_error_message(e, r));
        return channel_end(c, 0, NULL);
}

static int claim(Channel *c, const char *id, MigrCipher cipher, char *why, size_t size)
{
        Manager *m = c->manager;
        Migration *mig;
        int r = 0;

        pthread_mutex_lock(&m->lock);
        mig = hashmap_get(m->incoming, id);
        if (!mig || !migration_is_active(mig)) {
                (void) snprintf(why, size, "migration '%s' ended during the handshake", id);
                r = -ENOENT;
        } else if (mig->cipher != cipher) {
                (void) snprintf(why, size, "cipher %s, but migration '%s' was prepared for %s",
                        migr_cipher_to_string(cipher), id, migr_cipher_to_string(mig->cipher));
                r = -EPROTO;
        } else if (mig->channels_total >= mig->channels) {
                (void) snprintf(why, size, "migration '%s' has its %u channel(s) already", id, mig->channels);
                r = -EUSERS;
        } else {
                mig->channels_open++;
                mig->channels_total++;
                mig->state = MIGRATION_RUNNING;
                mig->n_ref++;
                c->migration = mig;
        }
        pthread_mutex_unlock(&m->lock);
        return r;
}

static int connect_unix(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;
                (void) close(fd);
                return r;
        }
        return fd;
}

static MigrCipher migr_cipher_of_tls(TlsRelayCipher t)
{
        for (MigrCipher c = 0; c < _MIGR_CIPHER_MAX; c++)
                if (c != MIGR_CIPHER_NONE && migr_cipher_tls(c) == t)
                        return c;
        return _MIGR_CIPHER_INVALID;
}

/* QEMU's main channel starts with QEMU_VM_FILE_MAGIC; a multifd channel with its own
 * magic (0x11223344). */
#define QEMU_MAIN_CHANNEL_MAGIC "QEVM"
#define QEMU_MAGIC_SIZE 4u

/* A multifd channel waits until the main one reached the target QEMU (or the migration
 * ended, or the deadline passed): QEMU 7.2 takes the first connection to its socket for
 * the main channel, and channels finish their handshakes in any order. */
static int wait_main_channel(Channel *c, Migration *mig, uint64_t deadline)
{
        Manager *m = c->manager;

        for (;;) {
                bool connected, active;

                pthread_mutex_lock(&m->lock);
                connected = mig->main_channel_connected;
                active = migration_is_active(mig);
                pthread_mutex_unlock(&m->lock);
                if (connected)
                        return 0;
                if (!active)
                        return -ECANCELED;
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                (void) usleep(2000);
        }
}

static void *channel_in(void *p)
{
        Channel *c = p;
        Manager *m = c->manager;
        _cleanup_(tls_relay_freep) TlsRelay *t = NULL;
        char id[TLS_RELAY_IDENTITY_MAX] = "", why[256];
        MigrCipher cipher = MIGR_CIPHER_NONE;
        uint8_t first, head[QEMU_MAGIC_SIZE];
        bool have_head = false, main_channel = false;
        Migration *mig;
        KzError e = {};
        int r, plain;

        r = peek_first_byte(c->fd, &first, c->deadline);
        if (r < 0)
                return refuse(c, r, &(KzError) { .error = EPROTO, .message = "closed before it said anything" });
        if (first == MIGR_TLS_FIRST_BYTE) {
                int dfd = fcntl(c->fd, F_DUPFD_CLOEXEC, 3);
                uint64_t now = now_usec();

                r = dfd < 0 ? -errno :
                              tls_relay_server(dfd, lookup_tls, c, c->deadline > now ? c->deadline - now : 1, &t, id, &e);
                if (r >= 0)
                        cipher = migr_cipher_of_tls(tls_relay_cipher(t));
        } else if (first == (uint8_t) MIGR_PROOF_MAGIC[0])
                r = migr_proof_server(c->fd, lookup_none, c, c->deadline, id, &e);
        else {
                KzError g = { .error = EPROTO };

                (void) snprintf(g.message, sizeof(g.message), "its first byte is 0x%02x", first);
                return refuse(c, -EPROTO, &g);
        }
        if (r < 0)
                return refuse(c, r, &e);
        handshake_over(c);

        r = claim(c, id, cipher, why, sizeof(why));
        if (r < 0) {
                log_warning("connection from %s refused: %s", c->peer, why);
                return channel_end(c, 0, NULL);
        }
        mig = c->migration;
        if (mig->channels > 1) {
                /* which channel is it: QEMU's main one goes first (see wait_main_channel) */
                uint64_t deadline = now_usec() + mig->timeout_usec;

                r = t ? tls_relay_recv_full(t, head, sizeof(head), deadline) :
                        migr_read_full(c->fd, head, sizeof(head), deadline);
                if (r < 0) {
                        (void) snprintf(why, sizeof(why), "a channel from %s ended before QEMU's first bytes: %s",
                                c->peer, strerror(-r));
                        return channel_end(c, r == -ECANCELED ? 0 : r, why);
                }
                main_channel = memcmp(head, QEMU_MAIN_CHANNEL_MAGIC, QEMU_MAGIC_SIZE) == 0;
                if (!main_channel) {
                        r = wait_main_channel(c, mig, deadline);
                        if (r < 0) {
                                (void) snprintf(why, sizeof(why), "a multifd channel from %s: QEMU's main channel "
                                        "never came: %s", c->peer, strerror(-r));
                                return channel_end(c, r == -ECANCELED ? 0 : r, why);
                        }
                }
                have_head = true;
        }
        plain = connect_unix(mig->socket_path);
        if (plain < 0) {
                (void) snprintf(why, sizeof(why), "cannot reach the target QEMU at %s: %s", mig->socket_path,
                        strerror(-plain));
                log_error("migration '%s' (incoming): %s", mig->id, why);
                return channel_end(c, plain, why);
        }
        if (mig->peer_pid > 0) {
                /* all QEMUs share a user: only the zone's own QEMU may take its stream */
                struct ucred cred = {};
                socklen_t len = sizeof(cred);

                if (getsockopt(plain, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid != mig->peer_pid) {
                        (void) snprintf(why, sizeof(why), "the process listening at %s is pid %d, not the zone's "
                                "QEMU (pid %d)", mig->socket_path, (int) cred.pid, (int) mig->peer_pid);
                        log_error("migration '%s' (incoming): %s", mig->id, why);
                        (void) close(plain);
                        return channel_end(c, -EPERM, why);
                }
        }
        pthread_mutex_lock(&m->lock);
        c->plain_fd = plain;
        r = migration_is_active(mig) ? 0 : -ECANCELED;
        if (main_channel)
                mig->main_channel_connected = true;
        pthread_mutex_unlock(&m->lock);
        if (r < 0)
                return channel_end(c, 0, NULL);
        log_info("migration '%s' (incoming): channel from %s, %s%s", mig->id, c->peer, migr_cipher_to_string(cipher),
                !have_head ? "" : main_channel ? ", QEMU's main channel" : ", a multifd channel");
        if (have_head) {
                r = migr_write_full(plain, head, sizeof(head), now_usec() + mig->timeout_usec);
                if (r < 0) {
                        (void) snprintf(why, sizeof(why), "cannot write to the target QEMU: %s", strerror(-r));
                        return channel_end(c, r, why);
                }
                __atomic_fetch_add(&mig->bytes_received, (uint64_t) sizeof(head), __ATOMIC_RELAXED);
        }
        if (t) {
                tls_relay_set_counters(t, &mig->bytes_sent, &mig->bytes_received);
                r = tls_relay_pump(t, plain, NULL, NULL);
        } else
                r = migr_relay_plain(c->fd, plain, &mig->bytes_received, &mig->bytes_sent);
        if (r < 0)
                (void) snprintf(why, sizeof(why), "a channel from %s broke: %s", c->peer, strerror(-r));
        return channel_end(c, r, why);
}

static void accept_network(Manager *m, int fd)
{
        Channel *c, *oldest = NULL;
        int one = 1, r;

        pthread_mutex_lock(&m->lock);
        if (m->n_handshakes >= HANDSHAKES_MAX)
                for (Channel *i = m->channels; i; i = i->next)
                        if (i->handshaking && !i->evicted)
                                oldest = i;
        if (oldest) {
                /* the oldest unauthenticated connection makes room: a flood cannot lock a
                 * migration out for the length of a handshake timeout */
                oldest->evicted = true;
                (void) shutdown(oldest->fd, SHUT_RDWR);
        }
        r = m->n_handshakes >= 2 * HANDSHAKES_MAX ? -EUSERS : 0;
        pthread_mutex_unlock(&m->lock);

        c = channel_new(m, fd, -EBADF);
        if (!c) {
                (void) close(fd);
                return;
        }
        peer_name(fd, c->peer, sizeof(c->peer));
        if (r < 0) {
                log_warning("connection from %s refused: %u unauthenticated connections are closing already", c->peer,
                        2 * HANDSHAKES_MAX);
                channel_free(c);
                return;
        }
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->handshaking = true;
        r = channel_start(c, channel_in);
        if (r < 0) {
                log_error("connection from %s refused: cannot start a thread: %s", c->peer, strerror(-r));
                channel_free(c);
        }
}

int channel_on_network(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        /* a few at a time, so that the bus is served during a flood too */
        for (unsigned i = 0; i < 16; i++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

                if (cfd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                log_warning("cannot accept a connection on the migration port: %s", strerror(errno));
                        break;
                }
                accept_network(userdata, cfd);
        }
        return 0;
}

/* ---- the source's side: QEMU's connections to an outgoing migration's socket ------------------- */

static int tcp_connect(Channel *c, const char *host, uint16_t port, uint64_t deadline, KzError *e)
{
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai = NULL;
        char service[8];
        int r, last = -EHOSTUNREACH;

        (void) snprintf(service, sizeof(service), "%u", port);
        r = getaddrinfo(host, service, &hints, &ai);
        if (r != 0)
                return kz_error_set(e, EHOSTUNREACH, "cannot resolve '%s': %s", host, gai_strerror(r));
        for (struct addrinfo *i = ai; i; i = i->ai_next) {
                int fd = socket(i->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1, err = 0;
                socklen_t l = sizeof(err);
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                uint64_t now = now_usec();

                if (fd < 0) {
                        last = -errno;
                        continue;
                }
                pthread_mutex_lock(&c->manager->lock);
                c->fd = fd; /* from now on, a cancel shuts it down */
                pthread_mutex_unlock(&c->manager->lock);
                if (connect(fd, i->ai_addr, i->ai_addrlen) < 0 && errno != EINPROGRESS)
                        err = errno;
                else if (now >= deadline || poll(&p, 1, (int) ((deadline - now + 999u) / 1000u)) <= 0)
                        err = ETIMEDOUT;
                else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
                        err = errno;
                if (err == 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) >= 0) {
                        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                        freeaddrinfo(ai);
                        return 0;
                }
                last = -(err ?: errno);
                pthread_mutex_lock(&c->manager->lock);
                c->fd = -EBADF;
                pthread_mutex_unlock(&c->manager->lock);
                (void) close(fd);
        }
        freeaddrinfo(ai);
        return kz_error_set(e, last, "cannot connect to %s port %u: %s", host, port, strerror(-last));
}

static void *channel_out(void *p)
{
        Channel *c = p;
        Manager *m = c->manager;
        Migration *mig = c->migration;
        _cleanup_(tls_relay_freep) TlsRelay *t = NULL;
        uint8_t key[TLS_RELAY_KEY_SIZE];
        char why[1100];
        KzError e = {};
        bool have_key;
        int r;

        pthread_mutex_lock(&m->lock);
        have_key = mig->key != NULL;
        if (have_key)
                memcpy(key, mig->key, sizeof(key));
        pthread_mutex_unlock(&m->lock);
        if (!have_key)
                return channel_end(c, 0, NULL);

        r = tcp_connect(c, mig->host, mig->port, c->deadline, &e);
        if (r >= 0 && mig->cipher == MIGR_CIPHER_NONE)
                r = migr_proof_client(c->fd, mig->id, key, c->deadline, &e);
        else if (r >= 0) {
                int dfd = fcntl(c->fd, F_DUPFD_CLOEXEC, 3);
                uint64_t now = now_usec();

                r = dfd < 0 ? -errno :
                              tls_relay_client(dfd, mig->id, key, migr_cipher_tls(mig->cipher),
                                      c->deadline > now ? c->deadline - now : 1, &t, &e);
        }
        explicit_bzero(key, sizeof(key));
        if (r < 0) {
                (void) snprintf(why, sizeof(why), "channel to %s port %u: %s", mig->host, mig->port,
                        kz_error_message(&e, r));
                log_error("migration '%s' (outgoing): %s", mig->id, why);
                return channel_end(c, r, why);
        }
        log_info("migration '%s' (outgoing): channel to %s port %u, %s", mig->id, mig->host, mig->port,
                migr_cipher_to_string(mig->cipher));
        if (t) {
                tls_relay_set_counters(t, &mig->bytes_sent, &mig->bytes_received);
                r = tls_relay_pump(t, c->plain_fd, NULL, NULL);
        } else
                r = migr_relay_plain(c->fd, c->plain_fd, &mig->bytes_received, &mig->bytes_sent);
        if (r < 0)
                (void) snprintf(why, sizeof(why), "a channel to %s port %u broke: %s", mig->host, mig->port,
                        strerror(-r));
        return channel_end(c, r, why);
}

int channel_on_qemu(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Migration *mig = userdata;
        Manager *m = mig->manager;
        struct ucred cred;
        socklen_t l = sizeof(cred);
        Channel *c;
        int cfd, r = 0;

        cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0)
                return 0;
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0 ||
            (cred.uid != 0 && cred.uid != mig->socket_uid)) {
                log_warning("migration '%s' (outgoing): refused a connection from uid %d, not its QEMU's", mig->id,
                        (int) cred.uid);
                (void) close(cfd);
                return 0;
        }
        c = channel_new(m, -EBADF, cfd);
        if (!c) {
                (void) close(cfd);
                return 0;
        }
        c->deadline = now_usec() + CONNECT_TIMEOUT_USEC + m->handshake_timeout_usec;
        pthread_mutex_lock(&m->lock);
        if (!migration_is_active(mig) || !mig->key)
                r = -ESTALE;
        else if (mig->channels_total >= mig->channels)
                r = -EUSERS;
        else {
                mig->channels_open++;
                mig->channels_total++;
                mig->state = MIGRATION_RUNNING;
                mig->n_ref++;
                c->migration = mig;
        }
        pthread_mutex_unlock(&m->lock);
        if (r < 0) {
                log_warning("migration '%s' (outgoing): refused a channel: %s", mig->id,
                        r == -EUSERS ? "it has all its channels" : "it has ended");
                channel_free(c);
                return 0;
        }
        r = channel_start(c, channel_out);
        if (r < 0) {
                log_error("migration '%s' (outgoing): cannot start a thread: %s", mig->id, strerror(-r));
                pthread_mutex_lock(&m->lock);
                migration_stop_locked(mig, MIGRATION_FAILED, "cannot start a thread");
                mig->channels_open--;
                mig->n_ref--;
                pthread_mutex_unlock(&m->lock);
                channel_free(c);
        }
        return 0;
}
