/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include "bus-error.h"
#include "hashmap.h"
#include "kzones-bus.h"
#include "qmp.h"
#include "zone-qemu.h"
#include "zone-peek.h"
#include "zone-store.h"
#include "storage-uri.h"

#define BOOT_ARGS_MAX 2048u /* bytes of boot arguments, separators included */
#define DEFAULT_INSTALL_SIZE (16ull * 1024 * 1024 * 1024)
#define DEFAULT_SHUTDOWN_TIMEOUT_USEC (300ull * 1000000)
#define STORAGE_CHECK_TIMEOUT_USEC (60ull * 1000000)

typedef struct Manager Manager;
typedef struct Zone Zone;
typedef struct Job Job;
typedef struct JobType JobType;
typedef struct JobMigration JobMigration;


/* The journal's MESSAGE_ID= of the restarter's records: 'journalctl
 * MESSAGE_ID=… ZONE=kz1' lists a zone's history (catalog in docs/journal.md). */
#define KZ_MESSAGE_ZONE_STATE SD_ID128_MAKE(5e,0f,2b,7c,1d,84,4a,93,b6,21,c4,0e,97,3a,58,d1)
#define KZ_MESSAGE_JOB_STARTED SD_ID128_MAKE(a1,7c,39,e2,58,0b,4f,6d,8e,15,72,c9,3f,a0,64,2b)
#define KZ_MESSAGE_JOB_FINISHED SD_ID128_MAKE(c8,42,d7,1a,6e,93,45,b0,a5,3c,0f,e8,71,d2,96,4e)


/* Jobs at work at once, all zones together: a caller gets TooManyJobs beyond it. */
#define JOBS_MAX 64u
/* How long a finished job stays readable for callers that look late, and how
 * many finished ones are kept at most. */
#define JOB_LINGER_USEC (120ull * 1000000)
#define JOBS_FINISHED_MAX 256u

typedef enum JobState {
        JOB_RUNNING,
        JOB_DONE,
        JOB_FAILED,
        JOB_CANCELLED,
        _JOB_STATE_MAX,
        _JOB_STATE_INVALID = -22,
} JobState;

/* What one kind of job does at each turn of its work: each kind's own steps, in
 * the file of that kind (zone-run.c, zone-storage.c). A NULL hook is a turn the
 * kind never takes. */
struct JobType {
        const char *kind; /* "boot", "install", …: Job.Kind */
        /* systemd's job on the zone's unit ended; ok: its result was "done" */
        void (*unit_job_done)(Job *j, bool ok, const char *result);
        /* the unit's ActiveState changed while the job is at work */
        void (*unit_state_changed)(Job *j);
        /* the helper (kzones-zone VERB) ended with status; message: its output, each
         * line without the "zone 'NAME': " the caller puts in front again */
        void (*helper_done)(Job *j, int status, const char *message);
        /* Cancel(): >= 0 if the job is being cancelled (it ends as cancelled, now or
         * soon), or an error saying why it cannot be */
        int (*cancel)(Job *j, sd_bus_error *error);
        /* the job ended: what the kind keeps of its own (Job.migration) goes */
        void (*release)(Job *j);
};

/* One piece of work on a zone, an org.kzones.Restarter1.Job object: the method
 * that asked for it has its path at once, and the job reports its progress and
 * result as properties and the Manager's JobRemoved signal. */
struct Job {
        Manager *manager;
        Zone *zone;            /* NULL once the job finished */
        char *zone_name;
        const JobType *type;
        uint32_t id;
        char key[16];          /* the id in decimal: the jobs map's key */
        char *path;
        JobState state;
        double progress;       /* 0–1, or -1 when the work cannot tell */
        uint64_t bytes_done, bytes_total, rate; /* rate: bytes per second */
        uint64_t rate_usec, rate_bytes;         /* the last sample the rate came from */
        char *message;         /* what it does now, or why it ended */
        char *result_name;     /* the error, once failed or cancelled */
        bool cancelling;
        sd_event_source *step_source;
        void (*step)(Job *j);  /* the next step, run from the event loop */
        sd_event_source *linger;

