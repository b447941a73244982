#!/usr/bin/env bats
# Bugs that make chaos and make valgrind found, each pinned down with the
# fault that shows it, made likely enough to fail every time without the
# fix.

bats_require_minimum_version 1.5.0
load ../helpers
load lib

# A worker's wake-up byte to the main loop, lost to EINTR, left a --count
# server asleep after its last client for good.
@test "--threads --count: EINTR on 9 calls in 10, the server still ends" {
	export NSOCK_FAULT_EINTR=0.9
	start_server --threads --echo --count 8 </dev/null >/dev/null
	for i in 1 2 3 4 5 6 7 8; do
		echo "client $i" | timeout 10 "$NSOCK" -c 127.0.0.1 "$PORT" >"out.$i"
		[ "$(cat "out.$i")" = "client $i" ]
	done
	run timeout 5 tail --pid="$SERVER_PID" -f /dev/null
	[ "$status" -eq 0 ]
}

# -z took an interrupted connect for a closed port; POSIX says it goes on.
@test "connect(2) always EINTR: -z still finds the open port" {
	export NSOCK_FAULT_STATS=$T/stats NSOCK_FAULT_CONNECT_EINTR=1
	start_server </dev/null >/dev/null
	run timeout 10 "$NSOCK" -z 127.0.0.1 "$PORT"
	[ "$status" -eq 0 ]
	[ "$(total connect_eintr)" -ge 1 ]
}

# Without a pidfd (EMFILE; valgrind has no pidfd_open) a server blocked in
# waitpid for -e's command and did not hear SIGTERM until it ended.
no_pidfd_sigterm() {
	NSOCK_FAULT_NO_PIDFD=1 start_server "$1" -e 'exec sleep 32.5' \
	    </dev/null >/dev/null
	bg timeout 10 "$NSOCK" -c 127.0.0.1 "$PORT" < <(sleep 30)
	for _ in $(seq 250); do
		pgrep -fx 'sleep 32.5' >/dev/null && break
		sleep 0.02
	done
	pgrep -fx 'sleep 32.5' >/dev/null
	start=$(date +%s%N)
	kill -TERM "$(pgrep -P "$SERVER_PID")"
	wait "$SERVER_PID"
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 1500 ]
	[ -z "$(pgrep -fx 'sleep 32.5')" ]
}

@test "-k -e, no pidfd: SIGTERM still ends the server and the command" {
	no_pidfd_sigterm -k
}

@test "--threads -e, no pidfd: SIGTERM still ends the server and the command" {
	no_pidfd_sigterm --threads
}

# -U took an interrupted connect(2) for a failure; on a Unix socket the
# call can be made again, and EISCONN then means it had gone through.
@test "connect(2) always EINTR: -U still connects, bytes exact" {
	export NSOCK_FAULT_STATS=$T/stats NSOCK_FAULT_CONNECT_EINTR=1
	SOCK=$T/s
	bg timeout 20 "$NSOCK" -l -U "$SOCK" </dev/null >out
	local server=$BG_PID
	wait_for_socket "$SOCK"
	random_file in 1M
	timeout 10 "$NSOCK" -U "$SOCK" <in
	wait "$server"
	same in out
	[ "$(total connect_eintr)" -ge 1 ]
}
