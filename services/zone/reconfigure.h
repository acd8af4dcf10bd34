/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "kz-error.h"
#include "zone-config.h"

/* Disks and NICs added to and removed from a running zone (zonecfg -r, zoneadm
 * apply), through the zone's control monitor, by kzones-zone reconfigure. The QEMU
 * ids are the boot's (lib/zone-qemu.c): a device is block node diskID under
 * virtio-blk-pci diskID-dev (serial kz-diskID), its local storage in an fdset with
 * opaque diskID; an anet is netdev netID under virtio-net-pci netID-dev. An added one
 * takes the first free PCIe root port ZONE_HOTPLUG_PORT "N" (zone-qemu.h).
 *
 * Each is synchronous and returns 0, or -errno with e set to one line saying what
 * failed (the guide's style). On failure nothing of this one change is left in
 * QEMU or on the host (no tap, no macvtap, no fdset, no block node). */

typedef struct QmpSync QmpSync;

/* What QEMU runs of the zone's disks and NICs (the live configuration's readback):
 * the ids of its devices (virtio-blk-pci diskID-dev) and anets (virtio-net-pci
 * netID-dev) in /machine/peripheral, in QOM's order. A disk or NIC whose removal
 * timed out is still there until the guest releases it. */
int reconfigure_read_devices(QmpSync *q, char ***ret_devices, char ***ret_anets, KzError *e);

/* How long a removal waits for the guest to release the device (DEVICE_DELETED):
 * then it fails with -ETIMEDOUT and the device stays (QEMU's unplug request stays
 * pending; a guest that releases it later makes it go, and a later add or remove of
 * that id clears what is left of it). */
#define RECONFIGURE_UNPLUG_TIMEOUT_USEC (10u * 1000000u)

/* A device's storage opened as at boot (device_open_storage()) and given to QEMU
 * (add-fd, blockdev-add, device_add). Refused: a device that would come first in the
 * boot order (it would become the boot device, which holds the zone's host data). */
int reconfigure_device_add(QmpSync *q, const char *zone, const ZoneConfig *live, const ZoneResource *device,
                KzError *e);
/* device_del, the guest's release, blockdev-del, remove-fd. Refused: the boot device
 * (the zone's host data and lease live on it). */
int reconfigure_device_remove(QmpSync *q, const char *zone, const ZoneConfig *live, const ZoneResource *device,
                KzError *e);
/* The anet's tap or macvtap made as at boot (anet_make(): its lower link resolved,
 * DefaultLowerLink= of the zone unit's drop-ins, the zone's MAC for it) and given to
 * QEMU (getfd, netdev_add, device_add). */
int reconfigure_anet_add(QmpSync *q, const char *zone, const ZoneConfig *live, const ZoneResource *anet,
                KzError *e);
/* device_del, the guest's release, netdev_del (the tap goes with it), and the anet's
 * macvtap removed. */
int reconfigure_anet_remove(QmpSync *q, const char *zone, const ZoneConfig *live, const ZoneResource *anet,
                KzError *e);
