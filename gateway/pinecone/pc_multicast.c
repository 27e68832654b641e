/* pc_multicast: beacon sockets. Per family, one UDP socket bound to the group port
 * receives beacons from every joined interface (memberships are added at each rescan;
 * joining twice is harmless) and one UDP socket sends, choosing the interface per
 * datagram (IP_MULTICAST_IF / IPV6_MULTICAST_IF). Loopback delivery stays on so nodes on
 * one host see each other; our own beacons come back and are dropped by key. */
#include "pinecone/pc_multicast.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pinecone/pc_err.h"

#define READ_BURST 32

struct pc_mcast {
    int rx, tx, rx_pfd;
    int rx6, tx6, rx6_pfd;           /* -1 when the kernel has no IPv6 */
    unsigned ifs6[PC_MCAST_MAX_IFS]; /* interfaces with a link-local IPv6 address */
    size_t n_ifs6;
    uint8_t key[PC_KEY_LEN];
    uint8_t beacon[PC_MCAST_BEACON_LEN];
    char ifname[IF_NAMESIZE];        /* empty: every usable interface */
    unsigned ifs[PC_MCAST_MAX_IFS];  /* usable interface indexes from the last scan */
    struct in_addr addrs[PC_MCAST_MAX_IFS]; /* their first IPv4 address: the beacon source */
    size_t n_ifs;
    uint64_t next_beacon, next_scan; /* 0: at the first process */
    pc_mcast_found_cb cb;
    void *ud;
};

void pc_mcast_beacon_encode(uint8_t out[PC_MCAST_BEACON_LEN], const uint8_t key[PC_KEY_LEN],
                            uint16_t tcp_port)
{
    memcpy(out, key, PC_KEY_LEN);
    out[PC_KEY_LEN] = (uint8_t)(tcp_port >> 8);
    out[PC_KEY_LEN + 1] = (uint8_t)tcp_port;
}

bool pc_mcast_beacon_decode(const uint8_t *in, size_t len, uint8_t key[PC_KEY_LEN],
                            uint16_t *tcp_port)
{
    if (len < PC_MCAST_BEACON_LEN)
        return false;
    uint16_t port = (uint16_t)(in[PC_KEY_LEN] << 8 | in[PC_KEY_LEN + 1]);
    if (port == 0)
        return false;
    memcpy(key, in, PC_KEY_LEN);
    *tcp_port = port;
    return true;
}

