/* Pure request checks for the TCP API: body caps by path, Content-Length, bearer tokens. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"

size_t http_body_cap(const char *method, const char *url)
{
	if (method && url && strcmp(method, "PUT") == 0 && strcmp(url, "/v1/assignments") == 0)
		return HTTP_ASSIGNMENTS_BODY_MAX;
	return HTTP_BODY_MAX;
}

bool http_content_length_over(const char *value, size_t max)
{
	uint64_t n = 0;
	const char *p = value;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!isdigit((unsigned char)*p))
		return true;
	for (; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n > max)
			return true; /* also stops before n can overflow */
	}
	while (*p == ' ' || *p == '\t')
		p++;
	return *p != '\0';
}

const char *http_bearer_token(const char *header, size_t *ret_len)
{
	const char *tok, *end;

	if (!header || strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
		return NULL;
	for (tok = header + 6; *tok == ' ' || *tok == '\t'; tok++)
		;
	for (end = tok + strlen(tok); end > tok && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	if (end == tok)
		return NULL;
	*ret_len = (size_t)(end - tok);
	return tok;
}

bool http_token_equal(const char *given, size_t given_len, const char *want, size_t want_len)
{
	/* volatile: the compiler may not turn the loop into an early-exit compare */
	volatile unsigned char diff = 0;
	size_t i;

	if (want_len == 0 || given_len == 0)
		return false;
	diff |= (unsigned char)(given_len != want_len);
	for (i = 0; i < given_len; i++)
		diff |= (unsigned char)(given[i] ^ want[i % want_len]);
	return diff == 0;
}
