/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"
#include "qemu-img.h"

/* "…(12.34/100%)" ends a progress line of qemu-img convert -p */
static void progress_lines(const char *buf, size_t n, char *line, size_t *len, size_t size, int *shown,
                void (*progress)(int percent, void *userdata), void *userdata)
{
        for (size_t i = 0; i < n; i++) {
                char c = buf[i], *pct;

                if (c != '\r' && c != '\n') {
                        if (*len < size - 1)
                                line[(*len)++] = c;
                        continue;
                }
                line[*len] = 0;
                *len = 0;
                pct = strchr(line, '(');
                if (pct && strstr(pct, "/100%)")) {
                        int v = atoi(pct + 1);

                        if (v != *shown) {
                                progress(v, userdata);
                                *shown = v;
                        }
                }
        }
}

/* The last line of what err_fd holds. */
static char *last_error_line(int err_fd)
{
        char buf[4096], *line;
        struct stat st;
        off_t off;
        ssize_t n;

        if (fstat(err_fd, &st) < 0 || st.st_size == 0)
                return NULL;
        off = st.st_size > (off_t) sizeof(buf) - 1 ? st.st_size - (off_t) sizeof(buf) + 1 : 0;
        n = pread(err_fd, buf, sizeof(buf) - 1, off);
        if (n <= 0)
                return NULL;
        buf[n] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                buf[--n] = 0;
        line = strrchr(buf, '\n');
        return strdup(line ? line + 1 : buf);
}

int qemu_img_run(const char *const argv[], size_t max, char **ret_output, void (*progress)(int percent, void *userdata),
                void *userdata, char **ret_error)
{
        _cleanup_close_ int err_fd = -EBADF, out_fd = -EBADF;
        _cleanup_free_ char *out = NULL;
        size_t n_out = 0, llen = 0;
        char buf[4096], line[256];
        int p[2], status, shown = -1;
        pid_t pid, parent = getpid();

        if (ret_output) {
                out = malloc(max + 1);
                if (!out)
                        return -ENOMEM;
        }
        err_fd = memfd_create("qemu-tool-stderr", MFD_CLOEXEC);
        if (err_fd < 0)
                return -errno;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;

                (void) close(p[0]);
                (void) close(p[1]);
                return r;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                if (null >= 0)
                        (void) dup2(null, STDIN_FILENO);
                (void) dup2(p[1], STDOUT_FILENO);
                (void) dup2(err_fd, STDERR_FILENO);
                execvp(argv[0], (char *const *) argv);
                _exit(127);
        }
        (void) close(p[1]);
        out_fd = p[0];
        for (;;) {
                ssize_t n = read(out_fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                if (out) {
                        size_t k = MIN((size_t) n, max - n_out);

                        memcpy(out + n_out, buf, k);
                        n_out += k;
                } else if (progress)
                        progress_lines(buf, (size_t) n, line, &llen, sizeof(line), &shown, progress, userdata);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (ret_error) {
                char *e = last_error_line(err_fd);

                if (e) {
                        free(*ret_error);
                        *ret_error = e;
                }
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -EIO;
        if (ret_output) {
                out[n_out] = 0;
                *ret_output = TAKE_PTR(out);
        }
        return 0;
}
