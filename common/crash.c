/* Test-only crash hook: see crash.h. */
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crash.h"

static struct {
	bool read;
	char point[32]; /* "" when unset */
	long left;	/* hits still to go before the kill */
} crash;

static void crash_init(void)
{
	const char *v = getenv("DROVER_CRASH_AT");
	const char *colon;
	size_t n;

	crash.read = true;
	crash.left = 1;
	if (!v || !*v)
		return;
	colon = strchr(v, ':');
	n = colon ? (size_t)(colon - v) : strlen(v);
	if (n >= sizeof(crash.point))
		return;
	memcpy(crash.point, v, n);
	crash.point[n] = '\0';
	if (colon) {
		char *end = NULL;
		long k = strtol(colon + 1, &end, 10);

		if (end && *end == '\0' && k > 0)
			crash.left = k;
	}
}

void crash_point(const char *name)
{
	if (!crash.read)
		crash_init();
	if (!crash.point[0] || strcmp(crash.point, name) != 0)
		return;
	if (--crash.left > 0)
		return;
	(void)kill(getpid(), SIGKILL); /* as `kill -9` from outside: no cleanup, no atexit */
	_exit(137);
}
