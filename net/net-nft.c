/* The nftables tables drover owns, "ip NAME" and "bridge NAME". A table is rendered whole from the
 * in-memory state and the leases and replaced in one transaction ("table; delete table; table
 * {...}"), so rules never pile up, a failure changes nothing, and no other table is touched. The
 * per-instance anti-spoofing facts are elements of sets in the bridge table, so an instance's start
 * or stop adds or removes its elements in a small transaction instead of replacing the tables.
 * Through libnftables, a library: nothing is exec'd. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nftables/libnftables.h>

#include "net/net-internal.h"

DEFINE_CLEANUP(struct nft_ctx *, nft_ctx_free)
#define _cleanup_nft_ _cleanup_(nft_ctx_freep)

bool net_nft_table_name_valid(const char *table)
{
	size_t n = table ? strlen(table) : 0;

	return n > 0 && n <= 32 &&
	       strspn(table, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

static void render_dnat(FILE *f, const struct net_pubs *pubs)
{
	for (size_t i = 0; i < pubs->n; i++) {
		const struct net_pub *p = &pubs->v[i];

		/* the node's own addresses, never loopback: 127.0.0.1:PORT stays the host's */
		for (size_t k = 0; k < p->n_ports; k++)
			fprintf(f,
				"\t\tfib daddr type local ip daddr != 127.0.0.0/8 %s dport %u dnat to %s:%u "
				"comment \"%s\"\n",
				p->ports[k].udp ? "udp" : "tcp", p->ports[k].host, p->ip,
				p->ports[k].container, p->id);
	}
}

/* Before routing and conntrack: nothing from the bridge to or from loopback (no route_localnet
 * either), and no link-local (cloud metadata) destinations unless host access is allowed. */
