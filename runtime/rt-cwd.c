/* The container's working directory: one normal form, and the places it may never be. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "runtime/rt.h"

/* A working directory here would hand the process a kernel object, not a directory of its image
 * (CVE-2024-21626 used /proc/self/fd/N). */
static const char *const forbidden_roots[] = {"/proc", "/sys", "/dev"};

static bool under(const char *path, const char *root)
{
	size_t n = strlen(root);

	return strlen(path) >= n && memcmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int rt_cwd_normalize(const char *in, char **ret)
{
	_cleanup_free_ char *out = NULL;
	const char *p = in;
	size_t len = 0;

	if (!in || in[0] != '/')
		return -EINVAL;
	out = calloc(1, strlen(in) + 2);
	if (!out)
		return -ENOMEM;
	while (*p) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p += n;
	}
	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(forbidden_roots); i++)
		if (under(out, forbidden_roots[i]))
			return -EPERM;
	*ret = TAKE_PTR(out);
	return 0;
}

const char *rt_cwd_problem(int r)
{
	if (r == -EPERM)
		return "must not be under /proc, /sys or /dev";
	if (r == -ENOMEM)
		return "out of memory";
	return "must be an absolute path without '..' components";
}
