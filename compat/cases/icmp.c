/* Ping sockets (SOCK_DGRAM, IPPROTO_ICMP / IPPROTO_ICMPV6) and raw IP sockets on loopback.
 * Each case runs in a network namespace of its own, with lo brought up, so that the host's
 * net.ipv4.ping_group_range and traffic play no part: an echo request to 127.0.0.1 or ::1 is
 * answered by the kernel, the reply reaching the ping socket with the request's identifier
 * and every raw socket of the protocol (IPv4 ones with the IP header). */
#include "../compat.h"
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define ICMP_FILTER 1 /* SOL_RAW: a 32-bit mask of ICMP types to drop (linux/icmp.h) */

static void in_new_netns_with_lo_up(void) {
    EXPECT_OK(unshare(CLONE_NEWNET));
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    r.ifr_flags = IFF_UP | IFF_LOOPBACK;
    EXPECT_OK(ioctl(s, SIOCSIFFLAGS, &r));
    close(s);
}

static void set_ping_groups(const char *range) {
    int fd = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY);
    EXPECT(fd >= 0);
    EXPECT_EQ(write(fd, range, strlen(range)), (ssize_t)strlen(range));
    EXPECT_OK(close(fd));
}

static void read_ping_groups(char *buf, size_t size) {
    int fd = open("/proc/sys/net/ipv4/ping_group_range", O_RDONLY);
    EXPECT(fd >= 0);
    ssize_t n = read(fd, buf, size - 1);
    EXPECT(n > 0);
    buf[n] = 0;
    close(fd);
}

static uint16_t checksum(const void *data, size_t len) {
    const uint8_t *p = data;
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1) sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static struct sockaddr_in loopback4(void) {
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* An echo request: type, code 0, identifier, sequence, then "joey-ping". */
static size_t echo(uint8_t *out, uint8_t type, uint16_t id, uint16_t seq) {
    memset(out, 0, 8);
    out[0] = type;
    out[4] = id >> 8; out[5] = id & 0xff;
    out[6] = seq >> 8; out[7] = seq & 0xff;
    memcpy(out + 8, "joey-ping", 9);
    return 17;
}

/* A new namespace lets no group make ping sockets ("1 0"); a range with the caller's group
 * lets it; a range whose low end passes its high end reads back as "1 0". */
CASE(ping_sockets_need_a_group_in_ping_group_range) {
    in_new_netns_with_lo_up();
    char buf[64];
    read_ping_groups(buf, sizeof buf);
    EXPECT_EQ(strcmp(buf, "1\t0\n"), 0);
    EXPECT_ERRNO(socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), EACCES);
    EXPECT_ERRNO(socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6), EACCES);
    set_ping_groups("0 0");
    read_ping_groups(buf, sizeof buf);
    EXPECT_EQ(strcmp(buf, "0\t0\n"), 0);
    int s = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    EXPECT(s >= 0);
    close(s);
    set_ping_groups("7 3");
    read_ping_groups(buf, sizeof buf);
    EXPECT_EQ(strcmp(buf, "1\t0\n"), 0);
    EXPECT_ERRNO(socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), EACCES);
    /* ICMPv6 is no datagram protocol of IPv4, nor ICMP of IPv6 */
    EXPECT_ERRNO(socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMPV6), EPROTONOSUPPORT);
}

/* The kernel puts the socket's identifier (its port) in the request and sums it; the reply
 * comes back to the socket as an ICMP message without the IP header, from 127.0.0.1. Only
 * echo requests with code 0 may be sent. */
