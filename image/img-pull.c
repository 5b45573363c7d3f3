/* The layer puller: missing layers are fetched several at a time (a thread each, each with its
 * own connection), streamed once through sha256, decompression and the safe unpacker into the
 * store. A per-layer lock file makes one process download a layer while the others wait and then
 * reuse it; network trouble is retried with backoff. Progress goes to --progress-fd. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/timeutil.h"
#include "image/img-reg-internal.h"

#define LAYER_ATTEMPTS 4
#define LAYER_BACKOFF_MS 500
#define PROGRESS_INTERVAL_NS (100LL * 1000000LL)

struct pull {
	struct img_store *s;
	struct img_reg *c;
	const struct img_desc *layers;
	size_t n;
	_Atomic size_t next;
	_Atomic uint64_t done_bytes;
	atomic_bool failed;
	pthread_mutex_t lock; /* guards what follows */
	pthread_cond_t cond;
	unsigned running;
	struct err *first_err;
	int first_r;
};

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static ssize_t stream_src_read(void *ctx, const void **ret_buf)
{
	return img_blob_stream_read(ctx, ret_buf);
}

/* One attempt: 0, or < 0 with *ret_retry saying whether another attempt may help. */
static int fetch_once(struct pull *p, void *curl, const struct img_desc *d, bool *ret_retry, struct err **err)
{
	struct img_blob_stream *bs = NULL;
	_cleanup_err_ struct err *serr = NULL;
	struct img_src src;
	int r, sr;

	*ret_retry = false;
	r = img_blob_stream_open(p->c, curl, d, &p->done_bytes, &bs, err);
	if (r < 0)
		return r;
	src = (struct img_src){.read = stream_src_read, .ctx = bs};
	r = img_store_put_layer(p->s, d, &src, err);
	if (r < 0) {
		sr = img_blob_stream_error(bs, ret_retry, &serr);
		if (sr < 0) { /* the transfer's own failure explains it best */
			err_free(err);
			r = err_set(err, serr->errnum, "blob %s: %s", d->digest, err_msg(serr));
		}
	}
	img_blob_stream_free(bs); /* takes back the bytes it counted */
	if (r >= 0)
		atomic_fetch_add(&p->done_bytes, d->size);
	return r;
}

static int fetch_layer(struct pull *p, void *curl, const struct img_desc *d, struct err **err)
{
	_cleanup_close_ int lockfd = -1;
	bool retry = false;
	int r;

	r = img_lock_file(p->s->layersfd, d->hex, &lockfd, err);
	if (r < 0)
		return r;
	if (img_store_has_layer(p->s, d->hex)) { /* another process fetched it while we waited */
		atomic_fetch_add(&p->done_bytes, d->size);
		return 0;
	}
	for (int attempt = 1;; attempt++) {
		err_free(err);
		r = fetch_once(p, curl, d, &retry, err);
		if (r >= 0 || !retry || atomic_load(&p->failed))
			return r;
		if (attempt >= LAYER_ATTEMPTS) {
			_cleanup_err_ struct err *last = TAKE_PTR(*err);
			return err_set(err, last->errnum, "%s (after %d attempts)", err_msg(last), attempt);
		}
		sleep_ms((long)LAYER_BACKOFF_MS << (attempt - 1));
	}
}

static bool listed_before(const struct img_desc *layers, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(layers[j].hex, layers[i].hex) == 0)
			return true;
	return false;
}

static void record_failure(struct pull *p, int r, struct err **e)
{
	pthread_mutex_lock(&p->lock);
	if (!p->first_err) {
		p->first_err = *e;
		*e = NULL;
		p->first_r = r;
	}
	pthread_mutex_unlock(&p->lock);
	atomic_store(&p->failed, true);
}

static void *worker(void *arg)
{
	struct pull *p = arg;
	void *curl = img_reg_curl_new(p->c);
	size_t i;

	while (curl && !atomic_load(&p->failed) && (i = atomic_fetch_add(&p->next, 1)) < p->n) {
		struct err *e = NULL;
		int r;

		if (listed_before(p->layers, i))
			continue;
		if (img_store_has_layer(p->s, p->layers[i].hex)) {
			atomic_fetch_add(&p->done_bytes, p->layers[i].size);
			continue;
		}
		r = fetch_layer(p, curl, &p->layers[i], &e);
		if (r < 0)
			record_failure(p, r, &e);
		err_free(&e);
	}
	if (!curl) {
		struct err *e = NULL;
		int r = err_set(&e, ENOMEM, "curl handle");
		record_failure(p, r, &e);
	}
	img_reg_curl_free(curl);
	pthread_mutex_lock(&p->lock);
	p->running--;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void report(int fd, uint64_t done, uint64_t total)
{
	char line[64];
	int n;

	if (fd < 0)
		return;
	if (done > total)
		done = total;
	n = snprintf(line, sizeof(line), "progress %" PRIu64 " %" PRIu64 "\n", done, total);
	/* progress is advisory: a closed or slow reader loses a line, nothing else */
	if (n > 0 && write(fd, line, (size_t)n) < 0)
		return;
}

/* Waits for the workers, reporting progress at most every PROGRESS_INTERVAL_NS. */
static void wait_workers(struct pull *p, int progress_fd, uint64_t total)
{
	uint64_t last = UINT64_MAX;

	pthread_mutex_lock(&p->lock);
	while (p->running > 0) {
		struct timespec ts;
		uint64_t now = atomic_load(&p->done_bytes);

		if (now != last) {
			report(progress_fd, now, total);
			last = now;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += PROGRESS_INTERVAL_NS;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&p->cond, &p->lock, &ts); /* a timeout means: report again */
	}
	pthread_mutex_unlock(&p->lock);
	if (!atomic_load(&p->failed) && last != total)
		report(progress_fd, total, total);
}

int img_pull_layers(struct img_store *s, struct img_reg *c, const struct img_desc *layers, size_t n,
		    const struct img_reg_opts *o, struct err **err)
{
	struct pull p = {.s = s, .c = c, .layers = layers, .n = n};
	unsigned want = o->parallel ? o->parallel : 3;
	pthread_t tids[IMG_PARALLEL_MAX];
	uint64_t total = 0;
	unsigned started = 0;

	for (size_t i = 0; i < n; i++)
		if (!listed_before(layers, i))
			total += layers[i].size;
	if (want > IMG_PARALLEL_MAX)
		want = IMG_PARALLEL_MAX;
	if (want > n)
		want = (unsigned)n;
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	for (; started < want; started++) {
		pthread_mutex_lock(&p.lock);
		p.running++;
		pthread_mutex_unlock(&p.lock);
		if (pthread_create(&tids[started], NULL, worker, &p) != 0) {
			pthread_mutex_lock(&p.lock);
			p.running--;
			pthread_mutex_unlock(&p.lock);
			break;
		}
	}
	if (started == 0 && n > 0) { /* no thread at all: do the work here */
		p.running = 1;
		worker(&p);
	}
	wait_workers(&p, o->progress_fd, total);
	for (unsigned i = 0; i < started; i++)
		(void)pthread_join(tids[i], NULL); /* the workers have all signalled already */
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
	if (p.first_err) {
		err_free(err);
		*err = p.first_err;
		return p.first_r;
	}
	return 0;
}
