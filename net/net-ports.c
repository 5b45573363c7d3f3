/* Published ports: the in-memory set the nftables table is rebuilt from, persisted as ports.json
 * next to the lease dir so a restarted agent rebuilds the same table, without duplicates:
 *   {"instances": {"web-0": {"ip": "10.77.0.5",
 *                             "ports": [{"container": 8080, "host": 18080, "protocol": "tcp"}]}}} */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fs.h"
#include "net/net-internal.h"

#define PORTS_FILE_MAX (4 * 1024 * 1024)

#ifndef _cleanup_json_
#define _cleanup_json_ _cleanup_(json_decrefp)
#endif

/* ---- host ports: the reserved set and the bind() probe ---- */

static int parse_port_num(const char *s, const char **end, uint16_t *ret)
{
	unsigned v = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9' && p - s < 5)
		v = v * 10 + (unsigned)(*p++ - '0');
	if (p == s || (*p >= '0' && *p <= '9') || v < 1 || v > 65535)
		return -EINVAL;
	*end = p;
	*ret = (uint16_t)v;
	return 0;
}

int net_portset_parse(const char *s, struct net_portset *ret)
{
	struct net_portset set;
	const char *p = s;

	if (!s)
		return -EINVAL;
	memset(&set, 0, sizeof(set));
	while (*p) {
		uint16_t lo, hi;

		if (parse_port_num(p, &p, &lo) < 0)
			return -EINVAL;
		hi = lo;
		if (*p == '-' && parse_port_num(p + 1, &p, &hi) < 0)
			return -EINVAL;
		if (hi < lo || (*p != ',' && *p != '\0') || (*p == ',' && p[1] == '\0'))
			return -EINVAL;
		for (unsigned port = lo; port <= hi; port++)
			set.bits[port / 8] |= (uint8_t)(1U << (port % 8));
		p += *p == ',';
	}
	*ret = set;
	return 0;
}

bool net_portset_has(const struct net_portset *set, uint16_t port)
{
	return set && (set->bits[port / 8] & (1U << (port % 8)));
}

/* 0 if port/proto can be bound on the wildcard address now, else -errno (-EADDRINUSE: held). */
static int bind_probe(uint16_t port, bool udp)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
	_cleanup_close_ int fd = -1;
	int one = 1;

	fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* TCP: connections in TIME_WAIT do not hold a port, listeners do (whatever their address) */
	if (!udp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

int net_port_check_host(uint16_t port, bool udp, const struct net_portset *reserved, struct err **err)
{
	const char *proto = udp ? "udp" : "tcp";
	int r;

	if (net_portset_has(reserved, port))
		return err_field(err, "ports", EADDRINUSE, "host port %s/%u is reserved on this node", proto,
				 port);
	r = bind_probe(port, udp);
	if (r == -EADDRINUSE)
		return err_field(err, "ports", EADDRINUSE,
				 "host port %s/%u is in use by a process on this node", proto, port);
	if (r < 0)
		return err_set(err, -r, "check host port %s/%u: %s", proto, port, strerror(-r));
	return 0;
}

static void pub_done(struct net_pub *p)
{
	free(p->ports);
	p->ports = NULL;
	p->n_ports = 0;
}

void net_pubs_done(struct net_pubs *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		pub_done(&p->v[i]);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

bool net_pubs_has(const struct net_pubs *p, const char *id, uint16_t host, bool udp)
{
	ssize_t i = net_pubs_find(p, id);

	for (size_t k = 0; i >= 0 && k < p->v[i].n_ports; k++)
		if (p->v[i].ports[k].host == host && p->v[i].ports[k].udp == udp)
			return true;
	return false;
}

ssize_t net_pubs_find(const struct net_pubs *p, const char *id)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].id, id) == 0)
			return (ssize_t)i;
	return -1;
}

const char *net_pubs_holder(const struct net_pubs *p, const char *id, uint16_t host, bool udp)
{
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->v[i].id, id) == 0)
			continue;
		for (size_t k = 0; k < p->v[i].n_ports; k++)
			if (p->v[i].ports[k].host == host && p->v[i].ports[k].udp == udp)
				return p->v[i].id;
	}
	return NULL;
}

static void pubs_remove(struct net_pubs *p, size_t i)
{
	pub_done(&p->v[i]);
	memmove(&p->v[i], &p->v[i + 1], (p->n - i - 1) * sizeof(p->v[0]));
	p->n--;
}

