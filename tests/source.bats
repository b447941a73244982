#!/usr/bin/env bats
# -s ADDRESS and -p PORT: a client's local address and port (TCP and UDP),
# seen by the server; clear errors when they cannot be had; --retry and
# addresses of the wrong family.

bats_require_minimum_version 1.5.0
load helpers

# connected_from ERRFILE PEER: the server (-v) reported a client from PEER
# ("ADDRESS port PORT", or "ADDRESS port " for any port).
connected_from() {
	grep -qF "nsock: connection from $2" "$1" || { cat "$1" >&2; return 1; }
}

# fails_with STATUS LINE CMD...: CMD exits STATUS, its stderr is LINE.
fails_with() {
	local want=$1 line=$2
	shift 2
	run --separate-stderr timeout 10 "$@" </dev/null
	echo "status=$status stderr=$stderr" >&2
	[ "$status" -eq "$want" ]
	[ "$stderr" = "$line" ]
}

@test "-s 127.0.0.2: the server sees the client come from it, bytes intact" {
	start_server -v </dev/null >out 2>err
	random_file in 1M
	timeout 10 "$NSOCK" -s 127.0.0.2 -c 127.0.0.1 "$PORT" <in
	wait "$SERVER_PID"
	same in out
	connected_from err "127.0.0.2 port "
}

@test "-s and -p: the server sees that address and port; --source, --source-port" {
	local sport
	sport=$(free_port)
	start_server -v </dev/null >out 2>err
	echo hi | timeout 10 "$NSOCK" -s 127.0.0.2 -p "$sport" -c 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	connected_from err "127.0.0.2 port $sport"
	sport=$(free_port)
	start_server -v </dev/null >out 2>err
	echo hi | timeout 10 "$NSOCK" --source 127.0.0.2 --source-port "$sport" \
	    -c 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	connected_from err "127.0.0.2 port $sport"
}

@test "-p alone: the port, on the address the route picks" {
	local sport
	sport=$(free_port)
	start_server -v </dev/null >out 2>err
	echo hi | timeout 10 "$NSOCK" -p "$sport" 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	connected_from err "127.0.0.1 port $sport"
	[ "$(cat out)" = hi ]
}

@test "-s ::1 -p PORT over IPv6" {
	local sport
	sport=$(free_port)
	SERVER_ADDR=::1 start_server -v </dev/null >out 2>err
	echo six | timeout 10 "$NSOCK" -s ::1 -p "$sport" -c ::1 "$PORT"
	wait "$SERVER_PID"
	connected_from err "::1 port $sport"
	[ "$(cat out)" = six ]
	# -p alone: the IPv6 wildcard, whichever family getaddrinfo lists first.
	sport=$(free_port)
	SERVER_ADDR=::1 start_server -v </dev/null >out 2>err
	echo six | timeout 10 "$NSOCK" -p "$sport" -c ::1 "$PORT"
	wait "$SERVER_PID"
	connected_from err "::1 port $sport"
}

@test "UDP client -s and -p: the server hears that address and port" {
	local sport
	sport=$(free_port)
	start_server -u -v --count 1 </dev/null >out 2>err
	echo datagram | timeout 10 "$NSOCK" -u -w 0.2 -s 127.0.0.2 -p "$sport" \
	    -c 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	grep -qF "nsock: datagram from 127.0.0.2 port $sport" err
	[ "$(cat out)" = datagram ]
}

@test "-p a port a server listens on: exit 1, 'bind to ... Address already in use'" {
	start_server </dev/null >/dev/null
	fails_with 1 "nsock: bind to 127.0.0.1 port $PORT: Address already in use" \
	    "$NSOCK" -s 127.0.0.1 -p "$PORT" -c 127.0.0.1 "$PORT"
}

@test "UDP -p a port in use: exit 1, 'bind to ... Address already in use'" {
	start_server -u </dev/null >/dev/null
	fails_with 1 "nsock: bind to 127.0.0.1 port $PORT: Address already in use" \
	    "$NSOCK" -u -s 127.0.0.1 -p "$PORT" -c 127.0.0.1 "$PORT"
}

