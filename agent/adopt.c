/* A restarted agent adopts what the last one left: every shim still alive is
 * watched again with the same container PID; exits that happened while the
 * agent was away are read from the shims' exit records. Nothing is restarted
 * that is still running. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/history.h"
#include "agent/instance.h"
#include "agent/probe.h"
#include "agent/lifecycle.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/proc.h"

static pid_t read_pid_file(const char *dir, const char *name)
{
	_cleanup_free_ char *path = fs_path_join(dir, name);
	char buf[32];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (!path)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (pid_t)strtol(buf, NULL, 10);
}

/* Is the recorded shim still the same process (not a reused pid)? */
static bool shim_alive(const struct instance *i)
{
	unsigned long long st = 0;

	if (i->shim_pid <= 0 || !proc_alive(i->shim_pid))
		return false;
	if (i->shim_start && (proc_start_time(i->shim_pid, &st) < 0 || st != i->shim_start))
		return false;
	return true;
}

/* The agent died between spawning the shim and hearing back: learn it from the bundle. */
static void recover_creating(struct instance *i)
{
	i->shim_pid = read_pid_file(i->bundle_dir, RT_SHIM_PID_FILE);
	i->pid = read_pid_file(i->bundle_dir, RT_CONTAINER_PID_FILE);
	i->shim_start = 0;
	if (i->shim_pid > 0 && proc_alive(i->shim_pid) && (proc_start_time(i->shim_pid, &i->shim_start) < 0))
		i->shim_start = 0;
}

/* Active phases: a live shim is watched again and the lifecycle told (a stop the last agent began is
 * begun again: its grace timer died with it); a gone shim is reaped as an exit. The other phases go
 * to the lifecycle as they are: it finishes a removal or replacement, keeps a restart already due, or
 * starts over what never ran. */
static void adopt_one(struct agent *a, struct instance *i)
{
	if (!(i->bundle_dir = fs_path_join(a->bundles_dir, i->id)))
		return;
	if (i->phase == PH_CREATING)
		recover_creating(i);
	if (inst_is_active(i) && i->phase != PH_PULLING) {
		if (shim_alive(i) && i->pid > 0) {
			if (inst_watch_shim(i) < 0)
				return; /* handled as an exit */
			log_info("adopted pid=%d shim=%d id=%s", (int)i->pid, (int)i->shim_pid, i->id);
			lc_event(i, LC_EV_ADOPT);
			if (i->phase == PH_RUNNING && !lc_has_intent(i))
				probe_start(i, true); /* verdicts carried over: the next result decides */
			return;
		}
		log_notice("shim gone while the agent was away, reading its exit record id=%s", i->id);
		inst_handle_exit(i); /* reads exit.json, then removes/replaces/applies the policy */
		return;
	}
	lc_event(i, LC_EV_ADOPT);
}

int agent_adopt(struct agent *a)
{
	_cleanup_closedir_ DIR *d = opendir(a->instances_dir);
	struct instance *loaded = NULL;
	struct dirent *de;

	if (!d)
		return log_err_errno(-errno, "open '%s'", a->instances_dir);
	while ((de = readdir(d))) {
		_cleanup_err_ struct err *e = NULL;
		struct instance *i = NULL;
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue; /* also skips "x.json.tmp.PID" left by a crash mid-write */
		if (inst_load(a, de->d_name, &i, &e) < 0) {
			log_err("cannot load state record '%s': %s, ignoring", de->d_name, err_msg(e));
			continue;
		}
		if (agent_find(a, i->id)) {
			inst_free(i);
			continue;
		}
		i->next = loaded;
		loaded = i;
	}
	/* link all first so replacement or removal during adoption sees a full table */
	for (struct instance *i = loaded, *n; i; i = n) {
		n = i->next;
		agent_link(a, i);
		history_load(i);
	}
	for (struct instance *i = a->instances, *n; i; i = n) {
		n = i->next;
		adopt_one(a, i);
	}
	return 0;
}
