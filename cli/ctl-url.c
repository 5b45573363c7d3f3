/* What droverctl needs to know about a --server URL before it sends a token there. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "cli/ctl-http.h"

bool ctl_url_is_plain_http(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0;
}

/* Copies the host of scheme://host[:port][/...] (brackets removed from an IPv6 host). */
static bool url_host(const char *url, char *host, size_t size)
{
	const char *h = strstr(url, "://"), *end;
	size_t auth, n;

	if (!h)
		return false;
	h += 3;
	auth = strcspn(h, "/?#");
	if (memchr(h, '@', auth))
		return false; /* userinfo: "http://127.0.0.1:1@evil/" goes to evil, never call it loopback */
	if (*h == '[') {
		h++;
		end = memchr(h, ']', auth - 1);
		if (!end)
			return false;
	} else {
		end = h + strcspn(h, ":/?#");
	}
	n = (size_t)(end - h);
	if (n == 0 || n >= size)
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	return true;
}

bool ctl_url_is_loopback(const char *url)
{
	struct in6_addr a6;
	struct in_addr a4;
	char host[256];

	if (!url_host(url, host, sizeof(host)))
		return false;
	if (strcasecmp(host, "localhost") == 0)
		return true; /* libcurl resolves "localhost" to the loopback addresses itself */
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}
