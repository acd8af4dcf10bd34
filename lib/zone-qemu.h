/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "zone-config.h"

/* How a zone configuration becomes a QEMU command line. */

#define ZONE_RUN_DIR "/run/kzones"
#define ZONE_DISK_DIR "/var/lib/zones"
#define ZONE_LOG_DIR "/var/log/zones"
#define ZONE_DEFAULT_BRIDGE "kzbr0"
#define ZONE_DEFAULT_MEMORY "4G"
#define ZONE_DEFAULT_NCPUS 4u
#define ZONE_QBOOT "/usr/share/qemu/qboot.rom" /* firmware for direct-kernel zones */

/* In the zone's runtime directory ROOT/run/kzones/NAME: */
#define ZONE_QMP_SOCKET "qmp.sock"         /* the restarter's monitor */
#define ZONE_CONTROL_SOCKET "control.sock" /* a second monitor for helpers */
#define ZONE_CONSOLE_SOCKET "console.sock" /* the serial console, for zlogin -C (the relay's) */
#define ZONE_SERIAL_SOCKET "serial.sock"   /* where QEMU's serial port connects (the relay's) */

typedef struct ZoneQemuOptions {
        const char *qemu;           /* default "qemu-system-x86_64" */
        const char *runtime_dir;    /* ROOT/run/kzones/NAME */
        const char *uuid;           /* from the index, may be NULL */
        const char *default_bridge; /* for lower-link=auto */
        const int *tap_fds;         /* one per anet, in configuration order; NULL: no networking fds */
        size_t n_taps;
        char **boot_args;           /* appended to the kernel command line */
        bool incoming;              /* start with -incoming defer */
        uint64_t boot_size;         /* the boot device's size: the guest sees it less the host data */
} ZoneQemuOptions;

/* The argument vector, NULL-terminated; every value of c has been checked
 * already, so failures here are about what this host provides (a missing NFS
 * user, an iSCSI LU name without a target). */
int zone_qemu_argv(const ZoneConfig *c, const ZoneQemuOptions *o, char ***ret, KzError *e);

/* Whether a network interface of that name exists in this network namespace
 * (asked of the kernel, not of /sys, which a container may share with its host). */
bool zone_link_exists(const char *name);
/* The -blockdev JSON of a device (node may be NULL), also a json: filename for qemu-img. */
int zone_device_blockdev_json(const ZoneConfig *c, const ZoneResource *d, const char *node, char **ret, KzError *e);
/* The bridge an anet's lower-link names on this host. */
const char *zone_anet_bridge(const ZoneResource *anet, const char *default_bridge);
/* The anet's MAC: the configured one, else one derived from the zone's name and
 * the anet id, locally administered and stable across boots and hosts. */
void zone_anet_mac(const ZoneConfig *c, const ZoneResource *anet, char buf[18]);
/* The guest memory in bytes and the number of vCPUs. */
uint64_t zone_memory_bytes(const ZoneConfig *c);
unsigned zone_ncpus(const ZoneConfig *c);
/* The QEMU CPU model for cpu-arch. */
const char *zone_cpu_model(const ZoneConfig *c);
/* Devices in boot order: bootpri, then id. Returns the count; *ret is an array
 * of borrowed pointers. */
size_t zone_devices_sorted(const ZoneConfig *c, const ZoneResource ***ret);
/* The boot device (first in boot order) or NULL. */
const ZoneResource *zone_boot_device(const ZoneConfig *c);
