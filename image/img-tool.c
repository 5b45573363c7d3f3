/* drover-image: the image work droverd hands to a short-lived process, so the
 * agent never maps the digest and archive libraries and its loop never waits
 * on an unpack in its own address space.
 *
 *   drover-image resolve STORE REF   resolve REF into STORE, print the image as JSON
 *
 * Exit 0 with the JSON on stdout, or 1 with one line of error on stderr. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "image/img-internal.h"

static json_t *image_json(const struct img_image *img)
{
	json_t *layers = json_array();
	json_t *doc;

	for (size_t i = 0; layers && i < img->n_layers; i++)
		json_array_append_new(layers, json_string(img->layer_dirs[i]));
	doc = json_pack("{s:s, s:s, s:o, s:o}", "manifest_digest", img->manifest_digest, "config_digest",
			img->config_digest, "layer_dirs", layers, "config", img_config_to_json(&img->config));
	return doc;
}

static int resolve(const char *store_root, const char *ref)
{
	_cleanup_err_ struct err *e = NULL;
	struct img_store *s = NULL;
	struct img_image *img = NULL;
	json_t *doc = NULL;
	int r;

	r = img_store_open(store_root, &s, &e);
	if (r >= 0)
		r = img_from_oci_layout(s, ref, &img, &e);
	if (r >= 0) {
		doc = image_json(img);
		if (!doc || json_dumpf(doc, stdout, JSON_COMPACT) < 0 || fflush(stdout) != 0)
			r = err_set(&e, EIO, "write the result");
	}
	json_decref(doc);
	img_image_free(img);
	img_store_free(s);
	if (r < 0) {
		fprintf(stderr, "%s\n", err_msg(e));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	log_init("drover-image");
	if (argc == 4 && strcmp(argv[1], "resolve") == 0)
		return resolve(argv[2], argv[3]);
	fprintf(stderr, "usage: drover-image resolve STORE REF\n");
	return 2;
}
