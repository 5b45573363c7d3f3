#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *log_module = "drover";
static enum log_level log_max = LOG_LVL_INFO;
static int log_tty = -1;

static const char *const level_names[] = {
    [LOG_LVL_ERR] = "err",   [LOG_LVL_WARN] = "warning", [LOG_LVL_NOTICE] = "notice",
    [LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
};

void log_init(const char *module)
{
	const char *env = getenv("DROVER_LOG_LEVEL");

	log_module = module;
	log_tty = isatty(STDERR_FILENO);
	if (env)
		(void)log_set_level_str(env); /* a bad value keeps the default */
}

int log_set_level_str(const char *s)
{
	for (int l = LOG_LVL_ERR; l <= LOG_LVL_DEBUG; l++) {
		if (strcmp(s, level_names[l]) == 0 || (l == LOG_LVL_WARN && strcmp(s, "warn") == 0) ||
		    (l == LOG_LVL_ERR && strcmp(s, "error") == 0)) {
			log_max = (enum log_level)l;
			return 0;
		}
	}
	return -EINVAL;
}

void log_set_level(enum log_level l)
{
	log_max = l;
}

bool log_enabled(enum log_level l)
{
	return l <= log_max;
}

/* Newlines would split one record into several journal entries. */
static void flatten(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

void log_emit(enum log_level l, int errnum, const char *fmt, ...)
{
	char msg[2048];
	int saved = errno;
	va_list ap;

	if (!log_enabled(l))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	flatten(msg);
	if (log_tty > 0)
		fprintf(stderr, "%s %s: %s%s%s\n", level_names[l], log_module, msg, errnum ? ": " : "",
			errnum ? strerror(errnum) : "");
	else
		fprintf(stderr, "<%d>%s: %s%s%s\n", (int)l, log_module, msg, errnum ? ": " : "",
			errnum ? strerror(errnum) : "");
	errno = saved;
}
