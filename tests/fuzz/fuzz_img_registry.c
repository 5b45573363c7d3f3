/* The registry client end to end (drover-image's pull): ping, WWW-Authenticate challenge, token
 * response, manifest or index (platform choice), config blob, layer blobs streamed into the store.
 * A small HTTP server thread on 127.0.0.1 answers each request with the next response of the
 * input; every curl handle is pinned to it (CURLOPT_CONNECT_TO after each curl_easy_reset, via
 * -Wl,--wrap), so realms and redirects to other hosts come here too, and back-off sleeps return at
 * once (nanosleep is wrapped).
 *
 * The input is up to 8 raw HTTP responses separated by a line "--", in request order (typically:
 * /v2/, token, manifest, [manifest,] config, layer). In response k, "@P" stands for the server's
 * port, "@j" (j > k) for "sha256:<hex>" of response j's body (after the blank line) and "#j" for
 * its length, so a whole chain can verify. A request past the last response gets a 404. */
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "image/img-reg-internal.h"
#include "tests/fuzz/fuzz.h"

#define RESP_MAX 8

static int port;
static char store_dir[96], auth_file[96], ref[96];
static struct curl_slist *connect_to;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char *text;
	size_t len;
} resps[RESP_MAX];
static size_t n_resps, next_resp;

void __real_curl_easy_reset(CURL *h);
void __wrap_curl_easy_reset(CURL *h);
int __wrap_nanosleep(const struct timespec *req, struct timespec *rem);

void __wrap_curl_easy_reset(CURL *h)
{
	__real_curl_easy_reset(h);
	(void)curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
	(void)curl_easy_setopt(h, CURLOPT_PROXY, "");
	(void)curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
	/* no CA bundle to parse (a second under ASan) for the https probe this server never answers */
	(void)curl_easy_setopt(h, CURLOPT_CAINFO, "/dev/null");
	(void)curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
}

int __wrap_nanosleep(const struct timespec *req, struct timespec *rem)
{
	(void)req;
	(void)rem;
	return 0;
}

