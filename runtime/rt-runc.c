#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "common/proc.h"
#include "runtime/rt-internal.h"
#include "runtime/rt.h"

#define RUNC_ARGV_MAX 16
#define RUNC_MSG_MAX 1024
/* kill and delete run on droverd's event loop: a runtime that hangs is killed rather than waited for */
#define RUNC_DEADLINE_MS 10000

struct runc_result {
	int status;   /* waitpid status */
	char *out;    /* stdout, only for runc_capture */
	char *errtxt; /* stderr, capped */
};

static void runc_result_done(struct runc_result *res)
{
	free(res->out);
	free(res->errtxt);
	res->out = res->errtxt = NULL;
}

static const char *runtime_name(const struct rt_runc *rc)
{
	const char *slash = strrchr(rc->runtime, '/');

	return slash ? slash + 1 : rc->runtime;
}

/* argv = RUNTIME --root ROOT --log-format json TAIL... NULL (errors on stderr come as JSON lines). */
static int runc_argv(const struct rt_runc *rc, const char *const *tail, char **argv)
{
	size_t n = 0;

	argv[n++] = (char *)rc->runtime;
	argv[n++] = (char *)"--root";
	argv[n++] = (char *)rc->runtime_root;
	argv[n++] = (char *)"--log-format";
	argv[n++] = (char *)"json";
	for (; *tail; tail++) {
		if (n + 1 >= RUNC_ARGV_MAX)
			return -E2BIG;
		argv[n++] = (char *)*tail;
	}
	argv[n] = NULL;
	return 0;
}

/* "msg" from a JSON log line, the msg="..." value from a text log line, else the line itself. */
static char *line_msg(const char *line)
{
	const char *m;

	if (line[0] == '{') {
		_cleanup_json_ json_t *doc = json_loads(line, 0, NULL);
		const char *s = doc ? json_string_value(json_object_get(doc, "msg")) : NULL;

		if (s)
			return strndup(s, RUNC_MSG_MAX);
	}
	m = strstr(line, "msg=\"");
	if (m) {
		_cleanup_free_ char *out = strndup(m + 5, RUNC_MSG_MAX);
		size_t j = 0;

		if (!out)
			return NULL;
		for (size_t i = 0; out[i] && out[i] != '"'; i++) {
			if (out[i] == '\\' && out[i + 1])
				i++;
			out[j++] = out[i];
		}
		out[j] = '\0';
		return TAKE_PTR(out);
	}
	return strndup(line, RUNC_MSG_MAX);
}

