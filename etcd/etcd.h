#pragma once
/* The etcd v3 JSON gateway protocol (/v3/kv/range, /v3/watch, /v3/lease/grant,
 * /v3/lease/keepalive, /v3/kv/put, /v3/kv/deleterange, /v3/kv/txn): request bodies and
 * response parsing, no I/O. Keys and values travel base64-encoded and int64s as JSON
 * strings; every reply is untrusted input, so every parser caps and checks what it reads. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define ETCD_MAX_KEY 4096
#define ETCD_MAX_VALUE (1024 * 1024) /* one spec; SPEC_MAX_BYTES */
#define ETCD_MAX_MESSAGE (64 * 1024 * 1024)
#define ETCD_MAX_KVS 100000

struct etcd_kv {
	char *key;   /* decoded, NUL-terminated */
	char *value; /* decoded, NUL-terminated (len excludes it); NULL for a DELETE */
	size_t value_len;
	int64_t mod_revision;
	int64_t lease;
};

enum etcd_event_type { ETCD_EVENT_PUT, ETCD_EVENT_DELETE };

struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv kv;
};

struct etcd_range {
	int64_t revision; /* header.revision: the store's revision the answer was read at */
	struct etcd_kv *kvs;
	size_t n_kvs;
	bool more;
};

struct etcd_watch_msg {
	int64_t revision; /* header.revision; 0 when absent */
	bool created;
	bool canceled;
	int64_t compact_revision; /* > 0: the requested start revision was compacted */
	char *cancel_reason;
	struct etcd_event *events;
	size_t n_events;
};

/* base64 (RFC 4648, padded), the gateway's encoding of bytes. Caller frees. */
char *etcd_b64_encode(const void *data, size_t len);
int etcd_b64_decode(const char *text, size_t text_len, char **ret_data, size_t *ret_len);

/* The key just past every key that starts with prefix (etcd's range_end for a prefix). */
int etcd_prefix_end(const char *prefix, char **ret_end);

/* Request bodies; each returns malloc'd JSON text, NULL on OOM. */
char *etcd_range_body(const char *prefix, int64_t revision);
char *etcd_put_body(const char *key, const void *value, size_t len, int64_t lease);
char *etcd_delete_body(const char *key);
char *etcd_lease_grant_body(int64_t ttl_s);
char *etcd_lease_id_body(int64_t lease); /* keepalive and revoke */
char *etcd_watch_body(const char *prefix, int64_t start_revision);
/* One txn with no compares that applies every op at once: a batch of status writes is one
 * request and one revision. A NULL value deletes the key. */
struct etcd_op {
	const char *key;
	const void *value;
	size_t len;
};
char *etcd_txn_body(const struct etcd_op *ops, size_t n, int64_t lease);

/* Responses. An {"error": ..., "code": N} body becomes -EPROTO (or -ENOENT for an unknown
 * lease, -ERANGE for a compacted revision) with the server's message in err. */
int etcd_parse_range(const char *buf, size_t len, struct etcd_range *ret, struct err **err);
int etcd_parse_lease_grant(const char *buf, size_t len, int64_t *ret_id, int64_t *ret_ttl, struct err **err);
/* One keepalive stream message; *ret_ttl 0 means the lease is gone. */
int etcd_parse_keepalive(const char *buf, size_t len, int64_t *ret_ttl, struct err **err);
/* One watch stream message ({"result": {...}}). */
int etcd_parse_watch(const char *buf, size_t len, struct etcd_watch_msg *ret, struct err **err);
/* Any unary reply: only the header revision and a possible error. */
int etcd_parse_header(const char *buf, size_t len, int64_t *ret_revision, struct err **err);

void etcd_kv_done(struct etcd_kv *kv);
void etcd_range_done(struct etcd_range *r);
void etcd_watch_msg_done(struct etcd_watch_msg *m);

/* Streamed replies arrive as one JSON object per line, split at any byte. */
struct etcd_stream {
	char *buf;
	size_t len;
	size_t cap;
};

/* Appends bytes; -EMSGSIZE once an unfinished message passes ETCD_MAX_MESSAGE. */
int etcd_stream_feed(struct etcd_stream *s, const void *data, size_t n);
/* 1 and a message (caller frees) when one is complete, 0 when more bytes are needed. */
int etcd_stream_next(struct etcd_stream *s, char **ret_msg, size_t *ret_len);
void etcd_stream_done(struct etcd_stream *s);

/* Where a node's desired instances and reported statuses live under --etcd-prefix. */
char *etcd_instances_prefix(const char *prefix, const char *node); /* PREFIX/nodes/NODE/instances/ */
char *etcd_status_key(const char *prefix, const char *node, const char *id); /* id NULL: the node's own */
/* The id part of an instance key under instances_prefix, or NULL if the key is not one
 * (a nested path, an empty id). The id is not validated here: the spec parser does that. */
const char *etcd_key_id(const char *instances_prefix, const char *key);

/* Where a watch resumes. revision is the last store revision whose changes were applied; 0
 * means nothing is known and the whole prefix must be listed again (at start, and after a
 * compaction made the revision unreachable). Events at or below it are replays and skipped. */
struct etcd_cursor {
	int64_t revision;
};

enum etcd_cursor_action {
	ETCD_APPLY, /* the event is new: apply it */
	ETCD_SKIP,  /* already applied before a reconnect */
};

/* After a full list read at store revision rev. */
void etcd_cursor_listed(struct etcd_cursor *c, int64_t rev);
/* The start_revision of the next watch; 0 when a list must come first. */
int64_t etcd_cursor_watch_from(const struct etcd_cursor *c);
/* Whether one event of a watch message is new; advances the cursor if so. */
enum etcd_cursor_action etcd_cursor_event(struct etcd_cursor *c, const struct etcd_event *ev);
/* After every event of a message: a progress notification (no events) moves the cursor to
 * the header revision; a cancel for compaction resets it. Returns true when a re-list is due. */
bool etcd_cursor_message(struct etcd_cursor *c, const struct etcd_watch_msg *m);
