#!/usr/bin/env bats
# Unix domain sockets (-U PATH): stream and datagram, client and server,
# every server model and handler, abstract names (@name), the socket file
# removed at exit, a stale one replaced, a live one or a non-socket left
# alone, interop with socat and python3, and the usage errors.

bats_require_minimum_version 1.5.0
load helpers

# start_unix [OPTIONS...]: nsock -l -U $T/s in the background; sets
# SERVER_PID and SOCK. Redirect its stdin/stdout at the call.
start_unix() {
	SOCK=$T/s
	bg timeout 30 "$NSOCK" -l -U "$SOCK" "$@"
	SERVER_PID=$BG_PID
	wait_for_socket "$SOCK"
}

# wait_abstract NAME: until something is bound to @NAME.
wait_abstract() {
	local tries=250
	until grep -q "@$1\$" /proc/net/unix; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || { echo "no @$1" >&2; return 1; }
		sleep 0.02
	done
}

@test "stream: 20 MiB from client to server exact, socket file removed" {
	random_file in 20M
	start_unix >out </dev/null
	timeout 20 "$NSOCK" -U "$SOCK" <in >/dev/null
	wait "$SERVER_PID"
	same in out
	[ ! -e "$SOCK" ]
}

@test "stream: 20 MiB from server to client exact" {
	random_file in 20M
	start_unix <in >/dev/null
	timeout 20 "$NSOCK" -c -U "$SOCK" </dev/null >out
	wait "$SERVER_PID"
	same in out
	[ ! -e "$SOCK" ]
}

# echo_many MODEL: 6 concurrent clients each get their own 200 KiB back.
echo_many() {
	local i pids=()
	start_unix "$@" --echo --count 6 </dev/null >/dev/null
	for i in 1 2 3 4 5 6; do
		head -c 200K /dev/urandom >"in.$i"
		timeout 20 "$NSOCK" -U "$SOCK" <"in.$i" >"out.$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	wait "$SERVER_PID"
	for i in 1 2 3 4 5 6; do same "in.$i" "out.$i"; done
	[ ! -e "$SOCK" ]
}

@test "--echo -k: 6 concurrent clients, each its own bytes back" { echo_many -k; }
@test "--echo --fork: 6 concurrent clients, each its own bytes back" { echo_many --fork; }
@test "--echo --threads: 6 concurrent clients, each its own bytes back" { echo_many --threads; }
@test "--echo --poll: 6 concurrent clients, each its own bytes back" { echo_many --poll; }
@test "--echo --poll --max-conns 2: 6 clients, all served" { echo_many --poll --max-conns 2; }

@test "-e 'tr a-z A-Z' --fork: 3 concurrent clients" {
	local i pids=()
	start_unix --fork -e 'tr a-z A-Z' --count 3 </dev/null >/dev/null
	for i in 1 2 3; do
		echo "client $i" | timeout 10 "$NSOCK" -U "$SOCK" >"out.$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	wait "$SERVER_PID"
	for i in 1 2 3; do [ "$(cat "out.$i")" = "CLIENT $i" ]; done
}

@test "-l -e alone: one client, then the file is gone" {
	start_unix -e 'tr a-z A-Z' </dev/null >/dev/null
	run timeout 10 "$NSOCK" -U "$SOCK" <<<"hello"
	[ "$output" = "HELLO" ]
	wait "$SERVER_PID"
	[ ! -e "$SOCK" ]
}

@test "--broker --threads: what one client sends, the other gets" {
	start_unix --broker --threads -v </dev/null >/dev/null 2>err
	timeout 10 "$NSOCK" -U "$SOCK" < <(sleep 3) >out.1 &
	local a=$!
	for _ in $(seq 250); do grep -q 'connection from' err && break; sleep 0.02; done
	echo "hello all" | timeout 10 "$NSOCK" --send-only -U "$SOCK"
	for _ in $(seq 250); do [ -s out.1 ] && break; sleep 0.02; done
	[ "$(cat out.1)" = "hello all" ]
	kill "$a" 2>/dev/null || true
	grep -q 'connection from unix client' err
}

@test "abstract @name: stream both ways, nothing in the file system" {
	local name="nsock-test-$$-$RANDOM"
	random_file in 1M
	bg timeout 20 "$NSOCK" -l -U "@$name" --echo </dev/null >/dev/null
	wait_abstract "$name"
	timeout 10 "$NSOCK" -U "@$name" <in >out
	same in out
	[ ! -e "@$name" ]
}

