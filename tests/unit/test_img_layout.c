/* img_from_oci_layout on layouts made by demo/build-image.sh (run from the repo root): config
 * fields, layer sharing in the store, and refusal of corrupt blobs and unknown media types. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/proc.h"
#include "image/img.h"

struct fixture {
	char base[64];
	char layout[96];
	char store_dir[96];
	struct img_store *store;
};

static void build_layout(const char *out, const char *tag, const char *extra)
{
	char script[PATH_MAX], cwd[PATH_MAX - 32];
	char *argv[] = {script, (char *)out, (char *)tag, "--extra-layer", (char *)extra, NULL};
	_cleanup_err_ struct err *err = NULL;
	_cleanup_free_ char *errtext = NULL;
	int status = -1;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(script, sizeof(script), "%s/demo/build-image.sh", cwd);
	if (!extra)
		argv[3] = NULL;
	if (!tag)
		argv[2] = NULL;
	assert_int_equal(proc_run(script, argv, &status, &errtext, &err), 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("build-image.sh failed: %s", errtext ? errtext : "");
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	_cleanup_err_ struct err *err = NULL;

	assert_non_null(f);
	strcpy(f->base, "/tmp/drover-test-layout-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->layout, sizeof(f->layout), "%s/layout", f->base);
	snprintf(f->store_dir, sizeof(f->store_dir), "%s/store", f->base);
	build_layout(f->layout, NULL, NULL);
	assert_int_equal(img_store_open(f->store_dir, &f->store, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	img_store_free(f->store);
	assert_int_equal(fs_rm_rf(AT_FDCWD, f->base), 0);
	free(f);
	return 0;
}

static json_t *load_json(const char *path)
{
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr);

	if (!j)
		fail_msg("load %s: %s", path, jerr.text);
	return j;
}

static void save_json(const char *path, json_t *j)
{
	assert_int_equal(json_dump_file(j, path, JSON_COMPACT), 0);
}

/* The digest of the only manifest, and of its first layer ("sha256:<hex>"). */
static void digests(struct fixture *f, char *manifest, char *layer, size_t size)
{
	char p[256];
	json_t *index, *m;

	snprintf(p, sizeof(p), "%s/index.json", f->layout);
	index = load_json(p);
	snprintf(manifest, size, "%s",
		 json_string_value(
		     json_object_get(json_array_get(json_object_get(index, "manifests"), 0), "digest")));
	json_decref(index);
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", f->layout, manifest + 7);
	m = load_json(p);
	snprintf(
	    layer, size, "%s",
	    json_string_value(json_object_get(json_array_get(json_object_get(m, "layers"), 0), "digest")));
	json_decref(m);
}

static void flip_byte(const char *path)
{
	struct stat st;
	unsigned char c;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(pread(fd, &c, 1, st.st_size / 2), 1);
	c ^= 0x55;
	assert_int_equal(pwrite(fd, &c, 1, st.st_size / 2), 1);
	close(fd);
}

/* Resolves ref, expecting a failure whose message contains want. */
static void assert_resolve_fails(struct fixture *f, const char *ref, const char *want)
{
	_cleanup_err_ struct err *err = NULL;
	struct img_image *img = NULL;
	int r = img_from_oci_layout(f->store, ref, &img, &err);

	if (r >= 0 || !err || !strstr(err_msg(err), want))
		fail_msg("resolve '%s': expected an error with '%s', got r=%d '%s'", ref, want, r,
			 err ? err_msg(err) : "");
	assert_null(img);
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static ino_t inode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_ino;
}

