/* The distribution v2 client on libcurl: /v2/ ping (https, or http where that is allowed),
 * anonymous, Basic and Bearer-token auth (a token is reused until it expires), size-capped
 * documents verified by digest, retries with backoff on network errors and 5xx, and blob
 * streams the layer puller reads as the bytes arrive. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/timeutil.h"
#include "common/version.h"
#include "image/img-reg-internal.h"

#define ATTEMPTS 4
#define BACKOFF_MS 250
#define TOKEN_MAX (64 * 1024)
#define ERR_BODY_MAX (16 * 1024)
#define HEADER_MAX 8192
#define TOKEN_DEFAULT_TTL 60
#define TOKEN_MAX_TTL (24 * 3600) /* a longer expires_in is refreshed after a day anyway */
#define TOKEN_MARGIN_NS (10LL * 1000000000LL)
#define STREAM_CAP (256 * 1024)
#define DEFAULT_CA "/etc/ssl/certs/ca-certificates.crt"

#define ACCEPT_MANIFESTS                                                                                     \
	"Accept: " IMG_MT_OCI_MANIFEST ", " IMG_MT_DOCKER_MANIFEST ", " IMG_MT_OCI_INDEX                     \
	", " IMG_MT_DOCKER_LIST

struct img_reg {
	char *host; /* where the API is: "127.0.0.1:5000", "registry-1.docker.io" */
	char *repo; /* "library/busybox" */
	char *base; /* "https://host" once pinged */
	bool allow_http;
	char *ca; /* system CAs + --ca, when --ca is given */
	size_t ca_len;
	struct img_creds creds;
	pthread_mutex_t lock; /* guards what follows */
	struct img_challenge ch;
	char *authz;			      /* "Authorization: ..." or NULL */
	int64_t expiry_ns;		      /* of a token (monotonic); 0: none */
	unsigned gen;			      /* bumped on every new authz */
	long low_speed_limit, low_speed_time; /* bytes/s over seconds, below which a transfer is aborted */
	bool creds_sent;
};

/* One buffered response. */
struct resp {
	long status;
	char *body;
	size_t len, max;
	bool too_big;
	char content_type[256];
	char *www_auth;
	bool foreign; /* the answer came from another host than the one asked (a redirect) */
};

