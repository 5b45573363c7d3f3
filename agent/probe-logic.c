/* The pure parts of the probes: threshold counting and the HTTP status line. No I/O here, so the
 * unit tests and the fuzz harness can drive them directly. */
#include <errno.h>
#include <string.h>

#include "agent/probe-logic.h"

int probe_count_add(struct probe_count *c, bool ok, int success_threshold, int failure_threshold)
{
	struct probe_count before = *c;

	if (success_threshold < 1)
		success_threshold = 1;
	if (failure_threshold < 1)
		failure_threshold = 1;
	if (ok) {
		c->failures = 0;
		if (c->successes < success_threshold)
			c->successes++;
		if (c->successes >= success_threshold)
			c->verdict = PROBE_PASS;
	} else {
		c->successes = 0;
		if (c->failures < failure_threshold)
			c->failures++;
		if (c->failures >= failure_threshold)
			c->verdict = PROBE_FAIL;
	}
	if (c->verdict != before.verdict)
		return 1;
	return c->successes != before.successes || c->failures != before.failures ? 0 : -1;
}

bool probe_http_ok(int code)
{
	return code >= 200 && code <= 399;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "HTTP/" 1*DIGIT [ "." 1*DIGIT ] SP 3DIGIT [ SP reason ] CRLF (a bare LF is accepted too). */
int probe_http_status(const char *buf, size_t len, int *ret_code)
{
	static const char prefix[] = "HTTP/";
	const char *eol = memchr(buf, '\n', len);
	size_t n = eol ? (size_t)(eol - buf) : len, k = sizeof(prefix) - 1;

	if (memcmp(buf, prefix, n < k ? n : k) != 0)
		return -EPROTO;
	if (!eol)
		return 0;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n < k + 1 || !is_digit(buf[k]))
		return -EPROTO;
	while (k < n && is_digit(buf[k]))
		k++;
	if (k < n && buf[k] == '.') {
		if (++k >= n || !is_digit(buf[k]))
			return -EPROTO;
		while (k < n && is_digit(buf[k]))
			k++;
	}
	if (k + 4 > n || buf[k] != ' ' || !is_digit(buf[k + 1]) || !is_digit(buf[k + 2]) ||
	    !is_digit(buf[k + 3]))
		return -EPROTO;
	if (k + 4 < n && buf[k + 4] != ' ')
		return -EPROTO;
	if (buf[k + 1] == '0')
		return -EPROTO; /* status codes are 100-999 */
	for (size_t r = k + 4; r < n; r++)
		if (((unsigned char)buf[r] < ' ' && buf[r] != '\t') || buf[r] == 0x7f)
			return -EPROTO; /* the reason phrase is text */
	*ret_code = (buf[k + 1] - '0') * 100 + (buf[k + 2] - '0') * 10 + (buf[k + 3] - '0');
	return 1;
}

void probe_states_init(struct probe_state *ps, int n, struct instance *owner)
{
	for (int r = 0; r < n; r++) {
		ps[r].i = owner;
		ps[r].role = (enum spec_probe_role)r;
		ps[r].fd = -1;
		ps[r].nsfd = -1;
		ps[r].notify_wd = -1;
	}
}
