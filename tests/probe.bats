#!/usr/bin/env bats
# -z HOST PORT[-PORT]: which ports accept a TCP connection, without sending
# a byte; open ports on stdout, one a line; exit 0 if any, 1 if none.

bats_require_minimum_version 1.5.0
load helpers

PEER="python3 $BATS_TEST_DIRNAME/peer.py"

@test "an open port is printed, no byte is sent, exit 0" {
	bg timeout 20 $PEER probe-target "$T/pf" "$T/sent"
	wait_for_file pf
	port=$(cat pf)
	run --separate-stderr timeout 10 "$NSOCK" -z 127.0.0.1 "$port"
	[ "$status" -eq 0 ]
	[ "$output" = "$port" ]
	wait_for_file sent
	[ "$(cat sent)" = 0 ]
}

@test "a closed port: exit 1 and one line with the reason" {
	port=$(free_port)
	run --separate-stderr timeout 10 "$NSOCK" -z 127.0.0.1 "$port"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "nsock: connect to 127.0.0.1 port $port: Connection refused" ]
}

@test "a range: exactly the open ports, in order; -v reports the closed one" {
	# Two listeners two ports apart, the port between them closed.
	python3 - "$T" <<-'EOF' 3>&- &
	import socket, sys, time, os
	while True:
	    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
	    b = socket.socket()
	    try:
	        b.bind(("127.0.0.1", p + 2))
	    except OSError:
	        continue
	    a.listen(); b.listen()
	    open(sys.argv[1] + "/pf.tmp", "w").write("%d\n" % p)
	    os.rename(sys.argv[1] + "/pf.tmp", sys.argv[1] + "/pf")
	    time.sleep(20)
	EOF
	BG_PIDS+=($!)
	wait_for_file pf
	p=$(cat pf)
	run --separate-stderr timeout 10 "$NSOCK" -v -z 127.0.0.1 "$p-$((p + 2))"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n%s' "$p" "$((p + 2))")" ]
	[ "$stderr" = "nsock: connect to 127.0.0.1 port $((p + 1)): Connection refused" ]
}

@test "a range with nothing open: exit 1, one line" {
	port=$(free_port)
	run --separate-stderr timeout 10 "$NSOCK" -z 127.0.0.1 "$port-$port"
	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
}

@test "a name with several addresses: localhost finds a 127.0.0.1-only listener" {
	bg timeout 20 $PEER probe-target "$T/pf" "$T/sent"
	wait_for_file pf
	run --separate-stderr timeout 10 "$NSOCK" -z localhost "$(cat pf)"
	[ "$status" -eq 0 ]
	[ "$output" = "$(cat pf)" ]
}

@test "a wide range finishes promptly (connects run side by side)" {
	run --separate-stderr timeout 20 "$NSOCK" -z 127.0.0.1 40000-42000
	[ "$status" -le 1 ]
	[ "$status" -ne 124 ]
}
