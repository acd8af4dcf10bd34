/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A listening unix socket at path (replacing a stale one); returns the fd. */
int console_listen(const char *path);
/* Waits for QEMU on serial_listen, then relays until QEMU closes; see console-relay.c. */
int console_relay(int serial_listen, int client_listen, int log_fd);