static void resp_done(struct resp *r)
{
	free(r->body);
	free(r->www_auth);
	*r = (struct resp){0};
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool http_allowed(const char *host, char *const *insecure)
{
	if (img_host_is_loopback(host))
		return true;
	for (char *const *i = insecure; i && *i; i++)
		if (strcmp(*i, host) == 0)
			return true;
	return false;
}

const char *img_reg_host(const struct img_reg *c)
{
	return c->host;
}

const char *img_reg_auth_used(const struct img_reg *c)
{
	return c->creds_sent ? c->creds.key : NULL;
}

struct img_reg *img_reg_free(struct img_reg *c)
{
	if (!c)
		return NULL;
	free(c->host);
	free(c->repo);
	free(c->base);
	free(c->ca);
	free(c->authz);
	img_creds_done(&c->creds);
	img_challenge_done(&c->ch);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}

static void reg_freep(struct img_reg **c)
{
	img_reg_free(*c);
}

static int append_file(const char *path, char **buf, size_t *len, bool must, struct err **err)
{
	_cleanup_free_ char *text = NULL;
	size_t n = 0;
	char *nb;
	int r;

	r = fs_read_file(AT_FDCWD, path, 16 * 1024 * 1024, &text, &n, must ? err : NULL);
	if (r < 0)
		return must ? err_wrap(err, "CA file '%s'", path) : 0;
	nb = realloc(*buf, *len + n + 2);
	if (!nb)
		return err_set(err, ENOMEM, "CA bundle");
	memcpy(nb + *len, text, n);
	*len += n;
	nb[(*len)++] = '\n';
	nb[*len] = '\0';
	*buf = nb;
	return 0;
}

/* CURLOPT_CAINFO replaces the system bundle, so an extra CA travels with it in one blob. */
static int load_ca(struct img_reg *c, const char *extra, struct err **err)
{
	curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	const char *system = v && v->cainfo ? v->cainfo : DEFAULT_CA;
	int r;

	if (!extra)
		return 0;
	r = append_file(system, &c->ca, &c->ca_len, false, err);
	if (r >= 0)
		r = append_file(extra, &c->ca, &c->ca_len, true, err);
	return r;
}

static int load_creds(struct img_reg *c, const struct img_ref *ref, const char *auth_file, struct err **err)
{
	_cleanup_json_ json_t *doc = NULL;
	const char *path = auth_file;
	int r;

	if (!path) {
		if (access(IMG_DEFAULT_AUTH, F_OK) < 0)
			return 0;
		path = IMG_DEFAULT_AUTH;
	}
	r = img_auth_load(path, &doc, err);
	if (r >= 0)
		r = img_auth_lookup(doc, ref->domain, ref->path, &c->creds, err);
	return r;
}

int img_reg_new(const struct img_ref *ref, const struct img_reg_opts *o, struct img_reg **ret,
		struct err **err)
{
	_cleanup_(reg_freep) struct img_reg *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return err_set(err, ENOMEM, "registry client");
	pthread_mutex_init(&c->lock, NULL);
	c->host = strdup(img_ref_api_host(ref));
	c->repo = strdup(ref->path);
	if (!c->host || !c->repo)
		return err_set(err, ENOMEM, "registry client");
	c->allow_http = http_allowed(c->host, o->insecure);
	c->low_speed_limit = o->low_speed_limit ? (long)o->low_speed_limit : 10 * 1024;
	c->low_speed_time = o->low_speed_time ? (long)o->low_speed_time : 60;
	r = load_ca(c, o->ca_file, err);
	if (r >= 0)
		r = load_creds(c, ref, o->auth_file, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

static size_t header_cb(char *p, size_t size, size_t n, void *data)
{
	struct resp *r = data;
	size_t len = size * n, k;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (after a redirect) */
		r->content_type[0] = '\0';
		free(r->www_auth);
		r->www_auth = NULL;
		return len;
	}
	if (len > HEADER_MAX)
		return len;
	k = strcspn(p, ":");
	if (k == len)
		return len;
	const char *v = p + k + 1;
	size_t vlen = len - k - 1;
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (k == 12 && strncasecmp(p, "content-type", 12) == 0) {
		size_t m = strcspn(v, ";\r\n");
		if (m > vlen)
			m = vlen;
		if (m >= sizeof(r->content_type))
			m = sizeof(r->content_type) - 1;
		memcpy(r->content_type, v, m);
		r->content_type[m] = '\0';
	} else if (k == 16 && strncasecmp(p, "www-authenticate", 16) == 0 &&
		   (!r->www_auth || strncasecmp(v, "Bearer", 6) == 0)) {
		free(r->www_auth);
		r->www_auth = strndup(v, vlen);
	}
	return len;
}

static size_t body_cb(char *p, size_t size, size_t n, void *data)
{
	struct resp *r = data;
	size_t len = size * n;
	char *nb;

	if (r->len + len > r->max) {
		r->too_big = true;
		return 0;
	}
	nb = realloc(r->body, r->len + len + 1);
	if (!nb)
		return 0;
	memcpy(nb + r->len, p, len);
	r->len += len;
	nb[r->len] = '\0';
	r->body = nb;
	return len;
}

void *img_reg_curl_new(struct img_reg *c)
{
	(void)c; /* every request sets its options again */
	return curl_easy_init();
}

void img_reg_curl_free(void *curl)
{
	if (curl)
		curl_easy_cleanup(curl);
}

static void curl_freep(CURL **h)
{
	if (*h)
		curl_easy_cleanup(*h);
}

static void slist_freep(struct curl_slist **l)
{
	if (*l)
		curl_slist_free_all(*l);
}

static void setup(const struct img_reg *c, CURL *h, const char *url, char *errbuf)
{
	const char *protos = c->allow_http ? "http,https" : "https";

	curl_easy_reset(h);
	(void)curl_easy_setopt(h, CURLOPT_URL, url); /* setopt fails only on OOM or a bad value */
	(void)curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protos);
	(void)curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protos);
	(void)curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	(void)curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	(void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
	(void)curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, c->low_speed_limit);
	(void)curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->low_speed_time);
	(void)curl_easy_setopt(h, CURLOPT_USERAGENT, "drover-image/" DROVER_VERSION);
	(void)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (c->ca) {
		struct curl_blob blob = {.data = c->ca, .len = c->ca_len, .flags = CURL_BLOB_NOCOPY};
		(void)curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	}
	errbuf[0] = '\0';
}

static bool curl_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static bool status_retryable(long status)
{
	return status == 429 || status >= 500;
}

