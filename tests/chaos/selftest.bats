#!/usr/bin/env bats
# The chaos harness proves itself: faults are really injected (a harness
# that silently injects nothing must fail here), only into nsock, and
# never a kind of fault that POSIX does not allow.

bats_require_minimum_version 1.5.0
load ../helpers
load lib

@test "a transfer under injection arrives exact, and faults of each kind were injected" {
	export NSOCK_FAULT_STATS=$T/stats NSOCK_FAULT_SHORT=0.3 \
	    NSOCK_FAULT_EINTR=0.1 NSOCK_FAULT_EAGAIN=0.1
	both_ways 16M
	[ "$(wc -l <stats)" -eq 2 ]	# the server's line and the client's
	echo "stats: $(cat stats)"
	[ "$(total short)" -gt 20 ]
	[ "$(total eintr)" -gt 5 ]
	[ "$(total eagain)" -gt 5 ]
}

@test "with no probabilities nothing is injected" {
	export NSOCK_FAULT_STATS=$T/stats NSOCK_FAULT_SHORT=0 \
	    NSOCK_FAULT_EINTR=0 NSOCK_FAULT_EAGAIN=0
	random_file in 1M
	start_server </dev/null >out
	timeout 20 "$NSOCK" -c 127.0.0.1 "$PORT" <in
	wait "$SERVER_PID"
	same in out
	[ "$(total calls)" -gt 10 ]
	[ "$(total short)" -eq 0 ]
	[ "$(total eintr)" -eq 0 ]
	[ "$(total eagain)" -eq 0 ]
}

# POSIX: a connect interrupted by a signal goes on asynchronously; poll
# for POLLOUT, then SO_ERROR says how it ended. Nothing else is faulted.
@test "connect(2) always EINTR: the client still connects and sends" {
	export NSOCK_FAULT_STATS=$T/stats NSOCK_FAULT_CONNECT_EINTR=1
	echo hello >in
	start_server </dev/null >out
	timeout 10 "$NSOCK" -c 127.0.0.1 "$PORT" <in
	wait "$SERVER_PID"
	same in out
	[ "$(total connect_eintr)" -ge 1 ]
}

@test "LD_PRELOAD reaches nsock alone, not the command -e runs" {
	start_server -e 'printf "[%s]" "${LD_PRELOAD-}"' </dev/null
	run timeout 10 "$NSOCK" -c 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 0 ]
	[ "$output" = "[]" ]
}

@test "datagrams are never cut: with every call short, UDP sizes stay whole" {
	export NSOCK_FAULT_SHORT=1
	start_server -u --count 3 </dev/null >out
	run timeout 10 python3 "$BATS_TEST_DIRNAME/../peer.py" udp-send \
	    "$PORT" 1 1000 60000
	wait "$SERVER_PID"
	[ "$(stat -c %s out)" -eq 61001 ]
}
