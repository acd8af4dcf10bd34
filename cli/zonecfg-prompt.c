/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* zonecfg's interactive prompt, with libedit: emacs-style line editing, the
 * session's history on the arrow keys, and Tab completing the word under the
 * cursor from zonecfg_complete(). Commands from a pipe or a file never come here. */
#include <histedit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "macro.h"
#include "strv.h"
#include "zonecfg-prompt.h"

#define HISTORY_SIZE 500

/* The terminal as zonecfg found it, for the signal handler to put back. */
static struct termios saved_termios;
static volatile sig_atomic_t have_saved_termios;

struct ZonecfgPrompt {
        EditLine *el;
        History *hist;
        Zonecfg *z;           /* the session, while zonecfg_prompt_run() runs */
        const char *question; /* shown instead of the zonecfg prompt while asking */
        char question_prompt[512];
};

static char *prompt_text(EditLine *el)
{
        ZonecfgPrompt *p = NULL;

        (void) el_get(el, EL_CLIENTDATA, &p);
        if (p->question)
                return p->question_prompt;
        return (char *) (p->z ? zonecfg_prompt(p->z) : "zonecfg> ");
}

/* The length of what all the words begin with. */
static size_t common_prefix(char *const *words)
{
        size_t n = strlen(words[0]);

        for (size_t i = 1; words[i]; i++) {
                size_t k = 0;

                while (k < n && words[i][k] == words[0][k])
                        k++;
                n = k;
        }
        return n;
}

static void list_words(FILE *f, char *const *words)
{
        fputc('\n', f);
        for (size_t i = 0; words[i]; i++)
                fprintf(f, "%s%s", i > 0 ? "  " : "", words[i]);
        fputc('\n', f);
        fflush(f);
}

/* Tab: completes the word as far as every candidate agrees, with a blank after a
 * word that is complete; shows the candidates when there is nothing to add. */
static unsigned char complete(EditLine *el, int ch)
{
        _cleanup_strv_free_ char **words = NULL;
        _cleanup_free_ char *text = NULL;
        const LineInfo *li = el_line(el);
        ZonecfgPrompt *p = NULL;
        size_t start, typed, common;
        FILE *out = NULL;

        (void) ch;
        (void) el_get(el, EL_CLIENTDATA, &p);
        (void) el_get(el, EL_GETFP, 1, &out);
        if (!p->z || p->question)
                return CC_ERROR;
        text = strndup(li->buffer, (size_t) (li->cursor - li->buffer));
        if (!text || zonecfg_complete(p->z, text, &words, &start) < 0 || !words)
                return CC_ERROR;
        typed = strlen(text) - start;
        common = common_prefix(words);
        if (common > typed) {
                _cleanup_free_ char *add = strndup(words[0] + typed, common - typed);

                if (!add || el_insertstr(el, add) < 0)
                        return CC_ERROR;
                if (!words[1] && words[0][common - 1] != '=' && el_insertstr(el, " ") < 0)
                        return CC_ERROR;
                return CC_REFRESH;
        }
        if (!words[1]) {
                /* complete already: only the blank after it is missing */
                if (*li->cursor != ' ' && el_insertstr(el, " ") < 0)
                        return CC_ERROR;
                return CC_REFRESH;
        }
        list_words(out ?: stdout, words);
        return CC_REDISPLAY;
}

static void restore_terminal(void)
{
        if (have_saved_termios)
                (void) tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
        have_saved_termios = 0;
}

static void restore_terminal_and_die(int sig)
{
        restore_terminal();
        (void) signal(sig, SIG_DFL);
        (void) raise(sig);
}

static void save_terminal(void)
{
        if (tcgetattr(STDIN_FILENO, &saved_termios) >= 0)
                have_saved_termios = 1;
}

/* libedit prints the prompt before it turns the terminal's echo off: what is typed
 * (or pasted) in between, or while a command runs, would be shown twice. The echo
 * stays off for the whole session instead (here, and in libedit's mode between
 * lines), libedit showing what is typed; it comes back at the end, or when a signal
 * ends zonecfg (after libedit's own handler has run). */