static const char *curl_msg(CURLcode cc, const char *errbuf)
{
	/* OpenSSL's words for a TLS hello answered in plain HTTP */
	if (cc == CURLE_SSL_CONNECT_ERROR && errbuf &&
	    (strstr(errbuf, "wrong version number") || strstr(errbuf, "packet length too long")))
		return "this registry speaks plain HTTP; add it to --insecure-registry if you trust it";
	return errbuf && *errbuf ? errbuf : curl_easy_strerror(cc);
}

/* "HTTP 404 MANIFEST_UNKNOWN: manifest unknown" from a registry error body. */
static void describe_status(long status, const char *body, char *buf, size_t size)
{
	json_t *doc = body ? json_loads(body, 0, NULL) : NULL;
	json_t *e0 = json_array_get(json_object_get(doc, "errors"), 0);
	const char *code = json_string_value(json_object_get(e0, "code"));
	const char *msg = json_string_value(json_object_get(e0, "message"));

	if (code)
		snprintf(buf, size, "HTTP %ld %s: %.200s", status, code, msg ? msg : "");
	else
		snprintf(buf, size, "HTTP %ld", status);
	json_decref(doc);
}

static char *auth_header_copy(struct img_reg *c, unsigned *ret_gen)
{
	char *h;

	pthread_mutex_lock(&c->lock);
	h = c->authz ? strdup(c->authz) : NULL;
	*ret_gen = c->gen;
	pthread_mutex_unlock(&c->lock);
	return h;
}

/* realm must be https, or http where the registry itself may be plain http. */
static int check_realm(const struct img_reg *c, const char *realm, struct err **err)
{
	char host[256];
	const char *p;
	size_t n;

	if (strncmp(realm, "https://", 8) == 0)
		return 0;
	if (strncmp(realm, "http://", 7) != 0)
		return err_set(err, EPROTO, "registry %s: token realm '%.200s' is not an http(s) URL",
			       c->host, realm);
	p = realm + 7;
	n = strcspn(p, "/?#");
	if (n >= sizeof(host))
		return err_set(err, EPROTO, "registry %s: token realm host too long", c->host);
	memcpy(host, p, n);
	host[n] = '\0';
	if (img_host_is_loopback(host) || (c->allow_http && strcmp(host, c->host) == 0))
		return 0;
	return err_set(err, EPERM, "registry %s: refusing plain-http token realm '%.200s'", c->host, realm);
}

static int token_url(CURL *h, const struct img_reg *c, char **ret)
{
	_cleanup_free_ char *scope = NULL;
	char *svc = NULL, *sc = NULL;
	int n;

	if (asprintf(&scope, "repository:%s:pull", c->repo) < 0)
		return -ENOMEM;
	sc = curl_easy_escape(h, scope, 0);
	svc = c->ch.service ? curl_easy_escape(h, c->ch.service, 0) : NULL;
	if (!sc || (c->ch.service && !svc)) {
		curl_free(sc);
		curl_free(svc);
		return -ENOMEM;
	}
	n = asprintf(ret, "%s%sscope=%s%s%s", c->ch.realm, strchr(c->ch.realm, '?') ? "&" : "?", sc,
		     svc ? "&service=" : "", svc ? svc : "");
	curl_free(sc);
	curl_free(svc);
	return n < 0 ? -ENOMEM : 0;
}

