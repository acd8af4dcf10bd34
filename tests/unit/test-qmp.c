/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QMP clients (lib/qmp.c) against a monitor that misbehaves: a line that is not
 * JSON, a reply with neither "return" nor "error", a line longer than any reply, an
 * event whose name is null, a connection closed in the middle of a reply, a monitor
 * that says nothing. Each time the caller gets an error (the asynchronous client
 * calls back each command exactly once, with a reason), and the client neither
 * crashes nor hangs: each test has a time limit.
 *
 * The monitor is a child process on the other end of a unix socket connection:
 * it greets, answers qmp_capabilities, reads the command and sends what the test
 * says, then hangs up or holds the connection open. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "qmp.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}\n"
#define RETURN_EMPTY "{\"return\": {}}\n"
#define RUNNING "{\"return\": {\"status\": \"running\", \"running\": true}}\n"
#define TIMEOUT_USEC (5u * 1000000u)

static char dir[] = "/tmp/kzones-test-qmp.XXXXXX";
static char sock_path[128];
static int listener = -1;
static pid_t monitor_pid = -1;

static void setup(void)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        cr_assert_not_null(mkdtemp(dir));
        (void) snprintf(sock_path, sizeof(sock_path), "%s/qmp.sock", dir);
        strcpy(sa.sun_path, sock_path);
        listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(listener, 0);
        cr_assert_eq(bind(listener, (struct sockaddr *) &sa, sizeof(sa)), 0);
        cr_assert_eq(listen(listener, 4), 0);
}

static void teardown(void)
{
        if (monitor_pid > 0) {
                (void) kill(monitor_pid, SIGKILL);
                (void) waitpid(monitor_pid, NULL, 0);
        }
        if (listener >= 0)
                (void) close(listener);
        (void) unlink(sock_path);
        (void) rmdir(dir);
}

/* What the monitor does once the command arrives. */
typedef struct Monitor {
        const char *greeting; /* NULL: QEMU's */
        const char *reply;    /* sent after the command line */
        size_t reply_len;     /* 0: strlen(reply) */
        const char *second;   /* sent after a second command line, if any */
        bool greeting_only;   /* hang up right after the greeting */
        bool hold;            /* keep the connection open afterwards (else hang up) */
} Monitor;

static void send_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        _exit(0); /* the client hung up: what it should do with a bad line */
                }
                p += k;
                n -= (size_t) k;
        }
}

static void read_line(int fd)
{
        char c;

        for (;;) {
                ssize_t k = read(fd, &c, 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        _exit(0);
                if (c == '\n')
                        return;
        }
}

static void monitor_start(const Monitor *m)
{
        monitor_pid = fork();
        cr_assert_geq(monitor_pid, 0);
        if (monitor_pid == 0) {
                int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);

                if (fd < 0)
                        _exit(1);
                send_all(fd, m->greeting ?: GREETING, strlen(m->greeting ?: GREETING));
                if (m->greeting_only)
                        _exit(0);
                read_line(fd); /* qmp_capabilities */
                send_all(fd, RETURN_EMPTY, strlen(RETURN_EMPTY));
                read_line(fd); /* the command */
                if (m->reply)
                        send_all(fd, m->reply, m->reply_len ?: strlen(m->reply));
                if (m->second) {
                        read_line(fd);
                        send_all(fd, m->second, strlen(m->second));
                }
                if (m->hold)
                        for (;;)
                                (void) pause();
                _exit(0);
        }
}

/* A line of n bytes with no newline: longer than any reply the clients accept. */
static char *oversized(size_t n)
{
        char *s = malloc(n + 1);

        cr_assert_not_null(s);
        memset(s, 'x', n);
        s[0] = '"';
        s[n] = 0;
        return s;
}

/* ---- the asynchronous client (the restarter's) ------------------------------------------------ */

typedef struct Calls {
        unsigned replies, events;
        char *error;       /* of the last reply */
        char *status;      /* "status" of the last successful reply */
        bool returned;     /* the last reply was a "return" */
        unsigned closed;   /* on_closed calls */
        int closed_error;
} Calls;

static void on_reply(Qmp *q, json_object *reply, const char *error, void *userdata)
{
        Calls *c = userdata;
        json_object *v;

        c->replies++;
        c->returned = reply != NULL;
        free(c->error);
        c->error = error ? strdup(error) : NULL;
        free(c->status);
        c->status = NULL;
        if (reply && json_object_object_get_ex(reply, "status", &v))
                c->status = strdup(json_object_get_string(v));
        /* a failure always says why */
        cr_assert(reply || error, "a reply callback with neither a reply nor an error");
}

