/* Test helper, run inside containers (77-health.bats): the service's side of sd_notify. Sends each
 * argument as one datagram to $NOTIFY_SOCKET, e.g. `sd-notify READY=1`, or with -f N sends the
 * first argument N times as fast as it can (a flood; sends that fail are counted, not fatal).
 * Exit status 0 when every datagram was sent. Static, so any image can run it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	long flood = 0, failed = 0;
	int fd, first = 1;

	if (argc > 2 && strcmp(argv[1], "-f") == 0) {
		flood = strtol(argv[2], NULL, 10);
		first = 3;
	}
	if (argc <= first || !path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: NOTIFY_SOCKET=PATH sd-notify [-f COUNT] MESSAGE...\n");
		return 2;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("sd-notify: socket");
		return 1;
	}
	if (flood > 0) {
		for (long k = 0; k < flood; k++)
			if (sendto(fd, argv[first], strlen(argv[first]), MSG_DONTWAIT, (struct sockaddr *)&sa,
				   sizeof(sa)) < 0)
				failed++;
		printf("sent %ld, failed %ld\n", flood - failed, failed);
		return 0;
	}
	for (int k = first; k < argc; k++)
		if (sendto(fd, argv[k], strlen(argv[k]), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fprintf(stderr, "sd-notify: send to '%s': %s\n", path, strerror(errno));
			return 1;
		}
	return 0;
}
