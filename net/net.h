#pragma once
/* Networking for bridge-mode instances: a bridge with the subnet's gateway, per
 * instance a network namespace owned by the agent (bind-mounted, so a restarted
 * container keeps it), a veth pair into it, an address from host-local IPAM
 * persisted in the state dir, and nftables rules in tables of drover's own: an
 * "ip" table (masquerade, published ports, no loopback or link-local destinations
 * from the bridge, no new connections to the host) and a "bridge" table of the
 * same name (each instance's veth may send only IPv4 and ARP from its own lease's
 * address and MAC). All netlink work goes through libnl-route. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* A set of ports, e.g. the host ports no instance may publish. */
struct net_portset {
	uint8_t bits[65536 / 8];
};

struct net_config {
	const char *bridge;    /* "drover0" */
	const char *subnet;    /* "10.77.0.0/24"; the gateway is the first address */
	const char *lease_dir; /* STATE_DIR/net/leases: one file per leased address */
	const char *netns_dir; /* RUN_DIR/netns: ID -> bind-mounted namespace */
	const char *nft_table; /* "drover": the tables ("ip" and "bridge" families) drover owns */
	const struct net_portset *reserved_ports; /* host ports never published; NULL: none */
	bool allow_host_access;	  /* instances may reach the node's addresses and 169.254.0.0/16 */
	const char *ip_netns_dir; /* "/run/netns": BRIDGE-ID links there for `ip netns`; NULL: none */
};

struct net_port {
	uint16_t container;
	uint16_t host; /* 0: not published */
	bool udp;
};

struct net_attachment {
	char ip[16]; /* dotted quad */
	char gateway[16];
	int prefix_len;
	char netns_path[4096]; /* what the OCI config's network namespace path points at */
	char host_veth[16];    /* the host end, attached to the bridge */
};

struct net_ctx;

/* "22,2379-2380,10250" (ports 1..65535, ranges inclusive; "" is the empty set); -EINVAL otherwise. */
int net_portset_parse(const char *s, struct net_portset *ret);
bool net_portset_has(const struct net_portset *set, uint16_t port);
/* May an instance publish host port+protocol? -EADDRINUSE naming the port when it is in reserved
 * (may be NULL) or a socket on this node holds it (a bind() to the wildcard address fails). */
int net_port_check_host(uint16_t port, bool udp, const struct net_portset *reserved, struct err **err);
/* Checks bridge, subnet and nft_table as a user typed them (no system change); a one-line
 * message names the flag at fault. */
int net_config_check(const char *bridge, const char *subnet, const char *nft_table, struct err **err);

/* Parses the subnet, creates the bridge (idempotent) with the gateway address and brings it up,
 * turns on IPv4 forwarding, creates the lease and netns dirs, and installs the base nftables
 * table (masquerade for traffic leaving the subnet). */
int net_ctx_new(const struct net_config *cfg, struct net_ctx **ret, struct err **err);
struct net_ctx *net_ctx_free(struct net_ctx *n);

/* Wires instance id: netns (netns_dir/ID, created or reused), a lease (the id's existing one is
 * reused, so the IP survives restarts of the container and of the agent), the veth pair (host end
 * on the bridge, other end "eth0" in the netns with the address, lo up, default route via the
 * gateway, MTU of the bridge). Idempotent. -ENOSPC with a clear message when the subnet is full. */
int net_attach(struct net_ctx *n, const char *id, struct net_attachment *ret, struct err **err);
/* Sets the published ports of id (replacing what it had); the whole table is rebuilt and replaced
 * in one nftables transaction. A host port+protocol published by another id, reserved, or held by
 * a socket on the node (checked for ports id does not publish yet): -EADDRINUSE with a message
 * naming the port, and nothing changes. Published ports are DNATed for traffic addressed to the
 * node's own addresses except 127.0.0.0/8. */
int net_publish(struct net_ctx *n, const char *id, const char *ip, const struct net_port *ports,
		size_t n_ports, struct err **err);
/* Removes id's rules, veth (only if its alias names id), netns (unmount + unlink) and lease.
 * Idempotent. */
int net_detach(struct net_ctx *n, const char *id, struct err **err);
/* At start, after adoption: frees every lease, veth, netns file and port rule whose id is not in
 * keep_ids (NULL-terminated). Returns how many things were reclaimed. */
int net_reclaim(struct net_ctx *n, char *const *keep_ids, struct err **err);
/* Removes the table, the bridge and the dirs' contents (tests and uninstall). */
int net_teardown(struct net_ctx *n, struct err **err);
/* The same from a config alone, creating nothing on the host first (droverd --cleanup). */
/* A socket (socket(domain, type, 0)) made inside the network namespace nsfd refers to (an open
 * bind mount of one, or /proc/PID/ns/net) by the calling thread, which comes back to its own at
 * once; -errno. */
int net_ns_socket(int nsfd, int domain, int type);

int net_teardown_config(const struct net_config *cfg, struct err **err);
