/* The net/ entry points: ties IPAM, the netns, the veth pair and the nftables table together for
 * one instance at a time (see net.h). */
#include <errno.h>
#include <net/if.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "net/net-internal.h"

#define PORTS_FILE "ports.json"

struct net_ctx {
	char *bridge;
	char *netns_dir;
	char *ip_netns_dir; /* NULL: no `ip netns` names */
	char *nft_table;
	char *state_dir; /* the parent of lease_dir: ports.json */
	int state_dirfd;
	struct net_ipam *ipam;
	int bridge_ifindex;
	unsigned mtu;
	bool allow_host_access;
	struct net_portset *reserved; /* NULL: none */
	struct net_pubs pubs;
};

DEFINE_CLEANUP(struct net_ctx *, net_ctx_free)

struct net_ctx *net_ctx_free(struct net_ctx *n)
{
	if (!n)
		return NULL;
	if (n->state_dirfd >= 0)
		(void)close(n->state_dirfd); /* a directory fd: nothing to flush */
	net_ipam_free(n->ipam);
	net_pubs_done(&n->pubs);
	free(n->bridge);
	free(n->netns_dir);
	free(n->ip_netns_dir);
	free(n->nft_table);
	free(n->state_dir);
	free(n->reserved);
	free(n);
	return NULL;
}

static int check_config(const struct net_config *cfg, struct err **err)
{
	if (!cfg || !cfg->bridge || !cfg->subnet || !cfg->lease_dir || !cfg->netns_dir || !cfg->nft_table)
		return err_set(
		    err, EINVAL,
		    "network config: bridge, subnet, lease_dir, netns_dir and nft_table are required");
	if (!net_ifname_valid(cfg->bridge) ||
	    strncmp(cfg->bridge, NET_VETH_PREFIX, strlen(NET_VETH_PREFIX)) == 0)
		return err_field(err, "bridge", EINVAL,
				 "bridge name '%s' is not 1..15 of [A-Za-z0-9_.-] (nor dv*)", cfg->bridge);
	if (!net_nft_table_name_valid(cfg->nft_table))
		return err_set(err, EINVAL, "nftables table name '%s' is not 1..32 of [A-Za-z0-9_]",
			       cfg->nft_table);
	if (cfg->lease_dir[0] != '/' || cfg->netns_dir[0] != '/')
		return err_set(err, EINVAL, "lease_dir '%s' and netns_dir '%s' must be absolute",
			       cfg->lease_dir, cfg->netns_dir);
	return 0;
}

static int open_state(struct net_ctx *n, const struct net_config *cfg, struct err **err)
{
	char *slash;
	int r;

	n->state_dir = strdup(cfg->lease_dir);
	if (!n->state_dir)
		return err_set(err, ENOMEM, "out of memory");
	while ((slash = strrchr(n->state_dir, '/')) && slash[1] == '\0' && slash != n->state_dir)
		*slash = '\0'; /* "a/leases/" */
	slash = strrchr(n->state_dir, '/');
	slash[slash == n->state_dir] = '\0'; /* the parent; "/" stays "/" */
	r = net_ipam_open(cfg->lease_dir, cfg->subnet, &n->ipam, err);
	if (r < 0)
		return r;
	n->state_dirfd = open(n->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (n->state_dirfd < 0)
		return err_set(err, errno, "open '%s'", n->state_dir);
	r = net_pubs_load(n->state_dirfd, PORTS_FILE, &n->pubs, err);
	if (r < 0)
		return err_wrap(err, "published ports in '%s'", n->state_dir);
	return 0;
}

/* A knob under /proc/sys/net; missing is fine when ok_missing (no IPv6 in this kernel). */
static int knob(const char *family, const char *ifname, const char *key, const char *value, bool ok_missing,
		struct err **err)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/%s", family, ifname, key);
	r = fs_write_knob(AT_FDCWD, path, value, err);
	if (r == -ENOENT && ok_missing) {
		err_free(err);
		return 0;
	}
	return r;
}

int net_ipv6_off(const char *ifname, struct err **err)
{
	/* drover has no IPv6: no router advertisements (and no addresses) from instances */
	int r = knob("ipv6", ifname, "accept_ra", "0", true, err);

	if (r >= 0)
		r = knob("ipv6", ifname, "disable_ipv6", "1", true, err);
	if (r < 0)
		return err_wrap(err, "turn off IPv6 on '%s'", ifname);
	return 0;
}

