/* Kubernetes-style resource quantities, parsed exactly (no floating point). */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "spec/spec.h"

/* Splits "123.45Mi" into an integer scaled by 10^frac_digits and a suffix. */
static int split_decimal(const char *s, int64_t *ret_int, int64_t *ret_frac, int *ret_frac_digits,
			 const char **ret_suffix)
{
	int64_t ip = 0, fp = 0;
	int fd = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p) && *p != '.')
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (ip > (INT64_MAX - 9) / 10)
			return -ERANGE;
		ip = ip * 10 + (*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p) && p - 1 == s)
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (fd >= 9)
				return -EINVAL; /* finer than a nano-unit makes no sense here */
			fp = fp * 10 + (*p - '0');
			fd++;
		}
	}
	*ret_int = ip;
	*ret_frac = fp;
	*ret_frac_digits = fd;
	*ret_suffix = p;
	return 0;
}

static int64_t pow10i(int n)
{
	int64_t v = 1;

	while (n-- > 0)
		v *= 10;
	return v;
}

/* value = (ip + fp/10^fd) * mul / div, rounded up. ip < 2^63 and fd <= 9 keep the first product
 * far inside __int128; the multiply by mul (up to 10^18) is checked, so no input overflows. */
static int scale(int64_t ip, int64_t fp, int fd, int64_t mul, int64_t div, int64_t *ret)
{
	__int128 num = (__int128)ip * pow10i(fd) + fp;
	__int128 den = (__int128)pow10i(fd) * div;
	__int128 v;

	if (mul <= 0 || div <= 0 || __builtin_mul_overflow(num, (__int128)mul, &num))
		return -ERANGE;
	v = num / den + (num % den != 0);
	if (v > INT64_MAX)
		return -ERANGE;
	*ret = (int64_t)v;
	return 0;
}

int quantity_parse_cpu(const char *s, int64_t *ret_millis)
{
	int64_t ip, fp;
	const char *suf;
	int fd, r;

	r = split_decimal(s, &ip, &fp, &fd, &suf);
	if (r < 0)
		return r;
	if (strcmp(suf, "m") == 0)
		return scale(ip, fp, fd, 1, 1, ret_millis);
	if (*suf == '\0')
		return scale(ip, fp, fd, 1000, 1, ret_millis);
	return -EINVAL;
}

static const struct {
	const char *suffix;
	int64_t mul;
} byte_suffixes[] = {
    {"", 1},
    {"k", 1000LL},
    {"K", 1000LL},
    {"M", 1000LL * 1000},
    {"G", 1000LL * 1000 * 1000},
    {"T", 1000LL * 1000 * 1000 * 1000},
    {"Ki", 1024LL},
    {"Mi", 1024LL * 1024},
    {"Gi", 1024LL * 1024 * 1024},
    {"Ti", 1024LL * 1024 * 1024 * 1024},
};

int quantity_parse_bytes(const char *s, int64_t *ret_bytes)
{
	int64_t ip, fp;
	const char *suf;
	int fd, r;

	r = split_decimal(s, &ip, &fp, &fd, &suf);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(byte_suffixes) / sizeof(byte_suffixes[0]); i++)
		if (strcmp(suf, byte_suffixes[i].suffix) == 0)
			return scale(ip, fp, fd, byte_suffixes[i].mul, 1, ret_bytes);
	/* decimal exponent, "1e3" */
	if ((suf[0] == 'e' || suf[0] == 'E') && isdigit((unsigned char)suf[1]) && strlen(suf) <= 3) {
		int e = 0;
		for (const char *q = suf + 1; *q; q++) {
			if (!isdigit((unsigned char)*q))
				return -EINVAL;
			e = e * 10 + (*q - '0');
		}
		if (e > 18)
			return -ERANGE;
		return scale(ip, fp, fd, pow10i(e), 1, ret_bytes);
	}
	return -EINVAL;
}
