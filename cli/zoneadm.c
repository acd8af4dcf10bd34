/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "cli-util.h"
#include "macro.h"
#include "size.h"
#include "zone-config.h"
#include "zone-state.h"
#include "remote.h"
#include "zoneadm.h"

/* zoneadm administers kernel zones. It keeps no state of its own: every subcommand is one call to
 * the zone restarter, kzones-restarterd, over the D-Bus system bus (or a remote host's, with -H).
 * The restarter's error messages are sentences meant for the user, printed as they come. */


#define EXIT_USAGE 2

typedef struct Verb {
        const char *name;
        bool needs_zone;
        const char *synopsis; /* after the name */
        const char *summary;
        int (*parse)(int argc, char *argv[]); /* argv[0] is the subcommand */
        int (*run)(sd_bus *bus);
} Verb;

static const char *arg_zonename;
static const char *arg_host;
static const Verb *arg_verb;
static ZoneState arg_list_min_state = ZONE_STATE_RUNNING;
static ListFormat arg_list_format = LIST_NAMES;
static uint64_t arg_install_size; /* 0: the restarter's default */
static bool arg_force;
static bool arg_reboot;
static char **arg_boot_args; /* the tail of argv, NULL-terminated */
static const char *arg_clone_source;
static const char *arg_attach_option;
static bool arg_boot_fresh;
static bool arg_quiet;
static const char *arg_image;
static const char *arg_iso;
static const char *arg_migrate_destination;
static const char *arg_migrate_cipher;
static bool arg_migrate_dry_run;
static const char *arg_migrate_type = "auto";
static bool arg_migrate_overwrite;
static bool arg_apply_dry_run;

static void short_usage(FILE *f)
{
        fputs("usage: zoneadm [-H [USER@]HOST] [-z ZONENAME] list [-c|-i] [-v|-p|-s|--json=pretty|short]\n"
              "       zoneadm [-H [USER@]HOST] -z ZONENAME SUBCOMMAND [OPTIONS]\n"
              "Try 'zoneadm --help' for the subcommands.\n",
                f);
}

static void help(FILE *f)
{
        fputs("usage: zoneadm [-H [USER@]HOST] [-z ZONENAME] list [-c|-i] [-v|-p|-s|--json=pretty|short]\n"
              "       zoneadm [-H [USER@]HOST] -z ZONENAME SUBCOMMAND [OPTIONS]\n"
              "\n"
              "Installs, boots, stops and lists kernel zones through the zone restarter,\n"
              "kzones-restarterd. See zoneadm(8).\n"
              "\n"
              "Subcommands:\n"
              "  list [-c|-i] [-v|-p|-s|--json=pretty|short]\n"
              "                                  running zones; -i adds installed zones, -c all\n"
              "                                  configured ones; -v verbose, -p parsable,\n"
              "                                  -s with auxiliary states, --json as JSON\n"
              "  install [-x install-size=SIZE] [-a IMAGE | -b ISO] [-q]\n"
              "                                  create the boot disk, or copy a raw or qcow2\n"
              "                                  IMAGE to it, or boot an installer from ISO:\n"
              "                                  configured -> installed\n"
              "  uninstall [-F]                  remove the boot disk: installed -> configured\n"
              "  boot [-R] [-- ARGUMENTS...]     start the zone (resuming it if suspended;\n"
              "                                  -R: afresh): installed -> running\n"
              "  suspend                         save the guest's state, stop: running -> installed\n"
              "  halt                            stop the zone at once: running -> installed\n"
              "  shutdown [-r]                   power the guest off cleanly (-r: then boot it)\n"
              "  reboot                          halt the zone and boot it again\n"
              "  verify                          check the configuration against this host\n"
              "  clone SOURCE                    install as a copy of installed zone SOURCE\n"
              "  attach [-x force-takeover|-x initialize-hostdata]\n"
              "                                  take the zone on this host: configured -> installed\n"
              "  detach                          release it for another host: installed -> configured\n"
              "  migrate [-nqw] [-c CIPHER|list] [-t auto|live] [ssh://][USER@]HOST\n"
              "                                  move the running zone to HOST, live (-n: check only)\n"
              "  apply [-n] [-q]                 make the persistent configuration the running\n"
              "                                  zone's, without a reboot (-n: show what would\n"
              "                                  change, change nothing; -q: quiet)\n"
              "\n"
              "Options:\n"
              "  -z ZONENAME     the zone to act on\n"
              "  -H [USER@]HOST  administer the zones of HOST, over SSH\n"
              "  -h, --help      show this help (after a subcommand: its usage)\n"
              "      --version   show the version\n",
                f);
}

