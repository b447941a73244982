#!/usr/bin/env bats
# --allow and --deny (server access control): addresses and CIDR prefixes,
# IPv4 and IPv6; checked right after accept for TCP, with every server
# model, and on each datagram for UDP. A refused TCP client is reset at
# once and never counts as served; under -v the server says whom it
# refused and why.

bats_require_minimum_version 1.5.0
load helpers

# refused ERRFILE PEER: the server (-v) reported refusing PEER.
refused() {
	grep -qF "nsock: refused $2" "$1" || { cat "$1" >&2; return 1; }
}

# client_refused ARGS...: nsock ARGS, a client, is reset at once: exit 1,
# one line naming the server, nothing received.
client_refused() {
	run --separate-stderr timeout 5 "$NSOCK" "$@" <<<"not welcome"
	echo "status=$status stderr=$stderr output=$output" >&2
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	# "connect to": the reset came before the handshake was done here.
	[[ "$stderr" == "nsock: connect"*" port $PORT: "* ]]
}

# model_refuses MODEL...: with --allow 127.0.0.2 and --count 1, a client
# from 127.0.0.1 is refused and not counted; one from 127.0.0.2 is served
# (it gets the server's stdin and the server gets its bytes); then the
# server exits 0.
model_refuses() {
	echo secret >secret
	random_file in 256K
	start_server -v "$@" --allow 127.0.0.2 --count 1 <secret >out 2>err
	client_refused -c 127.0.0.1 "$PORT"
	timeout 10 "$NSOCK" -s 127.0.0.2 -c 127.0.0.1 "$PORT" <in >got
	wait "$SERVER_PID"
	same in out
	[ "$(cat got)" = secret ]
	refused err "127.0.0.1 port "
	grep -q "no --allow matches" err
	[ "$(grep -c 'connection from' err)" -eq 1 ]
}

@test "--poll: a peer outside --allow is refused at once, not counted" {
	model_refuses --poll
}

@test "--fork: a peer outside --allow is refused at once, not counted" {
	model_refuses --fork
}

@test "--threads: a peer outside --allow is refused at once, not counted" {
	model_refuses --threads
}

@test "-k: a peer outside --allow is refused at once, not counted" {
	model_refuses -k
}

@test "-l alone: a refused peer does not use up the one client" {
	echo secret >secret
	start_server -v --allow 127.0.0.2 <secret >out 2>err
	client_refused -c 127.0.0.1 "$PORT"
	echo welcome | timeout 10 "$NSOCK" -s 127.0.0.2 -c 127.0.0.1 "$PORT" >got
	wait "$SERVER_PID"
	[ "$(cat out)" = welcome ]
	[ "$(cat got)" = secret ]
}

@test "--deny wins over --allow; handlers too (--echo, -e, --broker)" {
	start_server -v --poll --echo --count 1 --allow 127.0.0.0/8 \
	    --deny 127.0.0.1 </dev/null >/dev/null 2>err
	client_refused -c 127.0.0.1 "$PORT"
	echo echoed | timeout 10 "$NSOCK" -s 127.0.0.2 -c 127.0.0.1 "$PORT" >got
	wait "$SERVER_PID"
	[ "$(cat got)" = echoed ]
	refused err "127.0.0.1 port "
	grep -qF -- "--deny 127.0.0.1 matches" err
	start_server --fork -e 'echo ran' --count 1 --deny 127.0.0.1 </dev/null
	client_refused -c 127.0.0.1 "$PORT"
	timeout 10 "$NSOCK" -s 127.0.0.2 -c 127.0.0.1 "$PORT" </dev/null >got
	wait "$SERVER_PID"
	[ "$(cat got)" = ran ]
	start_server --threads --broker --deny 127.0.0.1 </dev/null
	client_refused -c 127.0.0.1 "$PORT"
}

@test "IPv4 prefixes: /31 takes .2 and .3, not .1; /0 takes all" {
	start_server -k --count 1 --allow 127.0.0.3/31 </dev/null >out
	client_refused -c 127.0.0.1 "$PORT"
	echo in | timeout 10 "$NSOCK" -s 127.0.0.2 -c 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out)" = in ]
	start_server -k --count 1 --deny 0.0.0.0/0 </dev/null >out
	client_refused -s 127.0.0.2 -c 127.0.0.1 "$PORT"
	kill "$SERVER_PID"
}

@test "IPv6: an address, a /127 prefix, and a prefix elsewhere" {
	SERVER_ADDR=::1 start_server -k --count 1 --allow 2001:db8::/32 \
	    </dev/null >/dev/null
	client_refused -c ::1 "$PORT"
	kill "$SERVER_PID"
	SERVER_ADDR=::1 start_server -k --count 1 --deny ::1 </dev/null >/dev/null
	client_refused -c ::1 "$PORT"
	kill "$SERVER_PID"
	SERVER_ADDR=::1 start_server -k --count 1 --allow ::/127 </dev/null >out
	echo six | timeout 10 "$NSOCK" -c ::1 "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out)" = six ]
}

@test "dual-stack listener: IPv4 clients (::ffff:a.b.c.d) match IPv4 rules" {
	SERVER_ADDR= start_server -v --threads --count 1 --deny 127.0.0.0/8 \
	    </dev/null >out 2>err
	client_refused -c 127.0.0.1 "$PORT"
	echo v6 | timeout 10 "$NSOCK" -c ::1 "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out)" = v6 ]
	refused err "::ffff:127.0.0.1 port "
	SERVER_ADDR= start_server --poll --count 1 --allow 127.0.0.1 \
	    </dev/null >out
	client_refused -c ::1 "$PORT"
	echo v4 | timeout 10 "$NSOCK" -c 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out)" = v4 ]
}

@test "an IPv4-mapped rule (::ffff:127.0.0.2) is an IPv4 rule" {
	start_server -k --count 1 --allow ::ffff:127.0.0.2 </dev/null >out
	client_refused -c 127.0.0.1 "$PORT"
	echo mapped | timeout 10 "$NSOCK" -s 127.0.0.2 -c 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out)" = mapped ]
}

@test "UDP: a datagram from outside --allow is dropped, not counted, not echoed" {
	start_server -u -v --echo --count 1 --allow 127.0.0.2 </dev/null >out 2>err
	echo dropped | timeout 10 "$NSOCK" -u -w 0.3 -c 127.0.0.1 "$PORT" >got1
	echo kept | timeout 10 "$NSOCK" -u -w 0.3 -s 127.0.0.2 -c 127.0.0.1 \
	    "$PORT" >got2
	wait "$SERVER_PID"
	[ "$(cat out)" = kept ]
	[ ! -s got1 ]
	[ "$(cat got2)" = kept ]
	grep -qF "nsock: dropped datagram from 127.0.0.1 port " err
	grep -q "no --allow matches" err
}

@test "UDP over IPv6 and dual-stack: --deny ::1, --deny 127.0.0.1/32" {
	SERVER_ADDR=::1 start_server -u --count 1 --allow ::/64 --deny ::1/128 \
	    -w 1 </dev/null >out
	echo six | timeout 10 "$NSOCK" -u -w 0.2 -c ::1 "$PORT"
	wait "$SERVER_PID"
	[ ! -s out ]
	SERVER_ADDR= start_server -u --count 1 --deny 127.0.0.1/32 </dev/null >out
	echo four | timeout 10 "$NSOCK" -u -w 0.2 -c 127.0.0.1 "$PORT"
	echo six | timeout 10 "$NSOCK" -u -w 0.2 -c ::1 "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out)" = six ]
}
