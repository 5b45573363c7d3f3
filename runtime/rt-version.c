/* Which OCI runtime is installed, and whether it has known container escapes. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/cleanup.h"
#include "common/proc.h"
#include "runtime/rt.h"

/* Distribution builds that carry the CVE-2024-21626 fix under an older upstream version: the package
 * version runc prints on its "commit:" line starts with prefix and goes on with "+<suffix>N",
 * N >= min (Debian's security updates: bookworm's 1.1.5+ds1-1+deb12u1, bullseye's
 * 1.0.0~rc93+ds1-5+deb11u3). */
static const struct backport {
	const char *prefix;
	const char *suffix;
	unsigned min;
} cve_2024_21626_backports[] = {
    {"1.1.5+ds1-1", "deb12u", 1},
    {"1.0.0~rc93+ds1-5", "deb11u", 3},
};

/* One decimal number at *p (advanced past it); false when there is none or it is too large. */
static bool take_number(const char **p, unsigned *ret)
{
	char *end = NULL;
	unsigned long v;

	if (!isdigit((unsigned char)**p))
		return false;
	errno = 0;
	v = strtoul(*p, &end, 10);
	if (errno || v > 100000)
		return false;
	*ret = (unsigned)v;
	*p = end;
	return true;
}

/* "1.2.3", "1.14" (crun), "1.2.3-rc.1", "1.0.0~rc93+ds1": a '-' or '~' after the numbers marks a
 * pre-release, a '+' build metadata. */
static int parse_numbers(const char *s, struct rt_runtime_version *v)
{
	const char *p = s;

	if (!take_number(&p, &v->major) || *p++ != '.' || !take_number(&p, &v->minor))
		return -EPROTO;
	v->patch = 0;
	if (p[0] == '.' && isdigit((unsigned char)p[1])) {
		p++;
		if (!take_number(&p, &v->patch))
			return -EPROTO;
	}
	v->prerelease = *p == '-' || *p == '~';
	return 0;
}

/* Copies the rest of the line after prefix into buf; false when no line starts with prefix. */
static bool line_after(const char *text, const char *prefix, char *buf, size_t size)
{
	size_t plen = strlen(prefix);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, prefix, plen) == 0) {
			const char *start = l + plen;
			size_t n = strcspn(start, "\r\n");

			while (n > 0 && isspace((unsigned char)start[n - 1]))
				n--;
			snprintf(buf, size, "%.*s", (int)n, start);
			return true;
		}
	}
	return false;
}

int rt_version_parse(const char *out, struct rt_runtime_version *ret)
{
	struct rt_runtime_version v = {0};

	if (line_after(out, "runc version ", v.version, sizeof(v.version)))
		snprintf(v.name, sizeof(v.name), "runc");
	else if (line_after(out, "crun version ", v.version, sizeof(v.version)))
		snprintf(v.name, sizeof(v.name), "crun");
	else
		return -EPROTO;
	if (parse_numbers(v.version, &v) < 0)
		return -EPROTO;
	(void)line_after(out, "commit: ", v.commit, sizeof(v.commit)); /* optional */
	*ret = v;
	return 0;
}

/* <0, 0, >0 as v is older than, equal to or newer than major.minor.patch (a pre-release is older). */
static int cmp(const struct rt_runtime_version *v, unsigned major, unsigned minor, unsigned patch)
{
	if (v->major != major)
		return v->major < major ? -1 : 1;
	if (v->minor != minor)
		return v->minor < minor ? -1 : 1;
	if (v->patch != patch)
		return v->patch < patch ? -1 : 1;
	return v->prerelease ? -1 : 0;
}

static bool has_backport(const struct rt_runtime_version *v)
{
	for (size_t i = 0; i < ELEMENTSOF(cve_2024_21626_backports); i++) {
		const struct backport *b = &cve_2024_21626_backports[i];
		size_t plen = strlen(b->prefix), slen = strlen(b->suffix);
		const char *c = v->commit;
		char *end = NULL;
		unsigned long n;

		if (strncmp(c, b->prefix, plen) != 0 || c[plen] != '+' ||
		    strncmp(c + plen + 1, b->suffix, slen) != 0)
			continue;
		c += plen + 1 + slen;
		if (!isdigit((unsigned char)*c))
			continue;
		n = strtoul(c, &end, 10);
		if (n >= b->min && (*end == '\0' || *end == '+' || *end == '.' || *end == '~'))
			return true;
	}
	return false;
}

static enum rt_version_verdict judge_runc(const struct rt_runtime_version *v, char *msg, size_t size)
{
	if (cmp(v, 1, 1, 12) < 0 && !has_backport(v)) {
		snprintf(
		    msg, size,
		    "runc %s is older than 1.1.12 and open to CVE-2024-21626 (a container escape through a "
		    "leaked directory fd); install runc 1.1.12 or later",
		    v->version);
		return RT_VERSION_REFUSE;
	}
	if (cmp(v, 1, 2, 8) < 0 || (cmp(v, 1, 3, 0) >= 0 && cmp(v, 1, 3, 3) < 0)) {
		snprintf(
		    msg, size,
		    "runc %s%s%s%s predates the upstream fixes for CVE-2025-31133, CVE-2025-52565 and "
		    "CVE-2025-52881 (runc 1.2.8, 1.3.3): check that your distribution's build carries them",
		    v->version, v->commit[0] ? " (" : "", v->commit, v->commit[0] ? ")" : "");
		return RT_VERSION_WARN;
	}
	snprintf(msg, size, "runc %s", v->version);
	return RT_VERSION_OK;
}

enum rt_version_verdict rt_version_judge(const struct rt_runtime_version *v, char *msg, size_t size)
{
	if (strcmp(v->name, "runc") == 0)
		return judge_runc(v, msg, size);
	if (cmp(v, 1, 14, 0) < 0) {
		snprintf(msg, size, "crun %s is older than 1.14, the oldest crun drover supports",
			 v->version);
		return RT_VERSION_REFUSE;
	}
	snprintf(msg, size, "crun %s", v->version);
	return RT_VERSION_OK;
}

int rt_version_probe(const char *runtime, int timeout_ms, struct rt_runtime_version *ret, struct err **err)
{
	char *argv[] = {(char *)runtime, "--version", NULL};
	_cleanup_free_ char *out = NULL, *errtxt = NULL;
	char desc[64];
	int r, status;

	r = proc_run_deadline(runtime, argv, timeout_ms, &status, &out, &errtxt, err);
	if (r < 0)
		return err_wrap(err, "'%s --version'", runtime);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		proc_describe_status(status, desc, sizeof(desc));
		return err_set(err, EIO, "'%s --version': %s", runtime, desc);
	}
	if (rt_version_parse(out, ret) < 0)
		return err_set(err, EPROTO, "'%s --version' names neither runc nor crun with a version",
			       runtime);
	return 0;
}
