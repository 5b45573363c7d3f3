/* Registry references and Docker Hub normalisation, WWW-Authenticate challenges, the auth file
 * (format and the mode check) and platform choice in an index. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "image/img-reg-internal.h"

static void check_ref(const char *in, const char *domain, const char *path, const char *tag,
		      const char *digest, const char *canon)
{
	struct img_ref r = {0};
	_cleanup_err_ struct err *e = NULL;
	_cleanup_free_ char *s = NULL;

	assert_int_equal(img_ref_parse(in, &r, &e), 0);
	assert_string_equal(r.domain, domain);
	assert_string_equal(r.path, path);
	if (tag)
		assert_string_equal(r.tag, tag);
	else
		assert_null(r.tag);
	if (digest)
		assert_string_equal(r.digest, digest);
	else
		assert_null(r.digest);
	s = img_ref_string(&r);
	assert_string_equal(s, canon);
	img_ref_done(&r);
}

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_ref_hub_short_forms(void **state)
{
	(void)state;
	check_ref("busybox", "docker.io", "library/busybox", "latest", NULL,
		  "docker.io/library/busybox:latest");
	check_ref("busybox:1.36", "docker.io", "library/busybox", "1.36", NULL,
		  "docker.io/library/busybox:1.36");
	check_ref("user/app", "docker.io", "user/app", "latest", NULL, "docker.io/user/app:latest");
	check_ref("docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
		  "docker.io/library/busybox:latest");
	check_ref("index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", NULL,
		  "docker.io/library/busybox:latest");
}

static void test_ref_registries(void **state)
{
	struct img_ref r = {0};

	(void)state;
	check_ref("127.0.0.1:5000/demo/web:1.0", "127.0.0.1:5000", "demo/web", "1.0", NULL,
		  "127.0.0.1:5000/demo/web:1.0");
	check_ref("localhost/app", "localhost", "app", "latest", NULL, "localhost/app:latest");
	check_ref("quay.io/a/b/c@" D64, "quay.io", "a/b/c", NULL, D64, "quay.io/a/b/c@" D64);
	check_ref("reg:5000/x:t@" D64, "reg:5000", "x", "t", D64, "reg:5000/x:t@" D64);
	check_ref("a__b/c.d-e/f--g", "docker.io", "a__b/c.d-e/f--g", "latest", NULL,
		  "docker.io/a__b/c.d-e/f--g:latest");
	assert_int_equal(img_ref_parse("docker.io", &r, NULL), 0); /* a name, like docker reads it */
	assert_string_equal(r.path, "library/docker.io");
	img_ref_done(&r);
	assert_string_equal(img_ref_api_host(&(struct img_ref){.domain = (char *)"docker.io"}),
			    "registry-1.docker.io");
	assert_string_equal(img_ref_api_host(&(struct img_ref){.domain = (char *)"q.io:1"}), "q.io:1");
}

static void test_ref_invalid(void **state)
{
	static const char *const bad[] = {"",	    "Busybox",	   "host:5000/UPPER", "a//b", "a/b:",
					  "a/b:-x", "a@sha256:12", "a@md5:abc",	      "-a",   "a-",
					  "a/b/",   "a___b",	   "host/p:t:x"};
	struct img_ref r = {0};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_err_ struct err *e = NULL;
		if (img_ref_parse(bad[i], &r, &e) == 0)
			fail_msg("'%s' parsed", bad[i]);
		assert_non_null(e);
	}
	assert_true(img_ref_is_layout("oci:/x"));
	assert_true(img_ref_is_layout("/var/lib/x"));
	assert_false(img_ref_is_layout("busybox"));
}

static void test_ref_canonical(void **state)
{
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

	(void)state;
	assert_int_equal(img_ref_canonical("busybox", &a, NULL), 0);
	assert_string_equal(a, "docker.io/library/busybox:latest");
	assert_int_equal(img_ref_canonical("/x/y:1", &b, NULL), 0);
	assert_string_equal(b, "oci:/x/y:1");
	/* a layout that is not absolute names nothing: refused, as img_ref_validate refuses it */
	assert_int_equal(img_ref_canonical("oci:0.0.1:5000/a/b:1", &c, NULL), -EINVAL);
	assert_null(c);
	assert_int_equal(img_ref_canonical("./x", &c, NULL), -EINVAL);
}

static void test_challenge(void **state)
{
	struct img_challenge c = {0};

	(void)state;
	assert_int_equal(img_challenge_parse(
			     "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
			     "scope=\"repository:library/busybox:pull\"",
			     &c),
			 0);
	assert_int_equal(c.scheme, IMG_AUTH_BEARER);
	assert_string_equal(c.realm, "https://auth.docker.io/token");
	assert_string_equal(c.service, "registry.docker.io");
	assert_string_equal(c.scope, "repository:library/busybox:pull");
	img_challenge_done(&c);

	assert_int_equal(
	    img_challenge_parse("bearer  realm=\"http://x/t?a=1\" , error=\"invalid_token\"", &c), 0);
	assert_string_equal(c.realm, "http://x/t?a=1");
	assert_null(c.service);
	img_challenge_done(&c);

	assert_int_equal(img_challenge_parse("Basic realm=\"drover \\\"test\\\"\"", &c), 0);
	assert_int_equal(c.scheme, IMG_AUTH_BASIC);
	assert_string_equal(c.realm, "drover \"test\"");
	img_challenge_done(&c);

	assert_int_equal(img_challenge_parse("Basic realm=unquoted", &c), 0);
	assert_string_equal(c.realm, "unquoted");
	img_challenge_done(&c);

	assert_int_equal(img_challenge_parse("Negotiate abc", &c), -ENOTSUP);
	assert_int_equal(img_challenge_parse("Bearer service=\"x\"", &c), -EINVAL); /* no realm */
	assert_int_equal(img_challenge_parse("Bearer realm=\"unterminated", &c), -EINVAL);
	assert_int_equal(img_challenge_parse("Bearer realm", &c), -EINVAL);
	assert_int_equal(img_challenge_parse("", &c), -EINVAL);
}

