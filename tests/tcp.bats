#!/usr/bin/env bats
# TCP sessions between nsock pairs and deliberately awkward peers: exact
# bytes both ways, the session-end rule (SPEC.md item 2), partial I/O.

bats_require_minimum_version 1.5.0
load helpers

PEER="python3 $BATS_TEST_DIRNAME/peer.py"

# peer KIND ARGS...: a tests/peer.py peer in the background, port in PORT.
peer() {
	local kind=$1
	shift
	bg timeout 30 $PEER "$kind" "$T/peer.port" "$@"
	PEER_PID=$BG_PID
	wait_for_file "$T/peer.port" 5
	PORT=$(<"$T/peer.port")
}

@test "client to server: 20 MiB arrive exact, both exit 0 by themselves" {
	random_file in 20M
	start_server </dev/null >out
	timeout 20 "$NSOCK" -c 127.0.0.1 "$PORT" <in
	wait "$SERVER_PID"
	same in out
}

@test "server to client: the server's stdin reaches the client's stdout" {
	random_file in 20M
	start_server <in
	timeout 20 "$NSOCK" -c 127.0.0.1 "$PORT" </dev/null >out
	wait "$SERVER_PID"
	same in out
}

@test "both directions at once: 16 MiB each way" {
	both_ways 16M
}

@test "a server with stdin /dev/null half-closes at once and still receives 200 MiB" {
	random_file in 200M
	start_server </dev/null >out
	timeout 30 "$NSOCK" -c 127.0.0.1 "$PORT" <in
	wait "$SERVER_PID"
	same in out
	rm -f in out
}

@test "a slow upload (a line every half second) is received whole" {
	start_server </dev/null >out
	(for i in 1 2 3 4 5; do echo "line $i"; sleep 0.5; done) |
	    timeout 10 "$NSOCK" -c 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out)" = "$(printf 'line %s\n' 1 2 3 4 5)" ]
}

@test "the reply comes after the peer has read our EOF (request/response)" {
	peer reply-after-eof
	random_file in 3M
	run timeout 10 "$NSOCK" -c 127.0.0.1 "$PORT" <in
	[ "$status" -eq 0 ]
	[ "$output" = "got 3145728 bytes" ]
}

@test "a peer that half-closes first and keeps reading gets all of stdin" {
	random_file in 10M
	peer half-close-first "$T/out"
	run timeout 10 "$NSOCK" -c 127.0.0.1 "$PORT" <in
	[ "$status" -eq 0 ]
	wait "$PEER_PID"
	same in out
}

@test "a peer that closes while stdin still has data: exit 1, one line" {
	random_file in 50M
	peer close-early 1000
	run --separate-stderr timeout 10 "$NSOCK" -c 127.0.0.1 "$PORT" <in
	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "nsock: connection to 127.0.0.1 port $PORT: "* ]]
}

@test "a reset connection: exit 1, one line, and bytes sent before it are kept" {
	printf 'before the reset\n' >payload
	peer reset-after "$T/payload"
	run --separate-stderr timeout 10 "$NSOCK" -c 127.0.0.1 "$PORT" \
	    < <(sleep 3)
	[ "$status" -eq 1 ]
	[ "$output" = "before the reset" ]
	[ "$stderr" = "nsock: connection to 127.0.0.1 port $PORT: Connection reset by peer" ]
}

@test "a peer that stalls for 2 s before reading still gets 20 MiB exact" {
	random_file in 20M
	peer stall 2 "$T/out"
	timeout 15 "$NSOCK" -c 127.0.0.1 "$PORT" <in
	wait "$PEER_PID"
	same in out
}

@test "partial I/O: a peer sending 1 byte per send(2), 100 KiB" {
	random_file in 100K
	start_server </dev/null >out
	timeout 20 $PEER bytewise 127.0.0.1 "$PORT" in
	wait "$SERVER_PID"
	same in out
}

