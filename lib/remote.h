/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

/* Remote host URIs: ssh://[USER@]HOST[:PORT], or a bare HOST meaning ssh://HOST.
 * They name the host whose system bus is reached over SSH, as busctl -H does. */
typedef struct RemoteUri {
        char *user; /* NULL: the default */
        char *host;
        uint16_t port; /* 0: 22 */
} RemoteUri;

int remote_uri_parse(const char *s, RemoteUri *ret, const char **ret_reason);
void remote_uri_done(RemoteUri *u);
/* An evacuation target written as a list, "ssh://h2 ssh://h3": its elements,
 * split at spaces and tabs (no empty one), each checked with remote_uri_parse().
 * -EINVAL for an empty list or a bad element: *ret_bad (if given) is a copy of that
 * element (or NULL for an empty list) and *ret_reason says why. At most
 * REMOTE_URI_LIST_MAX elements. */
#define REMOTE_URI_LIST_MAX 16
int remote_uri_list_split(const char *s, char ***ret, char **ret_bad, const char **ret_reason);
/* "[USER@]HOST[:PORT]" as sd_bus_open_system_remote() takes it. */
char *remote_uri_to_bus_host(const RemoteUri *u);

/* sd_bus_open_system_remote() with ssh's stderr going to a memory file, *ret_errors (which
 * the caller closes), instead of to ours: remote_ssh_reason() then says why ssh failed in
 * one line. ssh keeps writing there for as long as it runs. */
int remote_bus_open(sd_bus **ret, const char *bus_host, int *ret_errors);
/* Starts ssh to @u's host running systemd-stdio-bridge (its system bus), as the
 * calling user with that user's SSH identity, prompts on the terminal; its errors to
 * @errors (or our stderr). *ret_fd: our end of its standard input and output, for
 * sd_bus_set_fd(); ssh gets SIGTERM when the caller dies. */
int remote_ssh_bridge(const RemoteUri *u, int errors, int *ret_fd, pid_t *ret_pid);
/* A bus client on @fd, a connection to a system bus that another process made (e.g.
 * remote_ssh_bridge()'s), taken over. */
int remote_bus_from_fd(sd_bus **ret, int fd);
/* The last line ssh wrote to @errors, without "ssh: ", in @buf; NULL if it wrote nothing. */
const char *remote_ssh_reason(int errors, char *buf, size_t size);