CASE(ping_socket_echo_to_loopback_gets_the_reply_with_its_identifier) {
    in_new_netns_with_lo_up();
    set_ping_groups("0 2147483647");
    int s = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    EXPECT(s >= 0);
    struct sockaddr_in to = loopback4(), from, me;
    uint8_t msg[64], reply[128];
    size_t n = echo(msg, ICMP_ECHO, 0x1234, 7);
    EXPECT_EQ(sendto(s, msg, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
    socklen_t len = sizeof me;
    EXPECT_OK(getsockname(s, (struct sockaddr *)&me, &len));
    EXPECT(me.sin_port != 0);
    len = sizeof from;
    EXPECT_EQ(recvfrom(s, reply, sizeof reply, 0, (struct sockaddr *)&from, &len), (ssize_t)n);
    EXPECT_EQ(reply[0], ICMP_ECHOREPLY);
    EXPECT_EQ(reply[1], 0);
    EXPECT_EQ(reply[4] << 8 | reply[5], ntohs(me.sin_port));
    EXPECT_EQ(reply[6] << 8 | reply[7], 7);
    EXPECT_EQ(memcmp(reply + 8, "joey-ping", 9), 0);
    EXPECT_EQ(checksum(reply, n), 0);
    EXPECT_EQ(from.sin_family, AF_INET);
    EXPECT_EQ(from.sin_port, 0);
    EXPECT_EQ(ntohl(from.sin_addr.s_addr), INADDR_LOOPBACK);
    /* not an echo request, or too short for the header */
    msg[0] = ICMP_TIMESTAMP;
    EXPECT_ERRNO(sendto(s, msg, n, 0, (struct sockaddr *)&to, sizeof to), EINVAL);
    msg[0] = ICMP_ECHO;
    msg[1] = 1;
    EXPECT_ERRNO(sendto(s, msg, n, 0, (struct sockaddr *)&to, sizeof to), EINVAL);
    msg[1] = 0;
    EXPECT_ERRNO(sendto(s, msg, 4, 0, (struct sockaddr *)&to, sizeof to), EINVAL);
    EXPECT_ERRNO(send(s, msg, n, 0), EDESTADDRREQ);
    /* connected: send and recv */
    EXPECT_OK(connect(s, (struct sockaddr *)&to, sizeof to));
    EXPECT_EQ(send(s, msg, n, 0), (ssize_t)n);
    EXPECT_EQ(recv(s, reply, sizeof reply, 0), (ssize_t)n);
    EXPECT_EQ(reply[0], ICMP_ECHOREPLY);
    EXPECT_OK(close(s));
}

/* bind chooses the identifier the requests carry and the replies come back to. */
CASE(ping_socket_bind_chooses_the_identifier) {
    in_new_netns_with_lo_up();
    set_ping_groups("0 2147483647");
    int a = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    struct sockaddr_in at = loopback4(), me;
    at.sin_port = htons(4321);
    EXPECT_OK(bind(a, (struct sockaddr *)&at, sizeof at));
    socklen_t len = sizeof me;
    EXPECT_OK(getsockname(a, (struct sockaddr *)&me, &len));
    EXPECT_EQ(ntohs(me.sin_port), 4321);
    EXPECT_ERRNO(bind(a, (struct sockaddr *)&at, sizeof at), EINVAL);
    uint8_t msg[64], reply[128];
    size_t n = echo(msg, ICMP_ECHO, 1, 1);
    struct sockaddr_in to = loopback4();
    EXPECT_EQ(sendto(a, msg, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
    EXPECT_EQ(recv(a, reply, sizeof reply, 0), (ssize_t)n);
    EXPECT_EQ(reply[4] << 8 | reply[5], 4321);
    close(a);
}

static int reuse_addr(int s) {
    int v = -1;
    socklen_t len = sizeof v;
    EXPECT_OK(getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, &len));
    return v;
}

static int bind_ping(int s, int family, const char *ip, uint16_t ident) {
    struct sockaddr_storage a;
    memset(&a, 0, sizeof a);
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&a;
        v4->sin_family = AF_INET;
        v4->sin_port = htons(ident);
        EXPECT_EQ(inet_pton(AF_INET, ip, &v4->sin_addr), 1);
        len = sizeof *v4;
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(ident);
        EXPECT_EQ(inet_pton(AF_INET6, ip, &v6->sin6_addr), 1);
        len = sizeof *v6;
    }
    return bind(s, (struct sockaddr *)&a, len);
}

/* Ping and raw sockets start with SO_REUSEADDR on (inet_create's INET_PROTOSW_REUSE), so two
 * ping sockets may hold one identifier. A socket that turns it off may not share one, at any
 * address and in either family: the namespace has one table of identifiers. */
CASE(ping_and_raw_sockets_start_with_so_reuseaddr_and_share_identifiers) {
    in_new_netns_with_lo_up();
    set_ping_groups("0 2147483647");
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    int a = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), b = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    int c = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), d = socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
    int raw = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), raw6 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    EXPECT(udp >= 0 && a >= 0 && b >= 0 && c >= 0 && d >= 0 && raw >= 0 && raw6 >= 0);
    EXPECT_EQ(reuse_addr(udp), 0);
    EXPECT_EQ(reuse_addr(a), 1);
    EXPECT_EQ(reuse_addr(d), 1);
    EXPECT_EQ(reuse_addr(raw), 1);
    EXPECT_EQ(reuse_addr(raw6), 1);
    EXPECT_OK(bind_ping(a, AF_INET, "127.0.0.1", 777));
    EXPECT_OK(bind_ping(b, AF_INET, "0.0.0.0", 777));
    int zero = 0;
    EXPECT_OK(setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &zero, sizeof zero));
    EXPECT_ERRNO(bind_ping(c, AF_INET, "127.0.0.2", 777), EADDRINUSE);
    EXPECT_OK(bind_ping(c, AF_INET, "127.0.0.2", 778));
    EXPECT_OK(setsockopt(d, SOL_SOCKET, SO_REUSEADDR, &zero, sizeof zero));
    EXPECT_ERRNO(bind_ping(d, AF_INET6, "::", 778), EADDRINUSE);
    EXPECT_OK(bind_ping(d, AF_INET6, "::", 779));
    close(udp); close(a); close(b); close(c); close(d); close(raw); close(raw6);
}

