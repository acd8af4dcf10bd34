/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "zone-config.h"

/* The zonecfg command language: commands separated by newlines or ';', words
 * separated by blanks, "double quotes" around values with blanks, ';' or '#',
 * '#' starting a comment. One interpreter serves the interactive prompt, the
 * commands given as arguments and command files. */

typedef enum ZonecfgMode {
        ZONECFG_INTERACTIVE, /* errors are reported and the session goes on */
        ZONECFG_BATCH,       /* commands from the command line: the first error ends it */
        ZONECFG_FILE,        /* commands from -f FILE: the first error ends it, with its line */
} ZonecfgMode;

typedef struct Zonecfg Zonecfg;

/* Live mode (zonecfg -r): the configuration is the running zone's live one, read and
 * committed through these (the command's calls to the zone restarter), never the
 * store's. */
typedef struct ZonecfgLive {
        /* The live configuration as XML (freed by the caller) and its generation.
         * Reports its own errors; returns 0 or -errno. */
        int (*load)(void *userdata, char **ret_xml, uint64_t *ret_generation);
        /* Makes xml the live configuration; generation is the one it was loaded at.
         * Prints the job's lines and its failure (nothing of either with quiet).
         * Returns 0, -ESTALE when the live configuration changed since it was
         * loaded (printing nothing), or another -errno. */
        int (*commit)(void *userdata, const char *xml, uint64_t generation, bool dry_run, bool quiet);
        void *userdata;
} ZonecfgLive;

typedef struct ZonecfgOptions {
        const char *root;     /* alternate root, "" for / */
        const char *zonename;
        ZonecfgMode mode;
        FILE *out;
        FILE *err;
        /* Asks a yes/no question; NULL when nobody can answer (no terminal). */
        bool (*confirm)(void *userdata, const char *question);
        void *userdata;
        /* NULL: default mode, the persistent configuration in ROOT/etc/zones */
        const ZonecfgLive *live;
} ZonecfgOptions;

/* The result of running commands: */
enum {
        ZONECFG_CONTINUE = 0,
        ZONECFG_EXIT = 1, /* 'exit' was given and succeeded */
};

int zonecfg_new(const ZonecfgOptions *o, Zonecfg **ret);
Zonecfg *zonecfg_free(Zonecfg *z);
static inline void zonecfg_freep(Zonecfg **z)
{
        if (*z)
                *z = zonecfg_free(*z);
}

/* Runs one line (which may hold several commands separated by ';'). Returns
 * ZONECFG_CONTINUE, ZONECFG_EXIT, or a negative errno after printing the error. */
int zonecfg_run_line(Zonecfg *z, const char *line, unsigned lineno);
/* At the end of the input: ends open scopes and commits pending changes, as 'exit'. */
int zonecfg_finish(Zonecfg *z);
/* "zonecfg:kz1:anet> " */
const char *zonecfg_prompt(Zonecfg *z);
bool zonecfg_zone_exists(const Zonecfg *z);

/* Tab completion: the words that can replace the last word of line (the text before
 * the cursor) in the current scope, sorted, as a NULL-terminated list (NULL: none),
 * and in ret_start where that word begins in line. A property's value is offered as
 * "PROP=VALUE", a property to set as "PROP=". Returns 0 or -ENOMEM. */
int zonecfg_complete(Zonecfg *z, const char *line, char ***ret, size_t *ret_start);
