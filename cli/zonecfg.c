/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <locale.h>

#include "cli-util.h"
#include "restarter-client.h"
#include "zonecfg-cmd.h"
#include "zonecfg-live.h"
#include "zonecfg-prompt.h"

#define COMMAND_FILE_MAX (1024u * 1024u)

static const char *arg_zonename;
static const char *arg_root = "";
static const char *arg_file;
static bool arg_live;
static bool arg_usage_error;

static void short_usage(FILE *f)
{
        fputs("usage: zonecfg -z ZONENAME [-R ROOT | -r] [SUBCOMMAND[;SUBCOMMAND…] | -f COMMAND-FILE|-]\n"
              "Try 'zonecfg --help' for more.\n",
                f);
}

/* A mistake on the command line: one line saying what is wrong, then the short usage; exit 2. */
#define usage_error(...) (arg_usage_error = true, cli_usage_error("zonecfg", short_usage, __VA_ARGS__))

static void help(FILE *f)
{
        fputs("usage: zonecfg -z ZONENAME [-R ROOT | -r] [SUBCOMMAND[;SUBCOMMAND…]]\n"
              "       zonecfg -z ZONENAME [-R ROOT | -r] -f COMMAND-FILE|-\n"
              "\n"
              "Configures a kernel zone. With no subcommands and a terminal, reads\n"
              "subcommands interactively; 'help' lists them. See zonecfg(8).\n"
              "\n"
              "  -z ZONENAME  the zone to configure\n"
              "  -R ROOT      use ROOT/etc/zones instead of /etc/zones\n"
              "  -r           live mode: edit the running zone's live configuration;\n"
              "               'commit' changes the zone at once, until its next boot\n"
              "  -f FILE      read subcommands from FILE ('-' for standard input)\n"
              "  -h, --help   show this help\n"
              "  --version    show the version\n",
                f);
}

static bool ask(void *userdata, const char *question)
{
        char answer[16];

        (void) userdata;
        fprintf(stdout, "%s (y/[n])? ", question);
        fflush(stdout);
        if (!fgets(answer, sizeof(answer), stdin))
                return false;
        return answer[0] == 'y' || answer[0] == 'Y';
}

static int parse_argv(int argc, char *argv[])
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:z:R:f:rh", options, NULL)) >= 0)
                switch (c) {
                case ARG_VERSION:
                        return cli_version("zonecfg");
                case 'z':
                        arg_zonename = optarg;
                        break;
                case 'R':
                        arg_root = optarg;
                        break;
                case 'f':
                        arg_file = optarg;
                        break;
                case 'r':
                        arg_live = true;
                        break;
                case 'h':
                        help(stdout);
                        return 0;
                default:
                        arg_usage_error = true;
                        return cli_getopt_error("zonecfg", short_usage, c, argv);
                }
        if (!arg_zonename)
                return usage_error("a zone name is required: zonecfg -z ZONENAME …");
        if (arg_file && optind < argc)
                return usage_error("give either -f FILE or subcommands, not both");
        if (arg_live && !isempty(arg_root))
                return usage_error("-r and -R exclude each other: live mode edits a running zone's live "
                                   "configuration, which the zone restarter keeps, not a configuration under ROOT");
        return 1;
}

static int run_file(Zonecfg *z, const char *path)
{
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t cap = 0, total = 0;
        unsigned lineno = 0;
        ssize_t n;

        if (streq(path, "-"))
                f = fdopen(dup(STDIN_FILENO), "r");
        else
                f = fopen(path, "re");
        if (!f) {
                fprintf(stderr, "zonecfg: cannot open %s: %m\n", path);
                return -errno;
        }
        while ((n = getline(&line, &cap, f)) >= 0) {
                int r;

                lineno++;
                total += (size_t) n;
                if (total > COMMAND_FILE_MAX) {
                        fprintf(stderr, "zonecfg: %s is larger than %u bytes.\n", path, COMMAND_FILE_MAX);
                        return -EFBIG;
                }
                r = zonecfg_run_line(z, line, lineno);
                if (r < 0)
                        return r;
                if (r == ZONECFG_EXIT)
                        return 0;
        }
        return zonecfg_finish(z);
}