@test "abstract @name with python3: the exact name, no trailing NULs" {
	local name="nsock-py-$$-$RANDOM"
	bg timeout 20 "$NSOCK" -l -U "@$name" --echo </dev/null >/dev/null
	wait_abstract "$name"
	run timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect("\0" + sys.argv[1])
s.sendall(b"exact")
s.shutdown(socket.SHUT_WR)
got = b""
while chunk := s.recv(100):	# the echo may come in pieces
	got += chunk
print(got.decode())' "$name"
	[ "$status" -eq 0 ]
	[ "$output" = "exact" ]
}

# dgram_client WORD...: nsock -u -U $SOCK, each WORD one write 0.1 s apart
# on its stdin, then EOF; prints what came back. One read is one datagram,
# so make chaos must not cut stdin reads short here (as in udp.bats).
dgram_client() {
	NSOCK_FAULT_SHORT_READ=0 timeout 10 python3 - "$NSOCK" "$SOCK" "$@" <<-'EOF'
	import os, subprocess, sys, time
	p = subprocess.Popen([sys.argv[1], "-u", "-U", sys.argv[2]],
	    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
	for w in sys.argv[3:]:
	    os.write(p.stdin.fileno(), w.encode())
	    time.sleep(0.1)
	p.stdin.close()
	print(p.stdout.read().decode())
	p.wait()
	EOF
}

@test "datagram: each read one datagram, the server replies to the sender" {
	start_unix -u --echo --count 3 >out </dev/null
	run dgram_client one two! three
	[ "$status" -eq 0 ]
	[ "$output" = "onetwo!three" ]
	wait "$SERVER_PID"
	[ "$(cat out)" = "onetwo!three" ]
	[ ! -e "$SOCK" ]
}

@test "datagram: python3 sees one datagram per client read" {
	SOCK=$T/d
	bg timeout 20 python3 - "$SOCK" <<-'EOF'
	import socket, sys
	s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
	s.bind(sys.argv[1])
	with open("got", "w") as f:
	    for _ in range(3):
	        d, a = s.recvfrom(65536)
	        f.write("%d:%s\n" % (len(d), d.decode()))
	        s.sendto(b"ack " + d, a)
	EOF
	wait_for_socket "$SOCK"
	run dgram_client a bb ccc
	[ "$output" = "ack aack bback ccc" ]
	[ "$(cat got)" = "$(printf '1:a\n2:bb\n3:ccc')" ]
}

@test "datagram server: SIGTERM removes the socket file" {
	start_unix -u </dev/null >/dev/null
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	[ ! -e "$SOCK" ]
}

@test "--fork server: SIGTERM removes the socket file, exit 0" {
	start_unix --fork --echo </dev/null >/dev/null
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	[ ! -e "$SOCK" ]
}

@test "-l alone: SIGTERM while waiting removes the socket file" {
	SOCK=$T/s
	# Not under timeout: its SIGTERM should reach nsock itself.
	"$NSOCK" -l -U "$SOCK" </dev/null >/dev/null 3>&- &
	SERVER_PID=$!
	BG_PIDS+=("$SERVER_PID")
	wait_for_socket "$SOCK"
	kill -TERM "$SERVER_PID"
	local status=0
	wait "$SERVER_PID" || status=$?
	[ "$status" -eq 143 ]
	[ ! -e "$SOCK" ]
}

@test "a stale socket file (nobody listening) is replaced" {
	SOCK=$T/s
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$SOCK"
	[ -S "$SOCK" ]
	start_unix --echo </dev/null >/dev/null
	run timeout 10 "$NSOCK" -U "$SOCK" <<<"fresh"
	[ "$output" = "fresh" ]
}

@test "a live socket is not stolen: Address already in use, exit 1" {
	start_unix --echo -k </dev/null >/dev/null
	run --separate-stderr timeout 5 "$NSOCK" -l -U "$SOCK"
	[ "$status" -eq 1 ]
	[ "$stderr" = "nsock: listen on $SOCK: Address already in use" ]
	run timeout 10 "$NSOCK" -U "$SOCK" <<<"still mine"
	[ "$output" = "still mine" ]
}

@test "a regular file at PATH is never removed: exit 1" {
	echo precious >f
	run --separate-stderr timeout 5 "$NSOCK" -l -U f
	[ "$status" -eq 1 ]
	[[ "$stderr" == "nsock: listen on f: "* ]]
	[ "$(cat f)" = precious ]
}

@test "client: no socket there is a runtime error naming the path" {
	run --separate-stderr timeout 5 "$NSOCK" -U "$T/nothing" </dev/null
	[ "$status" -eq 1 ]
	[ "$stderr" = "nsock: connect to $T/nothing: No such file or directory" ]
}

@test "--retry waits for the server to appear" {
	SOCK=$T/s
	( sleep 0.5; exec timeout 10 "$NSOCK" -l -U "$SOCK" --echo </dev/null >/dev/null ) 3>&- &
	BG_PIDS+=($!)
	run timeout 10 "$NSOCK" --retry 5 -U "$SOCK" <<<"late"
	[ "$output" = "late" ]
}

@test "socat UNIX-CONNECT to nsock -l -U, both ways" {
	random_file in 2M
	start_unix --echo </dev/null >/dev/null
	timeout 10 socat - "UNIX-CONNECT:$SOCK" <in >out
	same in out
}

@test "nsock -U to socat UNIX-LISTEN" {
	random_file in 2M
	SOCK=$T/s
	bg timeout 20 socat -u "UNIX-LISTEN:$SOCK" OPEN:got,creat,trunc
	wait_for_socket "$SOCK"
	timeout 10 "$NSOCK" -U "$SOCK" <in >/dev/null
	wait "$BG_PID"
	same in got
}

@test "python3 client to nsock -l -U --poll --echo" {
	start_unix --poll --echo --count 1 </dev/null >/dev/null
	run timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"x" * 100000)
s.shutdown(socket.SHUT_WR)
n = 0
while True:
    b = s.recv(65536)
    if not b: break
    n += len(b)
print(n)' "$SOCK"
	[ "$output" = "100000" ]
}

