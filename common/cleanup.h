#pragma once
/* Scope-bound cleanup helpers: every resource is owned by a _cleanup_ variable
 * or handed on with TAKE_PTR/TAKE_FD, so no error path leaks. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

/* a type cannot be parenthesised: NOLINTBEGIN(bugprone-macro-parentheses) */
#define DEFINE_CLEANUP(type, fn)                                                                             \
	static inline void fn##p(type *p)                                                                    \
	{                                                                                                    \
		if (*p)                                                                                      \
			fn(*p);                                                                              \
	}

/* NOLINTEND(bugprone-macro-parentheses) */

#define TAKE_PTR(p)                                                                                          \
	({                                                                                                   \
		__typeof__(p) _tp = (p);                                                                     \
		(p) = NULL;                                                                                  \
		_tp;                                                                                         \
	})

#define TAKE_FD(fd)                                                                                          \
	({                                                                                                   \
		int _tfd = (fd);                                                                             \
		(fd) = -1;                                                                                   \
		_tfd;                                                                                        \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		(void)close(*fd); /* nothing useful to do on close failure of a read fd */
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f)
		(void)fclose(*f);
}

static inline void closedirp(DIR **d)
{
	if (*d)
		(void)closedir(*d);
}

static inline void strv_freep(char ***v)
{
	if (*v) {
		for (char **s = *v; *s; s++)
			free(*s);
		free(*v);
	}
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)
#define _cleanup_strv_ _cleanup_(strv_freep)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
