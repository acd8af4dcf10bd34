/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-bus.h>
#include <termios.h>

#include "bus-error.h"
#include "cli-util.h"
#include "kzones-bus.h"
#include "macro.h"
#include "zone-config.h"
#include "zone-qemu.h"
#include "zone-store.h"

/* zlogin -C attaches the terminal to a kernel zone's serial console. The console belongs to the relay
 * that runs beside the zone's QEMU (services/zone/console-relay.c): it sends what the guest prints
 * to every client of ROOT/run/kzones/NAME/console.sock and passes what the clients write to the guest.
 * So zlogin copies bytes both ways and only watches what the user types for the escapes "~." and "~~"
 * at the beginning of a line. Logging in to the guest itself (zlogin NAME [COMMAND]) would need an
 * agent in the guest, which kernel zones do not have yet. */

#define EXIT_USAGE 2
#define DEFAULT_ESCAPE '~'
#define BUFFER_SIZE 4096

static const char *arg_zonename;
static const char *arg_root = ""; /* $KZONES_ROOT, for tests */
static bool arg_console;
static char arg_escape = DEFAULT_ESCAPE;

typedef struct Console {
        int sock;      /* connected to the relay's console.sock */
        int signal_fd; /* SIGTERM, SIGHUP and SIGINT, blocked and read here */
        sigset_t saved_mask;
        bool mask_changed;
        struct termios saved_termios; /* of the terminal on stdin, while it is in raw mode */
        bool raw;
        bool input_at_line_start;  /* the user's last byte ended a line, or nothing was typed yet */
        bool escape_pending;       /* the escape character began a line and is held back */
        bool output_at_line_start; /* the last byte written to stdout was a newline */
} Console;

typedef enum ConsoleEnd {
        CONSOLE_DISCONNECTED, /* the user typed "~." */
        CONSOLE_ZONE_GONE,    /* the relay closed the connection: the zone stopped */
        CONSOLE_SIGNALLED,    /* SIGTERM, SIGHUP or SIGINT */
} ConsoleEnd;

static void short_usage(FILE *f)
{
        fputs("usage: zlogin -C [-d] [-e C] ZONENAME\n"
              "       zlogin ZONENAME [COMMAND [ARGUMENT...]]\n"
              "Try 'zlogin --help' for more.\n",
                f);
}

static void help(FILE *f)
{
        fputs("usage: zlogin -C [-d] [-e C] ZONENAME\n"
              "       zlogin ZONENAME [COMMAND [ARGUMENT...]]\n"
              "\n"
              "Connects the terminal to the serial console of a running kernel zone.\n"
              "See zlogin(1).\n"
              "\n"
              "Options:\n"
              "  -C          connect to the zone's console\n"
              "  -d          leave the console when the zone halts (what -C does anyway)\n"
              "  -e C        use C instead of '~' as the escape character\n"
              "  -h, --help  show this help\n"
              "  --version   show the version\n"
              "\n"
              "Escapes, at the beginning of a line:\n"
              "  ~.  disconnect from the console\n"
              "  ~~  send a single ~ to the zone\n",
                f);
}

/* A mistake on the command line: one line saying what is wrong, then the short usage. */
#define usage_error(...) cli_usage_error("zlogin", short_usage, __VA_ARGS__)

/* A failure concerning the zone, on one line; returns @r. */
_printf_(2, 3) static int log_zone_error(int r, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "zlogin: zone '%s': ", arg_zonename);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return r;
}

static int log_oom(void)
{
        fputs("zlogin: out of memory\n", stderr);
        return -ENOMEM;
}

/* Returns 1 to go on, 0 when done (help), or -EINVAL after a usage message. */
static int parse_argv(int argc, char *argv[])
{
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        bool disconnect_on_halt = false;
        int c;

        opterr = 0;
        /* '+': options end at the zone name; what follows it is the command to run in the zone. */
        while ((c = getopt_long(argc, argv, "+:hCde:", options, NULL)) >= 0)
                switch (c) {
                case ARG_VERSION:
                        return cli_version("zlogin");
                case 'C':
                        arg_console = true;
                        break;
                case 'd':
                        disconnect_on_halt = true;
                        break;
                case 'e':
                        if (strlen(optarg) != 1)
                                return usage_error("-e takes a single character, not '%s'", optarg);
                        if (optarg[0] == '.' || optarg[0] == '\n' || optarg[0] == '\r')
                                return usage_error("-e: '.' and line ends cannot be the escape character");
                        arg_escape = optarg[0];
                        break;
                case 'h':
                        help(stdout);
                        return 0;
                default:
                        return cli_getopt_error("zlogin", short_usage, c, argv);
                }

        if (optind >= argc)
                return usage_error("no zone name given");
        arg_zonename = argv[optind++];
        if (arg_console && optind < argc)
                return usage_error("-C connects to the console and runs no command: unexpected '%s'",
                        argv[optind]);
        /* Without an agent in the guest a command cannot be run, but it is valid syntax: run() says so. */
        if (disconnect_on_halt && !arg_console)
                return usage_error("-d applies to the console: use it with -C");
        return 1;
}

