/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

#include "macro.h"

/* Library code does not log: it returns -errno and, where a person needs to know
 * why, one sentence in a KzError that the caller prints once. */
typedef struct KzError {
        int error; /* positive errno, 0 if unset */
        char message[1024];
} KzError;

_printf_(3, 4) static inline int kz_error_set(KzError *e, int error, const char *fmt, ...)
{
        if (e && e->error == 0) {
                va_list ap;

                e->error = error < 0 ? -error : error;
                va_start(ap, fmt);
                (void) vsnprintf(e->message, sizeof(e->message), fmt, ap);
                va_end(ap);
        }
        return error < 0 ? error : -error;
}

static inline void kz_error_clear(KzError *e)
{
        if (e) {
                e->error = 0;
                e->message[0] = 0;
        }
}

static inline const char *kz_error_message(const KzError *e, int r)
{
        if (e && e->error && e->message[0])
                return e->message;
        return strerror(r < 0 ? -r : r);
}