static void on_event(Qmp *q, const char *event, json_object *data, void *userdata)
{
        Calls *c = userdata;

        cr_assert_not_null(event, "an event callback without a name");
        c->events++;
}

static void on_closed(Qmp *q, int error, void *userdata)
{
        Calls *c = userdata;

        c->closed++;
        c->closed_error = error;
}

typedef struct Client {
        sd_event *event;
        Qmp *qmp;
        Calls calls;
} Client;

static void client_start(Client *c, const Monitor *m)
{
        *c = (Client) {};
        monitor_start(m); /* first, so that the monitor holds no copy of the client's end */
        cr_assert_eq(sd_event_new(&c->event), 0);
        cr_assert_eq(qmp_connect(c->event, sock_path, on_event, on_closed, &c->calls, &c->qmp), 0);
        cr_assert_eq(qmp_execute(c->qmp, "query-status", NULL, on_reply, &c->calls), 0);
}

/* Runs the loop until `replies` replies came (and the connection closed, if
 * `closed`), or fails the test after TIMEOUT_USEC: a client that hangs is a bug. */
static void client_wait(Client *c, unsigned replies, bool closed)
{
        uint64_t deadline = now_usec() + TIMEOUT_USEC;

        while (c->calls.replies < replies || (closed && c->calls.closed == 0)) {
                cr_assert_lt(now_usec(), deadline, "the client hangs: %u of %u replies, closed %u times",
                        c->calls.replies, replies, c->calls.closed);
                cr_assert_geq(sd_event_run(c->event, 100000), 0);
        }
        /* nothing more comes: no second callback for the same command */
        for (unsigned i = 0; i < 3; i++)
                cr_assert_geq(sd_event_run(c->event, 20000), 0);
        cr_assert_eq(c->calls.replies, replies, "%u replies, expected %u", c->calls.replies, replies);
}

static void client_done(Client *c)
{
        c->qmp = qmp_close(c->qmp);
        c->event = sd_event_unref(c->event);
        free(c->calls.error);
        free(c->calls.status);
}

/* The command fails with error and the connection is closed with code. */
static void assert_failed_and_closed(Client *c, const char *error, int code)
{
        client_wait(c, 1, true);
        cr_assert_not(c->calls.returned);
        cr_assert_str_eq(c->calls.error, error);
        cr_assert_eq(c->calls.closed, 1, "on_closed called %u times", c->calls.closed);
        cr_assert_eq(c->calls.closed_error, code, "closed with %d, expected %d", c->calls.closed_error, code);
        /* and a command after that is refused, not queued for ever */
        cr_assert_eq(qmp_execute(c->qmp, "query-status", NULL, on_reply, &c->calls), -ENOTCONN);
}

TestSuite(qmp_async, .init = setup, .fini = teardown, .timeout = 20);

Test(qmp_async, a_line_that_is_not_json_fails_the_command_and_closes)
{
        Client c;

        client_start(&c, &(Monitor) { .reply = "this is not JSON\n", .hold = true });
        assert_failed_and_closed(&c, "malformed QMP message", -EBADMSG);
        client_done(&c);
}

Test(qmp_async, a_greeting_that_is_not_json_fails_the_command)
{
        Client c;

        client_start(&c, &(Monitor) { .greeting = "{\"QMP\": \n", .hold = true });
        assert_failed_and_closed(&c, "malformed QMP message", -EBADMSG);
        client_done(&c);
}

Test(qmp_async, a_reply_with_neither_return_nor_error_is_an_error_and_the_next_reply_still_comes)
{
        Client c;

        client_start(&c, &(Monitor) { .reply = "{\"id\": \"kz\", \"timestamp\": {\"seconds\": 1}}\n",
                .second = RUNNING, .hold = true });
        client_wait(&c, 1, false);
        cr_assert_not(c.calls.returned);
        cr_assert_str_eq(c.calls.error, "malformed QMP reply");
        cr_assert_eq(c.calls.closed, 0);
        /* the connection is still good: the next command gets its own reply */
        cr_assert_eq(qmp_execute(c.qmp, "query-status", NULL, on_reply, &c.calls), 0);
        client_wait(&c, 2, false);
        cr_assert(c.calls.returned);
        cr_assert_str_eq(c.calls.status, "running");
        client_done(&c);
}

Test(qmp_async, an_error_with_a_null_description_or_json_that_is_no_object_is_an_error)
{
        Client c;

        client_start(&c, &(Monitor) { .reply = "{\"error\": {\"class\": \"GenericError\", \"desc\": null}}\n",
                .second = "42\n", .hold = true });
        client_wait(&c, 1, false);
        cr_assert_str_eq(c.calls.error, "malformed QMP reply");
        cr_assert_eq(qmp_execute(c.qmp, "query-status", NULL, on_reply, &c.calls), 0);
        client_wait(&c, 2, false);
        cr_assert_not(c.calls.returned);
        cr_assert_str_eq(c.calls.error, "malformed QMP reply");
        cr_assert_eq(c.calls.closed, 0);
        client_done(&c);
}

