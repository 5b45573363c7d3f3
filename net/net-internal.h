#pragma once
/* Declarations shared by the net/ sources (and their unit tests); not for other modules. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "net/net.h"

#define NET_VETH_PREFIX "dv"
#define NET_IP_STRLEN 16     /* "255.255.255.255" + NUL */
#define NET_SUBNET_STRLEN 19 /* "255.255.255.255/32" + NUL */
#define NET_MAC_STRLEN 18    /* "02:d7:0a:4d:00:05" + NUL */
#define NET_ID_MAX 63

/* One cleanup helper per libnl handle (STYLE 2.4, 2.8). */
DEFINE_CLEANUP(struct nl_sock *, nl_socket_free)
DEFINE_CLEANUP(struct nl_msg *, nlmsg_free)
DEFINE_CLEANUP(struct nl_cache *, nl_cache_free)
DEFINE_CLEANUP(struct nl_addr *, nl_addr_put)
DEFINE_CLEANUP(struct rtnl_link *, rtnl_link_put)
DEFINE_CLEANUP(struct rtnl_addr *, rtnl_addr_put)
DEFINE_CLEANUP(struct rtnl_route *, rtnl_route_put)
#define _cleanup_nlsock_ _cleanup_(nl_socket_freep)
#define _cleanup_nlmsg_ _cleanup_(nlmsg_freep)
#define _cleanup_nlcache_ _cleanup_(nl_cache_freep)
#define _cleanup_nladdr_ _cleanup_(nl_addr_putp)
#define _cleanup_rtnl_link_ _cleanup_(rtnl_link_putp)
#define _cleanup_rtnl_addr_ _cleanup_(rtnl_addr_putp)
#define _cleanup_rtnl_route_ _cleanup_(rtnl_route_putp)

/* ---- net-util.c: parsing, naming, error mapping (leaf helpers: bare -errno) ---- */

/* An IPv4 subnet, addresses in host byte order. */
struct net_subnet {
	uint32_t network;
	uint32_t broadcast;
	uint32_t gateway; /* network + 1 */
	uint32_t first;	  /* network + 2: the first address handed to instances */
	uint32_t last;	  /* broadcast - 1 */
	int prefix_len;
};

/* "a.b.c.d/len" with len 8..30 and no host bits set; -EINVAL otherwise. */
int net_subnet_parse(const char *s, struct net_subnet *ret);
bool net_subnet_contains(const struct net_subnet *sn, uint32_t ip);
/* Dotted quad <-> host-order address. */
int net_ip_parse(const char *s, uint32_t *ret);
void net_ip_format(uint32_t ip, char buf[NET_IP_STRLEN]);
/* The ids the agent accepts: [a-z0-9][a-z0-9_.-]{0,62} (safe as a file name). */
bool net_id_valid(const char *id);
/* The host end of id's veth: "dv" + 12 hex digits (48 bits) of a hash of bridge and id (fits
 * IFNAMSIZ; two agents with their own bridges may use the same ids). */
void net_veth_name(const char *bridge, const char *id, char buf[16]);
/* The name earlier versions used ("dv" + 8 hex digits, 32 bits): recognised, so an upgraded agent
 * keeps and then replaces its instances' old veths, never made. */
void net_veth_name_legacy(const char *bridge, const char *id, char buf[16]);
/* The MAC address of an instance's eth0: 02:d7 and the four bytes of its address. The bridge
 * table accepts frames from its veth only with this source MAC and the lease's address. */
void net_mac_for_ip(uint32_t ip, uint8_t mac[6]);
void net_mac_format(const uint8_t mac[6], char buf[NET_MAC_STRLEN]);
/* Interface names drover creates or is given: 1..15 chars of [A-Za-z0-9_.-]. */
bool net_ifname_valid(const char *name);
/* -NLE_* -> -errno, for err_set(err, -r, "...: %s", nl_geterror(r)). */
int net_nl_errno(int nlerr);
/* Runs fn in a forked child (for work inside another namespace: the agent never leaves its own).
 * fn returns 0 or -errno and may describe a failure in msg; the report comes back through a pipe
 * and becomes err. The child _exit()s; the parent always reaps it. */
#define NET_CHILD_MSG 256
int net_run_child(int (*fn)(void *arg, char *msg, size_t msg_size), void *arg, struct err **err);
/* Runs fn in a thread of its own and waits for it, with net_run_child's contract, for work that
 * only joins or makes a network namespace (setns and unshare(CLONE_NEWNET) act on the calling thread
 * alone; the thread ends with it). A fork copies the agent's page tables, 2-3 ms here, twice on a
 * bridge start's path; a thread costs tens of microseconds. fn must free what it allocates. */
