#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/admission.h"
#include "agent/agent.h"
#include "agent/instance.h"
#include "agent/lifecycle.h"
#include "agent/source-dir.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"

/* Which id each file produced, so a deleted or renamed file removes the right instance. */
struct file_map {
	char *name;
	char *id;
	struct file_map *next;
};

struct dir_source {
	struct agent *a;
	char *dir;
	int ifd;
	struct file_map *files;
};

static bool is_spec_name(const char *n)
{
	size_t len = strlen(n);

	return n[0] != '.' && len > 5 && strcmp(n + len - 5, ".json") == 0;
}

static struct file_map *map_find(struct dir_source *d, const char *name)
{
	for (struct file_map *m = d->files; m; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static void map_drop(struct dir_source *d, const char *name)
{
	for (struct file_map **pp = &d->files; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0) {
			struct file_map *m = *pp;
			*pp = m->next;
			free(m->name);
			free(m->id);
			free(m);
			return;
		}
}

static int map_set(struct dir_source *d, const char *name, const char *id)
{
	struct file_map *m = map_find(d, name);

	if (!m) {
		m = calloc(1, sizeof(*m));
		if (!m || !(m->name = strdup(name))) {
			free(m);
			return -ENOMEM;
		}
		m->next = d->files;
		d->files = m;
	}
	free(m->id);
	m->id = strdup(id);
	return m->id ? 0 : -ENOMEM;
}

/* The id to show a file that did not parse under: its "id" if readable, else the file's stem. */
static char *fallback_id(const char *name, const char *text)
{
	json_t *doc = json_loads(text ? text : "", 0, NULL);
	const char *id = json_string_value(json_object_get(doc, "id"));
	char *out;

	if (id && spec_id_valid(id))
		out = strdup(id);
	else {
		out = strndup(name, strlen(name) - 5);
		for (char *c = out; c && *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
			      *c == '.' || *c == '_'))
				*c = '-';
	}
	json_decref(doc);
	return out;
}

static void show_invalid(struct dir_source *d, const char *name, const char *text, const struct err *e)
{
	_cleanup_free_ char *id = fallback_id(name, text);
	struct instance *i;

	log_err("assignment file '%s/%s' is invalid: %s field='%s'", d->dir, name, err_msg(e),
		e && e->field ? e->field : "");
	if (!id || !*id)
		return;
	i = agent_find(d->a, id);
	if (i && i->spec) {
		/* a running instance is never disturbed by a broken edit of its file */
		_cleanup_free_ char *msg = NULL;

		log_warn("keeping revision %lld of '%s' until its file is fixed id=%s",
			 (long long)i->spec->revision, id, id);
		if (i->source == SRC_DIR &&
		    asprintf(&msg, "%s is invalid, revision %lld keeps running: %s%s%s%s", name,
			     (long long)i->spec->revision, err_msg(e), e && e->field ? " (field '" : "",
			     e && e->field ? e->field : "", e && e->field ? "')" : "") >= 0)
			inst_set_spec_error(i, msg);
		return;
	}
	if (!i) {
		i = inst_new(d->a, id, SRC_DIR, name);
		if (!i)
			return;
		agent_link(d->a, i);
	}
	if (i->source != SRC_DIR)
		return;
	(void)map_set(d, name, id);
	struct lc_input in = {.ev = LC_EV_INVALID_SPEC,
			      .reason = e && e->errnum == ENOSPC ? ADMISSION_REASON : "InvalidSpec"};
	_cleanup_free_ char *msg = NULL;
	if (e && e->field && *e->field ? asprintf(&msg, "%s: %s (field '%s')", name, err_msg(e), e->field) < 0
				       : asprintf(&msg, "%s: %s", name, err_msg(e)) < 0)
		msg = NULL;
	in.msg = msg ? msg : name;
	lc_run(i, &in);
}

static void remove_file(struct dir_source *d, const char *name)
{
	struct file_map *m = map_find(d, name);
	_cleanup_err_ struct err *e = NULL;

	if (!m)
		return;
	/* only if this file still owns the id (another file may have taken it over) */
	struct instance *i = agent_find(d->a, m->id);
	if (i && i->source == SRC_DIR && i->source_ref && strcmp(i->source_ref, name) == 0 &&
	    agent_remove(d->a, m->id, SRC_DIR, &e) < 0)
		log_err("cannot remove '%s': %s", m->id, err_msg(e));
	map_drop(d, name);
}

static void load_file(struct dir_source *d, const char *name)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int dfd = -1;
	struct spec *spec = NULL;
	enum apply_result res;
	size_t len = 0;
	int r;

