/* Network namespaces: unshare, clone and setns of CLONE_NEWNET. A new namespace has only lo,
 * down until brought up (SIOCSIFFLAGS or RTM_NEWLINK), its own ports, abstract unix names
 * and /proc/net; unix sockets bound to a path are reached from any namespace; a user
 * namespace's root administers the network namespaces it owns. */
#include "../compat.h"
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

static short lo_flags(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &r) != 0) compat_fail(__FILE__, __LINE__, "SIOCGIFFLAGS: %s", strerror(errno));
    close(s);
    return r.ifr_flags;
}

static int lo_up_by_ioctl(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    r.ifr_flags = IFF_UP | IFF_LOOPBACK;
    int ret = ioctl(s, SIOCSIFFLAGS, &r);
    int e = errno;
    close(s);
    errno = e;
    return ret;
}

static struct sockaddr_in v4(const char *ip, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(strcmp(ip, "any") == 0 ? INADDR_ANY : INADDR_LOOPBACK);
    return a;
}

/* A TCP listener on 127.0.0.1 (port 0: any); its port in *port. */
static int listener(int *port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = v4("lo", port ? *port : 0);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) return -1;
    if (listen(s, 4) != 0) return -1;
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    if (port) *port = ntohs(a.sin_port);
    return s;
}

static int connect_to(int port) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = v4("lo", port);
    int r = connect(c, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(c);
    errno = e;
    return r;
}

static void in_new_netns(void) { EXPECT_OK(unshare(CLONE_NEWNET)); }

CASE(a_new_network_namespace_has_lo_down_until_brought_up) {
    char outer[64] = {0}, inner[64];
    EXPECT(readlink("/proc/self/ns/net", outer, sizeof outer - 1) > 0);
    pid_t child = fork();
    if (child == 0) {
        in_new_netns();
        memset(inner, 0, sizeof inner);
        EXPECT(readlink("/proc/self/ns/net", inner, sizeof inner) > 0);
        EXPECT(strcmp(inner, outer) != 0);
        EXPECT_EQ(lo_flags() & (IFF_UP | IFF_LOOPBACK), IFF_LOOPBACK);
        EXPECT_ERRNO(connect_to(9), ENETUNREACH);
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = v4("lo", 9);
        EXPECT_ERRNO(sendto(u, "x", 1, 0, (struct sockaddr *)&a, sizeof a), ENETUNREACH);
        int s6 = socket(AF_INET6, SOCK_STREAM, 0);
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        EXPECT_ERRNO(bind(s6, (struct sockaddr *)&a6, sizeof a6), EADDRNOTAVAIL);
        /* Up: it works as the sandbox's own lo. */
        EXPECT_OK(lo_up_by_ioctl());
        EXPECT_EQ(lo_flags() & (IFF_UP | IFF_LOOPBACK | IFF_RUNNING), IFF_UP | IFF_LOOPBACK | IFF_RUNNING);
        int port = 0;
        int l = listener(&port);
        EXPECT(l >= 0);
        EXPECT_OK(connect_to(port));
        EXPECT_OK(bind(s6, (struct sockaddr *)&a6, sizeof a6));
        /* Its MTU; and IFF_UP alone brings it up (IFF_LOOPBACK is the kernel's). */
        struct ifreq r;
        memset(&r, 0, sizeof r);
        strcpy(r.ifr_name, "lo");
        r.ifr_mtu = 1500;
        EXPECT_OK(ioctl(u, SIOCSIFMTU, &r));
        r.ifr_mtu = 0;
        EXPECT_OK(ioctl(u, SIOCGIFMTU, &r));
        EXPECT_EQ(r.ifr_mtu, 1500);
        r.ifr_mtu = -1;
        EXPECT_ERRNO(ioctl(u, SIOCSIFMTU, &r), EINVAL);
        r.ifr_flags = 0;
        EXPECT_OK(ioctl(u, SIOCSIFFLAGS, &r));
        EXPECT_EQ(lo_flags() & (IFF_UP | IFF_LOOPBACK), IFF_LOOPBACK);
        r.ifr_flags = IFF_UP;
        EXPECT_OK(ioctl(u, SIOCSIFFLAGS, &r));
        EXPECT_EQ(lo_flags() & (IFF_UP | IFF_LOOPBACK), IFF_UP | IFF_LOOPBACK);
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
    /* The caller's own lo was never down. */
    EXPECT_EQ(lo_flags() & IFF_UP, IFF_UP);
}

CASE(each_network_namespace_has_its_own_ports_and_proc_net) {
    int port = 0;
    int l = listener(&port);
    EXPECT(l >= 0);
    char hexport[16];
    snprintf(hexport, sizeof hexport, ":%04X ", port);
    char buf[65536];
    EXPECT(slurp("/proc/self/net/tcp", buf, sizeof buf) > 0);
    EXPECT(strstr(buf, hexport) != NULL);
    pid_t child = fork();
    if (child == 0) {
        in_new_netns();
        EXPECT_OK(lo_up_by_ioctl());
        EXPECT_ERRNO(connect_to(port), ECONNREFUSED); /* nobody listens there here */
        EXPECT(slurp("/proc/self/net/tcp", buf, sizeof buf) > 0);
        EXPECT(strstr(buf, hexport) == NULL);
        int mine = port;
        EXPECT(listener(&mine) >= 0); /* the same port is free here */
        EXPECT_OK(connect_to(port));
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
    close(l);
}

CASE(abstract_unix_names_belong_to_a_network_namespace_paths_do_not) {
    struct sockaddr_un abs = {.sun_family = AF_UNIX};
    snprintf(abs.sun_path + 1, sizeof abs.sun_path - 1, "joey-netns-%d", getpid());
    socklen_t abslen = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(abs.sun_path + 1);
    int a = socket(AF_UNIX, SOCK_STREAM, 0);
    EXPECT_OK(bind(a, (struct sockaddr *)&abs, abslen));
    EXPECT_OK(listen(a, 4));
    struct sockaddr_un path = {.sun_family = AF_UNIX};
    snprintf(path.sun_path, sizeof path.sun_path, "%s", scratch_path("sock"));
    int p = socket(AF_UNIX, SOCK_STREAM, 0);
    EXPECT_OK(bind(p, (struct sockaddr *)&path, sizeof path));
    EXPECT_OK(listen(p, 4));
    pid_t child = fork();
    if (child == 0) {
        in_new_netns();
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        EXPECT_ERRNO(connect(c, (struct sockaddr *)&abs, abslen), ECONNREFUSED);
        int b = socket(AF_UNIX, SOCK_STREAM, 0);
        EXPECT_OK(bind(b, (struct sockaddr *)&abs, abslen)); /* free here */
        int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
        EXPECT_OK(connect(c2, (struct sockaddr *)&path, sizeof path));
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
    int dup = socket(AF_UNIX, SOCK_STREAM, 0);
    EXPECT_ERRNO(bind(dup, (struct sockaddr *)&abs, abslen), EADDRINUSE); /* still ours */
}

/* One rtnetlink request; the acknowledgement's error (0 for success). */
static int rtnl_request(int s, void *msg, size_t len) {
    if (send(s, msg, len, 0) != (ssize_t)len) return -1000;
    char reply[8192];
    for (;;) {
        ssize_t n = recv(s, reply, sizeof reply, 0);
        if (n < (ssize_t)sizeof(struct nlmsghdr)) return -1001;
        struct nlmsghdr *h = (struct nlmsghdr *)reply;
        if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
}

/* How many addresses an RTM_GETADDR dump lists. */
static int address_count(int s) {
    struct { struct nlmsghdr h; struct ifaddrmsg a; } req = {
        .h = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_GETADDR, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1},
        .a = {.ifa_family = AF_UNSPEC},
    };
    if (send(s, &req, sizeof req, 0) != sizeof req) return -1;
    int count = 0;
    char buf[16384];
    for (;;) {
        ssize_t n = recv(s, buf, sizeof buf, 0);
        if (n <= 0) return -1;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) return count;
            if (h->nlmsg_type == RTM_NEWADDR) count++;
        }
    }
}

CASE(rtnetlink_lists_no_address_until_lo_is_set_up) {
    pid_t child = fork();
    if (child == 0) {
        in_new_netns();
        int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
        EXPECT(s >= 0);
        EXPECT_EQ(address_count(s), 0);
        struct { struct nlmsghdr h; struct ifinfomsg i; } req = {
            .h = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_NEWLINK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = 2},
            .i = {.ifi_family = AF_UNSPEC, .ifi_index = 1, .ifi_flags = IFF_UP, .ifi_change = IFF_UP},
        };
        EXPECT_EQ(rtnl_request(s, &req, sizeof req), 0);
        EXPECT_EQ(lo_flags() & IFF_UP, IFF_UP);
        EXPECT_EQ(address_count(s), 2); /* 127.0.0.1/8 and ::1/128 */
        /* And down again. */
        req.i.ifi_flags = 0;
        req.h.nlmsg_seq = 3;
        EXPECT_EQ(rtnl_request(s, &req, sizeof req), 0);
        EXPECT_EQ(lo_flags() & IFF_UP, 0);
        EXPECT_EQ(address_count(s), 1); /* 127.0.0.1 stays; ::1 goes with the link */
        _exit(0);
    }
    EXPECT_EQ(wait_status(child), 0);
}

