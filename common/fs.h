#pragma once
/* File helpers: atomic state writes, capped reads, cgroup/proc knobs. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

enum {
	FS_NOSYNC = 1 << 0, /* a file rebuilt after a reboot anyway: skip the fsyncs, never the rename */
};

/* tmp file in the same dir + write loop + fsync + rename + fsync(dir). */
int fs_write_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode, int flags,
		    struct err **err);
/* Makes durable what fs_write_atomic(..., FS_NOSYNC) wrote and renamed: fsync of name, then of dirfd.
 * The file is whole for any process at once; only a host crash before this call can tear it. */
int fs_sync_written(int dirfd, const char *name, struct err **err);
/* Is name a temp file fs_write_atomic makes ("NAME.tmp.PID")? */
bool fs_is_atomic_tmp(const char *name);
/* Removes every fs_write_atomic temp file in path that a process other than this one left (a crash
 * between write and rename). Only for directories no other live process writes into. Returns the
 * count removed, or -errno. */
int fs_remove_stale_tmp(const char *path);
/* Reads a whole regular file, refusing anything larger than max. NUL-terminates. */
int fs_read_file(int dirfd, const char *name, size_t max, char **ret_buf, size_t *ret_len, struct err **err);
int fs_read_fd(int fd, size_t max, char **ret_buf, size_t *ret_len, struct err **err);
/* Reads name, a non-empty regular file inside dirfd: never blocks on a FIFO or device, follows
 * symlinks only while they stay beneath dirfd on the same mount (-EXDEV otherwise). */
int fs_read_beneath(int dirfd, const char *name, size_t max, char **ret_buf, size_t *ret_len,
		    struct err **err);
/* Knobs: one write() to an existing file; one read() into a known-size buffer. */
int fs_write_knob(int dirfd, const char *name, const char *value, struct err **err);
int fs_read_knob(int dirfd, const char *name, char *buf, size_t size, struct err **err);
/* mkdir -p relative to dirfd (AT_FDCWD for absolute paths). Existing dirs are fine. */
int fs_mkdir_p(int dirfd, const char *path, mode_t mode);
/* rm -rf without following symlinks and without crossing into other mounts. */
int fs_rm_rf(int dirfd, const char *path);
int fs_write_all(int fd, const void *data, size_t len);
bool fs_exists(const char *path);
/* Joins a and b with one '/'; caller frees. NULL on OOM. */
char *fs_path_join(const char *a, const char *b);