/* Caller holds c->lock. Asks the realm for a pull token (with the credentials, if any). */
static int fetch_token(struct img_reg *c, struct err **err)
{
	_cleanup_(curl_freep) CURL *h = curl_easy_init();
	_cleanup_free_ char *url = NULL;
	_cleanup_json_ json_t *doc = NULL;
	struct resp r = {.max = TOKEN_MAX};
	char errbuf[CURL_ERROR_SIZE], desc[320];
	const char *tok;
	json_int_t ttl;
	CURLcode cc;
	int e;

	e = check_realm(c, c->ch.realm, err);
	if (e < 0)
		return e;
	if (!h || token_url(h, c, &url) < 0)
		return err_set(err, ENOMEM, "token request");
	setup(c, h, url, errbuf);
	(void)curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https"); /* realm checked above */
	(void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	(void)curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	if (c->creds.user) {
		c->creds_sent = true;
		(void)curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		(void)curl_easy_setopt(h, CURLOPT_USERNAME, c->creds.user);
		(void)curl_easy_setopt(h, CURLOPT_PASSWORD, c->creds.pass);
	}
	cc = curl_easy_perform(h);
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
	if (cc != CURLE_OK) {
		e = err_set(err, EHOSTUNREACH, "registry %s: token from '%.200s': %s", c->host, c->ch.realm,
			    curl_msg(cc, errbuf));
		resp_done(&r);
		return e;
	}
	if (r.status != 200) {
		describe_status(r.status, r.body, desc, sizeof(desc));
		resp_done(&r);
		return err_set(err, EACCES, "registry %s: token server refused %s access to '%s': %s%s",
			       c->host, c->creds.user ? "authenticated" : "anonymous", c->repo, desc,
			       r.status == 401 && !c->creds.user ? " (no credentials in the auth file)" : "");
	}
	doc = r.body ? json_loads(r.body, 0, NULL) : NULL;
	resp_done(&r);
	tok = json_string_value(json_object_get(doc, "token"));
	if (!tok)
		tok = json_string_value(json_object_get(doc, "access_token"));
	if (!tok || !*tok)
		return err_set(err, EPROTO, "registry %s: the token server's answer has no token", c->host);
	/* the token goes into a header line as it is: a CR, LF or any other control byte in it would
	 * let the token server add headers of its own to the registry requests */
	for (const unsigned char *p = (const unsigned char *)tok; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return err_set(err, EPROTO,
				       "registry %s: the token server's token holds a byte that cannot go "
				       "in a header (0x%02x)",
				       c->host, *p);
	ttl = json_integer_value(json_object_get(doc, "expires_in"));
	if (ttl < TOKEN_DEFAULT_TTL)
		ttl = TOKEN_DEFAULT_TTL;
	if (ttl > TOKEN_MAX_TTL)
		ttl = TOKEN_MAX_TTL; /* 1e10 s would overflow the ns deadline below */
	free(c->authz);
	c->authz = NULL;
	if (asprintf(&c->authz, "Authorization: Bearer %s", tok) < 0) {
		c->authz = NULL;
		return err_set(err, ENOMEM, "token");
	}
	c->expiry_ns = time_mono_ns() + (int64_t)ttl * 1000000000LL;
	c->gen++;
	return 0;
}

/* Caller holds c->lock. */
static int basic_auth(struct img_reg *c, struct err **err)
{
	_cleanup_free_ char *pair = NULL;
	_cleanup_free_ unsigned char *b64 = NULL;
	size_t n;

	if (!c->creds.user)
		return err_set(err, EACCES,
			       "registry %s: it asks for credentials and the auth file has none for it",
			       c->host);
	if (asprintf(&pair, "%s:%s", c->creds.user, c->creds.pass) < 0)
		return err_set(err, ENOMEM, "basic auth");
	c->creds_sent = true;
	n = strlen(pair);
	b64 = calloc(1, 4 * ((n + 2) / 3) + 1);
	if (!b64)
		return err_set(err, ENOMEM, "basic auth");
	EVP_EncodeBlock(b64, (const unsigned char *)pair, (int)n);
	explicit_bzero(pair, n);
	free(c->authz);
	c->authz = NULL;
	if (asprintf(&c->authz, "Authorization: Basic %s", (char *)b64) < 0) {
		c->authz = NULL;
		return err_set(err, ENOMEM, "basic auth");
	}
	c->expiry_ns = 0;
	c->gen++;
	return 0;
}

/* Answers a challenge (www_auth, or the one from the ping). seen_gen: the authz the failed request
 * used; if another thread has renewed it since, that one is used instead. */
static int authenticate(struct img_reg *c, const char *www_auth, unsigned seen_gen, struct err **err)
{
	struct img_challenge ch = {0};
	int r = 0;

	pthread_mutex_lock(&c->lock);
	if (c->gen != seen_gen)
		goto out_unlock;
	if (www_auth && img_challenge_parse(www_auth, &ch) == 0) {
		img_challenge_done(&c->ch);
		c->ch = ch;
	}
	if (c->ch.scheme == IMG_AUTH_BEARER)
		r = fetch_token(c, err);
	else if (c->ch.scheme == IMG_AUTH_BASIC)
		r = basic_auth(c, err);
	else
		r = err_set(err, EACCES, "registry %s: unauthorized, and no challenge to answer", c->host);
out_unlock:
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* Renews a token shortly before it expires. */
static int refresh_if_due(struct img_reg *c, struct err **err)
{
	unsigned gen;
	bool due;

	pthread_mutex_lock(&c->lock);
	due = c->expiry_ns && time_mono_ns() > c->expiry_ns - TOKEN_MARGIN_NS;
	gen = c->gen;
	pthread_mutex_unlock(&c->lock);
	return due ? authenticate(c, NULL, gen, err) : 0;
}

static int headers_for(struct img_reg *c, const char *accept, struct curl_slist **ret, unsigned *ret_gen)
{
	_cleanup_free_ char *authz = auth_header_copy(c, ret_gen);
	struct curl_slist *l = NULL, *t;

	if (accept) {
		t = curl_slist_append(l, accept);
		if (!t)
			return -ENOMEM;
		l = t;
	}
	if (authz) {
		t = curl_slist_append(l, authz);
		if (!t) {
			curl_slist_free_all(l);
			return -ENOMEM;
		}
		l = t;
	}
	*ret = l;
	return 0;
}

/* A 401 is answered only when it comes from the registry itself: a redirect target (a CDN, an
 * object store) never chooses where the registry's credentials go. */
static int check_challenge_origin(const struct img_reg *c, CURL *h, struct err **err)
{
	char *eff = NULL;
	const char *host;

	(void)curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff); /* NULL is refused below */
	if (eff && c->base && img_url_is_host(eff, c->base))
		return 0;
	host = eff && strstr(eff, "://") ? strstr(eff, "://") + 3 : "?";
	return err_set(err, EACCES,
		       "registry %s: redirect target refused: '%.*s' asks for credentials (HTTP 401); "
		       "they go only to the registry",
		       c->host, (int)strcspn(host, "/?#"), host);
}

/* One GET of base+path into r (r->max set by the caller), with auth, retries and backoff. */
static int get_doc(struct img_reg *c, const char *path, const char *accept, struct resp *r, struct err **err)
{
	_cleanup_(curl_freep) CURL *h = curl_easy_init();
	_cleanup_free_ char *url = NULL;
	char errbuf[CURL_ERROR_SIZE], desc[320];
	bool reauthed = false;
	CURLcode cc = CURLE_OK;

	if (!h || asprintf(&url, "%s%s", c->base, path) < 0)
		return err_set(err, ENOMEM, "registry request");
	for (int attempt = 0; attempt < ATTEMPTS;) {
		_cleanup_(slist_freep) struct curl_slist *hdrs = NULL;
		unsigned gen = 0;
		size_t max = r->max;
		int e;

		e = refresh_if_due(c, err);
		if (e < 0)
			return e;
		if (headers_for(c, accept, &hdrs, &gen) < 0)
			return err_set(err, ENOMEM, "registry request");
		resp_done(r);
		r->max = max;
		setup(c, h, url, errbuf);
		(void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		(void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
		(void)curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
		(void)curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
		(void)curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
		cc = curl_easy_perform(h);
		(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
		if (r->too_big)
			return err_set(err, EFBIG, "registry %s: %s: larger than the %zu bytes allowed",
				       c->host, path, r->max);
		if (cc == CURLE_OK && r->status == 401 && !reauthed) {
			reauthed = true;
			e = check_challenge_origin(c, h, err);
			if (e >= 0)
				e = authenticate(c, r->www_auth, gen, err);
			if (e < 0)
				return e;
			continue;
		}
		if ((cc != CURLE_OK && curl_retryable(cc)) ||
		    (cc == CURLE_OK && status_retryable(r->status))) {
			if (++attempt < ATTEMPTS)
				sleep_ms(BACKOFF_MS << attempt);
			continue;
		}
		break;
	}
	if (cc != CURLE_OK)
		return err_set(err, EHOSTUNREACH, "registry %s: %s: %s (after %d attempts)", c->host, path,
			       curl_msg(cc, errbuf), ATTEMPTS);
	if (r->status != 200) {
		describe_status(r->status, r->body, desc, sizeof(desc));
		return err_set(err,
			       r->status == 404			      ? ENOENT
			       : r->status == 401 || r->status == 403 ? EACCES
								      : EPROTO,
			       "registry %s: %s: %s", c->host, path, desc);
	}
	return 0;
}

/* Tries the base URL once; 0 with r filled when the server answered at all. */
static int probe(struct img_reg *c, const char *scheme, struct resp *r, char *errbuf, CURLcode *ret_cc)
{
	_cleanup_(curl_freep) CURL *h = curl_easy_init();
	_cleanup_free_ char *url = NULL;

	if (!h || asprintf(&url, "%s://%s/v2/", scheme, c->host) < 0)
		return -ENOMEM;
	setup(c, h, url, errbuf);
	(void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_cb);
	(void)curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	(void)curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	(void)curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	*ret_cc = curl_easy_perform(h);
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	char *eff = NULL;
	(void)curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff); /* NULL counts as foreign */
	r->foreign = !eff || !img_url_is_host(eff, url);
	return 0;
}

static int ping_once(struct img_reg *c, struct resp *r, CURLcode *ret_cc, char *errbuf)
{
	int e;

	r->max = ERR_BODY_MAX;
	e = probe(c, "https", r, errbuf, ret_cc);
	if (e < 0 || *ret_cc == CURLE_OK || !c->allow_http || *ret_cc == CURLE_COULDNT_CONNECT)
		return e;
	/* a server that speaks TLS with a certificate we cannot verify: plain http would only hide
	 * that, so the verification error is what the user gets (--registry-ca fixes it) */
	if (*ret_cc == CURLE_PEER_FAILED_VERIFICATION)
		return e;
	/* not TLS and plain http is allowed here: try that */
	resp_done(r);
	r->max = ERR_BODY_MAX;
	e = probe(c, "http", r, errbuf, ret_cc);
	if (e >= 0 && *ret_cc == CURLE_OK)
		return 1;
	return e;
}

static int ping_answer(struct img_reg *c, struct resp *r, struct err **err)
{
	struct img_challenge ch = {0};
	char desc[320];
	int e;

	if (r->status == 200)
		return 0;
	if (r->status != 401) {
		describe_status(r->status, r->body, desc, sizeof(desc));
		return err_set(err, EPROTO, "registry %s: /v2/ answered %s: not a distribution v2 registry?",
			       c->host, desc);
	}
	if (r->foreign)
		return err_set(err, EACCES,
			       "registry %s: redirect target refused: /v2/ was redirected to another host "
			       "that asks for credentials (HTTP 401); they go only to the registry",
			       c->host);
	e = r->www_auth ? img_challenge_parse(r->www_auth, &ch) : -EINVAL;
	if (e < 0)
		return err_set(err, EPROTO, "registry %s: unusable WWW-Authenticate '%.200s'", c->host,
			       r->www_auth ? r->www_auth : "(none)");
	img_challenge_done(&c->ch);
	c->ch = ch;
	return authenticate(c, NULL, c->gen, err);
}

int img_reg_ping(struct img_reg *c, struct err **err)
{
	char errbuf[CURL_ERROR_SIZE];
	struct resp r = {0};
	CURLcode cc = CURLE_OK;
	int e = 0;

	for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
		if (attempt > 0)
			sleep_ms(BACKOFF_MS << attempt);
		resp_done(&r);
		e = ping_once(c, &r, &cc, errbuf);
		if (e < 0 || cc == CURLE_OK || !curl_retryable(cc))
			break;
	}
	if (e < 0) {
		resp_done(&r);
		return err_set(err, -e, "registry %s", c->host);
	}
	if (cc != CURLE_OK) {
		e = err_set(err, EHOSTUNREACH, "registry %s: cannot reach it: %s", c->host,
			    curl_msg(cc, errbuf));
		resp_done(&r);
		return e;
	}
	if (asprintf(&c->base, "%s://%s", e == 1 ? "http" : "https", c->host) < 0) {
		c->base = NULL;
		resp_done(&r);
		return err_set(err, ENOMEM, "registry");
	}
	e = ping_answer(c, &r, err);
	resp_done(&r);
	return e;
}

static int sha256_hex(const char *buf, size_t len, char ret[IMG_HEX_LEN + 1])
{
	_cleanup_md_ EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(md, buf, len) != 1)
		return -ENOMEM;
	img_md_hex(md, ret);
	return 0;
}

static int doc_media_type(const char *body, const char *content_type, char **ret)
{
	json_t *doc = json_loads(body, 0, NULL);
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));

	if (!mt || !*mt)
		mt = content_type;
	*ret = strdup(mt ? mt : "");
	json_decref(doc);
	return *ret ? 0 : -ENOMEM;
}

