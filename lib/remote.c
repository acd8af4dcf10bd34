/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "remote.h"
#include "strv.h"

void remote_uri_done(RemoteUri *u)
{
        free(u->user);
        free(u->host);
        *u = (RemoteUri) {};
}

static bool valid_host(const char *h)
{
        size_t n = strlen(h);

        if (n == 0 || n > 253)
                return false;
        if (h[0] == '[')
                return n > 2 && h[n - 1] == ']' && strspn(h + 1, "0123456789abcdefABCDEF:.") == n - 2;
        for (const char *c = h; *c; c++)
                if (!isalnum((unsigned char) *c) && *c != '-' && *c != '.' && *c != '_')
                        return false;
        return h[0] != '-' && h[0] != '.';
}

int remote_uri_parse(const char *s, RemoteUri *ret, const char **ret_reason)
{
        const char *reason = NULL, *p = s, *at, *colon, *end;
        RemoteUri u = {};

        if (!ret_reason)
                ret_reason = &reason;
        if (isempty(s) || strlen(s) > 512) {
                *ret_reason = "the URI is empty or too long";
                return -EINVAL;
        }
        if (strncmp(s, "ssh://", 6) == 0)
                p = s + 6;
        else if (strstr(s, "://")) {
                *ret_reason = "only ssh:// URIs are supported";
                return -EINVAL;
        }
        end = p + strlen(p);
        if (end > p && end[-1] == '/')
                end--;
        at = memchr(p, '@', (size_t) (end - p));
        if (at) {
                u.user = strndup(p, (size_t) (at - p));
                if (!u.user)
                        return -ENOMEM;
                if (!*u.user || strspn(u.user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
                                        strlen(u.user)) {
                        remote_uri_done(&u);
                        *ret_reason = "the user name is not valid";
                        return -EINVAL;
                }
                p = at + 1;
        }
        if (*p == '[') {
                const char *rb = memchr(p, ']', (size_t) (end - p));
                colon = rb && rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
        } else
                colon = memchr(p, ':', (size_t) (end - p));
        u.host = strndup(p, colon ? (size_t) (colon - p) : (size_t) (end - p));
        if (!u.host) {
                remote_uri_done(&u);
                return -ENOMEM;
        }
        if (!valid_host(u.host)) {
                remote_uri_done(&u);
                *ret_reason = "the host name is not valid";
                return -EINVAL;
        }
        if (colon) {
                unsigned long port = 0;
                const char *c = colon + 1;

                if (c == end)
                        port = 0;
                for (; c < end; c++) {
                        if (!isdigit((unsigned char) *c) || port > 65535)
                                break;
                        port = port * 10 + (unsigned long) (*c - '0');
                }
                if (c != end || port < 1 || port > 65535) {
                        remote_uri_done(&u);
                        *ret_reason = "the port is not a number between 1 and 65535";
                        return -EINVAL;
                }
                u.port = (uint16_t) port;
        }
        *ret = u;
        return 0;
}

char *remote_uri_to_bus_host(const RemoteUri *u)
{
        char *s, port[8] = "";

        if (u->port)
                (void) snprintf(port, sizeof(port), ":%u", (unsigned) u->port);
        if (asprintf(&s, "%s%s%s%s", u->user ?: "", u->user ? "@" : "", u->host, port) < 0)
                return NULL;
        return s;
}

int remote_bus_open(sd_bus **ret, const char *bus_host, int *ret_errors)
{
        _cleanup_close_ int saved = -EBADF, errors = -EBADF;
        int r;

        /* ssh, which sd-bus starts now, inherits our stderr (its prompts go to the terminal) */
        errors = memfd_create("kzones-ssh-errors", MFD_CLOEXEC);
        if (errors >= 0)
                saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        if (saved >= 0 && dup2(errors, STDERR_FILENO) < 0)
                saved = safe_close_fd(saved);
        r = sd_bus_open_system_remote(ret, bus_host);
        if (saved >= 0)
                (void) dup2(saved, STDERR_FILENO);
        *ret_errors = TAKE_FD(errors);
        return r;
}

const char *remote_ssh_reason(int errors, char *buf, size_t size)
{
        ssize_t n;
        char *line;

        if (errors < 0 || size < 2)
                return NULL;
        n = pread(errors, buf, size - 1, 0);
        if (n <= 0)
                return NULL;
        buf[n] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = 0;
        line = strrchr(buf, '\n');
        line = line ? line + 1 : buf;
        if (startswith(line, "ssh: "))
                line += strlen("ssh: ");
        for (char *c = line; *c; c++)
                if ((unsigned char) *c < ' ')
                        *c = ' ';
        return isempty(line) ? NULL : line;
}

int remote_ssh_bridge(const RemoteUri *u, int errors, int *ret_fd, pid_t *ret_pid)
{
        char port[8];
        int pair[2], r;
        pid_t pid, parent = getpid();

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        (void) snprintf(port, sizeof(port), "%u", u->port ? (unsigned) u->port : 22u);
        pid = fork();
        if (pid < 0) {
                r = -errno;
                (void) close(pair[0]);
                (void) close(pair[1]);
                return r;
        }
        if (pid == 0) {
                /* no shell: each word its own argument, the host after "--" */
                char *argv[] = { (char *) "ssh", (char *) "-xT", (char *) "-p", port, (char *) "-l",
                        (char *) (u->user ?: ""), (char *) "--", u->host, (char *) "systemd-stdio-bridge", NULL };

                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != parent)
                        _exit(127);
                if (dup2(pair[1], STDIN_FILENO) < 0 || dup2(pair[1], STDOUT_FILENO) < 0)
                        _exit(127);
                if (errors >= 0)
                        (void) dup2(errors, STDERR_FILENO);
                if (!u->user) {
                        /* no -l: ssh's own default user */
                        argv[4] = (char *) "--";
                        argv[5] = u->host;
                        argv[6] = (char *) "systemd-stdio-bridge";
                        argv[7] = NULL;
                }
                execvp("ssh", argv);
                _exit(127);
        }
        (void) close(pair[1]);
        *ret_fd = pair[0];
        if (ret_pid)
                *ret_pid = pid;
        return 0;
}

