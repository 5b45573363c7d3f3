/* The http probe's response parser: the bytes a probed container sends back, as they arrive. The
 * status line is parsed from a buffer that grows with each read (at most PROBE_HTTP_READ_MAX bytes);
 * the verdict must not depend on how the bytes were split, and a code is always 100-999. */
#include "agent/probe.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

/* Parses the first n bytes from a buffer of exactly n bytes, so a read past them is caught. */
static int parse_prefix(const uint8_t *data, size_t n, int *code)
{
	char *copy = malloc(n ? n : 1);
	int r;

	if (!copy)
		abort();
	memcpy(copy, data, n);
	r = probe_http_status(copy, n, code);
	free(copy);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int code = 0, full, r, c;

	if (size > PROBE_HTTP_READ_MAX)
		size = PROBE_HTTP_READ_MAX;
	full = parse_prefix(data, size, &code);
	FUZZ_ASSERT(full == 1 || full == 0 || full == -EPROTO);
	if (full == 1)
		FUZZ_ASSERT(code >= 100 && code <= 999);
	/* every shorter read: undecided, or the same answer */
	for (size_t n = 0; n < size; n++) {
		c = -1;
		r = parse_prefix(data, n, &c);
		FUZZ_ASSERT(r == 0 || r == full);
		if (r == 1)
			FUZZ_ASSERT(c == code);
	}
	(void)probe_http_ok(code);
	return 0;
}