int net_pubs_set(struct net_pubs *p, const char *id, const char *ip, const struct net_port *ports,
		 size_t n_ports)
{
	ssize_t i = net_pubs_find(p, id);
	struct net_port *copy = NULL;
	size_t n_pub = 0;

	for (size_t k = 0; k < n_ports; k++)
		n_pub += ports[k].host != 0;
	if (n_pub == 0) {
		if (i >= 0)
			pubs_remove(p, (size_t)i);
		return 0;
	}
	copy = calloc(n_pub, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	n_pub = 0;
	for (size_t k = 0; k < n_ports; k++)
		if (ports[k].host != 0)
			copy[n_pub++] = ports[k];
	if (i < 0) {
		struct net_pub *nv = reallocarray(p->v, p->n + 1, sizeof(*nv));
		if (!nv) {
			free(copy);
			return -ENOMEM;
		}
		p->v = nv;
		i = (ssize_t)p->n++;
		memset(&p->v[i], 0, sizeof(p->v[i]));
		snprintf(p->v[i].id, sizeof(p->v[i].id), "%s", id);
	}
	pub_done(&p->v[i]);
	snprintf(p->v[i].ip, sizeof(p->v[i].ip), "%s", ip);
	p->v[i].ports = copy;
	p->v[i].n_ports = n_pub;
	return 0;
}

int net_pubs_copy(const struct net_pubs *src, struct net_pubs *ret)
{
	struct net_pubs out = {0};

	for (size_t i = 0; i < src->n; i++) {
		if (net_pubs_set(&out, src->v[i].id, src->v[i].ip, src->v[i].ports, src->v[i].n_ports) < 0) {
			net_pubs_done(&out);
			return -ENOMEM;
		}
	}
	*ret = out;
	return 0;
}

/* ---- ports.json ---- */

static int port_from_json(json_t *jp, struct net_port *ret)
{
	json_int_t container = 0, host = 0;
	const char *proto = NULL;
	json_error_t jerr;

	if (json_unpack_ex(jp, &jerr, JSON_STRICT, "{s:I, s:I, s:s}", "container", &container, "host", &host,
			   "protocol", &proto) < 0)
		return -EINVAL;
	if (container < 1 || container > 65535 || host < 1 || host > 65535)
		return -EINVAL;
	if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
		return -EINVAL;
	*ret = (struct net_port){
	    .container = (uint16_t)container, .host = (uint16_t)host, .udp = strcmp(proto, "udp") == 0};
	return 0;
}

static int pub_from_json(struct net_pubs *p, const char *id, json_t *jinst)
{
	_cleanup_free_ struct net_port *ports = NULL;
	json_t *jports = NULL, *jp;
	const char *ip = NULL;
	json_error_t jerr;
	uint32_t ipv;
	size_t k;

	if (!net_id_valid(id))
		return -EINVAL;
	if (json_unpack_ex(jinst, &jerr, JSON_STRICT, "{s:s, s:o}", "ip", &ip, "ports", &jports) < 0 ||
	    !json_is_array(jports) || net_ip_parse(ip, &ipv) < 0)
		return -EINVAL;
	ports = calloc(json_array_size(jports) + 1, sizeof(*ports));
	if (!ports)
		return -ENOMEM;
	json_array_foreach (jports, k, jp) {
		int r = port_from_json(jp, &ports[k]);
		if (r < 0)
			return r;
	}
	return net_pubs_set(p, id, ip, ports, json_array_size(jports));
}

int net_pubs_load(int dirfd, const char *name, struct net_pubs *ret, struct err **err)
{
	_cleanup_pubs_ struct net_pubs p = {0};
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *text = NULL;
	json_t *jinsts = NULL, *jinst;
	json_error_t jerr;
	const char *id;
	size_t len = 0;
	int r;

	r = fs_read_file(dirfd, name, PORTS_FILE_MAX, &text, &len, err);
	if (r == -ENOENT) {
		err_free(err);
		*ret = (struct net_pubs){0};
		return 0;
	}
	if (r < 0)
		return err_wrap(err, "read '%s'", name);
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return err_set(err, EPROTO, "parse '%s' %d:%d: %s", name, jerr.line, jerr.column, jerr.text);
	if (json_unpack_ex(doc, &jerr, JSON_STRICT, "{s:o}", "instances", &jinsts) < 0 ||
	    !json_is_object(jinsts))
		return err_set(err, EPROTO, "'%s': expected {\"instances\": {...}}", name);
	json_object_foreach (jinsts, id, jinst) {
		r = pub_from_json(&p, id, jinst);
		if (r < 0)
			return err_set(err, -r, "'%s': bad entry for instance '%s'", name, id);
	}
	*ret = p;
	p = (struct net_pubs){0};
	return 0;
}

static json_t *pub_to_json(const struct net_pub *pub)
{
	_cleanup_json_ json_t *jports = json_array();

	if (!jports)
		return NULL;
	for (size_t k = 0; k < pub->n_ports; k++) {
		const struct net_port *pt = &pub->ports[k];
		if (json_array_append_new(jports, json_pack("{s:i, s:i, s:s}", "container",
							    (int)pt->container, "host", (int)pt->host,
							    "protocol", pt->udp ? "udp" : "tcp")) < 0)
			return NULL;
	}
	return json_pack("{s:s, s:O}", "ip", pub->ip, "ports", jports);
}

int net_pubs_save(int dirfd, const char *name, const struct net_pubs *p, struct err **err)
{
	_cleanup_json_ json_t *jinsts = json_object();
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *text = NULL;

	if (!jinsts)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < p->n; i++)
		if (json_object_set_new(jinsts, p->v[i].id, pub_to_json(&p->v[i])) < 0)
			return err_set(err, ENOMEM, "out of memory");
	doc = json_pack("{s:O}", "instances", jinsts);
	text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!text)
		return err_set(err, ENOMEM, "out of memory");
	return fs_write_atomic(dirfd, name, text, strlen(text), 0600, 0, err);
}
