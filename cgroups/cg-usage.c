/* Usage of the agent's cgroup root, for the node status; the backends know where each number is. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "cg-internal.h"
#include "common/cleanup.h"
#include "common/fs.h"

#define STAT_MAX (64 * 1024)

int64_t cg_stat_value(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *line = text; line && *line;
	     line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		char *end = NULL;
		long long v;

		if (strncmp(line, key, klen) != 0 || line[klen] != ' ')
			continue;
		errno = 0;
		v = strtoll(line + klen + 1, &end, 10);
		if (errno || end == line + klen + 1 || v < 0)
			return -1;
		return v;
	}
	return -1;
}

static char *read_small(const char *path)
{
	char *text = NULL;

	/* a missing knob (controller not mounted, older kernel) is "unknown", not an error */
	if (fs_read_file(AT_FDCWD, path, STAT_MAX, &text, NULL, NULL) < 0)
		return NULL;
	return text;
}

int64_t cg_read_int(const char *path)
{
	_cleanup_free_ char *text = read_small(path);
	char *end = NULL;
	long long v;

	if (!text || !isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || (*end && !isspace((unsigned char)*end)))
		return -1;
	return v;
}

int64_t cg_read_stat(const char *path, const char *key)
{
	_cleanup_free_ char *text = read_small(path);

	return text ? cg_stat_value(text, key) : -1;
}

/* A sum stays unknown only when both parts are. */
static void add_known(int64_t *sum, int64_t v)
{
	if (v < 0)
		return;
	*sum = *sum < 0 ? v : *sum + v;
}

int cg_root_usage(const struct cg_ctx *c, struct cg_usage *ret, struct err **err)
{
	struct cg_usage b = {.cpu_ns = -1, .memory_bytes = -1, .memory_working_set = -1, .pids = -1};

	*ret = b;
	if (!c || !c->ops->usage) /* no context: an agent without cgroups (a test harness) */
		return err_set(err, ENOTSUP, "no usage for this cgroup version");
	c->ops->usage(c, c->root, ret);
	if (c->batch_outside) {
		c->ops->usage(c, c->tier[CG_QOS_BATCH], &b);
		add_known(&ret->cpu_ns, b.cpu_ns);
		add_known(&ret->memory_bytes, b.memory_bytes);
		add_known(&ret->memory_working_set, b.memory_working_set);
		add_known(&ret->pids, b.pids);
	}
	return 0;
}
