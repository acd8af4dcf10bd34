/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>
#include <systemd/sd-daemon.h>

/* Daemons log to stderr with sd-daemon priority prefixes; under systemd the journal
 * keeps the priority. Log once, where the error is decided. */
#define log_full(prefix, fmt, ...) fprintf(stderr, prefix fmt "\n", ##__VA_ARGS__)
#define log_error(fmt, ...) log_full(SD_ERR, fmt, ##__VA_ARGS__)
#define log_warning(fmt, ...) log_full(SD_WARNING, fmt, ##__VA_ARGS__)
#define log_notice(fmt, ...) log_full(SD_NOTICE, fmt, ##__VA_ARGS__)
#define log_info(fmt, ...) log_full(SD_INFO, fmt, ##__VA_ARGS__)
#define log_debug(fmt, ...) log_full(SD_DEBUG, fmt, ##__VA_ARGS__)
