/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "zone-config.h"

/* The differences between a migrating zone's configuration here (the source's) and
 * the one the destination holds there that a guest resuming its memory, or its
 * host data, would notice: capped-memory:physical and pagesize-policy,
 * virtual-cpu:ncpus, cpu-arch, each device's id and storage URI, each anet, and
 * the key. One sentence each ("virtual-cpu:ncpus is 2 on the source, 1 on the
 * destination"); an empty (NULL) list when they agree. */
int zone_config_migration_differences(const ZoneConfig *here, const ZoneConfig *there, char ***ret);