/* A mistake on the command line: one line saying what is wrong, then the short usage. */
#define usage_error(...) cli_usage_error("zoneadm", short_usage, __VA_ARGS__)

/* getopt() for a subcommand's own options (opterr is 0): the next option, 0 when there are no more,
 * or -EINVAL after a usage message. */
static int verb_getopt(int argc, char *argv[], const char *options)
{
        char optstring[32];
        int c, next;

        (void) snprintf(optstring, sizeof(optstring), "+:%s", options);
        /* the subcommands have short options only: name a long one whole, not as "-" */
        next = optind > 0 ? optind : 1; /* 0: getopt() starts afresh, at argv[1] */
        if (next < argc && startswith(argv[next], "--") && argv[next][2])
                return usage_error("%s: unknown option '%s'", argv[0], argv[next]);
        c = getopt(argc, argv, optstring);
        switch (c) {
        case -1:
                return 0;
        case '?':
                return usage_error("%s: unknown option -%c", argv[0], optopt);
        case ':':
                return usage_error("%s: option -%c needs a value", argv[0], optopt);
        }
        return c;
}

static int no_more_arguments(int argc, char *argv[])
{
        if (optind < argc)
                return usage_error("%s: unexpected argument '%s'", argv[0], argv[optind]);
        return 1;
}

/* --json=pretty|short|off, as systemctl's, among the options before '--' or the first argument: taken out
 * of argv (which getopt() then reads without it) into *format. 0, or -EINVAL after a usage message. */
static int take_json_option(int *argc, char *argv[], ListFormat *format)
{
        for (int i = 1; i < *argc && argv[i][0] == '-' && !streq(argv[i], "--"); i++) {
                const char *value = startswith(argv[i], "--json");

                if (!value)
                        continue;
                if (streq(value, "=pretty"))
                        *format = LIST_JSON_PRETTY;
                else if (streq(value, "=short"))
                        *format = LIST_JSON_SHORT;
                else if (streq(value, "=off"))
                        *format = _LIST_FORMAT_INVALID;
                else if (*value == 0 || *value == '=')
                        return usage_error("%s: --json takes pretty, short or off: --json=pretty", argv[0]);
                else
                        continue;
                memmove(argv + i, argv + i + 1, (size_t) (*argc - i) * sizeof(char *));
                (*argc)--;
                i--;
        }
        return 0;
}

static int parse_list(int argc, char *argv[])
{
        bool verbose = false, parsable = false, status = false;
        ListFormat json = _LIST_FORMAT_INVALID;
        int c;

        c = take_json_option(&argc, argv, &json);
        if (c < 0)
                return c;
        while ((c = verb_getopt(argc, argv, "civps")) > 0)
                switch (c) {
                case 'c':
                        arg_list_min_state = ZONE_STATE_CONFIGURED;
                        break;
                case 'i':
                        if (arg_list_min_state > ZONE_STATE_INSTALLED)
                                arg_list_min_state = ZONE_STATE_INSTALLED;
                        break;
                case 'v':
                        verbose = true;
                        break;
                case 'p':
                        parsable = true;
                        break;
                case 's':
                        status = true;
                        break;
                }
        if (c < 0)
                return c;
        if (verbose + parsable + status + (json >= 0) > 1)
                return usage_error("list: -v, -p, -s and --json choose different layouts; give only one of them");
        arg_list_format = verbose ? LIST_VERBOSE : parsable ? LIST_PARSABLE : status ? LIST_STATUS :
                json >= 0 ? json : LIST_NAMES;
        return no_more_arguments(argc, argv);
}