int net_run_thread(int (*fn)(void *arg, char *msg, size_t msg_size), void *arg, struct err **err);
/* A NETLINK_ROUTE socket, connected (in the caller's current netns). */
int net_nl_open(struct nl_sock **ret, struct err **err);

/* accept_ra=0 and disable_ipv6=1 on ifname (drover has no IPv6); no IPv6 in the kernel is fine. */
int net_ipv6_off(const char *ifname, struct err **err);

/* ---- net-ipam.c: host-local IPAM, one lease file per address ---- */

struct net_ipam;

struct net_lease {
	uint32_t ip;
	char id[NET_ID_MAX + 1]; /* "" for a lease file left empty by a crash */
};

/* Opens (creating) lease_dir and parses subnet. */
int net_ipam_open(const char *lease_dir, const char *subnet, struct net_ipam **ret, struct err **err);
struct net_ipam *net_ipam_free(struct net_ipam *ipam);
DEFINE_CLEANUP(struct net_ipam *, net_ipam_free)
#define _cleanup_ipam_ _cleanup_(net_ipam_freep)
const struct net_subnet *net_ipam_subnet(const struct net_ipam *ipam);
/* id's address: its existing lease (returns 0), else a new one after the last handed out (returns 1).
 * -ENOSPC when the subnet is full. */
int net_ipam_allocate(struct net_ipam *ipam, const char *id, uint32_t *ret_ip, struct err **err);
/* Removes id's lease if it has one; returns 1 if one was removed, 0 if there was none. */
int net_ipam_release(struct net_ipam *ipam, const char *id, struct err **err);
/* Removes the lease on ip if it still holds expect_id (reclaim). Returns 1 if removed. */
int net_ipam_release_ip(struct net_ipam *ipam, uint32_t ip, const char *expect_id, struct err **err);
/* Every lease, in no particular order; caller frees *ret. */
int net_ipam_list(struct net_ipam *ipam, struct net_lease **ret, size_t *ret_n, struct err **err);
/* Removes every lease file and the allocation cursor (teardown). */
int net_ipam_clear(struct net_ipam *ipam, struct err **err);

/* ---- net-ns.c: agent-owned network namespaces, bind-mounted under netns_dir ---- */

/* Makes dir a shared mount point (a bind mount onto itself if it is not one yet), as /run/netns. */
int net_ns_dir_prepare(const char *dir, struct err **err);
/* Undoes net_ns_dir_prepare (teardown); not a mount point is fine. */
int net_ns_dir_release(const char *dir, struct err **err);
/* dir/name is a mounted network namespace. */
bool net_ns_is_mounted(const char *path);
/* Creates dir/name as a new network namespace, or reuses a mounted one. Returns 1 if created. */
int net_ns_ensure(const char *path, struct err **err);
/* umount (detach) + unlink; a missing file is fine. Returns 1 if something was removed. */
int net_ns_remove(const char *path, struct err **err);
/* link_dir/name -> target (a symlink, for `ip netns`); an existing link elsewhere is -EEXIST. */
int net_ns_name_link(const char *link_dir, const char *name, const char *target);
/* Removes link_dir/name only if it points at target. */
int net_ns_name_unlink(const char *link_dir, const char *name, const char *target);

/* ---- net-link.c: bridge and veth over libnl-route ---- */

/* Creates the bridge if missing, adds the gateway address, brings it up. Returns its ifindex and MTU. */
int net_link_bridge_ensure(const char *bridge, const struct net_subnet *sn, int *ret_ifindex,
			   unsigned *ret_mtu, struct err **err);
int net_link_bridge_delete(const char *bridge, struct err **err);

struct net_veth_req {
	const char *id;
	const char *host_name; /* "dvXXXXXXXX" */
	int bridge_ifindex;
	unsigned mtu;
	const char *netns_path;
	uint32_t ip;
	uint32_t gateway;
	int prefix_len;
};

/* Creates the pair (peer "eth0" directly in the netns), or reuses an existing one whose peer is
 * still there, then configures the inside: address, lo and eth0 up, default route. */
