/* Status changes with a sequence number, journaled (see events.h for the persistence scheme). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/events.h"
#include "agent/instance.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/timeutil.h"

#define JOURNAL "journal"
#define RESERVED "reserved"
#define ACKED "acked"
#define JOURNAL_MAX ((size_t)256 * 1024 * 1024)
#define MAX_LISTENERS 4

/* The kept events as their journal lines' text: a parsed event (about 30 keys with the status in it)
 * takes some 4.5 KiB of jansson nodes, its text about 600 bytes; 1,024 of them are what a node with
 * hundreds of instances keeps (bench/scale.sh). GET /v1/events parses the few it sends. */
static struct {
	uint64_t seq;
	char *text;
} ring[EVENTS_KEPT];

static struct {
	char *dir;
	int jfd; /* the journal, O_APPEND; -1 when events live in memory only */
	size_t j_lines;
	size_t j_compact_at;
	uint64_t last;
	uint64_t first_kept;
	uint64_t reserved;
	uint64_t acked;
	bool outbox;
	char boot[64];
} st = {.jfd = -1};

static struct {
	void (*fn)(void *);
	void *data;
} listeners[MAX_LISTENERS];

uint64_t events_seq_resume(uint64_t journal_max, uint64_t reserved, bool same_boot)
{
	if (same_boot && journal_max > 0)
		return journal_max; /* the page cache kept every line this boot wrote: no gap */
	return journal_max > reserved ? journal_max : reserved;
}

uint64_t events_keep_after(uint64_t last, uint64_t acked, bool outbox)
{
	uint64_t k = last > EVENTS_KEPT ? last - EVENTS_KEPT : 0;

	if (outbox && acked < k)
		k = acked;
	if (last - k > EVENTS_OUTBOX_MAX)
		k = last - EVENTS_OUTBOX_MAX;
	return k;
}

int events_add_listener(void (*fn)(void *data), void *data)
{
	for (size_t k = 0; k < MAX_LISTENERS; k++)
		if (!listeners[k].fn) {
			listeners[k].fn = fn;
			listeners[k].data = data;
			return 0;
		}
	return -ENOSPC;
}

void events_remove_listener(void (*fn)(void *data), void *data)
{
	for (size_t k = 0; k < MAX_LISTENERS; k++)
		if (listeners[k].fn == fn && listeners[k].data == data)
			listeners[k].fn = NULL;
}

/* A journal line starts with {"seq":N (written so, with JSON_PRESERVE_ORDER); 0 if not. */
static uint64_t line_seq(const char *line)
{
	static const char pfx[] = "{\"seq\":";

	if (strncmp(line, pfx, sizeof(pfx) - 1) != 0)
		return 0;
	return strtoull(line + sizeof(pfx) - 1, NULL, 10);
}

/* Takes text. */
static void keep_in_ring(uint64_t seq, char *text)
{
	size_t slot = seq % EVENTS_KEPT;

	free(ring[slot].text);
	ring[slot].seq = seq;
	ring[slot].text = text;
	if (!st.first_kept)
		st.first_kept = seq;
	/* the oldest seq still held (a gap after a host crash is skipped) */
	while (st.first_kept < seq && ring[st.first_kept % EVENTS_KEPT].seq != st.first_kept)
		st.first_kept++;
}

static int open_dir(struct err **err)
{
	int dfd = open(st.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return dfd < 0 ? err_set(err, errno, "open '%s'", st.dir) : dfd;
}

static int write_small(const char *name, const char *text, struct err **err)
{
	_cleanup_close_ int dfd = open_dir(err);

	if (dfd < 0)
		return dfd;
	return fs_write_atomic(dfd, name, text, strlen(text), 0600, 0, err);
}

static int reserve(uint64_t upto, struct err **err)
{
	char text[128];
	int r;

	snprintf(text, sizeof(text), "%" PRIu64 " %s\n", upto, st.boot);
	r = write_small(RESERVED, text, err);
	if (r >= 0)
		st.reserved = upto;
	return r;
}

static void read_boot_id(void)
{
	_cleanup_close_ int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, st.boot, sizeof(st.boot) - 1) : -1;

	st.boot[n > 0 ? n : 0] = '\0';
	st.boot[strcspn(st.boot, "\n")] = '\0';
	if (!st.boot[0])
		snprintf(st.boot, sizeof(st.boot), "unknown");
}

