/* net-harness: a small CLI over net/ for tests/integration/40-net.bats.
 *   net-harness BRIDGE SUBNET STATEDIR NETNSDIR TABLE CMD ARGS...
 *     attach ID                       prints "IP NETNS_PATH HOSTVETH"
 *     publish ID IP [tcp|udp:HOST:CPORT ...]  (no ports: unpublish)
 *     detach ID
 *     reclaim [KEEP_ID ...]           prints the number of things reclaimed
 *     teardown
 *     bench ID N                      N attach+detach cycles; prints each one's time in ms
 *     vethname ID                     prints the host veth name ID would get (no context needed)
 * Every invocation is a fresh net_ctx_new, as a restarted agent would do. The environment sets
 * what droverd's flags would: NET_HARNESS_RESERVED (--reserved-host-ports; unset: none) and
 * NET_HARNESS_ALLOW_HOST=1 (--allow-host-access). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "net/net-internal.h"
#include "net/net.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: net-harness BRIDGE SUBNET STATEDIR NETNSDIR TABLE "
		"attach ID | publish ID IP PROTO:HOST:CPORT... | detach ID | reclaim KEEP... | teardown | "
		"bench ID N\n");
	return 2;
}

static int parse_u16(const char *s, char **end, uint16_t *ret)
{
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, end, 10);
	if (errno || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

/* "tcp:HOST:CPORT" or "udp:HOST:CPORT" */
static int parse_port(const char *s, struct net_port *ret)
{
	struct net_port p = {0};
	char *end = NULL;

	if (strncmp(s, "tcp:", 4) != 0 && strncmp(s, "udp:", 4) != 0)
		return -EINVAL;
	p.udp = s[0] == 'u';
	if (parse_u16(s + 4, &end, &p.host) < 0 || *end != ':')
		return -EINVAL;
	if (parse_u16(end + 1, &end, &p.container) < 0 || *end != '\0')
		return -EINVAL;
	*ret = p;
	return 0;
}

static int cmd_publish(struct net_ctx *n, int argc, char **argv, struct err **err)
{
	_cleanup_free_ struct net_port *ports = NULL;
	size_t k = (size_t)(argc - 2);

	if (argc < 2)
		return err_set(err, EINVAL, "publish ID IP [PROTO:HOST:CPORT...]");
	ports = calloc(k + 1, sizeof(*ports));
	if (!ports)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < k; i++)
		if (parse_port(argv[2 + i], &ports[i]) < 0)
			return err_set(err, EINVAL, "bad port '%s' (want tcp|udp:HOST:CPORT)", argv[2 + i]);
	return net_publish(n, argv[0], argv[1], ports, k, err);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmd_bench(struct net_ctx *n, const char *id, int count, struct err **err)
{
	struct net_attachment a;

	for (int i = 0; i < count; i++) {
		double t0 = now_ms(), t1;
		int r = net_attach(n, id, &a, err);
		if (r < 0)
			return r;
		t1 = now_ms();
		r = net_detach(n, id, err);
		if (r < 0)
			return r;
		printf("%.3f %.3f %.3f\n", t1 - t0, now_ms() - t1, now_ms() - t0);
	}
	return 0;
}

static int run(struct net_ctx *n, int argc, char **argv, struct err **err)
{
	const char *cmd = argv[0];
	struct net_attachment a;
	int r;

	if (strcmp(cmd, "attach") == 0 && argc == 2) {
		r = net_attach(n, argv[1], &a, err);
		if (r >= 0)
			printf("%s %s %s\n", a.ip, a.netns_path, a.host_veth);
		return r;
	}
	if (strcmp(cmd, "publish") == 0)
		return cmd_publish(n, argc - 1, argv + 1, err);
	if (strcmp(cmd, "detach") == 0 && argc == 2)
		return net_detach(n, argv[1], err);
	if (strcmp(cmd, "reclaim") == 0) {
		r = net_reclaim(n, argv + 1, err);
		if (r >= 0)
			printf("%d\n", r);
		return r;
	}
	if (strcmp(cmd, "teardown") == 0 && argc == 1)
		return net_teardown(n, err);
	if (strcmp(cmd, "bench") == 0 && argc == 3)
		return cmd_bench(n, argv[1], (int)strtol(argv[2], NULL, 10), err);
	return err_set(err, EINVAL, "unknown command '%s' or wrong arguments", cmd);
}

int main(int argc, char **argv)
{
	_cleanup_err_ struct err *e = NULL;
	struct net_ctx *n = NULL;
	char leases[PATH_MAX];
	struct net_config cfg;
	int r;

	static struct net_portset reserved;
	const char *res = getenv("NET_HARNESS_RESERVED"), *allow = getenv("NET_HARNESS_ALLOW_HOST");
	char veth[16];

	if (argc == 8 && strcmp(argv[6], "vethname") == 0) {
		net_veth_name(argv[1], argv[7], veth);
		printf("%s\n", veth);
		return 0;
	}
	if (argc < 7)
		return usage();
	if (res && net_portset_parse(res, &reserved) < 0) {
		fprintf(stderr, "net-harness: bad NET_HARNESS_RESERVED '%s'\n", res);
		return 2;
	}
	snprintf(leases, sizeof(leases), "%s/leases", argv[3]);
	cfg = (struct net_config){.bridge = argv[1],
				  .subnet = argv[2],
				  .lease_dir = leases,
				  .netns_dir = argv[4],
				  .nft_table = argv[5],
				  .reserved_ports = res ? &reserved : NULL,
				  .allow_host_access = allow && strcmp(allow, "1") == 0};
	r = net_ctx_new(&cfg, &n, &e);
	if (r >= 0)
		r = run(n, argc - 6, argv + 6, &e);
	net_ctx_free(n);
	if (r < 0) {
		fprintf(stderr, "net-harness: %s\n", err_msg(e));
		return 1;
	}
	return 0;
}
