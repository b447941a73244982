#!/usr/bin/env bats
# The kernel-side paths (modes/zcopy.c): each carries the bytes exact, and
# strace shows it is the path really taken, so a fallback to copying cannot
# pass for it. Each test: 24 MiB from a client whose stdin is SOURCE to a
# server whose stdout is SINK.

load helpers

# transfer SOURCE SINK: SOURCE file|pipe, SINK file|pipe|append|null.
# Leaves client.trace and server.trace (splice and sendfile calls).
transfer() {
	local pf=$T/port
	random_file in 24M
	rm -f out
	[ "$2" = append ] && printf 'kept\n' >out
	case $2 in
	file)   bg timeout 30 strace -f -qq -e trace=splice,sendfile -o server.trace \
		    "$NSOCK" -l --port-file "$pf" 127.0.0.1 0 </dev/null >out ;;
	append) bg timeout 30 strace -f -qq -e trace=splice,sendfile -o server.trace \
		    "$NSOCK" -l --port-file "$pf" 127.0.0.1 0 </dev/null >>out ;;
	null)   bg timeout 30 strace -f -qq -e trace=splice,sendfile -o server.trace \
		    "$NSOCK" -l --port-file "$pf" 127.0.0.1 0 </dev/null >/dev/null ;;
	pipe)   bg bash -c 'timeout 30 strace -f -qq -e trace=splice,sendfile \
		    -o server.trace "$1" -l --port-file "$2" 127.0.0.1 0 \
		    </dev/null | cat >out' _ "$NSOCK" "$pf" ;;
	esac
	local server=$BG_PID
	wait_for_file "$pf"
	case $1 in
	file) timeout 30 strace -f -qq -e trace=splice,sendfile -o client.trace \
		"$NSOCK" 127.0.0.1 "$(<"$pf")" <in >/dev/null ;;
	pipe) cat in | timeout 30 strace -f -qq -e trace=splice,sendfile \
		-o client.trace "$NSOCK" 127.0.0.1 "$(<"$pf")" >/dev/null ;;
	esac
	wait "$server"
}

@test "a regular-file stdin goes out with sendfile, exact" {
	transfer file file
	same in out
	grep -q '^[0-9]* *sendfile(' client.trace
}

@test "a pipe stdin is spliced to the socket, exact" {
	transfer pipe file
	same in out
	grep -q '^[0-9]* *splice(' client.trace
}

@test "socket to a stdout pipe is spliced, exact" {
	transfer file pipe
	same in out
	grep -q '^[0-9]* *splice(' server.trace
}

@test "socket to a stdout file is spliced through a pipe of ours, exact" {
	transfer file file
	same in out
	[ "$(grep -c '^[0-9]* *splice(' server.trace)" -ge 2 ]
}

@test "socket to /dev/null is spliced through a pipe of ours" {
	transfer pipe null
	[ "$(grep -c '^[0-9]* *splice(' server.trace)" -ge 2 ]
}

@test "a stdout file opened for appending (>>) is copied, exact, after what it held" {
	transfer pipe append
	{ printf 'kept\n'; cat in; } >want
	same want out
	run grep -c '^[0-9]* *splice(' server.trace
	[ "$output" = 0 ]
}

@test "-w bounds a sendfile session whose peer stops reading" {
	head -c 64M /dev/zero >big
	bg timeout 20 python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
open("port", "w").write("%d\n" % s.getsockname()[1])
c, _ = s.accept(); time.sleep(15)'
	wait_for_file port
	run timeout 10 "$NSOCK" -w 1 127.0.0.1 "$(<port)" <big
	[ "$status" -eq 1 ]
	[[ "$output" == *"timed out after 1 s without data"* ]]
}

# receive_waits: a server with nothing to send (stdin /dev/null), its
# stdout a file, under strace; a client sends "hi" and then nothing.
receive_waits() {
	bg timeout 10 strace -qq -e trace=setsockopt -o server.trace \
	    "$NSOCK" -l --port-file port "$@" 127.0.0.1 0 </dev/null >out
	SERVER_PID=$BG_PID
	wait_for_file port
	bg timeout 10 "$NSOCK" 127.0.0.1 "$(<port)" < <(printf hi; sleep 5) \
	    >/dev/null 2>&1
	wait_for_file out 5
}

@test "once nothing more is sent, splices from the socket wait, and -w still ends the silence" {
	local start=$(date +%s%N) status=0
	receive_waits -w 1
	wait "$SERVER_PID" || status=$?
	[ "$status" -eq 1 ]
	[ "$(cat out)" = hi ]
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 2500 ]
	grep -q 'SO_RCVTIMEO' server.trace
}

@test "once nothing more is sent, splices from the socket wait, and SIGTERM still ends -k at once" {
	receive_waits -k
	local server start status=0
	server=$(pgrep -P "$(pgrep -P "$SERVER_PID")")	# timeout, strace, nsock
	start=$(date +%s%N)
	kill -TERM "$server"
	wait "$SERVER_PID" || status=$?
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 1000 ]
	[ "$(cat out)" = hi ]
	grep -q 'SO_RCVTIMEO' server.trace
}

# pipe_sizes PORT [-u]: a client whose stdin and stdout are pipes of 64
# KiB, then of 2 MiB (where the kernel allows it: CAP_SYS_RESOURCE); for
# each of the four pipes, "BEFORE>AFTER" once the client runs.
pipe_sizes() {
	python3 - "$NSOCK" "$@" <<-'EOF'
	import fcntl, os, subprocess, sys
	GET, SET = 1032, 1031            # F_GETPIPE_SZ, F_SETPIPE_SZ
	def pipe(size):
	    r, w = os.pipe()
	    try:
	        fcntl.fcntl(w, SET, size)
	    except PermissionError:
	        pass
	    return r, w, fcntl.fcntl(w, GET)
	seen = []
	for size in 65536, 2 << 20:
	    i, o = pipe(size), pipe(size)
	    p = subprocess.Popen([sys.argv[1], "-c"] + sys.argv[3:] +
	                         ["127.0.0.1", sys.argv[2]],
	                         stdin=i[0], stdout=o[1])
	    os.write(i[1], b"hello\n")
	    os.read(o[0], 6)              # the echo: the pump runs
	    seen += ["%d>%d" % (i[2], fcntl.fcntl(i[1], GET)),
	             "%d>%d" % (o[2], fcntl.fcntl(o[0], GET))]
	    p.kill()
	    p.wait()
	print(*seen)
	EOF
}

@test "a pipe on stdin or stdout is grown to 1 MiB, never shrunk" {
	start_server --echo -k
	run pipe_sizes "$PORT"
	[ "$status" -eq 0 ]
	local pair
	for pair in $output; do
		case $pair in
		65536\>1048576|1048576\>1048576|2097152\>2097152) ;;
		*) echo "pipe size before>after: $pair"; return 1 ;;
		esac
	done
}

@test "over UDP, stdin and stdout pipes keep their size: a bigger one would merge more writes into one datagram" {
	start_server -u --echo
	run pipe_sizes "$PORT" -u
	[ "$status" -eq 0 ]
	local pair
	for pair in $output; do
		[ "${pair%>*}" = "${pair#*>}" ] ||
		    { echo "pipe size before>after: $pair"; return 1; }
	done
}
