#!/usr/bin/env bats
# Slow and lossy links (SPEC.md item 1: exact bytes at any pacing). Each
# test makes two network namespaces of its own joined by a veth pair, both
# ends shaped to 20 Mbit/s by tbf, and runs the server in one and the
# clients in the other: TCP then meets real backpressure, partial sends
# and, on the lossy link, retransmissions. Sizes are set for a few seconds
# a test. Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN), ip and tc, veth and
# the tbf qdisc; each test is skipped, saying why, where they are missing.
# The addresses (10.77.0.0/24) exist only inside the namespaces.

bats_require_minimum_version 1.5.0
load helpers

SERVER_IP=10.77.0.1
CLIENT_IP=10.77.0.2
SHAPE="rate 20mbit burst 32kbit latency 400ms"

teardown() {
	stop_bg
	netns_down
}

# link_up: the namespaces NS_S (server) and NS_C (clients), named after
# this run and test, joined by a veth pair, each end shaped by tbf.
link_up() {
	local ns
	NS_S=nsock-$$-$BATS_TEST_NUMBER-s
	NS_C=nsock-$$-$BATS_TEST_NUMBER-c
	[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
	command -v ip >/dev/null && command -v tc >/dev/null ||
	    skip "ip and tc (iproute2) are not installed"
	ip netns add "$NS_S" 2>/dev/null || skip "cannot create a network namespace"
	ip netns add "$NS_C" || return 1
	ip link add vs netns "$NS_S" type veth peer name vc netns "$NS_C" ||
	    skip "cannot create a veth pair"
	ip -n "$NS_S" addr add "$SERVER_IP/24" dev vs
	ip -n "$NS_C" addr add "$CLIENT_IP/24" dev vc
	ip -n "$NS_S" link set vs up
	ip -n "$NS_C" link set vc up
	tc -n "$NS_S" qdisc add dev vs root tbf $SHAPE 2>/dev/null ||
	    skip "no tbf qdisc in this kernel"
	tc -n "$NS_C" qdisc add dev vc root tbf $SHAPE
	# Socket buffers of at most 128 KiB (these are per namespace): a few
	# MiB then overflow them many times over, so sends come up short.
	for ns in "$NS_S" "$NS_C"; do
		ip netns exec "$ns" sh -c 'cd /proc/sys/net/ipv4 &&
		    echo 4096 16384 131072 >tcp_wmem && echo 4096 65536 131072 >tcp_rmem'
	done
}

# lossy PERCENT: PERCENT % of the packets each way are lost, at random,
# unknown to the sender (a local drop it would just send again): netem
# where the kernel has it, in place of tbf and with its rate; else a
# classic BPF filter on each end's clsact ingress hook (no module needed
# where cls_bpf is built in, as here), after tbf. The filter loads a
# random number (SKF_AD_OFF + SKF_AD_RANDOM), passes the packet (TC_ACT_OK)
# if it is above PERCENT % of 2^32, else drops it (TC_ACT_SHOT).
lossy() {
	local ns dev at=$(( $1 * 4294967296 / 100 ))
	for ns in "$NS_S:vs" "$NS_C:vc"; do
		dev=${ns#*:} ns=${ns%:*}
		tc -n "$ns" qdisc replace dev "$dev" root netem loss "$1%" \
		    rate 20mbit 2>/dev/null && continue
		tc -n "$ns" qdisc add dev "$dev" clsact 2>/dev/null &&
		    tc -n "$ns" filter add dev "$dev" ingress bpf da bytecode \
		    "4,32 0 0 4294963256,37 0 1 $at,6 0 0 0,6 0 0 2" 2>/dev/null ||
		    skip "neither netem nor cls_bpf to drop packets with"
	done
}

netns_down() {
	local ns pid
	for ns in "${NS_S:-}" "${NS_C:-}"; do
		[ -n "$ns" ] || continue
		# What a test left running in it (all under timeout anyway).
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# retransmitted: TCP segments sent again in the two namespaces.
retransmitted() {
	local ns total=0 n
	for ns in "$NS_S" "$NS_C"; do
		n=$(ip netns exec "$ns" awk '$1 == "Tcp:" && $13 ~ /^[0-9]+$/ { print $13 }' /proc/net/snmp)
		total=$((total + n))
	done
	echo "$total"
}

# ns_server ARGS...: nsock -l ARGS on SERVER_IP port 0 in NS_S, in the
# background; sets SERVER_PID and PORT.
ns_server() {
	bg ip netns exec "$NS_S" timeout 60 "$NSOCK" -l --port-file "$T/port" \
	    "$@" "$SERVER_IP" 0
	SERVER_PID=$BG_PID
	wait_for_file "$T/port" 5 && PORT=$(<"$T/port")
}

# ns_client ARGS...: nsock -c ARGS to the server, from NS_C.
ns_client() {
	timeout 60 ip netns exec "$NS_C" "$NSOCK" "$@" -c "$SERVER_IP" "$PORT"
}

@test "20 Mbit/s: 4 MiB each way at once arrive exact, both exit 0" {
	link_up
	random_file up 4M
	random_file down 4M
	ns_server <down >up.got
	local start=${EPOCHREALTIME/./}
	ns_client <up >down.got
	wait "$SERVER_PID"
	same up up.got
	same down down.got
	# The link is that slow: 4 MiB take 1.7 s at 20 Mbit/s.
	[ $(( ${EPOCHREALTIME/./} - start )) -gt 1500000 ]
}

@test "20 Mbit/s: pipes at both ends (splice), 3 MiB each way arrive exact" {
	link_up
	random_file up 3M
	random_file down 3M
	ns_server < <(cat down) > >(cat >up.got)
	cat up | ns_client | cat >down.got
	wait "$SERVER_PID"
	same down down.got
	wait_size up.got 3145728
	same up up.got
}

# echo_clients N SIZE: N concurrent clients of a --poll --echo server
# each get their own SIZE bytes back.
echo_clients() {
	local i pids=()
	ns_server --poll --echo --count "$1" </dev/null >/dev/null
	for ((i = 1; i <= $1; i++)); do
		random_file "in.$i" "$2"
		bg ns_client <"in.$i" >"out.$i"
		pids+=("$BG_PID")
	done
	for i in "${pids[@]}"; do wait "$i"; done
	wait "$SERVER_PID"
	for ((i = 1; i <= $1; i++)); do same "in.$i" "out.$i"; done
}

@test "20 Mbit/s: --poll --echo gives 6 concurrent clients their own 768 KiB back" {
	link_up
	echo_clients 6 768K
}

@test "20 Mbit/s, 2% loss each way: 2 MiB each way arrive exact" {
	link_up
	lossy 2
	random_file up 2M
	random_file down 2M
	ns_server <down >up.got
	ns_client <up >down.got
	wait "$SERVER_PID"
	same up up.got
	same down down.got
	echo "$(retransmitted) segments retransmitted" >&2
	[ "$(retransmitted)" -gt 0 ]
}

@test "20 Mbit/s, 2% loss each way: --poll --echo gives 4 concurrent clients their 512 KiB back" {
	link_up
	lossy 2
	echo_clients 4 512K
	[ "$(retransmitted)" -gt 0 ]
}