static void test_resolve_and_reuse(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *err = NULL;
	struct img_image *img = NULL, *again = NULL;
	char ref[128], p[512], buf[32];
	ssize_t n;

	snprintf(ref, sizeof(ref), "oci:%s", f->layout);
	assert_int_equal(img_from_oci_layout(f->store, ref, &img, &err), 0);
	assert_int_equal(strncmp(img->manifest_digest, "sha256:", 7), 0);
	assert_int_equal(strncmp(img->config_digest, "sha256:", 7), 0);
	assert_null(img->config.entrypoint);
	assert_non_null(img->config.cmd);
	assert_string_equal(img->config.cmd[0], "sleep");
	assert_string_equal(img->config.cmd[1], "infinity");
	assert_null(img->config.cmd[2]);
	assert_string_equal(img->config.env[0], "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	assert_string_equal(img->config.workdir, "/");
	assert_null(img->config.user);
	assert_int_equal(img->n_layers, 1);
	assert_int_equal(img->layer_dirs[0][0], '/');
	snprintf(p, sizeof(p), "%s/bin/sh", img->layer_dirs[0]);
	n = readlink(p, buf, sizeof(buf));
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "busybox", 7);
	snprintf(p, sizeof(p), "%s/images/%s.json", img_store_root(f->store), img->manifest_digest + 7);
	assert_true(fs_exists(p));

	/* again, through a fresh store handle and without the "oci:" prefix: same layer dir */
	img_store_free(f->store);
	f->store = NULL;
	assert_int_equal(img_store_open(f->store_dir, &f->store, &err), 0);
	assert_int_equal(img_from_oci_layout(f->store, f->layout, &again, &err), 0);
	assert_string_equal(again->manifest_digest, img->manifest_digest);
	assert_string_equal(again->config_digest, img->config_digest);
	assert_string_equal(again->layer_dirs[0], img->layer_dirs[0]);
	assert_int_equal(inode_of(again->layer_dirs[0]), inode_of(img->layer_dirs[0]));
	assert_string_equal(again->config.cmd[1], "infinity");
	img_image_free(again);
	img_image_free(img);
}

static void test_multi_layer_shares_base(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *err = NULL;
	struct img_image *base = NULL, *img = NULL;
	char extra[128], layout2[128], ref[160], p[512];
	struct stat st;
	int fd;

	snprintf(extra, sizeof(extra), "%s/extra", f->base);
	snprintf(layout2, sizeof(layout2), "%s/layout2", f->base);
	assert_int_equal(mkdir(extra, 0755), 0);
	snprintf(p, sizeof(p), "%s/.wh.tmp", extra);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	build_layout(layout2, "v2", extra);

	assert_int_equal(img_from_oci_layout(f->store, f->layout, &base, &err), 0);
	snprintf(ref, sizeof(ref), "%s:v2", layout2);
	assert_int_equal(img_from_oci_layout(f->store, ref, &img, &err), 0);
	assert_int_equal(img->n_layers, 2);
	assert_string_equal(img->layer_dirs[0], base->layer_dirs[0]);
	assert_int_equal(inode_of(img->layer_dirs[0]), inode_of(base->layer_dirs[0]));
	snprintf(p, sizeof(p), "%s/tmp", img->layer_dirs[1]);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(st.st_rdev, makedev(0, 0));
	snprintf(p, sizeof(p), "%s/layers", img_store_root(f->store));
	assert_int_equal(count_entries(p), 2);

	snprintf(ref, sizeof(ref), "%s:latest", layout2);
	assert_resolve_fails(f, ref, "no manifest tagged 'latest'");
	img_image_free(img);
	img_image_free(base);
}

static void test_corrupt_layer(void **state)
{
	struct fixture *f = *state;
	char manifest[80], layer[80], p[512];

	digests(f, manifest, layer, sizeof(manifest));
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", f->layout, layer + 7);
	flip_byte(p);
	assert_resolve_fails(f, f->layout, layer);
	snprintf(p, sizeof(p), "%s/layers/%s", img_store_root(f->store), layer + 7);
	assert_false(fs_exists(p));
	snprintf(p, sizeof(p), "%s/layers", img_store_root(f->store));
	assert_int_equal(count_entries(p), 0); /* no layer, no leftover .tmp- dir */
	snprintf(p, sizeof(p), "%s/images", img_store_root(f->store));
	assert_int_equal(count_entries(p), 0);
}