static int parse_install(int argc, char *argv[])
{
        int c;

        while ((c = verb_getopt(argc, argv, "x:a:b:q")) > 0) {
                const char *value;

                if (c == 'q') {
                        arg_quiet = true;
                        continue;
                }
                if (c == 'a') {
                        arg_image = optarg;
                        continue;
                }
                if (c == 'b') {
                        arg_iso = optarg;
                        continue;
                }
                if (strncmp(optarg, "install-size=", strlen("install-size=")) != 0)
                        return usage_error("install: unknown -x option '%s': only install-size=SIZE is known",
                                optarg);
                value = optarg + strlen("install-size=");
                if (size_parse(value, &arg_install_size) < 0 || arg_install_size == 0)
                        return usage_error("install: '%s' is not a size: give a number with an optional "
                                           "K, M, G or T, such as 16G",
                                value);
        }
        if (c < 0)
                return c;
        return no_more_arguments(argc, argv);
}

static int parse_uninstall(int argc, char *argv[])
{
        int c;

        while ((c = verb_getopt(argc, argv, "F")) > 0)
                arg_force = true;
        if (c < 0)
                return c;
        return no_more_arguments(argc, argv);
}

static int parse_boot(int argc, char *argv[])
{
        int c;

        /* -R: boot afresh instead of resuming a suspended zone. Boot arguments,
         * which often start with '-', go after '--'. */
        while ((c = verb_getopt(argc, argv, "R")) > 0)
                arg_boot_fresh = true;
        if (c < 0)
                return c;
        arg_boot_args = argv + optind;
        return 1;
}

static int parse_shutdown(int argc, char *argv[])
{
        int c;

        while ((c = verb_getopt(argc, argv, "r")) > 0)
                arg_reboot = true;
        if (c < 0)
                return c;
        return no_more_arguments(argc, argv);
}

static int parse_attach(int argc, char *argv[])
{
        int c;

        while ((c = verb_getopt(argc, argv, "x:")) > 0) {
                if (!streq(optarg, "force-takeover") && !streq(optarg, "initialize-hostdata"))
                        return usage_error("attach: unknown -x option '%s': use force-takeover or "
                                           "initialize-hostdata", optarg);
                if (arg_attach_option && !streq(arg_attach_option, optarg))
                        return usage_error("attach: -x force-takeover and -x initialize-hostdata exclude each other");
                arg_attach_option = optarg;
        }
        if (c < 0)
                return c;
        return no_more_arguments(argc, argv);
}

static int parse_clone(int argc, char *argv[])
{
        int r;

        r = verb_getopt(argc, argv, "");
        if (r < 0)
                return r;
        if (optind >= argc)
                return usage_error("clone: name the source zone: zoneadm -z ZONENAME clone SOURCE");
        arg_clone_source = argv[optind++];
        return no_more_arguments(argc, argv);
}

static int parse_migrate(int argc, char *argv[])
{
        int c;

        while ((c = verb_getopt(argc, argv, "nqwc:t:")) > 0)
                switch (c) {
                case 'q':
                        arg_quiet = true;
                        break;
                case 'c':
                        arg_migrate_cipher = optarg;
                        break;
                case 't':
                        /* auto: the zone's state picks live, warm or cold; live: only a running zone */
                        if (!streq(optarg, "auto") && !streq(optarg, "live"))
                                return usage_error("migrate: -t takes auto or live");
                        arg_migrate_type = optarg;
                        break;
                case 'w':
                        arg_migrate_overwrite = true;
                        break;
                case 'n':
                        arg_migrate_dry_run = true;
                        break;
                }
        if (c < 0)
                return c;
        if (arg_migrate_dry_run && arg_migrate_overwrite)
                return usage_error("migrate: -n and -w exclude each other");
        if (optind >= argc)
                return usage_error("migrate: name the destination: zoneadm -z ZONENAME migrate [ssh://][user@]host");
        arg_migrate_destination = argv[optind++];
        return no_more_arguments(argc, argv);
}

static int parse_apply(int argc, char *argv[])
{
        int c;

        while ((c = verb_getopt(argc, argv, "nq")) > 0)
                if (c == 'n')
                        arg_apply_dry_run = true;
                else
                        arg_quiet = true;
        if (c < 0)
                return c;
        return no_more_arguments(argc, argv);
}

static int parse_no_options(int argc, char *argv[])
{
        int r;

        r = verb_getopt(argc, argv, "");
        if (r < 0)
                return r;
        return no_more_arguments(argc, argv);
}

/* ---- talking to the restarter ---- */

