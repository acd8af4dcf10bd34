/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>

#include "macro.h"

/* What the commands share on their command lines. */

/* A mistake on the command line: "PROG: " and what is wrong on one line, then the
 * command's short usage, on stderr. Returns -EINVAL. */
_printf_(3, 4) int cli_usage_error(const char *prog, void (*short_usage)(FILE *f), const char *fmt, ...);

/* The usage error for what getopt_long() returned with opterr = 0 and ':' leading
 * its option string: c is ':' (an option that needs a value) or anything else (an
 * unknown option, short or long). Returns -EINVAL. */
int cli_getopt_error(const char *prog, void (*short_usage)(FILE *f), int c, char *argv[]);

/* getopt_long()'s value for --version, which has no short option. */
#define ARG_VERSION 0x100

/* --version: "PROG (kzones) VERSION" on stdout. Returns 0 (done, exit 0). */
int cli_version(const char *prog);
