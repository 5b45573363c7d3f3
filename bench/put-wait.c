/* Bench client: PUT /v1/instances/ID, then long-poll /v1/events until ID is
 * running; prints the milliseconds in between. With "poll" it waits the way a
 * simple client does, GET /v1/instances/ID every millisecond, and also prints
 * the wall-clock microseconds of the PUT (for splitting the time against the
 * runtime wrapper's stamp). With "rm" it DELETEs ID and waits until it is
 * gone. One process, so no client start-up is timed. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

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

static long request(CURL *h, const char *sock, const char *method, const char *path, const char *body,
		    struct buf *out)
{
	char url[512];
	long code = 0;

	snprintf(url, sizeof(url), "http://localhost%s", path);
	out->n = 0;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(h) != CURLE_OK)
		return -1;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Waits for an event of id whose phase is want; returns 0, or -1 on failure or timeout. */
static int wait_phase(CURL *h, const char *sock, const char *id, const char *want, long long after)
{
	struct buf b = {0};

	for (int round = 0; round < 20; round++) {
		char path[128];
		snprintf(path, sizeof(path), "/v1/events?after=%lld&wait=10", after);
		if (request(h, sock, "GET", path, NULL, &b) != 200)
			break;
		json_t *doc = json_loads(b.p, 0, NULL), *ev;
		size_t k;
		after = json_integer_value(json_object_get(doc, "last"));
		json_array_foreach (json_object_get(doc, "events"), k, ev) {
			const char *eid = json_string_value(json_object_get(ev, "id"));
			const char *ph = json_string_value(json_object_get(ev, "phase"));
			if (!eid || strcmp(eid, id) != 0 || !ph)
				continue;
			if (strcmp(ph, want) == 0 ||
			    (strcmp(ph, "failed") == 0 && strcmp(want, "failed") != 0)) {
				int ok = strcmp(ph, want) == 0 ? 0 : -1;
				json_decref(doc);
				free(b.p);
				return ok;
			}
		}
		json_decref(doc);
	}
	free(b.p);
	return -1;
}

/* GET the instance every millisecond until its phase is running; 0, or -1 (failed, 10 s). */
static int poll_running(CURL *h, const char *sock, const char *path)
{
	struct buf b = {0};
	int r = -1;

	for (int k = 0; k < 10000 && r < 0; k++) {
		if (request(h, sock, "GET", path, NULL, &b) == 200) {
			json_t *doc = json_loads(b.p, 0, NULL);
			const char *ph = json_string_value(json_object_get(doc, "phase"));
			if (ph && strcmp(ph, "running") == 0)
				r = 0;
			else if (ph && strcmp(ph, "failed") == 0)
				k = 10000;
			json_decref(doc);
		}
		if (r < 0)
			usleep(1000);
	}
	free(b.p);
	return r;
}

static long long wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long last_seq(CURL *h, const char *sock)
{
	struct buf b = {0};
	long long last = 0;

	if (request(h, sock, "GET", "/v1/events?after=999999999999", NULL, &b) == 200) {
		json_t *doc = json_loads(b.p, 0, NULL);
		last = json_integer_value(json_object_get(doc, "last"));
		json_decref(doc);
	}
	free(b.p);
	return last;
}

int main(int argc, char **argv)
{
	struct buf b = {0};
	char path[128];
	CURL *h;
	int r;

	bool poll = strcmp(argv[1], "poll") == 0;

	if (argc < 4 || ((strcmp(argv[1], "run") == 0 || poll) && argc != 5)) {
		fprintf(stderr, "usage: put-wait run|poll SOCK ID SPECFILE | put-wait rm SOCK ID\n");
		return 2;
	}
	h = curl_easy_init();
	snprintf(path, sizeof(path), "/v1/instances/%s", argv[3]);
	long long after = last_seq(h, argv[2]);
	if (strcmp(argv[1], "rm") == 0) {
		if (request(h, argv[2], "DELETE", path, NULL, &b) != 202)
			return 1;
		return wait_phase(h, argv[2], argv[3], "removed", after) == 0 ? 0 : 1;
	}
	json_t *spec = json_load_file(argv[4], 0, NULL);
	if (!spec)
		return 2;
	json_object_set_new(spec, "id", json_string(argv[3]));
	char *body = json_dumps(spec, JSON_COMPACT);
	long long w0 = wall_us();
	double t0 = now_ms();
	long code = request(h, argv[2], "PUT", path, body, &b);
	if (code != 201 && code != 200) {
		fprintf(stderr, "PUT: HTTP %ld: %s\n", code, b.p ? b.p : "");
		return 1;
	}
	r = poll ? poll_running(h, argv[2], path) : wait_phase(h, argv[2], argv[3], "running", after);
	double t1 = now_ms();
	if (r < 0) {
		fprintf(stderr, "'%s' did not reach running\n", argv[3]);
		return 1;
	}
	if (poll)
		printf("%.2f %lld\n", t1 - t0, w0);
	else
		printf("%.2f\n", t1 - t0);
	free(body);
	free(b.p);
	json_decref(spec);
	curl_easy_cleanup(h);
	return 0;
}
