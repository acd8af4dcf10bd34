/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <stddef.h>

#define SIZE_K UINT64_C(1024)
#define SIZE_M (SIZE_K * 1024)
#define SIZE_G (SIZE_M * 1024)
#define SIZE_T (SIZE_G * 1024)

/* Parses "4G", "2048m", "512K", "1073741824" (an integer with an optional
 * K/M/G/T scale, case-insensitive, an optional trailing B). */
int size_parse(const char *s, uint64_t *ret);

/* Formats a byte count with the largest scale that divides it exactly: 4G, 2048M→2G, 1536M. */
char *size_format(uint64_t bytes, char *buf, size_t len);
#define SIZE_FORMAT_MAX 32
