/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

#include "host-config.h"
#include "zone-config.h"

/* How a zone configuration becomes a QEMU command line. */

#define ZONE_RUN_DIR "/run/kzones"
#define ZONE_DISK_DIR "/var/lib/zones"
#define ZONE_LOG_DIR "/var/log/zones"
#define ZONE_DEFAULT_MEMORY "4G"
#define ZONE_DEFAULT_NCPUS 4u
#define ZONE_QBOOT "/usr/share/qemu/qboot.rom" /* firmware for direct-kernel zones */

/* In the zone's runtime directory ROOT/run/kzones/NAME (root's: QEMU's user cannot
 * write there; the launcher binds the monitors' sockets and hands them to QEMU): */
#define ZONE_QMP_SOCKET "qmp.sock"         /* the restarter's monitor */
#define ZONE_CONTROL_SOCKET "control.sock" /* a second monitor for helpers */
/* An incoming live migration: QEMU's own listening socket, in a directory of QEMU's
 * user (QEMU binds it; kz-migr connects to it), and the launcher's note of the
 * migration for kzones-zone wait ("CHANNELS ID\n"). */
#define ZONE_INCOMING_DIR "incoming"
#define ZONE_INCOMING_SOCKET ZONE_INCOMING_DIR "/migr.sock"
#define ZONE_INCOMING_NOTE "incoming.note"
#define ZONE_CONSOLE_SOCKET "console.sock" /* the serial console, for zlogin -C (the relay's) */

/* QEMU runs as this unprivileged system user (sysusers.d/kzones.conf), a member of
 * the group that owns /dev/kvm. */
#ifndef KZONES_QEMU_USER
#define KZONES_QEMU_USER "kzones-qemu"
#endif

/* QEMU's own seccomp filter: what libvirt asks for by default. */
#define ZONE_QEMU_SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

/* fdset ids: device i (in boot order) is set i + 1; the installer's medium is this one. */
#define ZONE_FDSET_INSTALLER 1000

/* What the launcher opened for QEMU, which then needs no access to the host's files:
 * descriptors inherited across exec. */
typedef struct ZoneQemuFds {
        int qmp;            /* listening unix socket: the restarter's monitor (qmp.sock) */
        int control;        /* listening unix socket: the helpers' monitor (control.sock) */
        int serial;         /* a connected socket to the console relay */
        const int *devices; /* per device in boot order (zone_devices_sorted()): its local file or
                             * block device opened read-write, or -1 (network storage) */
        size_t n_devices;
        int installer;      /* zoneadm install -b: the installer's medium (read-only), or -1 */
} ZoneQemuFds;
#define ZONE_SUSPENDING_NOTE "suspending"  /* the restarter runs a suspend helper (the restarter's pid) */
#define ZONE_MIGRATING_NOTE "migrating-out" /* a live migration out runs (its destination's URI) */
/* the restarter saw a migrated-in guest run here: the lease keeper may take the
 * source's lease once it expired, if no handover comes */
#define ZONE_INCOMING_RUNNING_NOTE "incoming-running"
/* kzones-zone migrate-out DEST resolve: the exit status that says the destination
 * could not tell whether the guest runs there, so it stays paused here */
#define MIGRATE_HELPER_STILL_PAUSED 2

/* The suspend image is written as PATH.partial and renamed to PATH once sealed. */
#define ZONE_SUSPEND_PARTIAL_SUFFIX ".partial"

typedef struct ZoneQemuOptions {
        const char *qemu;           /* default "qemu-system-x86_64" */
        const char *runtime_dir;    /* ROOT/run/kzones/NAME: the monitors' sockets when fds is NULL */
        const ZoneQemuFds *fds;     /* NULL: QEMU opens paths itself (not how zones run) */
        bool sandbox;               /* -sandbox ZONE_QEMU_SANDBOX */
        const char *uuid;           /* from the index, may be NULL */
        const char *cpu_model;      /* the -cpu value for cpu-arch on this host (cpu_probe_zone_model()) */
        ZoneAccel accel;            /* what runs the vCPUs (kzones.conf(5)); 0 is kvm */
        const int *tap_fds;         /* one per anet, in configuration order; NULL: no networking fds */
        size_t n_taps;
        char **boot_args;           /* appended to the kernel command line */
        bool incoming;              /* start with -incoming defer */
        uint64_t boot_size;         /* the boot device's size: the guest sees it less the host data */
        const char *installer_iso;  /* zoneadm install -b by path (without fds): a CD-ROM, booted first */
        const struct ZoneMemory *memory; /* where the guest RAM comes from; NULL: ordinary memory */
} ZoneQemuOptions;

/* The argument vector, NULL-terminated; every value of c has been checked
 * already, so failures here are about what this host provides (a missing NFS
 * user, an iSCSI LU name without a target). */
int zone_qemu_argv(const ZoneConfig *c, const ZoneQemuOptions *o, char ***ret, KzError *e);

