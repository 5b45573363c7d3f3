/* droverctl: the operator CLI. Parses global options, picks the command, maps failures to exit codes. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/ctl.h"
#include "common/cleanup.h"
#include "common/version.h"

static const struct ctl_cmd cmds[] = {
    {"apply", ctl_cmd_apply, "apply -f FILE|-", "create or replace instances from a spec (or an array)",
     "  -f, --filename FILE  the spec: one JSON object, or an array of them; '-' reads stdin\n"},
    {"ps", ctl_cmd_ps, "ps [-o json]", "list instances", NULL},
    {"inspect", ctl_cmd_inspect, "inspect [-o json] ID", "show one instance's status", NULL},
    {"logs", ctl_cmd_logs, "logs [-f] [--tail N] [--timestamps] ID",
     "print (and follow) an instance's output",
     "  -f, --follow         keep printing new output until the agent closes or Ctrl-C\n"
     "  -n, --tail N         start with the last N lines\n"
     "  -t, --timestamps     prefix each line with its time\n"},
    {"rm", ctl_cmd_rm, "rm [--force] ID", "stop and remove an instance",
     "  -f, --force          kill at once (SIGKILL), without the stop grace period\n"},
    {"node", ctl_cmd_node, "node [-o json]", "show the node's status", NULL},
    {"events", ctl_cmd_events, "events [-f] [--after N] [--wait S] [--once] [-o json]",
     "print status changes (with -f, as they happen)",
     "  -f, --follow         keep waiting for new events (long-polls) until Ctrl-C\n"
     "  --after N            start after sequence number N (default 0; events no longer kept are skipped\n"
     "                       with a notice)\n"
     "  --wait S             seconds each long-poll may wait (default 30)\n"
     "  --once               one request (a long-poll of --wait seconds), then exit\n"
     "  (-o json prints one JSON event per line; with --once, the agent's raw batch)\n"},
    {"history", ctl_cmd_history, "history [-o json] ID", "the specs an instance ran, newest first", NULL},
    {"image", ctl_cmd_image, "image pull|ls|rm|import|prune ...", "manage the node's images", NULL},
    {"exec", ctl_cmd_exec, "exec [-t|-T] ID -- CMD [ARGS...]",
     "run a command in a running instance; exits with its exit code",
     "  -t, --tty            give the command a terminal (default: when stdin and stdout are one)\n"
     "  -T, --no-tty         no terminal\n"},
};

static void print_usage(void)
{
	printf("Usage: droverctl [OPTIONS] COMMAND [ARGS]\n\n"
	       "Talks to droverd over its unix socket, or over TCP with --server.\n\n"
	       "Options:\n"
	       "  --socket PATH      agent socket (default $DROVER_SOCKET or %s)\n"
	       "  --server URL       remote agent, e.g. https://host:7443 ($DROVER_SERVER)\n"
	       "  --token-file F     send the token in F as 'Authorization: Bearer' ($DROVER_TOKEN_FILE);\n"
	       "                     never over http:// except to a loopback address\n"
	       "  --cacert F         CA bundle to verify the server with ($DROVER_CACERT)\n"
	       "  --cert F --key F   client certificate and key for mutual TLS ($DROVER_CERT, $DROVER_KEY)\n"
	       "  -o, --output FMT   'table' (default) or 'json' (the agent's raw JSON)\n"
	       "  -h, --help         show this help (COMMAND --help: the command's)\n"
	       "  --version          show the version\n\n"
	       "Commands:\n",
	       CTL_DEFAULT_SOCKET);
	for (size_t i = 0; i < ELEMENTSOF(cmds); i++)
		printf("  %-52s %s\n", cmds[i].usage, cmds[i].help);
	printf(
	    "\nExit status: 0 ok, 1 error (from the agent or local), 2 usage error, 3 agent unreachable.\n");
}

void ctl_print_cmd_usage(const struct ctl_cmd *cmd)
{
	if (!cmd) {
		print_usage();
		return;
	}
	printf("Usage: droverctl [OPTIONS] %s\n\n%c%s.\n\nOptions:\n%s", cmd->usage,
	       toupper((unsigned char)cmd->help[0]), cmd->help + 1, cmd->opts ? cmd->opts : "");
	printf("  -o, --output FMT     'table' (default) or 'json'\n  -h, --help           show this help\n");
}

enum {
	OPT_SOCKET = 0x100,
	OPT_SERVER,
	OPT_TOKEN_FILE,
	OPT_CACERT,
	OPT_CERT,
	OPT_KEY,
	OPT_VERSION,
};

static const struct option global_opts[] = {
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"server", required_argument, NULL, OPT_SERVER},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {0},
};

/* Stores a connection option; returns 1 if c was one. */
static int set_conn_opt(struct ctl_conn_opts *o, int c)
{
	const char **slot = NULL;

	switch (c) {
	case OPT_SOCKET:
		slot = &o->socket_path;
		break;
	case OPT_SERVER:
		slot = &o->server;
		break;
	case OPT_TOKEN_FILE:
		slot = &o->token_file;
		break;
	case OPT_CACERT:
		slot = &o->cacert;
		break;
	case OPT_CERT:
		slot = &o->cert;
		break;
	case OPT_KEY:
		slot = &o->key;
		break;
	default:
		return 0;
	}
	*slot = optarg;
	return 1;
}