int net_link_veth_ensure(const struct net_veth_req *req, bool fresh_netns, struct err **err);
/* Deletes a host veth (which removes its peer); missing is fine. Returns 1 if deleted. */
int net_link_veth_delete(const char *host_name, struct err **err);
/* The same, only if its alias names id (or it has none: made before aliases were set); a veth of
 * another instance is left alone (returns 0). */
int net_link_veth_delete_owned(const char *host_name, const char *id, struct err **err);
/* Names of the dv* veths on the bridge, and of those of its instances left off any bridge (the
 * alias names the instance, and the name is the one derived for it); caller frees with strv. */
int net_link_list_veths(const char *bridge, int bridge_ifindex, char ***ret, struct err **err);

/* ---- net-ports.c: published ports, in memory and in ports.json ---- */

struct net_pub {
	char id[NET_ID_MAX + 1];
	char ip[NET_IP_STRLEN];
	struct net_port *ports;
	size_t n_ports;
};

struct net_pubs {
	struct net_pub *v;
	size_t n;
};

void net_pubs_done(struct net_pubs *p);
static inline void net_pubs_donep(struct net_pubs *p)
{
	net_pubs_done(p);
}
#define _cleanup_pubs_ _cleanup_(net_pubs_donep)
/* Loads dirfd/name ("ports.json"); a missing file is an empty set. */
int net_pubs_load(int dirfd, const char *name, struct net_pubs *ret, struct err **err);
int net_pubs_save(int dirfd, const char *name, const struct net_pubs *p, struct err **err);
int net_pubs_copy(const struct net_pubs *src, struct net_pubs *ret);
/* Sets id's ports (n_ports 0 removes id). -ENOMEM only. */
int net_pubs_set(struct net_pubs *p, const char *id, const char *ip, const struct net_port *ports,
		 size_t n_ports);
/* The id other than id that holds host port+protocol, or NULL. */
const char *net_pubs_holder(const struct net_pubs *p, const char *id, uint16_t host, bool udp);
ssize_t net_pubs_find(const struct net_pubs *p, const char *id);
/* Does id publish host port+protocol already? */
bool net_pubs_has(const struct net_pubs *p, const char *id, uint16_t host, bool udp);

/* ---- net-nft.c: the nftables table ---- */

enum {
	NET_NFT_IP = 1 << 0,	 /* "ip NAME": guard, NAT, published ports */
	NET_NFT_BRIDGE = 1 << 1, /* "bridge NAME": anti-spoofing, one set element per lease */
};

struct net_nft_spec {
	unsigned tables;		/* NET_NFT_*: the tables rendered whole, replacing what is there */
	const struct net_lease *change; /* else: only this lease's elements added or removed */
	bool change_add;
	const char *table;
	const char *bridge;
	const struct net_subnet *sn;
	const struct net_pubs *pubs;
	const struct net_lease *leases; /* each one's veth gets its anti-spoofing rules */
	size_t n_leases;
	bool allow_host_access;
};

/* Writes one transaction into a malloc'd buffer: the tables in spec->tables deleted and recreated
 * whole. */
int net_nft_render(const struct net_nft_spec *spec, char **ret);
/* Applies what net_nft_render writes, in one transaction. */
int net_nft_apply(const struct net_nft_spec *spec, struct err **err);
/* Deletes both tables if they exist. */
int net_nft_delete(const char *table, struct err **err);
bool net_nft_table_name_valid(const char *table);

/* ---- net-nft-elem.c: one lease's set elements, without replacing a table ---- */

#define NET_NFT_IFNAME_LEN 16
/* The keys of the bridge table's sets for one veth, laid out as nftables lays out their types. */
struct net_nft_keys {
	uint8_t instances[NET_NFT_IFNAME_LEN]; /* ifname */
	uint8_t ipv4_ok[16 + 8 + 4];	       /* ifname . ether_addr . ipv4_addr */
	uint8_t arp_ok[16 + 8 + 8 + 4];	       /* ifname . ether_addr . ether_addr . ipv4_addr */
};
int net_nft_elem_keys(const char *veth, const uint8_t mac[6], uint32_t ip, struct net_nft_keys *k);
/* Does another lease's id give the same veth name as l's (48-bit names can collide)? */
bool net_nft_name_shared(const char *bridge, const struct net_lease *leases, size_t n,
			 const struct net_lease *l);
/* Adds k's elements, or removes them (succeeding when they are gone already; with keep_name the
 * veth's name stays in "instances"), in one netfilter batch. */
int net_nft_elem_apply(const char *table, const struct net_nft_keys *k, bool add, bool keep_name,
		       struct err **err);
