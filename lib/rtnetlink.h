/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stddef.h>

/* A small rtnetlink client for links (RTM_*LINK): one request with its
 * attributes, sent and answered on a socket of its own. */

typedef struct NlRequest {
        struct nlmsghdr h;
        struct ifinfomsg i;
        char attrs[1024];
} NlRequest;

/* Starts a request of type (RTM_NEWLINK, …) with NLM_F_REQUEST and flags; the
 * ifinfomsg is AF_UNSPEC and zero, for the caller to fill in. */
void nl_request_init(NlRequest *req, int type, int flags);
/* Appends an attribute; NULL when it does not fit. A nest is an attribute put
 * with no data, closed with nla_nest_end() after its members. */
struct rtattr *nla_put(NlRequest *req, int type, const void *data, size_t len);
void nla_nest_end(NlRequest *req, struct rtattr *nest);
/* Sends req and reads the answer: each RTM_NEWLINK to cb (if any), until the ACK,
 * the end of a dump, or an error (returned as -errno). */
int nl_talk(NlRequest *req, int (*cb)(struct ifinfomsg *i, struct rtattr **tb, void *userdata), void *userdata);
