#pragma once
/* Container-sized deletes off the loop: a writable layer or a bundle is renamed into
 * STATE_DIR/trash (O(1), same filesystem) and a background child (common/proc.h) deletes what is
 * there, watched by its pidfd in the loop. Trash a crash left behind is swept at start. */
#include <stdbool.h>

#include "agent/loop.h"
#include "common/err.h"

struct trash;

/* Creates dir if needed and starts a sweep of what an earlier run left there. */
int trash_new(struct loop *l, const char *dir, struct trash **ret, struct err **err);
/* Moves path (absent is fine) into the trash and makes sure a child deletes it. -EXDEV when path is
 * on another filesystem: the caller deletes it some other way. */
int trash_put(struct trash *t, const char *path, struct err **err);
/* Unmounts the filesystem at path lazily (the path is free at once) and keeps a reference to it, so
 * that its teardown (an overlay syncs and evicts every inode its workload wrote) runs in the next
 * deleting child. Nothing mounted there is fine. */
int trash_detach_mount(struct trash *t, const char *path, struct err **err);
/* Memory only: a running child is killed with the agent (it resumes at the next start). */
struct trash *trash_free(struct trash *t);
/* Whether a deleting child runs now (tests, metrics). */
bool trash_busy(const struct trash *t);
