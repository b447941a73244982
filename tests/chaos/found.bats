#!/usr/bin/env bats
# Bugs that make chaos found, each pinned down with the fault that found
# it, made likely enough to fail every time without the fix.

bats_require_minimum_version 1.5.0
load ../helpers

NSOCK=$BATS_TEST_DIRNAME/nsock-chaos
export NSOCK_FAULT_SEED=${NSOCK_FAULT_SEED:-1}
# Each test asks for the faults it needs, whatever make chaos exported.
export NSOCK_FAULT_SHORT=0 NSOCK_FAULT_EINTR=0 NSOCK_FAULT_EAGAIN=0

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
