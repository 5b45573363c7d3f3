/* The nftables table drover owns. It is always rendered whole from the in-memory state and
 * replaced in one transaction ("table; delete table; table {...}" in one buffer), so rules never
 * pile up, a failure changes nothing, and no other table is touched. Through libnftables, a
 * library: nothing is exec'd. */
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

		for (size_t k = 0; k < p->n_ports; k++)
			fprintf(f, "\t\tfib daddr type local %s dport %u dnat to %s:%u comment \"%s\"\n",
				p->ports[k].udp ? "udp" : "tcp", p->ports[k].host, p->ip,
				p->ports[k].container, p->id);
	}
}

static void render(FILE *f, const struct net_nft_spec *s)
{
	char net[NET_IP_STRLEN];

	net_ip_format(s->sn->network, net);
	fprintf(f, "table ip %s\ndelete table ip %s\ntable ip %s {\n", s->table, s->table, s->table);
	/* leaving the subnet: masquerade; published-port hairpin and 127.0.0.1 -> instance too */
	fprintf(f,
		"\tchain postrouting {\n"
		"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		"\t\tip saddr %s/%d oifname != \"%s\" masquerade\n"
		"\t\tip saddr %s/%d oifname \"%s\" ct status dnat masquerade\n"
		"\t\tip saddr 127.0.0.0/8 oifname \"%s\" masquerade\n"
		"\t}\n",
		net, s->sn->prefix_len, s->bridge, net, s->sn->prefix_len, s->bridge, s->bridge);
	fprintf(f, "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
	render_dnat(f, s->pubs);
	fprintf(f, "\t}\n");
	/* the host itself reaches published ports through its own addresses */
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
	return nft_run(buf, "replace", spec->table, err);
}

int net_nft_delete(const char *table, struct err **err)
{
	char buf[128];

	if (!net_nft_table_name_valid(table))
		return err_set(err, EINVAL, "bad nftables table name '%s'", table ? table : "");
	/* declaring the table first makes the delete succeed when it is absent, in one transaction */
	snprintf(buf, sizeof(buf), "table ip %s\ndelete table ip %s\n", table, table);
	return nft_run(buf, "delete", table, err);
}