@test "-s an address this machine does not have: exit 1, naming it" {
	local port
	port=$(free_port)
	fails_with 1 "nsock: bind to 192.0.2.1 port 0: Cannot assign requested address" \
	    "$NSOCK" -s 192.0.2.1 -c 127.0.0.1 "$port"
}

@test "-s a name that does not resolve: exit 1, naming it" {
	run --separate-stderr timeout 10 "$NSOCK" -s nosuch.invalid -c 127.0.0.1 80
	[ "$status" -eq 1 ]
	[[ "$stderr" == "nsock: source nosuch.invalid: "* ]]
	run --separate-stderr timeout 10 "$NSOCK" -s nosuch.invalid -p 4000 \
	    -c 127.0.0.1 80
	[ "$status" -eq 1 ]
	[[ "$stderr" == "nsock: source nosuch.invalid port 4000: "* ]]
}

@test "-4 or -6 with an -s of the other family: exit 1, saying so" {
	fails_with 1 "nsock: source 127.0.0.1 has no IPv6 address" \
	    "$NSOCK" -6 -s 127.0.0.1 -c ::1 80
	fails_with 1 "nsock: source ::1 has no IPv4 address" \
	    "$NSOCK" -4 -s ::1 -c 127.0.0.1 80
}

@test "-s of one family, a server of the other: exit 1, naming both" {
	start_server </dev/null >/dev/null
	fails_with 1 "nsock: connect to 127.0.0.1 port $PORT: source ::1 has no IPv4 address" \
	    "$NSOCK" -s ::1 -c 127.0.0.1 "$PORT"
	SERVER_ADDR=::1 start_server </dev/null >/dev/null
	fails_with 1 "nsock: connect to ::1 port $PORT: source 127.0.0.1 has no IPv6 address" \
	    "$NSOCK" -s 127.0.0.1 -c ::1 "$PORT"
}

@test "a name with IPv6 and IPv4 addresses: -s 127.0.0.1 skips the IPv6 ones" {
	local name
	for name in localhost ip6-localhost; do
		getent ahosts "$name" | grep -q '^::1 ' &&
		    getent ahosts "$name" | grep -q '^127\.' && break
		name=
	done
	[ -n "$name" ] || skip "no name resolves to both ::1 and 127.0.0.1 here"
	SERVER_ADDR= start_server -v </dev/null >out 2>err
	echo both | timeout 10 "$NSOCK" -s 127.0.0.1 -c "$name" "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out)" = both ]
	connected_from err "::ffff:127.0.0.1 port "
}

@test "--retry with -s and -p: each attempt binds again, then connects" {
	local port sport
	port=$(free_port)
	sport=$(free_port)
	echo late >in
	bg timeout 10 "$NSOCK" -v --retry 8 -s 127.0.0.2 -p "$sport" \
	    -c 127.0.0.1 "$port" <in 2>cerr
	local client=$BG_PID
	# Once an attempt from that port has been refused, start the server.
	for _ in $(seq 250); do
		grep -q "retrying" cerr 2>/dev/null && break
		sleep 0.02
	done
	bg timeout 10 "$NSOCK" -v -l 127.0.0.1 "$port" </dev/null >out 2>err
	wait "$client"
	wait "$BG_PID"
	[ "$(cat out)" = late ]
	connected_from err "127.0.0.2 port $sport"
}

@test "the same -p again at once, over TIME_WAIT (SO_REUSEADDR)" {
	local sport
	sport=$(free_port)
	# The client half-closes first and the server only once it has the
	# bytes, so the client's side of the connection is left in TIME_WAIT.
	start_server >out1 < <(exec 3>&-; for _ in $(seq 500); do
		grep -q one out1 2>/dev/null && break
		sleep 0.02
	done)
	echo one | timeout 10 "$NSOCK" -s 127.0.0.1 -p "$sport" -c 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	start_server </dev/null >out2
	echo two | timeout 10 "$NSOCK" -s 127.0.0.1 -p "$sport" -c 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out2)" = two ]
}
