#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static char *vfmt(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

static int err_setv(struct err **e, const char *field, int errnum, const char *fmt, va_list ap)
{
	if (errnum <= 0)
		errnum = EIO;
	if (!e)
		return -errnum;
	err_free(e);
	*e = calloc(1, sizeof(**e));
	if (!*e)
		return -errnum;
	(*e)->errnum = errnum;
	(*e)->msg = vfmt(fmt, ap);
	if (field)
		(*e)->field = strdup(field);
	return -errnum;
}

int err_set(struct err **e, int errnum, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = err_setv(e, NULL, errnum, fmt, ap);
	va_end(ap);
	return r;
}

int err_field(struct err **e, const char *field, int errnum, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = err_setv(e, field, errnum, fmt, ap);
	va_end(ap);
	return r;
}

int err_wrap(struct err **e, const char *fmt, ...)
{
	char *outer = NULL;
	char *joined = NULL;
	va_list ap;

	if (!e || !*e)
		return -EIO;
	va_start(ap, fmt);
	outer = vfmt(fmt, ap);
	va_end(ap);
	if (outer &&
	    asprintf(&joined, "%s: %s", outer, (*e)->msg ? (*e)->msg : strerror((*e)->errnum)) >= 0) {
		free((*e)->msg);
		(*e)->msg = joined;
	}
	free(outer);
	return -(*e)->errnum;
}

void err_free(struct err **e)
{
	if (!e || !*e)
		return;
	free((*e)->msg);
	free((*e)->field);
	free(*e);
	*e = NULL;
}

const char *err_msg(const struct err *e)
{
	if (!e)
		return "unknown error";
	if (e->msg)
		return e->msg;
	return strerror(e->errnum);
}
