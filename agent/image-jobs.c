/* Image resolutions in flight: one drover-image process per reference, however
 * many instances wait for it, watched through its pidfd in the agent's loop, so
 * a long unpack never stalls the API or other instances. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/image-jobs.h"
#include "agent/instance-internal.h"
#include "common/log.h"

struct image_waiter {
	struct instance *i;
	struct image_waiter *next;
};

struct image_pending {
	struct agent *a;
	struct img_job *job;
	struct image_waiter *waiters;
	struct image_pending *next;
};

static void unlink_pending(struct agent *a, struct image_pending *p)
{
	for (struct image_pending **pp = &a->image_jobs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			return;
		}
}

static void on_job_done(struct loop *l, int fd, uint32_t events, void *data)
{
	struct image_pending *p = data;
	_cleanup_err_ struct err *e = NULL;
	struct img_image *img = NULL;

	(void)events;
	loop_del_fd(l, fd);
	unlink_pending(p->a, p);
	if (img_job_finish(p->job, &img, &e) < 0)
		log_err("image '%s': %s", img_job_ref(p->job), err_msg(e));
	/* each waiter may end (and free) its instance: walk a list nobody else can change now */
	for (struct image_waiter *w = p->waiters, *n; w; w = n) {
		n = w->next;
		inst_image_ready(w->i, img, e);
		free(w);
	}
	img_image_free(img);
	img_job_free(p->job);
	free(p);
}

static struct image_pending *find_pending(struct agent *a, const char *ref)
{
	for (struct image_pending *p = a->image_jobs; p; p = p->next)
		if (strcmp(img_job_ref(p->job), ref) == 0)
			return p;
	return NULL;
}

static int add_waiter(struct image_pending *p, struct instance *i)
{
	struct image_waiter *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->i = i;
	w->next = p->waiters;
	p->waiters = w;
	return 0;
}

/* Returns 1 when the image was known (img set, nothing pending), 0 when i now waits, <0 on error. */
int agent_image_request(struct agent *a, struct instance *i, struct img_image **ret_img, struct err **err)
{
	const char *ref = i->spec->image;
	struct image_pending *p;
	int r;

	if (img_resolve_cached(ref, ret_img))
		return 1;
	p = find_pending(a, ref);
	if (p)
		return add_waiter(p, i) < 0 ? err_set(err, ENOMEM, "out of memory") : 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(err, ENOMEM, "out of memory");
	p->a = a;
	r = img_job_start(a->image_tool, a->images_dir, ref, &p->job, err);
	if (r >= 0 && (r = loop_add_fd(a->loop, img_job_fd(p->job), EPOLLIN, on_job_done, p)) < 0)
		err_set(err, -r, "watch drover-image");
	if (r >= 0 && add_waiter(p, i) < 0)
		r = err_set(err, ENOMEM, "out of memory");
	if (r < 0) {
		if (p->job)
			loop_del_fd(a->loop, img_job_fd(p->job));
		img_job_free(p->job);
		free(p);
		return r;
	}
	p->next = a->image_jobs;
	a->image_jobs = p;
	log_debug("resolving image '%s' id=%s", ref, i->id);
	return 0;
}

void agent_image_forget(struct agent *a, struct instance *i)
{
	for (struct image_pending *p = a->image_jobs; p; p = p->next)
		for (struct image_waiter **pp = &p->waiters; *pp;) {
			if ((*pp)->i == i) {
				struct image_waiter *w = *pp;
				*pp = w->next;
				free(w);
			} else {
				pp = &(*pp)->next;
			}
		}
}

void agent_image_jobs_free(struct agent *a)
{
	while (a->image_jobs) {
		struct image_pending *p = a->image_jobs;
		a->image_jobs = p->next;
		loop_del_fd(a->loop, img_job_fd(p->job));
		while (p->waiters) {
			struct image_waiter *w = p->waiters;
			p->waiters = w->next;
			free(w);
		}
		img_job_free(p->job); /* the tool finishes on its own; its layers commit atomically */
		free(p);
	}
}
