/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "zone-config.h"

/* Host data: who owns a zone, kept with its boot storage so that every host that
 * can reach the storage sees it. It lives in the last HOSTDATA_AREA bytes of the
 * boot device (which the guest never sees), sealed with AES-128-CCM under a key
 * derived from the zone's keysource key (zone-key.h): a host without the right key
 * can neither read nor forge it.
 *
 * The block names, in its authenticated header, the zone's UUID and a generation
 * that grows with every write: a block of another zone that shares the key is
 * refused, and so is an older block of this zone put back (replayed) once a host has
 * seen a newer one. It also holds the generation of the zone's current suspend
 * image, so that an older image is refused (sealed-stream.h).
 *
 *   header: "KZHOSTD2" | nonce (12) | length (u32 LE) | generation (u64 LE) | UUID (40)
 *   then the ciphertext and its tag; the whole header is the associated data. */

#define HOSTDATA_AREA (1024u * 1024u)
#define HOSTDATA_BLOCK 4096u

typedef struct HostData {
        char hostid[9];     /* 8 hex digits, from the owner's machine-id */
        char hostname[65];
        char state[32];     /* last known zone state on the owner */
        char image[128];    /* boot environment or image name */
        uint64_t updated;   /* µs since the epoch */
        uint64_t generation; /* one more with every write */
        uint64_t suspend;   /* generation of the current suspend image, 0: none */
        char uuid[40];      /* the zone's */
} HostData;

/* Leases: which host may run the zone, whatever the timing (sanlock's delta leases,
 * kept in the host data block itself; docs/decisions.md says why).
 *
 * Taking a zone that another host does not hold (attach, boot, resume) writes the
 * new record, waits LEASE_CLAIM_DELAY_USEC and reads it again: a host that wrote in
 * between wrote last and wins, the other backs off. A read and the write that
 * follows it must both be done within LEASE_IO_TIMEOUT_USEC, or the claim is given
 * up: a late write could land after a competitor's second read.
 *
 * A running zone's record is renewed every LEASE_RENEW_USEC by its host (the zone
 * unit's lease keeper, which also feeds the unit's watchdog: a host that cannot
 * renew has its QEMU killed by systemd after LEASE_WATCHDOG_USEC). Another host
 * takes a running zone only when its record has not changed for
 * LEASE_EXPIRY_USEC, which it watches itself (no clocks are compared for that;
 * the record's wall-clock time only lets a fresh lease be refused at once). */
#define LEASE_IO_TIMEOUT_USEC (1000u * 1000u)
#define LEASE_CLAIM_DELAY_USEC (2u * LEASE_IO_TIMEOUT_USEC)
#define LEASE_RENEW_USEC (2u * 1000u * 1000u)
#define LEASE_WATCHDOG_USEC (8u * 1000u * 1000u) /* zone@.service WatchdogSec= */
#define LEASE_EXPIRY_USEC (20u * 1000u * 1000u)

/* Whether a record is a lease its host renews (the zone runs there). */
bool hostdata_is_lease(const HostData *hd);
/* Whether a lease looks renewed recently at realtime now (µs): then it is refused
 * at once; otherwise it must be watched for LEASE_EXPIRY_USEC. */
bool hostdata_lease_fresh(const HostData *hd, uint64_t now);

/* This host's id: the first 32 bits of SHA-256("kzones-hostid:" machine-id). */
int hostdata_local_hostid(char ret[9]);
/* A record for this host. */
int hostdata_for_this_host(const char *state, const char *image, HostData *ret);

/* Seals hd (with its uuid and generation) into a HOSTDATA_BLOCK-sized buffer, under
 * the host data key derived from zone_key. */
int hostdata_seal(const HostData *hd, const uint8_t zone_key[16], uint8_t buf[HOSTDATA_BLOCK]);
/* -ENODATA: no record (never written, or cleared); -EBADMSG: not sealed with this
 * key, or tampered with; -EXDEV: sealed for another zone (uuid given and not the
 * block's); -ESTALE: older than min_generation (replayed). */
int hostdata_open(const uint8_t buf[HOSTDATA_BLOCK], const uint8_t zone_key[16], const char *uuid,
                uint64_t min_generation, HostData *ret);

/* The boot device of a zone, read and written directly (file, device) or through
 * QEMU's block layer (qemu-io, qemu-img) for network storage. */
typedef struct BootStorage BootStorage;
int boot_storage_open(const ZoneConfig *c, const char *root, BootStorage **ret, KzError *e);
BootStorage *boot_storage_free(BootStorage *s);
static inline void boot_storage_freep(BootStorage **s)
{
        if (*s)
                *s = boot_storage_free(*s);
}
/* Size of the whole device, and of what the guest sees (without the host data). */
uint64_t boot_storage_size(const BootStorage *s);
const char *boot_storage_uri(const BootStorage *s);
int boot_storage_read_hostdata(BootStorage *s, uint8_t buf[HOSTDATA_BLOCK], KzError *e);
int boot_storage_write_hostdata(BootStorage *s, const uint8_t buf[HOSTDATA_BLOCK], KzError *e);

/* The guide's message for a zone owned by another host, one line each. */
char *hostdata_in_use_message(const char *zone, const HostData *hd);
