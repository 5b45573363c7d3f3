/* Links over libnl-route: the bridge with the gateway address, and per instance a veth pair whose
 * host end is on the bridge and whose peer is created directly inside the instance's netns as
 * eth0. The inside (address, lo and eth0 up, default route) is configured by a thread of its own
 * that joins the netns and opens its own netlink socket there: the agent's loop never leaves its
 * netns. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <netlink/errno.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>

#include "net/net-internal.h"

#define ALIAS_PREFIX "drover:"

static int nl_fail(struct err **err, int nlerr, const char *what, const char *name)
{
	return err_set(err, -net_nl_errno(nlerr), "%s '%s': %s", what, name, nl_geterror(nlerr));
}

static int link_get(struct nl_sock *sk, const char *name, struct rtnl_link **ret)
{
	int r = rtnl_link_get_kernel(sk, 0, name, ret);

	if (r < 0 && net_nl_errno(r) == -ENODEV)
		return 0;
	return r < 0 ? r : 1;
}

static int link_set_up(struct nl_sock *sk, struct rtnl_link *link)
{
	_cleanup_rtnl_link_ struct rtnl_link *change = NULL;

	if (rtnl_link_get_flags(link) & IFF_UP)
		return 0;
	change = rtnl_link_alloc();
	if (!change)
		return -NLE_NOMEM;
	rtnl_link_set_flags(change, IFF_UP);
	return rtnl_link_change(sk, link, change, 0);
}

static int addr_add(struct nl_sock *sk, int ifindex, uint32_t ip, int prefix_len)
{
	_cleanup_rtnl_addr_ struct rtnl_addr *a = NULL;
	_cleanup_nladdr_ struct nl_addr *local = NULL;
	uint32_t be = htonl(ip);
	int r;

	a = rtnl_addr_alloc();
	local = nl_addr_build(AF_INET, &be, sizeof(be));
	if (!a || !local)
		return -NLE_NOMEM;
	nl_addr_set_prefixlen(local, prefix_len);
	rtnl_addr_set_ifindex(a, ifindex);
	r = rtnl_addr_set_local(a, local);
	if (r < 0)
		return r;
	r = rtnl_addr_add(sk, a, NLM_F_EXCL);
	return r == -NLE_EXIST ? 0 : r;
}

static int bridge_create(struct nl_sock *sk, const char *bridge, struct err **err)
{
	_cleanup_rtnl_link_ struct rtnl_link *br = NULL;
	int r;

	br = rtnl_link_bridge_alloc();
	if (!br)
		return err_set(err, ENOMEM, "out of memory");
	rtnl_link_set_name(br, bridge);
	r = rtnl_link_add(sk, br, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0 && r != -NLE_EXIST)
		return nl_fail(err, r, "create bridge", bridge);
	return 0;
}

int net_link_bridge_ensure(const char *bridge, const struct net_subnet *sn, int *ret_ifindex,
			   unsigned *ret_mtu, struct err **err)
{
	_cleanup_rtnl_link_ struct rtnl_link *link = NULL;
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	const char *type;
	int r;

	r = net_nl_open(&sk, err);
	if (r < 0)
		return r;
	r = link_get(sk, bridge, &link);
	if (r == 0) {
		r = bridge_create(sk, bridge, err);
		if (r < 0)
			return r;
		r = link_get(sk, bridge, &link);
	}
	if (r <= 0)
		return nl_fail(err, r ? r : -NLE_NODEV, "look up bridge", bridge);
	type = rtnl_link_get_type(link);
	if (!type || strcmp(type, "bridge") != 0)
		return err_set(err, EEXIST, "link '%s' exists and is not a bridge", bridge);
	r = addr_add(sk, rtnl_link_get_ifindex(link), sn->gateway, sn->prefix_len);
	if (r < 0)
		return nl_fail(err, r, "add the gateway address to", bridge);
	r = link_set_up(sk, link);
	if (r < 0)
		return nl_fail(err, r, "bring up", bridge);
	*ret_ifindex = rtnl_link_get_ifindex(link);
	*ret_mtu = rtnl_link_get_mtu(link);
	return 0;
}

int net_link_bridge_delete(const char *bridge, struct err **err)
{
	_cleanup_rtnl_link_ struct rtnl_link *link = NULL;
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	const char *type;
	int r;

	r = net_nl_open(&sk, err);
	if (r < 0)
		return r;
	r = link_get(sk, bridge, &link);
	if (r < 0)
		return nl_fail(err, r, "look up bridge", bridge);
	if (r == 0)
		return 0;
	type = rtnl_link_get_type(link);
	if (!type || strcmp(type, "bridge") != 0)
		return err_set(err, EEXIST, "link '%s' is not a bridge; not deleting it", bridge);
	r = rtnl_link_delete(sk, link);
	if (r < 0 && net_nl_errno(r) != -ENODEV)
		return nl_fail(err, r, "delete bridge", bridge);
	return 0;
}

/* ---- veth ---- */

