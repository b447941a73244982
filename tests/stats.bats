#!/usr/bin/env bats
# --stats: one summary line on stderr per session (TCP client, one-client
# server, each session of a multi-client server, UDP at exit), also after
# an error; stdout untouched. --progress: a meter on stderr only when it is
# a terminal, with a percentage for a file stdin, erased at the end.

bats_require_minimum_version 1.5.0
load helpers

# The line, as nsock.1 gives it: WHAT, the two counts, seconds, rate.
STATS_RE='^nsock: (.+): sent ([0-9]+) bytes, received ([0-9]+) bytes in [0-9]+\.[0-9]{3} s \([0-9]+\.[0-9] MB/s\)$'
UDP_RE='^nsock: (.+): sent ([0-9]+) bytes \(([0-9]+) datagrams\), received ([0-9]+) bytes \(([0-9]+) datagrams\) in [0-9]+\.[0-9]{3} s \([0-9]+\.[0-9] MB/s\)$'

# stats_line FILE: the one stats line in FILE (fails unless exactly one).
stats_line() {
	local n
	n=$(grep -c ': sent [0-9]* bytes' "$1")
	[ "$n" -eq 1 ] || { echo "$n stats lines in $1:" >&2; cat "$1" >&2; return 1; }
	grep ': sent [0-9]* bytes' "$1"
}

# with_tty_stderr FILE CMD...: run CMD with stderr a new terminal (stdin
# and stdout as given); what the terminal shows goes to FILE as it comes
# (a test can wait for it); exit as CMD.
with_tty_stderr() {
	python3 -c '
import os, pty, subprocess, sys
m, s = pty.openpty()
p = subprocess.Popen(sys.argv[2:], stderr=s)
os.close(s)
with open(sys.argv[1], "wb", buffering=0) as shown:
	while True:
		try:
			b = os.read(m, 65536)
		except OSError:
			break
		if not b:
			break
		shown.write(b)
sys.exit(p.wait())
' "$@"
}

@test "--stats: client and server each print one line, exact counts both ways, swapped" {
	random_file up 1M
	random_file down 1M
	start_server --stats <down >srv.out 2>srv.err
	timeout 10 "$NSOCK" --stats -c 127.0.0.1 "$PORT" <up >cli.out 2>cli.err
	wait "$SERVER_PID"
	same up srv.out
	same down cli.out
	[[ $(stats_line cli.err) =~ $STATS_RE ]]
	[ "${BASH_REMATCH[1]}" = "127.0.0.1 port $PORT" ]
	[ "${BASH_REMATCH[2]}" -eq 1048576 ]
	[ "${BASH_REMATCH[3]}" -eq 1048576 ]
	[[ $(stats_line srv.err) =~ $STATS_RE ]]
	[[ "${BASH_REMATCH[1]}" == "127.0.0.1 port "* ]]
	[ "${BASH_REMATCH[2]}" -eq 1048576 ]
	[ "${BASH_REMATCH[3]}" -eq 1048576 ]
}

@test "--stats: uneven sizes are sent on one side and received on the other" {
	random_file up 1M
	printf 'twenty bytes of text' >down
	start_server --stats <down >srv.out 2>srv.err
	timeout 10 "$NSOCK" --stats 127.0.0.1 "$PORT" <up >cli.out 2>cli.err
	wait "$SERVER_PID"
	[[ $(stats_line cli.err) =~ $STATS_RE ]]
	[ "${BASH_REMATCH[2]}" -eq 1048576 ] && [ "${BASH_REMATCH[3]}" -eq 20 ]
	[[ $(stats_line srv.err) =~ $STATS_RE ]]
	[ "${BASH_REMATCH[2]}" -eq 20 ] && [ "${BASH_REMATCH[3]}" -eq 1048576 ]
}

@test "--stats: stdout carries the bytes and nothing else; stderr has only the line" {
	random_file down 2M
	start_server --stats <down 2>/dev/null
	timeout 10 "$NSOCK" --stats --recv-only 127.0.0.1 "$PORT" >cli.out 2>cli.err
	same down cli.out
	[ "$(wc -l <cli.err)" -eq 1 ]
	[[ $(cat cli.err) =~ $STATS_RE ]]
	[ "${BASH_REMATCH[3]}" -eq 2097152 ]
}

