/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Remote host URIs: ssh://[USER@]HOST[:PORT], or a bare HOST meaning ssh://HOST.
 * They name the host whose system bus is reached over SSH, as busctl -H does. */
typedef struct RemoteUri {
        char *user; /* NULL: the default */
        char *host;
        uint16_t port; /* 0: 22 */
} RemoteUri;

int remote_uri_parse(const char *s, RemoteUri *ret, const char **ret_reason);
void remote_uri_done(RemoteUri *u);
/* "[USER@]HOST[:PORT]" as sd_bus_open_system_remote() takes it. */
char *remote_uri_to_bus_host(const RemoteUri *u);
