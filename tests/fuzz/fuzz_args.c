/*
 * fuzz_args.c: a libFuzzer target for the command line (make fuzz).
 *
 * The input is what follows "nsock" in argv, split on NUL bytes (a final
 * NUL ends the last argument). Each input goes through parse_args() and
 * check_config() as main() runs them, and must end either in a config or
 * in exit 0 (-h, -V), 1 (die) or 2 (usage_error); a crash, a sanitizer
 * report, a leak or any other exit status is a finding. No mode runs:
 * nothing connects, listens or resolves a host (check_port looks service
 * names up with getservbyname, in /etc/services).
 *
 * nsock.c is included, not linked, to reach its static parser; its main
 * is renamed and never called. The binary is linked with -Wl,--wrap=exit,
 * so every exit() (report.c's die and usage_error, nsock.c's -h and -V)
 * comes to __wrap_exit below, which checks the status and jumps back to
 * the input's start: one process for every input, no fork.
 */
#define main nsock_main
#include "nsock.c"
#undef main

#include <setjmp.h>

void	__real_exit(int) __attribute__((noreturn));
void	__wrap_exit(int) __attribute__((noreturn));
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static jmp_buf parse_done;
static bool parsing;		/* exit() is the parser's, not libFuzzer's */

void
__wrap_exit(int status)
{
	if (!parsing)
		__real_exit(status);
	if (status != EXIT_OK && status != EXIT_RUNTIME && status != EXIT_USAGE)
		abort();
	parsing = false;
	longjmp(parse_done, 1);
}

/* argv for data: "nsock", then data split on NUL bytes, then NULL; the
 * strings are in *buf, a copy of data. */
static char **
make_argv(const uint8_t *data, size_t size, char **buf, int *argc)
{
	static char prog[] = "nsock";
	char **argv;
	size_t i, n = 1;

	for (i = 0; i < size; i++)
		n += data[i] == '\0';
	*buf = malloc(size + 1);
	argv = calloc(n + 2, sizeof(*argv));
	if (*buf == NULL || argv == NULL)
		abort();
	memcpy(*buf, data, size);
	(*buf)[size] = '\0';
	argv[0] = prog;
	*argc = 1;
	for (i = 0; i < size; i += strlen(*buf + i) + 1)
		argv[(*argc)++] = *buf + i;
	return argv;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;	/* kept in memory across longjmp */
	char *buf, **argv;
	int argc;

	argv = make_argv(data, size, &buf, &argc);
	optind = 0;	/* glibc: start over, forget a bundle left half-read */
	if (setjmp(parse_done) == 0) {
		parsing = true;
		parse_args(argc, argv, &cfg);
		check_config(&cfg);
		parsing = false;
	}
	free(cfg.access.rules);	/* what --allow and --deny allocated */
	free(argv);
	free(buf);
	return 0;
}
