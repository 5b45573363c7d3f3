/* Leaf helpers for net/: subnet and address parsing, id and interface name checks, the host veth
 * name, and the libnl error mapping. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>

#include "common/fs.h"
#include "common/proc.h"
#include "net/net-internal.h"

int net_ip_parse(const char *s, uint32_t *ret)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ret = ntohl(a.s_addr);
	return 0;
}

void net_ip_format(uint32_t ip, char buf[NET_IP_STRLEN])
{
	snprintf(buf, NET_IP_STRLEN, "%u.%u.%u.%u", (ip >> 24) & 0xff, (ip >> 16) & 0xff, (ip >> 8) & 0xff,
		 ip & 0xff);
}

static int parse_prefix_len(const char *s, int *ret)
{
	int v = 0;

	if (!*s || strlen(s) > 2)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (*s - '0');
	}
	*ret = v;
	return 0;
}

int net_subnet_parse(const char *s, struct net_subnet *ret)
{
	char addr[NET_IP_STRLEN];
	const char *slash;
	uint32_t ip, mask;
	int len, r;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	r = net_ip_parse(addr, &ip);
	if (r < 0)
		return r;
	r = parse_prefix_len(slash + 1, &len);
	if (r < 0)
		return r;
	/* /31 and /32 leave no address for an instance; wider than /8 is not a node subnet */
	if (len < 8 || len > 30)
		return -EINVAL;
	mask = ~0U << (32 - len);
	if (ip & ~mask)
		return -EINVAL; /* host bits set: "10.77.0.5/24" is not a subnet */
	*ret = (struct net_subnet){
	    .network = ip,
	    .broadcast = ip | ~mask,
	    .gateway = ip + 1,
	    .first = ip + 2,
	    .last = (ip | ~mask) - 1,
	    .prefix_len = len,
	};
	return 0;
}

bool net_subnet_contains(const struct net_subnet *sn, uint32_t ip)
{
	return ip >= sn->network && ip <= sn->broadcast;
}

bool net_id_valid(const char *id)
{
	size_t n;

	if (!id || !((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= '0' && id[0] <= '9')))
		return false;
	n = strlen(id);
	if (n > NET_ID_MAX)
		return false;
	return strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

bool net_ifname_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n == 0 || n > 15 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

int net_config_check(const char *bridge, const char *subnet, const char *nft_table, struct err **err)
{
	struct net_subnet sn;

	if (!net_ifname_valid(bridge) || strncmp(bridge, NET_VETH_PREFIX, strlen(NET_VETH_PREFIX)) == 0)
		return err_field(err, "bridge", EINVAL,
				 "--bridge '%s' is not an interface name (1-15 of A-Z a-z 0-9 _ . -, not "
				 "starting with '" NET_VETH_PREFIX "')",
				 bridge ? bridge : "");
	if (net_subnet_parse(subnet, &sn) < 0)
		return err_field(err, "subnet", EINVAL,
				 "--subnet '%s' is not an IPv4 subnet like 10.77.0.0/24 (prefix /8 to /30, "
				 "host bits zero)",
				 subnet ? subnet : "");
	if (!net_nft_table_name_valid(nft_table))
		return err_field(err, "nft-table", EINVAL,
				 "--nft-table '%s' is not a table name (1-32 of A-Z a-z 0-9 _)",
				 nft_table ? nft_table : "");
	return 0;
}

/* FNV-1a, 64 bits: stable across versions and machines, which the name must be. */
static uint64_t fnv1a64(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* FNV-1a, 32 bits: the names of earlier versions (still recognised, never made). */
static uint32_t fnv1a32(uint32_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619U;
	}
	return h;
}

void net_veth_name(const char *bridge, const char *id, char buf[16])
{
	uint64_t h = 14695981039346656037ULL;

	h = fnv1a64(h, bridge);
	h = fnv1a64(h ^ 0xffU, "/"); /* a separator no name contains */
	h = fnv1a64(h, id);
	/* a finaliser (splitmix64's) so every input bit reaches the 48 bits kept */
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	h ^= h >> 31;
	/* "dv" + 12 hex digits (48 bits), 14 characters, within IFNAMSIZ */
	snprintf(buf, 16, NET_VETH_PREFIX "%012llx", (unsigned long long)(h & 0xffffffffffffULL));
}

void net_veth_name_legacy(const char *bridge, const char *id, char buf[16])
{
	uint32_t h = 2166136261U;

	h = fnv1a32(h, bridge);
	h = fnv1a32(h ^ 0xffU, "/");
	h = fnv1a32(h, id);
	snprintf(buf, 16, NET_VETH_PREFIX "%08x", h);
}

void net_mac_for_ip(uint32_t ip, uint8_t mac[6])
{
	/* locally administered, unicast: 02:d7 then the address, as the anti-spoofing rules expect */
	mac[0] = 0x02;
	mac[1] = 0xd7;
	mac[2] = (uint8_t)(ip >> 24);
	mac[3] = (uint8_t)(ip >> 16);
	mac[4] = (uint8_t)(ip >> 8);
	mac[5] = (uint8_t)ip;
}

void net_mac_format(const uint8_t mac[6], char buf[NET_MAC_STRLEN])
{
	snprintf(buf, NET_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

int net_nl_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_SUCCESS:
		return 0;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_NODEV:
	case NLE_OBJ_NOTFOUND:
		return -ENODEV;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_NOADDR:
		return -EADDRNOTAVAIL;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_MSGSIZE:
		return -EMSGSIZE;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	default:
		return -EPROTO;
	}
}

int net_nl_open(struct nl_sock **ret, struct err **err)
{
	_cleanup_nlsock_ struct nl_sock *sk = NULL;
	int r;

	sk = nl_socket_alloc();
	if (!sk)
		return err_set(err, ENOMEM, "allocate netlink socket");
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0)
		return err_set(err, -net_nl_errno(r), "connect netlink: %s", nl_geterror(r));
	*ret = TAKE_PTR(sk);
	return 0;
}

