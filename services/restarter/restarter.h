/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-error.h"
#include "qmp.h"
#include "zone-qemu.h"
#include "zone-store.h"

#define RESTARTER_BUS_NAME "org.kzones.Restarter1"
#define RESTARTER_PATH "/org/kzones/Restarter1"
#define RESTARTER_ZONE_PREFIX "/org/kzones/Restarter1/zone"
#define RESTARTER_MANAGER_IFACE "org.kzones.Restarter1.Manager"
#define RESTARTER_ZONE_IFACE "org.kzones.Restarter1.Zone"

#define BOOT_ARGS_MAX 2048u /* bytes of boot arguments, separators included */
#define DEFAULT_INSTALL_SIZE (16ull * 1024 * 1024 * 1024)
#define DEFAULT_SHUTDOWN_TIMEOUT_USEC (300ull * 1000000)
#define STORAGE_CHECK_TIMEOUT_USEC (60ull * 1000000)

typedef struct Manager Manager;
typedef struct Zone Zone;
typedef struct Operation Operation;

typedef enum OperationKind {
        OPERATION_BOOT,
        OPERATION_HALT,
        OPERATION_REBOOT,
        OPERATION_SHUTDOWN,
        OPERATION_INSTALL,
        OPERATION_CLONE,
        OPERATION_ATTACH,
        OPERATION_DETACH,
        OPERATION_SUSPEND,
        OPERATION_UNINSTALL,
        _OPERATION_KIND_MAX,
        _OPERATION_KIND_INVALID = -22,
} OperationKind;

/* One method call in progress on a zone; it replies when the work is done. */
struct Operation {
        Zone *zone;
        OperationKind kind;
        sd_bus_message *request;
        char *job;           /* the systemd job we wait for */
        bool reboot;         /* shutdown -r */
        bool powered_down;   /* shutdown: system_powerdown was accepted */
        sd_event_source *timer;
        sd_event_source *child;
        pid_t pid;
        int output_fd;       /* child's stdout and stderr, for the error message */
        sd_event_source *output_source;
        char output[4096];
        size_t output_len;
        void (*child_done)(Operation *o, int status, const char *output);
        Zone *copy_source;   /* clone: the zone whose disk is being read */
        bool relay_progress; /* the child's "progress N" lines become Progress signals */
        char *installer_iso; /* install -b: boot the installer (named so), installed when it powers off */
        int installer_fd;    /* install -b: the installer's medium, which the launcher reads through us */
        bool installer_running;
        int image_fd;        /* install -a: the image to copy (the copy helper's fd 3) */
        int target_fd;       /* install/clone: the boot disk this operation created (the helper's fd 4) */
        char *created;       /* install/clone: the disk this operation created, removed on failure */
        Qmp *qmp;
        bool force;          /* uninstall -F: what cannot be released is left */
};

struct Zone {
        Manager *manager;
        char *name;
        char *path; /* object path */
        char *unit; /* zone@NAME.service */
        char *unit_path;
        char *uuid;
        char *brand;
        ZoneState index_state;
        char *active_state; /* the unit's ActiveState, NULL until known */
        ZoneState state;
        int id;
        char **aux;
        char *evacuation_target; /* as last reported */
        Operation *operation;
        unsigned copy_readers; /* clones reading this zone's disk: it must not boot */
        bool seen;
        bool gone;
        bool autoboot;
        bool autoboot_known; /* configuration deleted while an operation runs */
        /* reconcile.c: the guest's state as QMP last told it (NULL: not asked since the
         * unit became active), and the check in progress */
        char *guest_status;
        Qmp *reconcile_qmp;
        sd_event_source *reconcile_timer;    /* the next poll */
        sd_event_source *reconcile_deadline; /* gives up on a guest that does not answer */
        unsigned reconcile_polls;
        unsigned reconcile_conts;
        bool reconcile_counted; /* the bus name waits for it (at start) */
};

struct Manager {
        sd_event *event;
        sd_bus *bus;
        char *root;
        Zone **zones;
        size_t n_zones;
        int have_systemd; /* -1 unknown, 0 no, 1 yes */
        char *systemd_owner; /* unique name of org.freedesktop.systemd1's owner; only its signals count */
        uint64_t spoof_logged_usec; /* when a signal not from systemd was last logged */
        sd_event_source *inotify;
        sd_event_source *rescan_timer;
        char *default_evacuation_target;
        struct CpuProbe *cpu;           /* what this host's QEMU/KVM runs, once probed */
        sd_event_source *cpu_probe_source;
        unsigned reconciling;           /* zones checked at start, before the bus name is taken */
        bool want_name, name_requested;
        sd_event_source *name_timer;
};

const char *operation_kind_to_string(OperationKind k);
OperationKind operation_kind_from_string(const char *s);

