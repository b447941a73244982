#!/usr/bin/env bats
# What one stuck party cannot do to a multi-client server (SPEC.md items 4
# and 6): a client that takes nothing of a shared stream stdin is dropped
# from it and the others get every byte; a stdout nobody reads does not
# stop SIGTERM; a client taken while descriptors run out is still served.
# Each check is a function; each model gets its own test of it.

bats_require_minimum_version 1.5.0
load helpers

# stalled_stream MODEL: one client never reads, one reads everything: the
# silent one is dropped from the stream (said under -v), the reader gets
# all 16 MiB, and both sessions end.
stalled_stream() {
	local reader silent
	random_file data 16M
	mkfifo feed
	exec 4<>feed		# a writer, so the server's open does not block
	# Only fd 4 writes the feed: nobody else may hold it, or no EOF.
	start_server "$1" -v --count 2 <feed >/dev/null 2>err 4>&-
	# The silent client: connected, a small receive buffer, never reads.
	timeout 30 python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
time.sleep(60)' "$PORT" 4>&- &
	silent=$!
	timeout 30 "$NSOCK" -c --recv-only 127.0.0.1 "$PORT" >got 4>&- &
	reader=$!
	connections 2
	timeout 30 cat data >&4
	exec 4>&-
	wait "$reader"
	same data got
	grep -q 'stdin: dropped 127.0.0.1 port [0-9]*: it takes nothing while others wait' err
	# Killed, it resets its connection: its session ends, and the server.
	kill "$silent"
	wait "$SERVER_PID"
}

@test "--fork: a client that takes nothing of a stream stdin is dropped; the other gets it all" { stalled_stream --fork; }
@test "--threads: a client that takes nothing of a stream stdin is dropped; the other gets it all" { stalled_stream --threads; }
@test "--poll: a client that takes nothing of a stream stdin is dropped; the other gets it all" { stalled_stream --poll; }

# unread_stdout MODEL: stdout is a FIFO that is open but never read, and a
# client has 8 MiB for it: SIGTERM still ends the server within a second.
unread_stdout() {
	local client server t0 ms
	mkfifo sink
	exec 4<>sink		# open for reading, never read
	start_server "$1" </dev/null >sink
	server=$(pgrep -P "$SERVER_PID")
	head -c 8M /dev/zero | timeout 20 "$NSOCK" -c 127.0.0.1 "$PORT" &
	client=$!
	sleep 0.5		# the pipe is full; the server waits on it
	t0=$(date +%s%N)
	kill "$server"
	# Bounded: a server deaf to SIGTERM is deaf to timeout's as well.
	eventually 3 eval '! kill -0 "$server" 2>/dev/null' ||
	    { kill -9 "$server"; echo "SIGTERM ignored" >&2; return 1; }
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "exit after $ms ms" >&2
	wait "$SERVER_PID" || { echo "server exit $?" >&2; return 1; }
	[ "$ms" -lt "$(scaled 1000)" ]
	wait "$client" || true
	exec 4>&-
}

@test "--fork: a stdout nobody reads does not hold back SIGTERM" { unread_stdout --fork; }
@test "--threads: a stdout nobody reads does not hold back SIGTERM" { unread_stdout --threads; }
@test "--poll: a stdout nobody reads does not hold back SIGTERM" { unread_stdout --poll; }

# short_of_fds MODEL: descriptors are so few that a client's hub pipe
# cannot be made: the server backs off with that client left in the
# backlog (not taken and sent nothing), and serves it once others end.
# Each client leaves after its first line (head -1 closes its stdout).
# Under make chaos, reads of stdin stay whole: a line read in two parts
# is two chunks, and a client that came between them rightly gets only
# the second.
short_of_fds() {
	local i pids=()
	mkfifo feed
	exec 4<>feed
	NSOCK_FAULT_SHORT_READ=0 bash -c 'ulimit -n 17; exec "$@"' _ \
	    timeout 30 "$NSOCK" -v -l \
	    --port-file pf "$1" 127.0.0.1 0 <feed >/dev/null 2>err 3>&- 4>&- &
	BG_PIDS+=($!)
	wait_for_file pf || { cat err >&2; return 1; }
	for i in 1 2 3 4 5 6; do
		timeout 20 "$NSOCK" -c 127.0.0.1 "$(cat pf)" < <(sleep 10) 4>&- |
		    head -1 >"out.$i" &
		pids+=($!)
	done
	# No line flows before the server has run out: so the clients are
	# all there at once, however slowly each starts (ASan).
	eventually 10 grep -q 'Too many open files' err ||
	    { cat err >&2; return 1; }
	{ for i in $(seq 200); do echo line; sleep 0.05; done >&4; } 2>/dev/null &
	BG_PIDS+=($!)
	for i in "${pids[@]}"; do wait "$i" || true; done
	for i in 1 2 3 4 5 6; do
		[ "$(cat "out.$i")" = line ] || { echo "client $i: $(cat "out.$i")" >&2; return 1; }
	done
}

@test "--fork: no descriptor for a client's stdin pipe: it waits, then gets the stream" { short_of_fds --fork; }
@test "--threads: no descriptor for a client's stdin pipe: it waits, then gets the stream" { short_of_fds --threads; }
@test "--poll: no descriptor for a client's stdin pipe: it waits, then gets the stream" { short_of_fds --poll; }
