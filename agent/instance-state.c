/* The per-instance record under STATE_DIR/instances: what a restarted agent
 * needs to adopt the instance without touching it. Written atomically. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/instance.h"
#include "agent/probe.h"
#include "agent/lifecycle.h"
#include "agent/source.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"

#define SAVE_RETRY_MS 2000

static struct loop_timer *save_retry; /* one agent per process */

#define RECORD_MAX (4 * 1024 * 1024)

/* FNV-1a, 64 bits: tells a record that would be written again unchanged (an adopted instance's
 * first save) from one that changed; 0 is kept for "unknown". */
static uint64_t record_hash(const char *text, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t k = 0; k < len; k++)
		h = (h ^ (unsigned char)text[k]) * 1099511628211ULL;
	return h ? h : 1;
}

static json_t *record_json(const struct instance *i)
{
	return json_pack(
	    "{s:O, s:O?, s:s, s:s?, s:s, s:s, s:s?, s:i, s:b, s:i, s:b, s:s?, s:I, s:I, s:I, s:I, s:I,"
	    " s:I, s:b, s:b, s:I, s:s?, s:s?}",
	    "spec", i->spec->raw, "next_spec", i->next_spec ? i->next_spec->raw : NULL, "source",
	    source_name(i->source), "source_ref", i->source_ref, "phase", inst_phase_name(i->phase), "reason",
	    i->reason, "message", i->message, "restarts", i->restarts, "has_exit", i->has_exit, "exit_code",
	    i->exit_code, "oom_killed", i->oom_killed, "image_digest", i->image_digest, "started_at",
	    (json_int_t)i->started_at, "finished_at", (json_int_t)i->finished_at, "backoff_ms",
	    (json_int_t)i->backoff_ms, "pid", (json_int_t)i->pid, "shim_pid", (json_int_t)i->shim_pid,
	    "shim_start", (json_int_t)i->shim_start, "removing", i->removing, "force_stop", i->force_stop,
	    "next_try_at", (json_int_t)i->next_try_at, "ip", i->ip, "netns_path", i->netns_path);
}

static void retry_fired(struct loop *l, void *data);

/* The API's set, if its last save failed; false when it fails again. */
static bool save_api_set(struct agent *a)
{
	_cleanup_err_ struct err *e = NULL;

	if (!a->api_set_unsaved)
		return true;
	if (source_set_save(a->api_set, &e) < 0)
		return false;
	a->api_set_unsaved = false;
	log_notice("the API's set is saved again");
	return true;
}

/* Records that could not be written (a full or failing state filesystem) are written again. */
static void retry_fired(struct loop *l, void *data)
{
	struct agent *a = data;

	(void)l;
	save_retry = NULL;
	if (!save_api_set(a))
		save_retry = loop_timer_add(a->loop, SAVE_RETRY_MS, retry_fired, a);
	for (struct instance *i = a->instances; i; i = i->next)
		if (i->save_error)
			agent_status_changed(a, i); /* saves, and publishes state_error gone or still there */
}

static void save_failed(struct instance *i, const struct err *e)
{
	_cleanup_free_ char *msg = NULL;

	if (asprintf(&msg, "cannot save state: %s: %s", err_msg(e),
		     strerror(e && e->errnum ? e->errnum : EIO)) < 0)
		return;
	if (!i->save_error || strcmp(i->save_error, msg) != 0)
		log_err("%s id=%s", msg, i->id); /* once per failure, not on every retry */
	free(i->save_error);
	i->save_error = TAKE_PTR(msg);
	if (!save_retry)
		save_retry = loop_timer_add(i->a->loop, SAVE_RETRY_MS, retry_fired, i->a);
}

void inst_save_retry_api_set(struct agent *a)
{
	a->api_set_unsaved = true;
	if (!save_retry)
		save_retry = loop_timer_add(a->loop, SAVE_RETRY_MS, retry_fired, a);
}

int inst_save(struct instance *i)
{
	return inst_save_flags(i, 0);
}

int inst_sync_record(struct instance *i)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *name = NULL;
	_cleanup_close_ int dfd = -1;
	int r;

	if (!i->spec || i->save_error)
		return 0; /* nothing written, or the retry timer writes it whole (synced) */
	if (asprintf(&name, "%s.json", i->id) < 0)
		return -ENOMEM;
	dfd = open(i->a->instances_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return log_err_errno(-errno, "open '%s'", i->a->instances_dir);
	r = fs_sync_written(dfd, name, &e);
	if (r < 0)
		save_failed(i, e); /* retried as a whole, synced save */
	return r;
}

int inst_save_flags(struct instance *i, int flags)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *text = NULL, *name = NULL;
	_cleanup_close_ int dfd = -1;
	json_t *doc;
	uint64_t h;
	int r;

	if (!i->spec)
		return 0; /* a spec file that did not parse is re-read from the dir, not persisted */
	doc = record_json(i);
	if (doc && i->spec->has_health)
		json_object_set_new(doc, "probes", probe_record_json(i));
	if (!doc)
		return log_err_errno(-ENOMEM, "cannot build the state record id=%s", i->id);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!text || asprintf(&name, "%s.json", i->id) < 0)
		return -ENOMEM;
	/* the same bytes are on disk already: a restarted agent adopting 500 running instances would
	 * otherwise write (and fsync twice) 500 records that did not change */
	h = record_hash(text, strlen(text));
	if (h == i->saved_hash && !i->save_error)
		return 0;
	dfd = open(i->a->instances_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return log_err_errno(-errno, "open '%s'", i->a->instances_dir);
	i->saved_hash = 0; /* a failed write may leave the old record or none */
	r = fs_write_atomic(dfd, name, text, strlen(text), 0600, flags, &e);
	if (r < 0) {
		save_failed(i, e);
		return r;
	}
	/* only a synced record counts as on disk: one written FS_NOSYNC is written again by the next
	 * save even if unchanged (inst_sync_record() may not have followed yet) */
	i->saved_hash = flags & FS_NOSYNC ? 0 : h;
	if (i->save_error) {
		log_notice("state saved again id=%s", i->id);
		(void)save_api_set(
		    i->a); /* there is room again: the set that names it goes too (else the timer) */
	}
	free(i->save_error);
	i->save_error = NULL;
	return r;
}