static int bus_open(sd_bus **ret)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        /* DBUS_SYSTEM_BUS_ADDRESS is honoured, so tests can use a private dbus-daemon. */
        if (arg_host) {
                /* ssh's errors go to a file of ours, for a one-line message */
                r = remote_bus_open(&bus, arg_host, &zoneadm_ssh_errors);
        } else
                r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_unreachable(NULL, r);
        *ret = TAKE_PTR(bus);
        return 0;
}

/* A method call on the zone arg_zonename, ready for its arguments. */
static int zone_method_new(sd_bus *bus, const char *method, sd_bus_message **ret)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = zone_lookup(bus, arg_zonename, &path);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, RESTARTER_BUS_NAME, path, RESTARTER_ZONE_IFACE, method);
        if (r < 0)
                return log_request_error(r);
        *ret = TAKE_PTR(m);
        return 0;
}

static int zone_method_call(sd_bus *bus, sd_bus_message *m)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call(bus, m, 0, &error, NULL);
        if (r < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT))
                /* The zone was deleted since GetZone answered. */
                return log_not_configured(arg_zonename);
        if (r < 0)
                return log_call_error(arg_zonename, &error, r, 0);
        return 0;
}

/* A method that starts a job, followed to its end. */
static int zone_job(sd_bus *bus, sd_bus_message *m)
{
        return zone_job_call(bus, m, arg_zonename, arg_quiet);
}

/* For the subcommands whose method takes no arguments and starts a job. */
static int zone_job_simple(sd_bus *bus, const char *method)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = zone_method_new(bus, method, &m);
        if (r < 0)
                return r;
        return zone_job(bus, m);
}

static int verb_list(sd_bus *bus)
{
        return zoneadm_list(bus, arg_zonename, arg_list_min_state, arg_list_format);
}

/* ---- the other subcommands ---- */

/* The image or ISO is opened here, as the user who runs zoneadm, and the restarter
 * reads it through the descriptor: the kernel decides what the user may read. */
static int open_install_file(const char *what, const char *path)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (fd < 0) {
                int r = negative_errno();
                fprintf(stderr, "zoneadm: zone '%s': cannot read the %s %s: %s\n", arg_zonename, what, path,
                        strerror(-r));
                return r;
        }
        return fd;
}

static int verb_install(sd_bus *bus)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_close_ int image_fd = -EBADF, iso_fd = -EBADF;
        int r;

        if (arg_image) {
                image_fd = open_install_file("image", arg_image);
                if (image_fd < 0)
                        return image_fd;
        }
        if (arg_iso) {
                iso_fd = open_install_file("ISO", arg_iso);
                if (iso_fd < 0)
                        return iso_fd;
        }
        r = zone_method_new(bus, "Install", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_install_size > 0)
                r = sd_bus_message_append(m, "{sv}", "install-size", "t", arg_install_size);
        if (r >= 0 && arg_image)
                r = sd_bus_message_append(m, "{sv}", "image", "h", image_fd);
        if (r >= 0 && arg_iso) {
                r = sd_bus_message_append(m, "{sv}", "iso", "h", iso_fd);
                if (!arg_quiet)
                        printf("Booting the installer from %s; follow it with 'zlogin -C %s'. The zone is installed "
                               "when the installer powers the guest off.\n", arg_iso, arg_zonename);
                fflush(stdout);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_request_error(r);
        return zone_job(bus, m);
}

static bool ask(const char *fmt, ...) _printf_(1, 2);
static bool ask(const char *fmt, ...)
{
        char answer[16];
        va_list ap;

        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputs(" (y/[n])? ", stdout);
        fflush(stdout);
        if (!fgets(answer, sizeof(answer), stdin))
                return false;
        return answer[0] == 'y' || answer[0] == 'Y';
}

static int verb_uninstall(sd_bus *bus)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        /* Look the zone up first, so an unknown zone is not asked about. */
        r = zone_method_new(bus, "Uninstall", &m);
        if (r < 0)
                return r;
        if (!arg_force) {
                if (!isatty(STDIN_FILENO)) {
                        fprintf(stderr,
                                "zoneadm: zone '%s': not uninstalled: there is no terminal to confirm on; "
                                "use 'zoneadm -z %s uninstall -F'.\n",
                                arg_zonename, arg_zonename);
                        return -EPERM;
                }
                if (!ask("Are you sure you want to uninstall zone %s", arg_zonename))
                        return 0;
        }
        r = sd_bus_message_append(m, "b", arg_force);
        if (r < 0)
                return log_request_error(r);
        return zone_job(bus, m);
}

