/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _pure_ __attribute__((pure))
#define _sentinel_ __attribute__((sentinel))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define TAKE_PTR(p)                                                                                        \
        ({                                                                                                 \
                __typeof__(p) _p_ = (p);                                                                   \
                (p) = NULL;                                                                                \
                _p_;                                                                                       \
        })

#define TAKE_FD(fd)                                                                                        \
        ({                                                                                                 \
                int _fd_ = (fd);                                                                           \
                (fd) = -EBADF;                                                                             \
                _fd_;                                                                                      \
        })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                            \
        static inline void func##p(type *p)                                                                \
        {                                                                                                  \
                if (*p)                                                                                    \
                        *p = func(*p);                                                                     \
        }

static inline void freep(void *p)
{
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Closes fd if open; returns -EBADF to assign back: fd = safe_close_fd(fd). */
static inline int safe_close_fd(int fd)
{
        if (fd >= 0)
                (void) close(fd);
        return -EBADF;
}

static inline void fclosep(FILE **f)
{
        if (*f)
                (void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void strv_freep(char ***l)
{
        if (!*l)
                return;
        for (char **i = *l; *i; i++)
                free(*i);
        free(*l);
        *l = NULL;
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

static inline bool streq(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

static inline bool isempty(const char *s)
{
        return !s || !*s;
}

static inline const char *strna(const char *s)
{
        return s ?: "n/a";
}

/* The rest of s after prefix, or NULL if s does not start with it. */
static inline const char *startswith(const char *s, const char *prefix)
{
        size_t n = strlen(prefix);

        return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

static inline const char *strempty(const char *s)
{
        return s ?: "";
}

/* Negative errno from a libc call that sets errno, never 0. */
static inline int negative_errno(void)
{
        return errno > 0 ? -errno : -EIO;
}

/* A string table for an enum: NAME_to_string()/NAME_from_string(), tested both ways. */
#define DEFINE_STRING_TABLE(name, type, max)                                                               \
        const char *name##_to_string(type i)                                                               \
        {                                                                                                  \
                if (i < 0 || (size_t) i >= ELEMENTSOF(name##_table))                                       \
                        return NULL;                                                                       \
                return name##_table[i];                                                                    \
        }                                                                                                  \
        type name##_from_string(const char *s)                                                             \
        {                                                                                                  \
                if (!s)                                                                                    \
                        return (type) -EINVAL;                                                             \
                for (size_t i = 0; i < (size_t) (max); i++)                                                \
                        if (name##_table[i] && streq(name##_table[i], s))                                  \
                                return (type) i;                                                           \
                return (type) -EINVAL;                                                                     \
        }

static inline char *mfree_str(char *p)
{
        free(p);
        return NULL;
}

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

/* CLOCK_MONOTONIC in microseconds. */
static inline uint64_t now_usec(void)
{
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}
