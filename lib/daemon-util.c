/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <signal.h>
#include <systemd/sd-daemon.h>

#include "daemon-util.h"
#include "macro.h"

int daemon_event_new(sd_event_signal_handler_t on_signal, sd_event **ret)
{
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        int r;

        r = sd_event_default(&event);
        if (r < 0)
                return r;
        /* a NULL handler exits the loop */
        r = sd_event_add_signal(event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, on_signal, NULL);
        if (r < 0)
                return r;
        r = sd_event_add_signal(event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, on_signal, NULL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(event);
        return 0;
}

int daemon_event_loop(sd_event *event, const char *status)
{
        int r;

        (void) sd_notifyf(false, "READY=1\nSTATUS=%s", status);
        r = sd_event_loop(event);
        (void) sd_notify(false, "STOPPING=1");
        return r;
}