static struct nl_addr *peer_mac(uint32_t ip)
{
	uint8_t m[6];

	net_mac_for_ip(ip, m);
	return nl_addr_build(AF_LLC, m, sizeof(m));
}

static int veth_create(struct nl_sock *sk, const struct net_veth_req *req, int nsfd, struct err **err)
{
	_cleanup_rtnl_link_ struct rtnl_link *veth = NULL;
	_cleanup_rtnl_link_ struct rtnl_link *peer = NULL;
	_cleanup_nladdr_ struct nl_addr *mac = NULL;
	int r;

	veth = rtnl_link_veth_alloc();
	if (!veth)
		return err_set(err, ENOMEM, "out of memory");
	rtnl_link_set_name(veth, req->host_name);
	rtnl_link_set_mtu(veth, req->mtu);
	rtnl_link_set_master(veth, req->bridge_ifindex);
	rtnl_link_set_flags(veth, IFF_UP);
	peer = rtnl_link_veth_get_peer(veth);
	mac = peer_mac(req->ip);
	if (!mac)
		return err_set(err, ENOMEM, "out of memory");
	/* the MAC the bridge table's anti-spoofing rules accept for this lease */
	rtnl_link_set_addr(peer, mac);
	/* created inside the netns, so "eth0" never clashes with the host's names */
	rtnl_link_set_name(peer, "eth0");
	rtnl_link_set_mtu(peer, req->mtu);
	rtnl_link_set_ns_fd(peer, nsfd);
	/* not IFF_UP here: the kernel opens the peer before the pair is linked (-ENOTCONN); the
	 * child brings eth0 up */
	r = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0)
		return nl_fail(err, r, "create veth", req->host_name);
	return 0;
}

/* The alias names the owner, so reclaim and a hash collision can tell whose veth it is. */
static int veth_set_alias(struct nl_sock *sk, const struct net_veth_req *req, struct err **err)
{
	_cleanup_rtnl_link_ struct rtnl_link *orig = NULL;
	_cleanup_rtnl_link_ struct rtnl_link *change = NULL;
	char alias[sizeof(ALIAS_PREFIX) + NET_ID_MAX];
	int r;

	/* a change needs the ifindex, and the kernel ignores an alias given at creation */
	r = link_get(sk, req->host_name, &orig);
	if (r <= 0)
		return nl_fail(err, r ? r : -NLE_NODEV, "look up veth", req->host_name);
	change = rtnl_link_alloc();
	if (!change)
		return err_set(err, ENOMEM, "out of memory");
	snprintf(alias, sizeof(alias), ALIAS_PREFIX "%s", req->id);
	rtnl_link_set_ifalias(change, alias);
	r = rtnl_link_change(sk, orig, change, 0);
	if (r < 0)
		return nl_fail(err, r, "set alias of veth", req->host_name);
	return 0;
}

/* Whether an existing host veth belongs to req->id (no alias: made before the alias was set). */
static bool veth_owned(struct rtnl_link *link, const char *id, char *other, size_t other_size)
{
	const char *alias = rtnl_link_get_ifalias(link);

	if (!alias || strncmp(alias, ALIAS_PREFIX, strlen(ALIAS_PREFIX)) != 0)
		return true;
	snprintf(other, other_size, "%s", alias + strlen(ALIAS_PREFIX));
	return strcmp(other, id) == 0;
}

struct inside_arg {
	const struct net_veth_req *req;
	int nsfd;
};

static int inside_route(struct nl_sock *sk, int ifindex, uint32_t gateway)
{
	_cleanup_rtnl_route_ struct rtnl_route *route = NULL;
	_cleanup_nladdr_ struct nl_addr *dst = NULL;
	_cleanup_nladdr_ struct nl_addr *gw = NULL;
	struct rtnl_nexthop *nh;
	uint32_t any = 0, be = htonl(gateway);
	int r;

	route = rtnl_route_alloc();
	dst = nl_addr_build(AF_INET, &any, sizeof(any));
	gw = nl_addr_build(AF_INET, &be, sizeof(be));
	nh = rtnl_route_nh_alloc();
	if (!route || !dst || !gw || !nh) {
		rtnl_route_nh_free(nh);
		return -NLE_NOMEM;
	}
	nl_addr_set_prefixlen(dst, 0);
	rtnl_route_set_family(route, AF_INET);
	rtnl_route_set_table(route, RT_TABLE_MAIN);
	r = rtnl_route_set_dst(route, dst);
	if (r < 0) {
		rtnl_route_nh_free(nh);
		return r;
	}
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_nh_set_gateway(nh, gw);
	rtnl_route_add_nexthop(route, nh); /* the route owns nh now */
	r = rtnl_route_add(sk, route, NLM_F_EXCL);
	return r == -NLE_EXIST ? 0 : r;
}