	dfd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	r = fs_read_beneath(dfd, name, SPEC_MAX_BYTES, &text, &len, &e);
	if (r == -ENOENT) {
		remove_file(d, name);
		return;
	}
	if (r >= 0)
		r = spec_parse_text(text, len, &spec, &e);
	if (r >= 0 && (r = spec_check_supported(spec, &e)) < 0)
		spec = spec_free(spec);
	if (r < 0) {
		show_invalid(d, name, text, e);
		return;
	}
	struct file_map *m = map_find(d, name);
	if (m && strcmp(m->id, spec->id) != 0)
		remove_file(d, name); /* the file now names another id: the old one goes */
	struct instance *owner = agent_find(d->a, spec->id);
	/* another file that still exists defines this id: first come, first served */
	if (owner && owner->source == SRC_DIR && owner->source_ref && strcmp(owner->source_ref, name) != 0 &&
	    owner->spec && map_find(d, owner->source_ref)) {
		log_err("assignment file '%s/%s' is ignored: id '%s' is already defined by '%s'", d->dir,
			name, spec->id, owner->source_ref);
		spec_free(spec);
		return;
	}
	(void)map_set(d, name, spec->id);
	if (owner && !owner->spec && owner->source == SRC_DIR) {
		free(owner->source_ref);
		owner->source_ref = strdup(name);
	}
	if (owner && owner->source == SRC_DIR)
		inst_set_spec_error(owner, NULL); /* the file parses again */
	if (agent_apply(d->a, spec, SRC_DIR, name, &res, &e) < 0)
		show_invalid(d, name, text, e); /* e.g. a host port another instance publishes */
}

static void on_inotify(struct loop *l, int fd, uint32_t events, void *data)
{
	struct dir_source *d = data;
	char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)] __attribute__((aligned(8)));
	bool overflow = false;
	ssize_t n;

	(void)l;
	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				overflow = true; /* events were lost: only a full rescan knows the dir now */
				continue;
			}
			if (!ev->len || !is_spec_name(ev->name))
				continue;
			if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
				remove_file(d, ev->name);
			else
				load_file(d, ev->name);
		}
	}
	if (overflow) {
		log_warn("inotify queue overflow on '%s', rescanning", d->dir);
		dir_source_rescan(d);
	}
}

/* Files the map knows that the directory no longer has (deleted while events were lost). */
static void drop_vanished(struct dir_source *d)
{
	_cleanup_close_ int dfd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct file_map *m = d->files;

	if (dfd < 0)
		return;
	while (m) {
		struct file_map *next = m->next;
		struct stat st;
		if (fstatat(dfd, m->name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			remove_file(d, m->name); /* frees m */
		m = next;
	}
}

static void scan(struct dir_source *d)
{
	_cleanup_closedir_ DIR *dir = opendir(d->dir);
	struct dirent *de;

	if (!dir)
		return;
	drop_vanished(d);
	while ((de = readdir(dir)))
		if (is_spec_name(de->d_name))
			load_file(d, de->d_name);
	/* files gone while the agent was down: their instances go too */
	for (struct instance *i = d->a->instances, *n; i; i = n) {
		n = i->next;
		if (i->source == SRC_DIR && (!i->source_ref || !map_find(d, i->source_ref))) {
			_cleanup_err_ struct err *e = NULL;
			log_info("assignment file '%s' is gone id=%s", i->source_ref ? i->source_ref : "?",
				 i->id);
			(void)agent_remove(d->a, i->id, SRC_DIR, &e);
		}
	}
}

void dir_source_rescan(struct dir_source *d)
{
	scan(d);
}

int dir_source_start(struct agent *a, const char *dir, struct dir_source **ret)
{
	struct dir_source *d = calloc(1, sizeof(*d));
	int r;

	if (!d || !(d->dir = strdup(dir))) {
		free(d);
		return -ENOMEM;
	}
	d->a = a;
	r = fs_mkdir_p(AT_FDCWD, dir, 0755);
	if (r < 0) {
		dir_source_free(d);
		return log_err_errno(r, "create assignments dir '%s'", dir);
	}
	d->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->ifd < 0 ||
	    inotify_add_watch(d->ifd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE) < 0 ||
	    loop_add_fd(a->loop, d->ifd, EPOLLIN, on_inotify, d) < 0) {
		r = -errno;
		dir_source_free(d);
		return log_err_errno(r, "watch assignments dir '%s'", dir);
	}
	scan(d);
	*ret = d;
	return 0;
}

struct dir_source *dir_source_free(struct dir_source *d)
{
	if (!d)
		return NULL;
	if (d->ifd >= 0) {
		loop_del_fd(d->a->loop, d->ifd);
		close(d->ifd);
	}
	while (d->files)
		map_drop(d, d->files->name);
	free(d->dir);
	free(d);
	return NULL;
}
