#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "image/img.h"

struct agent;
struct instance;

/* Called once a drover-image run ends: img for resolve/import, out (raw JSON) for the others,
 * e on failure. */
typedef void (*image_done_fn)(void *data, const struct img_image *img, const char *out, const struct err *e);

/* Runs (or joins the run already in flight of) `drover-image CMD STORE ARGS...`; args[0] is the key. */
int agent_image_run(struct agent *a, const char *cmd, char *const *args, image_done_fn done, void *data,
		    struct err **err);
/* 1: img is ready in *ret_img; 0: the instance gets inst_image_ready() later; <0: failed. */
int agent_image_request(struct agent *a, struct instance *i, struct img_image **ret_img, struct err **err);
/* Bytes pulled so far for a reference being resolved. */
bool agent_image_progress(struct agent *a, const char *ref, int64_t *ret_done, int64_t *ret_total);
/* Whatever waits with this data no longer does (an instance being freed, a closed request). */
void agent_image_forget(struct agent *a, void *data);
/* The same, and a pull nobody waits for any more is killed (a removed instance, a client gone). */
void agent_image_cancel(struct agent *a, void *data);
void agent_image_jobs_free(struct agent *a);
/* Runs a prune (keeping every image an instance uses) when the store's filesystem is fuller than
 * --image-gc-high percent. Called after each pull. */
void agent_image_gc(struct agent *a);