        /* the work in progress */
        char *unit_job;        /* the systemd job we wait for */
        sd_bus_slot *unit_call; /* a StartUnit/StopUnit/Reload call not answered yet: no reply after the job ends */
        bool reboot;           /* shutdown -r */
        bool powered_down;     /* shutdown: system_powerdown was accepted */
        uint64_t timeout_usec; /* shutdown: how long the guest may take to power off, 0: the default */
        sd_event_source *timer;
        sd_event_source *child;
        pid_t pid;
        int output_fd;         /* the helper's stdout and stderr, for the error message */
        sd_event_source *output_source;
        char output[4096];
        size_t output_len;
        Zone *copy_source;     /* clone: the zone whose disk is being read */
        char *installer_iso;   /* install -b: the installer (named so), installed when it powers off */
        int installer_fd;      /* install -b: the installer's medium, which the launcher reads through us */
        bool installer_running;
        int image_fd;          /* install -a: the image to copy (the copy helper's fd 3) */
        int target_fd;         /* install/clone: the boot disk this job created (the helper's fd 4) */
        char *created;         /* install/clone: the disk this job created, removed on failure */
        char *local;           /* install/clone: the boot disk's local path (file storage) */
        char *source_name;     /* clone: the source zone; install: what the image is called */
        uint64_t size;         /* install: the size of a new disk */
        int storage_scheme;    /* install/clone: the boot storage's StorageScheme, or -1 without one */
        Qmp *qmp;
        bool force;            /* uninstall -F: what cannot be released is left */
        char *option;          /* attach: force-takeover or initialize-hostdata */
        char **boot_args;      /* boot */
        bool fresh;            /* boot -R: not from a suspend image */
        JobMigration *migration; /* migrate-in (zone-migrate-in.c) */
        char *destination;     /* migrate: ssh://[user@]host[:port] */
        char *handover;        /* migrate: the destination's hostid, once the guest runs there */
        int connection_fd;     /* migrate: a zone administrator's own connection to the
                                * destination's bus, made by zoneadm (the helper's fd 3) */
        char *wanted_xml;      /* apply: the configuration to make live */
        bool dry_run;          /* apply: only the "Checking:" lines */
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
        Job *job;             /* the job at work on the zone, if any */
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
        /* scan.c: the configuration file brand and autoboot were last read from */
        bool config_known;
        ino_t config_ino;
        off_t config_size;
        struct timespec config_mtime;
};

