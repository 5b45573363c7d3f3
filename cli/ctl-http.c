/* droverctl's HTTP client over libcurl. One easy handle per request; the CLI makes few. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/ctl-fmt.h"
#include "cli/ctl-http.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/version.h"

#define CTL_CONNECT_TIMEOUT_S 10L

DEFINE_CLEANUP(CURL *, curl_easy_cleanup)
DEFINE_CLEANUP(struct curl_slist *, curl_slist_free_all)
#define _cleanup_curl_ _cleanup_(curl_easy_cleanupp)
#define _cleanup_slist_ _cleanup_(curl_slist_free_allp)

/* Where the write callback puts what it receives. */
struct sink {
	CURL *h;
	FILE *out;	 /* streaming: 2xx bodies go here */
	char *buf;	 /* buffered body (or a streaming error body) */
	size_t len, cap; /* cap: allocated */
	size_t max;	 /* bytes we accept into buf */
	bool too_big;
	int out_errno; /* writing to out failed */
};

static int read_token(const char *path, char **ret_header, struct err **err)
{
	_cleanup_free_ char *buf = NULL;
	char *tok;
	int r;

	r = fs_read_file(AT_FDCWD, path, CTL_TOKEN_MAX, &buf, NULL, err);
	if (r < 0) {
		char inner[512]; /* err_set replaces *err, so copy its message first */

		snprintf(inner, sizeof(inner), "%s", err && *err ? err_msg(*err) : path);
		return err_set(err, -r, "token file: %s: %s", inner, strerror(-r));
	}
	tok = ctl_strip(buf);
	if (!*tok)
		return err_set(err, EBADMSG, "token file '%s' is empty", path);
	if (strpbrk(tok, "\r\n"))
		return err_set(err, EBADMSG, "token file '%s' holds more than one line", path);
	*ret_header = ctl_strdupf("Authorization: Bearer %s", tok);
	if (!*ret_header)
		return err_set(err, ENOMEM, "token header");
	return 0;
}

int ctl_client_init(struct ctl_client *c, const struct ctl_conn_opts *o, struct err **err)
{
	int r;

	*c = (struct ctl_client){.cacert = o->cacert, .cert = o->cert, .key = o->key};
	if (!o->server) {
		c->target = o->socket_path ? o->socket_path : CTL_DEFAULT_SOCKET;
		c->socket_path = strdup(c->target);
		c->base = strdup("http://localhost");
		if (!c->socket_path || !c->base)
			return err_set(err, ENOMEM, "client");
		return 0;
	}
	c->target = o->server;
	c->base = strdup(o->server);
	if (!c->base)
		return err_set(err, ENOMEM, "client");
	for (size_t n = strlen(c->base); n > 0 && c->base[n - 1] == '/'; n--)
		c->base[n - 1] = '\0';
	if (o->token_file && ctl_url_is_plain_http(o->server)) {
		if (!ctl_url_is_loopback(o->server))
			return err_set(
			    err, EPERM,
			    "refusing to send the --token-file token in clear to '%s': use https://",
			    o->server);
		fprintf(stderr,
			"droverctl: warning: sending the bearer token over plain http:// (loopback only)\n");
	}
	if (o->token_file) {
		r = read_token(o->token_file, &c->auth_header, err);
		if (r < 0)
			return r;
	}
	return 0;
}

void ctl_client_done(struct ctl_client *c)
{
	free(c->base);
	free(c->socket_path);
	if (c->auth_header) {
		explicit_bzero(c->auth_header, strlen(c->auth_header));
		free(c->auth_header);
	}
	*c = (struct ctl_client){0};
}

void ctl_reply_done(struct ctl_reply *r)
{
	free(r->body);
	*r = (struct ctl_reply){0};
}

static bool sink_append(struct sink *s, const char *data, size_t n)
{
	char *nb;
	size_t ncap;

	if (n > s->max - s->len) {
		s->too_big = true;
		return false;
	}
	if (s->len + n + 1 > s->cap) {
		ncap = s->cap ? s->cap : 8192;
		while (ncap < s->len + n + 1)
			ncap *= 2;
		nb = realloc(s->buf, ncap);
		if (!nb)
			return false;
		s->buf = nb;
		s->cap = ncap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return true;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;
	long status = 0;

	if (s->out) {
		(void)curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status); /* 0 only before headers */
		if (status >= 200 && status < 300) {
			if (fwrite(data, 1, n, s->out) != n || fflush(s->out) != 0) {
				s->out_errno = errno ? errno : EIO;
				return 0;
			}
			return n;
		}
	}
	return sink_append(s, data, n) ? n : 0;
}

static int set_tls(CURL *h, const struct ctl_client *c)
{
	CURLcode rc = CURLE_OK;

	if (c->cacert)
		rc = curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
	if (rc == CURLE_OK && c->cert)
		rc = curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
	if (rc == CURLE_OK && c->key)
		rc = curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
	return rc == CURLE_OK ? 0 : -EINVAL;
}

static bool sends_body(const char *method, const char *body)
{
	return body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
}