/* ROOT/@path, or NULL if out of memory. */
#define zone_path(...) path_joinf(arg_root, __VA_ARGS__)

/* 1 if the zone has a configuration, 0 if it has none, or -ENOMEM. Anything but a missing file (no
 * permission to look, say) counts as configured: the caller's own error is then the better message. */
static int zone_is_configured(const char *zone)
{
        _cleanup_free_ char *path = zone_path("/etc/zones/%s.xml", zone);

        if (!path)
                return -ENOMEM;
        if (access(path, F_OK) < 0 && (errno == ENOENT || errno == ENOTDIR))
                return 0;
        return 1;
}

static int log_not_configured(void)
{
        return log_zone_error(-ENOENT, "No such zone configured");
}

static int console_connect(const char *path, int *ret_fd)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) < 0)
                return negative_errno();
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* For a user who is not root: the restarter, which may connect to the relay, checks that the caller
 * may log in to the zone (root, or a zone administrator with the "login" auth) and hands over the
 * connection as a file descriptor (org.kzones.Restarter1.Zone.OpenConsole). */
static int console_open_via_restarter(int *ret_fd)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *path = NULL;
        int r, fd;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_zone_error(r, "cannot reach the system bus to ask kzones-restarterd for the console: %s",
                        strerror(-r));
        r = sd_bus_path_encode(RESTARTER_ZONE_PREFIX, arg_zonename, &path);
        if (r < 0)
                return log_oom();
        r = sd_bus_call_method(bus, RESTARTER_BUS_NAME, path, RESTARTER_ZONE_IFACE, "OpenConsole", &error,
                &reply, NULL);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT) ||
                    sd_bus_error_has_name(&error, KZ_ERROR_ZONE_NOT_FOUND))
                        return log_not_configured();
                return log_zone_error(r, "%s", error.message ?: strerror(-r));
        }
        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return log_zone_error(r, "the restarter's answer makes no sense: %s", strerror(-r));
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return log_zone_error(negative_errno(), "cannot keep the console: %m");
        *ret_fd = fd;
        return 0;
}

/* Gives the terminal back as it was, and the signals. Safe to call twice. */
static void console_done(Console *c)
{
        if (c->raw) {
                (void) tcsetattr(STDIN_FILENO, TCSADRAIN, &c->saved_termios);
                c->raw = false;
        }
        closep(&c->sock);
        c->sock = -EBADF;
        closep(&c->signal_fd);
        c->signal_fd = -EBADF;
        /* A SIGTERM that came after the last poll is delivered here, after the terminal is restored. */
        if (c->mask_changed) {
                (void) sigprocmask(SIG_SETMASK, &c->saved_mask, NULL);
                c->mask_changed = false;
        }
}

/* The signals that end a session are read from a signalfd in the poll loop, so that the terminal is
 * always restored. In raw mode the keyboard sends ^C to the guest as a byte; a SIGINT can then only
 * come from kill(1). */
static int console_take_signals(Console *c)
{
        sigset_t mask;

        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGTERM);
        (void) sigaddset(&mask, SIGHUP);
        (void) sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, &c->saved_mask) < 0)
                return negative_errno();
        c->mask_changed = true;
        c->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (c->signal_fd < 0)
                return negative_errno();
        return 0;
}

static int console_make_raw(Console *c)
{
        struct termios t;

        if (!isatty(STDIN_FILENO))
                return 0; /* a pipe: the bytes go as they come */
        if (tcgetattr(STDIN_FILENO, &c->saved_termios) < 0)
                return negative_errno();
        t = c->saved_termios;
        /* Every key goes to the guest, whose own terminal line discipline echoes and edits; output
         * goes to the terminal as the guest wrote it. */
        cfmakeraw(&t);
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) < 0)
                return negative_errno();
        c->raw = true;
        return 0;
}

