#pragma once
/* Shared by the libFuzzer harnesses in tests/fuzz/: the entry points' prototypes and small helpers.
 * Every harness frees what it allocates and resets global state before it returns, so LeakSanitizer
 * and later inputs see a clean process. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input as a NUL-terminated string (embedded NULs cut it short, as for any C string). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A broken invariant: print it and abort, so libFuzzer saves the input as a crash. */
#define FUZZ_ASSERT(cond)                                                                                    \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "fuzz: %s:%d: assertion '%s' failed\n", __FILE__, __LINE__, #cond);  \
			abort();                                                                             \
		}                                                                                            \
	} while (0)

/* No log lines: the harnesses feed error paths millions of times. */
static inline void fuzz_quiet(void)
{
	log_set_level((enum log_level)(LOG_LVL_ERR - 1));
}

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/fs.h"

/* For harnesses that write files (layers, layouts, records, sockets): a private mount namespace
 * where everything is read-only except a fresh tmpfs on /tmp (the harness's scratch space) and the
 * working directory (where libFuzzer writes its corpus and crash files). An escape bug then fails
 * with EROFS instead of writing over the host. Falls back to mkdtemp (and says so) when not root.
 * Returns the scratch directory, e.g. "/tmp/drover-fuzz". */
static char fuzz_base[64] = "/tmp/drover-fuzz";

static inline void fuzz_base_remove(void)
{
	(void)fs_rm_rf(AT_FDCWD, fuzz_base);
}

static inline const char *fuzz_sandbox(void)
{
	char *base = fuzz_base;
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY}, rw = {.attr_clr = MOUNT_ATTR_RDONLY};
	char cwd[4096];

	/* a checkout under /tmp would vanish under the fresh /tmp: no sandbox then */
	if (!getcwd(cwd, sizeof(cwd)) || strncmp(cwd, "/tmp/", 5) == 0 || strcmp(cwd, "/tmp") == 0 ||
	    unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(cwd, cwd, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    /* onto the bind mount: the old working directory is on "/", read-only below, so libFuzzer's
	     * corpus and crash files (relative paths) would fail to be written, and silently */
	    chdir(cwd) < 0 || mount("fuzz-tmp", "/tmp", "tmpfs", MS_NOSUID, "mode=0755,size=2g") < 0 ||
	    syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof(ro)) < 0 ||
	    syscall(SYS_mount_setattr, AT_FDCWD, cwd, AT_RECURSIVE, &rw, sizeof(rw)) < 0 ||
	    syscall(SYS_mount_setattr, AT_FDCWD, "/tmp", 0, &rw, sizeof(rw)) < 0) {
		fprintf(stderr, "fuzz: no read-only sandbox (%m); scratch files go to a temp dir\n");
		snprintf(base, sizeof(fuzz_base), "%s", "/tmp/drover-fuzz-XXXXXX");
		if (!mkdtemp(base))
			abort();
		atexit(fuzz_base_remove);
		return base;
	}
	if (mkdir(base, 0755) < 0)
		abort();
	return base;
}
