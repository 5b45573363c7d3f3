/* `runc --version` at start: refuse a runtime with a known container escape (issue 7, M4). */
#include <errno.h>
#include <string.h>

#include "agent/runtime-check.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "runtime/rt.h"

#define VERSION_DEADLINE_MS 5000

int agent_runtime_check(const char *runtime_path, const char *mode)
{
	_cleanup_err_ struct err *e = NULL;
	struct rt_runtime_version v;
	enum rt_version_verdict verdict;
	bool refuse;
	char msg[512];

	if (!mode || strcmp(mode, "off") == 0)
		return 0;
	if (strcmp(mode, "refuse") != 0 && strcmp(mode, "warn") != 0) {
		log_err("'runtime-version-check' must be refuse, warn or off, got '%s'", mode);
		return -EINVAL;
	}
	refuse = strcmp(mode, "refuse") == 0;
	if (rt_version_probe(runtime_path, VERSION_DEADLINE_MS, &v, &e) < 0) {
		if (refuse) {
			log_err("cannot tell the OCI runtime's version: %s (start with "
				"--runtime-version-check=warn "
				"to run it anyway)",
				err_msg(e));
			return -e->errnum;
		}
		log_warn("cannot tell the OCI runtime's version: %s, ignoring", err_msg(e));
		return 0;
	}
	verdict = rt_version_judge(&v, msg, sizeof(msg));
	if (verdict == RT_VERSION_REFUSE && refuse) {
		log_err("%s (or start with --runtime-version-check=warn to run it anyway)", msg);
		return -EPERM;
	}
	if (verdict != RT_VERSION_OK)
		log_warn("%s", msg);
	else
		log_info("OCI runtime %s", msg);
	return 0;
}
