/* droverctl list tables: instance statuses (ps) and images (image ls). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl-fmt.h"
#include "cli/ctl-list.h"
#include "cli/ctl-table.h"
#include "common/cleanup.h"

static int cmp_by_id(const void *a, const void *b)
{
	const char *ia = json_string_value(json_object_get(*(json_t *const *)a, "id"));
	const char *ib = json_string_value(json_object_get(*(json_t *const *)b, "id"));

	return strcmp(ia ? ia : "", ib ? ib : "");
}

/* A status field as a cell; 0 and "" mean "not known" for the fields that use it. */
static char *status_cell(const json_t *st, const char *key, bool zero_is_unset)
{
	const json_t *v = json_object_get(st, key);

	if (zero_is_unset && json_is_integer(v) && json_integer_value(v) == 0)
		return strdup("");
	return ctl_json_text(v);
}

static int add_status_row(struct ctl_table *t, const json_t *st, int64_t now)
{
	static const char *const keys[] = {"id",     "revision", "phase", "ready",   "health",
					   "reason", "pid",	 "ip",	  "restarts"};
	char *cells[ELEMENTSOF(keys) + 1] = {NULL};
	char age[24];
	int r = 0;

	ctl_fmt_age_since(json_string_value(json_object_get(st, "started_at")), now, age, sizeof(age));
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		cells[i] = status_cell(st, keys[i], strcmp(keys[i], "pid") == 0);
		if (!cells[i])
			r = -ENOMEM;
	}
	cells[ELEMENTSOF(keys)] = age;
	if (r == 0)
		r = ctl_table_add_row(t, (const char *const *)cells);
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		free(cells[i]);
	return r;
}

typedef int (*row_fn)(struct ctl_table *t, const json_t *item, int64_t now);

/* Sorts the array's items with cmp and prints one row each under hdr. */
static int print_sorted(const json_t *list, const char *const *hdr, size_t n_hdr,
			int (*cmp)(const void *, const void *), row_fn add_row, int64_t now, FILE *out)
{
	_cleanup_table_ struct ctl_table *t = ctl_table_new(hdr, n_hdr);
	_cleanup_free_ json_t **items = NULL;
	size_t n = json_array_size(list);
	int r;

	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of json_t pointers
	items = calloc(n + 1, sizeof(*items));
	if (!t || !items)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		items[i] = json_array_get(list, i);
	qsort(items, n, sizeof(*items), // NOLINT(bugprone-sizeof-expression): pointers are sorted
	      cmp);
	for (size_t i = 0; i < n; i++) {
		r = add_row(t, items[i], now);
		if (r < 0)
			return r;
	}
	ctl_table_print(t, out);
	return 0;
}

/* Statuses sorted by id into a table printed to out. */
int ctl_print_statuses(const json_t *list, int64_t now, FILE *out)
{
	static const char *const hdr[] = {"ID",	    "REVISION", "PHASE", "READY",    "HEALTH",
					  "REASON", "PID",	"IP",	 "RESTARTS", "AGE"};

	return print_sorted(list, hdr, ELEMENTSOF(hdr), cmp_by_id, add_status_row, now, out);
}

/* "ref", else the "refs"/"tags" array joined with ','. */
static char *image_refs(const json_t *img)
{
	const json_t *refs = json_object_get(img, "refs");
	char *out = NULL, *next;
	size_t i;
	json_t *r;

	if (json_is_string(json_object_get(img, "ref")))
		return strdup(json_string_value(json_object_get(img, "ref")));
	if (!json_is_array(refs))
		refs = json_object_get(img, "tags");
	out = strdup("");
	json_array_foreach (refs, i, r) {
		if (!out || !json_is_string(r))
			continue;
		next = ctl_strdupf("%s%s%s", out, *out ? "," : "", json_string_value(r));
		free(out);
		out = next;
	}
	return out;
}

/* "sha256:0123456789ab": the algorithm and 12 hex digits, as people compare them. */
static void short_digest(const char *d, char *buf, size_t size)
{
	const char *colon = d ? strchr(d, ':') : NULL;

	if (!d)
		snprintf(buf, size, "-");
	else if (colon)
		snprintf(buf, size, "%.*s:%.12s", (int)(colon - d), d, colon + 1);
	else
		snprintf(buf, size, "%.19s", d);
}

/* "used_by" ids joined with ','; "-" when none. */
static char *image_users(const json_t *img)
{
	const json_t *users = json_object_get(img, "used_by");
	char *out = NULL;
	size_t k;

	for (k = 0; k < json_array_size(users); k++) {
		const char *id = json_string_value(json_array_get(users, k));
		char *next = NULL;
		if (!id)
			continue;
		if (asprintf(&next, "%s%s%s", out ? out : "", out ? "," : "", id) < 0) {
			free(out);
			return NULL;
		}
		free(out);
		out = next;
	}
	return out ? out : strdup("-");
}

static int add_image_row(struct ctl_table *t, const json_t *img, int64_t now)
{
	_cleanup_free_ char *refs = image_refs(img), *users = image_users(img);
	const json_t *size = json_object_get(img, "size");
	char digest[96], sz[24] = "-";
	const char *cells[4];

	(void)now;
	if (!refs || !users)
		return -ENOMEM;
	short_digest(json_string_value(json_object_get(img, "digest")), digest, sizeof(digest));
	if (json_is_integer(size))
		ctl_fmt_size(json_integer_value(size), sz, sizeof(sz));
	cells[0] = refs;
	cells[1] = digest;
	cells[2] = sz;
	cells[3] = users;
	return ctl_table_add_row(t, cells);
}

static int cmp_by_ref(const void *a, const void *b)
{
	_cleanup_free_ char *ra = image_refs(*(json_t *const *)a);
	_cleanup_free_ char *rb = image_refs(*(json_t *const *)b);

	return strcmp(ra ? ra : "", rb ? rb : "");
}

int ctl_print_images(const json_t *list, int64_t now, FILE *out)
{
	static const char *const hdr[] = {"REF", "DIGEST", "SIZE", "IN USE BY"};

	return print_sorted(list, hdr, ELEMENTSOF(hdr), cmp_by_ref, add_image_row, now, out);
}
