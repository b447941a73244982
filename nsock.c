/*
 * nsock.c: main. argv -> struct config -> check it once (every usage error
 * is found here) -> run the mode that role and transport select -> status.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsock.h"

#define NSOCK_VERSION	"0.1.0"
#define SECONDS_MAX	(1000.0 * 1000.0)	/* bounds -w and --retry */

/* Long-only options. */
enum {
	OPT_ECHO = 256,
	OPT_COUNT,
	OPT_RETRY,
	OPT_PORT_FILE,
	OPT_NO_SHUTDOWN,
	OPT_SEND_ONLY,
	OPT_RECV_ONLY,
	OPT_FORK,
	OPT_THREADS,
	OPT_POLL,
	OPT_MAX_CONNS,
	OPT_BROKER,
};

/* The leading colon makes getopt tell a missing value from an unknown one. */
static const char short_opts[] = ":tu46clkze:w:vhV";

static const struct option long_opts[] = {
	{ "tcp",		no_argument,		NULL,	't' },
	{ "udp",		no_argument,		NULL,	'u' },
	{ "connect",		no_argument,		NULL,	'c' },
	{ "listen",		no_argument,		NULL,	'l' },
	{ "keep-open",		no_argument,		NULL,	'k' },
	{ "iterative",		no_argument,		NULL,	'k' },
	{ "fork",		no_argument,		NULL,	OPT_FORK },
	{ "threads",		no_argument,		NULL,	OPT_THREADS },
	{ "poll",		no_argument,		NULL,	OPT_POLL },
	{ "exec",		required_argument,	NULL,	'e' },
	{ "echo",		no_argument,		NULL,	OPT_ECHO },
	{ "broker",		no_argument,		NULL,	OPT_BROKER },
	{ "max-conns",		required_argument,	NULL,	OPT_MAX_CONNS },
	{ "count",		required_argument,	NULL,	OPT_COUNT },
	{ "timeout",		required_argument,	NULL,	'w' },
	{ "retry",		required_argument,	NULL,	OPT_RETRY },
	{ "port-file",		required_argument,	NULL,	OPT_PORT_FILE },
	{ "no-shutdown",	no_argument,		NULL,	OPT_NO_SHUTDOWN },
	{ "send-only",		no_argument,		NULL,	OPT_SEND_ONLY },
	{ "recv-only",		no_argument,		NULL,	OPT_RECV_ONLY },
	{ "help",		no_argument,		NULL,	'h' },
	{ "version",		no_argument,		NULL,	'V' },
	{ NULL,			0,			NULL,	0 },
};

static const char help_text[] =
"usage: nsock [options] -c HOST PORT          client\n"
"       nsock [options] -l [ADDRESS] PORT     server (PORT 0: any free port)\n"
"       nsock [options] -z HOST PORT[-PORT]   probe which ports accept TCP\n"
"\n"
"Moves bytes between stdin/stdout and a TCP or UDP socket.\n"
"\n"
"Role and transport:\n"
"  -c, --connect         client (the default with HOST PORT)\n"
"  -l, --listen          server\n"
"  -z                    probe ports; print each open one; exit 0 if any\n"
"  -t, --tcp             TCP (the default)\n"
"  -u, --udp             UDP: one read is one datagram\n"
"  -4, -6                IPv4 only, IPv6 only\n"
"\n"
"Session:\n"
"  -w, --timeout SECS    bound on connecting and on a session idle that long\n"
"      --retry SECS      client: keep trying to connect for up to SECS\n"
"      --no-shutdown     do not half-close the connection when stdin ends\n"
"      --send-only       only send stdin; end once it is sent\n"
"      --recv-only       only receive; half-close at once\n"
"\n"
"Server (TCP: one client, unless a model is given):\n"
"  -k, --iterative       serve clients one after another, without end\n"
"      --fork            a process for each client\n"
"      --threads         a thread for each client\n"
"      --poll            all clients in one process (an event loop)\n"
"  -e, --exec CMD        run /bin/sh -c CMD, the connection its stdin/stdout\n"
"      --echo            send back what each client (UDP: sender) sends\n"
"      --broker          relay each client's bytes to all the others\n"
"      --count N         exit after N clients (UDP: N datagrams)\n"
"      --max-conns N     at most N clients at once; others wait\n"
"      --port-file FILE  once listening, write the port number to FILE\n"
"\n"
"Output:\n"
"  -v                    report connections and addresses on stderr\n"
"  -h, --help            this text\n"
"  -V, --version         the version\n"
"\n"
"Exit status: 0 done, 1 runtime or network error, 2 usage error.\n"
"See nsock(1) for the rules of when a session ends.\n";

