/* drover-image runs in flight: one process per (command, reference) however many
 * instances or API requests wait for it, watched through its pidfd in the agent's
 * loop, so a long pull or unpack never stalls the API or other instances. A
 * resolve reports its progress on a pipe; waiting instances show it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/image-jobs.h"
#include "agent/instance-internal.h"
#include "common/cleanup.h"
#include "common/crash.h"
#include "common/log.h"

struct image_waiter {
	image_done_fn done;
	void *data;
	struct image_waiter *next;
};

struct image_pending {
	struct agent *a;
	char *cmd;
	struct img_job *job;
	int progress_fd; /* read end of the resolve's progress pipe, or -1 */
	char progress_buf[256];
	size_t progress_len;
	int64_t bytes_done, bytes_total;
	struct image_waiter *waiters;
	struct loop_timer *deadline; /* --image-pull-timeout */
	bool timed_out;
	bool cancelled; /* killed because nobody waits: new requests start a new run */
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

static void close_progress(struct image_pending *p)
{
	if (p->progress_fd < 0)
		return;
	loop_del_fd(p->a->loop, p->progress_fd);
	close(p->progress_fd);
	p->progress_fd = -1;
}

static void pending_free(struct image_pending *p)
{
	if (p->deadline)
		loop_timer_cancel(p->a->loop, p->deadline);
	close_progress(p);
	while (p->waiters) {
		struct image_waiter *w = p->waiters;
		p->waiters = w->next;
		free(w);
	}
	img_job_free(p->job);
	free(p->cmd);
	free(p);
}

static void on_job_done(struct loop *l, int fd, uint32_t events, void *data)
{
	struct image_pending *p = data;
	_cleanup_err_ struct err *e = NULL;
	struct img_image *img = NULL;
	char *out = NULL;
	bool image = strcmp(p->cmd, "resolve") == 0 || strcmp(p->cmd, "import") == 0;
	int r;

	(void)events;
	loop_del_fd(l, fd);
	unlink_pending(p->a, p);
	close_progress(p);
	r = image ? img_job_finish(p->job, &img, &e) : img_job_output(p->job, &out, &e);
	if (r < 0 && p->timed_out) {
		err_free(&e);
		r = err_set(&e, ETIMEDOUT,
			    "drover-image %s '%s' did not finish within %llds (--image-pull-timeout), killed",
			    p->cmd, img_job_ref(p->job),
			    (long long)(p->a->cfg->image_pull_timeout_ms / 1000));
	}
	if (r < 0)
		log_err("drover-image %s '%s': %s", p->cmd, img_job_ref(p->job), err_msg(e));
	/* each waiter may end (and free) its instance: walk a list nobody else can change now */
	for (struct image_waiter *w = p->waiters, *n; w; w = n) {
		n = w->next;
		w->done(w->data, img, out, r < 0 ? e : NULL);
		free(w);
	}
	p->waiters = NULL;
	img_image_free(img);
	free(out);
	if (r >= 0 && strcmp(p->cmd, "resolve") == 0)
		agent_image_gc(p->a);
	pending_free(p);
}

/* "progress DONE TOTAL" lines from the tool: kept for the status of whoever waits. */
static void on_progress(struct loop *l, int fd, uint32_t events, void *data)
{
	struct image_pending *p = data;
	ssize_t n;
	char *nl;

	(void)l;
	(void)events;
	n = read(fd, p->progress_buf + p->progress_len, sizeof(p->progress_buf) - 1 - p->progress_len);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			close_progress(p);
		return;
	}
	p->progress_len += (size_t)n;
	p->progress_buf[p->progress_len] = '\0';
	while ((nl = strchr(p->progress_buf, '\n'))) {
		long long done, total;
		*nl = '\0';
		// NOLINTNEXTLINE(cert-err34-c): a hint only
		if (sscanf(p->progress_buf, "progress %lld %lld", &done, &total) == 2) {
			p->bytes_done = done;
			p->bytes_total = total;
			api_wake(p->a->api); /* streamed pulls show it */
		}
		memmove(p->progress_buf, nl + 1, strlen(nl + 1) + 1);
		p->progress_len = strlen(p->progress_buf);
	}
	if (p->progress_len == sizeof(p->progress_buf) - 1)
		p->progress_len = 0; /* not a progress line: drop it */
}