@test "usage errors: options that mean nothing with -U, exit 2" {
	local args
	for args in "-4 -U x" "-6 -U x" "-s 127.0.0.1 -U x" "-p 5000 -U x" \
	    "-l --allow 127.0.0.1 -U x" "-l --deny 10.0.0.0/8 -U x" \
	    "-z -U x" "-U x localhost 80" "-l -U x 80" \
	    "-l --port-file pf -U x" "-U ''" "-U @"; do
		run --separate-stderr timeout 5 bash -c "exec \"$NSOCK\" $args" </dev/null
		[ "$status" -eq 2 ] || { echo "$args: $status $stderr" >&2; return 1; }
		[[ "$stderr" == nsock:* ]] || { echo "$args: $stderr" >&2; return 1; }
	done
	[ ! -e x ]
	run --separate-stderr "$NSOCK" -U "$(printf 'p%.0s' {1..200})"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"too long"* ]]
}

# sigterm_removes MODEL...: a server with a model, stopped by SIGTERM,
# exits 0 and leaves no socket file.
sigterm_removes() {
	start_unix "$@" </dev/null >/dev/null
	echo ping | timeout 5 "$NSOCK" -U "$SOCK" >out
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	[ ! -e "$SOCK" ]
}

@test "-k --echo: SIGTERM removes the socket file" { sigterm_removes -k --echo; }
@test "--threads -e cat: SIGTERM removes the socket file" { sigterm_removes --threads -e cat; }
@test "--poll --broker: SIGTERM removes the socket file" { sigterm_removes --poll --broker; }

@test "SIGKILL leaves the socket file; the next server replaces it" {
	SOCK=$T/s
	"$NSOCK" -l -U "$SOCK" -k --echo </dev/null >/dev/null 3>&- &
	BG_PIDS+=($!)
	wait_for_socket "$SOCK"
	kill -KILL "$!"
	wait "$!" || true
	[ -S "$SOCK" ]
	start_unix --echo </dev/null >/dev/null
	# The stale file passes wait_for_socket at once: --retry waits for
	# the new server to have replaced it.
	run timeout 10 "$NSOCK" --retry 5 -U "$SOCK" <<<"after kill"
	[ "$output" = "after kill" ]
	wait "$SERVER_PID"
	[ ! -e "$SOCK" ]
}

@test "datagram from socat UNIX-SENDTO (no name): received, no reply" {
	start_unix -u -v --count 2 >out </dev/null 2>err
	echo unnamed | timeout 5 socat - "UNIX-SENDTO:$SOCK"
	echo named | NSOCK_FAULT_SHORT_READ=0 timeout 5 "$NSOCK" -w 0.3 -u -U "$SOCK"
	wait "$SERVER_PID"
	[ "$(cat out)" = "$(printf 'unnamed\nnamed')" ]
	grep -q 'unnamed unix socket: no reply' err
}

@test "-v names the path and the client" {
	start_unix -v --echo </dev/null >/dev/null 2>err
	run --separate-stderr timeout 5 "$NSOCK" -v -U "$SOCK" <<<"x"
	[ "$stderr" = "nsock: connected to $SOCK" ]
	wait "$SERVER_PID"
	grep -qx "nsock: listening on $SOCK" err
	grep -q '^nsock: connection from unix client pid [0-9]*$' err
}
