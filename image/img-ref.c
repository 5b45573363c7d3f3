/* Registry references: "host[:port]/path[:tag][@sha256:...]", with Docker Hub's short forms
 * read the way docker and podman read them ("busybox" is docker.io/library/busybox:latest). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "image/img-reg-internal.h"

#define HUB_DOMAIN "docker.io"
#define HUB_API_HOST "registry-1.docker.io"
#define HUB_LEGACY_DOMAIN "index.docker.io"
#define TAG_MAX 128
#define PATH_MAX_LEN 255

int img_digest_parse(const char *digest, char ret_hex[IMG_HEX_LEN + 1], struct err **err)
{
	const char *hex;

	if (!digest)
		return err_set(err, EINVAL, "missing digest");
	if (strncmp(digest, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) != 0) {
		if (strchr(digest, ':'))
			return err_set(err, ENOTSUP, "digest '%.80s': only sha256 is supported", digest);
		return err_set(err, EINVAL, "digest '%.80s' has no algorithm prefix", digest);
	}
	hex = digest + strlen(DIGEST_PREFIX);
	if (strlen(hex) != IMG_HEX_LEN || strspn(hex, "0123456789abcdef") != IMG_HEX_LEN)
		return err_set(err, EINVAL, "digest '%.80s' is not 64 lowercase hex digits", digest);
	memcpy(ret_hex, hex, IMG_HEX_LEN + 1);
	return 0;
}

bool img_ref_is_layout(const char *s)
{
	return strncmp(s, "oci:", 4) == 0 || s[0] == '/' || s[0] == '.';
}

void img_ref_done(struct img_ref *r)
{
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	*r = (struct img_ref){0};
}

/* One path component: [a-z0-9]+ joined by ".", "_", "__" or runs of "-". */
static bool component_ok(const char *c, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t run = 0;
		while (i < len && (islower((unsigned char)c[i]) || isdigit((unsigned char)c[i]))) {
			i++;
			run++;
		}
		if (run == 0)
			return false;
		if (i == len)
			return true;
		if (c[i] == '.' || (c[i] == '_' && c[i + 1] != '_'))
			i++;
		else if (c[i] == '_' && i + 1 < len && c[i + 1] == '_')
			i += 2;
		else if (c[i] == '-')
			while (i < len && c[i] == '-')
				i++;
		else
			return false;
		if (i == len)
			return false; /* a separator at the end */
	}
	return len > 0;
}

static bool path_ok(const char *p)
{
	const char *c = p;

	if (!*p || strlen(p) > PATH_MAX_LEN)
		return false;
	for (;;) {
		const char *slash = strchr(c, '/');
		size_t len = slash ? (size_t)(slash - c) : strlen(c);
		if (!component_ok(c, len))
			return false;
		if (!slash)
			return true;
		c = slash + 1;
	}
}

static bool tag_ok(const char *t)
{
	size_t len = strlen(t);

	if (len == 0 || len > TAG_MAX || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!isalnum((unsigned char)t[i]) && !strchr("_.-", t[i]))
			return false;
	return true;
}

/* host, host:port, [v6]:port; letters, digits, '.', '-', ':' and brackets. */
static bool domain_ok(const char *d)
{
	if (!*d || strlen(d) > 255)
		return false;
	for (const char *c = d; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr(".-:[]", *c))
			return false;
	return true;
}

/* The first component names a registry when it has a '.' or ':' or is "localhost" (docker's rule). */
static bool looks_like_domain(const char *first, size_t len)
{
	return memchr(first, '.', len) || memchr(first, ':', len) ||
	       (len == strlen("localhost") && strncmp(first, "localhost", len) == 0);
}

static int split_name(const char *name, struct img_ref *r)
{
	const char *slash = strchr(name, '/');

	if (slash && looks_like_domain(name, (size_t)(slash - name))) {
		r->domain = strndup(name, (size_t)(slash - name));
		r->path = strdup(slash + 1);
	} else {
		r->domain = strdup(HUB_DOMAIN);
		r->path = strdup(name);
	}
	if (!r->domain || !r->path)
		return -ENOMEM;
	if (strcmp(r->domain, HUB_LEGACY_DOMAIN) == 0) {
		free(r->domain);
		if (!(r->domain = strdup(HUB_DOMAIN)))
			return -ENOMEM;
	}
	if (strcmp(r->domain, HUB_DOMAIN) == 0 && !strchr(r->path, '/')) {
		char *p = NULL;
		if (asprintf(&p, "library/%s", r->path) < 0)
			return -ENOMEM;
		free(r->path);
		r->path = p;
	}
	return 0;
}

