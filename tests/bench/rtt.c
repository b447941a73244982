/*
 * rtt.c: the driver of the latency benchmark (latency.sh). Runs CMD N
 * times, one after another, each with its stdin a pipe that holds INPUT
 * and then ends (as `printf x | CMD` would) and its stdout a pipe, and
 * times each invocation from fork(2) to waitpid(2); then checks that CMD
 * exited 0 and wrote EXPECT (by default INPUT). W invocations first warm
 * the caches and are not counted. Prints one line (times in ms):
 *
 *   n=N mean=A p50=B p90=C p99=D min=E max=F failures=K
 *
 * stderr of CMD goes to this program's stderr.
 *
 *   rtt -n N [-w W] [-i INPUT] [-e EXPECT] -- CMD [ARG...]
 */
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One invocation: its time in ns, or -1 if it failed. */
static int64_t
once(char **cmd, const char *input, const char *expect)
{
	char out[4096];
	size_t got = 0, in_len = strlen(input);
	int in[2], o[2], status;
	int64_t t0, t;
	ssize_t n;
	pid_t pid;

	if (pipe(in) == -1 || pipe(o) == -1 ||
	    write(in[1], input, in_len) != (ssize_t)in_len) {
		perror("rtt: pipe");
		exit(1);
	}
	close(in[1]);
	t0 = now_ns();
	if ((pid = fork()) == -1) {
		perror("rtt: fork");
		exit(1);
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(o[1], 1);
		close(in[0]);
		close(o[0]);
		close(o[1]);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	t = now_ns() - t0;
	close(in[0]);
	close(o[1]);
	while ((n = read(o[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	close(o[0]);
	out[got] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    strcmp(out, expect) != 0)
		return -1;
	return t;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	const char *input = "x", *expect = NULL;
	int64_t *t, sum = 0;
	long n = 100, warm = 5, i, k = 0, fails = 0;
	int ch;

	while ((ch = getopt(argc, argv, "+n:w:i:e:")) != -1)
		switch (ch) {
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'w': warm = strtol(optarg, NULL, 10); break;
		case 'i': input = optarg; break;
		case 'e': expect = optarg; break;
		default: goto usage;
		}
	if (n <= 0 || optind >= argc || (t = calloc((size_t)n,
	    sizeof(*t))) == NULL)
		goto usage;
	expect = expect ? expect : input;
	for (i = 0; i < warm; i++)
		(void)once(argv + optind, input, expect);
	for (i = 0; i < n; i++)
		if ((t[k] = once(argv + optind, input, expect)) == -1)
			fails++;
		else
			sum += t[k++];
	if (k == 0) {
		printf("n=0 failures=%ld\n", fails);
		return 1;
	}
	qsort(t, (size_t)k, sizeof(*t), cmp64);
	printf("n=%ld mean=%.3f p50=%.3f p90=%.3f p99=%.3f min=%.3f max=%.3f "
	    "failures=%ld\n", k, (double)sum / (double)k / 1e6,
	    (double)t[k / 2] / 1e6, (double)t[k * 9 / 10] / 1e6,
	    (double)t[k * 99 / 100] / 1e6, (double)t[0] / 1e6,
	    (double)t[k - 1] / 1e6, fails);
	return fails != 0;
usage:
	fprintf(stderr, "usage: rtt -n N [-w W] [-i INPUT] [-e EXPECT] -- "
	    "CMD [ARG...]\n");
	return 2;
}