static int set_knobs(const char *bridge, struct err **err)
{
	int r;

	r = fs_write_knob(AT_FDCWD, "/proc/sys/net/ipv4/ip_forward", "1", err);
	if (r < 0)
		return err_wrap(err, "turn on IPv4 forwarding");
	/* never route loopback to or from the bridge (earlier versions turned this on) */
	r = knob("ipv4", bridge, "route_localnet", "0", false, err);
	if (r < 0)
		return err_wrap(err, "refuse loopback addresses on '%s'", bridge);
	return net_ipv6_off(bridge, err);
}

/* One transaction: the tables in `tables` replaced whole from pubs and the leases, and/or one
 * lease's anti-spoofing elements added or removed. A change of elements that fails (the bridge
 * table was removed behind the agent's back, say) is done again as a replacement of both tables,
 * which puts every lease's elements back. */
static int apply_table(struct net_ctx *n, const struct net_pubs *pubs, unsigned tables,
		       const struct net_lease *change, bool add, struct err **err)
{
	_cleanup_free_ struct net_lease *leases = NULL;
	_cleanup_(err_freep) struct err *first = NULL;
	struct net_nft_spec spec = {.tables = tables,
				    .change = change,
				    .change_add = add,
				    .table = n->nft_table,
				    .bridge = n->bridge,
				    .sn = net_ipam_subnet(n->ipam),
				    .pubs = pubs,
				    .allow_host_access = n->allow_host_access};
	int r;

	r = net_ipam_list(n->ipam, &leases, &spec.n_leases, err);
	if (r < 0)
		return r;
	spec.leases = leases;
	if (!change || (tables & NET_NFT_BRIDGE))
		return net_nft_apply(&spec, err);
	r = net_nft_apply(&spec, &first);
	if (r >= 0)
		return r;
	spec.tables = NET_NFT_IP | NET_NFT_BRIDGE;
	spec.change = NULL;
	return net_nft_apply(&spec, err);
}

static int copy_config(struct net_ctx *n, const struct net_config *cfg)
{
	n->bridge = strdup(cfg->bridge);
	n->netns_dir = strdup(cfg->netns_dir);
	n->nft_table = strdup(cfg->nft_table);
	n->ip_netns_dir = cfg->ip_netns_dir ? strdup(cfg->ip_netns_dir) : NULL;
	n->allow_host_access = cfg->allow_host_access;
	if (cfg->reserved_ports) {
		n->reserved = malloc(sizeof(*n->reserved));
		if (n->reserved)
			*n->reserved = *cfg->reserved_ports;
	}
	return n->bridge && n->netns_dir && n->nft_table && (n->reserved || !cfg->reserved_ports) &&
		       (n->ip_netns_dir || !cfg->ip_netns_dir)
		   ? 0
		   : -ENOMEM;
}

int net_ctx_new(const struct net_config *cfg, struct net_ctx **ret, struct err **err)
{
	_cleanup_(net_ctx_freep) struct net_ctx *n = NULL;
	int r;

	r = check_config(cfg, err);
	if (r < 0)
		return r;
	n = calloc(1, sizeof(*n));
	if (!n)
		return err_set(err, ENOMEM, "out of memory");
	n->state_dirfd = -1;
	if (copy_config(n, cfg) < 0)
		return err_set(err, ENOMEM, "out of memory");
	r = open_state(n, cfg, err);
	if (r >= 0)
		r = net_ns_dir_prepare(n->netns_dir, err);
	if (r >= 0)
		r = net_link_bridge_ensure(n->bridge, net_ipam_subnet(n->ipam), &n->bridge_ifindex, &n->mtu,
					   err);
	if (r >= 0)
		r = set_knobs(n->bridge, err);
	if (r >= 0)
		r = apply_table(n, &n->pubs, NET_NFT_IP | NET_NFT_BRIDGE, NULL, false, err);
	if (r < 0)
		return err_wrap(err, "network on bridge '%s'", cfg->bridge);
	*ret = TAKE_PTR(n);
	return 0;
}