/* While lo is down a ping socket binds no address but the wildcard (ping_check_bind_addr
 * looks for an interface that has it), where raw, TCP and UDP sockets may bind 127.0.0.1. */
CASE(ping_sockets_bind_no_loopback_address_while_lo_is_down) {
    EXPECT_OK(unshare(CLONE_NEWNET));
    set_ping_groups("0 2147483647");
    int p = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), r = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    int p6 = socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6), u = socket(AF_INET, SOCK_DGRAM, 0);
    EXPECT(p >= 0 && r >= 0 && p6 >= 0 && u >= 0);
    EXPECT_ERRNO(bind_ping(p, AF_INET, "127.0.0.1", 5), EADDRNOTAVAIL);
    EXPECT_ERRNO(bind_ping(p6, AF_INET6, "::1", 5), EADDRNOTAVAIL);
    EXPECT_OK(bind_ping(r, AF_INET, "127.0.0.1", 0));
    EXPECT_OK(bind_ping(u, AF_INET, "127.0.0.1", 0));
    EXPECT_OK(bind_ping(p, AF_INET, "0.0.0.0", 5));
    close(p); close(r); close(p6); close(u);
}

/* The row of /proc/net/NAME for socket `s` (found by its inode, as ss does), or NULL. */
static const char *proc_net_row(const char *name, int s, char *buf, size_t size) {
    char path[64], ino[32];
    struct stat st;
    snprintf(path, sizeof path, "/proc/net/%s", name);
    EXPECT_OK(fstat(s, &st));
    snprintf(ino, sizeof ino, " %lu ", (unsigned long)st.st_ino);
    EXPECT(slurp(path, buf, size) > 0);
    for (char *line = buf; line && *line; ) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        if (strstr(line, ino)) return line;
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

/* /proc/net/icmp and icmp6 list the ping sockets that hold an identifier (an unbound one is
 * in no table, as Linux hashes it only at bind), /proc/net/raw and raw6 every raw socket
 * with its protocol in the port column; state 07 (TCP_CLOSE) while unconnected. */
CASE(proc_net_icmp_and_raw_list_ping_and_raw_sockets) {
    in_new_netns_with_lo_up();
    set_ping_groups("0 2147483647");
    int bound = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), unbound = socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
    int raw = socket(AF_INET, SOCK_RAW, IPPROTO_UDP), raw6 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    EXPECT(bound >= 0 && unbound >= 0 && raw >= 0 && raw6 >= 0);
    EXPECT_OK(bind_ping(bound, AF_INET, "127.0.0.1", 777));
    char buf[65536];
    const char *row = proc_net_row("icmp", bound, buf, sizeof buf);
    EXPECT(strncmp(buf, "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops", 111) == 0);
    EXPECT(row != NULL && strstr(row, ": 0100007F:0309 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 ") != NULL);
    EXPECT(proc_net_row("icmp6", unbound, buf, sizeof buf) == NULL);
    row = proc_net_row("raw", raw, buf, sizeof buf);
    EXPECT(row != NULL && strstr(row, ": 00000000:0011 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 ") != NULL);
    row = proc_net_row("raw6", raw6, buf, sizeof buf);
    EXPECT(row != NULL && strstr(row, ": 00000000000000000000000000000000:003A 00000000000000000000000000000000:0000 07 ") != NULL);
    EXPECT(proc_net_row("raw", raw6, buf, sizeof buf) == NULL);
    /* connect gives an unbound ping socket an identifier and the route's source address */
    struct sockaddr_in to = loopback4(), me;
    to.sin_addr.s_addr = htonl(0x7f000002);
    int conn = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    EXPECT_OK(connect(conn, (struct sockaddr *)&to, sizeof to));
    socklen_t len = sizeof me;
    EXPECT_OK(getsockname(conn, (struct sockaddr *)&me, &len));
    EXPECT_EQ(ntohl(me.sin_addr.s_addr), 0x7f000001);
    char local[32];
    snprintf(local, sizeof local, ": 0100007F:%04X 0200007F:0000 01 ", ntohs(me.sin_port));
    row = proc_net_row("icmp", conn, buf, sizeof buf);
    EXPECT(row != NULL && strstr(row, local) != NULL);
    close(bound); close(unbound); close(raw); close(raw6); close(conn);
}