Test(qmp_async, a_null_return_is_an_error)
{
        Client c;

        /* found by fuzz-qmp: this called back with neither a reply nor an error */
        client_start(&c, &(Monitor) { .reply = "{\"return\": null}\n", .hold = true });
        client_wait(&c, 1, false);
        cr_assert_not(c.calls.returned);
        cr_assert_str_eq(c.calls.error, "malformed QMP reply: a null return value");
        client_done(&c);
}

Test(qmp_async, an_oversized_line_is_refused_before_it_ends)
{
        _cleanup_free_ char *line = oversized(3u * 1024u * 1024u);
        Client c;

        /* no newline, and the monitor holds on: the client must stop buffering by itself */
        client_start(&c, &(Monitor) { .reply = line, .hold = true });
        assert_failed_and_closed(&c, "QMP message too long", -EMSGSIZE);
        client_done(&c);
}

Test(qmp_async, an_event_with_a_null_name_is_no_event_and_the_reply_still_comes)
{
        Client c;

        client_start(&c, &(Monitor) {
                .reply = "{\"event\": null, \"data\": {\"status\": \"x\"}}\n"
                         "{\"event\": 7}\n"
                         "{\"event\": \"STOP\", \"data\": null}\n" RUNNING,
                .hold = true });
        client_wait(&c, 1, false);
        cr_assert(c.calls.returned);
        cr_assert_str_eq(c.calls.status, "running");
        /* only the event with a name reached the owner */
        cr_assert_eq(c.calls.events, 1);
        client_done(&c);
}

Test(qmp_async, an_event_with_a_null_name_then_a_hang_up_fails_the_command)
{
        Client c;

        client_start(&c, &(Monitor) { .reply = "{\"event\": null}\n" });
        assert_failed_and_closed(&c, "QMP connection closed", -ECONNRESET);
        cr_assert_eq(c.calls.events, 0);
        client_done(&c);
}

Test(qmp_async, a_connection_closed_in_the_middle_of_a_reply_fails_the_command)
{
        Client c;

        client_start(&c, &(Monitor) { .reply = "{\"return\": {\"status\": \"runn" });
        assert_failed_and_closed(&c, "QMP connection closed", -ECONNRESET);
        client_done(&c);
}

Test(qmp_async, a_connection_closed_before_the_greeting_fails_every_command)
{
        Client c;

        client_start(&c, &(Monitor) { .greeting = "{\"QMP\"", .greeting_only = true });
        cr_assert_eq(qmp_execute(c.qmp, "query-migrate", NULL, on_reply, &c.calls), 0);
        client_wait(&c, 2, true);
        cr_assert_str_eq(c.calls.error, "QMP connection closed");
        cr_assert_eq(c.calls.closed, 1);
        client_done(&c);
}

/* ---- the synchronous clients (the launcher's and helpers') ----------------------------------- */

/* Opens a session, runs query-status, and returns what qmp_sync_execute returned. */
static int sync_query(const Monitor *m, char **ret_status, char **ret_error)
{
        _cleanup_(qmp_sync_closep) QmpSync *q = NULL;
        json_object *ret = NULL, *v;
        int r;

        monitor_start(m);
        r = qmp_sync_open(sock_path, 2u * 1000000u, &q);
        cr_assert_eq(r, 0, "qmp_sync_open: %s", strerror(-r));
        r = qmp_sync_execute(q, "query-status", NULL, &ret, ret_error);
        if (r >= 0) {
                cr_assert_not_null(ret);
                if (ret_status && json_object_object_get_ex(ret, "status", &v))
                        *ret_status = strdup(json_object_get_string(v));
                json_object_put(ret);
        } else
                cr_assert_null(ret, "a failed command handed back a reply");
        return r;
}

TestSuite(qmp_sync, .init = setup, .fini = teardown, .timeout = 20);

Test(qmp_sync, a_reply_as_qemu_sends_it)
{
        _cleanup_free_ char *status = NULL, *error = NULL;

        cr_assert_eq(sync_query(&(Monitor) { .reply = RUNNING }, &status, &error), 0);
        cr_assert_str_eq(status, "running");
        cr_assert_null(error);
}

Test(qmp_sync, a_line_that_is_not_json)
{
        _cleanup_free_ char *error = NULL;

        cr_assert_eq(sync_query(&(Monitor) { .reply = "this is not JSON\n", .hold = true }, NULL, &error), -EBADMSG);
        cr_assert_null(error);
}

