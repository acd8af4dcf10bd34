/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <stdarg.h>

#include "cli-util.h"

int cli_usage_error(const char *prog, void (*short_usage)(FILE *f), const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s: ", prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        short_usage(stderr);
        return -EINVAL;
}

int cli_getopt_error(const char *prog, void (*short_usage)(FILE *f), int c, char *argv[])
{
        /* a long option's optopt is its value in the option table, not a character */
        if (c == ':' && optopt > 0 && optopt < 0x80)
                return cli_usage_error(prog, short_usage, "option -%c needs a value", optopt);
        if (c == ':')
                return cli_usage_error(prog, short_usage, "option '%s' needs a value", argv[optind - 1]);
        if (optopt)
                return cli_usage_error(prog, short_usage, "unknown option -%c", optopt);
        return cli_usage_error(prog, short_usage, "unknown option '%s'", argv[optind - 1]);
}

int cli_version(const char *prog)
{
        printf("%s (kzones) %s\n", prog, KZONES_VERSION);
        return 0;
}
