/* etcd v3 gateway replies, all untrusted: range, lease grant, keepalive, watch and plain
 * headers, the line framing of streamed replies (fed in pieces the input chooses), the watch
 * cursor, base64 and key helpers. The first byte picks what the rest is. */
#include "etcd/etcd.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static void check_kv(const struct etcd_kv *kv)
{
	FUZZ_ASSERT(kv->key && strlen(kv->key) <= ETCD_MAX_KEY);
	FUZZ_ASSERT(!kv->value || (kv->value_len <= ETCD_MAX_VALUE && kv->value[kv->value_len] == '\0'));
}

static void watch_msg(struct etcd_cursor *c, const char *buf, size_t len)
{
	struct etcd_watch_msg m = {0};
	struct err *e = NULL;

	if (etcd_parse_watch(buf, len, &m, &e) >= 0) {
		for (size_t i = 0; i < m.n_events; i++) {
			check_kv(&m.events[i].kv);
			(void)etcd_cursor_event(c, &m.events[i]);
		}
		(void)etcd_cursor_message(c, &m);
		FUZZ_ASSERT(etcd_cursor_watch_from(c) >= 0);
		etcd_watch_msg_done(&m);
	}
	err_free(&e);
}

/* The stream in pieces: each byte of the first 16 says how long the next piece is. */
static void stream(const uint8_t *data, size_t size)
{
	struct etcd_stream s = {0};
	struct etcd_cursor c = {0};
	size_t ncuts = size < 16 ? size : 16, off = ncuts;
	char *msg = NULL;
	size_t len;

	etcd_cursor_listed(&c, 1);
	for (size_t k = 0; off < size; k++) {
		size_t piece = k < ncuts ? (size_t)data[k] + 1 : size - off;
		if (piece > size - off)
			piece = size - off;
		FUZZ_ASSERT(etcd_stream_feed(&s, data + off, piece) == 0);
		off += piece;
		while (etcd_stream_next(&s, &msg, &len) == 1) {
			watch_msg(&c, msg, len);
			free(msg);
		}
	}
	etcd_stream_done(&s);
}

static void helpers(const char *text, size_t len)
{
	char *dec = NULL, *enc, *end = NULL;
	size_t dlen = 0;

	if (etcd_b64_decode(text, len, &dec, &dlen) >= 0) {
		enc = etcd_b64_encode(dec, dlen);
		FUZZ_ASSERT(enc);
		free(enc);
		free(dec);
	}
	if (etcd_prefix_end(text, &end) >= 0) {
		FUZZ_ASSERT(end);
		free(end);
	}
	(void)etcd_key_id("/drover/nodes/n1/instances/", text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data + 1;
	struct err *e = NULL;
	int64_t a = 0, b = 0;

	if (size < 1)
		return 0;
	switch (data[0] % 6) {
	case 0: {
		struct etcd_range r = {0};
		if (etcd_parse_range(buf, size - 1, &r, &e) >= 0) {
			FUZZ_ASSERT(r.n_kvs <= ETCD_MAX_KVS);
			for (size_t i = 0; i < r.n_kvs; i++)
				check_kv(&r.kvs[i]);
			etcd_range_done(&r);
		}
		break;
	}
	case 1:
		(void)etcd_parse_lease_grant(buf, size - 1, &a, &b, &e);
		break;
	case 2:
		(void)etcd_parse_keepalive(buf, size - 1, &a, &e);
		break;
	case 3:
		(void)etcd_parse_header(buf, size - 1, &a, &e);
		break;
	case 4:
		stream(data + 1, size - 1);
		break;
	default: {
		char *text = fuzz_str(data + 1, size - 1);
		helpers(text, strlen(text));
		free(text);
		break;
	}
	}
	err_free(&e);
	return 0;
}