Test(qmp_sync, a_reply_with_neither_return_nor_error)
{
        _cleanup_free_ char *error = NULL;

        cr_assert_eq(sync_query(&(Monitor) { .reply = "{\"id\": \"kz\"}\n", .hold = true }, NULL, &error), -EIO);
        cr_assert_null(error);
}

Test(qmp_sync, a_null_return)
{
        _cleanup_free_ char *error = NULL;

        cr_assert_eq(sync_query(&(Monitor) { .reply = "{\"return\": null}\n", .hold = true }, NULL, &error), -EIO);
        cr_assert_null(error);
}

Test(qmp_sync, an_error_hands_back_its_description)
{
        _cleanup_free_ char *error = NULL;

        cr_assert_eq(sync_query(&(Monitor) {
                .reply = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no migration\"}}\n", .hold = true },
                NULL, &error), -EIO);
        cr_assert_str_eq(error, "no migration");
}

Test(qmp_sync, json_that_is_no_object)
{
        _cleanup_free_ char *error = NULL;

        cr_assert_eq(sync_query(&(Monitor) { .reply = "[\"return\"]\n", .hold = true }, NULL, &error), -EIO);
        cr_assert_null(error);
}

Test(qmp_sync, an_error_whose_description_is_null_or_no_string)
{
        _cleanup_free_ char *error = NULL;

        /* this one crashed the helpers (strdup of NULL) before */
        cr_assert_eq(sync_query(&(Monitor) { .reply = "{\"error\": {\"desc\": null}}\n", .hold = true }, NULL, &error),
                -EIO);
        cr_assert_null(error);
        (void) kill(monitor_pid, SIGKILL);
        (void) waitpid(monitor_pid, NULL, 0);
        cr_assert_eq(sync_query(&(Monitor) { .reply = "{\"error\": {\"desc\": {\"a\": 1}}}\n", .hold = true }, NULL,
                &error), -EIO);
        cr_assert_null(error);
}

Test(qmp_sync, an_oversized_line)
{
        _cleanup_free_ char *line = oversized(3u * 1024u * 1024u), *error = NULL;

        cr_assert_eq(sync_query(&(Monitor) { .reply = line, .hold = true }, NULL, &error), -EMSGSIZE);
}

Test(qmp_sync, an_event_with_a_null_name_is_skipped)
{
        _cleanup_free_ char *status = NULL, *error = NULL;

        cr_assert_eq(sync_query(&(Monitor) { .reply = "{\"event\": null}\n{\"event\": 7, \"data\": null}\n" RUNNING },
                &status, &error), 0);
        cr_assert_str_eq(status, "running");
}

Test(qmp_sync, an_event_with_a_null_name_then_a_hang_up)
{
        _cleanup_free_ char *error = NULL;

        cr_assert_eq(sync_query(&(Monitor) { .reply = "{\"event\": null}\n" }, NULL, &error), -ECONNRESET);
}

Test(qmp_sync, a_connection_closed_in_the_middle_of_a_reply)
{
        _cleanup_free_ char *error = NULL;

        cr_assert_eq(sync_query(&(Monitor) { .reply = "{\"return\": {\"status\": \"runn" }, NULL, &error),
                -ECONNRESET);
}

Test(qmp_sync, a_monitor_that_says_nothing_times_out)
{
        _cleanup_free_ char *error = NULL;
        uint64_t t0 = now_usec();

        /* the command is read and never answered: the 2 s limit ends the wait */
        cr_assert_eq(sync_query(&(Monitor) { .hold = true }, NULL, &error), -ETIMEDOUT);
        cr_assert_lt(now_usec() - t0, 4u * 1000000u);
}

Test(qmp_sync, a_one_shot_command_with_a_greeting_that_is_not_json)
{
        _cleanup_free_ char *error = NULL;
        json_object *ret = NULL;

        monitor_start(&(Monitor) { .greeting = "QEMU here\n", .hold = true });
        cr_assert_eq(qmp_command_sync(sock_path, "query-status", NULL, 2u * 1000000u, &ret, &error), -EBADMSG);
        cr_assert_null(ret);
}

Test(qmp_sync, a_one_shot_command_closed_in_the_middle_of_a_reply)
{
        _cleanup_free_ char *error = NULL;
        json_object *ret = NULL;

        monitor_start(&(Monitor) { .reply = "{\"return\": {\"stat" });
        cr_assert_eq(qmp_command_sync(sock_path, "query-status", NULL, 2u * 1000000u, &ret, &error), -ECONNRESET);
        cr_assert_null(ret);
}