@test "partial I/O: a stdout reader taking 1 byte per read(2), 256 KiB" {
	random_file in 256K
	start_server <in
	timeout 20 "$NSOCK" -c 127.0.0.1 "$PORT" </dev/null |
	    dd bs=1 status=none of=out
	wait "$SERVER_PID"
	same in out
}

@test "partial I/O: a slow stdout reader with small socket buffers, 8 MiB" {
	random_file in 8M
	start_server <in
	timeout 30 "$NSOCK" -c 127.0.0.1 "$PORT" </dev/null |
	    python3 -c '
import sys, time
out = open("out", "wb")
while True:
    b = sys.stdin.buffer.read1(4096)
    if not b: break
    out.write(b); time.sleep(0.0005)'
	wait "$SERVER_PID"
	same in out
}

@test "stdin on a terminal: the peer's close ends the session" {
	printf 'hello from the server\n' >msg
	start_server <msg
	run timeout 10 $PEER pty-stdin "$NSOCK" -c 127.0.0.1 "$PORT"
	[ "$status" -eq 0 ]
	[ "$output" = "hello from the server" ]
}

@test "--send-only ends once stdin is sent, though the peer never closes" {
	random_file in 4M
	start_server < <(sleep 20) >out
	timeout 10 "$NSOCK" --send-only -c 127.0.0.1 "$PORT" <in
	for _ in $(seq 100); do
		[ "$(stat -c %s out)" -ge 4194304 ] && break
		sleep 0.05
	done
	same in out
}

@test "--recv-only half-closes at once and sends nothing" {
	random_file in 4M
	start_server <in >out
	timeout 10 "$NSOCK" --recv-only -c 127.0.0.1 "$PORT" \
	    < <(echo never sent; sleep 20) >got
	wait "$SERVER_PID"
	[ ! -s out ]
	same in got
}

@test "--no-shutdown keeps the connection open for writing after stdin ends" {
	peer reply-after-eof
	run --separate-stderr timeout 10 "$NSOCK" --no-shutdown -w 1 \
	    -c 127.0.0.1 "$PORT" <<<"request"
	[ "$status" -eq 1 ]
	[ "$output" = "" ]
	[[ "$stderr" == *"timed out after 1 s without data" ]]
	rm -f "$T/peer.port"
	peer reply-after-eof
	run timeout 10 "$NSOCK" -c 127.0.0.1 "$PORT" <<<"request"
	[ "$status" -eq 0 ]
	[ "$output" = "got 8 bytes" ]
}

@test "IPv6: server on ::1, client with -6" {
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' ||
	    skip "no IPv6 loopback"
	random_file in 1M
	SERVER_ADDR=::1 start_server </dev/null >out
	timeout 10 "$NSOCK" -6 -c ::1 "$PORT" <in
	wait "$SERVER_PID"
	same in out
}

@test "a server with no address listens on all addresses, IPv4 included" {
	SERVER_ADDR= start_server -v </dev/null >out 2>err
	echo v4 | timeout 5 "$NSOCK" -c 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out)" = v4 ]
	grep -Eqx "nsock: listening on (::|0\.0\.0\.0) port $PORT" err
}

@test "a server with no address takes IPv6 clients on the same port" {
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' ||
	    skip "no IPv6 loopback"
	SERVER_ADDR= start_server </dev/null >out
	echo v6 | timeout 5 "$NSOCK" -c ::1 "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out)" = v6 ]
}

@test "every address of a name is tried: localhost reaches a 127.0.0.1-only server" {
	echo hi >in
	start_server </dev/null >out
	timeout 5 "$NSOCK" -c localhost "$PORT" <in
	wait "$SERVER_PID"
	same in out
}

@test "a second server on a busy port fails: address in use, exit 1" {
	start_server </dev/null >/dev/null
	run --separate-stderr timeout 5 "$NSOCK" -l 127.0.0.1 "$PORT" </dev/null
	[ "$status" -eq 1 ]
	[ "$stderr" = "nsock: listen on 127.0.0.1 port $PORT: Address already in use" ]
}

