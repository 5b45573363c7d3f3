/* Every running instance holds two pidfds in droverd, and each start a few more for a moment: 500
 * instances need more than the soft limit of 1024 a shell or an init without LimitNOFILE gives a
 * process. Raising the soft limit to the hard one needs no privilege; past the hard one only with
 * CAP_SYS_RESOURCE. Children inherit the raised limit: the shim is the agent's own, and a container
 * gets its limit from its config.json (runtime/rt-config.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/fd-limit.h"
#include "common/cleanup.h"
#include "common/log.h"

#define FD_LIMIT_UNCAPPED 4096 /* instances counted for --max-instances 0 */

uint64_t fd_limit_needed(int64_t max_instances)
{
	uint64_t n = max_instances > 0 ? (uint64_t)max_instances : FD_LIMIT_UNCAPPED;

	return n * FD_LIMIT_PER_INSTANCE + FD_LIMIT_BASE;
}

static rlim_t nr_open(void)
{
	_cleanup_close_ int fd = open("/proc/sys/fs/nr_open", O_RDONLY | O_CLOEXEC);
	char buf[32];
	ssize_t n;

	if (fd < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return 1024 * 1024; /* the kernel's default */
	buf[n] = '\0';
	return (rlim_t)strtoull(buf, NULL, 10);
}

void fd_limit_raise(int64_t max_instances)
{
	rlim_t want = (rlim_t)fd_limit_needed(max_instances), cap = nr_open();
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_warn_errno(-errno, "getrlimit(RLIMIT_NOFILE), keeping the open-file limit as it is");
		return;
	}
	if (want > cap)
		want = cap;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want &&
	    setrlimit(RLIMIT_NOFILE, &(struct rlimit){want, want}) == 0)
		return;
	if (rl.rlim_cur != rl.rlim_max &&
	    setrlimit(RLIMIT_NOFILE, &(struct rlimit){rl.rlim_max, rl.rlim_max}) < 0)
		log_warn_errno(-errno, "raise the open-file limit from %llu to %llu",
			       (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		log_warn("the open-file limit %llu is below the %llu that --max-instances %lld needs (%d per "
			 "instance): starts may fail with EMFILE; raise LimitNOFILE",
			 (unsigned long long)rl.rlim_max, (unsigned long long)want, (long long)max_instances,
			 FD_LIMIT_PER_INSTANCE);
}
