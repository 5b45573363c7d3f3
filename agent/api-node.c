/* GET /v1/node: what a control plane needs to place work here. Capacity, allocatable (capacity
 * minus --system-reserved), what instances request by qos tier, what the cgroup root uses, pressure
 * conditions and instance counts. Everything is read when asked: a handful of small files. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent/api-internal.h"
#include "agent/api.h"
#include "agent/coloc.h"
#include "agent/instance.h"
#include "agent/node-resources.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/timeutil.h"
#include "common/version.h"

/* The previous cgroup CPU reading, so cpu_millis is the rate between two calls. */
static int64_t last_cpu_ns = -1, last_cpu_at;

static int64_t read_proc_int(const char *path)
{
	_cleanup_free_ char *text = NULL;
	char *end = NULL;
	long long v;

	if (fs_read_file(AT_FDCWD, path, 4096, &text, NULL, NULL) < 0)
		return -1; /* absent (a restricted /proc): unknown */
	v = strtoll(text, &end, 10);
	return end == text || v < 0 ? -1 : v;
}

static int64_t meminfo_value(const char *key)
{
	_cleanup_free_ char *text = NULL;
	const char *p;
	long long kb;

	if (fs_read_file(AT_FDCWD, "/proc/meminfo", 64 * 1024, &text, NULL, NULL) < 0 ||
	    !(p = strstr(text, key)))
		return -1;
	if (sscanf(p + strlen(key), " %lld kB", &kb) != 1) // NOLINT(cert-err34-c): checked, -1 on junk
		return -1;
	return kb * 1024;
}

/* Tasks on the node: /proc/loadavg's "running/total" field. */
static int64_t tasks_in_use(void)
{
	_cleanup_free_ char *text = NULL;
	const char *slash;

	if (fs_read_file(AT_FDCWD, "/proc/loadavg", 4096, &text, NULL, NULL) < 0 ||
	    !(slash = strchr(text, '/')))
		return -1;
	return strtoll(slash + 1, NULL, 10);
}

static json_t *res_json(const struct node_res *r)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "cpu_millis", (json_int_t)r->cpu_millis, "memory_bytes",
			 (json_int_t)r->memory_bytes, "pids", (json_int_t)r->pids, "ephemeral_storage_bytes",
			 (json_int_t)r->storage_bytes);
}

