/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "zonecfg-cmd.h"

/* zonecfg -r: the live mode's calls to the zone restarter (org.kzones.Restarter1.Zone's
 * GetLiveConfiguration and ReconfigureLive, the job followed to its end). */
typedef struct ZonecfgLiveBus ZonecfgLiveBus;

/* Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured) for zone; ret_live
 * is filled with the calls, their userdata being *ret. Reports its own errors. */
int zonecfg_live_bus_new(const char *zone, ZonecfgLive *ret_live, ZonecfgLiveBus **ret);
ZonecfgLiveBus *zonecfg_live_bus_free(ZonecfgLiveBus *b);
static inline void zonecfg_live_bus_freep(ZonecfgLiveBus **b)
{
        if (*b)
                *b = zonecfg_live_bus_free(*b);
}
