/* libcurl multi on the agent's loop (see httpc.h). */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <curl/curl.h>

#include "agent/httpc.h"
#include "agent/loop.h"
#include "common/cleanup.h"

struct httpc_req {
	struct httpc *h;
	CURL *easy;
	struct curl_slist *headers;
	char *body_out;
	char *buf;
	size_t len, cap, max;
	bool too_large;
	bool aborted;
	int (*on_data)(void *data, const char *chunk, size_t len);
	char errbuf[CURL_ERROR_SIZE];
	httpc_done_fn done;
	void *data;
	struct httpc_req *next;
};

struct httpc {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer *timer;
	struct httpc_req *reqs;
};

/* libcurl is loaded when the first client is made (dlopen), not linked: an agent without a control
 * plane does not map libcurl and the TLS, HTTP/2 and other libraries it pulls in (about 3 MiB of
 * resident memory measured on Debian 12). */
static struct {
	CURLcode (*global_init)(long flags);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
	CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t s, int ev, int *running);
	CURLMsg *(*multi_info_read)(CURLM *m, int *left);
	CURLMcode (*multi_assign)(CURLM *m, curl_socket_t s, void *p);
	CURLMcode (*multi_add_handle)(CURLM *m, CURL *c);
	CURLMcode (*multi_remove_handle)(CURLM *m, CURL *c);
	CURLMcode (*multi_cleanup)(CURLM *m);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *c);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
} cu;

#define CURL_SO "libcurl.so.4"

static int load_curl(struct err **err)
{
	static const struct {
		const char *name;
		size_t off;
	} syms[] = {
#define SYM(f) {"curl_" #f, offsetof(__typeof__(cu), f)}
	    SYM(global_init),	  SYM(multi_init),    SYM(multi_setopt),     SYM(multi_socket_action),
	    SYM(multi_info_read), SYM(multi_assign),  SYM(multi_add_handle), SYM(multi_remove_handle),
	    SYM(multi_cleanup),	  SYM(easy_init),     SYM(easy_setopt),	     SYM(easy_getinfo),
	    SYM(easy_cleanup),	  SYM(easy_strerror), SYM(slist_append),     SYM(slist_free_all),
#undef SYM
	};
	static void *lib;

	if (lib)
		return 0;
	lib = dlopen(CURL_SO, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return err_set(err, ENOENT, "cannot load %s: %s", CURL_SO, dlerror());
	for (size_t k = 0; k < ELEMENTSOF(syms); k++) {
		void *fn = dlsym(lib, syms[k].name);
		if (!fn) {
			memset(&cu, 0, sizeof(cu));
			(void)dlclose(lib);
			lib = NULL;
			return err_set(err, ENOENT, "%s has no %s", CURL_SO, syms[k].name);
		}
		memcpy((char *)&cu + syms[k].off, &fn, sizeof(fn)); /* a function pointer from dlsym */
	}
	if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return err_set(err, EIO, "cannot initialise libcurl");
	return 0;
}

static void check_done(struct httpc *h);

static void on_fd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct httpc *h = data;
	int flags = 0, running = 0;

	(void)l;
	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	(void)cu.multi_socket_action(h->multi, fd, flags, &running); /* failures end up per request */
	check_done(h);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct httpc *h = userp;
	uint32_t ev = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (socketp)
			loop_del_fd(h->loop, s);
		(void)cu.multi_assign(h->multi, s, NULL);
		return 0;
	}
	if (socketp)
		return loop_mod_fd(h->loop, s, ev) < 0 ? -1 : 0;
	if (loop_add_fd(h->loop, s, ev, on_fd, h) < 0)
		return -1;
	(void)cu.multi_assign(h->multi, s, h); /* marks the socket as in the loop */
	return 0;
}

static void timer_fired(struct loop *l, void *data)
{
	struct httpc *h = data;
	int running = 0;

	(void)l;
	h->timer = NULL;
	(void)cu.multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct httpc *h = userp;

	(void)multi;
	if (h->timer) {
		loop_timer_cancel(h->loop, h->timer);
		h->timer = NULL;
	}
	if (timeout_ms >= 0 && !(h->timer = loop_timer_add(h->loop, timeout_ms, timer_fired, h)))
		return -1;
	return 0;
}

int httpc_new(struct loop *l, struct httpc **ret, struct err **err)
{
	struct httpc *h;
	int r;

	r = load_curl(err);
	if (r < 0)
		return r;
	h = calloc(1, sizeof(*h));
	if (!h || !(h->multi = cu.multi_init())) {
		free(h);
		return err_set(err, ENOMEM, "out of memory");
	}
	h->loop = l;
	(void)cu.multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	(void)cu.multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	(void)cu.multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	(void)cu.multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	*ret = h;
	return 0;
}

static void req_free(struct httpc_req *r)
{
	if (!r)
		return;
	if (r->easy)
		cu.easy_cleanup(r->easy);
	cu.slist_free_all(r->headers);
	free(r->body_out);
	free(r->buf);
	free(r);
}

static void unlink_req(struct httpc *h, struct httpc_req *r)
{
	for (struct httpc_req **pp = &h->reqs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			return;
		}
}

void httpc_cancel(struct httpc *h, struct httpc_req *r)
{
	if (!r)
		return;
	unlink_req(h, r);
	(void)cu.multi_remove_handle(h->multi, r->easy);
	req_free(r);
}

