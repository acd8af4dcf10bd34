/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Any bytes as what a QEMU monitor sends the asynchronous QMP client (qmp.h): the
 * client never crashes, bounds what it buffers, and calls back each command it
 * queued exactly once, whatever the monitor says or leaves unsaid. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char sock_path[108];
static int listener = -1;

static void setup(void)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char dir[] = "/tmp/kzones-fuzz-qmp-XXXXXX";

        if (listener >= 0)
                return;
        if (!mkdtemp(dir))
                abort();
        (void) snprintf(sock_path, sizeof(sock_path), "%s/qmp", dir);
        memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
        listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listener < 0 || bind(listener, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(listener, 4) < 0)
                abort();
}

typedef struct State {
        unsigned replies;
        bool closed;
} State;

static void on_reply(Qmp *q, json_object *reply, const char *error, void *userdata)
{
        State *s = userdata;

        if (!reply && !error)
                abort();            /* a failure always says why */
        s->replies++;
}

static void on_event(Qmp *q, const char *event, json_object *d, void *userdata)
{
        if (!event)
                abort();
        (void) strlen(event);
}

static void on_closed(Qmp *q, int error, void *userdata)
{
        State *s = userdata;

        if (error >= 0 || s->closed)
                abort();
        s->closed = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Qmp *q = NULL;
        State s = {};
        int peer;

        if (size > 65536)
                return 0;
        setup();
        if (sd_event_new(&e) < 0 || qmp_connect(e, sock_path, on_event, on_closed, &s, &q) < 0)
                abort();
        peer = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (peer < 0)
                abort();
        if (qmp_execute(q, "query-status", NULL, on_reply, &s) < 0 ||
            qmp_execute(q, "query-migrate", NULL, on_reply, &s) < 0)
                abort();
        if (size > 0 && write(peer, data, size) != (ssize_t) size)
                abort();
        (void) shutdown(peer, SHUT_WR);
        for (unsigned i = 0; i < 10000 && !s.closed; i++)
                if (sd_event_run(e, 1000000) < 0)
                        abort();
        /* closed only if the monitor did not answer both; either way nothing is called twice */
        q = qmp_close(q);
        (void) close(peer);
        if (s.replies != 2)
                abort();
        return 0;
}
