/* Platform choice in an OCI index or Docker manifest list: the entry for this host's
 * os/architecture/variant, the way docker and containerd pick one. */
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "image/img-reg-internal.h"

#if defined(__x86_64__)
#define HOST_ARCH "amd64"
#define HOST_VARIANT NULL
#elif defined(__aarch64__)
#define HOST_ARCH "arm64"
#define HOST_VARIANT "v8"
#elif defined(__i386__)
#define HOST_ARCH "386"
#define HOST_VARIANT NULL
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7
#define HOST_ARCH "arm"
#define HOST_VARIANT "v7"
#elif defined(__arm__)
#define HOST_ARCH "arm"
#define HOST_VARIANT "v6"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_ARCH "ppc64le"
#define HOST_VARIANT NULL
#elif defined(__s390x__)
#define HOST_ARCH "s390x"
#define HOST_VARIANT NULL
#elif defined(__riscv) && __riscv_xlen == 64
#define HOST_ARCH "riscv64"
#define HOST_VARIANT NULL
#else
#define HOST_ARCH "unknown"
#define HOST_VARIANT NULL
#endif

void img_platform_host(struct img_platform *ret)
{
	*ret = (struct img_platform){.os = "linux", .arch = HOST_ARCH, .variant = HOST_VARIANT};
}

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* 0: does not fit; higher is better. An entry without a variant fits any variant of its arch;
 * arm64's "v8" is its default variant. */
static int score(json_t *entry, const struct img_platform *p)
{
	json_t *plat = json_object_get(entry, "platform");
	const char *os = json_string_value(json_object_get(plat, "os"));
	const char *arch = json_string_value(json_object_get(plat, "architecture"));
	const char *variant = json_string_value(json_object_get(plat, "variant"));

	if (!str_eq(os, p->os) || !str_eq(arch, p->arch))
		return 0;
	if (variant && !*variant)
		variant = NULL;
	if (str_eq(arch, "arm64") && str_eq(variant, "v8"))
		variant = NULL;
	if (!p->variant || (str_eq(p->arch, "arm64") && str_eq(p->variant, "v8")))
		return variant ? 1 : 3;
	if (!variant)
		return 2;
	return str_eq(variant, p->variant) ? 3 : 0;
}

int img_platform_select(json_t *manifests, const struct img_platform *p)
{
	int best = -ENOENT, best_score = 0;
	size_t i;
	json_t *it;

	json_array_foreach (manifests, i, it) {
		int s = score(it, p);
		if (s > best_score) {
			best_score = s;
			best = (int)i;
		}
	}
	return best;
}
