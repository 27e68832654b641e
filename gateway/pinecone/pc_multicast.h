/* pc_multicast: LAN discovery by UDP multicast beacons, as Go's multicast package (spec
 * §9.4). Every PC_MCAST_INTERVAL ms a 34-byte beacon (our public key || our TCP listen
 * port, big-endian) goes to 224.0.0.114:60606 on every usable interface with an IPv4
 * address and to [ff02::114]:60606 on every usable interface with an IPv6 link-local
 * address (usable: up, multicast, not point-to-point; or only the one named); interfaces
 * are rescanned every PC_MCAST_RESCAN ms. A received beacon from another key is reported
 * with the sender's source address and the advertised port ("ip:port", or
 * "[fe80::..%ifname]:port" for IPv6, the zone naming the interface it came in on); the
 * caller dials it (the transport skips keys already peered or being dialled). The TCP
 * listener the beacon advertises must accept the family it arrives on (pc_node listens
 * on [::]:0, dual stack, when multicast has no --listen). Without IPv6 in the kernel the
 * IPv4 half works alone.
 *
 * Not done: Go's per-interface dial binding and its quirk of stopping an interface after
 * a short datagram (short ones are just ignored). Unlike Go, which never beacons over loopback (its source address must be
 * global unicast), loopback is usable when it is multicast-capable, which is what the
 * namespace tests rely on. */
#ifndef PC_MULTICAST_H
#define PC_MULTICAST_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pinecone/pc_wire.h"

#define PC_MCAST_GROUP4 "224.0.0.114"
#define PC_MCAST_GROUP6 "ff02::114"
#define PC_MCAST_PORT 60606
#define PC_MCAST_BEACON_LEN (PC_KEY_LEN + 2)
#define PC_MCAST_INTERVAL 2000   /* ms between beacons */
#define PC_MCAST_RESCAN 10000    /* ms between interface scans */
#define PC_MCAST_MAX_IFS 16

typedef struct pc_mcast pc_mcast;

/* A beacon from another node: key and "ip:port" to dial. */
typedef void (*pc_mcast_found_cb)(void *ud, const uint8_t key[PC_KEY_LEN], const char *hostport,
                                  uint64_t now);

/* Builds the 34-byte beacon. */
void pc_mcast_beacon_encode(uint8_t out[PC_MCAST_BEACON_LEN], const uint8_t key[PC_KEY_LEN],
                            uint16_t tcp_port);

/* Parses a beacon (at least 34 bytes, as Go; extra bytes ignored). False when too short or
 * the port is 0. */
bool pc_mcast_beacon_decode(const uint8_t *in, size_t len, uint8_t key[PC_KEY_LEN],
                            uint16_t *tcp_port);

/* Opens the receive sockets (0.0.0.0:60606 and [::]:60606, SO_REUSEADDR/SO_REUSEPORT so
 * several nodes on one host can listen) and the send sockets. ifname NULL = every usable interface. The
 * first scan and beacon happen at the first pc_mcast_process. Returns 0 and *out, or
 * PC_ERR_INVALID (socket/bind failed: errno kept) / PC_ERR_NOMEM. */
int pc_mcast_new(pc_mcast **out, const uint8_t key[PC_KEY_LEN], uint16_t tcp_port,
                 const char *ifname, pc_mcast_found_cb cb, void *ud);

/* Closes the sockets. NULL is allowed. */
void pc_mcast_free(pc_mcast *m);

/* Fills pollfd entries (the receive sockets); returns how many. */
size_t pc_mcast_pollfds(pc_mcast *m, struct pollfd *fds, size_t cap);

/* Reads beacons (reporting other nodes' through the callback), then rescans interfaces
 * and sends beacons when due. */
void pc_mcast_process(pc_mcast *m, const struct pollfd *fds, size_t n, uint64_t now);

/* Earliest time pc_mcast_process has timer work. */
uint64_t pc_mcast_next_deadline(const pc_mcast *m);

/* Interface and family pairs beacons went out on at the last send (an interface with
 * both an IPv4 and a link-local IPv6 address counts twice). */
size_t pc_mcast_interface_count(const pc_mcast *m);

#endif
