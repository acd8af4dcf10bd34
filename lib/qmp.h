/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdint.h>
#include <systemd/sd-event.h>

/* A QMP client. The asynchronous one lives on an sd-event loop and never blocks
 * it: it connects, negotiates capabilities, queues commands and calls back with
 * each reply. The synchronous one is for short-lived helpers. */

typedef struct Qmp Qmp;

/* reply: the "return" member on success, NULL on failure; error: QMP's
 * "desc", or a description of a transport failure. */
typedef void (*qmp_reply_t)(Qmp *q, json_object *reply, const char *error, void *userdata);
typedef void (*qmp_event_t)(Qmp *q, const char *event, json_object *data, void *userdata);
typedef void (*qmp_closed_t)(Qmp *q, int error, void *userdata);

int qmp_connect(sd_event *e, const char *path, qmp_event_t on_event, qmp_closed_t on_closed, void *userdata,
                Qmp **ret);
/* Sends command with args (taken; may be NULL). cb is called exactly once, also
 * when the connection fails or is closed first. */
int qmp_execute(Qmp *q, const char *command, json_object *args, qmp_reply_t cb, void *userdata);
/* Fails what is pending (each callback once) and frees the client; callable from
 * the client's own callbacks. */
Qmp *qmp_close(Qmp *q);
static inline void qmp_closep(Qmp **q)
{
        if (*q)
                *q = qmp_close(*q);
}

/* Connects, negotiates, runs one command and returns its "return" object in
 * ret (may be NULL). Gives up after timeout_usec. */
int qmp_command_sync(const char *path, const char *command, json_object *args, uint64_t timeout_usec,
                json_object **ret, char **ret_error);

/* A synchronous QMP session, for helpers that need several commands on one
 * connection (a file descriptor handed over with getfd is known to that
 * connection only). */
typedef struct QmpSync QmpSync;
int qmp_sync_open(const char *path, uint64_t timeout_usec, QmpSync **ret);
int qmp_sync_execute(QmpSync *q, const char *command, json_object *args, json_object **ret, char **ret_error);
/* Runs command with fd attached (SCM_RIGHTS), for the commands that take one: add-fd,
 * getfd. */
int qmp_sync_execute_fd(QmpSync *q, int fd, const char *command, json_object *args, json_object **ret,
                char **ret_error);
/* Hands fd to QEMU under name (QMP getfd, the fd travels as SCM_RIGHTS). */
int qmp_sync_send_fd(QmpSync *q, int fd, const char *name, char **ret_error);
QmpSync *qmp_sync_close(QmpSync *q);
static inline void qmp_sync_closep(QmpSync **q)
{
        if (*q)
                *q = qmp_sync_close(*q);
}