/* The IPv6 sockets; on any failure IPv6 is left off and IPv4 carries on alone. */
static void open_v6(pc_mcast *m)
{
    int rx = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int tx = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1, hops = 1;
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(PC_MCAST_PORT),
                              .sin6_addr = IN6ADDR_ANY_INIT};
    if (rx < 0 || tx < 0 || setsockopt(rx, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0 ||
        setsockopt(rx, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(rx, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(rx, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        setsockopt(tx, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &one, sizeof one) != 0 ||
        setsockopt(tx, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) != 0) {
        if (rx >= 0)
            close(rx);
        if (tx >= 0)
            close(tx);
        return;
    }
    m->rx6 = rx;
    m->tx6 = tx;
}

int pc_mcast_new(pc_mcast **out, const uint8_t key[PC_KEY_LEN], uint16_t tcp_port,
                 const char *ifname, pc_mcast_found_cb cb, void *ud)
{
    if (ifname && strlen(ifname) >= IF_NAMESIZE)
        return PC_ERR_INVALID;
    pc_mcast *m = calloc(1, sizeof *m);
    if (!m)
        return PC_ERR_NOMEM;
    m->rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    m->tx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    m->rx_pfd = m->rx6_pfd = -1;
    m->rx6 = m->tx6 = -1;
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PC_MCAST_PORT),
                             .sin_addr.s_addr = htonl(INADDR_ANY)};
    unsigned char loop = 1, ttl = 1;
    if (m->rx < 0 || m->tx < 0 ||
        setsockopt(m->rx, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(m->rx, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(m->rx, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        setsockopt(m->tx, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) != 0 ||
        setsockopt(m->tx, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) != 0) {
        int e = errno;
        pc_mcast_free(m);
        errno = e;
        return PC_ERR_INVALID;
    }
    open_v6(m);
    memcpy(m->key, key, PC_KEY_LEN);
    pc_mcast_beacon_encode(m->beacon, key, tcp_port);
    if (ifname)
        snprintf(m->ifname, sizeof m->ifname, "%s", ifname);
    m->cb = cb;
    m->ud = ud;
    *out = m;
    return PC_OK;
}

void pc_mcast_free(pc_mcast *m)
{
    if (!m)
        return;
    if (m->rx >= 0)
        close(m->rx);
    if (m->tx >= 0)
        close(m->tx);
    if (m->rx6 >= 0)
        close(m->rx6);
    if (m->tx6 >= 0)
        close(m->tx6);
    free(m);
}

size_t pc_mcast_pollfds(pc_mcast *m, struct pollfd *fds, size_t cap)
{
    size_t n = 0;
    m->rx_pfd = m->rx6_pfd = -1;
    if (n < cap) {
        m->rx_pfd = (int)n;
        fds[n++] = (struct pollfd){.fd = m->rx, .events = POLLIN};
    }
    if (m->rx6 >= 0 && n < cap) {
        m->rx6_pfd = (int)n;
        fds[n++] = (struct pollfd){.fd = m->rx6, .events = POLLIN};
    }
    return n;
}

static bool usable(const pc_mcast *m, const struct ifaddrs *i)
{
    unsigned fl = i->ifa_flags;
    return (fl & IFF_UP) && (fl & IFF_MULTICAST) && !(fl & IFF_POINTOPOINT) &&
           (!m->ifname[0] || strcmp(m->ifname, i->ifa_name) == 0);
}

/* IPv6 beacons go out where the interface has a link-local address, as Go's do. */
static void scan6(pc_mcast *m, const struct ifaddrs *ifa)
{
    m->n_ifs6 = 0;
    if (m->rx6 < 0)
        return;
    for (const struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET6 || !usable(m, i) ||
            !IN6_IS_ADDR_LINKLOCAL(&((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr))
            continue;
        unsigned idx = if_nametoindex(i->ifa_name);
        bool seen = idx == 0;
        for (size_t k = 0; k < m->n_ifs6 && !seen; k++)
            seen = m->ifs6[k] == idx;
        if (seen || m->n_ifs6 == PC_MCAST_MAX_IFS)
            continue;
        m->ifs6[m->n_ifs6++] = idx;
        struct ipv6_mreq mr = {.ipv6mr_interface = idx};
        inet_pton(AF_INET6, PC_MCAST_GROUP6, &mr.ipv6mr_multiaddr);
        /* EADDRINUSE: joined at an earlier scan */
        setsockopt(m->rx6, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr, sizeof mr);
    }
}

/* Usable: up, multicast-capable, not point-to-point, with an IPv4 address. */
static void scan(pc_mcast *m)
{
    struct ifaddrs *ifa = NULL;
    m->n_ifs = 0;
    if (getifaddrs(&ifa) != 0)
        return;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !usable(m, i))
            continue;
        unsigned idx = if_nametoindex(i->ifa_name);
        bool seen = idx == 0;
        for (size_t k = 0; k < m->n_ifs && !seen; k++)
            seen = m->ifs[k] == idx;
        if (seen || m->n_ifs == PC_MCAST_MAX_IFS)
            continue;
        m->addrs[m->n_ifs] = ((const struct sockaddr_in *)i->ifa_addr)->sin_addr;
        m->ifs[m->n_ifs++] = idx;
        struct ip_mreqn mr = {.imr_ifindex = (int)idx};
        inet_pton(AF_INET, PC_MCAST_GROUP4, &mr.imr_multiaddr);
        /* EADDRINUSE: joined at an earlier scan */
        setsockopt(m->rx, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr);
    }
    scan6(m, ifa);
    freeifaddrs(ifa);
}

static void send_beacons(pc_mcast *m)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PC_MCAST_PORT)};
    inet_pton(AF_INET, PC_MCAST_GROUP4, &to.sin_addr);
    for (size_t k = 0; k < m->n_ifs; k++) {
        /* the source address is what receivers dial, so it must be the interface's */
        struct ip_mreqn mr = {.imr_ifindex = (int)m->ifs[k], .imr_address = m->addrs[k]};
        if (setsockopt(m->tx, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr) != 0)
            continue;
        /* a lost beacon is repeated 2 s later: errors are not worth more */
        (void)sendto(m->tx, m->beacon, sizeof m->beacon, 0, (struct sockaddr *)&to, sizeof to);
    }
    struct sockaddr_in6 to6 = {.sin6_family = AF_INET6, .sin6_port = htons(PC_MCAST_PORT)};
    inet_pton(AF_INET6, PC_MCAST_GROUP6, &to6.sin6_addr);
    for (size_t k = 0; k < m->n_ifs6; k++) {
        /* the kernel then picks the interface's link-local address as the source */
        unsigned idx = m->ifs6[k];
        if (setsockopt(m->tx6, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx) != 0)
            continue;
        to6.sin6_scope_id = idx;
        (void)sendto(m->tx6, m->beacon, sizeof m->beacon, 0, (struct sockaddr *)&to6, sizeof to6);
    }
}

