/* base64 for the gateway's bytes fields. droverd does not map libcrypto (it stays small), and
 * this is the whole codec: a table and two loops. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/etcd.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *etcd_b64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	size_t out_len = (len + 2) / 3 * 4;
	char *out = malloc(out_len + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = left > 1 ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = left > 2 ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static int sextet(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(alphabet, c);
	return p ? (int)(p - alphabet) : -1;
}

/* Strict: length a multiple of 4, padding only at the end, no whitespace. */
int etcd_b64_decode(const char *text, size_t text_len, char **ret_data, size_t *ret_len)
{
	size_t pad = 0, o = 0;
	unsigned char *out;

	if (text_len % 4 != 0)
		return -EINVAL;
	if (text_len > 0 && text[text_len - 1] == '=')
		pad++;
	if (text_len > 1 && text[text_len - 2] == '=')
		pad++;
	out = malloc(text_len / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < text_len; i += 4) {
		bool last = i + 4 == text_len;
		int s[4];
		uint32_t v = 0;

		for (int k = 0; k < 4; k++) {
			bool padded = last && k >= 4 - (int)pad;

			s[k] = padded ? 0 : sextet(text[i + k]);
			if (s[k] < 0) {
				free(out);
				return -EINVAL;
			}
			v = v << 6 | (uint32_t)s[k];
		}
		out[o++] = (unsigned char)(v >> 16);
		if (!last || pad < 2)
			out[o++] = (unsigned char)(v >> 8);
		if (!last || pad < 1)
			out[o++] = (unsigned char)v;
	}
	out[o] = '\0';
	*ret_data = (char *)out;
	*ret_len = o;
	return 0;
}
