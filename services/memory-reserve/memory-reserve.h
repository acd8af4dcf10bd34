/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-error.h"
#include "pool.h"

#define MEMORY_RESERVE_BUS_NAME "org.kzones.MemoryReserve1"
#define MEMORY_RESERVE_PATH "/org/kzones/MemoryReserve1"
#define MEMORY_RESERVE_POOL_PREFIX "/org/kzones/MemoryReserve1/pool"
#define MEMORY_RESERVE_MANAGER_IFACE "org.kzones.MemoryReserve1.Manager"
#define MEMORY_RESERVE_POOL_IFACE "org.kzones.MemoryReserve1.Pool"

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
