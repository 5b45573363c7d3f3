/* Sources and their desired sets: one reconcile path for all of them (see source.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/admission.h"
#include "agent/agent.h"
#include "agent/instance.h"
#include "agent/source.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"

#define SET_FILE_MAX (64 * 1024 * 1024)

static const struct {
	const char *name;
	const char *desc;
} sources[] = {
    [SRC_DIR] = {"dir", "the assignments dir"},
    [SRC_API] = {"api", "the API"},
    [SRC_CP] = {"control-plane", "the control plane"},
    [SRC_ETCD] = {"etcd", "etcd"},
};

const char *source_name(enum inst_source s)
{
	return (size_t)s < ELEMENTSOF(sources) ? sources[s].name : "?";
}

const char *source_desc(enum inst_source s)
{
	return (size_t)s < ELEMENTSOF(sources) ? sources[s].desc : "an unknown source";
}

int source_parse(const char *name, enum inst_source *ret)
{
	for (size_t k = 0; name && k < ELEMENTSOF(sources); k++)
		if (strcmp(sources[k].name, name) == 0) {
			*ret = (enum inst_source)k;
			return 0;
		}
	return -EINVAL;
}

static enum set_op plan_one(enum inst_source src, const struct set_have *have, size_t n_have,
			    const struct set_want *want, size_t j)
{
	const struct set_want *w = &want[j];

	if (!w->valid)
		return SET_INVALID;
	for (size_t k = 0; k < j; k++)
		if (want[k].valid && strcmp(want[k].id, w->id) == 0)
			return SET_DUPLICATE;
	for (size_t h = 0; h < n_have; h++) {
		if (strcmp(have[h].id, w->id) != 0)
			continue;
		if (have[h].src != src)
			return SET_FOREIGN;
		if (!have[h].has_spec)
			return SET_REPLACE;
		if (w->revision < have[h].revision)
			return SET_STALE;
		if (w->revision == have[h].revision && !have[h].removing)
			return SET_UNCHANGED;
		return SET_REPLACE;
	}
	return SET_CREATE;
}

static bool named(const struct set_want *want, size_t n_want, const char *id)
{
	for (size_t j = 0; j < n_want; j++)
		if (want[j].id && strcmp(want[j].id, id) == 0)
			return true;
	return false;
}

int source_plan(enum inst_source src, const struct set_have *have, size_t n_have, const struct set_want *want,
		size_t n_want, struct set_step **ret, size_t *ret_n)
{
	struct set_step *steps = calloc(n_want + n_have + 1, sizeof(*steps));
	size_t n = 0;

	if (!steps)
		return -ENOMEM;
	for (size_t j = 0; j < n_want; j++)
		steps[n++] = (struct set_step){plan_one(src, have, n_have, want, j), j};
	/* an instance named by an item, even an invalid one, is never removed by the set */
	for (size_t h = 0; h < n_have; h++)
		if (have[h].src == src && !have[h].removing && !named(want, n_want, have[h].id))
			steps[n++] = (struct set_step){SET_REMOVE, h};
	*ret = steps;
	*ret_n = n;
	return 0;
}

/* ---- the held set ---- */

static char *set_file_name(enum inst_source src)
{
	char *name = NULL;

	return asprintf(&name, "%s.json", source_name(src)) < 0 ? NULL : name;
}

static int set_load(struct source_set *s, int dfd, const char *name, struct err **err)
{
	_cleanup_free_ char *text = NULL;
	json_int_t rev = 0;
	json_error_t jerr;
	json_t *doc, *inst = NULL;
	int r;

	r = fs_read_file(dfd, name, SET_FILE_MAX, &text, NULL, err);
	if (r < 0)
		return r;
	doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return err_set(err, EINVAL, "'%s' %d:%d: %s", name, jerr.line, jerr.column, jerr.text);
	if (json_unpack_ex(doc, &jerr, 0, "{s:I, s:o}", "revision", &rev, "instances", &inst) < 0 ||
	    !json_is_array(inst)) {
		json_decref(doc);
		return err_set(err, EINVAL, "'%s': no revision and instances array", name);
	}
	s->revision = rev;
	json_decref(s->instances);
	s->instances = json_incref(inst);
	json_decref(doc);
	return 1;
}