/* Splits "name[:tag][@digest]" off s into r; a ':' after the last '/' starts the tag. */
static int parse_into(const char *s, struct img_ref *r, struct err **err)
{
	_cleanup_free_ char *copy = strdup(s);
	char *at, *slash, *colon;
	char hex[IMG_HEX_LEN + 1];
	int e;

	if (!copy)
		return err_set(err, ENOMEM, "image reference");
	at = strchr(copy, '@');
	if (at) {
		*at = '\0';
		if (img_digest_parse(at + 1, hex, err) < 0)
			return err_wrap(err, "image reference '%s'", s);
		if (!(r->digest = strdup(at + 1)))
			return err_set(err, ENOMEM, "image reference");
	}
	slash = strrchr(copy, '/');
	colon = strrchr(copy, ':');
	if (colon && (!slash || colon > slash)) {
		*colon = '\0';
		if (!tag_ok(colon + 1))
			return err_set(err, EINVAL, "image reference '%s': invalid tag '%s'", s, colon + 1);
		if (!(r->tag = strdup(colon + 1)))
			return err_set(err, ENOMEM, "image reference");
	}
	e = split_name(copy, r);
	if (e < 0)
		return err_set(err, -e, "image reference");
	if (!domain_ok(r->domain))
		return err_set(err, EINVAL, "image reference '%s': invalid registry '%s'", s, r->domain);
	if (!path_ok(r->path))
		return err_set(err, EINVAL,
			       "image reference '%s': invalid repository '%s' (lowercase letters, digits and "
			       ". _ - separators)",
			       s, r->path);
	if (!r->tag && !r->digest && !(r->tag = strdup("latest")))
		return err_set(err, ENOMEM, "image reference");
	return 0;
}

int img_ref_parse(const char *s, struct img_ref *ret, struct err **err)
{
	struct img_ref r = {0};
	int e;

	if (!s || !*s)
		return err_set(err, EINVAL, "empty image reference");
	if (strlen(s) > IMG_REF_MAX)
		return err_set(err, EINVAL, "image reference longer than %d bytes", IMG_REF_MAX);
	if (img_ref_is_layout(s))
		return err_set(err, EINVAL, "'%s' is an OCI layout, not a registry reference", s);
	e = parse_into(s, &r, err);
	if (e < 0) {
		img_ref_done(&r);
		return e;
	}
	*ret = r;
	return 0;
}

char *img_ref_string(const struct img_ref *r)
{
	char *out = NULL;
	int n;

	if (r->tag && r->digest)
		n = asprintf(&out, "%s/%s:%s@%s", r->domain, r->path, r->tag, r->digest);
	else if (r->digest)
		n = asprintf(&out, "%s/%s@%s", r->domain, r->path, r->digest);
	else
		n = asprintf(&out, "%s/%s:%s", r->domain, r->path, r->tag ? r->tag : "latest");
	return n < 0 ? NULL : out;
}

const char *img_ref_api_host(const struct img_ref *r)
{
	return strcmp(r->domain, HUB_DOMAIN) == 0 ? HUB_API_HOST : r->domain;
}

int img_ref_validate(const char *ref, struct err **err)
{
	struct img_ref r = {0};
	int e;

	if (img_ref_is_layout(ref)) {
		const char *p = strncmp(ref, "oci:", 4) == 0 ? ref + 4 : ref;
		if (*p != '/')
			return err_set(err, EINVAL, "image '%s': an OCI layout path must be absolute", ref);
		return 0;
	}
	e = img_ref_parse(ref, &r, err);
	img_ref_done(&r);
	return e;
}

int img_ref_canonical(const char *s, char **ret, struct err **err)
{
	struct img_ref r = {0};
	int e;

	if (img_ref_is_layout(s)) {
		if ((e = img_ref_validate(s, err)) < 0)
			return e; /* a relative layout path names nothing the agent could find again */
		if (asprintf(ret, "oci:%s", strncmp(s, "oci:", 4) == 0 ? s + 4 : s) < 0)
			return err_set(err, ENOMEM, "image reference");
		return 0;
	}
	e = img_ref_parse(s, &r, err);
	if (e < 0)
		return e;
	*ret = img_ref_string(&r);
	img_ref_done(&r);
	return *ret ? 0 : err_set(err, ENOMEM, "image reference");
}
