/* Bridge networking as the agent uses it: one net context, made at first use,
 * instances attached before their container starts (so a restart keeps the
 * namespace, the veth and the address) and detached when they are removed. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/instance-internal.h"
#include "common/cleanup.h"
#include "common/crash.h"
#include "common/fs.h"
#include "common/log.h"
#include "net/net.h"

struct net_ctx *agent_net(struct agent *a, struct err **err)
{
	_cleanup_free_ char *leases = NULL, *netns = NULL;
	struct net_config c = {0};

	if (a->net)
		return a->net;
	leases = fs_path_join(a->net_dir, "leases");
	netns = fs_path_join(a->cfg->run_dir, "netns");
	if (!leases || !netns) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	c.bridge = a->cfg->bridge;
	c.subnet = a->cfg->subnet;
	c.lease_dir = leases;
	c.netns_dir = netns;
	c.nft_table = a->cfg->nft_table;
	c.reserved_ports = &a->cfg->reserved_host_ports;
	c.allow_host_access = a->cfg->allow_host_access;
	c.ip_netns_dir = "/run/netns";
	if (net_ctx_new(&c, &a->net, err) < 0) {
		err_wrap(err, "bridge '%s' subnet '%s'", c.bridge, c.subnet);
		return NULL;
	}
	log_info("bridge '%s' up, subnet %s, nftables table '%s', host access %s", c.bridge, c.subnet,
		 c.nft_table, c.allow_host_access ? "allowed" : "blocked");
	return a->net;
}

void agent_net_reclaim(struct agent *a)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char **keep = NULL;
	size_t n = 0;
	int r;

	if (!a->net && access(a->net_dir, F_OK) < 0)
		return; /* bridge networking was never used here: nothing to reclaim */
	if (!agent_net(a, &e)) {
		log_err("network: %s", err_msg(e));
		return;
	}
	for (struct instance *i = a->instances; i; i = i->next)
		n++;
	keep = calloc(n + 1, sizeof(char *));
	if (!keep)
		return;
	n = 0;
	for (struct instance *i = a->instances; i; i = i->next)
		if (i->spec && i->spec->net == SPEC_NET_BRIDGE)
			keep[n++] = i->id;
	r = net_reclaim(a->net, keep, &e);
	if (r < 0)
		log_err("network reclaim: %s", err_msg(e));
	else if (r > 0)
		log_notice("network: reclaimed %d leftover leases, links, namespaces or rules", r);
}

static int publish(struct instance *i, struct err **err)
{
	_cleanup_free_ struct net_port *ports = NULL;
	const struct spec *s = i->spec;

	ports = calloc(s->n_ports ? s->n_ports : 1, sizeof(*ports));
	if (!ports)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t k = 0; k < s->n_ports; k++)
		ports[k] = (struct net_port){s->ports[k].container, s->ports[k].host, s->ports[k].udp};
	return net_publish(i->a->net, i->id, i->ip, ports, s->n_ports, err);
}

/* Before every start: the namespace, veth and address (reused if there), and the ports. */
int inst_net_attach(struct instance *i, struct err **err)
{
	struct net_attachment at;
	int r;

	if (i->spec->net != SPEC_NET_BRIDGE) {
		inst_net_detach(i); /* a replacement that left bridge mode */
		return 0;
	}
	if (!agent_net(i->a, err))
		return -EIO;
	r = net_attach(i->a->net, i->id, &at, err);
	if (r < 0)
		return err_wrap(err, "network");
	crash_point("netns"); /* test hook: the agent dies during the netns set-up */
	free(i->ip);
	free(i->netns_path);
	i->ip = strdup(at.ip);
	i->netns_path = strdup(at.netns_path);
	if (!i->ip || !i->netns_path)
		return err_set(err, ENOMEM, "out of memory");
	r = publish(i, err);
	if (r < 0)
		return err_wrap(err, "publish ports");
	return 0;
}

void inst_net_detach(struct instance *i)
{
	_cleanup_err_ struct err *e = NULL;

	if (!i->ip && !i->netns_path)
		return;
	if ((i->a->net || agent_net(i->a, &e)) && net_detach(i->a->net, i->id, &e) < 0)
		log_warn("network detach: %s, ignoring id=%s", err_msg(e), i->id);
	free(i->ip);
	free(i->netns_path);
	i->ip = NULL;
	i->netns_path = NULL;
}

/* A host port another instance publishes (unless it is this id's own), reserved, or held by a host
 * socket: -EADDRINUSE naming the port. */
static int check_port(struct agent *a, const struct spec *spec, const struct spec_port *p, struct err **err)
{
	_cleanup_err_ struct err *e = NULL;
	bool ours = false;

	for (struct instance *i = a->instances; i; i = i->next) {
		const struct spec *o = i->next_spec ? i->next_spec : i->spec;
		if (!o || i->removing)
			continue;
		for (size_t m = 0; m < o->n_ports; m++) {
			if (o->ports[m].host != p->host || o->ports[m].udp != p->udp)
				continue;
			if (strcmp(i->id, spec->id) != 0)
				return err_field(err, "network.ports", EADDRINUSE,
						 "host port %u/%s is already published by instance '%s'",
						 p->host, p->udp ? "udp" : "tcp", i->id);
			ours = true;
		}
	}
	/* an instance's own published port holds no socket; a new one must be free on the host */
	if (!ours && net_port_check_host(p->host, p->udp, &a->cfg->reserved_host_ports, &e) < 0)
		return err_field(err, "network.ports", e->errnum, "%s", err_msg(e));
	return 0;
}

int agent_check_ports(struct agent *a, const struct spec *spec, struct err **err)
{
	for (size_t k = 0; k < spec->n_ports; k++) {
		int r;

		if (!spec->ports[k].host)
			continue;
		r = check_port(a, spec, &spec->ports[k], err);
		if (r < 0)
			return r;
	}
	return 0;
}