int img_reg_get_manifest(struct img_reg *c, const char *ref, char **ret_body, char **ret_digest,
			 char **ret_media_type, struct err **err)
{
	_cleanup_free_ char *path = NULL, *mt = NULL, *digest = NULL;
	char hex[IMG_HEX_LEN + 1];
	struct resp r = {.max = IMG_DOC_MAX};
	int e;

	if (asprintf(&path, "/v2/%s/manifests/%s", c->repo, ref) < 0)
		return err_set(err, ENOMEM, "manifest request");
	e = get_doc(c, path, ACCEPT_MANIFESTS, &r, err);
	if (e >= 0 && !r.body)
		e = err_set(err, EPROTO, "registry %s: %s: empty manifest", c->host, path);
	if (e >= 0 && sha256_hex(r.body, r.len, hex) < 0)
		e = err_set(err, ENOMEM, "sha256");
	if (e >= 0 && strncmp(ref, "sha256:", 7) == 0 && strcmp(ref + 7, hex) != 0)
		e = err_set(err, EBADMSG,
			    "registry %s: manifest %s: digest mismatch, content hashes to sha256:%s", c->host,
			    ref, hex);
	if (e >= 0 &&
	    (asprintf(&digest, "sha256:%s", hex) < 0 || doc_media_type(r.body, r.content_type, &mt) < 0))
		e = err_set(err, ENOMEM, "manifest");
	if (e < 0) {
		resp_done(&r);
		return e;
	}
	*ret_body = TAKE_PTR(r.body);
	resp_done(&r);
	*ret_digest = TAKE_PTR(digest);
	*ret_media_type = TAKE_PTR(mt);
	return 0;
}