/* "N" then optional text; 0 when s is not a number. */
static uint64_t parse_mark(const char *s, const char **ret_rest)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = s ? strtoull(s, &end, 10) : 0;
	if (!s || errno || end == s || *s == '-')
		return 0;
	if (ret_rest)
		*ret_rest = end + strspn(end, " ");
	return v;
}

/* reserved: "N BOOTID"; acked: "N". Missing files are 0. */
static void read_marks(int dfd, bool *ret_same_boot)
{
	_cleanup_free_ char *r = NULL, *a = NULL;
	const char *boot = NULL;

	*ret_same_boot = false;
	if (fs_read_file(dfd, RESERVED, 256, &r, NULL, NULL) >= 0) {
		st.reserved = parse_mark(r, &boot);
		*ret_same_boot = boot && strncmp(boot, st.boot, strlen(st.boot)) == 0 &&
				 (boot[strlen(st.boot)] == '\n' || boot[strlen(st.boot)] == '\0');
	}
	if (fs_read_file(dfd, ACKED, 64, &a, NULL, NULL) >= 0)
		st.acked = parse_mark(a, NULL);
}

/* Reads the journal: the newest EVENTS_KEPT go to the ring; returns the newest seq. */
static uint64_t load_journal(int dfd, bool *ret_torn)
{
	_cleanup_free_ char *text = NULL;
	uint64_t max = 0, from;
	size_t len = 0;
	char *line, *save = NULL;

	*ret_torn = false;
	if (fs_read_file(dfd, JOURNAL, JOURNAL_MAX, &text, &len, NULL) < 0)
		return 0;
	*ret_torn = len > 0 && text[len - 1] != '\n';
	for (char *p = text; p && p < text + len; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		uint64_t seq = line_seq(p);
		if (seq > max)
			max = seq;
	}
	from = max > EVENTS_KEPT ? max - EVENTS_KEPT : 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		uint64_t seq = line_seq(line);
		char *copy;
		st.j_lines++;
		if (seq <= from || seq <= st.last)
			continue; /* older than the ring, or a torn line */
		if (line[strlen(line) - 1] != '}' || !(copy = strdup(line)))
			continue; /* a torn line (parsed when sent, and skipped then if still broken) */
		keep_in_ring(seq, copy);
		st.last = seq;
	}
	return max;
}

