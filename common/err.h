#pragma once
/* Error chain: a failing function returns -errno and fills a struct err whose
 * message grows "outer: inner" as it travels up (see STYLE.md 2.3). */
#include <stdarg.h>

struct err {
	int errnum; /* > 0 */
	char *msg;
	char *field; /* optional: the spec/API field the error is about */
};

int err_set(struct err **e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int err_wrap(struct err **e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like err_set, and records which input field is at fault. */
int err_field(struct err **e, const char *field, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void err_free(struct err **e);
const char *err_msg(const struct err *e);

static inline void err_freep(struct err **e)
{
	err_free(e);
}
#define _cleanup_err_ __attribute__((cleanup(err_freep)))
