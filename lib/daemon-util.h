/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>
#include <systemd/sd-event.h>

/* What every kzones bus daemon does around its own setup. */

/* The default event loop, with SIGTERM and SIGINT handled by on_signal, or, if
 * that is NULL, ending the loop. */
int daemon_event_new(sd_event_signal_handler_t on_signal, sd_event **ret);

/* Tells systemd the daemon is ready (READY=1, STATUS=status), runs the loop until
 * it exits, then says STOPPING=1. Returns what sd_event_loop() returns. */
int daemon_event_loop(sd_event *event, const char *status);

/* main() of a daemon that takes no arguments: runs impl() (0 or -errno) and
 * exits 0, or 1 on failure, or 2 with usage on stderr when given arguments. */
#define DEFINE_DAEMON_MAIN(impl, usage)                                                                      \
        int main(int argc, char *argv[])                                                                   \
        {                                                                                                  \
                if (argc > 1) {                                                                            \
                        fprintf(stderr, "usage: %s\n", usage);                                             \
                        return 2;                                                                          \
                }                                                                                          \
                return impl() < 0 ? 1 : 0;                                                                 \
        }
