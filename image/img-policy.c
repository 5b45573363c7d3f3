/* What drover-image trusts and how much it takes: loopback decided on parsed addresses, the
 * registry host compared with the host a response really came from, the byte, entry and free
 * space budgets that bound what one image may write, and the directories oci: layouts may
 * live in. Pure functions (no I/O but fstatvfs), so the arithmetic is unit-tested. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>

#include "image/img-reg-internal.h"

#define SPACE_CHECK_EVERY (64ULL * 1024 * 1024)

/* "[::1]:5000" -> "::1", "127.0.0.1:5000" -> "127.0.0.1", "name" -> "name"; false if too long. */
static bool host_only(const char *hostport, char *buf, size_t size)
{
	const char *start = hostport;
	size_t n;

	if (*start == '[') {
		start++;
		n = strcspn(start, "]");
		if (start[n] != ']')
			return false;
	} else {
		n = strcspn(start, ":");
		if (start[n] == ':' && strchr(start + n + 1, ':'))
			n = strlen(start); /* a bare IPv6 literal */
	}
	if (n == 0 || n >= size)
		return false;
	memcpy(buf, start, n);
	buf[n] = '\0';
	return true;
}

bool img_host_is_loopback(const char *hostport)
{
	char name[INET6_ADDRSTRLEN + 64];
	unsigned char a6[sizeof(struct in6_addr)];
	struct in_addr a4;

	if (!hostport || !host_only(hostport, name, sizeof(name)))
		return false;
	if (strcasecmp(name, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, name, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, name, a6) == 1)
		return memcmp(a6, &in6addr_loopback, sizeof(a6)) == 0;
	return false;
}

/* Splits "scheme://[user@]host[:port]/..." into host (brackets kept off) and port (the scheme's
 * default when absent). -EINVAL when it is not such a URL. */
static int url_host_port(const char *url, char *host, size_t size, unsigned *ret_port)
{
	const char *p = strstr(url, "://"), *at, *end, *colon;
	char hp[300];
	size_t n;
	unsigned long port;
	char *e = NULL;

	if (!p)
		return -EINVAL;
	*ret_port = strncasecmp(url, "https://", 8) == 0 ? 443 : strncasecmp(url, "http://", 7) == 0 ? 80 : 0;
	p += 3;
	n = strcspn(p, "/?#");
	at = memchr(p, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	if (n == 0 || n >= sizeof(hp))
		return -EINVAL;
	memcpy(hp, p, n);
	hp[n] = '\0';
	if (!host_only(hp, host, size))
		return -EINVAL;
	end = hp[0] == '[' ? strchr(hp, ']') + 1 : hp + strlen(host);
	colon = *end == ':' ? end : NULL;
	if (!colon)
		return *ret_port ? 0 : -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &e, 10);
	if (errno || !e || *e || port == 0 || port > 65535)
		return -EINVAL;
	*ret_port = (unsigned)port;
	return 0;
}

bool img_url_is_host(const char *url, const char *base)
{
	char h1[256], h2[256];
	unsigned p1 = 0, p2 = 0;

	if (!url || !base || url_host_port(url, h1, sizeof(h1), &p1) < 0 ||
	    url_host_port(base, h2, sizeof(h2), &p2) < 0)
		return false;
	return strcasecmp(h1, h2) == 0 && p1 == p2;
}

int img_budget_add(_Atomic uint64_t *used, uint64_t n, uint64_t max)
{
	uint64_t cur = atomic_load(used);

	do {
		if (n > max || cur > max - n)
			return -EFBIG;
	} while (!atomic_compare_exchange_weak(used, &cur, cur + n));
	return 0;
}

bool img_space_fits(uint64_t avail, uint64_t need, uint64_t reserve)
{
	return reserve <= avail && need <= avail - reserve;
}

static char *human(uint64_t v, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double d = (double)v;
	size_t u = 0;

	while (d >= 1024 && u + 1 < ELEMENTSOF(units)) {
		d /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", d, units[u]);
	return buf;
}

int img_space_check(int fd, uint64_t need, uint64_t reserve, const char *what, struct err **err)
{
	struct statvfs st;
	uint64_t avail;
	char b1[32], b2[32], b3[32];

	if (fstatvfs(fd, &st) < 0)
		return err_set(err, errno, "%s: statvfs of the image store", what);
	avail = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
	if (img_space_fits(avail, need, reserve))
		return 0;
	return err_set(
	    err, ENOSPC,
	    "%s: %s needed, the image store's filesystem has %s free and keeps %s (--image-min-free)", what,
	    human(need, b1, sizeof(b1)), human(avail, b2, sizeof(b2)), human(reserve, b3, sizeof(b3)));
}

int img_budget_entry(struct img_budget *b, struct err **err)
{
	if (!b)
		return 0;
	if (++b->entries > b->limits->max_entries)
		return err_set(err, E2BIG, "more than %" PRIu64 " entries in one layer (--image-max-entries)",
			       b->limits->max_entries);
	return 0;
}

int img_budget_bytes(struct img_budget *b, uint64_t n, int fd, struct err **err)
{
	int r;

	if (!b)
		return 0;
	if (img_budget_add(b->used, n, b->limits->max_unpacked) < 0)
		return err_set(err, EFBIG,
			       "more than %" PRIu64 " bytes unpacked for the image (--image-max-unpacked)",
			       b->limits->max_unpacked);
	b->since_check += n;
	if (b->since_check < SPACE_CHECK_EVERY && n < SPACE_CHECK_EVERY)
		return 0;
	b->since_check = 0;
	r = img_space_check(fd, n < SPACE_CHECK_EVERY ? 0 : n, b->limits->min_free, "unpack", err);
	return r < 0 ? r : 0;
}

int img_layout_beneath(const char *path, char *const *roots, const char **ret_rel, const char **ret_root)
{
	for (char *const *r = roots; r && *r; r++) {
		size_t n = strlen(*r);

		while (n > 1 && (*r)[n - 1] == '/')
			n--;
		if (strncmp(path, *r, n) != 0 || (path[n] != '/' && !(n == 1 && (*r)[0] == '/')))
			continue;
		const char *rel = path + n;
		while (*rel == '/')
			rel++;
		if (!*rel)
			continue; /* the root itself is not a layout */
		for (const char *c = rel; c;) {
			size_t len = strcspn(c, "/");
			if ((len == 2 && strncmp(c, "..", 2) == 0) || (len == 1 && *c == '.'))
				return -EPERM;
			c = c[len] ? c + len + 1 : NULL;
		}
		*ret_rel = rel;
		*ret_root = *r;
		return 0;
	}
	return -EPERM;
}
