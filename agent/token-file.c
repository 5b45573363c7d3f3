/* Bearer-token files (see token-file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/token-file.h"
#include "common/cleanup.h"
#include "common/fs.h"

static int check_fd(const char *flag, int fd, const char *path, struct err **err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return err_set(err, errno, "%s '%s'", flag, path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, EINVAL, "%s '%s' is not a regular file", flag, path);
	if (st.st_mode & 077)
		return err_set(err, EPERM,
			       "%s '%s' has mode %04o: it must not be readable or writable by group or "
			       "others (chmod 600 '%s')",
			       flag, path, (unsigned)(st.st_mode & 07777), path);
	if (st.st_uid != geteuid())
		return err_set(err, EPERM, "%s '%s' is owned by uid %u, not by droverd's uid %u", flag, path,
			       (unsigned)st.st_uid, (unsigned)geteuid());
	return 0;
}

char *token_file_free(char *token, size_t size)
{
	if (token)
		explicit_bzero(token, size);
	free(token);
	return NULL;
}

int token_file_read(const char *flag, const char *path, char **ret, size_t *ret_size, struct err **err)
{
	/* O_NONBLOCK: a FIFO put in the token's place must not hang the start (it is refused below).
	 * A symlink is followed (secrets are often mounted as links): the rules hold for its target. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	char *text = NULL;
	size_t len = 0, size;
	int r;

	if (fd < 0)
		return err_set(err, errno, "%s '%s'", flag, path);
	if ((r = check_fd(flag, fd, path, err)) < 0)
		return r;
	if (fs_read_fd(fd, TOKEN_FILE_MAX, &text, &len, err) < 0)
		return err_wrap(err, "%s '%s'", flag, path);
	size = len + 1; /* fs_read_fd's buffer holds len bytes and a NUL */
	while (len > 0 && strchr(" \t\r\n", text[len - 1]))
		len--;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)text[i] <= ' ' || text[i] == 0x7f) {
			token_file_free(text, size);
			return err_set(err, EINVAL, "%s '%s' must hold one token: no spaces, no lines", flag,
				       path);
		}
	}
	if (len == 0) {
		token_file_free(text, size);
		return err_set(err, EINVAL, "%s '%s' is empty", flag, path);
	}
	text[len] = '\0';
	*ret = text;
	*ret_size = size;
	return 0;
}
