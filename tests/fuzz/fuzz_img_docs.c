/* Image documents from a layout or a registry: OCI/Docker indexes, manifests and image configs.
 *
 * The input is up to 9 documents separated by a line "--". Document 0 is parsed directly (index
 * platform choice, manifest descriptors, image config) and is also the layout's index.json.
 * Documents 1..N become blobs: in document k, "@j" (j > k) stands for "sha256:<hex of document
 * j>" and "#j" for its size, so the fuzzer can build a whole chain that verifies (index ->
 * nested index -> manifest -> config -> layers) and img_from_oci_layout walks all of it,
 * unpacking layers into a scratch store. */
#include <openssl/evp.h>

#include "image/img-reg-internal.h"
#include "tests/fuzz/fuzz.h"

#define DOCS_MAX 9

static char layout[128], store_dir[128];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = fuzz_sandbox();

	(void)argc;
	(void)argv;
	fuzz_quiet();
	snprintf(layout, sizeof(layout), "%s/layout", base);
	snprintf(store_dir, sizeof(store_dir), "%s/store", base);
	return 0;
}

struct doc {
	char *text; /* after substitution */
	size_t len;
	char digest[7 + IMG_HEX_LEN + 1];
};

static void sha256_hex(const char *buf, size_t len, char ret[IMG_HEX_LEN + 1])
{
	unsigned char md[32];
	unsigned n = 0;

	FUZZ_ASSERT(EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) == 1 && n == 32);
	for (unsigned i = 0; i < 32; i++)
		snprintf(ret + 2 * i, 3, "%02x", md[i]);
}

/* Replaces "@j" and "#j" (j > k) in docs[k] by document j's digest and size. */
static void substitute(struct doc *docs, size_t n, size_t k, const char *raw, size_t len)
{
	size_t cap = len * 72 + 1, o = 0;
	char *out = malloc(cap);

	FUZZ_ASSERT(out);
	for (size_t i = 0; i < len; i++) {
		size_t j = i + 1 < len ? (size_t)(raw[i + 1] - '0') : 0;
		if ((raw[i] == '@' || raw[i] == '#') && j > k && j < n) {
			if (raw[i] == '@')
				o += (size_t)snprintf(out + o, cap - o, "%s", docs[j].digest);
			else
				o += (size_t)snprintf(out + o, cap - o, "%zu", docs[j].len);
			i++;
		} else {
			out[o++] = raw[i];
		}
	}
	out[o] = '\0';
	docs[k].text = out;
	docs[k].len = o;
	if (k > 0) {
		memcpy(docs[k].digest, DIGEST_PREFIX, 7);
		sha256_hex(out, o, docs[k].digest + 7);
	}
}

static size_t split(const char *in, size_t len, const char **starts, size_t *lens)
{
	size_t n = 0;
	const char *p = in, *end = in + len;

	while (n < DOCS_MAX) {
		const char *sep = memmem(p, (size_t)(end - p), "\n--\n", 4);
		starts[n] = p;
		lens[n] = sep ? (size_t)(sep - p) : (size_t)(end - p);
		n++;
		if (!sep)
			break;
		p = sep + 4;
	}
	return n;
}

