/* Bench runtime wrapper: notes the moment the runtime is exec'd to start a container, then becomes
 * the runtime. Its configuration sits next to it in ARGV0.conf: line 1 the real runtime, line 2
 * the log file (a line "MICROSECONDS LAST-ARG" is appended for `run` and `create`). A shell
 * wrapper would add its own start-up to every figure. */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char conf[4096], runtime[4096], logpath[4096];
	struct timeval tv;
	FILE *f;

	gettimeofday(&tv, NULL);
	if (snprintf(conf, sizeof(conf), "%s.conf", argv[0]) >= (int)sizeof(conf) || !(f = fopen(conf, "re")))
		return 127;
	if (!fgets(runtime, sizeof(runtime), f) || !fgets(logpath, sizeof(logpath), f)) {
		fclose(f);
		return 127;
	}
	fclose(f);
	runtime[strcspn(runtime, "\n")] = '\0';
	logpath[strcspn(logpath, "\n")] = '\0';
	for (int k = 1; k < argc; k++)
		if (strcmp(argv[k], "run") == 0 || strcmp(argv[k], "create") == 0) {
			FILE *l = fopen(logpath, "ae");
			if (l) {
				fprintf(l, "%lld %s\n", (long long)tv.tv_sec * 1000000 + tv.tv_usec,
					argv[argc - 1]);
				fclose(l);
			}
			break;
		}
	argv[0] = runtime;
	execv(runtime, argv);
	perror("exec-stamp: exec");
	return 127;
}