/* The -blockdev JSON of a device (node may be NULL), also a json: filename for qemu-img. */
int zone_device_blockdev_json(const ZoneConfig *c, const ZoneResource *d, const char *node, char **ret, KzError *e);
/* The same with a local file or block device given as QEMU's fdset fdset (fd is the
 * descriptor put there: a qcow2 image is told by its content). */
int zone_device_blockdev_fdset_json(const ZoneConfig *c, const ZoneResource *d, const char *node, int fd,
                unsigned fdset, char **ret, KzError *e);

/* Hot-plugging (zonecfg -r, zoneadm apply): q35's root bus takes no hot-plugged
 * device, so every disk (virtio-blk-pci, id diskID-dev) and NIC (virtio-net-pci, id
 * netID-dev) sits alone on a PCIe root port ZONE_HOTPLUG_PORT "N": the zone's own in
 * boot order (devices, then anets), then ZONE_HOTPLUG_SPARE_PORTS empty ones that
 * take what is added while the zone runs (the first free one). Their number comes
 * from the configuration only (a migration's destination builds the same machine);
 * QEMU's defaults make them ACPI hot-plug slots: a device is removed once the guest
 * ejects it (Linux: acpiphp, at once). */
#define ZONE_HOTPLUG_PORT "kzport"
#define ZONE_HOTPLUG_SPARE_PORTS 8u
#define ZONE_HOTPLUG_FIRST_SLOT 0x10u
#define ZONE_HOTPLUG_PORTS_MAX (8u * 15u) /* slots 0x10 to 0x1e, 0x1f is ICH9's */
unsigned zone_hotplug_ports(const ZoneConfig *c);
/* The anet's MAC: the configured one, else one derived from the zone's name and
 * the anet id, locally administered and stable across boots and hosts. */
void zone_anet_mac(const ZoneConfig *c, const ZoneResource *anet, char buf[18]);
/* The guest memory in bytes and the number of vCPUs. */
uint64_t zone_memory_bytes(const ZoneConfig *c);
unsigned zone_ncpus(const ZoneConfig *c);

/* Boot-time preparation for live reconfiguration (zoneadm apply, zonecfg -r), from the
 * configuration only, so that a migration's destination builds the same machine:
 *
 *   vCPUs: -smp N,maxcpus=M with M = max(ZONE_MAXCPUS_MIN, 2 × N), at most
 *   ZONE_MAXCPUS_MAX (q35's limit) and never below N. vCPUs beyond N are hot-added
 *   (device_add) and removed again; the N boot vCPUs stay.
 *   Memory, when host-compatible is native, level2, memlzs or meml2r, and the zone's
 *   memory is from a pool (what is plugged live comes from the pool, in its pages) or its
 *   pagesize-policy is unset or largest-available (what is plugged live is in base
 *   pages): the boot memory is capped-memory:physical, and a
 *   virtio-mem-pci device ZONE_VMEM_ID with a region of ZONE_VMEM_FACTOR - 1 times
 *   physical (rounded down to ZONE_VMEM_BLOCK; maxmem = boot + region), nothing of it
 *   plugged at boot. A live resize plugs or unplugs blocks of that region; the live
 *   size is the boot memory plus what is plugged, so it can go from physical (as
 *   booted) up to ZONE_VMEM_FACTOR × physical. */
#define ZONE_MAXCPUS_MIN 16u
#define ZONE_MAXCPUS_MAX 288u
#define ZONE_VMEM_FACTOR 4u
#define ZONE_VMEM_BLOCK (2u * 1024u * 1024u)
#define ZONE_VMEM_ID "vmem0"
unsigned zone_max_vcpus(const ZoneConfig *c);
/* host-compatible enables memory live reconfiguration */
bool zone_memory_live_enabled(const ZoneConfig *c);
/* The virtio-mem region in bytes, 0 for a zone booted without one. */
uint64_t zone_vmem_region(const ZoneConfig *c);
/* Devices in boot order: bootpri, then id. Returns the count; *ret is an array
 * of borrowed pointers. */
size_t zone_devices_sorted(const ZoneConfig *c, const ZoneResource ***ret);
/* The boot device (first in boot order) or NULL. */
const ZoneResource *zone_boot_device(const ZoneConfig *c);
/* Where the zone's suspend resource puts its image (a path, or file:// storage),
 * under root: -ENOENT without a suspend resource, -EOPNOTSUPP for storage that is
 * not a path. */
int zone_suspend_image_path(const ZoneConfig *c, const char *root, char **ret);

/* ---- memory: huge pages and memory reservation pools (memory-reserve(8)) ---- */

/* A pool POOL is ROOT/run/kzones-pools/POOL/: its hugetlbfs mounts ("extents") are
 * the directories 0, 1, … in it, each with size=min_size=its share of the pool, so
 * the kernel holds the reservation. A zone's RAM is one file in one extent, named
 * for the zone and unlinked once reserved: the pages go back to the pool when the
 * last process that has it open (QEMU) ends. */