static void write_auth(const char *path, const char *text, mode_t mode)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, text, strlen(text)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
}

static void test_auth_file(void **state)
{
	char dir[] = "/tmp/drover-test-auth-XXXXXX", path[64];
	_cleanup_json_ json_t *doc = NULL;
	struct img_creds c = {0};

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/auth.json", dir);
	/* "alice:pa:ss" in base64; the password may hold a colon */
	write_auth(path,
		   "{\"auths\":{\"127.0.0.1:5000\":{\"auth\":\"YWxpY2U6cGE6c3M=\"},"
		   "\"https://index.docker.io/v1/\":{\"username\":\"hub\",\"password\":\"pw\"},"
		   "\"broken.io\":{\"auth\":\"!!!\"}}}",
		   0600);
	assert_int_equal(img_auth_load(path, &doc, NULL), 0);
	assert_int_equal(img_auth_lookup(doc, "127.0.0.1:5000", "demo", &c, NULL), 0);
	assert_string_equal(c.user, "alice");
	assert_string_equal(c.pass, "pa:ss");
	img_creds_done(&c);
	assert_int_equal(img_auth_lookup(doc, "docker.io", "library/busybox", &c, NULL), 0);
	assert_string_equal(c.user, "hub");
	img_creds_done(&c);
	assert_int_equal(img_auth_lookup(doc, "other.io", "x", &c, NULL), 0);
	assert_null(c.user);
	assert_true(img_auth_lookup(doc, "broken.io", "x", &c, NULL) < 0);
	json_decref(TAKE_PTR(doc));

	/* group or others may read it: refused, and the message says why */
	chmod(path, 0640);
	{
		_cleanup_err_ struct err *e = NULL;
		assert_int_equal(img_auth_load(path, &doc, &e), -EPERM);
		assert_non_null(strstr(err_msg(e), "mode 0640"));
	}
	write_auth(path, "{\"auths\":[]}", 0600);
	assert_true(img_auth_load(path, &doc, NULL) < 0);
	write_auth(path, "not json", 0600);
	assert_true(img_auth_load(path, &doc, NULL) < 0);
	assert_int_equal(fs_rm_rf(AT_FDCWD, dir), 0);
}

static int pick(const char *manifests, const char *os, const char *arch, const char *variant)
{
	json_t *m = json_loads(manifests, 0, NULL);
	struct img_platform p = {.os = os, .arch = arch, .variant = variant};
	int r;

	assert_non_null(m);
	r = img_platform_select(m, &p);
	json_decref(m);
	return r;
}

#define ENTRY(a, v) "{\"platform\":{\"os\":\"linux\",\"architecture\":\"" a "\"" v "}}"

static void test_platform(void **state)
{
	const char *idx =
	    "[" ENTRY("arm64", ",\"variant\":\"v8\"") "," ENTRY("arm", ",\"variant\":\"v6\"") "," ENTRY(
		"arm", ",\"variant\":\"v7\"") "," ENTRY("amd64", "") ","
								     "{\"platform\":{\"os\":\"unknown\","
								     "\"architecture\":\"unknown\"}}]";
	struct img_platform host;

	(void)state;
	assert_int_equal(pick(idx, "linux", "amd64", NULL), 3);
	assert_int_equal(pick(idx, "linux", "arm64", "v8"), 0);
	assert_int_equal(pick(idx, "linux", "arm", "v7"), 2);
	assert_int_equal(pick(idx, "linux", "arm", "v6"), 1);
	assert_int_equal(pick(idx, "linux", "s390x", NULL), -ENOENT);
	assert_int_equal(pick(idx, "windows", "amd64", NULL), -ENOENT);
	/* an entry without a variant fits; an exact variant is preferred */
	assert_int_equal(
	    pick("[" ENTRY("arm", "") "," ENTRY("arm", ",\"variant\":\"v7\"") "]", "linux", "arm", "v7"), 1);
	assert_int_equal(pick("[" ENTRY("arm", "") "]", "linux", "arm", "v7"), 0);
	/* amd64 prefers the plain entry over a v3 one */
	assert_int_equal(pick("[" ENTRY("amd64", ",\"variant\":\"v3\"") "," ENTRY("amd64", "") "]", "linux",
			      "amd64", NULL),
			 1);
	assert_int_equal(pick("[]", "linux", "amd64", NULL), -ENOENT);
	img_platform_host(&host);
	assert_string_equal(host.os, "linux");
#if defined(__x86_64__)
	assert_string_equal(host.arch, "amd64");
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ref_hub_short_forms),
	    cmocka_unit_test(test_ref_registries),
	    cmocka_unit_test(test_ref_invalid),
	    cmocka_unit_test(test_ref_canonical),
	    cmocka_unit_test(test_challenge),
	    cmocka_unit_test(test_auth_file),
	    cmocka_unit_test(test_platform),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