/* eth0's MAC is the lease's (a pair made for an earlier address keeps working with the rules) */
static int inside_mac(struct nl_sock *sk, struct rtnl_link *eth0, uint32_t ip)
{
	_cleanup_rtnl_link_ struct rtnl_link *change = NULL;
	_cleanup_nladdr_ struct nl_addr *mac = peer_mac(ip);
	struct nl_addr *cur = rtnl_link_get_addr(eth0);

	if (!mac)
		return -NLE_NOMEM;
	if (cur && nl_addr_cmp(cur, mac) == 0)
		return 0;
	change = rtnl_link_alloc();
	if (!change)
		return -NLE_NOMEM;
	rtnl_link_set_addr(change, mac);
	return rtnl_link_change(sk, eth0, change, 0);
}

static int inside_fail(char *msg, size_t msg_size, int nlerr, const char *what)
{
	snprintf(msg, msg_size, "in the netns: %s: %s", what, nl_geterror(nlerr));
	return net_nl_errno(nlerr);
}

/* Runs in a thread of its own (net_run_thread), inside the netns; frees all it allocates. */
static int inside_configure(void *arg, char *msg, size_t msg_size)
{
	const struct inside_arg *a = arg;
	_cleanup_rtnl_link_ struct rtnl_link *eth0 = NULL;
	_cleanup_rtnl_link_ struct rtnl_link *lo = NULL;
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	int r;

	if (setns(a->nsfd, CLONE_NEWNET) < 0) {
		snprintf(msg, msg_size, "join netns '%s': %s", a->req->netns_path, strerror(errno));
		return -errno;
	}
	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0)
		return inside_fail(msg, msg_size, r, "connect netlink");
	r = link_get(sk, "eth0", &eth0);
	if (r == 0)
		snprintf(msg, msg_size, "no eth0 in netns '%s'", a->req->netns_path);
	if (r <= 0)
		return r == 0 ? -ENODEV : inside_fail(msg, msg_size, r, "look up eth0");
	r = link_get(sk, "lo", &lo);
	if (r > 0)
		r = link_set_up(sk, lo);
	if (r < 0)
		return inside_fail(msg, msg_size, r, "bring up lo");
	r = inside_mac(sk, eth0, a->req->ip);
	if (r < 0)
		return inside_fail(msg, msg_size, r, "set the MAC of eth0");
	r = link_set_up(sk, eth0);
	if (r < 0)
		return inside_fail(msg, msg_size, r, "bring up eth0");
	r = addr_add(sk, rtnl_link_get_ifindex(eth0), a->req->ip, a->req->prefix_len);
	if (r < 0)
		return inside_fail(msg, msg_size, r, "add address to eth0");
	r = inside_route(sk, rtnl_link_get_ifindex(eth0), a->req->gateway);
	if (r < 0)
		return inside_fail(msg, msg_size, r, "add default route");
	return 0;
}

static int veth_fresh(struct nl_sock *sk, const struct net_veth_req *req, struct inside_arg *inside,
		      struct err **err)
{
	int r;

	r = veth_create(sk, req, inside->nsfd, err);
	if (r < 0)
		return r;
	r = veth_set_alias(sk, req, err);
	if (r >= 0)
		r = net_run_thread(inside_configure, inside, err);
	if (r < 0) {
		(void)net_link_veth_delete(req->host_name, NULL); /* undo the half-built pair */
		return err_wrap(err, "configure veth '%s'", req->host_name);
	}
	return 0;
}

