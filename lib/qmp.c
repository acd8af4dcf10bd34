/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "macro.h"
#include "qmp.h"

#define QMP_LINE_MAX (1024u * 1024u)
#define QMP_QUEUE_MAX 64u

typedef struct QmpCall {
        char *line;
        qmp_reply_t cb;
        void *userdata;
        uint64_t tag;
        bool sent;
} QmpCall;

struct Qmp {
        sd_event_source *io;
        int fd;
        bool connected;  /* the socket is connected */
        bool negotiated; /* qmp_capabilities answered */
        char *in;
        size_t in_len;
        char *out;
        size_t out_len;
        QmpCall calls[QMP_QUEUE_MAX];
        size_t n_calls;
        uint64_t next_tag;
        qmp_event_t on_event;
        qmp_closed_t on_closed;
        void *userdata;
        bool closed;
        unsigned busy;     /* inside on_io() or qmp_close(): a callback may close it */
        bool free_pending; /* qmp_close() was called; freed when no longer busy */
};

static void call_done(QmpCall *c)
{
        free(c->line);
        *c = (QmpCall) {};
}

/* Fails every pending call and tells the owner, once. */
static void qmp_fail(Qmp *q, int error, const char *why)
{
        QmpCall calls[QMP_QUEUE_MAX];
        size_t n = q->n_calls;

        if (q->closed)
                return;
        q->closed = true;
        q->io = sd_event_source_disable_unref(q->io);
        if (q->fd >= 0)
                (void) close(TAKE_FD(q->fd));
        memcpy(calls, q->calls, sizeof(calls));
        q->n_calls = 0;
        for (size_t i = 0; i < n; i++) {
                if (calls[i].tag != 0 && calls[i].cb) /* tag 0: our own qmp_capabilities */
                        calls[i].cb(q, NULL, why, calls[i].userdata);
                call_done(&calls[i]);
        }
        if (q->on_closed)
                q->on_closed(q, error, q->userdata);
}

static int queue_out(Qmp *q, const char *line)
{
        size_t n = strlen(line);
        char *b = realloc(q->out, q->out_len + n + 2);

        if (!b)
                return -ENOMEM;
        q->out = b;
        memcpy(q->out + q->out_len, line, n);
        q->out[q->out_len + n] = '\n';
        q->out_len += n + 1;
        return 0;
}

static int update_events(Qmp *q)
{
        uint32_t ev = EPOLLIN;

        if (!q->connected || q->out_len > 0)
                ev |= EPOLLOUT;
        return sd_event_source_set_io_events(q->io, ev);
}

static void flush_sendable(Qmp *q)
{
        for (size_t i = 0; i < q->n_calls; i++) {
                if (q->calls[i].sent || (!q->negotiated && q->calls[i].tag != 0))
                        continue;
                if (queue_out(q, q->calls[i].line) < 0) {
                        qmp_fail(q, -ENOMEM, "out of memory");
                        return;
                }
                q->calls[i].sent = true;
        }
}

static void handle_message(Qmp *q, json_object *msg)
{
        json_object *v;

        if (json_object_object_get_ex(msg, "QMP", NULL)) {
                /* the greeting: negotiate, then send what is queued */
                QmpCall c = { strdup("{\"execute\":\"qmp_capabilities\"}"), NULL, NULL, 0, false };
                if (!c.line || q->n_calls >= QMP_QUEUE_MAX)
                        return qmp_fail(q, -ENOMEM, "out of memory");
                memmove(q->calls + 1, q->calls, q->n_calls * sizeof(QmpCall));
                q->calls[0] = c;
                q->n_calls++;
                flush_sendable(q);
                return;
        }
        if (json_object_object_get_ex(msg, "event", &v)) {
                json_object *data = NULL;

                (void) json_object_object_get_ex(msg, "data", &data);
                /* an event without a name (null, a number) is not one: ignored */
                if (q->on_event && json_object_is_type(v, json_type_string))
                        q->on_event(q, json_object_get_string(v), data, q->userdata);
                return;
        }
        /* a reply: to the oldest sent call (QMP answers in order) */
        for (size_t i = 0; i < q->n_calls; i++) {
                QmpCall c;
                json_object *ret = NULL, *err = NULL, *desc = NULL;

                if (!q->calls[i].sent)
                        continue;
                c = q->calls[i];
                memmove(q->calls + i, q->calls + i + 1, (q->n_calls - i - 1) * sizeof(QmpCall));
                q->n_calls--;
                if (c.tag == 0) {
                        q->negotiated = true;
                        flush_sendable(q);
                } else if (c.cb) {
                        /* a "return" of null is no answer: callers take a NULL reply for a failure */
                        if (json_object_object_get_ex(msg, "return", &ret) && ret)
                                c.cb(q, ret, NULL, c.userdata);
                        else if (ret == NULL && json_object_object_get_ex(msg, "return", NULL))
                                c.cb(q, NULL, "malformed QMP reply: a null return value", c.userdata);
                        else {
                                (void) json_object_object_get_ex(msg, "error", &err);
                                if (err)
                                        (void) json_object_object_get_ex(err, "desc", &desc);
                                c.cb(q, NULL, json_object_is_type(desc, json_type_string) ?
                                        json_object_get_string(desc) : "malformed QMP reply", c.userdata);
                        }
                }
                call_done(&c);
                return;
        }
}