int inst_delete_record(struct instance *i)
{
	_cleanup_free_ char *path = NULL;

	i->saved_hash = 0;
	if (asprintf(&path, "%s/%s.json", i->a->instances_dir, i->id) < 0)
		return -ENOMEM;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static enum inst_phase phase_from(const char *s)
{
	for (int p = PH_PENDING; p <= PH_FAILED; p++)
		if (s && strcmp(s, inst_phase_name((enum inst_phase)p)) == 0)
			return (enum inst_phase)p;
	return PH_PENDING;
}

/* next_spec's ownership passes to i, also on failure. */
static int load_fields(struct instance *i, json_t *doc, struct spec *next_spec)
{
	const char *phase = NULL, *reason = NULL, *message = NULL, *digest = NULL;
	json_int_t started = 0, finished = 0, backoff = 0, pid = 0, shim_pid = 0, shim_start = 0,
		   next_try = 0;
	int has_exit = 0, oom = 0, removing = 0, force = 0;
	json_error_t jerr;

	if (json_unpack_ex(
		doc, &jerr, 0, "{s?s, s?i, s?b, s?i, s?b, s?I, s?I, s?I, s?I, s?I, s?I, s?b, s?b, s?I}",
		"phase", &phase, "restarts", &i->restarts, "has_exit", &has_exit, "exit_code", &i->exit_code,
		"oom_killed", &oom, "started_at", &started, "finished_at", &finished, "backoff_ms", &backoff,
		"pid", &pid, "shim_pid", &shim_pid, "shim_start", &shim_start, "removing", &removing,
		"force_stop", &force, "next_try_at", &next_try) < 0) {
		spec_free(next_spec);
		return -EINVAL;
	}
	/* optional strings are stored as null when empty */
	reason = json_string_value(json_object_get(doc, "reason"));
	message = json_string_value(json_object_get(doc, "message"));
	digest = json_string_value(json_object_get(doc, "image_digest"));
	if (json_is_string(json_object_get(doc, "ip")))
		i->ip = strdup(json_string_value(json_object_get(doc, "ip")));
	if (json_is_string(json_object_get(doc, "netns_path")))
		i->netns_path = strdup(json_string_value(json_object_get(doc, "netns_path")));
	lc_restore(i, phase_from(phase), reason, message, removing, force, next_spec, backoff, next_try);
	i->image_digest = digest ? strdup(digest) : NULL;
	i->has_exit = has_exit;
	i->oom_killed = oom;
	i->started_at = started;
	i->finished_at = finished;
	i->pid = (pid_t)pid;
	i->shim_pid = (pid_t)shim_pid;
	i->shim_start = (unsigned long long)shim_start;
	return 0;
}

int inst_load(struct agent *a, const char *name, struct instance **ret, struct err **err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int dfd = -1;
	struct instance *i = NULL;
	struct spec *spec = NULL, *next_spec = NULL;
	json_error_t jerr;
	json_t *doc, *next;
	enum inst_source source;
	const char *src;
	size_t len = 0;
	int r;

	dfd = open(a->instances_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set(err, errno, "open '%s'", a->instances_dir);
	r = fs_read_file(dfd, name, RECORD_MAX, &text, &len, err);
	if (r < 0)
		return r;
	doc = json_loads(text, 0, &jerr);
	if (!doc)
		return err_set(err, EINVAL, "'%s' %d:%d: %s", name, jerr.line, jerr.column, jerr.text);
	r = spec_parse(json_object_get(doc, "spec"), &spec, err);
	if (r < 0)
		goto out_doc;
	src = json_string_value(json_object_get(doc, "source"));
	if (source_parse(src, &source) < 0)
		source = SRC_DIR; /* records from before sources had names other than "api" */
	i = inst_new(a, spec->id, source, json_string_value(json_object_get(doc, "source_ref")));
	if (!i) {
		r = err_set(err, ENOMEM, "out of memory");
		goto out_spec;
	}
	i->spec = TAKE_PTR(spec);
	next = json_object_get(doc, "next_spec");
	if (json_is_object(next) && spec_parse(next, &next_spec, NULL) < 0)
		next_spec = NULL;
	if (load_fields(i, doc, TAKE_PTR(next_spec)) < 0) {
		r = err_set(err, EINVAL, "'%s': malformed status fields", name);
		i = inst_free(i);
	} else {
		probe_record_load(i, json_object_get(doc, "probes"));
		i->saved_hash = record_hash(text, len);
	}
out_spec:
	spec_free(spec);
out_doc:
	json_decref(doc);
	if (r < 0)
		return r;
	*ret = i;
	return 0;
}
