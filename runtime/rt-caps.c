#include <ctype.h>
#include <errno.h>
#include <string.h>

#include <sys/capability.h>

#include <jansson.h>

#include "runtime/rt-internal.h"

/* The bounding/effective/permitted set every drover container starts with. */
static const char *const default_caps[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",	       "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",	       "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",	   "CAP_AUDIT_WRITE",
};

/* libcap knows capabilities by their lower-case names ("cap_chown"). */
static int cap_check(const char *name)
{
	char lower[64];
	cap_value_t v;
	size_t n = strlen(name);

	if (n >= sizeof(lower))
		return -EINVAL;
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	if (cap_from_name(lower, &v) < 0)
		return -EINVAL;
	return 0;
}

int rt_caps_default(json_t **ret, struct err **err)
{
	_cleanup_json_ json_t *arr = json_array();

	if (!arr)
		return err_set(err, ENOMEM, "capability list");
	for (size_t i = 0; i < ELEMENTSOF(default_caps); i++) {
		if (cap_check(default_caps[i]) < 0)
			return err_set(err, EINVAL, "capability '%s' is unknown to libcap", default_caps[i]);
		if (rt_json_append(arr, json_string(default_caps[i])) < 0)
			return err_set(err, ENOMEM, "capability list");
	}
	*ret = TAKE_PTR(arr);
	return 0;
}