static void qmp_free(Qmp *q)
{
        free(q->in);
        free(q->out);
        free(q);
}

static int on_io_dispatch(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Qmp *q = userdata;

        if (!q->connected && (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int err = 0;
                socklen_t len = sizeof(err);

                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
                        qmp_fail(q, -(err ?: errno), err ? strerror(err) : "connect failed");
                        return 0;
                }
                q->connected = true;
        }
        if (revents & EPOLLIN) {
                for (;;) {
                        char *nl, *b;
                        ssize_t n;

                        if (q->in_len >= QMP_LINE_MAX) {
                                qmp_fail(q, -EMSGSIZE, "QMP message too long");
                                return 0;
                        }
                        b = realloc(q->in, q->in_len + 65536 + 1);
                        if (!b) {
                                qmp_fail(q, -ENOMEM, "out of memory");
                                return 0;
                        }
                        q->in = b;
                        n = read(fd, q->in + q->in_len, 65536);
                        if (n < 0) {
                                if (errno == EAGAIN || errno == EINTR)
                                        break;
                                qmp_fail(q, -errno, strerror(errno));
                                return 0;
                        }
                        if (n == 0) {
                                qmp_fail(q, -ECONNRESET, "QMP connection closed");
                                return 0;
                        }
                        q->in_len += (size_t) n;
                        q->in[q->in_len] = 0;
                        while ((nl = memchr(q->in, '\n', q->in_len))) {
                                json_object *msg;

                                *nl = 0;
                                msg = json_tokener_parse(q->in);
                                memmove(q->in, nl + 1, q->in_len - (size_t) (nl + 1 - q->in));
                                q->in_len -= (size_t) (nl + 1 - q->in);
                                if (!msg) {
                                        qmp_fail(q, -EBADMSG, "malformed QMP message");
                                        return 0;
                                }
                                handle_message(q, msg);
                                json_object_put(msg);
                                if (q->closed)
                                        return 0;
                        }
                }
        }
        if (q->connected && q->out_len > 0) {
                ssize_t n = send(fd, q->out, q->out_len, MSG_NOSIGNAL);

                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        qmp_fail(q, -errno, strerror(errno));
                        return 0;
                }
                if (n > 0) {
                        memmove(q->out, q->out + n, q->out_len - (size_t) n);
                        q->out_len -= (size_t) n;
                }
        }
        if (!(revents & EPOLLIN) && (revents & (EPOLLHUP | EPOLLERR))) {
                qmp_fail(q, -ECONNRESET, "QMP connection closed");
                return 0;
        }
        (void) update_events(q);
        return 0;
}

/* A callback may call qmp_close(): the client is freed only once nothing here uses it. */
static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Qmp *q = userdata;

        q->busy++;
        (void) on_io_dispatch(s, fd, revents, q);
        if (--q->busy == 0 && q->free_pending)
                qmp_free(q);
        return 0;
}

int qmp_connect(sd_event *e, const char *path, qmp_event_t on_event, qmp_closed_t on_closed, void *userdata,
                Qmp **ret)
{
        _cleanup_(qmp_closep) Qmp *q = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->fd = -EBADF;
        q->on_event = on_event;
        q->on_closed = on_closed;
        q->userdata = userdata;
        q->next_tag = 1;
        q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (q->fd < 0)
                return -errno;
        if (connect(q->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                if (errno != EINPROGRESS && errno != EAGAIN)
                        return -errno;
        } else
                q->connected = true;
        r = sd_event_add_io(e, &q->io, q->fd, EPOLLIN | EPOLLOUT, on_io, q);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(q);
        return 0;
}

int qmp_execute(Qmp *q, const char *command, json_object *args, qmp_reply_t cb, void *userdata)
{
        json_object *msg;
        QmpCall c = {};

        if (q->closed) {
                if (args)
                        json_object_put(args);
                return -ENOTCONN;
        }
        if (q->n_calls >= QMP_QUEUE_MAX) {
                if (args)
                        json_object_put(args);
                return -EBUSY;
        }
        msg = json_object_new_object();
        if (!msg) {
                if (args)
                        json_object_put(args);
                return -ENOMEM;
        }
        json_object_object_add(msg, "execute", json_object_new_string(command));
        if (args)
                json_object_object_add(msg, "arguments", args);
        c.line = strdup(json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN));
        json_object_put(msg);
        if (!c.line)
                return -ENOMEM;
        c.cb = cb;
        c.userdata = userdata;
        c.tag = q->next_tag++;
        q->calls[q->n_calls++] = c;
        if (q->negotiated)
                flush_sendable(q);
        return update_events(q);
}

