/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

/* sysadm evacuate -n: one line per zone of the plan at PATH (an Evacuation1 Job)
 * with its estimated time, from the job's Estimates. */
int print_plan_estimates(sd_bus *bus, const char *path);
