/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BASE64_ENCODED_MAX(n) ((((n) + 2) / 3) * 4 + 1)

/* Standard alphabet with '=' padding; out holds BASE64_ENCODED_MAX(n). */
void base64_encode(const uint8_t *in, size_t n, char *out);
/* Strict: padding required, no whitespace. Returns the byte count or -EINVAL. */
ssize_t base64_decode(const char *in, uint8_t *out, size_t max);
