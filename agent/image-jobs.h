#pragma once
#include "common/err.h"
#include "image/img.h"

struct agent;
struct instance;

/* 1: img is ready in *ret_img; 0: the instance gets inst_image_ready() later; <0: failed. */
int agent_image_request(struct agent *a, struct instance *i, struct img_image **ret_img, struct err **err);
/* The instance no longer waits (it is being freed). */
void agent_image_forget(struct agent *a, struct instance *i);
void agent_image_jobs_free(struct agent *a);