static int verb_boot(sd_bus *bus)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = zone_method_new(bus, arg_boot_fresh ? "BootFresh" : "Boot", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(m, arg_boot_args);
        if (r < 0)
                return log_request_error(r);
        return zone_job(bus, m);
}

static int verb_halt(sd_bus *bus)
{
        return zone_job_simple(bus, "Halt");
}

static int verb_shutdown(sd_bus *bus)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = zone_method_new(bus, "Shutdown", &m);
        if (r < 0)
                return r;
        /* 0: the restarter's default time for the guest to power off. */
        r = sd_bus_message_append(m, "bt", arg_reboot, UINT64_C(0));
        if (r < 0)
                return log_request_error(r);
        return zone_job(bus, m);
}

static int verb_reboot(sd_bus *bus)
{
        return zone_job_simple(bus, "Reboot");
}

static int verb_verify(sd_bus *bus)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = zone_method_new(bus, "Verify", &m);
        if (r < 0)
                return r;
        return zone_method_call(bus, m);
}

static int verb_clone(sd_bus *bus)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = zone_method_new(bus, "Clone", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", arg_clone_source);
        if (r < 0)
                return log_request_error(r);
        return zone_job(bus, m);
}

static int verb_attach(sd_bus *bus)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = zone_method_new(bus, "Attach", &m);
        if (r < 0)
                return r;
        if (arg_attach_option)
                r = sd_bus_message_append(m, "a{sv}", 1, arg_attach_option, "b", 1);
        else
                r = sd_bus_message_append(m, "a{sv}", 0);
        if (r < 0)
                return log_request_error(r);
        return zone_job(bus, m);
}

static int verb_suspend(sd_bus *bus)
{
        return zone_job_simple(bus, "Suspend");
}

static int verb_detach(sd_bus *bus)
{
        return zone_job_simple(bus, "Detach");
}

static int verb_migrate(sd_bus *bus)
{
        return zoneadm_migrate(bus, arg_zonename, arg_migrate_destination, arg_migrate_cipher, arg_migrate_type,
                arg_migrate_dry_run, arg_migrate_overwrite, arg_quiet);
}

static int verb_apply(sd_bus *bus)
{
        return zoneadm_apply(bus, arg_zonename, arg_apply_dry_run, arg_quiet);
}

static const Verb verbs[] = {
        { "list", false, "[-c|-i] [-v|-p|-s|--json=pretty|short]",
          "Lists running zones; -i adds installed zones, -c all configured ones; -v verbose,\n"
          "-p parsable, -s with auxiliary states, --json an array of objects (name, state,\n"
          "uuid, brand, id, path, ip, auxiliary_states).", parse_list, verb_list },
        { "install", true, "[-x install-size=SIZE] [-a IMAGE | -b ISO] [-q]",
          "Creates the boot disk, or copies a raw or qcow2 IMAGE to it, or boots an installer\n"
          "from ISO: configured -> installed. -q: no progress.", parse_install, verb_install },
        { "uninstall", true, "[-F]", "Removes the boot disk: installed -> configured. -F: without asking.",
          parse_uninstall, verb_uninstall },
        { "boot", true, "[-R] [-- ARGUMENTS...]",
          "Starts the zone, resuming it if suspended (-R: afresh), passing ARGUMENTS to its\n"
          "kernel: installed -> running.", parse_boot, verb_boot },
        { "halt", true, "", "Stops the zone at once: running -> installed.", parse_no_options, verb_halt },
        { "shutdown", true, "[-r]", "Powers the guest off cleanly (-r: then boots it): running -> installed.",
          parse_shutdown, verb_shutdown },
        { "reboot", true, "", "Halts the zone and boots it again.", parse_no_options, verb_reboot },
        { "verify", true, "", "Checks the configuration against this host; prints every problem it finds.",
          parse_no_options, verb_verify },
        { "clone", true, "SOURCE", "Installs the zone as a copy of the installed zone SOURCE.", parse_clone,
          verb_clone },
        { "attach", true, "[-x force-takeover | -x initialize-hostdata]",
          "Takes the zone on this host: configured -> installed.", parse_attach, verb_attach },
        { "detach", true, "", "Releases the zone for another host: installed -> configured.", parse_no_options,
          verb_detach },
        { "suspend", true, "", "Saves the guest's state and stops it: running -> installed.", parse_no_options,
          verb_suspend },
        { "migrate", true, "[-nqw] [-c CIPHER|list] [-t auto|live] [ssh://][USER@]HOST[:PORT]",
          "Moves the zone to HOST: running, with its memory (live); installed and suspended,\n"
          "with its suspend image (warm); installed (cold). -n checks only, -w replaces HOST's\n"
          "configuration with this one, -c picks the stream's cipher (list: those both hosts\n"
          "offer), -t live refuses a zone that is not running.", parse_migrate, verb_migrate },
        { "apply", true, "[-n] [-q]",
          "Makes the persistent configuration the running zone's live configuration, without\n"
          "a reboot: each change is printed as it is checked and applied. -n shows what would\n"
          "change and changes nothing; -q prints none of it (the exit status tells).",
          parse_apply, verb_apply },
};

