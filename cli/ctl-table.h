#pragma once
/* droverctl output helpers: a column-aligned table for people and age formatting. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ctl_table;

/* A table with ncols columns and the given header row; NULL on OOM. */
struct ctl_table *ctl_table_new(const char *const *headers, size_t ncols);
/* Appends a row of ncols cells (copied; NULL or "" prints as "-"). -ENOMEM on OOM. */
int ctl_table_add_row(struct ctl_table *t, const char *const *cells);
size_t ctl_table_rows(const struct ctl_table *t);
/* Pads every column but the last to its widest cell, three spaces apart, no trailing blanks. */
void ctl_table_print(const struct ctl_table *t, FILE *out);
struct ctl_table *ctl_table_free(struct ctl_table *t);

static inline void ctl_table_freep(struct ctl_table **t)
{
	*t = ctl_table_free(*t);
}
#define _cleanup_table_ __attribute__((cleanup(ctl_table_freep)))

/* Seconds as "5s", "3m", "2h", "4d" (rounded down; negative counts as 0). buf needs 24 bytes. */
void ctl_fmt_age(int64_t secs, char *buf, size_t size);
/* Bytes as "512B", "1.5KiB", "20.0MiB", "3.2GiB". buf needs 24 bytes. */
void ctl_fmt_size(int64_t bytes, char *buf, size_t size);
/* Parses RFC 3339 ("2026-11-25T10:00:00Z", fraction and +hh:mm allowed) to epoch seconds. */
int ctl_parse_rfc3339(const char *s, int64_t *ret_secs);
/* Age of an RFC 3339 time relative to now (epoch seconds); "-" if s is NULL or unparsable. */
void ctl_fmt_age_since(const char *s, int64_t now, char *buf, size_t size);
/* Copies s into a fresh string with control characters replaced by '?'; NULL on OOM. */
char *ctl_sanitize(const char *s);
