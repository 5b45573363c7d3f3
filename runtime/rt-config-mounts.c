#include <errno.h>

#include <jansson.h>

#include "runtime/rt-internal.h"

#define MAX_OPTS 8

struct mount_def {
	const char *destination;
	const char *type;
	const char *source;
	const char *options[MAX_OPTS]; /* NULL-terminated */
};

static const struct mount_def default_mounts[] = {
    {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev", NULL}},
    {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k", NULL}},
    {"/dev/pts",
     "devpts",
     "devpts",
     {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL}},
    {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL}},
    {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev", NULL}},
    {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro", NULL}},
    {"/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro", NULL}},
};

static int mount_json(const struct mount_def *m, json_t **ret)
{
	_cleanup_json_ json_t *o = json_object();
	size_t n = 0;

	if (!o)
		return -ENOMEM;
	while (n < MAX_OPTS && m->options[n])
		n++;
	if (rt_json_set(o, "destination", json_string(m->destination)) < 0 ||
	    rt_json_set(o, "type", json_string(m->type)) < 0 ||
	    rt_json_set(o, "source", json_string(m->source)) < 0)
		return -ENOMEM;
	if (n > 0 && rt_json_set(o, "options", rt_json_strn(m->options, n)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(o);
	return 0;
}

int rt_config_mounts(const struct rt_bundle_spec *s, json_t **ret, struct err **err)
{
	_cleanup_json_ json_t *arr = json_array();

	if (!arr)
		return err_set(err, ENOMEM, "mounts");
	for (size_t i = 0; i < ELEMENTSOF(default_mounts); i++) {
		json_t *m = NULL;

		if (mount_json(&default_mounts[i], &m) < 0 || rt_json_append(arr, m) < 0)
			return err_set(err, ENOMEM, "mount '%s'", default_mounts[i].destination);
	}
	if (s->notify_dir) {
		/* read-only: the container can send to the socket (a socket is exempt from the mount's
		 * read-only flag) but neither replace it nor put files next to it */
		struct mount_def notify = {
		    RT_NOTIFY_DIR, "bind", s->notify_dir, {"rbind", "ro", "nosuid", "nodev", "noexec", NULL}};
		json_t *m = NULL;

		if (mount_json(&notify, &m) < 0 || rt_json_append(arr, m) < 0)
			return err_field(err, "notify_dir", EINVAL, "notify dir is not valid UTF-8");
	}
	*ret = TAKE_PTR(arr);
	return 0;
}