/* ---- attach / detach ---- */

static int netns_path(const struct net_ctx *n, const char *id, char buf[PATH_MAX])
{
	int r = snprintf(buf, PATH_MAX, "%s/%s", n->netns_dir, id);

	return r < 0 || r >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* The `ip netns` name of id's namespace: BRIDGE-ID, unique per agent as the bridge is. */
static void ns_name(const struct net_ctx *n, const char *id, char buf[NAME_MAX + 1])
{
	int r = snprintf(buf, NAME_MAX + 1, "%s-%s", n->bridge, id);

	if (r < 0 || r > NAME_MAX)
		buf[0] = '\0'; /* cannot happen: a bridge name is 15 and an id 63 characters at most */
}

static void ns_name_link(const struct net_ctx *n, const char *id, const char *path, bool add)
{
	char name[NAME_MAX + 1];

	if (!n->ip_netns_dir)
		return;
	ns_name(n, id, name);
	if (!name[0])
		return;
	/* best effort: the name is a convenience for `ip netns`; the namespace works without it */
	if (add)
		(void)net_ns_name_link(n->ip_netns_dir, name, path);
	else
		(void)net_ns_name_unlink(n->ip_netns_dir, name, path);
}

static void fill_attachment(const struct net_ctx *n, const struct net_veth_req *req,
			    struct net_attachment *ret)
{
	memset(ret, 0, sizeof(*ret));
	net_ip_format(req->ip, ret->ip);
	net_ip_format(req->gateway, ret->gateway);
	ret->prefix_len = req->prefix_len;
	snprintf(ret->netns_path, sizeof(ret->netns_path), "%s", req->netns_path);
	snprintf(ret->host_veth, sizeof(ret->host_veth), "%s", req->host_name);
	(void)n;
}

int net_attach(struct net_ctx *n, const char *id, struct net_attachment *ret, struct err **err)
{
	const struct net_subnet *sn = net_ipam_subnet(n->ipam);
	char path[PATH_MAX], host[16], legacy[16];
	struct net_veth_req req = {.id = id,
				   .host_name = host,
				   .bridge_ifindex = n->bridge_ifindex,
				   .mtu = n->mtu,
				   .netns_path = path,
				   .gateway = sn->gateway,
				   .prefix_len = sn->prefix_len};
	int r, fresh_lease, fresh_ns;

	if (!net_id_valid(id))
		return err_field(err, "id", EINVAL, "invalid instance id '%s'", id ? id : "");
	if (netns_path(n, id, path) < 0)
		return err_set(err, ENAMETOOLONG, "netns path for '%s' too long", id);
	net_veth_name(n->bridge, id, host);
	net_veth_name_legacy(n->bridge, id, legacy);
	/* an earlier version's veth of id holds "eth0" in the netns: make way for the new pair */
	if (net_link_veth_delete_owned(legacy, id, err) < 0)
		return err_wrap(err, "attach '%s'", id);
	fresh_lease = net_ipam_allocate(n->ipam, id, &req.ip, err);
	if (fresh_lease < 0)
		return err_wrap(err, "attach '%s'", id);
	fresh_ns = net_ns_ensure(path, err);
	if (fresh_ns < 0)
		goto out_release_lease;
	r = net_link_veth_ensure(&req, fresh_ns, err);
	if (r >= 0)
		r = net_ipv6_off(host, err);
	/* a new lease: its veth's anti-spoofing elements, before the container can send anything */
	if (r >= 0 && fresh_lease > 0) {
		struct net_lease l = {.ip = req.ip};

		snprintf(l.id, sizeof(l.id), "%s", id);
		r = apply_table(n, &n->pubs, 0, &l, true, err);
	}
	if (r < 0)
		goto out_remove_ns;
	ns_name_link(n, id, path, true);
	fill_attachment(n, &req, ret);
	return 0;

out_remove_ns:
	if (fresh_lease > 0)
		(void)net_link_veth_delete_owned(host, id, NULL); /* undo; the error returned matters */
	if (fresh_ns > 0)
		(void)net_ns_remove(path, NULL); /* undo, as above */
out_release_lease:
	if (fresh_lease > 0)
		(void)net_ipam_release(n->ipam, id, NULL); /* undo, as above */
	return err_wrap(err, "attach '%s'", id);
}

static int check_ports(const struct net_ctx *n, const char *id, const struct net_port *ports, size_t n_ports,
		       struct err **err)
{
	for (size_t i = 0; i < n_ports; i++) {
		const char *proto = ports[i].udp ? "udp" : "tcp";
		const char *holder;

		if (ports[i].host == 0)
			continue;
		if (ports[i].container == 0)
			return err_field(err, "ports", EINVAL, "host port %s/%u has no container port", proto,
					 ports[i].host);
		for (size_t k = 0; k < i; k++)
			if (ports[k].host == ports[i].host && ports[k].udp == ports[i].udp)
				return err_field(err, "ports", EINVAL, "host port %s/%u is listed twice",
						 proto, ports[i].host);
		holder = net_pubs_holder(&n->pubs, id, ports[i].host, ports[i].udp);
		if (holder)
			return err_field(err, "ports", EADDRINUSE,
					 "host port %s/%u is already published by instance '%s'", proto,
					 ports[i].host, holder);
		/* a port id publishes already holds no socket: only new ones are probed */
		if (!net_pubs_has(&n->pubs, id, ports[i].host, ports[i].udp) &&
		    net_port_check_host(ports[i].host, ports[i].udp, n->reserved, err) < 0)
			return -EADDRINUSE;
	}
	return 0;
}

/* Replaces the ip table (and the tables in `also`) with next's ports, with change's elements
 * removed in the same transaction, persists next, and adopts it; on failure nothing changed. */
static int commit_pubs(struct net_ctx *n, struct net_pubs *next, unsigned also,
		       const struct net_lease *change, struct err **err)
{
	int r;

	r = apply_table(n, next, NET_NFT_IP | also, change, false, err);
	if (r < 0)
		return r;
	r = net_pubs_save(n->state_dirfd, PORTS_FILE, next, err);
	if (r < 0) {
		/* put the old rules back; the save error is reported */
		(void)apply_table(n, &n->pubs, NET_NFT_IP | also, NULL, false, NULL);
		return err_wrap(err, "save published ports");
	}
	net_pubs_done(&n->pubs);
	n->pubs = *next;
	*next = (struct net_pubs){0};
	return 0;
}

static bool pubs_unchanged(const struct net_pubs *p, const char *id, const char *ip,
			   const struct net_port *ports, size_t n_ports)
{
	ssize_t i = net_pubs_find(p, id);
	size_t n_pub = 0, m = 0;

	for (size_t k = 0; k < n_ports; k++)
		n_pub += ports[k].host != 0;
	if (i < 0)
		return n_pub == 0;
	if (p->v[i].n_ports != n_pub || strcmp(p->v[i].ip, ip ? ip : "") != 0)
		return false;
	for (size_t k = 0; k < n_ports; k++) {
		if (!ports[k].host)
			continue;
		const struct net_port *q = &p->v[i].ports[m++];
		if (q->host != ports[k].host || q->container != ports[k].container || q->udp != ports[k].udp)
			return false;
	}
	return true;
}

int net_publish(struct net_ctx *n, const char *id, const char *ip, const struct net_port *ports,
		size_t n_ports, struct err **err)
{
	_cleanup_pubs_ struct net_pubs next = {0};
	uint32_t addr;
	int r;

	if (!net_id_valid(id))
		return err_field(err, "id", EINVAL, "invalid instance id '%s'", id ? id : "");
	if (n_ports > 0 && net_ip_parse(ip, &addr) < 0)
		return err_set(err, EINVAL, "publish '%s': bad address '%s'", id, ip ? ip : "");
	r = check_ports(n, id, ports, n_ports, err);
	if (r < 0)
		return err_wrap(err, "publish '%s'", id);
	if (pubs_unchanged(&n->pubs, id, ip, ports, n_ports))
		return 0; /* a restart with the same ports: the table already says so */
	if (net_pubs_copy(&n->pubs, &next) < 0 || net_pubs_set(&next, id, ip ? ip : "", ports, n_ports) < 0)
		return err_set(err, ENOMEM, "out of memory");
	r = commit_pubs(n, &next, 0, NULL, err);
	if (r < 0)
		return err_wrap(err, "publish '%s'", id);
	return 0;
}

/* How many leases id holds (one, unless a crash left an old one), the first in *ret. */
static int leases_of(struct net_ctx *n, const char *id, struct net_lease *ret, struct err **err)
{
	_cleanup_free_ struct net_lease *v = NULL;
	size_t nv = 0;
	int r, found = 0;

	r = net_ipam_list(n->ipam, &v, &nv, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nv; i++)
		if (strcmp(v[i].id, id) == 0 && found++ == 0)
			*ret = v[i];
	return found;
}

int net_detach(struct net_ctx *n, const char *id, struct err **err)
{
	_cleanup_pubs_ struct net_pubs next = {0};
	struct net_lease lease = {0};
	char path[PATH_MAX], host[16], legacy[16];
	int r, released, n_leases;

	if (!net_id_valid(id))
		return err_field(err, "id", EINVAL, "invalid instance id '%s'", id ? id : "");
	if (netns_path(n, id, path) < 0)
		return err_set(err, ENAMETOOLONG, "netns path for '%s' too long", id);
	net_veth_name(n->bridge, id, host);
	net_veth_name_legacy(n->bridge, id, legacy);
	/* only id's own veth: another instance's that hashes to the same name stays */
	r = net_link_veth_delete_owned(host, id, err);
	if (r >= 0)
		r = net_link_veth_delete_owned(legacy, id, err);
	ns_name_link(n, id, path, false);
	if (r >= 0)
		r = net_ns_remove(path, err);
	if (r < 0)
		return err_wrap(err, "detach '%s'", id);
	n_leases = leases_of(n, id, &lease, err);
	if (n_leases < 0)
		return err_wrap(err, "detach '%s'", id);
	released = net_ipam_release(n->ipam, id, err);
	if (released < 0)
		return err_wrap(err, "detach '%s'", id);
	if (!released && net_pubs_find(&n->pubs, id) < 0)
		return 0; /* nothing of id in the tables */
	if (net_pubs_find(&n->pubs, id) < 0)
		r = apply_table(n, &n->pubs, n_leases > 1 ? NET_NFT_BRIDGE : 0, &lease, false, err);
	else if (net_pubs_copy(&n->pubs, &next) < 0)
		return err_set(err, ENOMEM, "out of memory");
	else {
		/* one transaction drops id's ports and its veth's elements */
		(void)net_pubs_set(&next, id, "", NULL, 0); /* removal never allocates */
		r = commit_pubs(n, &next, n_leases > 1 ? NET_NFT_BRIDGE : 0, released ? &lease : NULL, err);
	}
	if (r < 0)
		return err_wrap(err, "detach '%s'", id);
	return 0;
}

/* ---- reclaim / teardown ---- */

static bool kept(char *const *keep, const char *id)
{
	for (; keep && *keep; keep++)
		if (strcmp(*keep, id) == 0)
			return true;
	return false;
}

static int reclaim_leases(struct net_ctx *n, char *const *keep, struct err **err)
{
	_cleanup_free_ struct net_lease *v = NULL;
	size_t nv = 0;
	int r, count = 0;

	r = net_ipam_list(n->ipam, &v, &nv, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nv; i++) {
		if (v[i].id[0] && kept(keep, v[i].id))
			continue;
		r = net_ipam_release_ip(n->ipam, v[i].ip, v[i].id, err);
		if (r < 0)
			return r;
		count += r;
	}
	return count;
}

static bool veth_kept(const struct net_ctx *n, char *const *keep, const char *name)
{
	char host[16], legacy[16];

	for (; keep && *keep; keep++) {
		net_veth_name(n->bridge, *keep, host);
		net_veth_name_legacy(n->bridge, *keep, legacy);
		/* a running instance keeps an earlier version's veth until its next start */
		if (strcmp(host, name) == 0 || strcmp(legacy, name) == 0)
			return true;
	}
	return false;
}

static int reclaim_veths(struct net_ctx *n, char *const *keep, bool all, struct err **err)
{
	_cleanup_strv_ char **names = NULL;
	int r, count = 0;

	r = net_link_list_veths(n->bridge, n->bridge_ifindex, &names, err);
	if (r < 0)
		return r;
	for (char **s = names; *s; s++) {
		if (!all && veth_kept(n, keep, *s))
			continue;
		r = net_link_veth_delete(*s, err);
		if (r < 0)
			return r;
		count += r;
	}
	return count;
}

static int reclaim_netns(struct net_ctx *n, char *const *keep, bool all, struct err **err)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int r, count = 0;

	d = opendir(n->netns_dir);
	if (!d)
		return errno == ENOENT ? 0 : err_set(err, errno, "open netns dir '%s'", n->netns_dir);
	while ((errno = 0, de = readdir(d))) {
		char path[PATH_MAX];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!all && kept(keep, de->d_name))
			continue;
		if (netns_path(n, de->d_name, path) < 0)
			continue; /* cannot be ours: our names fit */
		ns_name_link(n, de->d_name, path, false);
		r = net_ns_remove(path, err);
		if (r < 0)
			return r;
		count += r;
	}
	if (errno)
		return err_set(err, errno, "read netns dir '%s'", n->netns_dir);
	return count;
}