int remote_bus_from_fd(sd_bus **ret, int fd)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (fd < 0)
                return -EBADF;
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_fd(bus, fd, fd);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

int remote_uri_list_split(const char *s, char ***ret, char **ret_bad, const char **ret_reason)
{
        _cleanup_strv_free_ char **l = NULL;
        const char *reason = NULL;
        size_t n = 0;

        if (!ret_reason)
                ret_reason = &reason;
        if (ret_bad)
                *ret_bad = NULL;
        for (const char *p = s ?: ""; *p;) {
                _cleanup_(remote_uri_done) RemoteUri u = {};
                _cleanup_free_ char *w = NULL;
                size_t len;
                char **nl;
                int r;

                p += strspn(p, " \t");
                len = strcspn(p, " \t");
                if (len == 0)
                        break;
                w = strndup(p, len);
                if (!w)
                        return -ENOMEM;
                p += len;
                if (n >= REMOTE_URI_LIST_MAX) {
                        *ret_reason = "the list has more than 16 targets";
                        if (ret_bad)
                                *ret_bad = TAKE_PTR(w);
                        return -EINVAL;
                }
                r = remote_uri_parse(w, &u, ret_reason);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        if (ret_bad)
                                *ret_bad = TAKE_PTR(w);
                        return -EINVAL;
                }
                nl = reallocarray(l, n + 2, sizeof(char *));
                if (!nl)
                        return -ENOMEM;
                l = nl;
                l[n++] = TAKE_PTR(w);
                l[n] = NULL;
        }
        if (n == 0) {
                *ret_reason = "the list is empty";
                return -EINVAL;
        }
        *ret = TAKE_PTR(l);
        return 0;
}
