/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A listening unix socket at path (replacing a stale one); returns the fd. */
int console_listen(const char *path);
#include <stdint.h>

/* The console log is bounded: once NAME.console would grow past this, it becomes
 * NAME.console.0 (replacing the one before) and a new NAME.console starts. So a
 * guest printing without end holds at most twice this on the host's disk. */
#define CONSOLE_LOG_MAX (4u * 1024u * 1024u)

/* The log of what the guest printed: fd open for appending (or -1: no log), path
 * where it is (for the rotation; NULL: truncated instead), max its size bound. */
typedef struct ConsoleLog {
        int fd;
        const char *path;
        uint64_t max;
} ConsoleLog;

/* Relays between guest (a socket connected to QEMU's serial port) and the clients of
 * client_listen until QEMU closes its end; see console-relay.c. Takes guest and
 * log->fd over. */
int console_relay(int guest, int client_listen, ConsoleLog *log);
