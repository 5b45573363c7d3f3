#include <stdio.h>
#include <time.h>

#include "timeutil.h"

int64_t time_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t time_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void time_fmt_rfc3339(int64_t ns, char *buf, size_t size)
{
	time_t s = (time_t)(ns / 1000000000LL);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void time_fmt_rfc3339_nano(int64_t ns, char *buf, size_t size)
{
	time_t s = (time_t)(ns / 1000000000LL);
	char head[32];
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(head, sizeof(head), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%09lldZ", head, (long long)(ns % 1000000000LL));
}