/* SECS as milliseconds: a positive number, fractions allowed. */
static int
parse_seconds(const char *opt, const char *arg)
{
	char *end;
	double secs;

	errno = 0;
	secs = strtod(arg, &end);
	if (end == arg || *end != '\0' || errno != 0 || !isfinite(secs) ||
	    secs <= 0 || secs > SECONDS_MAX)
		usage_error("%s %s: not a number of seconds (0 < SECS <= %.0f)",
		    opt, arg, SECONDS_MAX);
	return (int)ceil(secs * 1000.0);
}

static long
parse_count(const char *opt, const char *arg)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (end == arg || *end != '\0' || errno != 0 || n < 1 ||
	    arg[0] == '+' || arg[0] == ' ')
		usage_error("%s %s: not a whole number from 1 up", opt, arg);
	return n;
}

/* A decimal port in [min, 65535], or -1 if arg is not all digits. */
static long
parse_port_number(const char *arg, long min)
{
	char *end;
	long n;

	if (arg[0] < '0' || arg[0] > '9')
		return -1;
	errno = 0;
	n = strtol(arg, &end, 10);
	if (*end != '\0')
		return -1;
	if (errno != 0 || n < min || n > 65535)
		usage_error("port %s: out of range (%ld to 65535)", arg, min);
	return n;
}

/* PORT: a number (0 only for a server) or a known service name. */
static void
check_port(const struct config *cfg)
{
	const char *proto = cfg->socktype == SOCK_DGRAM ? "udp" : "tcp";
	long min = cfg->role == ROLE_SERVER ? 0 : 1;

	if (parse_port_number(cfg->port, min) >= 0)
		return;
	if (getservbyname(cfg->port, proto) == NULL)
		usage_error("port %s: not a number (%ld to 65535) nor a %s "
		    "service name", cfg->port, min, proto);
}

/* -z takes PORT or LOW-HIGH, numbers only. */
static void
check_port_range(struct config *cfg)
{
	char lo[8], *dash = strchr(cfg->port, '-');
	long a, b;

	if (dash == NULL || (size_t)(dash - cfg->port) >= sizeof(lo)) {
		a = b = parse_port_number(dash == NULL ? cfg->port : "x", 1);
	} else {
		memcpy(lo, cfg->port, (size_t)(dash - cfg->port));
		lo[dash - cfg->port] = '\0';
		a = parse_port_number(lo, 1);
		b = parse_port_number(dash + 1, 1);
	}
	if (a < 0 || b < 0)
		usage_error("port range %s: not PORT or LOW-HIGH", cfg->port);
	if (a > b)
		usage_error("port range %s: %ld is above %ld", cfg->port, a, b);
	cfg->port_lo = (unsigned)a;
	cfg->port_hi = (unsigned)b;
}

static void
set_role(struct config *cfg, enum role role, bool *given)
{
	if (*given && cfg->role != role)
		usage_error("-c, -l and -z choose a role: give one of them");
	cfg->role = role;
	*given = true;
}

static void
set_model(struct config *cfg, enum model model)
{
	if (cfg->model != MODEL_ONCE && cfg->model != model)
		usage_error("-k, --fork, --threads, --poll: conflicting "
		    "options (give one server model)");
	cfg->model = model;
}

static void
set_once(int *field, int value, int unset, const char *what)
{
	if (*field != unset && *field != value)
		usage_error("%s: conflicting options", what);
	*field = value;
}

