/* One lease's anti-spoofing elements added to or removed from the bridge table's three sets, in
 * one netfilter batch built with libnftnl and sent from this process: no parser, no cache fetch
 * and no fork on a start's path (libnftables, a child and a replaced table cost tens of ms here).
 * The keys are laid out as nftables lays out the sets' types: every part of a concatenation takes
 * whole 32-bit registers, an interface name 16 bytes, zero-padded (see net_nft_elem_keys). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>

#include "net/net-internal.h"

DEFINE_CLEANUP(struct mnl_socket *, mnl_socket_close)
DEFINE_CLEANUP(struct nftnl_set *, nftnl_set_free)

static void put_ifname(uint8_t *k, const char *name)
{
	memset(k, 0, NET_NFT_IFNAME_LEN);
	memcpy(k, name, strnlen(name, NET_NFT_IFNAME_LEN - 1));
}

bool net_nft_name_shared(const char *bridge, const struct net_lease *leases, size_t n,
			 const struct net_lease *l)
{
	char mine[16], other[16];

	net_veth_name(bridge, l->id, mine);
	for (size_t i = 0; i < n; i++) {
		if (!leases[i].id[0] || !net_id_valid(leases[i].id) || strcmp(leases[i].id, l->id) == 0)
			continue;
		net_veth_name(bridge, leases[i].id, other);
		if (strcmp(mine, other) == 0)
			return true;
	}
	return false;
}

int net_nft_elem_keys(const char *veth, const uint8_t mac[6], uint32_t ip, struct net_nft_keys *k)
{
	uint32_t be = htonl(ip);

	if (!veth || !net_ifname_valid(veth))
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	/* instances: ifname */
	put_ifname(k->instances, veth);
	/* ipv4_ok: ifname . ether_addr . ipv4_addr */
	put_ifname(k->ipv4_ok, veth);
	memcpy(k->ipv4_ok + 16, mac, 6);
	memcpy(k->ipv4_ok + 24, &be, 4);
	/* arp_ok: ifname . ether_addr . ether_addr . ipv4_addr */
	put_ifname(k->arp_ok, veth);
	memcpy(k->arp_ok + 16, mac, 6);
	memcpy(k->arp_ok + 24, mac, 6);
	memcpy(k->arp_ok + 32, &be, 4);
	return 0;
}

/* Appends one NEWSETELEM or DELSETELEM message for set `name` holding key. */
static int put_elem(struct mnl_nlmsg_batch *b, const char *table, const char *name, const void *key,
		    size_t len, bool add, uint32_t seq)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	struct nlmsghdr *nlh;

	if (!s || !e) {
		if (e)
			nftnl_set_elem_free(e);
		return -ENOMEM;
	}
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, table) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, name) < 0 ||
	    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, (uint32_t)len) < 0) {
		nftnl_set_elem_free(e);
		return -ENOMEM;
	}
	nftnl_set_elem_add(s, e); /* s owns e now */
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
				    NFPROTO_BRIDGE, (uint16_t)((add ? NLM_F_CREATE : 0) | NLM_F_ACK), seq);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	return mnl_nlmsg_batch_next(b) ? 0 : -ENOBUFS;
}

/* Reads the acknowledgements up to the batch's end; the first error wins. */
static int read_acks(struct mnl_socket *nl, uint32_t first, uint32_t last)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	unsigned int portid = mnl_socket_get_portid(nl);
	uint32_t acked = 0, want = last - first + 1;
	int error = 0;

	while (acked < want) {
		ssize_t got = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		int n = (int)got;

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (const struct nlmsghdr *h = (const void *)buf; mnl_nlmsg_ok(h, n);
		     h = mnl_nlmsg_next(h, &n)) {
			if (h->nlmsg_pid != portid || h->nlmsg_seq < first || h->nlmsg_seq > last)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *er = mnl_nlmsg_get_payload(h);
				acked++;
				if (er->error < 0 && !error)
					error = er->error;
			}
		}
		if (error)
			return error; /* the kernel aborts the whole batch: no more acks come */
	}
	return 0;
}

int net_nft_elem_apply(const char *table, const struct net_nft_keys *k, bool add, bool keep_name,
		       struct err **err)
{
	char buf[8192];
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
	struct mnl_nlmsg_batch *b;
	uint32_t seq = (uint32_t)time(NULL), first;
	const struct {
		const char *name;
		const void *key;
		size_t len;
	} sets[] = {{"instances", k->instances, sizeof(k->instances)},
		    {"ipv4_ok", k->ipv4_ok, sizeof(k->ipv4_ok)},
		    {"arp_ok", k->arp_ok, sizeof(k->arp_ok)}};
	int r = 0;

	if (!net_nft_table_name_valid(table))
		return err_set(err, EINVAL, "bad nftables table name '%s'", table ? table : "");
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return err_set(err, errno, "netfilter socket");
	b = mnl_nlmsg_batch_start(buf, sizeof(buf));
	nftnl_batch_begin(mnl_nlmsg_batch_current(b), seq++);
	mnl_nlmsg_batch_next(b);
	first = seq;
	/* a removal adds first, so that it succeeds when an element is already gone; a veth name
	 * another lease shares stays in "instances" so that its frames stay filtered */
	for (int pass = 0; pass < (add ? 1 : 2) && r >= 0; pass++)
		for (size_t i = 0; i < ELEMENTSOF(sets) && r >= 0; i++)
			if (!(i == 0 && pass == 1 && keep_name))
				r = put_elem(b, table, sets[i].name, sets[i].key, sets[i].len, pass == 0,
					     seq++);
	if (r < 0) {
		mnl_nlmsg_batch_stop(b);
		return err_set(err, -r, "build the nftables batch for table '%s'", table);
	}
	nftnl_batch_end(mnl_nlmsg_batch_current(b), seq);
	mnl_nlmsg_batch_next(b);
	if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b)) < 0)
		r = -errno;
	mnl_nlmsg_batch_stop(b);
	if (r >= 0)
		r = read_acks(nl, first, seq - 1);
	if (r < 0)
		return err_set(err, -r, "%s the anti-spoofing elements of table bridge '%s'",
			       add ? "add" : "remove", table);
	return 0;
}
