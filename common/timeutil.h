#pragma once
#include <stddef.h>
#include <stdint.h>

/* Nanoseconds since the epoch / since boot (monotonic, for timers and back-off). */
int64_t time_now_ns(void);
int64_t time_mono_ns(void);
/* RFC 3339 UTC with seconds, e.g. 2026-11-25T10:00:00Z; buf needs 32 bytes. */
void time_fmt_rfc3339(int64_t ns, char *buf, size_t size);
/* Same with nanoseconds, for log lines: 2026-11-25T10:00:00.123456789Z */
void time_fmt_rfc3339_nano(int64_t ns, char *buf, size_t size);