struct Manager {
        sd_event *event;
        sd_bus *bus;
        char *root;
        Hashmap *zones;       /* by name */
        Hashmap *jobs;        /* by id, finished ones too until they are dropped */
        uint32_t last_job_id;
        unsigned n_running_jobs;
        unsigned n_finished_jobs;
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
/* Rescans a moment after /etc/zones changed (scan.c). */
int manager_watch_zones(Manager *m);
int zone_new(Manager *m, const char *name, Zone **ret);
Zone *zone_free(Zone *z);
void zone_remove(Zone *z);
/* Asks systemd for the zone's unit's ActiveState. */
void zone_query_unit(Zone *z);

/* The zone's configuration file, peeked at (zone-peek.h): -EBADMSG also if it does
 * not name the zone; ret_stat: the file read. */
int zone_config_peek(Manager *m, const char *name, unsigned flags, ZonePeek *ret, struct stat *ret_stat);
/* The suspend image path as zone_suspend_image_path() gives it (-ENOENT without a
 * suspend resource, -EOPNOTSUPP if it is not a local file). */
int zone_config_suspend_image(Manager *m, const char *name, char **ret);
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
/* Evacuation targets in unit drop-ins (evacuation-target.c): zone NULL is the default */
int evacuation_target(Manager *m, const char *zone, char **ret);
int evacuation_target_set(Manager *m, const char *zone, const char *value, sd_bus_error *error);
/* Sends PropertiesChanged for the targets that changed since last looked at. */
void evacuation_targets_changed(Manager *m);
int bus_property_get_evacuation_target(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error);
int bus_property_set_evacuation_target(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *value, void *userdata, sd_bus_error *error);
int bus_property_get_host_memory(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error);
/* Maintenance mode (maintenance.c): a Maintenance error saying so if the host is in
 * it (what: "boot", "attach", "migrate in"), 0 otherwise. */
int maintenance_check(Manager *m, const char *zone, const char *what, sd_bus_error *error);

/* Jobs (job.c) */
const char *job_state_to_string(JobState s);
JobState job_state_from_string(const char *s);
/* A new job of type on z for the method call msg, not yet at work: refused (an
 * error set, negative) while another job works on the zone or JOBS_MAX run. */
int job_new(Zone *z, const JobType *type, sd_bus_message *msg, sd_bus_error *error, Job **ret);
/* Replies to msg with the job's path and runs step from the event loop. */
int job_start(Job *j, sd_bus_message *msg, void (*step)(Job *j));
/* Runs step from the event loop, after what is on it now. */
void job_next(Job *j, void (*step)(Job *j));
/* Ends the job: 0 done; otherwise failed (cancelled after a Cancel), with the error
 * name and message; what an install or clone created goes first. */
void job_finish(Job *j, int error, const char *error_name, const char *fmt, ...) _printf_(4, 5);
void job_set_message(Job *j, const char *fmt, ...) _printf_(2, 3);
void job_set_progress(Job *j, double progress, uint64_t done, uint64_t total);
Job *job_free(Job *j);
Job *manager_find_job(Manager *m, const char *path);
int job_start_unit(Job *j, const char *method);
int job_powerdown(Job *j, uint64_t timeout_usec);
/* Runs kzones-zone VERB NAME [ARG] (attach, detach, suspend) */
int job_run_helper(Job *j, const char *verb, const char *arg);
/* Runs kzones-zone VERB NAME ARG ARG2 (migrate-out NAME DESTINATION CIPHER:CHANNELS) */
int job_run_helper2(Job *j, const char *verb, const char *arg, const char *arg2);
/* Runs kzones-zone install-image|clone NAME ARG [TARGET]: the copy onto the boot
 * storage, the helper's "progress" lines becoming the job's progress. */
int job_run_copy_helper(Job *j, const char *verb, const char *arg);
/* Stops the helper at once (a Cancel); its exit is not reported. */
void job_kill_helper(Job *j);
/* For systemd's JobRemoved and a unit's ActiveState: the job of that zone hears it. */
void manager_unit_job_removed(Manager *m, const char *unit_job, const char *result);
void manager_unit_state_changed(Zone *z);
/* Why the zone's unit did not start, as the launcher wrote it; NULL if it did not say. */
char *zone_boot_failure(Zone *z);
/* Refused with Busy while a job works on z or a clone reads its disk. */
int zone_check_idle(Zone *z, sd_bus_error *error);

/* The job kinds (zone-run.c, zone-storage.c) */
extern const JobType job_boot, job_halt, job_reboot, job_shutdown, job_suspend;
extern const JobType job_install, job_clone, job_uninstall, job_attach, job_detach;
extern const JobType job_migrate_in, job_migrate, job_migrate_cold;
/* Live reconfiguration (zone-live.c): the apply job of ReconfigureLive and Apply */
extern const JobType job_apply;
int method_get_live_configuration(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_reconfigure_live(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_apply(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int bus_property_get_live_generation(sd_bus *bus, const char *path, const char *interface, const char *property,
                sd_bus_message *reply, void *userdata, sd_bus_error *error);
/* The live configuration's generation (1: as launched), 0 when the zone does not run. */
uint64_t zone_live_generation(Zone *z);
/* WrongState if the zone's live configuration was changed (zonecfg -r, apply) and
 * differs from its persistent one: what (suspend it, migrate it) must wait. */
int zone_live_check_unchanged(Zone *z, const char *what, sd_bus_error *error);
bool zone_live_reshaped(Zone *z);
void job_installed(Job *j);
/* A helper's failure on the boot storage: 3 is a key that does not open the host data. */
void job_storage_helper_failed(Job *j, int status, const char *message);
/* The boot device's storage, expanded, under the alternate root for local paths;
 * 0 and NULLs for a zone without one. */
int zone_boot_storage(Zone *z, const ZoneConfig *c, StorageUri **ret_uri, char **ret_string, char **ret_local,
                sd_bus_error *error);
int zone_record_created(Zone *z, const char *path);
int zone_forget_created(Zone *z, const char *path);
int zone_make_run_dir(Zone *z);
bool zone_created(Zone *z, const char *path);

/* The launch request and result: what passes between the restarter and a zone's unit
 * (launch.c). The restarter alone writes the index; these apply to it what the
 * launcher and the helpers found, for that one zone. */
/* Before the unit starts: boot arguments (NULL or empty: none), boot -R. */
int zone_request_boot(Zone *z, char **boot_args, bool fresh);
/* install -b: the installer's medium, as our descriptor the launcher opens. */
int zone_request_installer(Zone *z, int installer_fd);
/* Before the unit stops: a halt (halt, reboot, suspend) cuts the guest off. */
int zone_request_halt(Zone *z);
/* After a migration out: a halt whose ExecStopPost hands the host data to hostid. */
int zone_request_handover(Zone *z, const char *hostid);
/* An incoming live migration: QEMU waits for migration id, with channels connections. */
int zone_request_incoming(Zone *z, const char *id, uint32_t channels);
/* Why the unit's last start failed (NULL: no result), taken once; a zone found
 * unavailable is marked so. */
char *zone_take_launch_result(Zone *z);
/* The unit is inactive or failed: its zone id is forgotten, and its result taken
 * (unless an operation waits for its systemd job and takes it then). */
void zone_launch_ended(Zone *z);
/* The note that a suspend helper runs (ZONE_SUSPENDING_NOTE), for the reconciliation
 * after a crash: written before the helper starts, removed when it ended. */
int zone_note_suspending(Zone *z, bool on);
/* The note that a live migration out runs (ZONE_MIGRATING_NOTE, holding the
 * destination; NULL removes it): after a crash, a guest that QEMU paused at the
 * migration's end is continued only if it does not run at the destination. */
int zone_note_migrating(Zone *z, const char *destination);
/* ROOT/run/kzones/NAME/FILE written atomically (0600) with content, or removed (NULL). */
int zone_write_run_note(Zone *z, const char *file, const char *content);
/* Its destination, or NULL. */
char *zone_read_migrating_note(Zone *z);
/* Started by the reconciliation: asks the destination of an interrupted live
 * migration whether the guest runs there (then the zone is halted and handed over
 * here, as at a migration's end) or not (then it is continued here). */
int zone_resolve_migration(Zone *z, const char *destination);
/* A helper (attach, detach, …) exited with status: the zone's state follows. */
void zone_helper_ended(Zone *z, const JobType *type, int status);

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
void bus_zone_send_changed(Zone *z, ZoneState previous);
int bus_caller_uid(sd_bus_message *m, uid_t *ret, sd_bus_error *error);
int bus_check_root(sd_bus_message *m, const char *what, sd_bus_error *error);
void bus_job_send_changed(Job *j, const char *property, ...) _sentinel_;
extern const sd_bus_vtable manager_vtable[];
extern const sd_bus_vtable zone_vtable[];
extern const sd_bus_vtable job_vtable[];
int bus_register_jobs(Manager *m);
/* The zone methods that start storage jobs (zone-storage.c) */
int method_install(sd_bus_message *msg, void *userdata, sd_bus_error *error);
/* The zone methods that start and stop its guest (zone-run.c) */
int method_boot(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_boot_fresh(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_halt(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_reboot(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_shutdown(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_suspend(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_list_jobs(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_uninstall(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_clone(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_attach(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_detach(sd_bus_message *msg, void *userdata, sd_bus_error *error);
/* The target of a live migration (zone-migrate-in.c) */
int method_prepare_incoming(sd_bus_message *msg, void *userdata, sd_bus_error *error);
/* The source of a live migration (zone-migrate-out.c) */
int method_migrate(sd_bus_message *msg, void *userdata, sd_bus_error *error);
/* zone-import.c: the destination of a migration, before anything moves */
int method_check_incoming(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_import_zone(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int method_forget_incoming(sd_bus_message *msg, void *userdata, sd_bus_error *error);
/* zone-migrate-cold.c: the kind a zone's state picks (type: auto or live), and the
 * cold and warm migrate job */
int zone_migration_kind(Zone *z, const char *type, const char **ret_kind, sd_bus_error *error);
int zone_migrate_cold(Zone *z, sd_bus_message *msg, const char *dest, const char *kind, bool dry_run, bool overwrite,
                int connection, sd_bus_error *error);
/* An option's variant, of the one type it must have: otherwise InvalidArgs naming the key. */
int bus_read_option(sd_bus_message *msg, const char *what, const char *key, const char *type, void *ret,
                sd_bus_error *error);
/* A method's a{sv} options, each read into ret as bus_read_option() does; a key not in
 * the table (or whose ret is NULL) is InvalidArgs "WHAT: unknown option 'KEY'". */
typedef struct BusOption {
        const char *key;
        const char *type;
        void *ret;
} BusOption;
int bus_read_options(sd_bus_message *msg, const char *what, const BusOption *options, size_t n, sd_bus_error *error);
/* The zone's configuration, of brand kz and verified: otherwise InvalidConfiguration. */
int zone_load_kz_config(Zone *z, ZoneConfig **ret, sd_bus_error *error);
/* What this host cannot give the zone (verify.c): memory, CPUs, dev: storage, anet
 * lower-links, the CPU model, the boot kernel; one line each, NULL if none. */
int zone_verify_host(Zone *z, const ZoneConfig *c, char ***ret_problems);
int host_memory_bytes(uint64_t *ret);
unsigned host_cpus(void);
int zone_need_state(Zone *z, sd_bus_error *error, ZoneState want, const char *what);
int zone_need_systemd(Zone *z, sd_bus_error *error);
