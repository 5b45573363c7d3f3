#pragma once
/* droverctl list tables: instance statuses (ps) and images (image ls). */
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* The ps table: statuses sorted by id, AGE from started_at relative to now (epoch seconds).
 * -ENOMEM on OOM. */
int ctl_print_statuses(const json_t *list, int64_t now, FILE *out);
/* The image ls table (REF, DIGEST, SIZE, CREATED) sorted by ref; an image is an object with "ref" or
 * "refs"/"tags" (array), "digest", "size" (bytes) and "created" (RFC 3339), all optional. */
int ctl_print_images(const json_t *list, int64_t now, FILE *out);
