/*
 * nsock.c: main. argv -> struct config -> check it once (every usage error
 * is found here) -> run the mode that role and transport select -> status.
 */
#include <sys/socket.h>
#include <sys/un.h>

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

#define NSOCK_VERSION	"0.2.0"
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
	OPT_ALLOW,
	OPT_DENY,
	OPT_STATS,
	OPT_PROGRESS,
};

/* The leading colon makes getopt tell a missing value from an unknown one. */
static const char short_opts[] = ":tu46clkze:w:s:p:U:vhV";

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
	{ "unix",		required_argument,	NULL,	'U' },
	{ "source",		required_argument,	NULL,	's' },
	{ "source-port",	required_argument,	NULL,	'p' },
	{ "allow",		required_argument,	NULL,	OPT_ALLOW },
	{ "deny",		required_argument,	NULL,	OPT_DENY },
	{ "stats",		no_argument,		NULL,	OPT_STATS },
	{ "progress",		no_argument,		NULL,	OPT_PROGRESS },
	{ "help",		no_argument,		NULL,	'h' },
	{ "version",		no_argument,		NULL,	'V' },
	{ NULL,			0,			NULL,	0 },
};

static const char help_text[] =
"usage: nsock [options] -c HOST PORT          client\n"
"       nsock [options] -l [ADDRESS] PORT     server (PORT 0: any free port)\n"
"       nsock [options] -z HOST PORT[-PORT]   probe which ports accept TCP\n"
"       nsock [options] -c|-l -U PATH         the same over a Unix socket\n"
"Moves bytes between stdin/stdout and a TCP, UDP or Unix domain socket.\n"
"\n"
"Role:\n"
"  -c, --connect           client (the default with HOST PORT)\n"
"  -l, --listen            server\n"
"  -z                      probe ports; print each open one; exit 0 if any\n"
"Transport and addresses:\n"
"  -t, --tcp               TCP (the default)\n"
"  -u, --udp               UDP: one read is one datagram\n"
"  -4, -6                  IPv4 only, IPv6 only\n"
"  -U, --unix PATH         a Unix socket, not HOST PORT (@NAME: abstract)\n"
"  -s, --source ADDRESS    client: connect from this local address\n"
"  -p, --source-port PORT  client: connect from this local port\n"
"      --allow SPEC        server: only peers in ADDRESS[/PREFIX] (repeatable)\n"
"      --deny SPEC         server: refuse peers in ADDRESS[/PREFIX]; deny wins\n"
"Server model (TCP; without one, -l serves a single client):\n"
"  -k, --iterative         one client after another (also --keep-open)\n"
"      --fork              a process for each client\n"
"      --threads           a thread for each client\n"
"      --poll              all clients in one process (an event loop)\n"
"      --max-conns N       at most N clients at once; others wait\n"
"Handlers (server; default: relay stdin and stdout):\n"
"  -e, --exec CMD          run /bin/sh -c CMD, the connection its stdin/stdout\n"
"      --echo              send back what each client (UDP: sender) sends\n"
"      --broker            relay each client's bytes to all the others\n"
"Lifecycle:\n"
"  -w, --timeout SECS      bound on connecting and on a session idle that long\n"
"      --retry SECS        client: keep trying to connect for up to SECS\n"
"      --count N           server: exit after N clients (UDP: N datagrams)\n"
"      --port-file FILE    server: once listening, write the port to FILE\n"
"      --no-shutdown       do not half-close the connection when stdin ends\n"
"      --send-only         only send stdin; end once it is sent\n"
"      --recv-only         only receive; half-close at once\n"
"Output:\n"
"  -v                      report connections, addresses, refusals on stderr\n"
"      --stats             a summary line on stderr as each session ends\n"
"      --progress          a meter on stderr, when it is a terminal\n"
"  -h, --help              this text\n"
"  -V, --version           the version\n"
"\n"
"Exit status: 0 done, 1 runtime or network error, 2 usage error.\n"
"nsock(1): when a session ends; netcat's flags and their nsock names.\n";

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

/* A decimal port in [min, 65535], or -1 if arg is not all digits; what
 * names it in the usage error ("port", "-p"). */
static long
parse_port_number(const char *what, const char *arg, long min)
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
		usage_error("%s %s: out of range (%ld to 65535)", what, arg,
		    min);
	return n;
}

/* A port: a number from min or a known service name. */
static void
check_port(const struct config *cfg, const char *what, const char *port,
    long min)
{
	const char *proto = cfg->socktype == SOCK_DGRAM ? "udp" : "tcp";

	if (parse_port_number(what, port, min) >= 0)
		return;
	if (getservbyname(port, proto) == NULL)
		usage_error("%s %s: not a number (%ld to 65535) nor a %s "
		    "service name", what, port, min, proto);
}

