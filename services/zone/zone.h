/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kzones-zone: what zone@NAME.service runs (the launcher), and the helpers the
 * restarter runs. Each file one job:
 *
 *   main.c       the verbs
 *   launch.c     exec, wait, stop, stopped, reload: the zone's unit
 *   confine.c    what QEMU gets: its user, its descriptors, its console relay
 *   ownership.c  the host data: claims, the lease keeper, attach and detach
 *   storage.c    install-image, clone: copies onto the boot storage
 *   devices.c    a disk's storage opened, an anet's tap made: at boot and hot-plugged
 *   reconfigure-dev.c  disks and NICs added to and removed from a running zone
 *   suspend.c    suspend, and resume at the next boot
 *   migrate-out.c  the source side of a live migration
 *   migrate-resolve.c  after a restarter died: does the guest run at the destination?
 *   util.c       what they share: failures, the zone's key, UUID and directory */
#pragma once

#include "mkdir.h" /* mkdir_p() */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "hostdata.h"
#include "launch-request.h"
#include "zone-key.h"
#include "zone-qemu.h"
#include "zone-store.h"

#define EXIT_UNAVAILABLE LAUNCH_EXIT_UNAVAILABLE

extern const char *arg_root;
/* The unit's verb that runs (exec, wait, stop, stopped), whose failure goes into the
 * launch result; NULL for a helper of the restarter, which reads our output. */
extern const char *arg_step;

#define root_path(...) path_joinf(arg_root, __VA_ARGS__)

/* util.c */
/* Says why, on stderr, and as the launch result for a verb of the unit: -EINVAL; or,
 * unavailable, for a zone that cannot run here as it is: -EKEYREJECTED, and the
 * restarter marks it unavailable. */
int failure_full(const char *name, bool unavailable, const char *fmt, ...) _printf_(3, 4);
#define failure(name, ...) failure_full(name, false, __VA_ARGS__)
#define failure_unavailable(name, ...) failure_full(name, true, __VA_ARGS__)
/* The zone's runtime directory, ROOT/run/kzones/NAME, made if missing. */
char *run_dir(const char *name);
int make_run_dir(const char *name);
bool pid_alive(pid_t pid);
int zone_key(const ZoneConfig *c, uint8_t key[16]);
int zone_uuid(const char *name, char **ret);
uint64_t now_realtime(void);
/* The destination's system bus for a migration helper: the connection a zone
 * administrator's zoneadm made with its own SSH identity, which the restarter passed
 * as fd KZONES_DESTINATION_FD, or else SSH as this (root's) helper, its errors to
 * *ret_errors (remote.h). */
int destination_bus_open(sd_bus **ret, const char *bus_host, int *ret_errors);
/* Closes every descriptor but stdio and keep[]. */
void close_all_but(int *keep, size_t n);

/* confine.c */
typedef struct QemuUser {
        uid_t uid;
        gid_t gid;
        gid_t groups[64];
        int n_groups;
} QemuUser;

int qemu_user_lookup(const char *name, QemuUser *ret);
int qemu_user_check(const char *name, const ZoneConfig *c, const QemuUser *u, bool kvm);
int drop_privileges(const QemuUser *u);
int open_devices(const char *name, const ZoneConfig *c, const ZoneResource *const *devices, size_t n, int *fds);
int monitor_socket(const char *name, const char *rundir, const char *sock);
int open_installer(const char *name, const LaunchInstaller *i, int *ret_fd);
int start_console_relay(const char *name, const char *rundir, const char *log, int serial);
int set_affinity(const ZoneConfig *c);

/* ownership.c */
#define CLAIM_FORCE 1u   /* whatever the host data says (attach -x force-takeover, initialize-hostdata) */
#define CLAIM_ATTACH 2u  /* the host data may come from another host, with the zone's UUID there */
#define CLAIM_RELEASE 4u /* detach: the host data names no host */
#define KEEP_SUSPEND UINT64_MAX

int claim_full(const char *name, const ZoneConfig *c, const char *state, unsigned flags, uint64_t suspend,
                uint64_t *ret_size);
int claim(const char *name, const ZoneConfig *c, const char *state, uint64_t *ret_size);
/* incoming: the zone is not ours until its source hands it over (hand_over_to() there) */
int start_lease_keeper(const char *name, const ZoneConfig *c, bool incoming);
int boot_size_unclaimed(const char *name, const ZoneConfig *c, uint64_t *ret);
int hand_over_to(const char *name, const ZoneConfig *c, const char *hostid);
bool hostdata_names_this_host(const char *name, const ZoneConfig *c);
int hostdata_suspend_generation(const char *name, const ZoneConfig *c, uint64_t *ret);
int verb_attach(const char *name, const char *option);
int verb_detach(const char *name);

/* devices.c: what launch (for each) and reconfigure (for one added live) both do */
/* A device's local file or block device opened read-write for QEMU (*ret_fd), or
 * -EBADF for network storage, which QEMU reaches itself. */
int device_open_storage(const ZoneConfig *c, const ZoneResource *d, int *ret_fd, KzError *e);
/* An anet's tap (on a bridge) or macvtap (on another link) on its resolved lower link,
 * with the zone's MAC for it; returns its descriptor and says on stderr what it made.
 * default_link: the zone unit's DefaultLowerLink= (may be NULL). On failure nothing
 * of it is left but a VLAN device for zones (zone_anet_cleanup() removes it). */
int anet_make(const char *name, const ZoneConfig *c, const ZoneResource *anet, const char *default_link,
                const char *rundir, KzError *e);

/* storage.c */
int verb_install_image(const char *name, const char *image, const char *target);
int verb_clone(const char *name, const char *source, const char *target);

/* suspend.c */
int verb_suspend(const char *name);
int check_resume(const char *name, const ZoneConfig *c, bool fresh, bool *ret_resume);
bool suspended(const char *name);
int resume(const char *name, const char *sock);

/* migrate-out.c */
int verb_migrate_out(const char *name, const char *destination, const char *options);
/* migrate-resolve.c: returns the exit status (0: handed over there, 1: continued
 * here, MIGRATE_HELPER_STILL_PAUSED) */
int verb_migrate_resolve(const char *name, const char *destination);

/* migrate-cold.c: cold and warm migration; the warm destination's attach */
int verb_migrate_cold(const char *name, const char *destination, const char *options);
int verb_attach_suspended(const char *name);

/* live-config.c: live.xml and live.generation as launched */
int live_config_write(const char *name, const char *rundir, const ZoneConfig *c);
bool live_config_reshaped(const char *name);
void live_config_remove(const char *name); /* ZONE_LIVE_RESHAPED: vCPUs, memory, disks or NICs changed live */

/* reconfigure.c: kzones-zone reconfigure NAME (zone-live.h) */
int verb_reconfigure(const char *name);

/* launch.c */
int verb_exec(const char *name);
int verb_wait(const char *name, pid_t main_pid);
int verb_stop(const char *name, pid_t main_pid);
int verb_stopped(const char *name);
int verb_reload(const char *name);
