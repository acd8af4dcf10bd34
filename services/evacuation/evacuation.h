/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-error.h"
#include "evacuation-place.h"
#include "kzones-bus.h"
#include "macro.h"

/* Where the evacuation record lives: written atomically at each step of an
 * evacuation or return, removed when no zone is away any more (docs/evacuation.md). */
#define EVACUATION_RECORD_FILE "/var/lib/kzones/evacuation.json"
#define EVACUATION_RECORD_MAX (1024u * 1024u)
/* Migrations at work at once; kzones-evacuated.service can set another with
 * Environment=KZONES_EVACUATION_PARALLEL=N. 4: bench/evacuate's figures
 * (bench/README.md) — faster than 2 with 4 and 8 zones, 8 no faster than 4. */
#define EVACUATION_PARALLEL_DEFAULT 4u
#define EVACUATION_PARALLEL_MAX 16u
/* The link rate a plan's estimates use when no migration to the destination was
 * measured yet and the unit sets no Environment=KZONES_EVACUATION_LINK_RATE= (bytes
 * per second): 1 Gbit/s, a common server link (evacuation-estimate.c). */
#define EVACUATION_LINK_RATE_DEFAULT (125ull * 1000 * 1000)
/* The rates measured per destination, JSON: { URI: { "rate": B/s, "time": epoch } }. */
#define EVACUATION_RATES_FILE "/var/lib/kzones/evacuation-rates.json"
/* Zones in one evacuation at most: a host runs no more. */
#define EVACUATION_ZONES_MAX 1024u
/* At most this many finished jobs are kept readable (the oldest goes first). */
#define EVACUATION_FINISHED_MAX 8u
/* A finished job stays readable this long, for a client that looks late. */
#define EVACUATION_LINGER_USEC (300ull * 1000000)

/* The journal's MESSAGE_ID= of the audit records (kzones-evacuated(8)). */
#define KZ_MESSAGE_MAINTENANCE_STARTED "3b9e52d07a144ce19f06b82de451a7c3"
#define KZ_MESSAGE_MAINTENANCE_ENDED "6d208fc135ea470b82d91c74f30eb659"
#define KZ_MESSAGE_EVACUATION_ZONE "91c40a7e26d34f58b1e73c058af2691d"
#define KZ_MESSAGE_EVACUATION_FINISHED "e257b813c94a46f0a62ed190357c8b04"

typedef struct Manager Manager;
typedef struct Evacuation Evacuation;
typedef struct Entry Entry;
typedef struct Target Target;

typedef enum EvacuationKind {
        EVACUATION_EVACUATE, /* zones leave this host for their targets */
        EVACUATION_RETURN,   /* zones the record says are away come back */
        EVACUATION_RECOVER,  /* at start: where the zones of an interrupted run really are */
        _EVACUATION_KIND_MAX,
        _EVACUATION_KIND_INVALID = -EINVAL,
} EvacuationKind;

typedef enum JobState {
        JOB_RUNNING,
        JOB_DONE,
        JOB_FAILED,
        JOB_CANCELLED,
        _JOB_STATE_MAX,
        _JOB_STATE_INVALID = -EINVAL,
} JobState;

/* One zone's place in an evacuation, as 'sysadm evacuate -l' shows it. */
typedef enum EntryState {
        ENTRY_PENDING,   /* to be moved, not started */
        ENTRY_MIGRATING, /* leaving this host */
        ENTRY_EVACUATED, /* runs (or, cold, is installed) on its destination */
        ENTRY_SKIPPED,   /* cannot be moved (another brand): the evacuation fails */
        ENTRY_FAILED,    /* its move failed; it is where it was: a rerun tries again */
        ENTRY_CANCELLED, /* not moved: the evacuation was cancelled */
        ENTRY_CHECKED,   /* dry run: it could move */
        ENTRY_RETURNING, /* coming back */
        ENTRY_RETURNED,  /* back on this host */
        _ENTRY_STATE_MAX,
        _ENTRY_STATE_INVALID = -EINVAL,
} EntryState;

typedef enum RateSource {
        RATE_MEASURED,   /* the last live migration to the destination */
        RATE_CONFIGURED, /* KZONES_EVACUATION_LINK_RATE */
        RATE_DEFAULT,    /* EVACUATION_LINK_RATE_DEFAULT */
        _RATE_SOURCE_MAX,
        _RATE_SOURCE_INVALID = -EINVAL,
} RateSource;

const char *rate_source_to_string(RateSource s);
RateSource rate_source_from_string(const char *s);
const char *evacuation_kind_to_string(EvacuationKind k);
EvacuationKind evacuation_kind_from_string(const char *s);
const char *job_state_to_string(JobState s);
JobState job_state_from_string(const char *s);
const char *entry_state_to_string(EntryState s);
EntryState entry_state_from_string(const char *s);

struct Entry {
        Evacuation *evacuation;
        char *zone;
        char *brand;
        EntryState state;
        char *destination; /* the URI it goes to (evacuate) or came from (return) */
        char *error;       /* why it failed or was skipped, "" otherwise */
        double progress;   /* 0–1 */
        bool cold;         /* not running: a cold migration */
        uint64_t memory;   /* its configured memory (bytes), for the plan's estimate */
        char *pool;        /* its memory reservation pool (capped-memory:memory-reserve), or NULL */
        char **candidates; /* its target, a list of two or more: where it may go (evacuation-targets.c) */
        uint64_t rate;     /* the link rate its migration showed (bytes/s), entry_measure() */
        uint64_t first_usec, first_bytes; /* its first BytesDone sample */
        /* the move at work: a Zone.Migrate job on this host's restarter (evacuate) or
         * on the destination's (return, recover) */
        sd_bus *remote;    /* the destination's bus over SSH, or NULL: the local one */
        int ssh_errors;    /* ssh's stderr (remote.h) */
        char *zone_path;
        char *job;
        sd_bus_slot *call;
        sd_bus_slot *job_changed;
        bool job_seen_running;
};

