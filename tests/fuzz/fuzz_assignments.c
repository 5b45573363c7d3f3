/* The assignments dir: a spec file as an operator (or a config tool) drops it there. The input
 * is "NAME\nCONTENT": the file's name (sanitised to one component ending in ".json") and its
 * bytes. The dir source scans it twice, as at two agent starts: the second scan meets the
 * instance (or the failed placeholder) the first one left. agent_apply and agent_remove are the
 * harness's (tests/fuzz/fuzz-agent.h). */
#include "agent/source-dir.h"
#include "tests/fuzz/fuzz-agent.h"

static struct agent agent;
static char dir[96], instances[96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = fuzz_sandbox(); /* a tmpfs: creating and removing files is cheap */

	(void)argc;
	(void)argv;
	fuzz_quiet();
	snprintf(dir, sizeof(dir), "%s/assignments.d", base);
	snprintf(instances, sizeof(instances), "%s/instances", base);
	FUZZ_ASSERT(mkdir(dir, 0755) == 0 && mkdir(instances, 0700) == 0);
	agent.instances_dir = instances;
	agent.node_name = (char *)"fuzz-node";
	return 0;
}

/* The file name from the input's first line: one path component, ending in ".json". */
static char *file_name(const uint8_t *data, size_t size, size_t *ret_skip)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t len = nl ? (size_t)(nl - data) : 0;
	char *name = NULL;

	*ret_skip = nl ? len + 1 : 0;
	if (len == 0 || len > 200 || memchr(data, '/', len) || memchr(data, '\0', len) || data[0] == '.')
		return strdup("spec.json");
	if (asprintf(&name, "%.*s%s", (int)len, (const char *)data,
		     len > 5 && memcmp(data + len - 5, ".json", 5) == 0 ? "" : ".json") < 0)
		return NULL;
	return name;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dir_source *d = NULL;
	size_t skip;
	char *name = file_name(data, size, &skip);
	int dfd;

	FUZZ_ASSERT(name);
	FUZZ_ASSERT(loop_new(&agent.loop) == 0); /* a fresh one: removed fds are freed by loop_run */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FUZZ_ASSERT(dfd >= 0);
	FUZZ_ASSERT(fs_write_atomic(dfd, name, data + skip, size - skip, 0644, FS_NOSYNC, NULL) == 0);
	for (int pass = 0; pass < 2; pass++) {
		FUZZ_ASSERT(dir_source_start(&agent, dir, &d) == 0);
		FUZZ_ASSERT(agent.instances && !agent.instances->next); /* one file: one instance */
		d = dir_source_free(d);
	}
	FUZZ_ASSERT(unlinkat(dfd, name, 0) == 0);
	close(dfd);
	free(name);
	fuzz_agent_reset(&agent);
	agent.loop = loop_free(agent.loop);
	FUZZ_ASSERT(fs_rm_rf(AT_FDCWD, instances) == 0 && mkdir(instances, 0700) == 0);
	return 0;
}