CASE(setns_joins_another_processes_network_namespace) {
    int ready[2], done[2];
    EXPECT_OK(pipe(ready));
    EXPECT_OK(pipe(done));
    pid_t owner = fork();
    if (owner == 0) {
        in_new_netns();
        EXPECT_OK(lo_up_by_ioctl());
        int port = 0;
        int l = listener(&port);
        EXPECT(l >= 0);
        char c;
        if (write(ready[1], &port, sizeof port) != sizeof port || read(done[0], &c, 1) != 1) _exit(1);
        _exit(0);
    }
    int port;
    EXPECT_EQ(read(ready[0], &port, sizeof port), sizeof port);
    pid_t joiner = fork();
    if (joiner == 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/net", owner);
        int fd = open(path, O_RDONLY);
        EXPECT(fd >= 0);
        EXPECT_OK(setns(fd, CLONE_NEWNET));
        EXPECT_OK(connect_to(port));
        struct stat a, b;
        EXPECT_OK(stat(path, &a));
        EXPECT_OK(stat("/proc/self/ns/net", &b));
        EXPECT_EQ(a.st_ino, b.st_ino);
        _exit(0);
    }
    EXPECT_EQ(wait_status(joiner), 0);
    EXPECT_EQ(write(done[1], "x", 1), 1);
    EXPECT_EQ(wait_status(owner), 0);
}

static void user_namespace_root_runs_its_network(void) {
    EXPECT_ERRNO(unshare(CLONE_NEWNET), EPERM);
    EXPECT_OK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
    EXPECT_OK(unshare(CLONE_NEWUSER | CLONE_NEWNET));
    EXPECT_OK(lo_up_by_ioctl()); /* CAP_NET_ADMIN over the namespace it owns */
    int port = 80; /* and CAP_NET_BIND_SERVICE there */
    EXPECT(listener(&port) >= 0);
    EXPECT_OK(connect_to(80));
}

CASE(a_user_namespaces_root_administers_the_network_namespace_it_owns) {
    AS_NOBODY(user_namespace_root_runs_its_network);
}

COMPAT_MAIN()