static int write_all(int fd, const char *buf, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, buf, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                /* Someone made the descriptor non-blocking; wait instead of failing. */
                                struct pollfd p = { .fd = fd, .events = POLLOUT };
                                (void) poll(&p, 1, -1);
                                continue;
                        }
                        return negative_errno();
                }
                buf += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Copies what the user typed, @n bytes in @in, to @out (room for 2 * @n bytes) for the guest and
 * returns how many bytes that is. The escape character is held back when it begins a line: followed
 * by '.', it ends the session (*ret_disconnect is set, and nothing after the "~." is copied);
 * followed by itself, one is sent; followed by anything else, both are sent. A line begins at the
 * start of the session and after a newline or carriage return (Enter, in raw mode). */
static size_t console_filter_input(Console *c, const char *in, size_t n, char *out, bool *ret_disconnect)
{
        size_t m = 0;

        *ret_disconnect = false;
        for (size_t i = 0; i < n; i++) {
                char ch = in[i];

                if (c->escape_pending) {
                        c->escape_pending = false;
                        if (ch == '.') {
                                *ret_disconnect = true;
                                break;
                        }
                        out[m++] = arg_escape;
                        if (ch == arg_escape) {
                                c->input_at_line_start = false;
                                continue;
                        }
                } else if (c->input_at_line_start && ch == arg_escape) {
                        c->escape_pending = true;
                        continue;
                }
                out[m++] = ch;
                c->input_at_line_start = ch == '\n' || ch == '\r';
        }
        return m;
}

/* Standard input ended (a pipe): what was held back goes to the guest, and the relay is told that
 * nothing more comes. It closes the connection then, which ends the session. */
static int console_input_ended(Console *c)
{
        if (c->escape_pending) {
                c->escape_pending = false;
                if (write_all(c->sock, &arg_escape, 1) < 0)
                        return 0; /* the relay is gone: the read side tells */
        }
        (void) shutdown(c->sock, SHUT_WR);
        return 0;
}

static int log_stdout_error(int r)
{
        fprintf(stderr, "zlogin: cannot write to standard output: %s\n", strerror(-r));
        return r;
}

static int console_write_output(Console *c, const char *buf, size_t n)
{
        int r;

        r = write_all(STDOUT_FILENO, buf, n);
        if (r < 0)
                return log_stdout_error(r);
        c->output_at_line_start = buf[n - 1] == '\n';
        return 0;
}

/* Relays until the user disconnects, the zone stops or a signal comes. Returns how it ended, or a
 * negative errno after a message. *ret_signal is set for CONSOLE_SIGNALLED. */