static int reclaim_ports(struct net_ctx *n, char *const *keep, struct err **err)
{
	_cleanup_pubs_ struct net_pubs next = {0};
	int r, count = 0;

	if (net_pubs_copy(&n->pubs, &next) < 0)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n->pubs.n; i++) {
		if (kept(keep, n->pubs.v[i].id))
			continue;
		(void)net_pubs_set(&next, n->pubs.v[i].id, "", NULL, 0); /* removal never allocates */
		count++;
	}
	/* one rebuild, also when nothing changed: a restarted agent puts back a table someone removed */
	r = commit_pubs(n, &next, NET_NFT_BRIDGE, NULL, err);
	return r < 0 ? r : count;
}

int net_reclaim(struct net_ctx *n, char *const *keep_ids, struct err **err)
{
	/* leases first: the rebuild in reclaim_ports then drops their veths' rules too */
	int (*const steps[])(struct net_ctx *, char *const *, struct err **) = {reclaim_leases,
										reclaim_ports};
	int r, total = 0;

	for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
		r = steps[i](n, keep_ids, err);
		if (r < 0)
			return err_wrap(err, "reclaim");
		total += r;
	}
	r = reclaim_veths(n, keep_ids, false, err);
	if (r < 0)
		return err_wrap(err, "reclaim");
	total += r;
	r = reclaim_netns(n, keep_ids, false, err);
	if (r < 0)
		return err_wrap(err, "reclaim");
	return total + r;
}