static void quiet_terminal(void)
{
        static const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
        struct termios t;

        if (!have_saved_termios)
                return;
        for (size_t i = 0; i < ELEMENTSOF(signals); i++)
                (void) signal(signals[i], restore_terminal_and_die);
        t = saved_termios;
        t.c_lflag &= ~(tcflag_t) ECHO;
        (void) tcsetattr(STDIN_FILENO, TCSADRAIN, &t);
}

int zonecfg_prompt_new(ZonecfgPrompt **ret)
{
        _cleanup_(zonecfg_prompt_freep) ZonecfgPrompt *p = calloc(1, sizeof(*p));
        HistEvent ev;

        if (!p)
                return -ENOMEM;
        /* before libedit changes it (EL_SETTY below applies at once) */
        save_terminal();
        p->hist = history_init();
        p->el = el_init("zonecfg", stdin, stdout, stderr);
        if (!p->hist || !p->el)
                return -ENOMEM;
        (void) history(p->hist, &ev, H_SETSIZE, HISTORY_SIZE);
        (void) history(p->hist, &ev, H_SETUNIQUE, 1);
        (void) el_set(p->el, EL_CLIENTDATA, p);
        (void) el_set(p->el, EL_EDITOR, "emacs");
        /* restores the terminal before a signal stops or ends zonecfg */
        (void) el_set(p->el, EL_SIGNAL, 1);
        /* between lines too: the echo stays off (see quiet_terminal()) */
        (void) el_set(p->el, EL_SETTY, "-x", "-echo", NULL);
        (void) el_set(p->el, EL_PROMPT, prompt_text);
        (void) el_set(p->el, EL_HIST, history, p->hist);
        /* the wide call: libedit's narrow EL_ADDFN copies both strings and never frees them */
        (void) el_wset(p->el, EL_ADDFN, L"zonecfg-complete", L"complete a zonecfg word", complete);
        (void) el_set(p->el, EL_BIND, "^I", "zonecfg-complete", NULL);
        *ret = TAKE_PTR(p);
        return 0;
}

ZonecfgPrompt *zonecfg_prompt_free(ZonecfgPrompt *p)
{
        if (!p)
                return NULL;
        if (p->el)
                el_end(p->el);
        restore_terminal();
        if (p->hist)
                history_end(p->hist);
        free(p);
        return NULL;
}

bool zonecfg_prompt_ask(void *userdata, const char *question)
{
        ZonecfgPrompt *p = userdata;
        const char *line;
        int count = 0;

        (void) snprintf(p->question_prompt, sizeof(p->question_prompt), "%s (y/[n])? ", question);
        p->question = p->question_prompt;
        line = el_gets(p->el, &count);
        p->question = NULL;
        if (!line || count <= 0) {
                fputc('\n', stdout);
                return false;
        }
        return line[0] == 'y' || line[0] == 'Y';
}

static bool is_blank_line(const char *s)
{
        return s[strspn(s, " \t\r\n")] == 0;
}

int zonecfg_prompt_run(ZonecfgPrompt *p, Zonecfg *z)
{
        unsigned lineno = 0;
        int last = 0;

        p->z = z;
        quiet_terminal();
        if (!zonecfg_zone_exists(z))
                puts("Use 'create' to begin configuring a new zone.");
        for (;;) {
                const char *line;
                HistEvent ev;
                int count = 0, r;

                fflush(stdout);
                line = el_gets(p->el, &count);
                if (!line || count <= 0) {
                        fputc('\n', stdout);
                        r = zonecfg_finish(z);
                        p->z = NULL;
                        return r < 0 ? r : last;
                }
                if (!is_blank_line(line))
                        (void) history(p->hist, &ev, H_ENTER, line);
                r = zonecfg_run_line(z, line, ++lineno);
                /* The session goes on after an error; the exit status remembers it. */
                if (r < 0)
                        last = r;
                if (r == ZONECFG_EXIT) {
                        p->z = NULL;
                        return last;
                }
        }
}