static const char *env_or(const char *set, const char *name)
{
	const char *v = set ? set : getenv(name);

	return v && *v ? v : NULL;
}

/* Unset connection options come from DROVER_SERVER, DROVER_TOKEN_FILE, DROVER_CACERT, DROVER_CERT
 * and DROVER_KEY (the last four only with a server), unless --socket was given. */
static void conn_opts_from_env(struct ctl_conn_opts *o)
{
	if (o->socket_path)
		return;
	o->server = env_or(o->server, "DROVER_SERVER");
	if (!o->server)
		return;
	o->token_file = env_or(o->token_file, "DROVER_TOKEN_FILE");
	o->cacert = env_or(o->cacert, "DROVER_CACERT");
	if (!o->cert && !o->key) {
		o->cert = env_or(NULL, "DROVER_CERT");
		o->key = env_or(NULL, "DROVER_KEY");
	}
}

static int check_conn_opts(struct ctl_conn_opts *o, struct err **err)
{
	if (o->server && o->socket_path)
		return ctl_usage(err, "use either --socket or --server, not both");
	conn_opts_from_env(o);
	if (!o->server && (o->token_file || o->cacert || o->cert || o->key))
		return ctl_usage(err, "--token-file, --cacert, --cert and --key need --server");
	if (!!o->cert != !!o->key)
		return ctl_usage(err, "--cert and --key go together");
	if (o->server && strncmp(o->server, "https://", 8) != 0 && strncmp(o->server, "http://", 7) != 0)
		return ctl_usage(err, "--server wants a URL such as https://host:port, got '%s'", o->server);
	if (!o->server && !o->socket_path) {
		o->socket_path = getenv("DROVER_SOCKET");
		if (o->socket_path && !*o->socket_path)
			o->socket_path = NULL;
	}
	return 0;
}

/* Returns 1 if the command line asked only for help or the version. */
static int parse_global(struct ctl_ctx *ctx, int argc, char **argv, struct ctl_conn_opts *o, struct err **err)
{
	int c, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:o:h", global_opts, NULL)) != -1) {
		if (set_conn_opt(o, c))
			continue;
		if (c == OPT_VERSION) {
			printf("droverctl %s\n", DROVER_VERSION);
			return 1;
		}
		r = ctl_common_opt(ctx, c, argv, err);
		if (r != 0)
			return r;
	}
	return check_conn_opts(o, err);
}

static const struct ctl_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(cmds); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

static int run(struct ctl_ctx *ctx, int argc, char **argv, struct err **err)
{
	struct ctl_conn_opts o = {0};
	int r, first;

	r = parse_global(ctx, argc, argv, &o, err);
	if (r != 0)
		return r < 0 ? r : 0;
	if (optind >= argc)
		return ctl_usage(err, "no command given (see droverctl --help)");
	first = optind;
	if (strcmp(argv[first], "help") == 0) {
		ctl_print_cmd_usage(first + 1 < argc ? find_cmd(argv[first + 1]) : NULL);
		return 0;
	}
	ctx->cmd = find_cmd(argv[first]);
	if (!ctx->cmd)
		return ctl_usage(err, "unknown command '%s' (see droverctl --help)", argv[first]);
	r = ctl_client_init(&ctx->client, &o, err);
	if (r < 0)
		return r;
	return ctx->cmd->fn(ctx, argc - first, argv + first, err);
}

static int exit_code(int r, const struct err *e)
{
	int errnum = e ? e->errnum : -r;

	if (r >= 0)
		return CTL_EXIT_OK;
	if (errnum == CTL_EUSAGE)
		return CTL_EXIT_USAGE;
	if (errnum == CTL_EUNREACH)
		return CTL_EXIT_UNREACH;
	return CTL_EXIT_FAIL;
}

int main(int argc, char **argv)
{
	_cleanup_err_ struct err *err = NULL;
	struct ctl_ctx ctx = {0};
	int r;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "droverctl: cannot initialise libcurl\n");
		return CTL_EXIT_FAIL;
	}
	r = run(&ctx, argc, argv, &err);
	ctl_client_done(&ctx.client);
	curl_global_cleanup();
	if (r >= 0 && fflush(stdout) != 0)
		r = err_set(&err, errno ? errno : EIO, "write output: %s", strerror(errno ? errno : EIO));
	if (r < 0)
		fprintf(stderr, "droverctl: %s\n", err_msg(err));
	return exit_code(r, err);
}