int net_teardown(struct net_ctx *n, struct err **err)
{
	int r;

	r = net_nft_delete(n->nft_table, err);
	if (r >= 0)
		r = reclaim_veths(n, NULL, true, err);
	if (r >= 0)
		r = reclaim_netns(n, NULL, true, err);
	if (r >= 0)
		r = net_ns_dir_release(n->netns_dir, err);
	if (r >= 0)
		r = net_link_bridge_delete(n->bridge, err);
	if (r >= 0)
		r = net_ipam_clear(n->ipam, err);
	if (r >= 0 && unlinkat(n->state_dirfd, PORTS_FILE, 0) < 0 && errno != ENOENT)
		r = err_set(err, errno, "remove '%s/%s'", n->state_dir, PORTS_FILE);
	if (r < 0)
		return err_wrap(err, "teardown of bridge '%s'", n->bridge);
	net_pubs_done(&n->pubs);
	return 0;
}

int net_teardown_config(const struct net_config *cfg, struct err **err)
{
	_cleanup_(net_ctx_freep) struct net_ctx *n = NULL;
	int r;

	r = check_config(cfg, err);
	if (r < 0)
		return r;
	n = calloc(1, sizeof(*n));
	if (!n)
		return err_set(err, ENOMEM, "out of memory");
	n->state_dirfd = -1;
	if (copy_config(n, cfg) < 0)
		return err_set(err, ENOMEM, "out of memory");
	r = open_state(n, cfg, err);
	if (r < 0)
		return err_wrap(err, "network state");
	n->bridge_ifindex = (int)if_nametoindex(cfg->bridge); /* 0: no bridge (left), nothing on it */
	return net_teardown(n, err);
}