/* -z takes PORT or LOW-HIGH, numbers only. */
static void
check_port_range(struct config *cfg)
{
	char lo[8], *dash = strchr(cfg->port, '-');
	long a, b;

	if (dash == NULL || (size_t)(dash - cfg->port) >= sizeof(lo)) {
		a = b = parse_port_number("port", dash == NULL ? cfg->port :
		    "x", 1);
	} else {
		memcpy(lo, cfg->port, (size_t)(dash - cfg->port));
		lo[dash - cfg->port] = '\0';
		a = parse_port_number("port", lo, 1);
		b = parse_port_number("port", dash + 1, 1);
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
	bool client_server = (cfg->role == ROLE_CLIENT &&
	    role == ROLE_SERVER) || (cfg->role == ROLE_SERVER &&
	    role == ROLE_CLIENT);

	if (*given && cfg->role != role)
		usage_error("-c, -l and -z choose a role: give one of them%s",
		    client_server ? " (ncat's -c CMD is -e CMD here)" : "");
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

/* --allow or --deny SPEC, added to the rules. */
static void
add_rule(struct config *cfg, const char *spec, bool deny)
{
	char why[ERR_STRLEN];

	if (access_add(&cfg->access, spec, deny, why) == 0)
		return;
	if (errno == ENOMEM)
		die(EXIT_RUNTIME, "%s %s:", deny ? "--deny" : "--allow", spec);
	usage_error("%s %s: %s", deny ? "--deny" : "--allow", spec, why);
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
	case 'U': cfg->unix_path = optarg; break;
	case 's': cfg->source_host = optarg; break;
	case 'p': cfg->source_port = optarg; break;
	case OPT_ALLOW: add_rule(cfg, optarg, false); break;
	case OPT_DENY: add_rule(cfg, optarg, true); break;
	case OPT_STATS: cfg->stats = true; break;
	case OPT_PROGRESS: cfg->progress = true; break;
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

/* Options of nc.openbsd and ncat that nsock spells differently or does
 * not have, and what to do instead. */
static const struct netcat_hint {
	const char	*opt;
	const char	*hint;
} netcat_hints[] = {
	{ "-N", "nsock half-closes when stdin ends, as nc -N; --no-shutdown "
	    "does not" },
	{ "-q", "nsock exits once the peer is done, no fixed wait; -w SECS "
	    "bounds idle time" },
	{ "-d", "to leave stdin unread, as nc -d, use --recv-only" },
	{ "-n", "numeric addresses are never looked up in DNS" },
	{ "--nodns", "numeric addresses are never looked up in DNS" },
	{ "-i", "for an idle timeout, as ncat -i, use -w SECS" },
	{ "--idle-timeout", "for an idle timeout use -w SECS" },
	{ "--wait", "that is -w SECS, --timeout SECS" },
	{ "-x", "nsock has no proxy (nc -x, -X) nor hex dump (ncat -x)" },
	{ "-X", "nsock has no proxy (nc -x, -X)" },
	{ "--proxy", "nsock has no proxy" },
	{ "-C", "bytes go as they are; for CRLF line ends, convert before: "
	    "sed 's/$/\\r/'" },
	{ "--crlf", "bytes go as they are; for CRLF line ends, convert before: "
	    "sed 's/$/\\r/'" },
	{ "--ssl", "nsock has no TLS: use ncat --ssl or openssl s_client" },
	{ "--sh-exec", "use -e CMD, which runs /bin/sh -c CMD" },
	{ "--chat", "--broker relays each client's bytes to the others" },
	{ "--allowfile", "give --allow SPEC for each address" },
	{ "--denyfile", "give --deny SPEC for each address" },
	{ "--unixsock", "that is -U PATH, --unix PATH" },
	{ "-o", "redirect stdout instead: nsock ... > FILE" },
	{ "--output", "redirect stdout instead: nsock ... > FILE" },
};

/* What nsock offers for netcat's option opt ("-N", "--ssl=..."), or NULL. */
static const char *
netcat_hint(const char *opt)
{
	size_t i, len = strcspn(opt, "=");

	for (i = 0; i < sizeof(netcat_hints) / sizeof(netcat_hints[0]); i++)
		if (strlen(netcat_hints[i].opt) == len &&
		    strncmp(netcat_hints[i].opt, opt, len) == 0)
			return netcat_hints[i].hint;
	return NULL;
}

/* getopt found an option it does not know, one without its value, or a
 * long one given a value it does not take ("--tcp=1"). */
static void
bad_option(int opt, char **argv)
{
	/* optopt: a short option's letter, or a long option's value (its
	 * letter for --tcp and the like, 256 up for the others, 0 when the
	 * name is unknown). A long option is the whole of argv[optind - 1];
	 * a short one, a letter in a bundle that may go on in argv[optind]
	 * ("-ql"), so argv[optind - 1] may be the word before it. */
	char shortopt[3] = { '-', (char)optopt, '\0' };
	const char *word = argv[optind - 1];
	bool unknown_letter = optopt != 0 && optopt < 256 &&
	    (optopt == ':' || strchr(short_opts, optopt) == NULL);
	bool is_long = opt == ':' ? strncmp(word, "--", 2) == 0 :
	    !unknown_letter;
	const char *arg = is_long ? word : shortopt;
	const char *hint = netcat_hint(arg);

	if (opt == ':')
		usage_error("%s: needs a value", arg);
	if (is_long && optopt != 0)
		usage_error("%s: takes no value", arg);
	if (hint != NULL)
		usage_error("%s: unknown option (%s)", arg, hint);
	usage_error("%s: unknown option", arg);
}

/* nc -l -p PORT, nc -l -s ADDRESS: nsock takes a server's port and address
 * as operands. Said before the operands are found missing. */
static void
check_listen_habits(const struct config *cfg)
{
	if (cfg->role != ROLE_SERVER)
		return;
	if (cfg->source_port != NULL)
		usage_error("-p %s: a client's source port; a server listens "
		    "on its operand: nsock -l [ADDRESS] PORT", cfg->source_port);
	if (cfg->source_host != NULL)
		usage_error("-s %s: a client's source address; a server takes "
		    "its operand: nsock -l [ADDRESS] PORT", cfg->source_host);
}

/* The words after the options: HOST PORT, [ADDRESS] PORT. */
static void
take_operands(struct config *cfg, int n, char **v)
{
	int want_min = cfg->role == ROLE_SERVER ? 1 : 2;

	if (cfg->unix_path != NULL && n > 0)
		usage_error("%s: -U PATH takes no HOST or PORT operand", v[0]);
	if (cfg->unix_path != NULL)
		return;
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

/* -s and -p: a client's; a non-empty address, a port from 1. */
static void
check_source(const struct config *cfg)
{
	if (cfg->source_host == NULL && cfg->source_port == NULL)
		return;
	if (cfg->role != ROLE_CLIENT)
		usage_error("-s and -p: only for a client (-c)");
	if (cfg->source_host != NULL && cfg->source_host[0] == '\0')
		usage_error("-s: empty ADDRESS");
	if (cfg->source_port != NULL)
		check_port(cfg, "-p", cfg->source_port, 1);
}

/* Reject an option given where it means nothing. */
static void
only_if(bool given, bool allowed, const char *opt, const char *where)
{
	if (given && !allowed)
		usage_error("%s: only %s", opt, where);
}

/* -U PATH: a path or @NAME that fits sun_path, and none of the options
 * that only an IP socket means something with. */
static void
check_unix(const struct config *cfg)
{
	struct sockaddr_un sun;
	size_t max = sizeof(sun.sun_path) - (cfg->unix_path[0] == '@' ? 0 : 1);

	only_if(cfg->role == ROLE_PROBE, false, "-z", "probes TCP ports, "
	    "not with -U");
	only_if(cfg->family != AF_UNSPEC, false, "-4 and -6", "for IP, not "
	    "with -U");
	only_if(cfg->source_host != NULL || cfg->source_port != NULL, false,
	    "-s and -p", "for a TCP or UDP client, not with -U");
	only_if(cfg->access.n > 0, false, "--allow and --deny", "for an IP "
	    "server: a Unix socket's peer has no address");
	only_if(cfg->port_file != NULL, false, "--port-file", "with a port, "
	    "not with -U (wait for the socket file instead)");
	if (cfg->unix_path[0] == '\0')
		usage_error("-U: empty PATH");
	if (strcmp(cfg->unix_path, "@") == 0)
		usage_error("-U @: empty abstract name");
	if (strlen(cfg->unix_path) > max)
		usage_error("-U %.32s...: too long (at most %zu bytes)",
		    cfg->unix_path, max);
}

/* Every usage error not found while parsing is found here. */
static void
check_config(struct config *cfg)
{
	bool udp = cfg->socktype == SOCK_DGRAM;
	bool server = cfg->role == ROLE_SERVER;
	bool client = cfg->role == ROLE_CLIENT;
	bool tcp_session = !udp && cfg->role != ROLE_PROBE;

	if (cfg->unix_path != NULL)
		check_unix(cfg);
	else if (cfg->role == ROLE_PROBE) {
		only_if(udp, false, "-u", "TCP ports can be probed");
		check_port_range(cfg);
	} else
		check_port(cfg, "port", cfg->port,
		    cfg->role == ROLE_SERVER ? 0 : 1);
	check_source(cfg);
	only_if(cfg->port_file != NULL, server, "--port-file", "with -l");
	only_if(cfg->retry_ms > 0, client, "--retry", "with -c");
	only_if(cfg->echo, server, "--echo", "with -l");
	only_if(cfg->access.n > 0, server, "--allow and --deny",
	    "for a server (-l)");
	only_if(cfg->count > 0, server, "--count", "with -l");
	only_if(cfg->model != MODEL_ONCE, server && !udp,
	    "-k, --fork, --threads and --poll", "for a TCP server (-l)");
	/* --count alone means "serve N clients": one after another. */
	if (cfg->count > 0 && server && !udp && cfg->model == MODEL_ONCE)
		cfg->model = MODEL_ITERATIVE;
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
	only_if(cfg->stats, cfg->role != ROLE_PROBE, "--stats", "for a "
	    "session, not with -z");
	only_if(cfg->progress, udp || (tcp_session && cfg->model ==
	    MODEL_ONCE), "--progress", "for one session: a client, a UDP "
	    "server or a one-client server relaying stdin and stdout");
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
	check_listen_habits(cfg);
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