#define ZONE_POOL_DIR "/run/kzones-pools" /* beside ZONE_RUN_DIR, which holds only zones */
#define ZONE_POOL_LOCK ZONE_POOL_DIR "/.lock" /* flock: held while a pool or the huge page counts change */
#define ZONE_POOL_EXTENTS_MAX 16u
/* The drop-in that makes zone@NAME.service want and follow memory-reserve@POOL.service,
 * written by kzones-memory-reserve-generator (systemd.generator(7)). */
#define ZONE_POOL_DROPIN_DIR "/run/systemd/generator"
#define ZONE_POOL_DROPIN "50-memory-reserve.conf"
#define HUGEPAGE_SIZES_MAX 8u

typedef enum PageSizePolicy {
        PAGESIZE_SMALLEST_ONLY,
        PAGESIZE_LARGEST_AVAILABLE,
        PAGESIZE_LARGEST_ONLY,
        PAGESIZE_FIXED,
        _PAGESIZE_POLICY_MAX,
        _PAGESIZE_POLICY_INVALID = -EINVAL,
} PageSizePolicy;

const char *pagesize_policy_to_string(PageSizePolicy p);
PageSizePolicy pagesize_policy_from_string(const char *s);

/* The huge page sizes of this host, ascending (from /sys/kernel/mm/hugepages). */
size_t hugepage_sizes(uint64_t ret[HUGEPAGE_SIZES_MAX]);
/* Huge pages of that size that are free and not reserved by anyone. */
int hugepage_available(uint64_t page_size, uint64_t *ret_pages);

/* The page sizes that `memory` bytes may use under `policy`, best first, out of the
 * host's sizes (ascending); fixed is the page size of PAGESIZE_FIXED. Returns their
 * number, -EOPNOTSUPP if the policy names a size the host does not have (or it has
 * none), -EDOM if memory is not a multiple of any size the policy allows. */
int pagesize_candidates(PageSizePolicy policy, uint64_t fixed, uint64_t memory, const uint64_t *sizes, size_t n,
                uint64_t ret[HUGEPAGE_SIZES_MAX]);

/* Pool names: letters, digits, '-', '_' and '.', starting with a letter or digit. */
bool pool_name_is_valid(const char *name);

typedef struct PoolExtent {
        char *path; /* the mount point, ROOT/run/kzones-pools/POOL/N */
        unsigned index;
        dev_t dev;
        uint64_t page_size, size, free; /* bytes */
} PoolExtent;

/* The pool's hugetlbfs mounts, by index; none (0) when it is not reserved. */
int pool_extents(const char *root, const char *pool, PoolExtent **ret, size_t *ret_n);
void pool_extents_free(PoolExtent *l, size_t n);
/* The extent that takes `memory` bytes with the least left over, or -1. */
ssize_t pool_extent_fit(const PoolExtent *l, size_t n, uint64_t memory);
/* The lock of every pool (ZONE_POOL_LOCK), held until the fd is closed. */
int pool_lock(const char *root);

typedef enum ZoneMemoryKind {
        ZONE_MEMORY_ORDINARY,  /* anonymous memory in base pages */
        ZONE_MEMORY_HUGEPAGES, /* huge pages from the host's free pool (pagesize-policy) */
        ZONE_MEMORY_POOL,      /* huge pages from a memory reservation pool (memory-reserve) */
        _ZONE_MEMORY_KIND_MAX,
        _ZONE_MEMORY_KIND_INVALID = -EINVAL,
} ZoneMemoryKind;

typedef struct ZoneMemory {
        ZoneMemoryKind kind;
        uint64_t size;
        uint64_t page_size; /* 0: base pages */
        int fd;             /* POOL: the zone's file in the pool, reserved and unlinked */
        int vmem_fd;        /* POOL with a virtio-mem region (zone_vmem_region()): a second file in the
                             * same extent, of the region's size, unlinked and NOT reserved: the pages
                             * are taken when the guest plugs memory and go back when it unplugs it */
} ZoneMemory;

/* The virtio-mem region's file in a pool extent is named for the zone with this suffix
 * (a zone name has no '@'), so that mrpstat counts what is plugged as the zone's. */
#define ZONE_POOL_VMEM_SUFFIX "@vmem"
/* The virtio-mem block size of a zone whose memory is m: ZONE_VMEM_BLOCK, or the pool's
 * page size when larger (a block is plugged in whole pages). */
uint64_t zone_vmem_block(const ZoneMemory *m);

/* Decides where the zone's RAM comes from, with the guide's messages when it cannot
 * (not aligned, not enough free, unsupported page size); for a pool, reserves it
 * there. */
int zone_memory_prepare(const ZoneConfig *c, const char *root, ZoneMemory *ret, KzError *e);
void zone_memory_done(ZoneMemory *m);
/* The content of the zone unit's drop-in for its pool; NULL (and 0) if it has none.
 * libexecdir is where kzones-memory-reserve is installed (without "/kzones"). */
int zone_pool_dropin(const ZoneConfig *c, const char *libexecdir, char **ret);
