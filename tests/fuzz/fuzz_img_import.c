/* `drover-image import` of a `docker save` tar (what POST /v1/images/import hands over): its
 * manifest.json (Config, Layers, RepoTags), the image config and its diff_ids, and each layer
 * tar streamed, verified and unpacked into a scratch store. */
#include "image/img-reg-internal.h"
#include "tests/fuzz/fuzz.h"

static char store_dir[96], tar_path[96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = fuzz_sandbox();

	(void)argc;
	(void)argv;
	fuzz_quiet();
	snprintf(store_dir, sizeof(store_dir), "%s/store", base);
	snprintf(tar_path, sizeof(tar_path), "%s/save.tar", base);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_store *s = NULL;
	struct img_image *img = NULL;
	struct err *e = NULL;
	char **refs = NULL;
	int fd;

	fd = open(tar_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FUZZ_ASSERT(fd >= 0 && fs_write_all(fd, data, size) == 0);
	close(fd);
	FUZZ_ASSERT(img_store_open(store_dir, &s, &e) == 0);
	if (img_import(s, tar_path, &img, &refs, &e) >= 0) {
		FUZZ_ASSERT(img->manifest_digest && img->config_digest && refs);
		for (char **r = refs; *r; r++)
			FUZZ_ASSERT(img_ref_validate(*r, NULL) == 0);
		img_image_free(img);
		strv_freep(&refs);
	} else {
		FUZZ_ASSERT(e && e->msg);
	}
	err_free(&e);
	img_store_free(s);
	FUZZ_ASSERT(fs_rm_rf(AT_FDCWD, store_dir) == 0);
	return 0;
}