static void test_corrupt_manifest(void **state)
{
	struct fixture *f = *state;
	char manifest[80], layer[80], p[512];

	digests(f, manifest, layer, sizeof(manifest));
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", f->layout, manifest + 7);
	flip_byte(p);
	assert_resolve_fails(f, f->layout, manifest);
	snprintf(p, sizeof(p), "%s/layers", img_store_root(f->store));
	assert_int_equal(count_entries(p), 0);
}

/* Changes one field of index.json's only descriptor. */
static void edit_index(struct fixture *f, const char *key, json_t *value)
{
	char p[256];
	json_t *index;

	snprintf(p, sizeof(p), "%s/index.json", f->layout);
	index = load_json(p);
	assert_int_equal(
	    json_object_set_new(json_array_get(json_object_get(index, "manifests"), 0), key, value), 0);
	save_json(p, index);
	json_decref(index);
}

static void test_size_mismatch(void **state)
{
	struct fixture *f = *state;

	edit_index(f, "size", json_integer(3));
	assert_resolve_fails(f, f->layout, "does not match the descriptor's 3");
}

static void test_unknown_media_type(void **state)
{
	struct fixture *f = *state;

	edit_index(f, "mediaType", json_string("application/vnd.example.thing+json"));
	assert_resolve_fails(f, f->layout,
			     "unsupported manifest media type 'application/vnd.example.thing+json'");
}

static void test_bad_ref(void **state)
{
	struct fixture *f = *state;
	char ref[128];

	assert_resolve_fails(f, "oci:", "no layout path");
	snprintf(ref, sizeof(ref), "%s/nonexistent", f->base);
	assert_resolve_fails(f, ref, "open layout");
	snprintf(ref, sizeof(ref), "%s:nope", f->layout);
	assert_resolve_fails(f, ref, "no manifest tagged 'nope'");
}

/* index.json -> nested image index blob (the old index.json) -> manifest for this platform. */
static void test_nested_index(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *err = NULL;
	_cleanup_free_ char *text = NULL;
	struct img_image *img = NULL;
	unsigned char md[32];
	char hex[65], p[256], digest[80];
	size_t len;
	json_t *outer;

	snprintf(p, sizeof(p), "%s/index.json", f->layout);
	assert_int_equal(fs_read_file(AT_FDCWD, p, 1 << 20, &text, &len, &err), 0);
	assert_non_null(EVP_Digest(text, len, md, NULL, EVP_sha256(), NULL) ? md : NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", f->layout, hex);
	assert_int_equal(fs_write_atomic(AT_FDCWD, p, text, len, 0644, FS_NOSYNC, &err), 0);
	snprintf(digest, sizeof(digest), "sha256:%s", hex);
	outer =
	    json_pack("{s:i, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2, "manifests", "mediaType",
		      "application/vnd.oci.image.index.v1+json", "digest", digest, "size", (json_int_t)len);
	assert_non_null(outer);
	snprintf(p, sizeof(p), "%s/index.json", f->layout);
	save_json(p, outer);
	json_decref(outer);

	assert_int_equal(img_from_oci_layout(f->store, f->layout, &img, &err), 0);
	assert_int_equal(img->n_layers, 1);
	assert_string_equal(img->config.cmd[0], "sleep");
	img_image_free(img);
}

static void test_stale_tmp_removed(void **state)
{
	struct fixture *f = *state;
	_cleanup_err_ struct err *err = NULL;
	char p[512];

	snprintf(p, sizeof(p), "%s/layers/.tmp-abc-999999999", img_store_root(f->store));
	assert_int_equal(mkdir(p, 0755), 0);
	img_store_free(f->store);
	f->store = NULL;
	assert_int_equal(img_store_open(f->store_dir, &f->store, &err), 0);
	assert_false(fs_exists(p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_resolve_and_reuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multi_layer_shares_base, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_layer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_manifest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_mismatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_media_type, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_ref, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nested_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_tmp_removed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