@test "--port-file holds the port and a newline; -v names the bound address and the peer" {
	bg timeout 10 "$NSOCK" -v -l --port-file pf 127.0.0.1 0 </dev/null >out 2>err
	wait_for_file pf
	port=$(cat pf)
	[ "$(od -An -c pf | tr -d ' \n')" = "${port}\\n" ]
	[ "$port" -gt 0 ]
	echo x | timeout 5 "$NSOCK" -c 127.0.0.1 "$port"
	wait "$BG_PID"
	grep -qx "nsock: listening on 127.0.0.1 port $port" err
	grep -qx "nsock: connection from 127.0.0.1 port [0-9]*" err
}

@test "--retry waits for a server that starts later" {
	port=$(free_port)
	bg timeout 10 "$NSOCK" --retry 5 -c 127.0.0.1 "$port" <<<"late hello"
	client=$BG_PID
	sleep 0.5
	timeout 10 "$NSOCK" -l 127.0.0.1 "$port" </dev/null >out
	wait "$client"
	[ "$(cat out)" = "late hello" ]
}

@test "a closed stdout ends nsock with a message, not a signal" {
	head -c 1M /dev/zero >in
	start_server <in
	rc=0
	timeout 5 "$NSOCK" -c 127.0.0.1 "$PORT" </dev/null >&- 2>err || rc=$?
	[ "$rc" -eq 1 ]
	[ "$(cat err)" = "nsock: write to stdout: Bad file descriptor" ]
}

@test "a stdout pipe whose reader leaves: exit 1 with a message (SIGPIPE ignored)" {
	head -c 8M /dev/zero >in
	start_server <in
	timeout 5 "$NSOCK" -c 127.0.0.1 "$PORT" </dev/null 2>err | head -c 10 >/dev/null
	[ "${PIPESTATUS[0]}" -eq 1 ]
	[ "$(cat err)" = "nsock: write to stdout: Broken pipe" ]
}

@test "a shared stdin pipe is left blocking for the processes after nsock" {
	start_server <<<"x"
	# nsock and the cat after it share the pipe's read end: had nsock set
	# O_NONBLOCK on it, cat would fail with EAGAIN before "second" comes.
	(echo first; sleep 0.5; echo second) |
	    { timeout 5 "$NSOCK" --recv-only -c 127.0.0.1 "$PORT" >got
	      timeout 5 cat >after; }
	[ "$(cat got)" = x ]
	[ "$(cat after)" = "$(printf 'first\nsecond')" ]
}

@test "a socket as stdin: O_NONBLOCK is set on it only while nsock runs, undone even on SIGTERM" {
	start_server </dev/null >/dev/null
	python3 - "$NSOCK" "$PORT" <<-'EOF'
	import fcntl, os, signal, socket, subprocess, sys, time
	nsock, port = sys.argv[1], sys.argv[2]
	def nonblocking(s):
	    return fcntl.fcntl(s, fcntl.F_GETFL) & os.O_NONBLOCK
	a, b = socket.socketpair()
	p = subprocess.Popen([nsock, "-c", "127.0.0.1", port], stdin=a,
	                     stdout=subprocess.DEVNULL)
	for _ in range(250):       # a socket cannot be reopened: shared flag
	    if nonblocking(a):
	        break
	    time.sleep(0.02)
	else:
	    sys.exit("nsock never made its socket stdin non-blocking")
	p.send_signal(signal.SIGTERM)
	p.wait(timeout=5)
	if p.returncode != -signal.SIGTERM:
	    sys.exit("status %d, not killed by SIGTERM" % p.returncode)
	if nonblocking(a):
	    sys.exit("O_NONBLOCK left set on the shared socket")
	EOF
}
