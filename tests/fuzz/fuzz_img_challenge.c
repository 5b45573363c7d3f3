/* A registry's WWW-Authenticate header value ("Bearer realm=\"...\",service=\"...\",scope=\"...\""). */
#include "image/img-reg-internal.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_challenge c = {0};
	char *s = fuzz_str(data, size);
	int r;

	r = img_challenge_parse(s, &c);
	if (r >= 0) {
		FUZZ_ASSERT(c.scheme == IMG_AUTH_BASIC || c.scheme == IMG_AUTH_BEARER);
		FUZZ_ASSERT(c.scheme != IMG_AUTH_BEARER || (c.realm && *c.realm));
		img_challenge_done(&c);
	} else {
		FUZZ_ASSERT(r == -EINVAL || r == -ENOTSUP || r == -ENOMEM || r == -E2BIG);
		FUZZ_ASSERT(!c.realm && !c.service && !c.scope);
	}
	free(s);
	return 0;
}