/* POST and PUT always carry a body (maybe empty), so the agent sees a Content-Length. */
static int set_method(CURL *h, const char *method, const char *body)
{
	CURLcode rc = CURLE_OK;

	if (strcmp(method, "GET") != 0)
		rc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (rc == CURLE_OK && sends_body(method, body)) {
		body = body ? body : "";
		rc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		if (rc == CURLE_OK)
			rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	}
	return rc == CURLE_OK ? 0 : -EINVAL;
}

static int set_common(CURL *h, const struct ctl_client *c, const char *url, struct curl_slist *hdrs,
		      struct sink *s, char *errbuf)
{
	CURLcode rc;

	rc = curl_easy_setopt(h, CURLOPT_URL, url);
	if (rc == CURLE_OK && c->socket_path)
		rc = curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CTL_CONNECT_TIMEOUT_S);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_USERAGENT, "droverctl/" DROVER_VERSION);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (rc != CURLE_OK || set_tls(h, c) < 0)
		return -EINVAL;
	return 0;
}

static int build_headers(const struct ctl_client *c, bool has_body, struct curl_slist **ret)
{
	struct curl_slist *l = NULL, *n;

	if (has_body) {
		n = curl_slist_append(l, "Content-Type: application/json");
		if (!n)
			goto out_free;
		l = n;
		/* libcurl sends "Expect: 100-continue" only for bodies over 1 MiB: the agent can then
		 * answer 413 before the body is sent, instead of closing on a half-sent upload. */
	}
	if (c->auth_header) {
		n = curl_slist_append(l, c->auth_header);
		if (!n)
			goto out_free;
		l = n;
	}
	*ret = l;
	return 0;
out_free:
	curl_slist_free_all(l);
	return -ENOMEM;
}

/* Turns a failed curl_easy_perform into the one-line message droverctl prints. */
static int transfer_error(const struct ctl_client *c, CURL *h, CURLcode rc, const struct sink *s,
			  char *errbuf, struct err **err)
{
	long oserr = 0;

	if (rc == CURLE_WRITE_ERROR && s->too_big)
		return err_set(err, EFBIG, "the agent's response is larger than %zu bytes", s->max);
	if (rc == CURLE_WRITE_ERROR && s->out_errno)
		return err_set(err, s->out_errno, "write output: %s", strerror(s->out_errno));
	if (rc == CURLE_WRITE_ERROR)
		return err_set(err, ENOMEM, "read the agent's response");
	(void)curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr); /* stays 0 if unknown */
	if (oserr > 0)
		return err_set(err, CTL_EUNREACH, "cannot reach droverd at %s: %s (%s)", c->target,
			       curl_easy_strerror(rc), strerror((int)oserr));
	if (!c->socket_path && errbuf[0])
		return err_set(err, CTL_EUNREACH, "cannot reach droverd at %s: %s", c->target,
			       ctl_strip(errbuf));
	return err_set(err, CTL_EUNREACH, "cannot reach droverd at %s: %s", c->target,
		       curl_easy_strerror(rc));
}

static int perform(const struct ctl_client *c, const char *method, const char *path, const char *body,
		   struct sink *s, struct ctl_reply *ret, struct err **err)
{
	_cleanup_curl_ CURL *h = NULL;
	_cleanup_slist_ struct curl_slist *hdrs = NULL;
	_cleanup_free_ char *url = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc;

	h = curl_easy_init();
	url = ctl_strdupf("%s%s", c->base, path);
	if (!h || !url || build_headers(c, sends_body(method, body), &hdrs) < 0)
		return err_set(err, ENOMEM, "prepare request");
	s->h = h;
	if (set_common(h, c, url, hdrs, s, errbuf) < 0 || set_method(h, method, body) < 0)
		return err_set(err, EINVAL, "set up %s %s: unsupported by this libcurl", method, path);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		free(s->buf);
		return transfer_error(c, h, rc, s, errbuf, err);
	}
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->status); /* set after a transfer */
	ret->body = s->buf ? s->buf : strdup("");
	ret->len = s->len;
	if (!ret->body)
		return err_set(err, ENOMEM, "read the agent's response");
	return 0;
}

int ctl_http_do(const struct ctl_client *c, const char *method, const char *path, const char *body,
		struct ctl_reply *ret, struct err **err)
{
	struct sink s = {.max = CTL_BODY_MAX};

	*ret = (struct ctl_reply){0};
	return perform(c, method, path, body, &s, ret, err);
}

int ctl_http_stream(const struct ctl_client *c, const char *path, FILE *out, struct ctl_reply *ret,
		    struct err **err)
{
	return ctl_http_stream_body(c, "GET", path, NULL, out, ret, err);
}

int ctl_http_stream_body(const struct ctl_client *c, const char *method, const char *path, const char *body,
			 FILE *out, struct ctl_reply *ret, struct err **err)
{
	struct sink s = {.out = out, .max = CTL_ERRBODY_MAX};

	*ret = (struct ctl_reply){0};
	return perform(c, method, path, body, &s, ret, err);
}
