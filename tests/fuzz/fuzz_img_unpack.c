/* The layer unpacker on hostile tars (plain, gzip or zstd): each input is unpacked into a fresh
 * dest dir inside a read-only sandbox, then the harness checks that nothing happened outside it:
 * the canary dir beside dest stays empty, the canary file keeps its content and link count, no
 * new entry appears next to dest, and dest holds no device node other than overlay whiteouts
 * (0/0 char devices) and no hard link to a file outside. */
#include <dirent.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>

#include "image/img-internal.h"
#include "tests/fuzz/fuzz.h"

#define CANARY_TEXT "canary\n"

static char base[64], dest[96], canary[96], canary_file[96];
static dev_t base_dev;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct stat st;
	int fd;

	(void)argc;
	(void)argv;
	fuzz_quiet();
	snprintf(base, sizeof(base), "%s", fuzz_sandbox());
	snprintf(dest, sizeof(dest), "%s/dest", base);
	snprintf(canary, sizeof(canary), "%s/canary", base);
	snprintf(canary_file, sizeof(canary_file), "%s/canary-file", base);
	FUZZ_ASSERT(mkdir(canary, 0755) == 0);
	fd = open(canary_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	FUZZ_ASSERT(fd >= 0 && fs_write_all(fd, CANARY_TEXT, strlen(CANARY_TEXT)) == 0);
	close(fd);
	FUZZ_ASSERT(stat(base, &st) == 0);
	base_dev = st.st_dev;
	return 0;
}

/* Entries directly in dir, "." and ".." not counted. */
static size_t count_entries(const char *dir, const char *except1, const char *except2)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	FUZZ_ASSERT(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    !(except1 && strcmp(de->d_name, except1) == 0) &&
		    !(except2 && strcmp(de->d_name, except2) == 0))
			n++;
	closedir(d);
	return n;
}

struct link_count {
	ino_t ino;
	nlink_t nlink, seen;
};
static struct link_count links[4096];
static size_t n_links;

static int check_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (st->st_dev != base_dev) {
		fprintf(stderr, "fuzz: '%s' is on another filesystem\n", path);
		abort();
	}
	if (S_ISBLK(st->st_mode) || (S_ISCHR(st->st_mode) && st->st_rdev != makedev(0, 0))) {
		fprintf(stderr, "fuzz: '%s' is a device node\n", path);
		abort();
	}
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
		size_t i;
		for (i = 0; i < n_links && links[i].ino != st->st_ino; i++)
			;
		if (i == n_links && n_links < sizeof(links) / sizeof(links[0]))
			links[n_links++] = (struct link_count){st->st_ino, st->st_nlink, 0};
		if (i < n_links)
			links[i].seen++;
	}
	return 0;
}

static void check_confined(void)
{
	char buf[64] = {0};
	struct stat st;
	int fd;

	FUZZ_ASSERT(count_entries(canary, NULL, NULL) == 0);
	FUZZ_ASSERT(count_entries(base, "dest", "canary") == 1); /* canary-file */
	FUZZ_ASSERT(lstat(canary_file, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1);
	fd = open(canary_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	FUZZ_ASSERT(fd >= 0 && read(fd, buf, sizeof(buf) - 1) == (ssize_t)strlen(CANARY_TEXT));
	close(fd);
	FUZZ_ASSERT(strcmp(buf, CANARY_TEXT) == 0);
	n_links = 0;
	FUZZ_ASSERT(nftw(dest, check_entry, 16, FTW_PHYS) == 0);
	for (size_t i = 0; i < n_links; i++)
		if (links[i].seen != links[i].nlink) {
			fprintf(stderr, "fuzz: a file in dest has %ju links, %ju of them in dest\n",
				(uintmax_t)links[i].nlink, (uintmax_t)links[i].seen);
			abort();
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err *e = NULL;
	int fd, dfd, r;

	FUZZ_ASSERT(mkdir(dest, 0755) == 0);
	dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = memfd_create("layer", MFD_CLOEXEC);
	FUZZ_ASSERT(dfd >= 0 && fd >= 0);
	FUZZ_ASSERT(fs_write_all(fd, data, size) == 0 && lseek(fd, 0, SEEK_SET) == 0);
	r = img_unpack_layer(fd, dfd, &e);
	FUZZ_ASSERT(r >= 0 || (e && e->msg));
	err_free(&e);
	close(fd);
	close(dfd);
	check_confined();
	FUZZ_ASSERT(fs_rm_rf(AT_FDCWD, dest) == 0);
	return 0;
}
