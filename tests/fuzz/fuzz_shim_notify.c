/* drover-shim's notify datagram parser: the bytes a container sends to its NOTIFY_SOCKET. The parser
 * reads only the datagram's own bytes (an exactly-sized copy catches a read past them), gives only
 * the two known flags, gives a flag only for an exact line, and the state it leads to never goes
 * back (none -> ready -> stopping). The shim is not in libdrover.a: its source is compiled in. */
#include "runtime/shim/shim-notify.c"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

/* Does buf hold line as one whole line? */
static bool has_line(const char *buf, size_t len, const char *line)
{
	size_t n = strlen(line);

	for (size_t k = 0; k + n <= len; k++)
		if ((k == 0 || buf[k - 1] == '\n') && memcmp(buf + k, line, n) == 0 &&
		    (k + n == len || buf[k + n] == '\n'))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;
	unsigned flags;

	if (size > SHIM_NOTIFY_DGRAM_MAX)
		size = SHIM_NOTIFY_DGRAM_MAX; /* the shim drops longer datagrams before parsing */
	copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	flags = shim_notify_parse(copy, size);
	FUZZ_ASSERT((flags & ~(unsigned)(SHIM_NOTIFY_READY | SHIM_NOTIFY_STOPPING)) == 0);
	if (memchr(copy, '\0', size)) {
		FUZZ_ASSERT(flags == 0);
	} else {
		FUZZ_ASSERT(!!(flags & SHIM_NOTIFY_READY) == has_line(copy, size, "READY=1"));
		FUZZ_ASSERT(!!(flags & SHIM_NOTIFY_STOPPING) == has_line(copy, size, "STOPPING=1"));
	}
	for (int s = SHIM_NOTIFY_NONE; s <= SHIM_NOTIFY_IS_STOPPING; s++) {
		enum shim_notify_state next = shim_notify_next((enum shim_notify_state)s, flags);
		FUZZ_ASSERT(next >= (enum shim_notify_state)s && next <= SHIM_NOTIFY_IS_STOPPING);
	}
	free(copy);
	return 0;
}