@test "--stats: a session that ends in an error prints its line after the error" {
	# The server takes 1 MiB from a pipe that never ends, and -w ends it.
	start_server -w 0.3 --stats < <(head -c 1M /dev/zero; sleep 5) \
	    >/dev/null 2>srv.err
	run --separate-stderr timeout 10 "$NSOCK" --stats --recv-only \
	    127.0.0.1 "$PORT"
	run wait "$SERVER_PID"
	[ "$status" -eq 1 ]
	[ "$(wc -l <srv.err)" -eq 2 ]
	grep -q 'timed out after 0.3 s without data' <(head -1 srv.err)
	[[ $(tail -1 srv.err) =~ $STATS_RE ]]
	[ "${BASH_REMATCH[2]}" -eq 1048576 ]
}

@test "--stats: a client whose peer resets the connection says so, then its line" {
	# The server reads 1 byte and is killed: the client's send fails.
	timeout 10 "$NSOCK" -l --port-file pf 127.0.0.1 0 </dev/null 2>/dev/null |
	    head -c 1 >/dev/null &
	BG_PIDS+=($!)
	wait_for_file pf
	run --separate-stderr timeout 10 "$NSOCK" --stats 127.0.0.1 "$(<pf)" \
	    < <(head -c 64M /dev/zero)
	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 2 ]
	[[ "${stderr_lines[0]}" == "nsock: "* ]]
	[[ "${stderr_lines[0]}" != *": sent "* ]]
	[[ "${stderr_lines[1]}" =~ $STATS_RE ]]
}

@test "--stats --poll: one line per session, each with its own counts" {
	start_server --poll --count 3 --echo --stats </dev/null >/dev/null 2>srv.err
	local i
	for i in 1 2 3; do
		head -c $((i * 1000)) /dev/zero >in$i
		timeout 10 "$NSOCK" 127.0.0.1 "$PORT" <in$i >out$i
		same in$i out$i
	done
	wait "$SERVER_PID"
	[ "$(grep -c ': sent ' srv.err)" -eq 3 ]
	for i in 1 2 3; do
		grep -qE "^nsock: 127\.0\.0\.1 port [0-9]+: sent $((i * 1000)) bytes, received $((i * 1000)) bytes in " srv.err
	done
}

@test "--stats --fork: one line per session, from each child" {
	start_server --fork --count 2 --stats </dev/null >srv.out 2>srv.err
	printf 'abc' | timeout 10 "$NSOCK" 127.0.0.1 "$PORT"
	printf 'defgh' | timeout 10 "$NSOCK" 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	[ "$(grep -c ': sent ' srv.err)" -eq 2 ]
	grep -qE ': sent 0 bytes, received 3 bytes in ' srv.err
	grep -qE ': sent 0 bytes, received 5 bytes in ' srv.err
}

@test "--stats -e: no line (the command has the connection, nsock sees no bytes)" {
	start_server --stats -e 'cat' </dev/null >/dev/null 2>srv.err
	run timeout 10 "$NSOCK" 127.0.0.1 "$PORT" <<<"hello"
	[ "$output" = hello ]
	wait "$SERVER_PID"
	[ ! -s srv.err ]
}

@test "--stats -u: client and server count datagrams and bytes, printed at exit" {
	start_server -u --echo -w 1 --stats </dev/null >/dev/null 2>srv.err
	{ printf 'hello'; sleep 0.2; printf 'datagram!'; } |
	    timeout 10 "$NSOCK" -u -w 0.5 --stats 127.0.0.1 "$PORT" \
	    >cli.out 2>cli.err
	[ "$(cat cli.out)" = 'hellodatagram!' ]
	[[ $(stats_line cli.err) =~ $UDP_RE ]]
	[ "${BASH_REMATCH[1]}" = "127.0.0.1 port $PORT" ]
	[ "${BASH_REMATCH[2]}" -eq 14 ] && [ "${BASH_REMATCH[3]}" -eq 2 ]
	[ "${BASH_REMATCH[4]}" -eq 14 ] && [ "${BASH_REMATCH[5]}" -eq 2 ]
	wait "$SERVER_PID"
	[[ $(stats_line srv.err) =~ $UDP_RE ]]
	[ "${BASH_REMATCH[2]}" -eq 14 ] && [ "${BASH_REMATCH[3]}" -eq 2 ]
	[ "${BASH_REMATCH[4]}" -eq 14 ] && [ "${BASH_REMATCH[5]}" -eq 2 ]
}

