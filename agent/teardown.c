/* droverd --cleanup: once no instance is left, remove what the agent made on the host (the
 * bridge, the nftables table, the namespace mounts and `ip netns` names, the cgroup tree) and
 * say which directories still hold state. Settings the agent changed host-wide (IPv4 forwarding)
 * are left as they are: something else may rely on them by now. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/cgroot.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "net/net.h"

/* Names in dir (ending in suffix, if given) into buf as "a, b, c"; returns how many. */
static int list_names(const char *dir, const char *suffix, char *buf, size_t size)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	size_t len = 0;
	int n = 0;

	buf[0] = '\0';
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name), sl = suffix ? strlen(suffix) : 0;

		if (de->d_name[0] == '.' || (suffix && (l <= sl || strcmp(de->d_name + l - sl, suffix) != 0)))
			continue;
		if (len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s%.*s", n ? ", " : "", (int)(l - sl),
						de->d_name);
		n++;
	}
	return n;
}

static int refuse_if_instances(struct agent *a)
{
	char names[512];
	int n;

	n = list_names(a->instances_dir, ".json", names, sizeof(names));
	if (n > 0)
		return log_err_errno(-EBUSY,
				     "%d instance(s) still exist (%s): remove them first (droverctl rm, or "
				     "delete their files from the assignments dir) with droverd running",
				     n, names);
	n = list_names(a->runc_root, NULL, names, sizeof(names));
	if (n > 0)
		return log_err_errno(
		    -EBUSY, "the runtime still has %d container(s) under '%s' (%s): remove them first", n,
		    a->runc_root, names);
	return 0;
}

static int teardown_net(struct agent *a)
{
	_cleanup_free_ char *leases = fs_path_join(a->net_dir, "leases");
	_cleanup_free_ char *netns = fs_path_join(a->cfg->run_dir, "netns");
	_cleanup_err_ struct err *e = NULL;
	struct net_config c = {.bridge = a->cfg->bridge,
			       .subnet = a->cfg->subnet,
			       .lease_dir = leases,
			       .netns_dir = netns,
			       .nft_table = a->cfg->nft_table,
			       .ip_netns_dir = "/run/netns"};

	if (!leases || !netns)
		return -ENOMEM;
	if (net_teardown_config(&c, &e) < 0)
		return log_err_errno(-e->errnum, "%s", err_msg(e));
	log_notice("removed bridge '%s', nftables table '%s' and the namespace mounts under '%s'", c.bridge,
		   c.nft_table, netns);
	return 0;
}

static int teardown_cgroups(struct agent *a)
{
	_cleanup_err_ struct err *e = NULL;

	if (cgroot_setup(a, &e) < 0 || cg_ctx_remove_root(a->cg, &e) < 0)
		return log_err_errno(-(e ? e->errnum : EIO), "cgroups: %s", err_msg(e));
	log_notice("removed the cgroup tree");
	return 0;
}

int agent_cleanup(struct agent *a)
{
	_cleanup_err_ struct err *e = NULL;
	int r;

	if ((r = agent_lock_all(a, AGENT_NFT_LOCK_DIR, &e)) < 0)
		return log_err_errno(r, "%s", err_msg(e));
	if ((r = refuse_if_instances(a)) < 0)
		return r;
	if ((r = teardown_net(a)) < 0 || (r = teardown_cgroups(a)) < 0)
		return r;
	log_notice(
	    "left in place: state dir '%s' (images, records, logs) and run dir '%s'; remove them by hand "
	    "if they are no longer wanted",
	    a->cfg->state_dir, a->cfg->run_dir);
	log_notice(
	    "net.ipv4.ip_forward is left as it is (droverd set it to 1 when bridge networking started)");
	return 0;
}