/* An evacuation, a return or a recovery: an org.kzones.Evacuation1.Job object. */
struct Evacuation {
        Manager *manager;
        EvacuationKind kind;
        uint32_t id;
        char *path;
        bool all, dry_run, overwrite;
        unsigned parallel;
        JobState state;
        char *message;
        char *result_name, *result_text;
        bool cancelling;
        bool planned;         /* the zones are known (Zones is filled) */
        Entry **entries;
        size_t n_entries;
        unsigned n_asking;    /* planning calls not answered yet */
        char *return_uri;     /* how the destinations reach this host */
        Target **targets;     /* the hosts of list targets, asked for their room */
        size_t n_targets;
        char **notes;         /* the Notes property: targets left out of the placement, and why */
        sd_bus_slot *list_call;
        sd_event_source *linger;
        sd_event_source *step;
};

struct Manager {
        sd_event *event;
        sd_bus *bus;
        char *root;
        unsigned parallel;    /* the default */
        uint64_t link_rate;   /* when none was measured (evacuation-estimate.c) */
        RateSource link_rate_source;
        uint32_t last_id;
        Evacuation *current;  /* at work, NULL if none */
        /* those that ended, oldest first, each readable a while (EVACUATION_LINGER_USEC)
         * so that a second watcher still reads how one ended after another began */
        Evacuation *finished[EVACUATION_FINISHED_MAX];
        size_t n_finished;
};

int manager_new(sd_event *e, sd_bus *bus, const char *root, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);
/* ROOT/PATH */
char *manager_path(Manager *m, const char *path);

/* Estimates (evacuation-estimate.c) */
int manager_read_link_rate(Manager *m);
uint64_t manager_link_rate(Manager *m, const char *destination, RateSource *ret_source);
int manager_remember_link_rate(Manager *m, const char *destination, uint64_t rate);
/* each Rate and BytesDone its restarter job reports */
void entry_measure(Entry *e, uint64_t rate, uint64_t bytes_done);
/* its configured memory, and (if ret_pool) its memory reservation pool or NULL */
uint64_t manager_zone_memory(Manager *m, const char *zone, char **ret_pool);
int bus_append_estimates(sd_bus_message *reply, Evacuation *ev);

/* The evacuation record (evacuation-record.c): the entries that are not where they
 * started, with the return URI, as JSON. */
int record_write(Manager *m, Evacuation *ev);
int record_remove(Manager *m);
/* An Evacuation (not registered, no job) with the record's entries; 0 if there is none. */
int record_load(Manager *m, Evacuation **ret);
int record_parse(const char *text, Evacuation *ev);
char *record_format(const Evacuation *ev);
EntryState record_state(const Evacuation *ev, const Entry *e);

/* Jobs (evacuation-job.c) */
int evacuation_new(Manager *m, EvacuationKind kind, Evacuation **ret);
Evacuation *evacuation_free(Evacuation *ev);
DEFINE_TRIVIAL_CLEANUP_FUNC(Evacuation *, evacuation_free);
int evacuation_add_entry(Evacuation *ev, const char *zone, Entry **ret);
Entry *evacuation_find_entry(Evacuation *ev, const char *zone);
/* Registers it as the current job and starts its work from the event loop. */
int evacuation_start(Evacuation *ev);
int evacuation_cancel(Evacuation *ev, sd_bus_error *error);
/* At start: an interrupted run in the record is checked against the hosts. */
int manager_recover(Manager *m);
int entry_set_error(Entry *e, const char *fmt, ...) _printf_(2, 3);
void entry_set_state(Entry *e, EntryState s);

/* Between the job and its planning (evacuation-job.c, evacuation-plan.c) */
int evacuation_plan(sd_event_source *s, void *userdata);
void evacuation_planned(Evacuation *ev);
void evacuation_fail(Evacuation *ev, const char *name, const char *fmt, ...) _printf_(3, 4);
void entry_follow_job(Entry *e, const char *job);
void entry_ask_destination(Entry *e);
void entry_journal(Entry *e);

/* A host of a list target, while the plan asks it for its room (evacuation-targets.c). */
struct Target {
        Evacuation *evacuation;
        PlaceTarget *place;
        sd_bus *remote;
        int ssh_errors;
        sd_bus_slot *memory_call, *maintenance_call, *pools_call;
};

/* The entries' targets are known: those with a list are placed (asking each host of
 * the lists for its room first), then evacuation_planned(). */
void evacuation_place(Evacuation *ev);
Target *target_free(Target *t);

/* The bus (evacuation-dbus.c) */
int bus_register(Manager *m);
void bus_job_send_changed(Evacuation *ev, const char *property, ...) _sentinel_;
void bus_job_removed(Evacuation *ev);
void bus_manager_send_changed(Manager *m, const char *property, ...) _sentinel_;
int bus_caller_uid(sd_bus_message *msg, uid_t *ret, sd_bus_error *error);
int bus_append_entries(sd_bus_message *reply, Evacuation *ev);
