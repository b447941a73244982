#!/usr/bin/env bats
# UDP (SPEC.md item 3): datagram boundaries kept, a connected client that
# reports "nobody listening", silence ending a session, replies to the
# last peer, --echo, --count.

bats_require_minimum_version 1.5.0
load helpers

# make chaos: one read of stdin is one datagram, and these tests count
# datagrams and their sizes, so reads are never cut short here (a short
# read would be a legal smaller datagram). Short writes to stdout, EINTR
# and EAGAIN still happen; datagrams themselves are never cut.
export NSOCK_FAULT_SHORT_READ=0

PEER="python3 $BATS_TEST_DIRNAME/peer.py"

# paced LINES...: print each line 0.1 s apart, so that each one is a
# separate read for nsock, hence a separate datagram; the first after
# 0.2 s, so that a slow start (valgrind) reads it alone too.
paced() {
	local line pause
	pause=$(scaled 0.1)
	sleep "$(scaled 0.2)"
	for line in "$@"; do
		printf '%s\n' "$line"
		sleep "$pause"
	done
}

@test "client: each read from stdin is one datagram, sizes kept" {
	bg timeout 10 $PEER udp-record "$T/pf" 3 "$T/sizes"
	wait_for_file pf
	paced a bbbb "$(head -c 1999 /dev/zero | tr '\0' x)" |
	    timeout 10 "$NSOCK" -u -c 127.0.0.1 "$(cat pf)"
	wait "$BG_PID"
	[ "$(cat sizes)" = "$(printf '2\n5\n2000')" ]
}

@test "client: a 65507-byte datagram, the largest, goes whole" {
	bg timeout 10 $PEER udp-record "$T/pf" 1 "$T/sizes"
	wait_for_file pf
	head -c 65507 /dev/urandom >big
	timeout 10 "$NSOCK" -u -c 127.0.0.1 "$(cat pf)" <big
	wait "$BG_PID"
	[ "$(cat sizes)" = 65507 ]
}

@test "server: each datagram is written to stdout whole, and --count ends it" {
	start_server -u --count 3 </dev/null >out
	run timeout 10 $PEER udp-send "$PORT" 1 1000 60000
	wait "$SERVER_PID"
	[ "$(stat -c %s out)" -eq 61001 ]
	python3 - "$T/out" <<-'EOF'
	import sys
	d = open(sys.argv[1], "rb").read()
	want = b"".join(bytes([(i + j) % 256 for j in range(n)])
	                for i, n in enumerate([1, 1000, 60000]))
	sys.exit(d != want)
	EOF
}

@test "client: nobody listening is an error (connection refused), exit 1" {
	port=$(python3 -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	run --separate-stderr timeout 10 "$NSOCK" -u -c 127.0.0.1 "$port" \
	    < <(paced one two three)
	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "nsock: "*"127.0.0.1 port $port: Connection refused" ]]
}

@test "--echo server: the client gets every datagram back, then exits 0 after 1 s of quiet" {
	start_server -u --echo </dev/null >out
	paced alpha beta gamma >in
	start=$SECONDS
	timeout 10 "$NSOCK" -u -c 127.0.0.1 "$PORT" < <(paced alpha beta gamma) >got
	elapsed=$((SECONDS - start))
	same in got
	same in out
	[ "$elapsed" -le "$(scaled 4)" ]
}

@test "client: -w sets the quiet time after stdin ends" {
	start_server -u --echo </dev/null >/dev/null
	start=$(date +%s%N)
	echo ping | timeout 10 "$NSOCK" -u -w 0.3 -c 127.0.0.1 "$PORT" >got
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$(cat got)" = ping ]
	[ "$ms" -ge 250 ]
	[ "$ms" -lt "$(scaled 1000)" ]
}

@test "server: stdin goes to the peer heard from last, only once one is heard" {
	start_server -u < <(sleep "$(scaled 0.5)"; echo reply one;
	    sleep "$(scaled 0.3)"; echo reply two) >out
	run timeout 10 $PEER udp-send "$PORT" 5
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '10\n10')" ]
}

@test "server: every sender is heard, not only the first" {
	start_server -u --count 4 </dev/null >out
	for i in 1 2 3 4; do
		echo "sender $i" | timeout 5 "$NSOCK" -u -w 0.1 -c 127.0.0.1 "$PORT"
	done
	wait "$SERVER_PID"
	[ "$(sort out)" = "$(printf 'sender %s\n' 1 2 3 4)" ]
}

@test "server: -w silence ends it with exit 0" {
	start_server -u -w "$(scaled 0.5)" </dev/null >out
	echo hello | timeout 5 "$NSOCK" -u -w 0.1 -c 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out)" = hello ]
}

@test "server: SIGTERM ends it with exit 0" {
	start_server -u </dev/null >out
	echo hello | timeout 5 "$NSOCK" -u -w 0.1 -c 127.0.0.1 "$PORT"
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	[ "$(cat out)" = hello ]
}

@test "500 datagrams of 1200 bytes from a paced sender arrive in order, intact" {
	start_server -u --count 500 </dev/null >out
	python3 - "$PORT" "$T/in" "$(scaled 0.01)" <<-'EOF'
	import socket, sys, time, os
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.connect(("127.0.0.1", int(sys.argv[1])))
	with open(sys.argv[2], "wb") as f:
	    for i in range(500):
	        d = os.urandom(1200)
	        f.write(d)
	        s.send(d)
	        if i % 50 == 49:
	            time.sleep(float(sys.argv[3]))	# slower for valgrind
	EOF
	wait "$SERVER_PID"
	same in out
}

@test "IPv6 UDP on ::1" {
	python3 -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))' ||
	    skip "no IPv6 loopback"
	SERVER_ADDR=::1 start_server -u --count 1 </dev/null >out
	echo six | timeout 5 "$NSOCK" -u -w 0.1 -c ::1 "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out)" = six ]
}
