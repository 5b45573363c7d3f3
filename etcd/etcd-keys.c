/* The key layout under --etcd-prefix and the watch cursor: the pure half of the etcd source,
 * kept apart from the loop so its rules are unit-tested. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/etcd.h"

/* "/drover/" and "/drover" name the same prefix. */
static const char *trimmed(const char *prefix, size_t *len)
{
	size_t n = strlen(prefix);

	while (n > 0 && prefix[n - 1] == '/')
		n--;
	*len = n;
	return prefix;
}

char *etcd_instances_prefix(const char *prefix, const char *node)
{
	size_t n;
	const char *p = trimmed(prefix, &n);
	char *s = NULL;

	if (asprintf(&s, "%.*s/nodes/%s/instances/", (int)n, p, node) < 0)
		return NULL;
	return s;
}

char *etcd_status_key(const char *prefix, const char *node, const char *id)
{
	size_t n;
	const char *p = trimmed(prefix, &n);
	char *s = NULL;
	int r;

	if (id)
		r = asprintf(&s, "%.*s/status/%s/%s", (int)n, p, node, id);
	else
		r = asprintf(&s, "%.*s/status/%s", (int)n, p, node);
	return r < 0 ? NULL : s;
}

const char *etcd_key_id(const char *instances_prefix, const char *key)
{
	size_t n = strlen(instances_prefix);
	const char *id;

	if (strncmp(key, instances_prefix, n) != 0)
		return NULL;
	id = key + n;
	if (*id == '\0' || strchr(id, '/'))
		return NULL;
	return id;
}

void etcd_cursor_listed(struct etcd_cursor *c, int64_t rev)
{
	c->revision = rev;
}

int64_t etcd_cursor_watch_from(const struct etcd_cursor *c)
{
	return c->revision > 0 ? c->revision + 1 : 0;
}

enum etcd_cursor_action etcd_cursor_event(struct etcd_cursor *c, const struct etcd_event *ev)
{
	if (ev->kv.mod_revision <= c->revision)
		return ETCD_SKIP;
	c->revision = ev->kv.mod_revision;
	return ETCD_APPLY;
}

bool etcd_cursor_message(struct etcd_cursor *c, const struct etcd_watch_msg *m)
{
	if (m->canceled) {
		/* a cancel for any reason ends this watch; after a compaction the changes between
		 * the cursor and the compaction point are gone, so only a full list is exact */
		if (m->compact_revision > 0)
			c->revision = 0;
		return m->compact_revision > 0;
	}
	/* a message with no events and no creation is a progress notification: every change
	 * up to its header revision has been sent */
	if (!m->created && m->n_events == 0 && m->revision > c->revision)
		c->revision = m->revision;
	return false;
}