/* 'zoneadm -z kz1 boot --help': the subcommand's usage on stdout. */
static void verb_help(const Verb *v)
{
        printf("usage: zoneadm [-H [USER@]HOST] %s%s%s%s\n\n%s\nSee zoneadm(8).\n", v->needs_zone ? "-z ZONENAME " :
                "[-z ZONENAME] ", v->name, isempty(v->synopsis) ? "" : " ", v->synopsis, v->summary);
}

/* -h or --help among a subcommand's options, which end at '--' or the first argument
 * that is no option. */
static bool verb_wants_help(int argc, char *argv[])
{
        for (int i = 1; i < argc && argv[i][0] == '-' && !streq(argv[i], "--"); i++)
                if (streq(argv[i], "-h") || streq(argv[i], "--help"))
                        return true;
        return false;
}

static const Verb *verb_find(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

/* Returns 1 to go on, 0 when done (help), or -EINVAL after a usage message. */
static int parse_argv(int argc, char *argv[])
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:hz:H:", options, NULL)) >= 0)
                switch (c) {
                case ARG_VERSION:
                        return cli_version("zoneadm");
                case 'z':
                        arg_zonename = optarg;
                        break;
                case 'H':
                        arg_host = zoneadm_host = optarg;
                        break;
                case 'h':
                        help(stdout);
                        return 0;
                default:
                        return cli_getopt_error("zoneadm", short_usage, c, argv);
                }

        if (optind >= argc)
                return usage_error("no subcommand given");
        arg_verb = verb_find(argv[optind]);
        if (!arg_verb) {
                /* 'zoneadm kzone1 boot': the Solaris syntax puts the zone after -z. */
                if (optind + 1 < argc && verb_find(argv[optind + 1]) && verb_find(argv[optind + 1])->needs_zone)
                        return usage_error("unknown subcommand '%s'; to name a zone, use -z: zoneadm -z %s %s",
                                argv[optind], argv[optind], argv[optind + 1]);
                return usage_error("unknown subcommand '%s'", argv[optind]);
        }
        if (verb_wants_help(argc - optind, argv + optind)) {
                verb_help(arg_verb);
                return 0;
        }
        if (arg_verb->needs_zone && !arg_zonename)
                return usage_error("%s: name the zone with -z: zoneadm -z ZONENAME %s", arg_verb->name,
                        arg_verb->name);

        argc -= optind;
        argv += optind;
        optind = 0; /* getopt() starts afresh on the subcommand's options */
        return arg_verb->parse(argc, argv);
}

static int run(void)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (arg_verb->needs_zone && streq(arg_zonename, GLOBAL_ZONE)) {
                fprintf(stderr, "zoneadm: zone '%s': the global zone is the host itself; '%s' applies to "
                                "kernel zones only.\n",
                        GLOBAL_ZONE, arg_verb->name);
                return -EPERM;
        }
        r = bus_open(&bus);
        if (r < 0)
                return r;
        return arg_verb->run(bus);
}

int main(int argc, char *argv[])
{
        int r;

        (void) setlocale(LC_ALL, "");
        /* Mistakes on the command line exit with 2, failures afterwards with 1. */
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;
        r = run();
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
