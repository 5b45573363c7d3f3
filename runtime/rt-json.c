#include <errno.h>
#include <stddef.h>

#include <jansson.h>

#include "runtime/rt-internal.h"

int rt_json_set(json_t *obj, const char *key, json_t *val)
{
	if (!val)
		return -ENOMEM;
	/* json_object_set_new releases val when it fails */
	if (json_object_set_new(obj, key, val) < 0)
		return -ENOMEM;
	return 0;
}

int rt_json_append(json_t *arr, json_t *val)
{
	if (!val)
		return -ENOMEM;
	if (json_array_append_new(arr, val) < 0)
		return -ENOMEM;
	return 0;
}

int rt_json_strv(char *const *v, json_t **ret, size_t *ret_bad)
{
	_cleanup_json_ json_t *arr = json_array();

	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; v && v[i]; i++) {
		json_t *s = json_string(v[i]);

		if (!s) {
			/* the string is copied, so a NULL here is bad UTF-8 far more often than OOM */
			if (ret_bad)
				*ret_bad = i;
			return -EINVAL;
		}
		if (rt_json_append(arr, s) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(arr);
	return 0;
}

json_t *rt_json_strn(const char *const *v, size_t n)
{
	_cleanup_json_ json_t *arr = json_array();

	if (!arr)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (rt_json_append(arr, json_string(v[i])) < 0)
			return NULL;
	return TAKE_PTR(arr);
}
