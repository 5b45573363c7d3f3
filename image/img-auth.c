/* Registry credentials: WWW-Authenticate challenges (RFC 7235 auth-params) and the Docker
 * config.json "auths" file, which must not be readable by anyone but its owner. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "image/img-reg-internal.h"

#define PARAM_MAX 2048
#define CRED_MAX 4096

void img_challenge_done(struct img_challenge *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
	*c = (struct img_challenge){0};
}

static const char *skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A token or a quoted-string (with \-escapes) at *pp; the copy goes to ret (NUL-terminated). */
static int read_value(const char **pp, char *ret, size_t size)
{
	const char *p = *pp;
	size_t n = 0;

	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (n + 1 >= size)
				return -EINVAL;
			ret[n++] = *p;
		}
		if (*p != '"')
			return -EINVAL; /* unterminated */
		p++;
	} else {
		while (*p && *p != ',' && *p != ' ' && *p != '\t') {
			if (n + 1 >= size)
				return -EINVAL;
			ret[n++] = *p++;
		}
	}
	ret[n] = '\0';
	*pp = p;
	return 0;
}

static int set_param(struct img_challenge *c, const char *key, size_t klen, const char *value)
{
	char **slot = NULL;

	if (klen == 5 && strncasecmp(key, "realm", 5) == 0)
		slot = &c->realm;
	else if (klen == 7 && strncasecmp(key, "service", 7) == 0)
		slot = &c->service;
	else if (klen == 5 && strncasecmp(key, "scope", 5) == 0)
		slot = &c->scope;
	if (!slot)
		return 0; /* "error", "charset" and others: not needed */
	free(*slot);
	*slot = strdup(value);
	return *slot ? 0 : -ENOMEM;
}

static int parse_params(const char *p, struct img_challenge *c)
{
	_cleanup_free_ char *value = malloc(PARAM_MAX);

	if (!value)
		return -ENOMEM;
	for (;;) {
		const char *key;
		size_t klen;
		int r;

		p = skip_space(p);
		while (*p == ',')
			p = skip_space(p + 1);
		if (!*p)
			return 0;
		key = p;
		while (isalnum((unsigned char)*p) || *p == '_' || *p == '-')
			p++;
		klen = (size_t)(p - key);
		p = skip_space(p);
		if (klen == 0 || *p != '=')
			return -EINVAL;
		p = skip_space(p + 1);
		r = read_value(&p, value, PARAM_MAX);
		if (r >= 0)
			r = set_param(c, key, klen, value);
		if (r < 0)
			return r;
		p = skip_space(p);
		if (*p && *p != ',')
			return -EINVAL;
	}
}

int img_challenge_parse(const char *value, struct img_challenge *ret)
{
	struct img_challenge c = {0};
	const char *p = skip_space(value ? value : "");
	size_t slen = strcspn(p, " \t");
	int r;

	if (slen == 0)
		return -EINVAL;
	if (slen == 6 && strncasecmp(p, "Bearer", 6) == 0)
		c.scheme = IMG_AUTH_BEARER;
	else if (slen == 5 && strncasecmp(p, "Basic", 5) == 0)
		c.scheme = IMG_AUTH_BASIC;
	else
		return -ENOTSUP;
	r = parse_params(p + slen, &c);
	if (r >= 0 && c.scheme == IMG_AUTH_BEARER && (!c.realm || !*c.realm))
		r = -EINVAL; /* nowhere to get a token */
	if (r < 0) {
		img_challenge_done(&c);
		return r;
	}
	*ret = c;
	return 0;
}

void img_creds_done(struct img_creds *c)
{
	if (c->pass)
		explicit_bzero(c->pass, strlen(c->pass));
	free(c->user);
	free(c->pass);
	free(c->key);
	*c = (struct img_creds){0};
}

int img_auth_load(const char *path, json_t **ret, struct err **err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	struct stat st;
	json_error_t jerr;
	json_t *doc;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set(err, errno, "auth file '%s'", path);
	if (fstat(fd, &st) < 0)
		return err_set(err, errno, "auth file '%s': stat", path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, EINVAL, "auth file '%s' is not a regular file", path);
	if (st.st_mode & 077)
		return err_set(err, EPERM,
			       "auth file '%s' is mode %04o: it holds credentials, so group and others must "
			       "have no access (chmod 600)",
			       path, (unsigned)(st.st_mode & 07777));
	r = fs_read_fd(fd, IMG_AUTH_FILE_MAX, &text, NULL, err);
	if (r < 0)
		return err_wrap(err, "auth file '%s'", path);
	doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	explicit_bzero(text, strlen(text));
	if (!doc)
		return err_set(err, EINVAL, "auth file '%s' %d:%d: %s", path, jerr.line, jerr.column,
			       jerr.text);
	if (!json_is_object(doc) ||
	    (json_object_get(doc, "auths") && !json_is_object(json_object_get(doc, "auths")))) {
		json_decref(doc);
		return err_set(err, EINVAL, "auth file '%s': \"auths\" is not an object", path);
	}
	*ret = doc;
	return 0;
}