int manager_new(sd_event *e, sd_bus *bus, const char *root, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m)
{
        if (*m)
                *m = manager_free(*m);
}
int manager_start(Manager *m);
/* Takes the bus name once the zones that ran when the restarter started have been
 * reconciled (reconcile.c), so no caller sees a state that is not yet checked. */
int manager_request_name(Manager *m);
void manager_reconciled(Manager *m);
/* Probes the host's CPU models in a child (host-cpu.c); the Manager's CPU properties follow. */
int manager_probe_cpu(Manager *m);
int manager_rescan(Manager *m);
Zone *manager_find_zone(Manager *m, const char *name);
Zone *manager_find_zone_by_path(Manager *m, const char *path);
/* ROOT/PATH, PATH formatted as printf does. */
#define manager_path(m, ...) path_joinf((m)->root, __VA_ARGS__)

void zone_update_state(Zone *z);
/* AuxiliaryStates: suspended (a suspend image waits), suspending (one is being
 * written), paused or panicked (the guest of a running zone, as QMP says). */
void zone_update_aux(Zone *z);
int zone_load_config(Zone *z, ZoneConfig **ret, sd_bus_error *error);
int zone_set_index_state(Zone *z, ZoneState s, sd_bus_error *error);
int zone_evacuation_target(Zone *z, char **ret);
int zone_set_evacuation_target(Zone *z, const char *value, sd_bus_error *error);
int manager_default_evacuation_target(Manager *m, char **ret);
int manager_set_default_evacuation_target(Manager *m, const char *value, sd_bus_error *error);

/* Operations (zone-operations.c) */
int operation_start(Zone *z, OperationKind kind, sd_bus_message *request, Operation **ret);
void operation_finish(Operation *o, int error, const char *error_name, const char *fmt, ...) _printf_(4, 5);
int operation_start_unit(Operation *o, const char *method);
int operation_powerdown(Operation *o, uint64_t timeout_usec);
/* Runs kzones-zone VERB NAME [ARG] (attach, detach): the host data on the boot storage. */
int operation_run_helper(Operation *o, const char *verb, const char *arg);
/* Runs kzones-zone install-image|clone NAME ARG [TARGET]: the copy onto the boot
 * storage, relaying the helper's progress as Progress signals. */
int operation_run_copy_helper(Operation *o, const char *verb, const char *arg);
void operation_installed(Operation *o);
int zone_record_created(Zone *z, const char *path);
int zone_forget_created(Zone *z, const char *path);
int zone_make_run_dir(Zone *z);
bool zone_created(Zone *z, const char *path);
void manager_job_removed(Manager *m, const char *job, const char *result);
void manager_unit_state_changed(Zone *z);

/* The launch request and result: what passes between the restarter and a zone's unit
 * (launch.c). The restarter alone writes the index; these apply to it what the
 * launcher and the helpers found, for that one zone. */
/* Before the unit starts: boot arguments (NULL or empty: none), boot -R. */
int zone_request_boot(Zone *z, char **boot_args, bool fresh);
/* install -b: the installer's medium, as our descriptor the launcher opens. */
int zone_request_installer(Zone *z, int installer_fd);
/* Before the unit stops: a halt (halt, reboot, suspend) cuts the guest off. */
int zone_request_halt(Zone *z);
/* Why the unit's last start failed (NULL: no result), taken once; a zone found
 * unavailable is marked so. */
char *zone_take_launch_result(Zone *z);
/* The unit is inactive or failed: its zone id is forgotten, and its result taken
 * (unless an operation waits for its systemd job and takes it then). */
void zone_launch_ended(Zone *z);
/* The note that a suspend helper runs (ZONE_SUSPENDING_NOTE), for the reconciliation
 * after a crash: written before the helper starts, removed when it ended. */
int zone_note_suspending(Zone *z, bool on);
/* A helper (attach, detach, …) exited with status: the zone's state follows. */
void zone_helper_ended(Zone *z, OperationKind kind, int status);

/* Undoing what a crash left half done (reconcile.c) */
/* At start (startup: the bus name waits for it), and whenever a zone's unit became
 * active without an operation of ours. */
void reconcile_zone(Zone *z, bool startup);
/* Stops a check in progress (an operation starts, the zone goes). */
void reconcile_stop(Zone *z);
/* Forgets recorded created files of an incomplete zone that do not exist. */
void reconcile_created_record(Zone *z);
bool zone_run_file_exists(Zone *z, const char *file);

/* The bus (restarter-dbus.c) */
int bus_register(Manager *m);
int bus_check_authorized(Zone *z, sd_bus_message *m, const char *auth, sd_bus_error *error);
/* Uninstall, once the helper released (status 0) or did not release the host data. */
void uninstall_released(Operation *o, int status, const char *message);
void bus_zone_send_changed(Zone *z, ZoneState previous);
extern const sd_bus_vtable manager_vtable[];
extern const sd_bus_vtable zone_vtable[];