static json_t *int_or_null(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

static void capacity(struct agent *a, struct node_res *cap, struct node_signals *sig)
{
	int64_t pid_max = read_proc_int("/proc/sys/kernel/pid_max"),
		thr_max = read_proc_int("/proc/sys/kernel/threads-max");
	struct statvfs vfs;

	cap->cpu_millis = (int64_t)sysconf(_SC_NPROCESSORS_ONLN) * 1000;
	cap->memory_bytes = (int64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
	cap->pids = pid_max > 0 && (thr_max <= 0 || pid_max < thr_max) ? pid_max : thr_max;
	*sig = (struct node_signals){.mem_total = cap->memory_bytes,
				     .mem_available = meminfo_value("MemAvailable:"),
				     .mem_full_avg10 = -1,
				     .disk_total = -1,
				     .disk_avail = -1,
				     .inodes_total = -1,
				     .inodes_free = -1,
				     .pids_used = tasks_in_use(),
				     .pids_max = cap->pids};
	if (statvfs(a->cfg->state_dir, &vfs) == 0) {
		cap->storage_bytes = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
		sig->disk_total = cap->storage_bytes;
		sig->disk_avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
		sig->inodes_total = (int64_t)vfs.f_files;
		sig->inodes_free = (int64_t)vfs.f_favail;
	}
}

/* Instances that hold (or will take again) their requests: all but those stopped for good. */
static bool holds_requests(const struct instance *i)
{
	if (!i->spec || i->removing)
		return false;
	return !((i->phase == PH_EXITED || i->phase == PH_FAILED) && !i->restart_timer);
}

static json_t *allocated_json(struct agent *a)
{
	struct node_res by_qos[2] = {{0}, {0}}, total;
	int n[2] = {0, 0};

	for (struct instance *i = a->instances; i; i = i->next) {
		int q;
		if (!holds_requests(i))
			continue;
		q = i->spec->qos == SPEC_QOS_BATCH;
		node_res_add_spec(&by_qos[q], i->spec);
		n[q]++;
	}
	total = (struct node_res){by_qos[0].cpu_millis + by_qos[1].cpu_millis,
				  by_qos[0].memory_bytes + by_qos[1].memory_bytes,
				  by_qos[0].pids + by_qos[1].pids, 0};
	json_t *on = res_json(&by_qos[0]), *ba = res_json(&by_qos[1]), *to = res_json(&total);
	json_object_set_new(on, "instances", json_integer(n[0]));
	json_object_set_new(ba, "instances", json_integer(n[1]));
	json_object_set_new(to, "instances", json_integer(n[0] + n[1]));
	json_object_del(on, "ephemeral_storage_bytes");
	json_object_del(ba, "ephemeral_storage_bytes");
	json_object_del(to, "ephemeral_storage_bytes");
	return json_pack("{s:o, s:o, s:o}", "online", on, "batch", ba, "total", to);
}

static json_t *cpu_rate(int64_t cpu_ns)
{
	int64_t now = time_mono_ns();
	json_t *v = json_null();

	if (cpu_ns >= 0 && last_cpu_ns >= 0 && cpu_ns >= last_cpu_ns && now > last_cpu_at)
		v = json_integer((cpu_ns - last_cpu_ns) * 1000 / (now - last_cpu_at));
	last_cpu_ns = cpu_ns;
	last_cpu_at = now;
	return v;
}

static json_t *usage_json(struct agent *a, const struct node_signals *sig)
{
	struct cg_usage u;

	(void)cg_root_usage(a->cg, &u, NULL); /* unknown fields stay -1 and show as null */
	return json_pack(
	    "{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "cpu_usage_nanoseconds", int_or_null(u.cpu_ns),
	    "cpu_millis", cpu_rate(u.cpu_ns), "memory_bytes", int_or_null(u.memory_bytes),
	    "memory_working_set_bytes", int_or_null(u.memory_working_set), "pids", int_or_null(u.pids),
	    "node_memory_available_bytes", int_or_null(sig->mem_available), "ephemeral_storage_bytes",
	    int_or_null(sig->disk_total >= 0 ? sig->disk_total - sig->disk_avail : -1));
}

/* PSI, where the kernel has it: {"cpu": {...}, "memory": {...}, "io": {...}} or null. */
static json_t *pressure_json(struct node_signals *sig)
{
	static const char *const kinds[] = {"cpu", "memory", "io"};
	json_t *out = json_object();
	bool any = false;

	for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
		_cleanup_free_ char *text = NULL;
		char path[64];
		double some, full;

		snprintf(path, sizeof(path), "/proc/pressure/%s", kinds[k]);
		if (fs_read_file(AT_FDCWD, path, 4096, &text, NULL, NULL) < 0 ||
		    node_psi_parse(text, &some, &full) < 0)
			continue;
		any = true;
		json_object_set_new(out, kinds[k],
				    json_pack("{s:o, s:o}", "some_avg10",
					      some >= 0 ? json_real(some) : json_null(), "full_avg10",
					      full >= 0 ? json_real(full) : json_null()));
		if (k == 1)
			sig->mem_full_avg10 = full;
	}
	if (!any) {
		json_decref(out);
		return json_null();
	}
	return out;
}

static json_t *conditions_json(const struct node_signals *sig)
{
	struct node_cond c[_NODE_COND_MAX];
	json_t *arr = json_array();

	node_conditions(sig, c);
	for (int k = 0; k < _NODE_COND_MAX; k++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "type", c[k].type, "status",
						     node_cond_status_name(c[k].status), "reason",
						     c[k].reason, "message", c[k].message));
	return arr;
}

static json_t *instances_json(struct agent *a)
{
	int counts[PH_FAILED + 1] = {0}, total = 0;
	json_t *phases = json_object();

	for (struct instance *i = a->instances; i; i = i->next, total++)
		counts[i->phase]++;
	for (int p = PH_PENDING; p <= PH_FAILED; p++)
		json_object_set_new(phases, inst_phase_name((enum inst_phase)p), json_integer(counts[p]));
	return json_pack("{s:i, s:o}", "total", total, "by_phase", phases);
}

/* The node status: GET /v1/node, and the "node" of every report to a control plane or etcd. */
json_t *api_node_json(struct agent *a)
{
	struct node_res cap = {0}, reserved = {0}, alloc;
	struct node_signals sig;
	int64_t up_ns = time_mono_ns() - a->started_mono;
	char started[32];
	json_t *pressure;

	(void)node_res_parse(a->cfg->system_reserved, &reserved, NULL); /* checked at start */
	capacity(a, &cap, &sig);
	node_res_sub(&cap, &reserved, &alloc);
	pressure = pressure_json(&sig);
	time_fmt_rfc3339(time_now_ns() - up_ns, started, sizeof(started));
	return json_pack(
	    "{s:s, s:s, s:s, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:s, s:s}}", "name",
	    a->node_name, "version", DROVER_VERSION, "started_at", started, "uptime_seconds",
	    (json_int_t)(up_ns / 1000000000LL), "cgroup_version",
	    cg_version_name(a->cg ? cg_ctx_version(a->cg) : CG_V1), "capacity", res_json(&cap),
	    "system_reserved", res_json(&reserved), "allocatable", res_json(&alloc), "allocated",
	    allocated_json(a), "usage", usage_json(a, &sig), "pressure", pressure, "conditions",
	    conditions_json(&sig), "instances", instances_json(a), "colocation", coloc_status_json(a->coloc),
	    /* droverctl exec runs the runtime itself, on the agent's host */
	    "runtime", "path", a->runtime_path, "root", a->runc_root);
}

enum MHD_Result api_node(struct api *api, struct http_req *req)
{
	return http_reply_json(req, 200, api_node_json(api->a));
}