Qmp *qmp_close(Qmp *q)
{
        if (!q || q->free_pending)
                return NULL;
        q->on_closed = NULL;
        q->free_pending = true;
        q->busy++;
        qmp_fail(q, 0, "QMP connection closed");
        if (--q->busy == 0)
                qmp_free(q);
        return NULL;
}

/* ---- synchronous ---------------------------------------------------------------------------- */

/* Reads one JSON message (a line) before the deadline. */
static int read_message(int fd, char *buf, size_t *len, size_t max, uint64_t deadline, json_object **ret)
{
        for (;;) {
                char *nl = memchr(buf, '\n', *len);
                struct pollfd p = { .fd = fd, .events = POLLIN };
                uint64_t now;
                ssize_t n;
                int r;

                if (nl) {
                        *nl = 0;
                        *ret = json_tokener_parse(buf);
                        memmove(buf, nl + 1, *len - (size_t) (nl + 1 - buf));
                        *len -= (size_t) (nl + 1 - buf);
                        return *ret ? 0 : -EBADMSG;
                }
                if (*len >= max)
                        return -EMSGSIZE;
                now = now_usec();
                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) ((deadline - now + 999) / 1000));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0)
                        continue;
                n = read(fd, buf + *len, max - *len);
                if (n < 0 && errno != EINTR && errno != EAGAIN)
                        return -errno;
                if (n == 0)
                        return -ECONNRESET;
                if (n > 0)
                        *len += (size_t) n;
        }
}

static int send_line(int fd, const char *s)
{
        size_t n = strlen(s);

        while (n > 0) {
                ssize_t k = send(fd, s, n, MSG_NOSIGNAL); /* a monitor that went away is an error, not a signal */
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                s += k;
                n -= (size_t) k;
        }
        return send(fd, "\n", 1, MSG_NOSIGNAL) == 1 ? 0 : -EIO;
}

/* Waits for the reply (skipping events) and hands back "return", or the error. */
static int wait_reply(int fd, char *buf, size_t *len, size_t max, uint64_t deadline, json_object **ret,
                char **ret_error)
{
        for (;;) {
                json_object *msg = NULL, *v, *err, *desc;
                int r;

                r = read_message(fd, buf, len, max, deadline, &msg);
                if (r < 0)
                        return r;
                if (json_object_object_get_ex(msg, "event", NULL)) {
                        json_object_put(msg);
                        continue;
                }
                if (json_object_object_get_ex(msg, "return", &v) && v) { /* a null one is malformed */
                        if (ret)
                                *ret = json_object_get(v);
                        json_object_put(msg);
                        return 0;
                }
                /* an error says why in "desc"; one that does not (or not as a string) is still an error */
                if (ret_error && json_object_object_get_ex(msg, "error", &err) &&
                    json_object_object_get_ex(err, "desc", &desc) && json_object_is_type(desc, json_type_string))
                        *ret_error = strdup(json_object_get_string(desc));
                json_object_put(msg);
                return -EIO;
        }
}

int qmp_command_sync(const char *path, const char *command, json_object *args, uint64_t timeout_usec,
                json_object **ret, char **ret_error)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint64_t deadline = now_usec() + timeout_usec;
        json_object *msg = NULL, *cmd;
        size_t len = 0;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                if (args)
                        json_object_put(args);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);
        buf = malloc(QMP_LINE_MAX);
        cmd = json_object_new_object();
        if (!buf || !cmd) {
                if (args)
                        json_object_put(args);
                json_object_put(cmd);
                return -ENOMEM;
        }
        json_object_object_add(cmd, "execute", json_object_new_string(command));
        if (args)
                json_object_object_add(cmd, "arguments", args);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                goto finish;
        }
        r = read_message(fd, buf, &len, QMP_LINE_MAX, deadline, &msg); /* greeting */
        if (r < 0)
                goto finish;
        json_object_put(msg);
        r = send_line(fd, "{\"execute\":\"qmp_capabilities\"}");
        if (r < 0)
                goto finish;
        r = wait_reply(fd, buf, &len, QMP_LINE_MAX, deadline, NULL, ret_error);
        if (r < 0)
                goto finish;
        r = send_line(fd, json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN));
        if (r < 0)
                goto finish;
        r = wait_reply(fd, buf, &len, QMP_LINE_MAX, deadline, ret, ret_error);
