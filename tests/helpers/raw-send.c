/* raw-send: puts one hand-made Ethernet frame on an interface through an AF_PACKET socket, as a
 * hostile workload with CAP_NET_RAW can (tests/integration/75-net-security.bats). Static, so it
 * runs inside any container.
 *   raw-send udp IFACE DST_MAC SRC_MAC SRC_IP DST_IP DPORT TEXT   an IPv4/UDP datagram
 *   raw-send arp IFACE SRC_MAC SENDER_IP                          a gratuitous ARP request
 * SRC_MAC "self" is the interface's own address. Exit 0 when the frame was sent. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int parse_mac(int fd, const char *ifname, const char *s, uint8_t mac[6])
{
	struct ifreq ifr;
	unsigned v[6];

	if (strcmp(s, "self") == 0) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
			return -errno;
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
		return 0;
	}
	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

static uint16_t csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* Ethernet + IPv4 + UDP (checksum 0: none) + text; returns the frame length. */
static size_t build_udp(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], struct in_addr sip,
			struct in_addr dip, uint16_t dport, const char *text)
{
	struct ether_header *eh = (struct ether_header *)f;
	struct iphdr *ip = (struct iphdr *)(f + sizeof(*eh));
	struct udphdr *udp = (struct udphdr *)(ip + 1);
	size_t n = strlen(text);

	memcpy(eh->ether_dhost, dst, 6);
	memcpy(eh->ether_shost, src, 6);
	eh->ether_type = htons(ETHERTYPE_IP);
	*ip = (struct iphdr){.version = 4,
			     .ihl = 5,
			     .tot_len = htons((uint16_t)(sizeof(*ip) + sizeof(*udp) + n)),
			     .ttl = 64,
			     .protocol = IPPROTO_UDP,
			     .saddr = sip.s_addr,
			     .daddr = dip.s_addr};
	ip->check = csum(ip, sizeof(*ip));
	*udp = (struct udphdr){
	    .source = htons(40000), .dest = htons(dport), .len = htons((uint16_t)(sizeof(*udp) + n))};
	memcpy(udp + 1, text, n);
	return sizeof(*eh) + sizeof(*ip) + sizeof(*udp) + n;
}

/* Ethernet broadcast + ARP request "who has SENDER_IP, tell SENDER_IP at SRC_MAC". */
static size_t build_arp(uint8_t *f, const uint8_t src[6], struct in_addr sip)
{
	struct ether_header *eh = (struct ether_header *)f;
	uint8_t *a = f + sizeof(*eh);

	memset(eh->ether_dhost, 0xff, 6);
	memcpy(eh->ether_shost, src, 6);
	eh->ether_type = htons(ETHERTYPE_ARP);
	a[0] = 0, a[1] = 1;    /* Ethernet */
	a[2] = 0x08, a[3] = 0; /* IPv4 */
	a[4] = 6, a[5] = 4;
	a[6] = 0, a[7] = 1; /* request */
	memcpy(a + 8, src, 6);
	memcpy(a + 14, &sip, 4);
	memset(a + 18, 0, 6);
	memcpy(a + 24, &sip, 4);
	return sizeof(*eh) + 28;
}

static int send_frame(int fd, const char *ifname, const uint8_t *f, size_t len)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_halen = 6};

	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (sll.sll_ifindex == 0)
		return -errno;
	memcpy(sll.sll_addr, f, 6);
	return sendto(fd, f, len, 0, (struct sockaddr *)&sll, sizeof(sll)) == (ssize_t)len ? 0 : -errno;
}

static int usage(void)
{
	fprintf(stderr, "usage: raw-send udp IFACE DST_MAC SRC_MAC SRC_IP DST_IP DPORT TEXT\n"
			"       raw-send arp IFACE SRC_MAC SENDER_IP\n");
	return 2;
}

int main(int argc, char **argv)
{
	uint8_t frame[1514] = {0}, dst[6], src[6];
	struct in_addr sip, dip;
	size_t len;
	int fd, r;

	if (argc < 3)
		return usage();
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("raw-send: socket(AF_PACKET)");
		return 1;
	}
	if (strcmp(argv[1], "udp") == 0 && argc == 9) {
		if (parse_mac(fd, argv[2], argv[3], dst) < 0 || parse_mac(fd, argv[2], argv[4], src) < 0 ||
		    inet_pton(AF_INET, argv[5], &sip) != 1 || inet_pton(AF_INET, argv[6], &dip) != 1 ||
		    strlen(argv[8]) > 1000)
			return usage();
		len = build_udp(frame, dst, src, sip, dip, (uint16_t)atoi(argv[7]), argv[8]);
	} else if (strcmp(argv[1], "arp") == 0 && argc == 5) {
		if (parse_mac(fd, argv[2], argv[3], src) < 0 || inet_pton(AF_INET, argv[4], &sip) != 1)
			return usage();
		len = build_arp(frame, src, sip);
	} else {
		return usage();
	}
	r = send_frame(fd, argv[2], frame, len);
	close(fd);
	if (r < 0) {
		fprintf(stderr, "raw-send: send on '%s': %s\n", argv[2], strerror(-r));
		return 1;
	}
	return 0;
}