struct child_report {
	int r;
	char msg[NET_CHILD_MSG];
};

static int read_report(int fd, struct child_report *rep)
{
	size_t got = 0;

	while (got < sizeof(*rep)) {
		ssize_t n = read(fd, (char *)rep + got, sizeof(*rep) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		got += (size_t)n;
	}
	return 0;
}

static int reap(pid_t pid, int *ret_status)
{
	while (waitpid(pid, ret_status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static int report_err(struct child_report *rep, struct err **err)
{
	rep->msg[sizeof(rep->msg) - 1] = '\0';
	return err_set(err, -rep->r, "%s", rep->msg[0] ? rep->msg : strerror(-rep->r));
}

struct thread_job {
	int (*fn)(void *arg, char *msg, size_t msg_size);
	void *arg;
	struct child_report rep;
};

static void *thread_main(void *p)
{
	struct thread_job *j = p;

	j->rep.r = j->fn(j->arg, j->rep.msg, sizeof(j->rep.msg));
	return NULL;
}

int net_run_thread(int (*fn)(void *arg, char *msg, size_t msg_size), void *arg, struct err **err)
{
	struct thread_job j = {.fn = fn, .arg = arg};
	pthread_t t;
	int r;

	r = pthread_create(&t, NULL, thread_main, &j);
	if (r != 0)
		return err_set(err, r, "start a thread");
	(void)pthread_join(t, NULL); /* only fails for a bad thread id */
	if (j.rep.r < 0)
		return report_err(&j.rep, err);
	return 0;
}

int net_run_child(int (*fn)(void *arg, char *msg, size_t msg_size), void *arg, struct err **err)
{
	struct child_report rep = {0};
	_cleanup_close_ int rfd = -1;
	int fds[2], status = 0, rr, r;
	char what[64];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	rfd = fds[0];
	pid = fork();
	if (pid < 0) {
		r = -errno;
		(void)close(fds[1]);
		return err_set(err, -r, "fork");
	}
	if (pid == 0) {
		(void)close(fds[0]);
		rep.r = fn(arg, rep.msg, sizeof(rep.msg));
		_exit(fs_write_all(fds[1], &rep, sizeof(rep)) < 0 ? 2 : rep.r < 0);
	}
	(void)close(fds[1]);
	rr = read_report(rfd, &rep);
	r = reap(pid, &status);
	if (r < 0)
		return err_set(err, -r, "wait for child %d", (int)pid);
	if (rr < 0) {
		proc_describe_status(status, what, sizeof(what));
		return err_set(err, EPROTO, "child %d gave no report (%s)", (int)pid, what);
	}
	if (rep.r < 0)
		return report_err(&rep, err);
	return 0;
}
