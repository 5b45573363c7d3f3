/* Image references as a spec or an API request gives them ("busybox", "host:5000/a/b:tag@sha256:...",
 * "oci:/path:tag"). A parsed reference must print to a canonical name that parses back to itself:
 * the store records that name and reads it again later. */
#include "image/img-reg-internal.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static void round_trip(const char *s)
{
	struct img_ref r = {0}, again = {0};
	struct err *e = NULL;
	char *str, *str2;

	if (img_ref_parse(s, &r, &e) < 0) {
		FUZZ_ASSERT(e && e->msg);
		err_free(&e);
		return;
	}
	FUZZ_ASSERT(r.domain && r.path && (r.tag || r.digest));
	(void)img_ref_api_host(&r);
	str = img_ref_string(&r);
	FUZZ_ASSERT(str);
	if (img_ref_parse(str, &again, &e) < 0) {
		fprintf(stderr, "fuzz: '%s' printed as '%s', which does not parse: %s\n", s, str, err_msg(e));
		abort();
	}
	str2 = img_ref_string(&again);
	FUZZ_ASSERT(str2 && strcmp(str, str2) == 0);
	free(str);
	free(str2);
	img_ref_done(&r);
	img_ref_done(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), *canon = NULL;
	struct err *e = NULL;

	(void)img_ref_is_layout(s);
	if (img_ref_validate(s, &e) < 0)
		FUZZ_ASSERT(e && e->msg);
	err_free(&e);
	if (img_ref_canonical(s, &canon, &e) >= 0)
		FUZZ_ASSERT(canon);
	free(canon);
	err_free(&e);
	round_trip(s);
	free(s);
	return 0;
}