/* A terminal on standard input, not on standard output (zonecfg | tee log): no line
 * editing, the prompt written to the output as it always was. */
static int run_interactive_plain(Zonecfg *z)
{
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        unsigned lineno = 0;
        int last = 0;

        if (!zonecfg_zone_exists(z))
                puts("Use 'create' to begin configuring a new zone.");
        for (;;) {
                int r;

                fputs(zonecfg_prompt(z), stdout);
                fflush(stdout);
                if (getline(&line, &cap, stdin) < 0) {
                        fputc('\n', stdout);
                        r = zonecfg_finish(z);
                        return r < 0 ? r : last;
                }
                r = zonecfg_run_line(z, line, ++lineno);
                /* The session goes on after an error; the exit status remembers it. */
                if (r < 0)
                        last = r;
                if (r == ZONECFG_EXIT)
                        return last;
        }
}

static int run(int argc, char *argv[])
{
        _cleanup_(zonecfg_prompt_freep) ZonecfgPrompt *prompt = NULL;
        _cleanup_(zonecfg_live_bus_freep) ZonecfgLiveBus *live_bus = NULL;
        _cleanup_(zonecfg_freep) Zonecfg *z = NULL;
        ZonecfgLive live = {};
        ZonecfgOptions o = {
                .out = stdout,
                .err = stderr,
        };
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        o.root = arg_root;
        o.zonename = arg_zonename;
        if (arg_file)
                o.mode = ZONECFG_FILE;
        else if (optind < argc)
                o.mode = ZONECFG_BATCH;
        else
                o.mode = isatty(STDIN_FILENO) ? ZONECFG_INTERACTIVE : ZONECFG_FILE;
        /* Questions are asked on the terminal, unless the commands come from it too. */
        if (isatty(STDIN_FILENO) && !(arg_file && streq(arg_file, "-")))
                o.confirm = ask;
        /* On a terminal, lines are edited and questions asked on the prompt line. */
        if (o.mode == ZONECFG_INTERACTIVE && isatty(STDOUT_FILENO)) {
                r = zonecfg_prompt_new(&prompt);
                if (r < 0)
                        return r;
                o.confirm = zonecfg_prompt_ask;
                o.userdata = prompt;
        }

        if (arg_live) {
                /* the same check as zonecfg_new's, before anything is asked of the bus */
                if (!zone_name_is_valid(arg_zonename))
                        return zonecfg_new(&o, &z);
                r = zonecfg_live_bus_new(arg_zonename, &live, &live_bus);
                if (r < 0)
                        return r;
                o.live = &live;
        }
        r = zonecfg_new(&o, &z);
        if (r < 0)
                return r;

        if (arg_file)
                return run_file(z, arg_file);
        if (optind < argc) {
                _cleanup_free_ char *joined = NULL;
                size_t len = 1;

                for (int i = optind; i < argc; i++)
                        len += strlen(argv[i]) + 1;
                joined = calloc(1, len);
                if (!joined)
                        return -ENOMEM;
                for (int i = optind; i < argc; i++) {
                        if (i > optind)
                                strcat(joined, " ");
                        strcat(joined, argv[i]);
                }
                r = zonecfg_run_line(z, joined, 1);
                if (r < 0)
                        return r;
                if (r == ZONECFG_EXIT)
                        return 0;
                return zonecfg_finish(z);
        }
        if (o.mode == ZONECFG_FILE)
                return run_file(z, "-");
        if (!prompt)
                return run_interactive_plain(z);
        return zonecfg_prompt_run(prompt, z);
}

int main(int argc, char *argv[])
{
        int r;

        (void) setlocale(LC_ALL, "");
        cli_prog = "zonecfg";
        r = run(argc, argv);
        if (arg_usage_error)
                return 2;
        return r < 0 ? 1 : 0;
}
