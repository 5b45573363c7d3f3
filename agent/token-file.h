#pragma once
/* Bearer-token files: --token-file (the TCP API's clients) and --control-plane-token-file (the
 * pull source's own token) follow one rule, checked at start before anything is made. */
#include <stddef.h>

#include "common/err.h"

#define TOKEN_FILE_MAX (64 * 1024)

/* Reads the one token in path; flag names the file in messages ("--token-file"). The file must be
 * a regular file owned by droverd's uid that group and others can neither read nor write, holding
 * one token: no space or control character inside it, trailing spaces and line ends dropped.
 * *ret is NUL-terminated; *ret_size is its buffer's size, for token_file_free. */
int token_file_read(const char *flag, const char *path, char **ret, size_t *ret_size, struct err **err);
/* Wipes and frees a token from token_file_read; NULL-safe; returns NULL. */
char *token_file_free(char *token, size_t size);
