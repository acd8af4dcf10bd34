/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/socket.h>

#include "macro.h"
#include "rtnetlink.h"

struct rtattr *nla_put(NlRequest *req, int type, const void *data, size_t len)
{
        struct nlmsghdr *h = &req->h;
        size_t off = NLMSG_ALIGN(h->nlmsg_len) - offsetof(NlRequest, attrs);
        struct rtattr *a;

        if (NLMSG_ALIGN(h->nlmsg_len) < offsetof(NlRequest, attrs) || off + RTA_SPACE(len) > sizeof(req->attrs))
                return NULL;
        a = (struct rtattr *) (req->attrs + off);
        a->rta_type = (unsigned short) type;
        a->rta_len = (unsigned short) RTA_LENGTH(len);
        if (len > 0)
                memcpy(RTA_DATA(a), data, len);
        h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_SPACE(len);
        return a;
}

void nla_nest_end(NlRequest *req, struct rtattr *nest)
{
        nest->rta_len = (unsigned short) ((char *) req + req->h.nlmsg_len - (char *) nest);
}

void nl_request_init(NlRequest *req, int type, int flags)
{
        memset(req, 0, sizeof(*req));
        req->h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        req->h.nlmsg_type = (unsigned short) type;
        req->h.nlmsg_flags = (unsigned short) (NLM_F_REQUEST | flags);
        req->h.nlmsg_seq = 1;
        req->i.ifi_family = AF_UNSPEC;
}

int nl_talk(NlRequest *req, int (*cb)(struct ifinfomsg *i, struct rtattr **tb, void *userdata), void *userdata)
{
        _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        _cleanup_free_ char *buf = malloc(32768);

        if (fd < 0)
                return -errno;
        if (!buf)
                return -ENOMEM;
        if (sendto(fd, req, req->h.nlmsg_len, 0, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        for (;;) {
                ssize_t n = recv(fd, buf, 32768, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK(h, (size_t) n); h = NLMSG_NEXT(h, n)) {
                        if (h->nlmsg_type == NLMSG_DONE)
                                return 0;
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                struct nlmsgerr *err = NLMSG_DATA(h);
                                return err->error;
                        }
                        if (h->nlmsg_type == RTM_NEWLINK && cb) {
                                struct ifinfomsg *i = NLMSG_DATA(h);
                                struct rtattr *tb[IFLA_MAX + 1] = {};
                                int len = (int) h->nlmsg_len - (int) NLMSG_LENGTH(sizeof(*i)), r;

                                for (struct rtattr *a = IFLA_RTA(i); RTA_OK(a, len); a = RTA_NEXT(a, len))
                                        if (a->rta_type <= IFLA_MAX)
                                                tb[a->rta_type] = a;
                                r = cb(i, tb, userdata);
                                if (r < 0)
                                        return r;
                        }
                }
                if (!(req->h.nlmsg_flags & NLM_F_DUMP) && !(req->h.nlmsg_flags & NLM_F_ACK))
                        return 0;
        }
}