/* The runtime's last non-empty stderr line, trimmed and reduced to its message. */
static char *runc_last_msg(const char *text)
{
	_cleanup_free_ char *copy = strdup(text ? text : "");
	char *end, *start;

	if (!copy)
		return NULL;
	end = copy + strlen(copy);
	while (end > copy && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	start = strrchr(copy, '\n');
	start = start ? start + 1 : copy;
	while (*start == ' ' || *start == '\t')
		start++;
	return line_msg(start);
}

static bool msg_not_exist(const char *msg)
{
	return msg && (strstr(msg, "does not exist") || strstr(msg, "not exist"));
}

/* Sets err to "runc OP 'ID': exit 1: MESSAGE"; ENOENT/ESRCH for unknown/stopped containers. */
static int runc_fail(const struct rt_runc *rc, const char *op, const char *id, const struct runc_result *res,
		     struct err **err)
{
	_cleanup_free_ char *msg = runc_last_msg(res->errtxt);
	char desc[64];
	int errnum = EIO;

	proc_describe_status(res->status, desc, sizeof(desc));
	if (msg_not_exist(msg))
		errnum = ENOENT;
	else if (msg && strstr(msg, "not running"))
		errnum = ESRCH;
	return err_set(err, errnum, "%s %s '%s': %s: %s", runtime_name(rc), op, id, desc,
		       msg && *msg ? msg : "no message");
}

static bool exited_ok(int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int runc_run(const struct rt_runc *rc, const char *const *tail, struct runc_result *res,
		    struct err **err)
{
	char *argv[RUNC_ARGV_MAX];

	if (runc_argv(rc, tail, argv) < 0)
		return err_set(err, E2BIG, "%s %s: too many arguments", runtime_name(rc), tail[0]);
	return proc_run_deadline(rc->runtime, argv, RUNC_DEADLINE_MS, &res->status, NULL, &res->errtxt, err);
}

/* Like runc_run, and keeps stdout too (capped), under the same deadline. */
static int runc_capture(const struct rt_runc *rc, const char *const *tail, struct runc_result *res,
			struct err **err)
{
	char *argv[RUNC_ARGV_MAX];

	if (runc_argv(rc, tail, argv) < 0)
		return err_set(err, E2BIG, "%s %s: too many arguments", runtime_name(rc), tail[0]);
	return proc_run_deadline(rc->runtime, argv, RUNC_DEADLINE_MS, &res->status, &res->out, &res->errtxt,
				 err);
}

int rt_runc_kill(const struct rt_runc *rc, const char *id, int sig, bool all, struct err **err)
{
	_cleanup_(runc_result_done) struct runc_result res = {0};
	char signum[16];
	const char *with_all[] = {"kill", "--all", id, signum, NULL};
	const char *plain[] = {"kill", id, signum, NULL};
	int r;

	if (sig <= 0 || sig >= NSIG)
		return err_set(err, EINVAL, "%s kill '%s': invalid signal %d", runtime_name(rc), id, sig);
	snprintf(signum, sizeof(signum), "%d", sig);
	r = runc_run(rc, all ? with_all : plain, &res, err);
	if (r < 0)
		return err_wrap(err, "%s kill '%s'", runtime_name(rc), id);
	if (!exited_ok(res.status))
		return runc_fail(rc, "kill", id, &res, err);
	return 0;
}

int rt_runc_delete(const struct rt_runc *rc, const char *id, struct err **err)
{
	_cleanup_(runc_result_done) struct runc_result res = {0};
	const char *tail[] = {"delete", "--force", id, NULL};
	_cleanup_free_ char *msg = NULL;
	int r;

	r = runc_run(rc, tail, &res, err);
	if (r < 0)
		return err_wrap(err, "%s delete '%s'", runtime_name(rc), id);
	if (exited_ok(res.status))
		return 0;
	msg = runc_last_msg(res.errtxt);
	if (msg_not_exist(msg))
		return 0; /* already gone: what delete wanted */
	return runc_fail(rc, "delete", id, &res, err);
}

static int state_parse(const char *out, char *ret_status, size_t size, pid_t *ret_pid)
{
	_cleanup_json_ json_t *doc = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
	const char *status = NULL;
	json_int_t pid = 0;

	if (!doc || json_unpack(doc, "{s:s, s:I}", "status", &status, "pid", &pid) < 0)
		return -EPROTO;
	if (pid < 0 || pid > INT32_MAX)
		return -EPROTO;
	if (strlen(status) >= size)
		return -ENOBUFS;
	memcpy(ret_status, status, strlen(status) + 1);
	if (ret_pid)
		*ret_pid = (pid_t)pid;
	return 0;
}

int rt_runc_state(const struct rt_runc *rc, const char *id, char *ret_status, size_t size, pid_t *ret_pid,
		  struct err **err)
{
	_cleanup_(runc_result_done) struct runc_result res = {0};
	const char *tail[] = {"state", id, NULL};
	_cleanup_free_ char *msg = NULL;
	int r;

	if (size == 0)
		return err_set(err, EINVAL, "%s state '%s': empty status buffer", runtime_name(rc), id);
	r = runc_capture(rc, tail, &res, err);
	if (r < 0)
		return err_wrap(err, "%s state '%s'", runtime_name(rc), id);
	if (!exited_ok(res.status)) {
		msg = runc_last_msg(res.errtxt);
		if (!msg_not_exist(msg))
			return runc_fail(rc, "state", id, &res, err);
		ret_status[0] = '\0'; /* unknown to the runtime */
		if (ret_pid)
			*ret_pid = 0;
		return 0;
	}
	r = state_parse(res.out, ret_status, size, ret_pid);
	if (r < 0)
		return err_set(err, -r, "%s state '%s': unexpected output", runtime_name(rc), id);
	return 0;
}
