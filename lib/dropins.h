/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Unit configuration the way systemd reads it: the drop-ins of a unit instance
 * (NAME@INSTANCE.service.d) and of its template (NAME@.service.d) in every unit
 * directory under root; a file hides every later one of the same name (/etc over
 * /run over /usr, the instance's over the template's); the rest in the order of
 * their names. instance may be NULL (the template alone). Unit names are given
 * without ".d". */
int unit_dropins(const char *root, const char *instance, const char *template, char ***ret_paths);

/* Calls cb(text) with the content of each of those drop-ins in turn (text is the
 * callback's to change); one that cannot be read, or is larger than max bytes, is
 * passed over. Stops at the first negative return, and returns it. */
int unit_dropins_foreach(const char *root, const char *instance, const char *template, size_t max,
                int (*cb)(char *text, void *userdata), void *userdata);

/* Calls cb(key, value) for each KEY=VALUE of [section] in an INI text (which it
 * changes in place); stops at the first negative return. */
int ini_section_foreach(char *text, const char *section, int (*cb)(const char *key, const char *value, void *userdata),
                void *userdata);
