/* The spec's value parsers one at a time: CPU and byte quantities, and the resources, network
 * (ports), health (probe durations) and files sections. The first byte picks the parser, the rest
 * is its input (a string for the quantities and paths, JSON for the sections). */
#include "spec/spec-internal.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static void quantities(const char *text)
{
	int64_t v = -1;

	if (quantity_parse_cpu(text, &v) >= 0)
		FUZZ_ASSERT(v >= 0);
	v = -1;
	if (quantity_parse_bytes(text, &v) >= 0)
		FUZZ_ASSERT(v >= 0);
	(void)spec_path_safe(text);
	(void)spec_id_valid(text);
}

static void section(uint8_t which, const char *text, size_t len)
{
	struct spec *s = calloc(1, sizeof(*s));
	struct err *e = NULL;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	int r;

	if (!doc) {
		free(s);
		return;
	}
	FUZZ_ASSERT(s);
	s->cpu_millis = s->memory = s->pids = -1;
	switch (which % 4) {
	case 0:
		r = spec_parse_resources(doc, s, &e);
		if (r >= 0)
			FUZZ_ASSERT(s->cpu_millis >= -1 && s->memory >= -1 && s->pids >= -1);
		break;
	case 1:
		r = spec_parse_network(doc, s, &e);
		for (size_t i = 0; r >= 0 && i < s->n_ports; i++)
			FUZZ_ASSERT(s->ports[i].container != 0);
		break;
	case 2:
		r = spec_parse_health(doc, s, &e);
		break;
	default:
		r = spec_parse_files(doc, s, &e);
		for (size_t i = 0; r >= 0 && i < s->n_files; i++)
			FUZZ_ASSERT(spec_path_safe(s->files[i].path));
		break;
	}
	FUZZ_ASSERT(r >= 0 || (e && e->msg));
	err_free(&e);
	spec_free(s); /* also frees what a failed section left half-filled */
	json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1)
		return 0;
	text = fuzz_str(data + 1, size - 1);
	if (data[0] < 0x80)
		quantities(text);
	else
		section(data[0], text, size - 1);
	free(text);
	return 0;
}
