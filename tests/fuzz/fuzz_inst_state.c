/* What droverd reads back from disk after a restart or an exit: the instance record
 * (STATE_DIR/instances/ID.json: spec, next_spec, status fields) and the shim's exit record
 * (BUNDLE/exit.json). The first byte picks which; the rest is the file. */
#include "agent/agent.h"
#include "agent/instance-internal.h"
#include "tests/fuzz/fuzz.h"

static struct agent agent;
static char instances[96], bundle[96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = fuzz_sandbox(); /* a tmpfs: creating and removing files is cheap */

	(void)argc;
	(void)argv;
	fuzz_quiet();
	snprintf(instances, sizeof(instances), "%s/instances", base);
	snprintf(bundle, sizeof(bundle), "%s/bundle", base);
	FUZZ_ASSERT(mkdir(instances, 0700) == 0 && mkdir(bundle, 0700) == 0);
	agent.instances_dir = instances;
	agent.node_name = (char *)"fuzz-node";
	return 0;
}

static void put(const char *dir, const char *name, const uint8_t *data, size_t size)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	FUZZ_ASSERT(dfd >= 0);
	FUZZ_ASSERT(fs_write_atomic(dfd, name, data, size, 0600, FS_NOSYNC, NULL) == 0);
	close(dfd);
}

static void instance_record(const uint8_t *data, size_t size)
{
	struct instance *i = NULL;
	struct err *e = NULL;

	put(instances, "fuzz.json", data, size);
	if (inst_load(&agent, "fuzz.json", &i, &e) >= 0) {
		json_t *st;
		FUZZ_ASSERT(i && i->spec && i->phase <= PH_FAILED);
		st = inst_status_json(i);
		FUZZ_ASSERT(st);
		json_decref(st);
		inst_free(i);
	} else {
		FUZZ_ASSERT(e && e->msg);
	}
	err_free(&e);
}

static void exit_record(const uint8_t *data, size_t size)
{
	struct instance *i = inst_new(&agent, "fuzz", SRC_API, NULL);

	FUZZ_ASSERT(i && (i->bundle_dir = strdup(bundle)));
	put(bundle, "exit.json", data, size);
	inst_read_exit_record(i);
	FUZZ_ASSERT(i->finished_at > 0);
	inst_free(i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		exit_record(data + 1, size - 1);
	else
		instance_record(data + 1, size - 1);
	return 0;
}