@test "--stats -u: an error line, then the stats line" {
	local port
	port=$(free_port)
	run --separate-stderr timeout 10 "$NSOCK" -u --stats 127.0.0.1 "$port" \
	    < <(printf 'ping'; sleep 0.5; printf 'ping')
	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 2 ]
	[[ "${stderr_lines[0]}" == *"Connection refused" ]]
	[[ "${stderr_lines[1]}" =~ $UDP_RE ]]
}

@test "--stats and --progress: where they mean nothing, a usage error" {
	run --separate-stderr "$NSOCK" -z --stats 127.0.0.1 1
	[ "$status" -eq 2 ]
	run --separate-stderr "$NSOCK" -l --fork --progress 127.0.0.1 0
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--progress: only for one session: a client, a UDP server or a one-client server"* ]]
	run --separate-stderr "$NSOCK" -l --echo --progress 127.0.0.1 0
	[ "$status" -eq 2 ]
	run --separate-stderr "$NSOCK" -l -k --progress 127.0.0.1 0
	[ "$status" -eq 2 ]
}

@test "--progress: stderr not a terminal: nothing on stderr, bytes exact" {
	random_file up 4M
	start_server --progress </dev/null >srv.out 2>srv.err
	timeout 10 "$NSOCK" --progress 127.0.0.1 "$PORT" <up >cli.out 2>cli.err
	wait "$SERVER_PID"
	same up srv.out
	[ ! -s cli.err ]
	[ ! -s srv.err ]
	[ ! -s cli.out ]
}

@test "--progress on a terminal: a meter with a percentage, erased at the end" {
	head -c 64M /dev/zero >up
	# The server's stdout is not read for a second: the client waits,
	# and the meter is drawn a few times meanwhile.
	start_server </dev/null > >(sleep 1; cat >/dev/null)
	with_tty_stderr shown timeout 20 "$NSOCK" --progress 127.0.0.1 \
	    "$PORT" <up
	local output
	output=$(<shown)
	[[ "$output" == $'\r'"sent "*" ("*"%), received 0 B, "*"/s, 0:0"* ]]
	[[ "$output" == *", ETA "* ]]
	# It ends erased: carriage return, clear to the end of the line.
	[[ "$output" == *$'\r\e[K' ]]
	[[ "$output" != *$'\n'* ]]
}

@test "--progress on a terminal, receiving only: bytes, no percentage; stdout exact" {
	start_server < <(head -c 1M /dev/zero; sleep 0.8; head -c 1M /dev/zero) \
	    >/dev/null
	with_tty_stderr shown timeout 20 "$NSOCK" --progress --recv-only \
	    127.0.0.1 "$PORT" >cli.out
	local output
	output=$(<shown)
	[ "$(stat -c %s cli.out)" -eq 2097152 ]
	[ "$(tr -d '\0' <cli.out | wc -c)" -eq 0 ]
	[[ "$output" == *$'\r'"sent 0 B, received 1.0 MB, "* ]]
	[[ "$output" != *"%"* && "$output" != *ETA* ]]
	[[ "$output" == *$'\r\e[K' ]]
}

@test "--progress -u on a terminal: a file's datagrams, 100%, erased at the end" {
	random_file up 1M
	start_server -u -w 2 </dev/null >srv.out
	# The client lingers 1 s for replies after its stdin ends: the meter
	# is redrawn meanwhile, though nothing moves.
	with_tty_stderr shown timeout 20 "$NSOCK" -u --progress 127.0.0.1 \
	    "$PORT" <up
	local output
	output=$(<shown)
	[[ "$output" == *$'\r'"sent 1.0 MB (100%), received 0 B, "*"/s, 0:0"* ]]
	[[ "$output" == *$'\r\e[K' ]]
	[[ "$output" != *$'\n'* ]]
	wait "$SERVER_PID"
	same up srv.out
}

@test "--progress: the meter is erased before an error line, which starts at column 0" {
	start_server -u </dev/null >srv.out
	# Once the server has the first datagram and the meter shows it, the
	# server goes; the second datagram is then refused.
	with_tty_stderr shown timeout 20 "$NSOCK" -u --progress 127.0.0.1 \
	    "$PORT" < <(printf ping
		wait_size srv.out 4
		eventually 10 grep -q "sent 4 B" shown
		kill "$SERVER_PID"
		while kill -0 "$SERVER_PID" 2>/dev/null; do sleep 0.02; done
		printf ping; sleep 1) || true
	local output
	output=$(<shown)
	[[ "$output" == $'\r'"sent 4 B, "* ]]
	[[ "$output" == *$'\r\e[K'"nsock: connection to 127.0.0.1 port $PORT: Connection refused"$'\r' ]]
}