int img_reg_get_blob(struct img_reg *c, const struct img_desc *d, size_t max, char **ret_buf,
		     struct err **err)
{
	_cleanup_free_ char *path = NULL;
	char hex[IMG_HEX_LEN + 1];
	struct resp r = {0};
	int e;

	if (d->size > max)
		return err_set(err, EFBIG, "blob %s: %" PRIu64 " bytes, more than the %zu allowed", d->digest,
			       d->size, max);
	if (asprintf(&path, "/v2/%s/blobs/%s", c->repo, d->digest) < 0)
		return err_set(err, ENOMEM, "blob request");
	r.max = (size_t)d->size;
	e = get_doc(c, path, NULL, &r, err);
	if (e >= 0 && r.len != d->size)
		e = err_set(err, EBADMSG, "blob %s: %zu bytes, the descriptor says %" PRIu64, d->digest,
			    r.len, d->size);
	if (e >= 0 && sha256_hex(r.body ? r.body : "", r.len, hex) < 0)
		e = err_set(err, ENOMEM, "sha256");
	if (e >= 0 && strcmp(hex, d->hex) != 0)
		e = err_set(err, EBADMSG, "blob %s: digest mismatch, content hashes to sha256:%s", d->digest,
			    hex);
	if (e >= 0 && !r.body && !(r.body = strdup("")))
		e = err_set(err, ENOMEM, "blob");
	if (e < 0) {
		resp_done(&r);
		return e;
	}
	*ret_buf = TAKE_PTR(r.body);
	resp_done(&r);
	return 0;
}