int events_open(const char *dir, struct err **err)
{
	_cleanup_close_ int dfd = -1;
	bool same_boot = false, torn = false;
	uint64_t jmax;
	int r;

	events_close();
	st.dir = strdup(dir);
	if (!st.dir)
		return err_set(err, ENOMEM, "out of memory");
	r = fs_mkdir_p(AT_FDCWD, dir, 0700);
	if (r < 0)
		return err_set(err, -r, "create '%s'", dir);
	dfd = open_dir(err);
	if (dfd < 0)
		return dfd;
	read_boot_id();
	read_marks(dfd, &same_boot);
	jmax = load_journal(dfd, &torn);
	st.last = events_seq_resume(jmax, st.reserved, same_boot);
	if (st.acked > st.last)
		st.acked = st.last; /* a mark from a journal that is gone */
	st.j_compact_at = 2 * (st.j_lines > EVENTS_KEPT ? st.j_lines : EVENTS_KEPT);
	r = reserve(st.last + EVENTS_RESERVE_BLOCK, err);
	if (r < 0)
		return err_wrap(err, "reserve event numbers");
	st.jfd = openat(dfd, JOURNAL, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (st.jfd < 0)
		return err_set(err, errno, "open '%s/%s'", dir, JOURNAL);
	if (torn)
		(void)!write(st.jfd, "\n", 1); /* the torn line stays unreadable, the next one is whole */
	return 0;
}

void events_close(void)
{
	for (size_t k = 0; k < EVENTS_KEPT; k++) {
		free(ring[k].text);
		ring[k].text = NULL;
		ring[k].seq = 0;
	}
	if (st.jfd >= 0)
		close(st.jfd);
	free(st.dir);
	memset(&st, 0, sizeof(st));
	st.jfd = -1;
}

/* Rewrites the journal with only what is still needed (the kept window, the outbox). */
static int compact(struct err **err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int dfd = open_dir(err);
	uint64_t keep_after = events_keep_after(st.last, st.acked, st.outbox);
	size_t len = 0, out = 0, lines = 0;
	int r, fd;

	if (dfd < 0)
		return dfd;
	r = fs_read_file(dfd, JOURNAL, JOURNAL_MAX, &text, &len, err);
	if (r < 0)
		return r;
	for (char *p = text; p < text + len;) {
		char *nl = memchr(p, '\n', (size_t)(text + len - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(text + len - p);
		if (line_seq(p) > keep_after) {
			memmove(text + out, p, n);
			out += n;
			lines++;
		}
		p += n;
	}
	if (st.outbox && st.acked < keep_after)
		log_warn("events: %" PRIu64 " unacknowledged events dropped from the outbox (over %d kept)",
			 keep_after - st.acked, EVENTS_OUTBOX_MAX);
	r = fs_write_atomic(dfd, JOURNAL, text, out, 0600, 0, err);
	if (r < 0)
		return r;
	fd = openat(dfd, JOURNAL, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return err_set(err, errno, "reopen the journal");
	close(st.jfd);
	st.jfd = fd;
	st.j_lines = lines;
	st.j_compact_at = 2 * (lines > EVENTS_KEPT ? lines : EVENTS_KEPT);
	return 0;
}

static void journal(uint64_t seq, const char *text)
{
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *line = NULL;
	size_t len = strlen(text);

	if (st.jfd < 0)
		return;
	if (seq > st.reserved && reserve(seq + EVENTS_RESERVE_BLOCK - 1, &e) < 0)
		log_err("events: cannot reserve sequence numbers: %s", err_msg(e));
	line = malloc(len + 1);
	if (!line)
		return;
	memcpy(line, text, len);
	line[len] = '\n'; /* one write: an O_APPEND line is never interleaved */
	if (fs_write_all(st.jfd, line, len + 1) < 0)
		log_err("events: cannot append seq %" PRIu64 " to the journal: %m", seq);
	st.j_lines++;
	if (st.j_lines >= st.j_compact_at && compact(&e) < 0)
		log_err("events: cannot compact the journal: %s", err_msg(e));
}

uint64_t events_push(json_t *doc)
{
	char ts[40];
	json_t *ev = json_object();
	uint64_t seq;
	char *text;

	if (!doc || !ev) {
		json_decref(doc);
		json_decref(ev);
		return 0;
	}
	seq = ++st.last;
	time_fmt_rfc3339_nano(time_now_ns(), ts, sizeof(ts));
	json_object_set_new(ev, "seq",
			    json_integer((json_int_t)seq)); /* first: journal lines start with it */
	json_object_set_new(ev, "time", json_string(ts));
	json_object_update(ev, doc);
	json_decref(doc);
	text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER); /* "seq" first, as line_seq() reads */
	json_decref(ev);
	if (!text) {
		log_err("events: out of memory for seq %" PRIu64, seq);
		return seq;
	}
	journal(seq, text);
	keep_in_ring(seq, text);
	for (size_t k = 0; k < MAX_LISTENERS; k++)
		if (listeners[k].fn)
			listeners[k].fn(listeners[k].data);
	return seq;
}

void events_publish(struct agent *a, struct instance *i)
{
	json_t *status = inst_status_json(i);
	char *text = status ? json_dumps(status, JSON_COMPACT) : NULL;

	(void)a;
	if (!text) {
		json_decref(status);
		return;
	}
	if (i->last_event && strcmp(i->last_event, text) == 0) {
		free(text); /* nothing an observer could see changed: no second event */
		json_decref(status);
		return;
	}
	free(i->last_event);
	i->last_event = text; /* as text: a status's jansson nodes are some 3.4 KiB, its text 400 bytes */
	events_push(json_pack("{s:s, s:I, s:s, s:s, s:O, s:O, s:o}", "id", i->id, "revision",
			      (json_int_t)(i->spec ? i->spec->revision : 0), "phase",
			      inst_phase_name(i->phase), "reason", i->reason, "ready",
			      json_object_get(status, "ready"), "health", json_object_get(status, "health"),
			      "status", status));
}

void events_publish_removed(struct agent *a, struct instance *i)
{
	(void)a;
	events_push(json_pack("{s:s, s:I, s:s, s:s, s:b, s:s, s:b}", "id", i->id, "revision",
			      (json_int_t)(i->spec ? i->spec->revision : 0), "phase", "removed", "reason", "",
			      "ready", 0, "health", "unknown", "removed", 1));
}

json_t *events_since(uint64_t after, size_t max, uint64_t *ret_last)
{
	json_t *arr = json_array();
	uint64_t first = st.first_kept ? st.first_kept : 1;

	if (after + 1 > first)
		first = after + 1;
	for (uint64_t s = first; arr && s <= st.last && json_array_size(arr) < max; s++)
		if (ring[s % EVENTS_KEPT].seq == s)
			json_array_append_new(arr, json_loads(ring[s % EVENTS_KEPT].text, 0, NULL));
	*ret_last = st.last;
	return arr;
}

uint64_t events_first_kept(void)
{
	return st.first_kept ? st.first_kept : st.last + 1;
}

uint64_t events_last_seq(void)
{
	return st.last;
}

void events_outbox_enable(bool on)
{
	st.outbox = on;
}

uint64_t events_acked(void)
{
	return st.acked;
}

/* Outbox events older than the ring come from the journal on disk. */
static int outbox_from_journal(size_t max, json_t *arr, struct err **err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int dfd = open_dir(err);
	char *line, *save = NULL;
	int r;

	if (dfd < 0)
		return dfd;
	r = fs_read_file(dfd, JOURNAL, JOURNAL_MAX, &text, NULL, err);
	if (r < 0)
		return r;
	for (line = strtok_r(text, "\n", &save); line && json_array_size(arr) < max;
	     line = strtok_r(NULL, "\n", &save)) {
		json_t *doc;
		if (line_seq(line) <= st.acked || !(doc = json_loads(line, 0, NULL)))
			continue;
		json_array_append_new(arr, doc);
	}
	return 0;
}

int events_outbox(size_t max, json_t **ret, struct err **err)
{
	uint64_t last;
	json_t *arr;
	int r;

	if (st.acked + 1 >= events_first_kept() || st.jfd < 0) {
		*ret = events_since(st.acked, max, &last);
		return *ret ? 0 : err_set(err, ENOMEM, "out of memory");
	}
	arr = json_array();
	if (!arr)
		return err_set(err, ENOMEM, "out of memory");
	r = outbox_from_journal(max, arr, err);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*ret = arr;
	return 0;
}

int events_ack(uint64_t seq, struct err **err)
{
	char text[32];

	if (seq <= st.acked)
		return 0;
	if (seq > st.last)
		seq = st.last;
	st.acked = seq;
	if (!st.dir)
		return 0;
	snprintf(text, sizeof(text), "%" PRIu64 "\n", seq);
	return write_small(ACKED, text, err);
}