static int console_relay(Console *c, int *ret_signal)
{
        bool input_open = true;

        for (;;) {
                struct pollfd p[3] = {
                        { .fd = input_open ? STDIN_FILENO : -1, .events = POLLIN },
                        { .fd = c->sock, .events = POLLIN },
                        { .fd = c->signal_fd, .events = POLLIN },
                };
                char buf[BUFFER_SIZE], out[2 * BUFFER_SIZE];
                bool disconnect;
                ssize_t n;
                size_t m;
                int r;

                if (poll(p, ELEMENTSOF(p), -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        fprintf(stderr, "zlogin: poll() failed: %s\n", strerror(-r));
                        return r;
                }

                if (p[2].revents & POLLIN) {
                        struct signalfd_siginfo si;

                        if (read(c->signal_fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                                *ret_signal = (int) si.ssi_signo;
                                return CONSOLE_SIGNALLED;
                        }
                }

                /* What the guest printed first, so that a disconnect shows everything that came before. */
                if (p[1].revents) {
                        n = read(c->sock, buf, sizeof(buf));
                        if (n > 0) {
                                r = console_write_output(c, buf, (size_t) n);
                                if (r < 0)
                                        return r;
                        } else if (n == 0 || errno == ECONNRESET)
                                return CONSOLE_ZONE_GONE;
                        else if (errno != EINTR && errno != EAGAIN) {
                                r = negative_errno();
                                return log_zone_error(r, "cannot read from the console: %s", strerror(-r));
                        }
                }

                if (p[0].revents) {
                        n = read(STDIN_FILENO, buf, sizeof(buf));
                        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (n <= 0) {
                                input_open = false;
                                (void) console_input_ended(c);
                                continue;
                        }
                        m = console_filter_input(c, buf, (size_t) n, out, &disconnect);
                        if (m > 0) {
                                r = write_all(c->sock, out, m);
                                /* If the relay went away, the next read says so. */
                                if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                                        return log_zone_error(r, "cannot write to the console: %s",
                                                strerror(-r));
                        }
                        if (disconnect)
                                return CONSOLE_DISCONNECTED;
                }
        }
}

static int print_closed(Console *c)
{
        /* After restoring the terminal: start a line of our own, if the guest left one open. */
        if (!c->output_at_line_start)
                fputs(isatty(STDOUT_FILENO) ? "\r\n" : "\n", stdout);
        printf("[Connection to zone '%s' console closed]\n", arg_zonename);
        if (fflush(stdout) != 0)
                return log_stdout_error(negative_errno());
        return 0;
}

static int run_console(int *ret_signal)
{
        _cleanup_(console_done) Console c = {
                .sock = -EBADF,
                .signal_fd = -EBADF,
                .input_at_line_start = true,
                .output_at_line_start = true,
        };
        _cleanup_free_ char *path = NULL;
        int r, k;

        path = zone_path(ZONE_RUN_DIR "/%s/" ZONE_CONSOLE_SOCKET, arg_zonename);
        if (!path)
                return log_oom();
        r = console_connect(path, &c.sock);
        if (r == -ENOENT || r == -ENOTDIR || r == -ECONNREFUSED) {
                /* No relay listens: the zone is not running, or there is no such zone. */
                k = zone_is_configured(arg_zonename);
                if (k < 0)
                        return log_oom();
                if (k == 0)
                        return log_not_configured();
                return log_zone_error(r, "not running");
        }
        if (r == -EACCES || r == -EPERM) {
                /* the relay's socket is root's: a zone administrator with "login" gets it from the restarter */
                r = console_open_via_restarter(&c.sock);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return log_zone_error(r, "cannot connect to the console at %s: %s", path, strerror(-r));

        r = console_take_signals(&c);
        if (r < 0) {
                fprintf(stderr, "zlogin: cannot set up signal handling: %s\n", strerror(-r));
                return r;
        }

        r = console_make_raw(&c);
        if (r < 0) {
                fprintf(stderr, "zlogin: cannot put the terminal in raw mode: %s\n", strerror(-r));
                return r;
        }

        /* Once this shows, every key goes to the guest. In raw mode a newline is only a line feed. */
        printf("[Connected to zone '%s' console]%s", arg_zonename, c.raw ? "\r\n" : "\n");
        if (fflush(stdout) != 0)
                return log_stdout_error(negative_errno());

        r = console_relay(&c, ret_signal);
        if (r < 0)
                return r;
        console_done(&c);
        if (r == CONSOLE_SIGNALLED)
                return 0; /* main() dies of the signal, now that the terminal is restored */
        return print_closed(&c);
}

static int run(int *ret_signal)
{
        const char *root = getenv("KZONES_ROOT");
        int k;

        if (root)
                arg_root = root;
        if (!zone_name_is_valid(arg_zonename))
                return log_not_configured();
        if (arg_console)
                return run_console(ret_signal);

        k = zone_is_configured(arg_zonename);
        if (k < 0)
                return log_oom();
        if (k == 0)
                return log_not_configured();
        return log_zone_error(-EOPNOTSUPP,
                "logging in to a kernel zone needs an agent in the guest, which kzones does not have yet; "
                "use 'zlogin -C %s' for the console",
                arg_zonename);
}

int main(int argc, char *argv[])
{
        int r, sig = 0;

        (void) setlocale(LC_ALL, "");
        /* A closed stdout or console shows as EPIPE from write(). */
        (void) signal(SIGPIPE, SIG_IGN);

        /* Mistakes on the command line exit with 2, failures afterwards with 1. */
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;
        r = run(&sig);
        if (sig > 0) {
                /* Die of the signal that ended the session, as the caller expects. */
                sigset_t mask;

                (void) signal(sig, SIG_DFL);
                (void) sigemptyset(&mask);
                (void) sigaddset(&mask, sig);
                (void) sigprocmask(SIG_UNBLOCK, &mask, NULL);
                (void) raise(sig);
        }
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
