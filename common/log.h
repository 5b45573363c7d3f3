#pragma once
/* journald-friendly logging: one record per line on stderr, prefixed with the
 * syslog priority "<N>" (or a level word on a terminal). */
#include <stdbool.h>

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

void log_init(const char *module);
int log_set_level_str(const char *s); /* "err".."debug"; -EINVAL if unknown */
void log_set_level(enum log_level l);
bool log_enabled(enum log_level l);
void log_emit(enum log_level l, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_err(...) log_emit(LOG_LVL_ERR, 0, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LVL_WARN, 0, __VA_ARGS__)
#define log_notice(...) log_emit(LOG_LVL_NOTICE, 0, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LVL_INFO, 0, __VA_ARGS__)
#define log_debug(...) log_emit(LOG_LVL_DEBUG, 0, __VA_ARGS__)
/* The _errno variants append strerror(-r) and evaluate to r. */
#define log_err_errno(r, ...)                                                                                \
	({                                                                                                   \
		int _r = (r);                                                                                \
		log_emit(LOG_LVL_ERR, -_r, __VA_ARGS__);                                                     \
		_r;                                                                                          \
	})
#define log_warn_errno(r, ...)                                                                               \
	({                                                                                                   \
		int _r = (r);                                                                                \
		log_emit(LOG_LVL_WARN, -_r, __VA_ARGS__);                                                    \
		_r;                                                                                          \
	})
