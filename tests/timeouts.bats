#!/usr/bin/env bats
# -w bounds connecting and a session that moves no byte; --retry bounds
# waiting for a server. Each test waits for facts; the durations asserted
# are wide bounds that tell "bounded" from "hangs", not benchmarks.

bats_require_minimum_version 1.5.0
load helpers

PEER="python3 $BATS_TEST_DIRNAME/peer.py"

ms_since() {
	echo $(( ($(date +%s%N) - $1) / 1000000 ))
}

@test "-w bounds a connect that gets no answer: exit 1, timed out" {
	# A listener with a full backlog that never accepts: the kernel drops
	# further SYNs, so a connect waits (loopback only, no outside host).
	bg timeout 30 $PEER no-accept "$T/pf"
	wait_for_file pf
	port=$(cat pf)
	# The first filler says when it is in the accept queue: until then
	# our connect could take its place (seen under load and make chaos).
	for i in 1 2 3; do
		bg timeout 20 python3 -c "import socket,time; s=socket.create_connection(('127.0.0.1', $port), timeout=10); open('$T/filler.$i', 'w').write('1'); time.sleep(20)"
		if [ "$i" -eq 1 ]; then wait_for_file filler.1; fi
	done
	start=$(date +%s%N)
	run --separate-stderr timeout 10 "$NSOCK" -w 1 -c 127.0.0.1 "$port" </dev/null
	[ "$status" -eq 1 ]
	[ "$stderr" = "nsock: connect to 127.0.0.1 port $port: Connection timed out" ]
	[ "$(ms_since "$start")" -lt 5000 ]
}

@test "-w ends a session with no data for that long: exit 1, one line" {
	start_server < <(sleep 20) >/dev/null
	start=$(date +%s%N)
	run --separate-stderr timeout 10 "$NSOCK" -w 0.5 -c 127.0.0.1 "$PORT" < <(sleep 20)
	[ "$status" -eq 1 ]
	[ "$stderr" = "nsock: connection to 127.0.0.1 port $PORT: timed out after 0.5 s without data" ]
	ms=$(ms_since "$start")
	[ "$ms" -ge 450 ]
	[ "$ms" -lt 5000 ]
}

@test "-w does not end a session that keeps moving bytes" {
	start_server </dev/null >out
	(for i in 1 2 3 4 5 6; do echo "tick $i"; sleep 0.3; done) |
	    timeout 10 "$NSOCK" -w 0.8 -c 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	[ "$(wc -l <out)" -eq 6 ]
}

@test "--retry gives up after its time: exit 1 with the last reason" {
	port=$(free_port)
	start=$(date +%s%N)
	run --separate-stderr timeout 10 "$NSOCK" --retry 1 -c 127.0.0.1 "$port" </dev/null
	ms=$(ms_since "$start")
	[ "$status" -eq 1 ]
	[ "$stderr" = "nsock: connect to 127.0.0.1 port $port: Connection refused" ]
	[ "$ms" -ge 900 ]
	[ "$ms" -lt 5000 ]
}

@test "the UDP client's wait after stdin ends is 1 s when -w is unset" {
	start_server -u </dev/null >/dev/null
	start=$(date +%s%N)
	echo x | timeout 10 "$NSOCK" -u -c 127.0.0.1 "$PORT"
	ms=$(ms_since "$start")
	[ "$ms" -ge 900 ]
	[ "$ms" -lt 3000 ]
}
