/* The restart back-off of a spec (an extension): restart_backoff {initial_ms, max_ms,
 * reset_after_ms}, each defaulting to the agent's historical constant. */
#include <errno.h>

#include "spec/spec-internal.h"

void spec_backoff_defaults(struct spec_backoff *b)
{
	b->initial_ms = SPEC_BACKOFF_INITIAL_MS;
	b->max_ms = SPEC_BACKOFF_MAX_MS;
	b->reset_after_ms = SPEC_BACKOFF_RESET_AFTER_MS;
}

int spec_parse_backoff(json_t *v, struct spec *s, struct err **err)
{
	static const char *const keys[] = {"initial_ms", "max_ms", "reset_after_ms", NULL};
	struct spec_backoff *b = &s->backoff;
	json_t *f;
	int r;

	spec_backoff_defaults(b);
	if (!v)
		return 0;
	if (!json_is_object(v))
		return err_field(
		    err, "restart_backoff", EINVAL,
		    "'restart_backoff' must be an object with initial_ms, max_ms, reset_after_ms");
	r = spec_check_keys(v, "restart_backoff", keys, err);
	if (r < 0)
		return r;
	f = json_object_get(v, "initial_ms");
	if (f && (r = spec_get_int(f, "restart_backoff.initial_ms", SPEC_BACKOFF_MIN_MS, SPEC_BACKOFF_CEIL_MS,
				   &b->initial_ms, err)) < 0)
		return r;
	f = json_object_get(v, "max_ms");
	if (f && (r = spec_get_int(f, "restart_backoff.max_ms", SPEC_BACKOFF_MIN_MS, SPEC_BACKOFF_CEIL_MS,
				   &b->max_ms, err)) < 0)
		return r;
	f = json_object_get(v, "reset_after_ms");
	if (f && (r = spec_get_int(f, "restart_backoff.reset_after_ms", SPEC_BACKOFF_MIN_MS,
				   SPEC_BACKOFF_RESET_CEIL_MS, &b->reset_after_ms, err)) < 0)
		return r;
	if (b->initial_ms > b->max_ms)
		return err_field(err, "restart_backoff.initial_ms", EINVAL,
				 "'restart_backoff.initial_ms' (%lld) must not exceed max_ms (%lld%s)",
				 (long long)b->initial_ms, (long long)b->max_ms,
				 json_object_get(v, "max_ms") ? "" : ", the default");
	return 0;
}

int64_t spec_backoff_delay(const struct spec_backoff *b, int64_t cur_ms)
{
	if (cur_ms <= 0)
		return b->initial_ms;
	return cur_ms > b->max_ms ? b->max_ms : cur_ms;
}

int64_t spec_backoff_grow(const struct spec_backoff *b, int64_t cur_ms)
{
	struct spec_backoff dflt;

	if (!b) {
		spec_backoff_defaults(&dflt);
		b = &dflt;
	}
	if (cur_ms <= 0)
		return 0;
	return cur_ms > b->max_ms / 2 ? b->max_ms : cur_ms * 2;
}
