/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "zonecfg-cmd.h"

/* The interactive zonecfg prompt on a terminal: line editing, a history of the
 * session's lines (Up and Down arrows, kept in memory only: lines can hold a zone's
 * key) and tab completion in the current scope. */

typedef struct ZonecfgPrompt ZonecfgPrompt;

int zonecfg_prompt_new(ZonecfgPrompt **ret);
ZonecfgPrompt *zonecfg_prompt_free(ZonecfgPrompt *p);
static inline void zonecfg_prompt_freep(ZonecfgPrompt **p)
{
        if (*p)
                *p = zonecfg_prompt_free(*p);
}

/* ZonecfgOptions.confirm for an interactive session: the question on the prompt line,
 * userdata is the ZonecfgPrompt. */
bool zonecfg_prompt_ask(void *userdata, const char *question);

/* Reads and runs lines until 'exit' or end of input; returns 0 or the last error. */
int zonecfg_prompt_run(ZonecfgPrompt *p, Zonecfg *z);
