/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-error.h"
#include "kzones-bus.h"
#include "pool.h"

/* kzones-memory-reserved keeps no state of its own: every answer is read from the
 * kernel, the drop-ins and the pools' records when it is asked for. */
typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        char *root;
} Manager;

int manager_new(sd_event *e, sd_bus *bus, const char *root, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m)
{
        if (*m)
                *m = manager_free(*m);
}

int bus_register(Manager *m);
extern const sd_bus_vtable manager_vtable[];
extern const sd_bus_vtable pool_vtable[];
