/* The whole instance spec, as the API and the assignments dir hand it over: JSON text -> spec. */
#include "spec/spec-internal.h"
#include "image/img.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err *e = NULL;
	struct spec *s = NULL;

	if (spec_parse_text((const char *)data, size, &s, &e) >= 0) {
		FUZZ_ASSERT(s && s->id && spec_id_valid(s->id));
		FUZZ_ASSERT(s->image && *s->image && img_ref_validate(s->image, NULL) == 0);
		for (size_t i = 0; i < s->n_files; i++)
			FUZZ_ASSERT(spec_path_safe(s->files[i].path));
		for (size_t i = 0; i < s->n_ports; i++)
			FUZZ_ASSERT(s->ports[i].container != 0);
		(void)spec_check_supported(s, &e);
		err_free(&e);
		spec_free(s);
	} else {
		FUZZ_ASSERT(e && e->msg);
		err_free(&e);
	}
	return 0;
}