static void serve_one(int cfd)
{
	static const char not_found[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
	struct timeval tv = {.tv_sec = 2};
	char req[16384];
	size_t got = 0;
	char *out = NULL;
	size_t len = 0;

	(void)setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (got < sizeof(req) - 1) { /* the request head; curl sends no body on GET */
		ssize_t n = recv(cfd, req + got, sizeof(req) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (req[0] == 0x16) { /* a TLS ClientHello (https is tried first): not ours to answer */
			close(cfd);
			return;
		}
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	pthread_mutex_lock(&lock);
	if (next_resp < n_resps) {
		out = malloc(resps[next_resp].len ? resps[next_resp].len : 1);
		FUZZ_ASSERT(out);
		memcpy(out, resps[next_resp].text, resps[next_resp].len);
		len = resps[next_resp].len;
		next_resp++;
	}
	pthread_mutex_unlock(&lock);
	if (out)
		(void)fs_write_all(cfd, out, len);
	else
		(void)fs_write_all(cfd, not_found, strlen(not_found));
	free(out);
	close(cfd); /* one response per connection: curl opens a new one for the next request */
}

static void *server(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd >= 0)
			serve_one(cfd);
	}
	return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	const char *base = fuzz_sandbox();
	char target[64], auth[200];
	pthread_t t;
	int lfd, fd;

	(void)argc;
	(void)argv;
	fuzz_quiet();
	FUZZ_ASSERT(curl_global_init(CURL_GLOBAL_DEFAULT) == 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_ASSERT(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 64) == 0);
	FUZZ_ASSERT(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
	port = ntohs(sa.sin_port);
	snprintf(target, sizeof(target), "::127.0.0.1:%d", port);
	connect_to = curl_slist_append(NULL, target);
	FUZZ_ASSERT(connect_to);
	FUZZ_ASSERT(pthread_create(&t, NULL, server, (void *)(intptr_t)lfd) == 0);
	snprintf(store_dir, sizeof(store_dir), "%s/store", base);
	snprintf(auth_file, sizeof(auth_file), "%s/auth.json", base);
	snprintf(ref, sizeof(ref), "127.0.0.1:%d/fuzz/img:latest", port);
	/* user "fuzz", password "pass": Basic and token requests carry credentials */
	snprintf(auth, sizeof(auth), "{\"auths\":{\"127.0.0.1:%d\":{\"auth\":\"ZnV6ejpwYXNz\"}}}", port);
	fd = open(auth_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	FUZZ_ASSERT(fd >= 0 && fs_write_all(fd, auth, strlen(auth)) == 0);
	close(fd);
	return 0;
}

static size_t split(const char *in, size_t len, const char **starts, size_t *lens)
{
	size_t n = 0;
	const char *p = in, *end = in + len;

	while (n < RESP_MAX) {
		const char *sep = memmem(p, (size_t)(end - p), "\n--\n", 4);
		starts[n] = p;
		lens[n] = sep ? (size_t)(sep - p) : (size_t)(end - p);
		n++;
		if (!sep)
			break;
		p = sep + 4;
	}
	return n;
}

static const char *body_of(size_t k, size_t *ret_len)
{
	const char *b = memmem(resps[k].text, resps[k].len, "\r\n\r\n", 4);

	b = b ? b + 4 : resps[k].text + resps[k].len;
	*ret_len = resps[k].len - (size_t)(b - resps[k].text);
	return b;
}

/* Builds response k from its template: "@P", "@j" and "#j" (j > k) replaced. */
static void substitute(size_t k, const char *raw, size_t len)
{
	size_t cap = len * 72 + 16, o = 0;
	char *out = malloc(cap);

	FUZZ_ASSERT(out);
	for (size_t i = 0; i < len; i++) {
		char c = i + 1 < len ? raw[i + 1] : 0;
		size_t j = (size_t)(c - '0');
		if (raw[i] == '@' && c == 'P') {
			o += (size_t)snprintf(out + o, cap - o, "%d", port);
			i++;
		} else if ((raw[i] == '@' || raw[i] == '#') && c >= '0' && c <= '9' && j > k && j < n_resps) {
			size_t blen;
			const char *b = body_of(j, &blen);
			if (raw[i] == '#') {
				o += (size_t)snprintf(out + o, cap - o, "%zu", blen);
			} else {
				unsigned char md[32];
				unsigned mdlen = 0;
				FUZZ_ASSERT(EVP_Digest(b, blen, md, &mdlen, EVP_sha256(), NULL) == 1);
				o += (size_t)snprintf(out + o, cap - o, "sha256:");
				for (unsigned m = 0; m < mdlen; m++)
					o += (size_t)snprintf(out + o, cap - o, "%02x", md[m]);
			}
			i++;
		} else {
			out[o++] = raw[i];
		}
	}
	resps[k].text = out;
	resps[k].len = o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_reg_opts o = {.auth_file = auth_file, .parallel = 1, .progress_fd = -1};
	const char *starts[RESP_MAX];
	size_t lens[RESP_MAX];
	struct img_store *s = NULL;
	struct img_image *img = NULL;
	struct err *e = NULL;

	if (size > 256 * 1024)
		return 0;
	pthread_mutex_lock(&lock);
	n_resps = split((const char *)data, size, starts, lens);
	for (size_t k = n_resps; k-- > 0;)
		substitute(k, starts[k], lens[k]);
	next_resp = 0;
	pthread_mutex_unlock(&lock);
	FUZZ_ASSERT(img_store_open(store_dir, &s, &e) == 0);
	if (img_from_registry(s, ref, &o, &img, &e) >= 0) {
		FUZZ_ASSERT(img->manifest_digest && img->n_layers <= IMG_LAYERS_MAX);
		img_image_free(img);
	} else {
		FUZZ_ASSERT(e && e->msg);
		if (getenv("FUZZ_VERBOSE")) /* to see how far a seed gets */
			fprintf(stderr, "fuzz: %s\n", e->msg);
	}
	err_free(&e);
	img_store_free(s);
	pthread_mutex_lock(&lock);
	for (size_t k = 0; k < n_resps; k++)
		free(resps[k].text);
	n_resps = 0;
	pthread_mutex_unlock(&lock);
	FUZZ_ASSERT(fs_rm_rf(AT_FDCWD, store_dir) == 0);
	return 0;
}
