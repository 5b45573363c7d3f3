/* Framing of the gateway's streamed replies (watch, keepalive): one JSON object per line,
 * delivered in arbitrary chunks. The buffer holds at most one unfinished message plus what
 * has arrived behind it, and refuses to grow past ETCD_MAX_MESSAGE. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/etcd.h"

int etcd_stream_feed(struct etcd_stream *s, const void *data, size_t n)
{
	if (n > ETCD_MAX_MESSAGE || s->len > ETCD_MAX_MESSAGE - n)
		return -EMSGSIZE;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *b;

		while (cap < s->len + n)
			cap *= 2;
		b = realloc(s->buf, cap);
		if (!b)
			return -ENOMEM;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	return 0;
}

int etcd_stream_next(struct etcd_stream *s, char **ret_msg, size_t *ret_len)
{
	for (;;) {
		char *nl = s->len ? memchr(s->buf, '\n', s->len) : NULL;
		size_t n, skip;
		char *msg;

		if (!nl)
			return 0;
		n = (size_t)(nl - s->buf);
		skip = n + 1;
		while (n > 0 && (s->buf[n - 1] == '\r' || s->buf[n - 1] == ' '))
			n--;
		if (n == 0) { /* blank keep-alive line */
			memmove(s->buf, s->buf + skip, s->len - skip);
			s->len -= skip;
			continue;
		}
		msg = malloc(n + 1);
		if (!msg)
			return -ENOMEM;
		memcpy(msg, s->buf, n);
		msg[n] = '\0';
		memmove(s->buf, s->buf + skip, s->len - skip);
		s->len -= skip;
		*ret_msg = msg;
		*ret_len = n;
		return 1;
	}
}

void etcd_stream_done(struct etcd_stream *s)
{
	free(s->buf);
	*s = (struct etcd_stream){0};
}
