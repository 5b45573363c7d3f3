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

/* Active phases: a live shim is watched again and the lifecycle told (a stop the last agent began is
 * begun again: its grace timer died with it); a gone shim is reaped as an exit. The other phases go
 * to the lifecycle as they are: it finishes a removal or replacement, keeps a restart already due, or
 * starts over what never ran. Phase creating goes to inst_adopt_creating() (adopt-start.c): it waits
 * for a shim still starting the container. */
static void adopt_one(struct agent *a, struct instance *i)
{
	if (!(i->bundle_dir = fs_path_join(a->bundles_dir, i->id)))
		return;
	if (!i->spec)
		return; /* the placeholder of an unreadable record: nothing to adopt */
	if (i->phase == PH_CREATING) {
		inst_adopt_creating(i); /* may free i */
		return;
	}
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

/* A record that cannot be read is shown, never dropped: a placeholder in phase failed names the file.
 * A PUT (or an assignment) of the id replaces it; a DELETE removes it and the file. */
static struct instance *unreadable(struct agent *a, const char *name, const struct err *e)
{
	_cleanup_free_ char *id = strndup(name, strlen(name) - 5);
	_cleanup_free_ char *msg = NULL;
	struct lc_result r;
	struct instance *i;

	if (!id || !spec_id_valid(id) || agent_find(a, id))
		return NULL;
	i = inst_new(a, id, SRC_API, NULL);
	if (!i)
		return NULL;
	i->unreadable_record = true;
	if (asprintf(&msg,
		     "state record '%s/%s' is unreadable (%s): the instance was not adopted; PUT it again or "
		     "DELETE it",
		     a->instances_dir, name, err_msg(e)) < 0)
		msg = NULL;
	/* the transition only: its PUBLISH is left out, nothing is linked or loaded yet (a restarted
	 * agent's clients read the placeholder from the status) */
	if (lc_transition(
		i, &(struct lc_input){.ev = LC_EV_INVALID_SPEC, .reason = "Error", .msg = msg ? msg : name},
		&r) < 0) {
		inst_free(i);
		return NULL;
	}
	return i;
}

/* fs_write_atomic temp files a crash between write and rename left: no process writes them now. */
static void remove_stale_tmp(struct agent *a)
{
	static const char *const dirs[] = {"instances", "history", "sources", "events", "net", "net/leases"};

	for (size_t k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++) {
		_cleanup_free_ char *dir = fs_path_join(a->cfg->state_dir, dirs[k]);
		int n = dir ? fs_remove_stale_tmp(dir) : -ENOMEM;

		if (n < 0)
			log_warn_errno(n, "remove stale temp files in '%s', ignoring", dir ? dir : dirs[k]);
		else if (n > 0)
			log_notice("removed %d stale temp file(s) in '%s'", n, dir);
	}
}

int agent_adopt(struct agent *a)
{
	_cleanup_closedir_ DIR *d = opendir(a->instances_dir);
	struct instance *loaded = NULL;
	struct dirent *de;

	if (!d)
		return log_err_errno(-errno, "open '%s'", a->instances_dir);
	remove_stale_tmp(a);
	while ((de = readdir(d))) {
		_cleanup_err_ struct err *e = NULL;
		struct instance *i = NULL;
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue; /* also skips "x.json.tmp.PID" left by a crash mid-write */
		if (inst_load(a, de->d_name, &i, &e) < 0) {
			log_err("cannot load state record '%s/%s': %s", a->instances_dir, de->d_name,
				err_msg(e));
			i = unreadable(a, de->d_name, e);
			if (!i)
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
