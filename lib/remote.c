/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "macro.h"
#include "remote.h"

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