struct httpc *httpc_free(struct httpc *h)
{
	if (!h)
		return NULL;
	while (h->reqs)
		httpc_cancel(h, h->reqs);
	if (h->timer)
		loop_timer_cancel(h->loop, h->timer);
	cu.multi_cleanup(h->multi);
	free(h);
	return NULL;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct httpc_req *r = userdata;
	size_t n = size * nmemb;

	if (r->on_data) {
		if (r->on_data(r->data, ptr, n) < 0) {
			r->aborted = true;
			return 0;
		}
		return n;
	}
	if (r->len + n > r->max) {
		r->too_large = true;
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = (r->len + n + 1) * 2;
		char *nb = realloc(r->buf, cap < r->max + 1 ? cap : r->max + 1);
		if (!nb)
			return 0;
		r->buf = nb;
		r->cap = cap < r->max + 1 ? cap : r->max + 1;
	}
	memcpy(r->buf + r->len, ptr, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return n;
}

static int add_header(struct httpc_req *r, const char *name, const char *value)
{
	_cleanup_free_ char *line = NULL;
	struct curl_slist *l;

	if (asprintf(&line, "%s:%s%s", name, *value ? " " : "", value) < 0)
		return -ENOMEM;
	l = cu.slist_append(r->headers, line);
	if (!l)
		return -ENOMEM;
	r->headers = l;
	return 0;
}

static int set_opts(struct httpc_req *r, const struct httpc_opts *o)
{
	CURL *c = r->easy;
	int bad = 0;

	bad |= cu.easy_setopt(c, CURLOPT_URL, o->url);
	bad |= cu.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	bad |= cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	bad |= cu.easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	bad |= cu.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			      o->connect_timeout_ms ? o->connect_timeout_ms : 10000L);
	if (!o->on_data)
		bad |= cu.easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
	/* a peer that vanished without a FIN (power loss, a cut link) ends an idle long-poll or
	 * watch within about half a minute instead of never */
	bad |= cu.easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	bad |= cu.easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 10L);
	bad |= cu.easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 5L);
	bad |= cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	bad |= cu.easy_setopt(c, CURLOPT_WRITEDATA, r);
	bad |= cu.easy_setopt(c, CURLOPT_PRIVATE, r);
	bad |= cu.easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
	bad |= cu.easy_setopt(c, CURLOPT_CUSTOMREQUEST, o->method);
	if (o->ca)
		bad |= cu.easy_setopt(c, CURLOPT_CAINFO, o->ca);
	if (o->cert)
		bad |= cu.easy_setopt(c, CURLOPT_SSLCERT, o->cert);
	if (o->key)
		bad |= cu.easy_setopt(c, CURLOPT_SSLKEY, o->key);
	if (o->body) {
		bad |= cu.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
		bad |= cu.easy_setopt(c, CURLOPT_POSTFIELDS, r->body_out);
	}
	if (o->token) {
		_cleanup_free_ char *auth = NULL;
		if (asprintf(&auth, "Bearer %s", o->token) < 0 || add_header(r, "Authorization", auth) < 0)
			return -ENOMEM;
		explicit_bzero(auth, strlen(auth));
	}
	if ((o->content_type && add_header(r, "Content-Type", o->content_type) < 0) ||
	    add_header(r, "Expect", "") < 0)
		return -ENOMEM;
	bad |= cu.easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
	return bad ? -EINVAL : 0;
}

int httpc_start(struct httpc *h, const struct httpc_opts *o, httpc_done_fn done, void *data,
		struct httpc_req **ret, struct err **err)
{
	struct httpc_req *r = calloc(1, sizeof(*r));
	int rc;

	if (!r || !(r->easy = cu.easy_init()) || (o->body && !(r->body_out = malloc(o->body_len + 1)))) {
		req_free(r);
		return err_set(err, ENOMEM, "out of memory");
	}
	if (o->body)
		memcpy(r->body_out, o->body, o->body_len);
	r->h = h;
	r->max = o->max_bytes;
	r->on_data = o->on_data;
	r->done = done;
	r->data = data;
	rc = set_opts(r, o);
	if (rc >= 0 && cu.multi_add_handle(h->multi, r->easy) != CURLM_OK)
		rc = -EIO;
	if (rc < 0) {
		req_free(r);
		return err_set(err, -rc, "cannot set up the request to '%s'", o->url);
	}
	r->next = h->reqs;
	h->reqs = r;
	if (ret)
		*ret = r;
	return 0;
}

static void finish(struct httpc *h, struct httpc_req *r, CURLcode res)
{
	_cleanup_err_ struct err *e = NULL;
	long status = 0;

	unlink_req(h, r);
	(void)cu.multi_remove_handle(h->multi, r->easy);
	(void)cu.easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (r->aborted)
		err_set(&e, EPROTO, "the streamed response was refused");
	else if (r->too_large || res == CURLE_FILESIZE_EXCEEDED)
		err_set(&e, EFBIG, "the response is larger than %zu bytes", r->max);
	else if (res != CURLE_OK)
		err_set(&e, res == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : ECONNREFUSED, "%s",
			r->errbuf[0] ? r->errbuf : cu.easy_strerror(res));
	r->done(r->data, e ? 0 : status, r->buf ? r->buf : "", r->len, e);
	req_free(r);
}

static void check_done(struct httpc *h)
{
	CURLMsg *msg;
	int left = 0;

	while ((msg = cu.multi_info_read(h->multi, &left))) {
		struct httpc_req *r = NULL;
		if (msg->msg != CURLMSG_DONE)
			continue;
		(void)cu.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r)
			finish(h, r, msg->data.result);
	}
}
