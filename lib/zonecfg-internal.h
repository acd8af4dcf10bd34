/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the files of the zonecfg interpreter, not by its users: the session
 * (zonecfg-cmd.c: scopes, errors, the command table, info, export, commit, the
 * tokenizer), the commands that edit resources (zonecfg-edit.c) and tab completion
 * (zonecfg-complete.c). */
#include "zonecfg-cmd.h"

#define MAX_DEPTH 2

typedef struct Scope {
        ZoneResource *scratch;  /* the resource being edited */
        ZoneResource *original; /* the one it replaces at 'end'; NULL after 'add' */
        ZoneResource *parent;   /* the zone, or the enclosing scope's scratch */
} Scope;

struct Zonecfg {
        ZonecfgOptions o;
        char *root;
        char *zonename;
        ZoneConfig *cfg; /* NULL: no configuration (not created yet, or deleted) */
        char *damaged;   /* why the stored configuration could not be read */
        bool dirty;
        uint64_t live_generation; /* live mode: the generation cfg was read at */
        bool previewed;           /* live mode: 'commit -n' was the last change-related command */
        Scope scopes[MAX_DEPTH];
        unsigned depth;
        unsigned lineno;
        char prompt[256];
};

/* Prints an error the way the mode wants it (with the line of a command file, the
 * zone's name in batch mode) and returns -EINVAL. */
_printf_(2, 3) int zc_fail(Zonecfg *z, const char *fmt, ...);
/* zc_fail() with the message of e (or r), returning r (-EINVAL if r is not negative). */
int zc_fail_error(Zonecfg *z, int r, const KzError *e);
/* Asks the user; false when nobody can answer. */
bool zc_confirm(Zonecfg *z, const char *question);
/* Leaves every resource scope, discarding what was edited there. */
void zc_scopes_drop(Zonecfg *z);
/* The innermost scope, or NULL at the zone's level. */
Scope *zc_scope(Zonecfg *z);
/* The resource that commands act on: the innermost scope's, else the zone. */
ZoneResource *zc_current(Zonecfg *z);
/* 0, or an error printed: there is no configuration / a resource scope is open. */
int zc_need_zone(Zonecfg *z);
int zc_need_global_scope(Zonecfg *z, const char *cmd);

/* The name of the i-th subcommand, in alphabetical order; NULL past the last. */
const char *zc_command_name(size_t i);

/* The children of parent of type t that match every "prop=value" filter. */
int zc_match_resources(Zonecfg *z, const ZoneResource *parent, const ResourceType *t, char **filters, size_t n,
                ZoneResource **ret, size_t max, size_t *ret_n);

/* Live mode (zonecfg-live.c): the live configuration read into ret; committed (with
 * its lines, the guide's three lines when it changed externally, and read again
 * afterwards); a command that makes no sense on a running zone refused. */
int zc_live_load(Zonecfg *z, ZoneConfig **ret);
int zc_live_commit(Zonecfg *z, bool dry_run, bool quiet);
int zc_live_refuse(Zonecfg *z, const char *cmd);
static inline bool zc_live(const Zonecfg *z)
{
        return z->o.live != NULL;
}

/* The commands that edit resources (zonecfg-edit.c), argv without the command's name. */
int zc_cmd_create(Zonecfg *z, char **argv, size_t argc);
int zc_cmd_set(Zonecfg *z, char **argv, size_t argc);
int zc_cmd_clear(Zonecfg *z, char **argv, size_t argc);
int zc_cmd_add(Zonecfg *z, char **argv, size_t argc);
int zc_cmd_select(Zonecfg *z, char **argv, size_t argc);
int zc_cmd_remove(Zonecfg *z, char **argv, size_t argc);
int zc_cmd_end(Zonecfg *z, char **argv, size_t argc);
int zc_cmd_cancel(Zonecfg *z, char **argv, size_t argc);
