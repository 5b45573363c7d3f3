/* drover-shim command line: --name VALUE or --name=VALUE, every path made absolute once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/shim/shim.h"

/* Relative paths are resolved against the cwd at start: the shim chdirs to / later. */
static char *make_abs(const char *p)
{
	char *cwd, *s = NULL;

	if (p[0] == '/')
		return strdup(p);
	cwd = get_current_dir_name(); /* on the heap: no PATH_MAX buffer deepening the stack */
	if (!cwd)
		return NULL;
	if (asprintf(&s, "%s/%s", cwd, p) < 0)
		s = NULL;
	free(cwd);
	return s;
}

static int set_path(char **slot, const char *name, const char *value, struct err **err)
{
	if (value[0] == '\0')
		return err_set(err, EINVAL, "empty value for '--%s'", name);
	free(*slot);
	*slot = make_abs(value);
	if (!*slot)
		return err_set(err, errno ? errno : ENOMEM, "resolve '--%s' '%s'", name, value);
	return 0;
}

static int set_log_max(struct shim_args *a, const char *value, struct err **err)
{
	const char *end = NULL;
	uint64_t v;

	if (shim_parse_u64(value, &end, &v) < 0 || *end != '\0' || v == 0)
		return err_set(err, EINVAL, "invalid '--log-max' '%s': expected a positive number of bytes",
			       value);
	a->log_max = v;
	return 0;
}

static int set_runtime_timeout(struct shim_args *a, const char *value, struct err **err)
{
	const char *end = NULL;
	uint64_t v;

	if (shim_parse_u64(value, &end, &v) < 0 || *end != '\0' || v == 0 || v > 24ULL * 3600 * 1000)
		return err_set(err, EINVAL,
			       "invalid '--runtime-timeout' '%s': expected milliseconds, from 1 to 86400000",
			       value);
	a->runtime_timeout_ms = v;
	return 0;
}

static int set_id(struct shim_args *a, const char *value, struct err **err)
{
	if (value[0] == '\0' || value[0] == '-' || strchr(value, '/') || strlen(value) > 1024)
		return err_set(err, EINVAL, "invalid '--id' '%s'", value);
	a->id = value;
	return 0;
}

static int set_opt(struct shim_args *a, const char *name, const char *value, struct err **err)
{
	if (strcmp(name, "id") == 0)
		return set_id(a, value, err);
	if (strcmp(name, "bundle") == 0)
		return set_path(&a->bundle, name, value, err);
	if (strcmp(name, "runtime") == 0)
		return set_path(&a->runtime, name, value, err);
	if (strcmp(name, "runtime-root") == 0)
		return set_path(&a->runtime_root, name, value, err);
	if (strcmp(name, "log") == 0)
		return set_path(&a->log_path, name, value, err);
	if (strcmp(name, "oom-file") == 0)
		return set_path(&a->oom_file, name, value, err);
	if (strcmp(name, "log-max") == 0)
		return set_log_max(a, value, err);
	if (strcmp(name, "runtime-timeout") == 0)
		return set_runtime_timeout(a, value, err);
	return err_set(err, EINVAL, "unknown option '--%s'", name);
}

static int check_required(const struct shim_args *a, struct err **err)
{
	if (!a->id)
		return err_set(err, EINVAL, "missing '--id'");
	if (!a->bundle)
		return err_set(err, EINVAL, "missing '--bundle'");
	if (!a->runtime)
		return err_set(err, EINVAL, "missing '--runtime'");
	if (!a->runtime_root)
		return err_set(err, EINVAL, "missing '--runtime-root'");
	if (!a->log_path)
		return err_set(err, EINVAL, "missing '--log'");
	return 0;
}

/* Files runc writes into the bundle, built once so no path buffer sits on the stack later. */
static int bundle_paths(struct shim_args *a, struct err **err)
{
	char *log = NULL, *pid = NULL;

	if (asprintf(&log, "%s/runc.log", a->bundle) < 0)
		return err_set(err, ENOMEM, "bundle paths");
	if (asprintf(&pid, "%s/container.pid", a->bundle) < 0) {
		free(log);
		return err_set(err, ENOMEM, "bundle paths");
	}
	a->runc_log = log;
	a->pid_file = pid;
	return 0;
}

static int parse_all(int argc, char *const *argv, struct shim_args *a, struct err **err)
{
	int r;

	for (int i = 1; i < argc; i++) {
		char name[32];
		const char *arg = argv[i], *value, *eq;
		size_t n;

		if (strncmp(arg, "--", 2) != 0)
			return err_set(err, EINVAL, "unexpected argument '%s'", arg);
		arg += 2;
		if (strcmp(arg, "foreground") == 0) {
			a->foreground = true;
			continue;
		}
		if (strcmp(arg, "notify") == 0) {
			a->notify = true;
			continue;
		}
		eq = strchr(arg, '=');
		n = eq ? (size_t)(eq - arg) : strlen(arg);
		if (n >= sizeof(name))
			return err_set(err, EINVAL, "unknown option '%s'", argv[i]);
		memcpy(name, arg, n);
		name[n] = '\0';
		if (eq) {
			value = eq + 1;
		} else {
			if (i + 1 >= argc)
				return err_set(err, EINVAL, "option '--%s' needs a value", name);
			value = argv[++i];
		}
		r = set_opt(a, name, value, err);
		if (r < 0)
			return r;
	}
	r = check_required(a, err);
	if (r < 0)
		return r;
	return bundle_paths(a, err);
}

int shim_args_parse(int argc, char *const *argv, struct shim_args *ret, struct err **err)
{
	struct shim_args a = {.log_max = SHIM_LOG_MAX_DEFAULT,
			      .runtime_timeout_ms = SHIM_RUNTIME_TIMEOUT_DEFAULT_MS};
	int r;

	r = parse_all(argc, argv, &a, err);
	if (r < 0) {
		shim_args_done(&a);
		return r;
	}
	*ret = a;
	return 0;
}

void shim_args_done(struct shim_args *a)
{
	free(a->bundle);
	free(a->runtime);
	free(a->runtime_root);
	free(a->log_path);
	free(a->oom_file);
	free(a->runc_log);
	free(a->pid_file);
	*a = (struct shim_args){0};
}
