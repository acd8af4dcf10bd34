/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the tests of the zonecfg command language share: a session with its
 * output captured, and the files it leaves in the test's root. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "zone-store.h"
#include "zonecfg-cmd.h"
#include "test-root.h"

/* ---- a session ---------------------------------------------------------------------------------- */

typedef struct Session {
        Zonecfg *z;
        FILE *out, *err;
        char *out_buf, *err_buf;
        size_t out_size, err_size;
        size_t out_mark, err_mark; /* what the tests have already looked at */
} Session;

static inline Session *session_try(const char *name, ZonecfgMode mode, int *ret)
{
        Session *s = calloc(1, sizeof(*s));
        ZonecfgOptions o;

        cr_assert_not_null(s);
        s->out = open_memstream(&s->out_buf, &s->out_size);
        s->err = open_memstream(&s->err_buf, &s->err_size);
        cr_assert(s->out && s->err);
        o = (ZonecfgOptions) { .root = root, .zonename = name, .mode = mode, .out = s->out, .err = s->err };
        *ret = zonecfg_new(&o, &s->z);
        return s;
}

static inline Session *session(const char *name, ZonecfgMode mode)
{
        int r;
        Session *s = session_try(name, mode, &r);

        cr_assert_eq(r, 0, "zonecfg_new(%s) failed: %d", name, r);
        return s;
}

static inline void session_free(Session *s)
{
        zonecfg_free(s->z);
        fclose(s->out);
        fclose(s->err);
        free(s->out_buf);
        free(s->err_buf);
        free(s);
}

/* What was printed since the last look. */
static inline char *take_out(Session *s)
{
        char *r;

        fflush(s->out);
        r = strndup(s->out_buf + s->out_mark, s->out_size - s->out_mark);
        s->out_mark = s->out_size;
        return r;
}

static inline char *take_err(Session *s)
{
        char *r;

        fflush(s->err);
        r = strndup(s->err_buf + s->err_mark, s->err_size - s->err_mark);
        s->err_mark = s->err_size;
        return r;
}

static inline void assert_out(Session *s, const char *want)
{
        char *got = take_out(s);

        cr_assert_str_eq(got, want, "printed:\n%s\nexpected:\n%s", got, want);
        free(got);
}

static inline void assert_err(Session *s, const char *want)
{
        char *got = take_err(s);

        cr_assert_str_eq(got, want, "error output:\n%s\nexpected:\n%s", got, want);
        free(got);
}

static inline void assert_no_err(Session *s)
{
        assert_err(s, "");
}

/* Runs a line that must succeed and print no error. */
static inline void ok(Session *s, const char *line)
{
        int r = zonecfg_run_line(s->z, line, 1);
        char *err = take_err(s);

        cr_assert_geq(r, 0, "\"%s\" failed with %d: %s", line, r, err);
        cr_assert_str_eq(err, "", "\"%s\" printed an error: %s", line, err);
        free(err);
}

/* Runs a line that must fail, and returns the one line of error it printed. */
static inline char *fails(Session *s, const char *line)
{
        int r = zonecfg_run_line(s->z, line, 1);
        char *err = take_err(s);

        cr_assert_lt(r, 0, "\"%s\" succeeded", line);
        cr_assert_neq(err[0], 0, "\"%s\" failed without a message", line);
        cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1, "\"%s\" printed more or less than one line: %s",
                line, err);
        return err;
}

static inline void finish_ok(Session *s)
{
        int r = zonecfg_finish(s->z);
        char *err = take_err(s);

        cr_assert_eq(r, 0, "finish failed with %d: %s", r, err);
        free(err);
}

/* Runs one batch command line as 'zonecfg -z NAME "..."' does: the line, then, if it did
 * not fail or exit, the end of input. */
static inline void batch(const char *name, const char *line)
{
        Session *s = session(name, ZONECFG_BATCH);
        int r = zonecfg_run_line(s->z, line, 1);
        char *err = take_err(s);

        cr_assert_geq(r, 0, "\"%s\" failed: %s", line, err);
        if (r == ZONECFG_CONTINUE)
                finish_ok(s);
        free(err);
        session_free(s);
}