static void render_guard(FILE *f, const struct net_nft_spec *s)
{
	fprintf(f,
		"\tchain guard {\n"
		"\t\ttype filter hook prerouting priority raw; policy accept;\n"
		"\t\tiifname \"%s\" ip daddr 127.0.0.0/8 counter drop comment \"loopback\"\n"
		"\t\tiifname \"%s\" ip saddr 127.0.0.0/8 counter drop comment \"loopback\"\n",
		s->bridge, s->bridge);
	if (!s->allow_host_access)
		fprintf(f, "\t\tiifname \"%s\" ip daddr 169.254.0.0/16 counter drop comment \"metadata\"\n",
			s->bridge);
	fprintf(f, "\t}\n");
	/* the node's own services (any of its addresses, the gateway's too): replies only */
	fprintf(f, "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
	if (!s->allow_host_access)
		fprintf(f,
			"\t\tiifname \"%s\" ct state established,related accept\n"
			"\t\tiifname \"%s\" counter drop comment \"host access\"\n",
			s->bridge, s->bridge);
	fprintf(f, "\t}\n");
}

static void render_ip(FILE *f, const struct net_nft_spec *s)
{
	char net[NET_IP_STRLEN];

	net_ip_format(s->sn->network, net);
	fprintf(f, "table ip %s\ndelete table ip %s\ntable ip %s {\n", s->table, s->table, s->table);
	render_guard(f, s);
	/* leaving the subnet: masquerade; published-port hairpin too */
	fprintf(f,
		"\tchain postrouting {\n"
		"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		"\t\tip saddr %s/%d oifname != \"%s\" masquerade\n"
		"\t\tip saddr %s/%d oifname \"%s\" ct status dnat masquerade\n"
		"\t}\n",
		net, s->sn->prefix_len, s->bridge, net, s->sn->prefix_len, s->bridge);
	fprintf(f, "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
	render_dnat(f, s->pubs);
	fprintf(f, "\t}\n");
	/* the host itself reaches published ports through its own (non-loopback) addresses */
	fprintf(f, "\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n");
	render_dnat(f, s->pubs);
	fprintf(f, "\t}\n");
	fprintf(f,
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority 0; policy accept;\n"
		"\t\tiifname \"%s\" accept\n"
		"\t\toifname \"%s\" accept\n"
		"\t}\n}\n",
		s->bridge, s->bridge);
}

/* One lease's anti-spoofing facts: its veth may send IPv4 from its MAC and address, and ARP
 * naming that MAC and address only. Elements of sets, so a start or a stop changes three elements
 * instead of replacing the table (which costs a kernel commit of every chain). */
struct veth_facts {
	char veth[16], mac[NET_MAC_STRLEN], ip[NET_IP_STRLEN];
};

static bool veth_facts(const struct net_nft_spec *s, const struct net_lease *l, struct veth_facts *v)
{
	uint8_t m[6];

	if (!l->id[0] || !net_id_valid(l->id))
		return false; /* a lease left empty by a crash has no veth */
	net_veth_name(s->bridge, l->id, v->veth);
	net_mac_for_ip(l->ip, m);
	net_mac_format(m, v->mac);
	net_ip_format(l->ip, v->ip);
	return true;
}

/* "elements = { ... }" of one of the three sets, from every lease. */
static void render_set_elements(FILE *f, const struct net_nft_spec *s, const char *set)
{
	size_t named = 0;
	struct veth_facts v;

	for (size_t i = 0; i < s->n_leases; i++) {
		if (!veth_facts(s, &s->leases[i], &v))
			continue;
		fprintf(f, "%s", named++ ? ", " : "\t\telements = { ");
		if (strcmp(set, "instances") == 0)
			fprintf(f, "\"%s\"", v.veth);
		else if (strcmp(set, "ipv4_ok") == 0)
			fprintf(f, "\"%s\" . %s . %s", v.veth, v.mac, v.ip);
		else
			fprintf(f, "\"%s\" . %s . %s . %s", v.veth, v.mac, v.mac, v.ip);
	}
	if (named)
		fprintf(f, " }\n");
}

/* Frames from an instance's veth: IPv4 and ARP from its lease's MAC and address only (no
 * spoofing of a neighbour, no IPv6 router advertisements, no VLAN tricks), never to loopback. */
static void render_bridge(FILE *f, const struct net_nft_spec *s)
{
	static const struct {
		const char *name, *type;
	} sets[] = {{"instances", "ifname"},
		    {"ipv4_ok", "ifname . ether_addr . ipv4_addr"},
		    {"arp_ok", "ifname . ether_addr . ether_addr . ipv4_addr"}};

	fprintf(f, "table bridge %s\ndelete table bridge %s\ntable bridge %s {\n", s->table, s->table,
		s->table);
	for (size_t i = 0; i < ELEMENTSOF(sets); i++) {
		fprintf(f, "\tset %s {\n\t\ttype %s;\n", sets[i].name, sets[i].type);
		render_set_elements(f, s, sets[i].name);
		fprintf(f, "\t}\n");
	}
	fprintf(f, "\tchain prerouting {\n"
		   "\t\ttype filter hook prerouting priority -300; policy accept;\n"
		   "\t\tiifname != @instances accept\n"
		   "\t\tip daddr 127.0.0.0/8 counter drop comment \"loopback\"\n"
		   "\t\tiifname . ether saddr . ip saddr @ipv4_ok accept\n"
		   "\t\tiifname . ether saddr . arp saddr ether . arp saddr ip @arp_ok accept\n"
		   "\t\tcounter drop comment \"spoofed\"\n\t}\n}\n");
}

/* Adds or removes one lease's elements. A removal adds first so that it succeeds when an element
 * is already gone (nftables has no "delete if present" here), all in the one transaction. The
 * veth's name leaves "instances" only if no other lease shares it: its frames stay filtered. */
static void render_veth_change(FILE *f, const struct net_nft_spec *s)
{
	static const char *const ops_add[] = {"add"}, *const ops_del[] = {"add", "delete"};
	const char *const *ops = s->change_add ? ops_add : ops_del;
	size_t n_ops = s->change_add ? ELEMENTSOF(ops_add) : ELEMENTSOF(ops_del);
	struct veth_facts v, o;
	bool shared = false;

	if (!veth_facts(s, s->change, &v))
		return;
	for (size_t i = 0; !s->change_add && i < s->n_leases; i++)
		shared |= veth_facts(s, &s->leases[i], &o) && strcmp(o.veth, v.veth) == 0 &&
			  strcmp(s->leases[i].id, s->change->id) != 0;
	for (size_t k = 0; k < n_ops; k++) {
		if (!shared || k == 0)
			fprintf(f, "%s element bridge %s instances { \"%s\" }\n", ops[k], s->table, v.veth);
		fprintf(f, "%s element bridge %s ipv4_ok { \"%s\" . %s . %s }\n", ops[k], s->table, v.veth,
			v.mac, v.ip);
		fprintf(f, "%s element bridge %s arp_ok { \"%s\" . %s . %s . %s }\n", ops[k], s->table,
			v.veth, v.mac, v.mac, v.ip);
	}
}

static void render(FILE *f, const struct net_nft_spec *s)
{
	if (s->tables & NET_NFT_IP)
		render_ip(f, s);
	if (s->tables & NET_NFT_BRIDGE)
		render_bridge(f, s);
	else if (s->change)
		render_veth_change(f, s);
}

int net_nft_render(const struct net_nft_spec *spec, char **ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!net_nft_table_name_valid(spec->table) || !net_ifname_valid(spec->bridge))
		return -EINVAL;
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	render(f, spec);
	if (ferror(f) || fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

struct nft_job {
	const char *buf;
	const char *what;
	const char *table;
};

/* In a forked child: one libnftables context per transaction. The parser's caches and heap live
 * and die with the child, so the long-running agent pays nothing for them. */
static int nft_child(void *arg, char *msg, size_t size)
{
	const struct nft_job *j = arg;
	_cleanup_nft_ struct nft_ctx *ctx = NULL;
	const char *text;
	size_t n;

	ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx || nft_ctx_buffer_output(ctx) < 0 || nft_ctx_buffer_error(ctx) < 0) {
		snprintf(msg, size, "%s nftables table '%s': out of memory", j->what, j->table);
		return -ENOMEM;
	}
	if (nft_run_cmd_from_buffer(ctx, j->buf) == 0)
		return 0;
	text = nft_ctx_get_error_buffer(ctx);
	snprintf(msg, size, "%s nftables table '%s': %s", j->what, j->table, text && *text ? text : "failed");
	for (n = strlen(msg); n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '); n--)
		msg[n - 1] = '\0';
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' '; /* one line, for the log */
	return strstr(msg, "Operation not permitted") ? -EPERM : -EIO;
}

static int nft_run(const char *buf, const char *what, const char *table, struct err **err)
{
	struct nft_job j = {buf, what, table};

	return net_run_child(nft_child, &j, err);
}

int net_nft_apply(const struct net_nft_spec *spec, struct err **err)
{
	_cleanup_free_ char *buf = NULL;
	int r;

	r = net_nft_render(spec, &buf);
	if (r == -EINVAL)
		return err_set(err, EINVAL, "bad nftables table '%s' or bridge '%s' name", spec->table,
			       spec->bridge);
	if (r < 0)
		return err_set(err, -r, "render nftables table '%s'", spec->table);
	return nft_run(buf, spec->tables ? "replace" : "change", spec->table, err);
}

int net_nft_delete(const char *table, struct err **err)
{
	char buf[256];

	if (!net_nft_table_name_valid(table))
		return err_set(err, EINVAL, "bad nftables table name '%s'", table ? table : "");
	/* declaring the table first makes the delete succeed when it is absent, in one transaction */
	snprintf(buf, sizeof(buf),
		 "table ip %s\ndelete table ip %s\ntable bridge %s\ndelete table bridge %s\n", table, table,
		 table, table);
	return nft_run(buf, "delete", table, err);
}
