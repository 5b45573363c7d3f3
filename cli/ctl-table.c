/* droverctl tables: cells are copied and sanitized, widths computed at print time. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctl-table.h"

#define CTL_TABLE_GAP "   "

struct ctl_table {
	size_t ncols;
	size_t nrows; /* including the header row */
	size_t cap;   /* rows allocated */
	char **cells; /* row-major */
};

char *ctl_sanitize(const char *s)
{
	char *out = strdup(s ? s : "");

	if (!out)
		return NULL;
	for (unsigned char *p = (unsigned char *)out; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	return out;
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t cell_width(const char *s)
{
	size_t w = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xc0) != 0x80)
			w++;
	return w;
}

static int table_grow(struct ctl_table *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 16;
	char **n;

	if (t->nrows < t->cap)
		return 0;
	n = reallocarray(t->cells, ncap * t->ncols, sizeof(*n));
	if (!n)
		return -ENOMEM;
	t->cells = n;
	t->cap = ncap;
	return 0;
}

int ctl_table_add_row(struct ctl_table *t, const char *const *cells)
{
	char **row;
	int r;

	r = table_grow(t);
	if (r < 0)
		return r;
	row = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		const char *c = cells[i] && cells[i][0] ? cells[i] : "-";

		row[i] = ctl_sanitize(c);
		if (!row[i]) {
			while (i > 0)
				free(row[--i]);
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

struct ctl_table *ctl_table_new(const char *const *headers, size_t ncols)
{
	struct ctl_table *t;

	if (ncols == 0)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ncols = ncols;
	if (ctl_table_add_row(t, headers) < 0)
		return ctl_table_free(t);
	return t;
}

size_t ctl_table_rows(const struct ctl_table *t)
{
	return t ? t->nrows - 1 : 0;
}

struct ctl_table *ctl_table_free(struct ctl_table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	return NULL;
}

static void print_row(const struct ctl_table *t, char **row, const size_t *widths, FILE *out)
{
	for (size_t c = 0; c < t->ncols; c++) {
		fputs(row[c], out);
		if (c + 1 == t->ncols)
			break;
		for (size_t w = cell_width(row[c]); w < widths[c]; w++)
			fputc(' ', out);
		fputs(CTL_TABLE_GAP, out);
	}
	fputc('\n', out);
}

void ctl_table_print(const struct ctl_table *t, FILE *out)
{
	size_t *widths;

	if (!t)
		return;
	widths = calloc(t->ncols, sizeof(*widths));
	if (!widths)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t w = cell_width(t->cells[r * t->ncols + c]);

			if (w > widths[c])
				widths[c] = w;
		}
	for (size_t r = 0; r < t->nrows; r++)
		print_row(t, t->cells + r * t->ncols, widths, out);
	free(widths);
}

void ctl_fmt_age(int64_t secs, char *buf, size_t size)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		snprintf(buf, size, "%llds", (long long)secs);
	else if (secs < 3600)
		snprintf(buf, size, "%lldm", (long long)(secs / 60));
	else if (secs < 86400)
		snprintf(buf, size, "%lldh", (long long)(secs / 3600));
	else
		snprintf(buf, size, "%lldd", (long long)(secs / 86400));
}

void ctl_fmt_size(int64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, size, "%lldB", (long long)(bytes < 0 ? 0 : bytes));
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f%s", v, units[u]);
}

/* Parses exactly n digits at *p; advances *p. */
static int parse_digits(const char **p, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -EINVAL;
		v = v * 10 + (**p - '0');
	}
	*ret = v;
	return 0;
}

static int parse_date_time(const char **p, struct tm *tm)
{
	int y, mo, d, h, mi, s;

	if (parse_digits(p, 4, &y) < 0 || *(*p)++ != '-' || parse_digits(p, 2, &mo) < 0 || *(*p)++ != '-' ||
	    parse_digits(p, 2, &d) < 0)
		return -EINVAL;
	if (**p != 'T' && **p != 't' && **p != ' ')
		return -EINVAL;
	(*p)++;
	if (parse_digits(p, 2, &h) < 0 || *(*p)++ != ':' || parse_digits(p, 2, &mi) < 0 || *(*p)++ != ':' ||
	    parse_digits(p, 2, &s) < 0)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return -EINVAL;
	*tm = (struct tm){
	    .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
	return 0;
}

/* "Z" or "+hh:mm"/"-hh:mm": seconds east of UTC. */
static int parse_offset(const char *p, int64_t *ret_off)
{
	int sign, h, m;

	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		*ret_off = 0;
		return 0;
	}
	if (*p != '+' && *p != '-')
		return -EINVAL;
	sign = *p++ == '-' ? -1 : 1;
	if (parse_digits(&p, 2, &h) < 0 || *p++ != ':' || parse_digits(&p, 2, &m) < 0 || *p != '\0')
		return -EINVAL;
	if (h > 23 || m > 59)
		return -EINVAL;
	*ret_off = sign * (int64_t)(h * 3600 + m * 60);
	return 0;
}

int ctl_parse_rfc3339(const char *s, int64_t *ret_secs)
{
	const char *p = s;
	struct tm tm;
	int64_t off;
	time_t t;

	if (!s || parse_date_time(&p, &tm) < 0)
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (parse_offset(p, &off) < 0)
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret_secs = (int64_t)t - off;
	return 0;
}

void ctl_fmt_age_since(const char *s, int64_t now, char *buf, size_t size)
{
	int64_t t;

	if (ctl_parse_rfc3339(s, &t) < 0) {
		snprintf(buf, size, "-");
		return;
	}
	ctl_fmt_age(now - t, buf, size);
}