/* How well key scopes domain/path: 0 no match, 1 the whole registry, 2 + prefix length for a
 * "host/path-prefix" key. A key with a scheme ("https://host/v1/", docker's style) names a
 * whole registry whatever its path. */
static size_t key_score(const char *key, const char *domain, const char *path)
{
	const char *p = key, *prefix;
	bool url = false;
	size_t hn, pn;

	if (strncmp(p, "https://", 8) == 0 || strncmp(p, "http://", 7) == 0) {
		p += p[4] == 's' ? 8 : 7;
		url = true;
	}
	hn = strcspn(p, "/");
	prefix = p + hn;
	while (*prefix == '/')
		prefix++;
	pn = strlen(prefix);
	while (pn > 0 && prefix[pn - 1] == '/')
		pn--;
	if (!(strlen(domain) == hn && strncmp(p, domain, hn) == 0) &&
	    !(strcmp(domain, "docker.io") == 0 && /* Docker Hub is stored under its legacy names too */
	      ((hn == 15 && strncmp(p, "index.docker.io", hn) == 0) ||
	       (hn == 20 && strncmp(p, "registry-1.docker.io", hn) == 0))))
		return 0;
	if (url || pn == 0)
		return 1;
	/* a prefix covers whole path components: "team" covers "team/app", not "teammate/app" */
	if (!path || strncmp(path, prefix, pn) != 0 || (path[pn] != '\0' && path[pn] != '/'))
		return 0;
	return 2 + pn;
}

static int decode_auth(const char *b64, struct img_creds *ret)
{
	size_t len = strlen(b64);
	_cleanup_free_ unsigned char *raw = NULL;
	char *colon;
	int n;

	if (len == 0 || len > CRED_MAX || len % 4 != 0)
		return -EINVAL;
	raw = calloc(1, len + 1);
	if (!raw)
		return -ENOMEM;
	n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	if (n < 0)
		return -EINVAL;
	/* EVP_DecodeBlock counts the '=' padding as zero bytes */
	raw[n] = '\0';
	colon = strchr((char *)raw, ':');
	if (!colon || colon == (char *)raw)
		return -EINVAL;
	*colon = '\0';
	ret->user = strdup((char *)raw);
	ret->pass = strdup(colon + 1);
	explicit_bzero(raw, len + 1);
	return ret->user && ret->pass ? 0 : -ENOMEM;
}

static int creds_from_entry(json_t *entry, struct img_creds *ret)
{
	const char *auth = json_string_value(json_object_get(entry, "auth"));
	const char *user = json_string_value(json_object_get(entry, "username"));
	const char *pass = json_string_value(json_object_get(entry, "password"));

	if (auth && *auth)
		return decode_auth(auth, ret);
	if (user && pass) {
		ret->user = strdup(user);
		ret->pass = strdup(pass);
		return ret->user && ret->pass ? 0 : -ENOMEM;
	}
	return -EINVAL;
}

int img_auth_lookup(json_t *doc, const char *domain, const char *path, struct img_creds *ret,
		    struct err **err)
{
	json_t *auths = json_object_get(doc, "auths"), *entry, *best = NULL;
	struct img_creds c = {0};
	const char *key, *best_key = NULL;
	size_t best_score = 0;
	int r;

	*ret = (struct img_creds){0};
	json_object_foreach (auths, key, entry) {
		size_t score = key_score(key, domain, path);
		if (score > best_score) {
			best_score = score;
			best = entry;
			best_key = key;
		}
	}
	if (!best)
		return 0;
	r = creds_from_entry(best, &c);
	if (r >= 0 && !(c.key = strdup(best_key)))
		r = -ENOMEM;
	if (r < 0) {
		img_creds_done(&c);
		return err_set(err, -r,
			       "auth file: the entry for '%s' has no usable \"auth\" or username/password",
			       best_key);
	}
	*ret = c;
	return 0;
}
