#pragma once
/* droverd's open-file limit, raised at start to what the instances it may hold need. */
#include <stdint.h>

/* Open fds an instance holds while it runs: its shim's pidfd and its container's. */
#define FD_LIMIT_PER_INSTANCE 2
/* The agent's own: API connections, log follows, sources, image jobs, probes under way. */
#define FD_LIMIT_BASE 256

/* The fds max_instances (0: no cap, counted as FD_LIMIT_UNCAPPED) need, with the agent's own. */
uint64_t fd_limit_needed(int64_t max_instances);
/* Raises the soft RLIMIT_NOFILE to the hard one, and the hard one to fd_limit_needed() where it is
 * lower and the agent may (CAP_SYS_RESOURCE; at most fs.nr_open). Logs what it could not do. */
void fd_limit_raise(int64_t max_instances);