finish:
        json_object_put(cmd);
        return r;
}

/* ---- synchronous sessions --------------------------------------------------------------------- */

struct QmpSync {
        int fd;
        char *buf;
        size_t len;
        uint64_t timeout;
};

QmpSync *qmp_sync_close(QmpSync *q)
{
        if (!q)
                return NULL;
        if (q->fd >= 0)
                (void) close(q->fd);
        free(q->buf);
        free(q);
        return NULL;
}

int qmp_sync_open(const char *path, uint64_t timeout_usec, QmpSync **ret)
{
        _cleanup_(qmp_sync_closep) QmpSync *q = calloc(1, sizeof(*q));
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        json_object *msg = NULL;
        int r;

        if (!q)
                return -ENOMEM;
        q->fd = -EBADF;
        q->timeout = timeout_usec;
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        q->buf = malloc(QMP_LINE_MAX);
        if (!q->buf)
                return -ENOMEM;
        q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (q->fd < 0 || connect(q->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        r = read_message(q->fd, q->buf, &q->len, QMP_LINE_MAX, now_usec() + q->timeout, &msg);
        if (r < 0)
                return r;
        json_object_put(msg);
        r = send_line(q->fd, "{\"execute\":\"qmp_capabilities\"}");
        if (r < 0)
                return r;
        r = wait_reply(q->fd, q->buf, &q->len, QMP_LINE_MAX, now_usec() + q->timeout, NULL, NULL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(q);
        return 0;
}

int qmp_sync_execute(QmpSync *q, const char *command, json_object *args, json_object **ret, char **ret_error)
{
        json_object *cmd = json_object_new_object();
        int r;

        if (!cmd) {
                if (args)
                        json_object_put(args);
                return -ENOMEM;
        }
        json_object_object_add(cmd, "execute", json_object_new_string(command));
        if (args)
                json_object_object_add(cmd, "arguments", args);
        r = send_line(q->fd, json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN));
        json_object_put(cmd);
        if (r < 0)
                return r;
        return wait_reply(q->fd, q->buf, &q->len, QMP_LINE_MAX, now_usec() + q->timeout, ret, ret_error);
}

int qmp_sync_execute_fd(QmpSync *q, int fd, const char *command, json_object *args, json_object **ret,
                char **ret_error)
{
        json_object *cmd = json_object_new_object();
        const char *line;
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct msghdr mh = {};
        struct iovec iov[2];
        struct cmsghdr *c;
        ssize_t n;

        if (!cmd) {
                if (args)
                        json_object_put(args);
                return -ENOMEM;
        }
        json_object_object_add(cmd, "execute", json_object_new_string(command));
        if (args)
                json_object_object_add(cmd, "arguments", args);
        line = json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN);
        /* the descriptor travels with the command's first byte: QEMU takes it for this command */
        iov[0] = (struct iovec) { (void *) line, strlen(line) };
        iov[1] = (struct iovec) { (void *) "\n", 1 };
        mh.msg_iov = iov;
        mh.msg_iovlen = 2;
        mh.msg_control = &control;
        mh.msg_controllen = sizeof(control);
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        n = sendmsg(q->fd, &mh, MSG_NOSIGNAL);
        if (n != (ssize_t) (iov[0].iov_len + 1)) {
                int r = n < 0 ? -errno : -EIO;

                json_object_put(cmd);
                return r;
        }
        json_object_put(cmd);
        return wait_reply(q->fd, q->buf, &q->len, QMP_LINE_MAX, now_usec() + q->timeout, ret, ret_error);
}

int qmp_sync_send_fd(QmpSync *q, int fd, const char *name, char **ret_error)
{
        json_object *args = json_object_new_object();

        if (!args || json_object_object_add(args, "fdname", json_object_new_string(name)) < 0) {
                json_object_put(args);
                return -ENOMEM;
        }
        return qmp_sync_execute_fd(q, fd, "getfd", args, NULL, ret_error);
}
