#include <errno.h>
#include <stdint.h>

#include <jansson.h>

#include "runtime/rt-internal.h"

#define CPU_PERIOD_DEFAULT 100000

/* podman's and current Docker's list: /proc/interrupts leaks host activity, powercap's energy
 * counters are a power side channel (PLATYPUS). */
static const char *const masked_paths[] = {
    "/proc/acpi",	   "/proc/asound",     "/proc/kcore",	    "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/sys/firmware",	   "/proc/scsi",       "/proc/interrupts",  "/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static int ns_add(json_t *arr, const char *type, const char *path)
{
	_cleanup_json_ json_t *o = json_object();

	if (!o)
		return -ENOMEM;
	if (rt_json_set(o, "type", json_string(type)) < 0)
		return -ENOMEM;
	if (path && rt_json_set(o, "path", json_string(path)) < 0)
		return -ENOMEM;
	return rt_json_append(arr, TAKE_PTR(o));
}

static int namespaces_json(const struct rt_bundle_spec *s, json_t **ret)
{
	/* cgroup: the container sees its own cgroup as "/", never the host's tree */
	static const char *const always[] = {"pid", "ipc", "uts", "mount", "cgroup"};
	_cleanup_json_ json_t *arr = json_array();
	int r;

	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(always); i++) {
		r = ns_add(arr, always[i], NULL);
		if (r < 0)
			return r;
	}
	if (s->net == RT_NET_NONE)
		r = ns_add(arr, "network", NULL);
	else if (s->net == RT_NET_PATH)
		r = ns_add(arr, "network", s->netns_path);
	else
		r = 0; /* RT_NET_HOST: no entry, the host's namespace is kept */
	if (r < 0)
		return r;
	*ret = TAKE_PTR(arr);
	return 0;
}

/* Only the values the spec sets; NULL in *ret when none is set. */
static int cpu_json(const struct rt_bundle_spec *s, json_t **ret)
{
	_cleanup_json_ json_t *cpu = json_object();

	if (!cpu)
		return -ENOMEM;
	if (s->cpu_quota_us > 0) {
		uint64_t period = s->cpu_period_us ? s->cpu_period_us : CPU_PERIOD_DEFAULT;

		if (rt_json_set(cpu, "quota", json_integer(s->cpu_quota_us)) < 0 ||
		    rt_json_set(cpu, "period", json_integer((json_int_t)period)) < 0)
			return -ENOMEM;
	}
	if (s->cpu_shares > 0 && rt_json_set(cpu, "shares", json_integer((json_int_t)s->cpu_shares)) < 0)
		return -ENOMEM;
	*ret = json_object_size(cpu) > 0 ? TAKE_PTR(cpu) : NULL;
	return 0;
}

/* linux.resources.devices: deny everything; runc then adds its short list of safe devices
 * (null, zero, full, tty, random, urandom, pts, ptmx). */
static int devices_json(json_t **ret)
{
	_cleanup_json_ json_t *arr = json_array();
	_cleanup_json_ json_t *deny = json_object();

	if (!arr || !deny)
		return -ENOMEM;
	if (rt_json_set(deny, "allow", json_false()) < 0 ||
	    rt_json_set(deny, "access", json_string("rwm")) < 0 || rt_json_append(arr, TAKE_PTR(deny)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(arr);
	return 0;
}

/* Sets obj[key] = {inner: value} when value > 0. */
static int set_limit(json_t *obj, const char *key, const char *inner, int64_t value)
{
	_cleanup_json_ json_t *o = NULL;

	if (value <= 0)
		return 0;
	o = json_object();
	if (!o || rt_json_set(o, inner, json_integer(value)) < 0)
		return -ENOMEM;
	return rt_json_set(obj, key, TAKE_PTR(o));
}

static int resources_json(const struct rt_bundle_spec *s, json_t **ret)
{
	_cleanup_json_ json_t *res = json_object();
	json_t *devices = NULL, *cpu = NULL;
	int r;

	if (!res)
		return -ENOMEM;
	r = devices_json(&devices);
	if (r < 0)
		return r;
	if (rt_json_set(res, "devices", devices) < 0)
		return -ENOMEM;
	r = cpu_json(s, &cpu);
	if (r < 0)
		return r;
	if (cpu && rt_json_set(res, "cpu", cpu) < 0)
		return -ENOMEM;
	/* no memory.swap: it needs swap accounting on the host, and runc then leaves swap alone */
	if (set_limit(res, "memory", "limit", s->memory_limit) < 0 ||
	    set_limit(res, "pids", "limit", s->pids_limit) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(res);
	return 0;
}

static int linux_parts(const struct rt_bundle_spec *s, json_t *lx, struct err **err)
{
	json_t *part = NULL;
	int r;

	r = namespaces_json(s, &part);
	if (r < 0 || rt_json_set(lx, "namespaces", part) < 0)
		return err_set(err, ENOMEM, "linux.namespaces");
	if (s->cgroups_path && rt_json_set(lx, "cgroupsPath", json_string(s->cgroups_path)) < 0)
		return err_field(err, "cgroupsPath", EINVAL, "cgroupsPath is not valid UTF-8");
	part = NULL;
	r = resources_json(s, &part);
	if (r < 0 || rt_json_set(lx, "resources", part) < 0)
		return err_set(err, ENOMEM, "linux.resources");
	if (rt_json_set(lx, "maskedPaths", rt_json_strn(masked_paths, ELEMENTSOF(masked_paths))) < 0 ||
	    rt_json_set(lx, "readonlyPaths", rt_json_strn(readonly_paths, ELEMENTSOF(readonly_paths))) < 0)
		return err_set(err, ENOMEM, "linux paths");
	part = NULL;
	r = rt_seccomp_default(&part, err);
	if (r < 0)
		return r;
	if (rt_json_set(lx, "seccomp", part) < 0)
		return err_set(err, ENOMEM, "linux.seccomp");
	return 0;
}

int rt_config_linux(const struct rt_bundle_spec *s, json_t **ret, struct err **err)
{
	_cleanup_json_ json_t *lx = json_object();
	int r;

	if (!lx)
		return err_set(err, ENOMEM, "linux");
	r = linux_parts(s, lx, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(lx);
	return 0;
}