static struct image_pending *find_pending(struct agent *a, const char *cmd, const char *key)
{
	for (struct image_pending *p = a->image_jobs; p; p = p->next)
		if (!p->cancelled && strcmp(p->cmd, cmd) == 0 && strcmp(img_job_ref(p->job), key) == 0)
			return p;
	return NULL;
}

static void deadline_passed(struct loop *l, void *data)
{
	struct image_pending *p = data;

	(void)l;
	p->deadline = NULL;
	p->timed_out = true;
	log_warn("drover-image %s '%s' passed --image-pull-timeout, killing it", p->cmd, img_job_ref(p->job));
	img_job_kill(p->job); /* its pidfd turns readable: on_job_done reports to the waiters */
}

static int add_waiter(struct image_pending *p, image_done_fn done, void *data)
{
	struct image_waiter *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->done = done;
	w->data = data;
	w->next = p->waiters;
	p->waiters = w;
	return 0;
}

static int start_pending(struct agent *a, const char *cmd, char *const *args, struct image_pending **ret,
			 struct err **err)
{
	struct image_pending *p = calloc(1, sizeof(*p));
	const struct agent_config *c = a->cfg;
	struct img_job_opts o = {.auth_file = c->registry_auth,
				 .ca_file = c->registry_ca,
				 .insecure = c->insecure_registry,
				 .parallel = (int)c->pull_parallel,
				 .progress_fd = -1,
				 .layout_roots = c->image_layout_root,
				 .limits = true,
				 .max_size = (uint64_t)c->image_max_size,
				 .max_layer_size = (uint64_t)c->image_max_layer_size,
				 .max_unpacked = (uint64_t)c->image_max_unpacked,
				 .max_entries = (uint64_t)c->image_max_entries,
				 .min_free = (uint64_t)c->image_min_free,
				 .low_speed_limit = (uint64_t)c->image_pull_low_speed,
				 .low_speed_time_s =
				     (uint64_t)(c->image_pull_low_speed_time_ms + 999) / 1000};
	int pfd[2] = {-1, -1}, r;

	if (!p || !(p->cmd = strdup(cmd))) {
		free(p);
		return err_set(err, ENOMEM, "out of memory");
	}
	p->a = a;
	p->progress_fd = -1;
	if (strcmp(cmd, "resolve") == 0 && pipe2(pfd, O_CLOEXEC | O_NONBLOCK) == 0)
		o.progress_fd = pfd[1];
	r = img_job_start(a->image_tool, a->images_dir, cmd, args, &o, &p->job, err);
	if (pfd[1] >= 0)
		close(pfd[1]); /* the tool holds the write end now */
	p->progress_fd = pfd[0];
	if (r >= 0 && (r = loop_add_fd(a->loop, img_job_fd(p->job), EPOLLIN, on_job_done, p)) < 0)
		err_set(err, -r, "watch drover-image");
	if (r >= 0 && p->progress_fd >= 0 &&
	    loop_add_fd(a->loop, p->progress_fd, EPOLLIN, on_progress, p) < 0) {
		close(p->progress_fd); /* progress is optional */
		p->progress_fd = -1;
	}
	if (r < 0) {
		if (p->job)
			loop_del_fd(a->loop, img_job_fd(p->job));
		pending_free(p);
		return r;
	}
	if (c->image_pull_timeout_ms > 0)
		p->deadline = loop_timer_add(a->loop, c->image_pull_timeout_ms, deadline_passed, p);
	p->next = a->image_jobs;
	a->image_jobs = p;
	*ret = p;
	return 0;
}

int agent_image_run(struct agent *a, const char *cmd, char *const *args, image_done_fn done, void *data,
		    struct err **err)
{
	struct image_pending *p = args && args[0] ? find_pending(a, cmd, args[0]) : NULL;
	int r;

	if (!p) {
		r = start_pending(a, cmd, args, &p, err);
		if (r < 0 || !p)
			return r < 0 ? r : -EIO;
	}
	if (add_waiter(p, done, data) < 0)
		return err_set(err, ENOMEM, "out of memory");
	return 0;
}

static void instance_done(void *data, const struct img_image *img, const char *out, const struct err *e)
{
	(void)out;
	inst_image_ready(data, img, e);
}

