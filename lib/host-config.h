/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>

#include "kz-error.h"

/* The host's own settings for its zones: ROOT/etc/kzones/kzones.conf (kzones.conf(5)).
 * Each setting is one KEY=VALUE line under [Host]; # and ; begin comments. */

#define HOST_CONFIG_FILE "/etc/kzones/kzones.conf"

/* What runs a zone's vCPUs. kvm: the kernel's KVM, the only choice for real work.
 * tcg: QEMU's own emulator, for a host whose KVM is missing or cannot run the
 * guest's operating system (nested KVM that emulates a guest's kernel mode); about
 * an order of magnitude slower, and a running zone cannot move between the two. */
typedef enum ZoneAccel {
        ZONE_ACCEL_KVM,
        ZONE_ACCEL_TCG,
        _ZONE_ACCEL_MAX,
        _ZONE_ACCEL_INVALID = -EINVAL,
} ZoneAccel;

const char *zone_accel_to_string(ZoneAccel a);
ZoneAccel zone_accel_from_string(const char *s);
/* QEMU's -accel value for it. */
const char *zone_accel_qemu_option(ZoneAccel a);

/* Accelerator= of ROOT/etc/kzones/kzones.conf; kvm when the file or the setting is
 * missing. An unknown value or an unreadable file is an error that names the file. */
int host_config_accel(const char *root, ZoneAccel *ret, KzError *e);
