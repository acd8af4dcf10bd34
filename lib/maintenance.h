/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kz-error.h"

/* A host's maintenance mode ('sysadm maintain'): while it is on, the restarter
 * refuses to attach, boot or take in a zone by migration. kzones-evacuated alone
 * writes the file (atomically, 0600); the restarter and kzones-generator read it.
 * Its presence is the mode: no file, no maintenance. Survives reboots. */
#define MAINTENANCE_FILE "/var/lib/kzones/maintenance"
#define MAINTENANCE_MESSAGE_MAX 512u /* bytes of the administrator's message */
#define MAINTENANCE_FILE_MAX 4096u

typedef struct Maintenance {
        char *type;    /* "admin", the one kind there is */
        char *user;    /* who started it, as a name */
        uint32_t uid;
        uint64_t since_usec; /* CLOCK_REALTIME */
        char *message; /* "" if none */
} Maintenance;

void maintenance_done(Maintenance *m);
/* 1 and *ret filled if ROOT/MAINTENANCE_FILE says maintenance is on, 0 if there is
 * no file, -errno (and a sentence in e) if it cannot be read or makes no sense. */
int maintenance_read(const char *root, Maintenance *ret, KzError *e);
/* Writes it atomically; the directory is created 0700 when missing. */
int maintenance_write(const char *root, const Maintenance *m, KzError *e);
/* Removes the file (0 if there was none). */
int maintenance_remove(const char *root, KzError *e);
/* Whether a message is fit for the file and the journal: at most
 * MAINTENANCE_MESSAGE_MAX bytes of valid UTF-8, no control characters. */
bool maintenance_message_is_valid(const char *s);
/* "admin, by root since 2026-11-30 12:57 UTC: MESSAGE", for refusals. */
char *maintenance_describe(const Maintenance *m);