int agent_image_request(struct agent *a, struct instance *i, struct img_image **ret_img, struct err **err)
{
	char *args[] = {i->spec->image, NULL};
	int r;

	img_resolve_cache_ttl(a->cfg->image_tag_ttl_ms);
	if (img_resolve_cached(i->spec->image, ret_img))
		return 1;
	r = agent_image_run(a, "resolve", args, instance_done, i, err);
	if (r < 0)
		return r;
	log_debug("resolving image '%s' id=%s", i->spec->image, i->id);
	crash_point("pull"); /* test hook: the agent dies during a pull */
	return 0;
}

bool agent_image_progress(struct agent *a, const char *ref, int64_t *ret_done, int64_t *ret_total)
{
	struct image_pending *p = find_pending(a, "resolve", ref);

	if (!p || p->bytes_total <= 0)
		return false;
	*ret_done = p->bytes_done;
	*ret_total = p->bytes_total;
	return true;
}

/* Drops data's waiters from p; true if it had any. */
static bool drop_waiters(struct image_pending *p, void *data)
{
	bool found = false;

	for (struct image_waiter **pp = &p->waiters; *pp;) {
		if ((*pp)->data == data) {
			struct image_waiter *w = *pp;
			*pp = w->next;
			free(w);
			found = true;
		} else {
			pp = &(*pp)->next;
		}
	}
	return found;
}

void agent_image_forget(struct agent *a, void *data)
{
	for (struct image_pending *p = a->image_jobs; p; p = p->next)
		(void)drop_waiters(p, data); /* whether it waited here does not matter */
}

void agent_image_cancel(struct agent *a, void *data)
{
	for (struct image_pending *p = a->image_jobs; p; p = p->next)
		if (drop_waiters(p, data) && !p->waiters && !p->cancelled && strcmp(p->cmd, "resolve") == 0) {
			p->cancelled = true; /* on_job_done frees it once the tool is gone */
			log_info("nobody waits for the pull of '%s' any more: killing it",
				 img_job_ref(p->job));
			img_job_kill(p->job);
		}
}

void agent_image_jobs_free(struct agent *a)
{
	while (a->image_jobs) {
		struct image_pending *p = a->image_jobs;
		a->image_jobs = p->next;
		loop_del_fd(a->loop, img_job_fd(p->job));
		pending_free(p); /* the tool finishes on its own; its layers commit atomically */
	}
}

static void gc_done(void *data, const struct img_image *img, const char *out, const struct err *e)
{
	(void)data;
	(void)img;
	if (e)
		log_err("image garbage collection: %s", err_msg(e));
	else
		log_info("image garbage collection: %s", out ? out : "done");
}

/* Past --image-gc-high percent of the store's filesystem, images no instance uses go, least
 * recently used first, until the filesystem is down to --image-gc-low percent. */
void agent_image_gc(struct agent *a)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char **args = NULL;
	struct statvfs st;
	size_t n = 0, cap = 4;
	char low[16];
	double used;

	if (statvfs(a->images_dir, &st) < 0 || st.f_blocks == 0)
		return;
	used = 100.0 * (double)(st.f_blocks - st.f_bavail) / (double)st.f_blocks;
	if (used <= (double)a->cfg->image_gc_high)
		return;
	for (struct image_pending *p = a->image_jobs; p; p = p->next)
		if (strcmp(p->cmd, "prune") == 0)
			return; /* one at a time */
	for (struct instance *i = a->instances; i; i = i->next)
		cap += 2;
	args = calloc(cap, sizeof(char *));
	if (!args)
		return;
	/* least recently used first, down to the low mark */
	snprintf(low, sizeof(low), "%lld", (long long)a->cfg->image_gc_low);
	args[n++] = (char *)"--until-below";
	args[n++] = low;
	for (struct instance *i = a->instances; i; i = i->next)
		if (i->image_digest) {
			args[n++] = (char *)"--keep";
			args[n++] = i->image_digest;
		}
	log_notice("image store at %.0f%% of its filesystem (high mark %lld%%): removing unused images", used,
		   (long long)a->cfg->image_gc_high);
	if (agent_image_run(a, "prune", args, gc_done, NULL, &e) < 0)
		log_err("image garbage collection: %s", err_msg(e));
}
