/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* The zone states of zones(7), as zoneadm list shows them. */
typedef enum ZoneState {
        ZONE_STATE_CONFIGURED,
        ZONE_STATE_INCOMPLETE,
        ZONE_STATE_UNAVAILABLE,
        ZONE_STATE_INSTALLED,
        ZONE_STATE_READY,
        ZONE_STATE_RUNNING,
        ZONE_STATE_SHUTTING_DOWN,
        ZONE_STATE_DOWN,
        _ZONE_STATE_MAX,
        _ZONE_STATE_INVALID = -22,
} ZoneState;

const char *zone_state_to_string(ZoneState s);
ZoneState zone_state_from_string(const char *s);

/* Configured, incomplete or unavailable: nothing of the zone is installed and in
 * use here, so its configuration may be renamed or deleted. */
bool zone_state_is_uninstalled(ZoneState s);