static void read_beacons(pc_mcast *m, int fd, uint64_t now)
{
    for (int i = 0; i < READ_BURST; i++) {
        uint8_t buf[512];
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return;
        uint8_t key[PC_KEY_LEN];
        uint16_t port;
        if (!pc_mcast_beacon_decode(buf, (size_t)n, key, &port) || memcmp(key, m->key, PC_KEY_LEN) == 0)
            continue;
        char ip[INET6_ADDRSTRLEN], hp[INET6_ADDRSTRLEN + IF_NAMESIZE + 16];
        if (from.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&from)->sin_addr, ip, sizeof ip);
            snprintf(hp, sizeof hp, "%s:%u", ip, (unsigned)port);
        } else if (from.ss_family == AF_INET6) {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&from;
            char ifn[IF_NAMESIZE];
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
            /* a link-local address means nothing without its interface */
            if (s6->sin6_scope_id && if_indextoname(s6->sin6_scope_id, ifn))
                snprintf(hp, sizeof hp, "[%s%%%s]:%u", ip, ifn, (unsigned)port);
            else
                snprintf(hp, sizeof hp, "[%s]:%u", ip, (unsigned)port);
        } else {
            continue;
        }
        if (m->cb)
            m->cb(m->ud, key, hp, now);
    }
}

void pc_mcast_process(pc_mcast *m, const struct pollfd *fds, size_t n, uint64_t now)
{
    if (m->rx_pfd >= 0 && (size_t)m->rx_pfd < n && (fds[m->rx_pfd].revents & POLLIN))
        read_beacons(m, m->rx, now);
    if (m->rx6_pfd >= 0 && (size_t)m->rx6_pfd < n && (fds[m->rx6_pfd].revents & POLLIN))
        read_beacons(m, m->rx6, now);
    if (now >= m->next_scan) {
        scan(m);
        m->next_scan = now + PC_MCAST_RESCAN;
    }
    if (now >= m->next_beacon) {
        send_beacons(m);
        m->next_beacon = now + PC_MCAST_INTERVAL;
    }
}

uint64_t pc_mcast_next_deadline(const pc_mcast *m)
{
    return m->next_beacon < m->next_scan ? m->next_beacon : m->next_scan;
}

size_t pc_mcast_interface_count(const pc_mcast *m) { return m->n_ifs + m->n_ifs6; }