int net_link_veth_ensure(const struct net_veth_req *req, bool fresh_netns, struct err **err)
{
	_cleanup_rtnl_link_ struct rtnl_link *link = NULL;
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	_cleanup_close_ int nsfd = -1;
	struct inside_arg inside = {.req = req};
	char other[NET_ID_MAX + 1] = "";
	int r;

	nsfd = open(req->netns_path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return err_set(err, errno, "open netns '%s'", req->netns_path);
	inside.nsfd = nsfd;
	r = net_nl_open(&sk, err);
	if (r < 0)
		return r;
	r = link_get(sk, req->host_name, &link);
	if (r < 0)
		return nl_fail(err, r, "look up veth", req->host_name);
	if (r == 0)
		return veth_fresh(sk, req, &inside, err);
	if (!veth_owned(link, req->id, other, sizeof(other)))
		return err_set(err, EEXIST, "veth name '%s' of '%s' is taken by instance '%s'",
			       req->host_name, req->id, other);
	/* a veth whose peer is in an older namespace is of no use: rebuild it */
	if (!fresh_netns) {
		r = net_run_thread(inside_configure, &inside, err);
		if (r != -ENODEV)
			return r < 0 ? err_wrap(err, "configure veth '%s'", req->host_name) : 0;
		err_free(err); /* handled: the pair is rebuilt below */
	}
	r = net_link_veth_delete(req->host_name, err);
	if (r < 0)
		return r;
	return veth_fresh(sk, req, &inside, err);
}

int net_link_veth_delete_owned(const char *host_name, const char *id, struct err **err)
{
	_cleanup_rtnl_link_ struct rtnl_link *link = NULL;
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	char other[NET_ID_MAX + 1] = "";
	int r;

	r = net_nl_open(&sk, err);
	if (r < 0)
		return r;
	r = link_get(sk, host_name, &link);
	if (r < 0)
		return nl_fail(err, r, "look up veth", host_name);
	if (r == 0 || !veth_owned(link, id, other, sizeof(other)))
		return 0;
	r = rtnl_link_delete(sk, link);
	if (r < 0 && net_nl_errno(r) == -ENODEV)
		return 0;
	if (r < 0)
		return nl_fail(err, r, "delete veth", host_name);
	return 1;
}

int net_link_veth_delete(const char *host_name, struct err **err)
{
	_cleanup_rtnl_link_ struct rtnl_link *link = NULL;
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	int r;

	r = net_nl_open(&sk, err);
	if (r < 0)
		return r;
	link = rtnl_link_alloc();
	if (!link)
		return err_set(err, ENOMEM, "out of memory");
	rtnl_link_set_name(link, host_name);
	r = rtnl_link_delete(sk, link);
	if (r < 0 && net_nl_errno(r) == -ENODEV)
		return 0;
	if (r < 0)
		return nl_fail(err, r, "delete veth", host_name);
	return 1;
}

/* A dv* veth on our bridge, or one left off any bridge (the bridge was recreated) whose alias
 * names an instance and whose name is the one we derive for that instance on our bridge. */
static bool is_our_veth(struct rtnl_link *link, const char *bridge, int bridge_ifindex)
{
	const char *name = rtnl_link_get_name(link);
	const char *type = rtnl_link_get_type(link);
	const char *alias = rtnl_link_get_ifalias(link);
	char expect[16];

	char legacy[16];

	/* "dv" + 12 hex digits, or + 8 (an earlier version's name) */
	if (!name || strncmp(name, NET_VETH_PREFIX, strlen(NET_VETH_PREFIX)) != 0 ||
	    (strlen(name) != strlen(NET_VETH_PREFIX) + 12 && strlen(name) != strlen(NET_VETH_PREFIX) + 8) ||
	    !type || strcmp(type, "veth") != 0)
		return false;
	if (rtnl_link_get_master(link) == bridge_ifindex)
		return true;
	if (rtnl_link_get_master(link) != 0 || !alias ||
	    strncmp(alias, ALIAS_PREFIX, strlen(ALIAS_PREFIX)) != 0)
		return false;
	net_veth_name(bridge, alias + strlen(ALIAS_PREFIX), expect);
	net_veth_name_legacy(bridge, alias + strlen(ALIAS_PREFIX), legacy);
	return strcmp(expect, name) == 0 || strcmp(legacy, name) == 0;
}

int net_link_list_veths(const char *bridge, int bridge_ifindex, char ***ret, struct err **err)
{
	_cleanup_nlcache_ struct nl_cache *cache = NULL;
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	_cleanup_strv_ char **v = NULL;
	size_t n = 0;
	int r;

	r = net_nl_open(&sk, err);
	if (r < 0)
		return r;
	r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
	if (r < 0)
		return err_set(err, -net_nl_errno(r), "list links: %s", nl_geterror(r));
	v = calloc((size_t)nl_cache_nitems(cache) + 1, sizeof(*v));
	if (!v)
		return err_set(err, ENOMEM, "out of memory");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *link = (struct rtnl_link *)o;

		if (!is_our_veth(link, bridge, bridge_ifindex))
			continue;
		v[n] = strdup(rtnl_link_get_name(link));
		if (!v[n++])
			return err_set(err, ENOMEM, "out of memory");
	}
	*ret = TAKE_PTR(v);
	return 0;
}