int source_set_open(struct agent *a, enum inst_source src, struct source_set **ret, struct err **err)
{
	_cleanup_free_ char *name = set_file_name(src);
	_cleanup_close_ int dfd = -1;
	struct source_set *s = calloc(1, sizeof(*s));
	int r;

	if (!s || !name || !(s->dir = fs_path_join(a->cfg->state_dir, "sources")) ||
	    !(s->instances = json_array()) || !(s->refused = json_array())) {
		source_set_free(s);
		return err_set(err, ENOMEM, "out of memory");
	}
	s->src = src;
	r = fs_mkdir_p(AT_FDCWD, s->dir, 0700);
	if (r >= 0 && (dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = -errno;
	if (r < 0) {
		err_set(err, -r, "create '%s'", s->dir);
		source_set_free(s);
		return r;
	}
	r = set_load(s, dfd, name, err);
	if (r == -ENOENT) {
		err_free(err);
		r = 0;
	}
	if (r < 0) {
		source_set_free(s);
		return err_wrap(err, "the held set of %s", source_desc(src));
	}
	*ret = s;
	return r;
}

struct source_set *source_set_free(struct source_set *s)
{
	if (!s)
		return NULL;
	json_decref(s->instances);
	json_decref(s->refused);
	free(s->dir);
	free(s);
	return NULL;
}

json_t *source_set_json(const struct source_set *s)
{
	return json_pack("{s:I, s:O}", "revision", (json_int_t)s->revision, "instances", s->instances);
}

int source_set_save(const struct source_set *s, struct err **err)
{
	_cleanup_free_ char *name = set_file_name(s->src), *text = NULL;
	_cleanup_close_ int dfd = -1;
	json_t *doc = source_set_json(s);

	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!text || !name)
		return err_set(err, ENOMEM, "out of memory");
	dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set(err, errno, "open '%s'", s->dir);
	return fs_write_atomic(dfd, name, text, strlen(text), 0600, 0, err);
}

static ssize_t set_index(const struct source_set *s, const char *id)
{
	size_t k;
	json_t *v;

	json_array_foreach (s->instances, k, v) {
		const char *vid = json_string_value(json_object_get(v, "id"));
		if (vid && strcmp(vid, id) == 0)
			return (ssize_t)k;
	}
	return -1;
}

int source_set_put(struct source_set *s, json_t *spec_raw, struct err **err)
{
	const char *id = json_string_value(json_object_get(spec_raw, "id"));
	ssize_t k = id ? set_index(s, id) : -1;
	int r;

	if (!id)
		return err_set(err, EINVAL, "a spec without an id");
	r = k >= 0 ? json_array_set(s->instances, (size_t)k, spec_raw)
		   : json_array_append(s->instances, spec_raw);
	if (r < 0)
		return err_set(err, ENOMEM, "out of memory");
	return source_set_save(s, err);
}

int source_set_drop(struct source_set *s, const char *id, struct err **err)
{
	ssize_t k = set_index(s, id);

	if (k < 0)
		return 0;
	(void)json_array_remove(s->instances, (size_t)k); /* k is in range */
	return source_set_save(s, err);
}

/* ---- checking and applying a whole set ---- */

void set_check_done(struct set_check *c)
{
	for (size_t k = 0; c->items && k < c->n; k++) {
		spec_free(c->items[k].spec);
		free(c->items[k].field);
		free(c->items[k].error);
	}
	free(c->items);
	if (c->remove)
		for (char **p = c->remove; *p; p++)
			free(*p);
	free(c->remove);
	memset(c, 0, sizeof(*c));
}

static void refuse(struct set_check *c, size_t k, int errnum, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void refuse(struct set_check *c, size_t k, int errnum, const char *field, const char *fmt, ...)
{
	struct set_item *it = &c->items[k];
	va_list ap;

	it->errnum = errnum;
	if (asprintf(&it->field, "instances[%zu]%s%s", k, field && *field ? "." : "", field ? field : "") < 0)
		it->field = NULL;
	va_start(ap, fmt);
	if (vasprintf(&it->error, fmt, ap) < 0) /* the arguments may point into it->spec: free it after */
		it->error = NULL;
	va_end(ap);
	it->spec = spec_free(it->spec);
	if (c->n_refused++ == 0)
		c->first_refused = k;
}

/* Parses every item; a spec that does not validate is refused with the field at fault. */
static void parse_items(json_t *instances, struct set_check *c, struct set_want *want)
{
	size_t k;
	json_t *v;

	json_array_foreach (instances, k, v) {
		_cleanup_err_ struct err *e = NULL;
		const char *id = json_string_value(json_object_get(v, "id"));
		int r = spec_parse(v, &c->items[k].spec, &e);

		if (r >= 0 && (r = spec_check_supported(c->items[k].spec, &e)) < 0)
			c->items[k].spec = spec_free(c->items[k].spec);
		want[k].valid = r >= 0;
		want[k].id = r >= 0 ? c->items[k].spec->id : id && spec_id_valid(id) ? id : NULL;
		want[k].revision = r >= 0 ? c->items[k].spec->revision : 0;
		c->items[k].op = SET_INVALID;
		if (r < 0)
			refuse(c, k, e ? e->errnum : EINVAL, e ? e->field : "", "%s", err_msg(e));
	}
}

static int collect_have(struct agent *a, struct set_have **ret, size_t *ret_n)
{
	size_t n = 0;

	for (struct instance *i = a->instances; i; i = i->next)
		n++;
	*ret = calloc(n + 1, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	n = 0;
	for (struct instance *i = a->instances; i; i = i->next) {
		const struct spec *cur = i->next_spec ? i->next_spec : i->spec;

		if (i->unreadable_record)
			continue; /* no source knows it is theirs: none removes it; a spec for its id takes it
				     over */
		(*ret)[n++] =
		    (struct set_have){i->id, i->source, cur ? cur->revision : 0, cur != NULL, i->removing};
	}
	*ret_n = n;
	return 0;
}

static void judge(struct agent *a, struct set_check *c, size_t k, enum set_op op)
{
	struct set_item *it = &c->items[k];
	_cleanup_err_ struct err *e = NULL;
	struct instance *i;

	if (op == SET_INVALID)
		return;
	it->op = op;
	i = agent_find(a, it->spec->id);
	if (op == SET_FOREIGN)
		refuse(c, k, EEXIST, "id", "instance '%s' already exists, created by %s", it->spec->id,
		       source_desc(i ? i->source : SRC_DIR));
	else if (op == SET_DUPLICATE)
		refuse(c, k, EINVAL, "id", "instance '%s' appears twice in the set", it->spec->id);
	else if (op == SET_STALE && i && (i->next_spec || i->spec))
		refuse(c, k, ESTALE, "revision", "revision %lld of '%s' is older than the current %lld",
		       (long long)it->spec->revision, it->spec->id,
		       (long long)(i->next_spec ? i->next_spec : i->spec)->revision);
	else if (op != SET_UNCHANGED && agent_check_ports(a, it->spec, &e) < 0)
		refuse(c, k, EADDRINUSE, e && e->field ? e->field : "", "%s", err_msg(e));
}

int agent_set_check(struct agent *a, enum inst_source src, json_t *instances, struct set_check *c,
		    struct err **err)
{
	_cleanup_free_ struct set_want *want = NULL;
	_cleanup_free_ struct set_have *have = NULL;
	_cleanup_free_ struct set_step *steps = NULL;
	size_t n = json_array_size(instances), n_have = 0, n_steps = 0, n_rm = 0;

	memset(c, 0, sizeof(*c));
	if (!json_is_array(instances))
		return err_field(err, "instances", EINVAL, "'instances' must be an array of specs");
	c->n = n;
	c->items = calloc(n + 1, sizeof(*c->items));
	want = calloc(n + 1, sizeof(*want));
	if (!c->items || !want || collect_have(a, &have, &n_have) < 0)
		goto out_nomem;
	parse_items(instances, c, want);
	if (source_plan(src, have, n_have, want, n, &steps, &n_steps) < 0)
		goto out_nomem;
	c->remove = calloc(n_steps + 1, sizeof(*c->remove));
	if (!c->remove)
		goto out_nomem;
	for (size_t s = 0; s < n_steps; s++) {
		if (steps[s].op != SET_REMOVE)
			judge(a, c, steps[s].index, steps[s].op);
		else if (!(c->remove[n_rm++] = strdup(have[steps[s].index].id)))
			goto out_nomem;
	}
	return 0;
out_nomem:
	set_check_done(c);
	return err_set(err, ENOMEM, "out of memory");
}

static json_t *refused_status(struct agent *a, const struct source_set *s, json_t *raw,
			      const struct set_item *it)
{
	const char *id = json_string_value(json_object_get(raw, "id"));
	json_t *rev = json_object_get(raw, "revision");

	return json_pack("{s:s?, s:I, s:s, s:s, s:s, s:s++, s:s, s:s}", "id", id, "revision",
			 json_is_integer(rev) ? json_integer_value(rev) : (json_int_t)0, "node", a->node_name,
			 "phase", "failed", "reason", it->errnum == ENOSPC ? ADMISSION_REASON : "InvalidSpec",
			 "message", it->field ? it->field : "", ": ", it->error ? it->error : "refused",
			 "source", source_name(s->src), "field", it->field ? it->field : "");
}

/* Applies one checked item; a refusal at apply time (admission: the node has no room for it)
 * becomes a refusal of the set like the ones found by the check. */
static int apply_item(struct agent *a, struct source_set *s, struct set_check *c, size_t k, json_t *sum)
{
	_cleanup_err_ struct err *e = NULL;
	struct set_item *it = &c->items[k];
	const char *id = it->spec->id;
	enum apply_result res = APPLY_UNCHANGED;
	_cleanup_free_ char *idc = strdup(id);

	if (agent_apply(a, TAKE_PTR(it->spec), s->src, NULL, &res, &e) < 0) {
		refuse(c, k, e ? e->errnum : EINVAL, e && e->field ? e->field : "", "%s", err_msg(e));
		return -1;
	}
	json_array_append_new(json_object_get(sum, res == APPLY_CREATED	   ? "created"
						   : res == APPLY_REPLACED ? "replaced"
									   : "unchanged"),
			      json_string(idc ? idc : ""));
	return 0;
}

json_t *agent_set_sync(struct agent *a, struct source_set *s, struct set_check *c)
{
	json_t *sum = json_pack("{s:[], s:[], s:[], s:[], s:[]}", "created", "replaced", "unchanged",
				"removed", "refused");

	json_array_clear(s->refused);
	for (size_t k = 0; sum && k < c->n; k++) {
		struct set_item *it = &c->items[k];
		if (it->spec && apply_item(a, s, c, k, sum) >= 0)
			continue;
		log_err("%s refused %s: %s", source_desc(s->src), it->field ? it->field : "an instance",
			it->error ? it->error : "invalid");
		json_array_append_new(s->refused, refused_status(a, s, json_array_get(s->instances, k), it));
		json_array_append_new(
		    json_object_get(sum, "refused"),
		    json_pack("{s:s?, s:s}", "field", it->field, "error", it->error ? it->error : ""));
	}
	for (char **id = c->remove; sum && id && *id; id++) {
		_cleanup_err_ struct err *e = NULL;
		if (agent_remove(a, *id, s->src, &e) < 0)
			log_err("%s: cannot remove '%s': %s", source_desc(s->src), *id, err_msg(e));
		else
			json_array_append_new(json_object_get(sum, "removed"), json_string(*id));
	}
	return sum;
}

/* The API's instances as a set (an agent from before pushed sets existed). */
static int api_set_from_instances(struct agent *a, struct source_set *s, struct err **err)
{
	for (struct instance *i = a->instances; i; i = i->next) {
		const struct spec *cur = i->next_spec ? i->next_spec : i->spec;
		if (i->source == SRC_API && cur && !i->removing &&
		    json_array_append(s->instances, cur->raw) < 0)
			return err_set(err, ENOMEM, "out of memory");
	}
	return source_set_save(s, err);
}

/* Converges to a held set loaded at start (an interrupted push or pull finishes here). */
int agent_set_converge(struct agent *a, struct source_set *s, struct err **err)
{
	struct set_check c;
	json_t *sum;
	int r;

	r = agent_set_check(a, s->src, s->instances, &c, err);
	if (r < 0)
		return r;
	sum = agent_set_sync(a, s, &c);
	set_check_done(&c);
	json_decref(sum);
	return 0;
}

int agent_sources_start(struct agent *a)
{
	_cleanup_err_ struct err *e = NULL;
	int r;

	r = source_set_open(a, SRC_API, &a->api_set, &e);
	if (r == 0)
		r = api_set_from_instances(a, a->api_set, &e);
	else if (r > 0)
		r = agent_set_converge(a, a->api_set, &e);
	if (r < 0)
		return log_err_errno(r, "pushed set: %s", err_msg(e));
	return 0;
}
