# nsock: `make` builds ./nsock; `make test` installs what the tests need
# (when missing), builds and runs every test; `make asan` runs the same
# suite under AddressSanitizer and UBSan; `make bench` measures.

CC      ?= cc
PREFIX  ?= /usr/local
CFLAGS  ?= -O2 -g
WARN     = -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CPPFLAGS += -D_GNU_SOURCE -I.
LDLIBS  += -lm
SAN     ?=
ifneq ($(SAN),)
CFLAGS  += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SAN)
endif

SRCS = nsock.c $(wildcard modes/*.c)
OBJS = $(SRCS:.c=.o)

all: nsock

nsock: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

%.o: %.c nsock.h
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c -o $@ $<

# Debian packages the tests use; installed only when one is missing.
TEST_DEPS = bats netcat-openbsd ncat socat curl python3 mandoc

deps:
	@missing=; for p in $(TEST_DEPS); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

test: deps nsock
	@tests/run

# The same suite, with the binary built under ASan and UBSan.
asan:
	$(MAKE) clean
	$(MAKE) SAN=address,undefined CFLAGS="-O1 -g" nsock
	tests/run
	$(MAKE) clean

bench: nsock
	tests/bench/run

install: nsock
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 nsock $(DESTDIR)$(PREFIX)/bin/nsock
	install -m 644 nsock.1 $(DESTDIR)$(PREFIX)/share/man/man1/nsock.1

clean:
	rm -f nsock $(OBJS)

.PHONY: all deps test asan bench install clean
