/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "kz-error.h"
#include "zone-config.h"

/* kzones-zone reconfigure: the anet and device changes of a live reconfiguration
 * (reconfigure-dev.c), called by reconfigure.c in the order of the plan. QEMU ids
 * are those lib/zone-qemu.c gives at boot: disk<ID>/disk<ID>-dev, net<ID>/net<ID>-dev. */

typedef struct QmpSync QmpSync;
/* Each is synchronous and returns 0, or -errno with e set to one line saying
 * what failed (the guide's style). On failure nothing of this one change is left
 * in QEMU or on the host (no tap, no fdset, no blockdev node). */
int reconfigure_device_add(QmpSync *q, const char *zone, const ZoneConfig *live,
                           const ZoneResource *device, KzError *e);
int reconfigure_device_remove(QmpSync *q, const char *zone, const ZoneConfig *live,
                              const ZoneResource *device, KzError *e);
int reconfigure_anet_add(QmpSync *q, const char *zone, const ZoneConfig *live,
                         const ZoneResource *anet, KzError *e);
int reconfigure_anet_remove(QmpSync *q, const char *zone, const ZoneConfig *live,
                            const ZoneResource *anet, KzError *e);
