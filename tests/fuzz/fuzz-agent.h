#pragma once
/* The agent core as the API and assignments-dir harnesses see it: the functions that would start
 * containers or drover-image are replaced at link time (-Wl,--wrap=NAME makes every call of NAME go
 * to __wrap_NAME, see the Makefile). agent_apply and agent_remove keep a plain instance table;
 * agent_image_run queues the run and fuzz_finish_pendings() ends it (as drover-image would).
 * inotify is an eventfd here: closing a real inotify fd waits for an RCU grace period (tens of
 * ms), and the harnesses wake followers and rescan themselves.
 * Include once, from the harness's .c file. */
#include <sys/eventfd.h>

#include "agent/agent.h"
#include "agent/events.h"
#include "agent/image-jobs.h"
#include "agent/instance.h"
#include "tests/fuzz/fuzz.h"

/* called for each instance agent_apply creates */
static void (*fuzz_on_create)(struct instance *i);

/* drover-image runs waiting to be "finished" by the harness */
struct pending {
	char *cmd;
	image_done_fn done;
	void *data;
	struct pending *next;
};
static struct pending *pendings;

int __wrap_agent_apply(struct agent *a, struct spec *spec, enum inst_source src, const char *ref,
		       enum apply_result *ret, struct err **err);
int __wrap_agent_remove(struct agent *a, const char *id, enum inst_source src, struct err **err);
int __wrap_agent_remove_opt(struct agent *a, const char *id, enum inst_source src, bool force,
			    struct err **err);
int __wrap_agent_image_run(struct agent *a, const char *cmd, char *const *args, image_done_fn done,
			   void *data, struct err **err);
void __wrap_agent_image_forget(struct agent *a, void *data);
enum cg_version __wrap_cg_ctx_version(const struct cg_ctx *c);
int __wrap_inotify_init1(int flags);
int __wrap_inotify_add_watch(int fd, const char *path, uint32_t mask);

int __wrap_agent_apply(struct agent *a, struct spec *spec, enum inst_source src, const char *ref,
		       enum apply_result *ret, struct err **err)
{
	struct instance *i = agent_find(a, spec->id);

	if (i && i->source != src) {
		spec_free(spec);
		return err_set(err, EPERM, "owned by another source");
	}
	if (i) {
		*ret = i->spec && json_equal(i->spec->raw, spec->raw) ? APPLY_UNCHANGED : APPLY_REPLACED;
		spec_free(i->spec);
		i->spec = spec;
		return 0;
	}
	i = inst_new(a, spec->id, src, ref);
	if (!i) {
		spec_free(spec);
		return err_set(err, ENOMEM, "out of memory");
	}
	i->spec = spec;
	i->phase = PH_RUNNING;
	i->image_digest = strdup("sha256:0000000000000000000000000000000000000000000000000000000000000000");
	agent_link(a, i);
	if (fuzz_on_create)
		fuzz_on_create(i);
	events_publish(a, i);
	*ret = APPLY_CREATED;
	return 0;
}

int __wrap_agent_remove(struct agent *a, const char *id, enum inst_source src, struct err **err)
{
	struct instance *i = agent_find(a, id);

	if (!i)
		return err_set(err, ENOENT, "no instance '%s'", id);
	if (i->source != src)
		return err_set(err, EPERM, "'%s' belongs to another source", id);
	events_publish_removed(a, i);
	agent_unlink(a, i);
	inst_free(i);
	return 0;
}

int __wrap_agent_remove_opt(struct agent *a, const char *id, enum inst_source src, bool force,
			    struct err **err)
{
	(void)force;
	return __wrap_agent_remove(a, id, src, err);
}

int __wrap_agent_image_run(struct agent *a, const char *cmd, char *const *args, image_done_fn done,
			   void *data, struct err **err)
{
	struct pending *p = calloc(1, sizeof(*p));

	(void)a;
	(void)args;
	if (!p || !(p->cmd = strdup(cmd))) {
		free(p);
		return err_set(err, ENOMEM, "out of memory");
	}
	p->done = done;
	p->data = data;
	p->next = pendings;
	pendings = p;
	return 0;
}

void __wrap_agent_image_forget(struct agent *a, void *data)
{
	(void)a;
	for (struct pending **pp = &pendings; *pp;) {
		struct pending *p = *pp;
		if (p->data == data) {
			*pp = p->next;
			free(p->cmd);
			free(p);
		} else {
			pp = &p->next;
		}
	}
}

int __wrap_inotify_init1(int flags)
{
	(void)flags;
	return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int __wrap_inotify_add_watch(int fd, const char *path, uint32_t mask)
{
	(void)fd;
	(void)path;
	(void)mask;
	return 1;
}

enum cg_version __wrap_cg_ctx_version(const struct cg_ctx *c)
{
	(void)c;
	return CG_V1;
}

/* Ends every pending run: "ls" lists one image, "resolve" finds one, the rest fail. */
static inline void fuzz_finish_pendings(void)
{
	static char *dirs[] = {(char *)"/layers/aaaa"};
	struct img_image img = {.manifest_digest = (char *)"sha256:00",
				.config_digest = (char *)"sha256:11",
				.n_layers = 1,
				.layer_dirs = dirs};

	while (pendings) {
		struct pending *p = pendings;
		struct err *e = NULL;
		pendings = p->next;
		if (strcmp(p->cmd, "ls") == 0)
			p->done(p->data, NULL, "[{\"digest\":\"sha256:00\",\"refs\":[\"x\"]}]", NULL);
		else if (strcmp(p->cmd, "resolve") == 0)
			p->done(p->data, &img, NULL, NULL);
		else {
			err_set(&e, EINVAL, "'%s' failed in the fuzz harness", p->cmd);
			p->done(p->data, NULL, NULL, e);
			err_free(&e);
		}
		free(p->cmd);
		free(p);
	}
}

/* Frees every instance and the event ring: the next input starts from an empty agent. */
static inline void fuzz_agent_reset(struct agent *a)
{
	while (a->instances) {
		struct instance *i = a->instances;
		agent_unlink(a, i);
		inst_free(i);
	}
	events_close();
}