static void parse_direct(const char *text)
{
	static const struct img_platform plats[] = {{"linux", "amd64", NULL},
						    {"linux", "arm64", "v8"},
						    {"linux", "arm", "v7"},
						    {"windows", "amd64", NULL}};
	struct img_desc cfg = {0}, *layers = NULL, d = {.digest = (char *)"sha256:fuzz"};
	struct img_config conf = {0};
	json_t *doc = NULL, *list;
	struct err *e = NULL;
	size_t n = 0;

	if (img_json_parse(text, "doc", &doc, &e) < 0) {
		err_free(&e);
		return;
	}
	(void)img_doc_kind(json_string_value(json_object_get(doc, "mediaType")));
	if (img_manifest_parse(doc, "sha256:fuzz", &cfg, &layers, &n, &e) >= 0) {
		FUZZ_ASSERT(cfg.digest && n <= IMG_LAYERS_MAX);
		for (size_t i = 0; i < n; i++)
			FUZZ_ASSERT(img_layer_type_known(layers[i].media_type) &&
				    strlen(layers[i].hex) == IMG_HEX_LEN);
		img_desc_done(&cfg);
		img_descs_free(layers, n);
	}
	err_free(&e);
	list = json_object_get(doc, "manifests");
	for (size_t i = 0; json_is_array(list) && i < sizeof(plats) / sizeof(plats[0]); i++) {
		int r = img_platform_select(list, &plats[i]);
		struct img_desc pick = {0};
		if (r < 0)
			continue;
		FUZZ_ASSERT((size_t)r < json_array_size(list));
		if (img_desc_parse(json_array_get(list, (size_t)r), "index", &pick, &e) >= 0)
			img_desc_done(&pick);
		err_free(&e);
	}
	n = json_array_size(json_object_get(json_object_get(doc, "rootfs"), "diff_ids"));
	if (img_config_load(text, &d, n, &conf, &e) >= 0) {
		json_t *back = img_config_to_json(&conf);
		FUZZ_ASSERT(back);
		json_decref(back);
		img_config_done(&conf);
	}
	err_free(&e);
	json_decref(doc);
}

static void write_layout(struct doc *docs, size_t n)
{
	char blobs[160];
	int dfd;

	snprintf(blobs, sizeof(blobs), "%s/blobs/sha256", layout);
	FUZZ_ASSERT(fs_mkdir_p(AT_FDCWD, blobs, 0755) == 0);
	dfd = open(layout, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FUZZ_ASSERT(dfd >= 0);
	FUZZ_ASSERT(fs_write_atomic(dfd, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644,
				    FS_NOSYNC, NULL) == 0);
	FUZZ_ASSERT(fs_write_atomic(dfd, "index.json", docs[0].text, docs[0].len, 0644, FS_NOSYNC, NULL) ==
		    0);
	close(dfd);
	dfd = open(blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FUZZ_ASSERT(dfd >= 0);
	for (size_t k = 1; k < n; k++)
		FUZZ_ASSERT(fs_write_atomic(dfd, docs[k].digest + 7, docs[k].text, docs[k].len, 0644,
					    FS_NOSYNC, NULL) == 0);
	close(dfd);
}

static void resolve(void)
{
	static const char *const tags[] = {"", ":latest"};
	struct img_store *s = NULL;
	struct err *e = NULL;
	char ref[200];

	FUZZ_ASSERT(img_store_open(store_dir, &s, &e) == 0);
	for (size_t t = 0; t < 2; t++) {
		struct img_image *img = NULL;
		snprintf(ref, sizeof(ref), "oci:%s%s", layout, tags[t]);
		if (img_from_oci_layout(s, ref, &img, &e) >= 0) {
			FUZZ_ASSERT(img->manifest_digest && img->n_layers <= IMG_LAYERS_MAX);
			img_image_free(img);
		} else {
			FUZZ_ASSERT(e && e->msg);
			if (getenv("FUZZ_VERBOSE")) /* to see how far a seed gets */
				fprintf(stderr, "fuzz: %s: %s\n", ref, e->msg);
		}
		err_free(&e);
	}
	img_store_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *starts[DOCS_MAX];
	size_t lens[DOCS_MAX], n;
	struct doc docs[DOCS_MAX] = {0};

	if (size > 256 * 1024)
		return 0;
	n = split((const char *)data, size, starts, lens);
	for (size_t k = n; k-- > 0;)
		substitute(docs, n, k, starts[k], lens[k]);
	parse_direct(docs[0].text);
	write_layout(docs, n);
	resolve();
	for (size_t k = 0; k < n; k++)
		free(docs[k].text);
	FUZZ_ASSERT(fs_rm_rf(AT_FDCWD, layout) == 0 && fs_rm_rf(AT_FDCWD, store_dir) == 0);
	return 0;
}
