/* Bench client of bench/scale.sh: waits, from outside, until droverd answers and holds N running
 * instances.
 *
 *   scale-wait await SOCK N POLL_MS TIMEOUT_S OUT
 *
 * GETs /v1/healthz every millisecond until it answers 200, then GETs /v1/instances every POLL_MS
 * until N instances are there, all in phase running (the last body goes to OUT, for the caller to
 * compare pids). Prints the wall-clock microseconds (CLOCK_REALTIME, comparable with the shell's
 * EPOCHREALTIME) of both moments: "HEALTH_US ALL_US". One process with one connection handle, so
 * no client start-up is timed. Exit 1 on timeout, with what was seen last on stderr. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

struct buf {
	char *p;
	size_t n;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *u)
{
	struct buf *b = u;
	char *np = realloc(b->p, b->n + sz * nm + 1);

	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, d, sz * nm);
	b->n += sz * nm;
	b->p[b->n] = '\0';
	return sz * nm;
}

static long get(CURL *h, const char *sock, const char *path, struct buf *out)
{
	char url[256];
	long code = 0;

	snprintf(url, sizeof(url), "http://localhost%s", path);
	out->n = 0;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	if (curl_easy_perform(h) != CURLE_OK)
		return -1;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

static long long wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Instances in the body, and how many of them are running. */
static void count(const char *body, size_t *total, size_t *running)
{
	json_t *doc = json_loads(body, 0, NULL), *v;
	size_t k;

	*total = *running = 0;
	if (!json_is_array(doc)) {
		json_decref(doc);
		return;
	}
	*total = json_array_size(doc);
	json_array_foreach (doc, k, v) {
		const char *ph = json_string_value(json_object_get(v, "phase"));

		if (ph && strcmp(ph, "running") == 0)
			(*running)++;
	}
	json_decref(doc);
}

int main(int argc, char **argv)
{
	struct buf b = {0};
	long long health = 0, deadline;
	size_t want, total = 0, running = 0;
	long poll_ms;
	FILE *f;
	CURL *h;

	if (argc != 7 || strcmp(argv[1], "await") != 0) {
		fprintf(stderr, "usage: scale-wait await SOCK N POLL_MS TIMEOUT_S OUT\n");
		return 2;
	}
	want = strtoul(argv[3], NULL, 10);
	poll_ms = strtol(argv[4], NULL, 10);
	deadline = wall_us() + strtoll(argv[5], NULL, 10) * 1000000;
	h = curl_easy_init();
	if (!h)
		return 2;
	while (!health && wall_us() < deadline) {
		if (get(h, argv[2], "/v1/healthz", &b) == 200)
			health = wall_us();
		else
			usleep(1000);
	}
	while (health && wall_us() < deadline) {
		if (get(h, argv[2], "/v1/instances", &b) == 200) {
			count(b.p, &total, &running);
			if (total == want && running == want)
				break;
		}
		usleep((useconds_t)poll_ms * 1000);
	}
	if (!health || total != want || running != want) {
		fprintf(stderr, "scale-wait: %s; last seen %zu instances, %zu running, of %zu\n",
			health ? "timed out" : "no answer to /v1/healthz", total, running, want);
		free(b.p);
		curl_easy_cleanup(h);
		return 1;
	}
	printf("%lld %lld\n", health, wall_us());
	f = fopen(argv[6], "w");
	if (f) {
		fwrite(b.p, 1, b.n, f);
		fclose(f);
	}
	free(b.p);
	curl_easy_cleanup(h);
	return f ? 0 : 1;
}