/* A blob GET driven by its reader: each read runs the transfer until some bytes are there. */
struct img_blob_stream {
	struct img_reg *c;
	CURL *h; /* the caller's */
	CURLM *m;
	struct curl_slist *hdrs;
	struct resp err_resp; /* status, headers and the body of a non-200 answer */
	char *url;
	char *buf;
	size_t len, cap;
	bool paused, done;
	CURLcode result;
	unsigned gen;
	uint64_t received;
	_Atomic uint64_t *progress;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t stream_cb(char *p, size_t size, size_t n, void *data)
{
	struct img_blob_stream *s = data;
	size_t len = size * n;
	long status = 0;

	(void)curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		s->err_resp.max = ERR_BODY_MAX;
		return body_cb(p, size, n, &s->err_resp) == len || s->err_resp.too_big ? len : 0;
	}
	if (s->len + len > s->cap) {
		if (s->len > 0) {
			s->paused = true;
			return CURL_WRITEFUNC_PAUSE;
		}
		char *nb = realloc(s->buf, len);
		if (!nb)
			return 0;
		s->buf = nb;
		s->cap = len;
	}
	memcpy(s->buf + s->len, p, len);
	s->len += len;
	s->received += len;
	if (s->progress)
		atomic_fetch_add(s->progress, len);
	return len;
}

