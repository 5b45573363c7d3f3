/* The agent API end to end, minus the machinery behind it: raw request bytes go over a real unix
 * socket into the agent's libmicrohttpd server (api_start, the same code droverd runs), through
 * routing, spec parsing and the handlers (instances, logs, events, images, node, metrics), and the
 * harness reads the whole answer back. What would start containers or drover-image is replaced at
 * link time (tests/fuzz/fuzz-agent.h): agent_apply and agent_remove keep a plain instance table,
 * agent_image_run answers once the request is suspended (like a finished drover-image run).
 *
 * The input is one or more HTTP/1.1 requests. A line "--log--" ends them; what follows becomes
 * the container log of every instance (records "TS STREAM F|P TEXT"), read by GET .../logs. */
#include <sys/socket.h>
#include <sys/un.h>

#include "agent/api-internal.h"
#include "agent/api.h"
#include "agent/source.h"
#include "tests/fuzz/fuzz-agent.h"

#define ROUNDS_MAX 64

static struct agent agent;
static struct api *api;
static char sock_path[108], bundles[96];
static const char *log_text;
static size_t log_len;

static void write_log(struct instance *i)
{
	char *dir = fs_path_join(bundles, i->id);
	int dfd;

	FUZZ_ASSERT(dir && fs_mkdir_p(AT_FDCWD, dir, 0755) == 0);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FUZZ_ASSERT(dfd >= 0);
	FUZZ_ASSERT(fs_write_atomic(dfd, "container.log", log_text, log_len, 0644, FS_NOSYNC, NULL) == 0);
	close(dfd);
	free(dir);
}

static struct agent_config fuzz_cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = fuzz_sandbox(); /* a tmpfs: creating and removing files is cheap */
	struct err *e = NULL;

	(void)argc;
	(void)argv;
	fuzz_quiet();
	snprintf(sock_path, sizeof(sock_path), "%s/api.sock", base);
	snprintf(bundles, sizeof(bundles), "%s/bundles", base);
	/* the agent's flags at their zero values, with the paths the handlers look at */
	fuzz_cfg.state_dir = (char *)base;
	fuzz_cfg.run_dir = (char *)base;
	fuzz_cfg.history_limit = 10;
	agent.cfg = &fuzz_cfg;
	agent.node_name = (char *)"fuzz-node";
	agent.bundles_dir = bundles;
	fuzz_on_create = write_log;
	FUZZ_ASSERT(loop_new(&agent.loop) == 0);
	/* the API's own set, which per-instance PUT and DELETE edit, and PUT /v1/assignments replaces */
	FUZZ_ASSERT(source_set_open(&agent, SRC_API, &agent.api_set, &e) >= 0);
	if (api_start(&agent, sock_path, &api, &e) < 0) {
		fprintf(stderr, "fuzz: api_start: %s\n", err_msg(e));
		abort();
	}
	return 0;
}

static int connect_client(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	FUZZ_ASSERT(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	FUZZ_ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

/* Sends what fits, runs the server, reads the answers; true once the server closed. */
static bool drive(int fd, const uint8_t **req, size_t *len)
{
	char buf[65536];
	ssize_t n;

	if (*len > 0) {
		n = send(fd, *req, *len, MSG_NOSIGNAL);
		if (n > 0) {
			*req += n;
			*len -= (size_t)n;
		}
		if (*len == 0)
			(void)shutdown(fd, SHUT_WR);
	}
	api_kick(api);
	fuzz_finish_pendings();
	api_followers_wake(api, WAKE_EVERYONE); /* event long-polls and followed logs: answer now */
	api_kick(api);
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		if (getenv("FUZZ_VERBOSE")) /* to see what a seed gets back */
			fwrite(buf, 1, (size_t)n, stderr);
	return n == 0;
}

static void reset(void)
{
	fuzz_agent_reset(&agent);
	FUZZ_ASSERT(fs_rm_rf(AT_FDCWD, bundles) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *marker = memmem(data, size, "\n--log--\n", 9);
	size_t req_len = marker ? (size_t)(marker - data) + 1 : size;
	const uint8_t *req = data;
	bool closed = false;
	int fd;

	log_text = marker ? (const char *)marker + 9 : "";
	log_len = marker ? size - req_len - 8 : 0;
	if (req_len == 0)
		req_len = size;
	fd = connect_client();
	if (req_len == 0)
		(void)shutdown(fd, SHUT_WR);
	for (int round = 0; round < ROUNDS_MAX && !closed; round++)
		closed = drive(fd, &req, &req_len);
	close(fd);
	/* A followed log ends when its instance stops (a suspended connection does not see its
	 * client go): stop them all, as their exits would. */
	for (struct instance *i = agent.instances; i; i = i->next)
		i->phase = PH_EXITED;
	for (int round = 0; round < 4; round++) {
		api_followers_wake(api, WAKE_EVERYONE);
		api_kick(api);
		fuzz_finish_pendings();
	}
	FUZZ_ASSERT(!api->followers && !api->pulls && !pendings);
	reset();
	return 0;
}
