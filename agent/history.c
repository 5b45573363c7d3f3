/* Spec history per instance (see history.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/history.h"
#include "agent/instance.h"
#include "agent/loop.h"
#include "agent/source.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/timeutil.h"

#define HISTORY_FILE_MAX (32 * 1024 * 1024)

static char *history_dir(const struct instance *i)
{
	return fs_path_join(i->a->cfg->state_dir, "history");
}

static json_t *time_json(int64_t ns)
{
	char buf[40];

	if (ns <= 0)
		return json_null();
	time_fmt_rfc3339(ns, buf, sizeof(buf));
	return json_string(buf);
}

static void write_now(const struct instance *i)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *dir = history_dir(i), *name = NULL, *text = NULL;
	_cleanup_close_ int dfd = -1;

	if (!dir || asprintf(&name, "%s.json", i->id) < 0 || !(text = json_dumps(i->history, JSON_COMPACT)))
		return;
	if (fs_mkdir_p(AT_FDCWD, dir, 0700) < 0 ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		log_err_errno(-errno, "history: open '%s' id=%s", dir, i->id);
		return;
	}
	if (fs_write_atomic(dfd, name, text, strlen(text), 0600, 0, &e) < 0)
		log_err("history: %s id=%s", err_msg(e), i->id);
}

/* Ids whose file is behind memory. A start writes its history after the runtime is under way,
 * not before: each atomic write costs two fsyncs, and a start should not wait for a record that
 * only reports. history_flush() writes them (at the end of the loop iteration, and at exit). */
static struct {
	json_t *ids; /* object used as a set */
	struct loop_timer *timer;
} dirty;

static void flush_cb(struct loop *l, void *data)
{
	(void)l;
	dirty.timer = NULL;
	history_flush(data);
}

void history_flush(struct agent *a)
{
	const char *id;
	json_t *v;

	if (dirty.timer)
		loop_timer_cancel(a->loop, TAKE_PTR(dirty.timer));
	json_object_foreach (dirty.ids, id, v) {
		const struct instance *i = agent_find(a, id);
		if (i && i->history)
			write_now(i);
	}
	json_decref(TAKE_PTR(dirty.ids));
}

static void save(const struct instance *i)
{
	if (!i->a->loop || (!dirty.ids && !(dirty.ids = json_object()))) {
		write_now(i);
		return;
	}
	if (json_object_set_new(dirty.ids, i->id, json_true()) < 0) {
		write_now(i);
		return;
	}
	if (!dirty.timer)
		dirty.timer = loop_timer_add(i->a->loop, 0, flush_cb, i->a);
	if (!dirty.timer)
		history_flush(i->a);
}

static json_t *head(const struct instance *i)
{
	return json_array_get(i->history, 0);
}

void history_applied(struct instance *i)
{
	int64_t limit = i->a->cfg->history_limit > 0 ? i->a->cfg->history_limit : 1;
	json_t *entry;

	if (!i->spec)
		return;
	if (!i->history && !(i->history = json_array()))
		return;
	entry = json_pack("{s:I, s:s, s:o, s:n, s:s, s:s, s:n, s:i, s:O}", "revision",
			  (json_int_t)i->spec->revision, "source", source_name(i->source), "applied_at",
			  time_json(time_now_ns()), "ended_at", "end", "current", "reason", "", "exit_code",
			  "restarts", 0, "spec", i->spec->raw);
	if (!entry || json_array_insert_new(i->history, 0, entry) < 0)
		return;
	while ((int64_t)json_array_size(i->history) > limit)
		(void)json_array_remove(i->history, json_array_size(i->history) - 1); /* in range */
	save(i);
}

/* Sets key to v (stolen) and says whether it changed. */
static bool set_changed(json_t *obj, const char *key, json_t *v)
{
	bool changed = !json_equal(json_object_get(obj, key), v);

	if (changed)
		json_object_set(obj, key, v);
	json_decref(v);
	return changed;
}

void history_update(struct instance *i)
{
	json_t *h = head(i);
	bool ended = i->phase == PH_EXITED || i->phase == PH_FAILED, changed = false;

	if (!h || !i->spec || json_integer_value(json_object_get(h, "revision")) != i->spec->revision ||
	    strcmp(json_string_value(json_object_get(h, "end")), "replaced") == 0)
		return;
	changed |= set_changed(h, "end", json_string(ended ? inst_phase_name(i->phase) : "current"));
	changed |= set_changed(h, "reason", json_string(ended ? i->reason : ""));
	changed |=
	    set_changed(h, "exit_code", ended && i->has_exit ? json_integer(i->exit_code) : json_null());
	changed |= set_changed(
	    h, "ended_at", ended ? time_json(i->finished_at ? i->finished_at : time_now_ns()) : json_null());
	changed |= set_changed(h, "restarts", json_integer(i->restarts));
	if (changed)
		save(i);
}

void history_replaced(struct instance *i)
{
	json_t *h = head(i);

	if (!h)
		return;
	json_object_set_new(h, "end", json_string("replaced"));
	if (json_is_null(json_object_get(h, "ended_at")))
		json_object_set_new(h, "ended_at", time_json(time_now_ns()));
	/* saved by the history_applied() that follows */
}

void history_load(struct instance *i)
{
	_cleanup_free_ char *dir = history_dir(i), *name = NULL, *text = NULL;
	_cleanup_close_ int dfd = -1;
	json_t *doc;

	if (dir && asprintf(&name, "%s.json", i->id) >= 0 &&
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0 &&
	    fs_read_file(dfd, name, HISTORY_FILE_MAX, &text, NULL, NULL) >= 0 &&
	    (doc = json_loads(text, 0, NULL))) {
		if (json_is_array(doc)) {
			json_decref(i->history);
			i->history = doc;
			/* a crash before the file caught up: the spec it runs is the newest entry */
			if (i->spec &&
			    json_integer_value(json_object_get(head(i), "revision")) != i->spec->revision)
				history_applied(i);
			return;
		}
		json_decref(doc);
	}
	history_applied(i); /* an agent from before history: start from the spec it runs */
}

void history_forget(struct instance *i)
{
	_cleanup_free_ char *dir = history_dir(i), *path = NULL;

	(void)json_object_del(dirty.ids, i->id);
	if (dir && asprintf(&path, "%s/%s.json", dir, i->id) >= 0 && unlink(path) < 0 && errno != ENOENT)
		log_warn_errno(-errno, "history: remove '%s', ignoring", path);
}

json_t *history_json(const struct instance *i)
{
	return i->history ? json_incref(i->history) : json_array();
}
