# nsock: `make` builds ./nsock; `make test` installs what the tests need
# (when missing), builds and runs every test; `make asan` runs the same
# suite under AddressSanitizer and UBSan; `make bench` measures;
# `make chaos` runs the network tests under injected faults; `make valgrind`
# the core tests under memcheck; `make fuzz` the parsers under libFuzzer;
# `make install PREFIX=...` installs nsock and nsock.1.

CC      ?= cc
PREFIX  ?= /usr/local
CFLAGS  ?= -O2 -g
WARN     = -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CPPFLAGS += -D_GNU_SOURCE -I.
LDLIBS  += -lm -pthread

SRCS = nsock.c $(wildcard modes/*.c)
OBJS = $(SRCS:.c=.o)

all: nsock

nsock: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

%.o: %.c nsock.h
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -pthread -c -o $@ $<

# Debian packages the tests use; installed only when one is missing.
TEST_DEPS = bats netcat-openbsd ncat socat curl python3 mandoc strace iproute2 procps

deps:
	@missing=; for p in $(TEST_DEPS); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# tests/chaos/fault.so too: servers.bats runs --poll on its poll(2)
# fallback with epoll_create1 failing (NSOCK_FAULT_NO_EPOLL).
test: deps nsock tests/chaos/fault.so
	@tests/run

# The same suite against ./nsock-asan, built under ASan and UBSan in
# build/asan/. Sanitizer exit codes differ from nsock's own 0/1/2, so a
# report can never pass for an expected failure. LeakSanitizer is off: its
# stop-the-world tracer (ptrace at exit) hung here once at a server's exit,
# and a hang costs CI more than the check gives; `make valgrind` checks
# for leaks instead.
SAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	    -fno-sanitize-recover=all
SAN_ENV   = ASAN_OPTIONS=exitcode=86:detect_leaks=0:abort_on_error=0 \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

build/asan/%.o: %.c nsock.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(SAN_FLAGS) -pthread -c -o $@ $<

nsock-asan: $(SRCS:%.c=build/asan/%.o)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

# ASAN_FILES: which test files (default: all of them).
ASAN_FILES ?=

asan: deps nsock-asan tests/chaos/fault.so
	$(SAN_ENV) NSOCK=$(CURDIR)/nsock-asan tests/run $(ASAN_FILES)

# ThreadSanitizer over what runs threads: the --threads tests of the
# server models and of resource exhaustion and abuse.
TSAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=thread

build/tsan/%.o: %.c nsock.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(TSAN_FLAGS) -pthread -c -o $@ $<

nsock-tsan: $(SRCS:%.c=build/tsan/%.o)
	$(CC) $(TSAN_FLAGS) -o $@ $^ $(LDLIBS)

# atexit_sleep_ms=0: TSan otherwise sleeps 1 s at exit while a detached
# thread is still on its way out, and the SIGTERM tests time the exit.
tsan: deps nsock-tsan
	TSAN_OPTIONS=exitcode=87:halt_on_error=1:atexit_sleep_ms=0 NSOCK=$(CURDIR)/nsock-tsan \
	    tests/run --filter threads tests/servers.bats tests/abuse.bats

# Fault injection (tests/chaos/fault.c, an LD_PRELOAD library for nsock
# alone): short counts, EINTR and EAGAIN where POSIX allows them, once per
# seed over the network tests (about 4.5 minutes a seed on 2 cores). Left
# out: cli.bats, whose tests end at the command line. On a failure the
# seed is printed; `make chaos CHAOS_SEEDS=$RANDOM` explores new ones.
CHAOS_SEEDS ?= 1 2 3
CHAOS_FILES ?= tests/tcp.bats tests/udp.bats tests/interop.bats tests/zerocopy.bats \
	       tests/servers.bats tests/timeouts.bats tests/probe.bats tests/unix.bats \
	       tests/abuse.bats tests/stalls.bats

tests/chaos/fault.so: tests/chaos/fault.c
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -fPIC -shared -o $@ $< -ldl -pthread

chaos: deps nsock tests/chaos/fault.so
	@tests/chaos/run "$(CHAOS_SEEDS)" $(CHAOS_FILES)

# The core tests with nsock under valgrind's memcheck: no memory error and
# no definite or indirect leak (tests/valgrind/nsock-valgrind exits 88).
# Time bounds stretch by NSOCK_TIME_SCALE (helpers.bash), never skipped.
# Then, with the servers alone under valgrind, the server tests that end
# by themselves in every model: --count with each handler (relay through
# the hub), broker and file replay (22 tests, 20 s; every server test,
# the SIGTERM ones waiting 30 s there for their clients' stdin: `make
# valgrind VALGRIND_SERVERS=.`).
VALGRIND_FILES   ?= tests/tcp.bats tests/cli.bats tests/udp.bats
VALGRIND_SERVERS ?= --count 3|a line reaches|replayed
VALGRIND = $(CURDIR)/tests/valgrind/nsock-valgrind

valgrind: nsock
	@$(MAKE) -s deps TEST_DEPS="$(TEST_DEPS) valgrind"
	@export NSOCK_TIME_SCALE=4; \
	NSOCK=$(VALGRIND) tests/run $(VALGRIND_FILES); s=$$?; \
	NSOCK_SERVER=$(VALGRIND) tests/run --filter '$(VALGRIND_SERVERS)' \
	    tests/servers.bats && exit $$s


# libFuzzer, with ASan and UBSan, over what parses untrusted text: the
# command line (tests/fuzz/fuzz_args.c: parse and check, every input a
# config or exit 0, 1 or 2; no crash, no leak) and --allow/--deny
# (tests/fuzz/fuzz_access.c). The UDP and broker paths parse nothing:
# they move datagrams and chunks whole, so they have no target. Both
# targets run at once for FUZZ_SECONDS (a core each), from the seeds in
# tests/fuzz/corpus/; what they find new stays in build/fuzz/. A crash,
# a leak or a sanitizer report fails (tests/fuzz/README.md).
FUZZ_CC      = clang
FUZZ_SECONDS ?= 60
FUZZ_DEPS    = clang libclang-rt-14-dev
FUZZ_FLAGS   = -O1 -g -fno-omit-frame-pointer \
	       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_MODES   = $(patsubst %.c,build/fuzz/%.o,$(wildcard modes/*.c))

build/fuzz/%.o: %.c nsock.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(WARN) $(FUZZ_FLAGS) -pthread -c -o $@ $<

# fuzz_args includes nsock.c, whose parser is static, and takes each
# exit() through --wrap=exit.
build/fuzz/fuzz_args: tests/fuzz/fuzz_args.c nsock.c $(FUZZ_MODES)
	$(FUZZ_CC) $(CPPFLAGS) $(WARN) $(FUZZ_FLAGS) -Wl,--wrap=exit -o $@ \
	    $< $(FUZZ_MODES) $(LDLIBS)

build/fuzz/fuzz_access: tests/fuzz/fuzz_access.c $(FUZZ_MODES)
	$(FUZZ_CC) $(CPPFLAGS) $(WARN) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_MODES) \
	    $(LDLIBS)

fuzz:
	@$(MAKE) -s deps TEST_DEPS="$(FUZZ_DEPS)"
	@$(MAKE) -s build/fuzz/fuzz_args build/fuzz/fuzz_access
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run args access


# `make bench`: every benchmark, 10-15 minutes; `BENCH_QUICK=1 make
# bench`: a quick pass of a couple of minutes (see tests/bench/README.md).
BENCH_DEPS = iproute2 procps netcat-openbsd socat ncat python3 busybox

bench: nsock
	@$(MAKE) -s deps TEST_DEPS="$(BENCH_DEPS)"
	tests/bench/run

install: nsock
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 nsock $(DESTDIR)$(PREFIX)/bin/nsock
	install -m 644 nsock.1 $(DESTDIR)$(PREFIX)/share/man/man1/nsock.1

clean:
	rm -rf nsock nsock-asan nsock-tsan $(OBJS) build tests/bench/out \
	    tests/chaos/fault.so

.PHONY: all deps test asan tsan chaos valgrind fuzz bench install clean