/* One option into cfg; a line or two each. */
static void
parse_option(struct config *cfg, int opt, bool *role_given)
{
	switch (opt) {
	case 't': set_once(&cfg->socktype, SOCK_STREAM, 0, "-t and -u"); break;
	case 'u': set_once(&cfg->socktype, SOCK_DGRAM, 0, "-t and -u"); break;
	case '4': set_once(&cfg->family, AF_INET, AF_UNSPEC, "-4 and -6"); break;
	case '6': set_once(&cfg->family, AF_INET6, AF_UNSPEC, "-4 and -6"); break;
	case 'c': set_role(cfg, ROLE_CLIENT, role_given); break;
	case 'l': set_role(cfg, ROLE_SERVER, role_given); break;
	case 'z': set_role(cfg, ROLE_PROBE, role_given); break;
	case 'w': cfg->timeout_ms = parse_seconds("-w", optarg); break;
	case 'v': cfg->verbose = true; break;
	case OPT_ECHO: cfg->echo = true; break;
	case OPT_BROKER: cfg->broker = true; break;
	case 'k': set_model(cfg, MODEL_ITERATIVE); break;
	case OPT_FORK: set_model(cfg, MODEL_FORK); break;
	case OPT_THREADS: set_model(cfg, MODEL_THREADS); break;
	case OPT_POLL: set_model(cfg, MODEL_POLL); break;
	case 'e': cfg->exec_cmd = optarg; break;
	case OPT_COUNT: cfg->count = parse_count("--count", optarg); break;
	case OPT_MAX_CONNS:
		cfg->max_conns = parse_count("--max-conns", optarg); break;
	case OPT_RETRY: cfg->retry_ms = parse_seconds("--retry", optarg); break;
	case OPT_PORT_FILE: cfg->port_file = optarg; break;
	case OPT_NO_SHUTDOWN: cfg->no_shutdown = true; break;
	case OPT_SEND_ONLY: set_once((int *)&cfg->dirs, DIR_SEND_ONLY, DIR_BOTH,
	    "--send-only and --recv-only"); break;
	case OPT_RECV_ONLY: set_once((int *)&cfg->dirs, DIR_RECV_ONLY, DIR_BOTH,
	    "--send-only and --recv-only"); break;
	case 'h': fputs(help_text, stdout); exit(EXIT_OK);
	case 'V': puts("nsock " NSOCK_VERSION); exit(EXIT_OK);
	}
}

/* getopt found an option it does not know, or one without its value. */
static void
bad_option(int opt, char **argv)
{
	const char *arg = argv[optind - 1];

	if (optopt != 0 && opt == ':')
		usage_error("-%c: needs a value", optopt);
	if (opt == ':')
		usage_error("%s: needs a value", arg);
	if (optopt != 0)
		usage_error("-%c: unknown option", optopt);
	usage_error("%s: unknown option", arg);
}

/* The words after the options: HOST PORT, [ADDRESS] PORT. */
static void
take_operands(struct config *cfg, int n, char **v)
{
	int want_min = cfg->role == ROLE_SERVER ? 1 : 2;

	if (n < want_min)
		usage_error("missing operand: %s", n == 0 && want_min == 2 ?
		    "HOST and PORT" : "PORT");
	if (n > 2)
		usage_error("%s: one operand too many", v[2]);
	cfg->host = n == 2 ? v[0] : NULL;
	cfg->port = v[n - 1];
	if (cfg->host != NULL && cfg->host[0] == '\0')
		usage_error("HOST: empty");
}

/* Reject an option given where it means nothing. */
static void
only_if(bool given, bool allowed, const char *opt, const char *where)
{
	if (given && !allowed)
		usage_error("%s: only %s", opt, where);
}