struct img_blob_stream *img_blob_stream_free(struct img_blob_stream *s)
{
	if (!s)
		return NULL;
	if (s->m) {
		(void)curl_multi_remove_handle(s->m, s->h); /* nothing to do if it fails */
		(void)curl_multi_cleanup(s->m);
	}
	if (s->progress)
		atomic_fetch_sub(s->progress, s->received); /* the bytes count again on a retry */
	if (s->hdrs)
		curl_slist_free_all(s->hdrs);
	resp_done(&s->err_resp);
	free(s->url);
	free(s->buf);
	free(s);
	return NULL;
}

static void stream_freep(struct img_blob_stream **s)
{
	img_blob_stream_free(*s);
}

int img_blob_stream_open(struct img_reg *c, void *curl, const struct img_desc *d, _Atomic uint64_t *progress,
			 struct img_blob_stream **ret, struct err **err)
{
	_cleanup_(stream_freep) struct img_blob_stream *s = calloc(1, sizeof(*s));
	int e;

	if (!s)
		return err_set(err, ENOMEM, "blob stream");
	s->c = c;
	s->h = curl;
	s->cap = STREAM_CAP;
	s->buf = malloc(s->cap);
	s->m = curl_multi_init();
	if (!s->buf || !s->m || asprintf(&s->url, "%s/v2/%s/blobs/%s", c->base, c->repo, d->digest) < 0)
		return err_set(err, ENOMEM, "blob stream");
	e = refresh_if_due(c, err);
	if (e < 0)
		return e;
	if (headers_for(c, NULL, &s->hdrs, &s->gen) < 0)
		return err_set(err, ENOMEM, "blob stream");
	setup(c, s->h, s->url, s->errbuf);
	(void)curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
	(void)curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, stream_cb);
	(void)curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
	(void)curl_easy_setopt(s->h, CURLOPT_HEADERFUNCTION, header_cb);
	(void)curl_easy_setopt(s->h, CURLOPT_HEADERDATA, &s->err_resp);
	if (curl_multi_add_handle(s->m, s->h) != CURLM_OK)
		return err_set(err, ENOMEM, "blob stream");
	s->progress = progress;
	*ret = TAKE_PTR(s);
	return 0;
}

static void stream_pump(struct img_blob_stream *s)
{
	CURLMsg *msg;
	int running = 0, left;

	if (curl_multi_perform(s->m, &running) != CURLM_OK) {
		s->done = true;
		s->result = CURLE_OUT_OF_MEMORY;
		return;
	}
	while ((msg = curl_multi_info_read(s->m, &left)))
		if (msg->msg == CURLMSG_DONE) {
			s->done = true;
			s->result = msg->data.result;
		}
	if (!s->done && s->len == 0)
		(void)curl_multi_poll(s->m, NULL, 0, 1000, NULL); /* a timeout just loops */
}

ssize_t img_blob_stream_read(struct img_blob_stream *s, const void **ret_buf)
{
	long status = 0;

	s->len = 0;
	if (s->paused) {
		s->paused = false;
		(void)curl_easy_pause(s->h, CURLPAUSE_CONT); /* may deliver into buf right away */
	}
	while (s->len == 0 && !s->done)
		stream_pump(s);
	if (s->len > 0) {
		*ret_buf = s->buf;
		return (ssize_t)s->len;
	}
	(void)curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	*ret_buf = s->buf;
	return s->result == CURLE_OK && status == 200 ? 0 : -ECONNABORTED;
}

int img_blob_stream_error(struct img_blob_stream *s, bool *ret_retryable, struct err **err)
{
	char desc[320];
	long status = 0;
	int e;

	*ret_retryable = false;
	(void)curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	if (!s->done || (s->result == CURLE_OK && status == 200))
		return 0;
	if (s->result != CURLE_OK) {
		*ret_retryable = curl_retryable(s->result);
		return err_set(err, EHOSTUNREACH, "registry %s: %s", s->c->host,
			       curl_msg(s->result, s->errbuf));
	}
	if (status == 401) {
		e = check_challenge_origin(s->c, s->h, err);
		if (e >= 0)
			e = authenticate(s->c, s->err_resp.www_auth, s->gen, err);
		if (e < 0)
			return e;
		*ret_retryable = true;
	} else {
		*ret_retryable = status_retryable(status);
	}
	describe_status(status, s->err_resp.body, desc, sizeof(desc));
	return err_set(err, status == 404 ? ENOENT : EPROTO, "registry %s: blob: %s", s->c->host, desc);
}