/* IPv6: the same, with ICMPv6's types (128 and 129) and its pseudo-header checksum. */
CASE(ping6_socket_echo_to_loopback) {
    in_new_netns_with_lo_up();
    set_ping_groups("0 2147483647");
    int s = socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
    EXPECT(s >= 0);
    struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT}, from;
    uint8_t msg[64], reply[128];
    size_t n = echo(msg, ICMP6_ECHO_REQUEST, 0, 3);
    EXPECT_EQ(sendto(s, msg, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
    socklen_t len = sizeof from;
    EXPECT_EQ(recvfrom(s, reply, sizeof reply, 0, (struct sockaddr *)&from, &len), (ssize_t)n);
    EXPECT_EQ(reply[0], ICMP6_ECHO_REPLY);
    EXPECT_EQ(reply[6] << 8 | reply[7], 3);
    EXPECT_EQ(memcmp(reply + 8, "joey-ping", 9), 0);
    EXPECT_EQ(from.sin6_family, AF_INET6);
    EXPECT_EQ(memcmp(&from.sin6_addr, &in6addr_loopback, 16), 0);
    msg[0] = ICMP_ECHO; /* an ICMPv4 type */
    EXPECT_ERRNO(sendto(s, msg, n, 0, (struct sockaddr *)&to, sizeof to), EINVAL);
    EXPECT_OK(close(s));
}

/* A raw ICMP socket reads whole IPv4 packets: the request it sent and the kernel's reply,
 * each after its 20-byte IP header. ICMP_FILTER drops the types whose bits are set. Its
 * port is its protocol. */
CASE(raw_icmp_socket_sees_the_request_and_the_reply_with_ip_headers) {
    in_new_netns_with_lo_up();
    int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    EXPECT(s >= 0);
    struct sockaddr_in to = loopback4(), me;
    socklen_t len = sizeof me;
    EXPECT_OK(getsockname(s, (struct sockaddr *)&me, &len));
    EXPECT_EQ(ntohs(me.sin_port), IPPROTO_ICMP);
    uint8_t msg[64], packet[128];
    size_t n = echo(msg, ICMP_ECHO, 0xbeef, 1);
    uint16_t sum = checksum(msg, n);
    msg[2] = sum >> 8; msg[3] = sum & 0xff;
    EXPECT_EQ(sendto(s, msg, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
    EXPECT_EQ(recv(s, packet, sizeof packet, 0), (ssize_t)(20 + n));
    EXPECT_EQ(packet[0], 0x45);
    EXPECT_EQ(packet[9], IPPROTO_ICMP);
    EXPECT_EQ(packet[2] << 8 | packet[3], 20 + (int)n);
    EXPECT_EQ(checksum(packet, 20), 0);
    EXPECT_EQ(packet[20], ICMP_ECHO);
    EXPECT_EQ(recv(s, packet, sizeof packet, 0), (ssize_t)(20 + n));
    EXPECT_EQ(packet[20], ICMP_ECHOREPLY);
    EXPECT_EQ(packet[24] << 8 | packet[25], 0xbeef);
    EXPECT_EQ(checksum(packet + 20, n), 0);
    EXPECT_ERRNO(recv(s, packet, sizeof packet, MSG_DONTWAIT), EAGAIN);
    /* only replies now */
    uint32_t f = ~(1u << ICMP_ECHOREPLY), g = 0;
    EXPECT_OK(setsockopt(s, SOL_RAW, ICMP_FILTER, &f, sizeof f));
    len = sizeof g;
    EXPECT_OK(getsockopt(s, SOL_RAW, ICMP_FILTER, &g, &len));
    EXPECT_EQ(g, f);
    EXPECT_EQ(sendto(s, msg, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
    EXPECT_EQ(recv(s, packet, sizeof packet, 0), (ssize_t)(20 + n));
    EXPECT_EQ(packet[20], ICMP_ECHOREPLY);
    EXPECT_ERRNO(recv(s, packet, sizeof packet, MSG_DONTWAIT), EAGAIN);
    /* a request with a wrong checksum is not answered */
    msg[2] ^= 0xff;
    EXPECT_EQ(sendto(s, msg, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
    EXPECT_ERRNO(recv(s, packet, sizeof packet, MSG_DONTWAIT), EAGAIN);
    EXPECT_OK(close(s));
}

/* Raw ICMPv6: the kernel sums the message; reads have no IP header. */
CASE(raw_icmpv6_socket_gets_the_reply_without_a_header) {
    in_new_netns_with_lo_up();
    int s = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    EXPECT(s >= 0);
    struct icmp6_filter f;
    ICMP6_FILTER_SETBLOCKALL(&f);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
    EXPECT_OK(setsockopt(s, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof f));
    struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT}, from;
    uint8_t msg[64], reply[128];
    size_t n = echo(msg, ICMP6_ECHO_REQUEST, 0x4242, 9);
    EXPECT_EQ(sendto(s, msg, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
    socklen_t len = sizeof from;
    EXPECT_EQ(recvfrom(s, reply, sizeof reply, 0, (struct sockaddr *)&from, &len), (ssize_t)n);
    EXPECT_EQ(reply[0], ICMP6_ECHO_REPLY);
    EXPECT_EQ(reply[4] << 8 | reply[5], 0x4242);
    EXPECT_EQ(memcmp(&from.sin6_addr, &in6addr_loopback, 16), 0);
    EXPECT_ERRNO(recv(s, reply, sizeof reply, MSG_DONTWAIT), EAGAIN);
    EXPECT_OK(close(s));
}

/* Raw sockets need CAP_NET_RAW and a protocol; the ICMP filter is for ICMP sockets only,
 * IP_HDRINCL for raw ones. */
CASE(raw_socket_errors) {
    in_new_netns_with_lo_up();
    EXPECT_ERRNO(socket(AF_INET, SOCK_RAW, 0), EPROTONOSUPPORT);
    EXPECT_ERRNO(socket(AF_INET, SOCK_RAW, 300), EINVAL);
    int u = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
    EXPECT(u >= 0);
    uint32_t f = 0;
    EXPECT_ERRNO(setsockopt(u, SOL_RAW, ICMP_FILTER, &f, sizeof f), EOPNOTSUPP);
    int one = 1;
    EXPECT_OK(setsockopt(u, IPPROTO_IP, IP_HDRINCL, &one, sizeof one));
    close(u);
    int d = socket(AF_INET, SOCK_DGRAM, 0);
    EXPECT_ERRNO(setsockopt(d, IPPROTO_IP, IP_HDRINCL, &one, sizeof one), ENOPROTOOPT);
    close(d);
    pid_t c = fork();
    if (c == 0) {
        if (setresuid(65534, 65534, 65534) != 0) _exit(2);
        _exit(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) < 0 && errno == EPERM ? 0 : 1);
    }
    int status;
    EXPECT_EQ(waitpid(c, &status, 0), c);
    EXPECT_EQ(status, 0);
}

COMPAT_MAIN()