/* Every usage error not found while parsing is found here. */
static void
check_config(struct config *cfg)
{
	bool udp = cfg->socktype == SOCK_DGRAM;
	bool server = cfg->role == ROLE_SERVER;
	bool client = cfg->role == ROLE_CLIENT;
	bool tcp_session = !udp && cfg->role != ROLE_PROBE;

	if (cfg->role == ROLE_PROBE) {
		only_if(udp, false, "-u", "TCP ports can be probed");
		check_port_range(cfg);
	} else
		check_port(cfg);
	only_if(cfg->port_file != NULL, server, "--port-file", "with -l");
	only_if(cfg->retry_ms > 0, client, "--retry", "with -c");
	only_if(cfg->echo, server, "--echo", "with -l");
	only_if(cfg->count > 0, server, "--count", "with -l");
	only_if(cfg->model != MODEL_ONCE, server && !udp,
	    "-k, --fork, --threads and --poll", "for a TCP server (-l)");
	only_if(cfg->max_conns > 0, cfg->model != MODEL_ONCE, "--max-conns",
	    "with -k, --fork, --threads or --poll");
	only_if(cfg->exec_cmd != NULL, server && !udp, "-e", "for a TCP "
	    "server (-l)");
	only_if(cfg->broker, cfg->model == MODEL_FORK ||
	    cfg->model == MODEL_THREADS || cfg->model == MODEL_POLL,
	    "--broker", "with --fork, --threads or --poll");
	only_if((cfg->exec_cmd != NULL) + cfg->echo + cfg->broker > 1, false,
	    "-e, --echo and --broker", "one of them");
	tcp_session = tcp_session && cfg->exec_cmd == NULL && !cfg->echo &&
	    !cfg->broker;
	only_if(cfg->no_shutdown, tcp_session, "--no-shutdown",
	    "for a TCP session relaying stdin and stdout");
	only_if(cfg->dirs != DIR_BOTH, tcp_session,
	    "--send-only and --recv-only",
	    "for a TCP session relaying stdin and stdout");
	/* --count alone means "serve N clients": one after another. */
	if (cfg->count > 0 && !udp && cfg->model == MODEL_ONCE)
		cfg->model = MODEL_ITERATIVE;
}

static void
parse_args(int argc, char **argv, struct config *cfg)
{
	bool role_given = false;
	int opt;

	memset(cfg, 0, sizeof(*cfg));
	cfg->family = AF_UNSPEC;
	cfg->timeout_ms = -1;
	opterr = 0;	/* our own message, in our own format */
	while ((opt = getopt_long(argc, argv, short_opts, long_opts,
	    NULL)) != -1) {
		if (opt == '?' || opt == ':')
			bad_option(opt, argv);
		parse_option(cfg, opt, &role_given);
	}
	if (cfg->socktype == 0)
		cfg->socktype = SOCK_STREAM;
	if (!role_given)
		cfg->role = ROLE_CLIENT;	/* as netcat: HOST PORT */
	take_operands(cfg, argc - optind, argv + optind);
}

/*
 * A closed 0, 1 or 2 would be handed to the next socket we open, and bytes
 * meant for stdout would go to the peer. Fill the gap: stdin reads as
 * empty, a closed stdout is opened read-only so that writing to it still
 * fails (EBADF) and is reported, and messages to a closed stderr vanish.
 */
static void
fill_closed_stdio(void)
{
	static const int mode[3] = { O_RDONLY, O_RDONLY, O_WRONLY };
	int fd;

	for (fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF &&
		    open("/dev/null", mode[fd]) != fd)
			_exit(EXIT_RUNTIME);
}

/* The mode for each role, by transport: [role][is UDP]. */
static int (*const modes[][2])(const struct config *) = {
	[ROLE_CLIENT] = { run_client, run_udp_client },
	[ROLE_SERVER] = { run_server, run_udp_server },
	[ROLE_PROBE] = { run_probe, run_probe },
};

int
main(int argc, char **argv)
{
	struct config cfg;

	fill_closed_stdio();
	sig_init();
	parse_args(argc, argv, &cfg);
	check_config(&cfg);
	atexit(io_stdio_restore);
	return modes[cfg.role][cfg.socktype == SOCK_DGRAM](&cfg);
}
