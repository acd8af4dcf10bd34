/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The zone states of zones(7), by name. */
#include "macro.h"
#include "zone-state.h"

static const char *const zone_state_table[_ZONE_STATE_MAX] = {
        [ZONE_STATE_CONFIGURED] = "configured",
        [ZONE_STATE_INCOMPLETE] = "incomplete",
        [ZONE_STATE_UNAVAILABLE] = "unavailable",
        [ZONE_STATE_INSTALLED] = "installed",
        [ZONE_STATE_READY] = "ready",
        [ZONE_STATE_RUNNING] = "running",
        [ZONE_STATE_SHUTTING_DOWN] = "shutting_down",
        [ZONE_STATE_DOWN] = "down",
};

DEFINE_STRING_TABLE(zone_state, ZoneState, _ZONE_STATE_MAX)

bool zone_state_is_uninstalled(ZoneState s)
{
        return s == ZONE_STATE_CONFIGURED || s == ZONE_STATE_INCOMPLETE || s == ZONE_STATE_UNAVAILABLE;
}
