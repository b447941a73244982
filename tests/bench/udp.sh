#!/usr/bin/env bash
# UDP over 127.0.0.1: how many 1200-byte datagrams per second a tool
# delivers intact, and how many it loses, for nsock, nc.openbsd, socat and
# ncat (the ones installed), runs interleaved, median of RUNS (default 5)
# runs of N datagrams (default 200000). Each datagram is distinct (header,
# sequence number, bytes derived from it): see udpbench.c.
#
# Table 1, sending (the tool a client, stdin -> datagrams): `udpbench feed`
# writes the N datagrams into the tool's stdin, one write(2) each, as fast
# as the pipe takes them, and `udpbench sink` counts what reaches a UDP
# socket. Two feeds: a packet-mode pipe (O_DIRECT: a read returns one write,
# so a tool that sends each read as it is sends whole datagrams), and a
# plain pipe as in a shell pipeline (a read returns what is there: several
# writes, or part of one, when the tool falls behind).
# Table 2, receiving (the tool a server, datagrams -> stdout): `udpbench
# blast` sends the N datagrams with sendmmsg(2), unpaced and then paced at
# RECV_RATE per second, and `udpbench sink -i` checks the stream on the
# tool's stdout.
#
#   tests/bench/udp.sh [N] [RUNS]
#
# Exit 1 if nsock sent or wrote a datagram that was not whole (merged,
# damaged, repeated); loss is reported, not failed.
#
# Environment: TOOLS (default "nsock nc socat ncat"), RECV_RATE (100000),
# NSOCK.
set -u
. "$(dirname "$0")/lib.sh"	# out, build, copy_nsock, select_tools, median...
n=${1:-200000}
runs=${2:-5}
RECV_RATE=${RECV_RATE:-100000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build udpbench
copy_nsock "$work"

select_tools "${TOOLS:-nsock nc socat ncat}"

client_cmd() {
	case $1 in
	nsock)	echo "$NSOCK -u 127.0.0.1 $2" ;;
	nc)	echo "nc.openbsd -u 127.0.0.1 $2" ;;
	socat)	echo "socat -u STDIN UDP:127.0.0.1:$2" ;;
	ncat)	echo "ncat --udp --send-only 127.0.0.1 $2" ;;
	esac
}
server_cmd() {
	case $1 in
	nsock)	echo "$NSOCK -u -l 127.0.0.1 $2" ;;
	nc)	echo "nc.openbsd -u -l 127.0.0.1 $2" ;;
	socat)	echo "socat -u UDP-RECV:$2,bind=127.0.0.1 STDOUT" ;;
	ncat)	echo "ncat --udp -l --recv-only 127.0.0.1 $2" ;;
	esac
}

# send_run TOOL FEED (packet or stream): the sink's line, appended to
# $work/send.FEED.TOOL. The tool gets 1 s after its stdin ends to send
# what it holds and exit; then SIGTERM (nc.openbsd -u never exits).
send_run() {
	local tool=$1 feed=$2 flag= spid
	[ "$feed" = stream ] && flag=-s
	rm -f "$work/port"
	timeout 60 "$out/udpbench" sink -n "$n" -t 0.5 -p "$work/port" \
	    >>"$work/send.$feed.$tool" &
	spid=$!
	until [ -s "$work/port" ]; do sleep 0.01; done
	# shellcheck disable=SC2046,SC2086
	timeout 60 "$out/udpbench" feed -n "$n" $flag -w 1 -- \
	    $(client_cmd "$tool" "$(cat "$work/port")") 2>>"$work/err"
	wait "$spid"
}

# recv_run TOOL RATE (0: unpaced): the sink's line, appended to
# $work/recv.RATE.TOOL.
recv_run() {
	local tool=$1 rate=$2 port tpid spid
	port=$(free_port)
	rm -f "$work/fifo"
	mkfifo "$work/fifo"
	# shellcheck disable=SC2046
	timeout 60 $(server_cmd "$tool" "$port") </dev/null >"$work/fifo" \
	    2>>"$work/err" &
	tpid=$!
	timeout 60 "$out/udpbench" sink -n "$n" -t 0.5 -i <"$work/fifo" \
	    >>"$work/recv.$rate.$tool" &
	spid=$!
	if wait_listening "$port" udp; then
		timeout 60 "$out/udpbench" blast -n "$n" -r "$rate" "$port" \
		    2>/dev/null
	fi
	wait "$spid"
	kill "$tpid" 2>/dev/null
	wait "$tpid" 2>/dev/null
}

for ((r = 1; r <= runs; r++)); do
	for tool in "${tools[@]}"; do
		send_run "$tool" packet
		send_run "$tool" stream
		recv_run "$tool" 0
		recv_run "$tool" "$RECV_RATE"
	done
done

# row FILE LABEL TOOL BASEFILE [merged]: one table row; the merged column
# only when asked (a stream has no datagrams to merge).
row() {
	local m q merged=
	m=$(field "$1" rate | median)
	q=$(field "$1" rec_rate | median)
	[ -n "${5:-}" ] && merged="$(field "$1" merged | median) | "
	echo "| $2 | $3 | ${m:--} ($(field "$1" rate | minmax)) |" \
	    "$(ratio "$m" "$(field "$4" rate | median)") | ${q:--} |" \
	    "$(ratio "$q" "$(field "$4" rec_rate | median)") |" \
	    "$(field "$1" loss_pct | median) | $merged$(field "$1" bad | median) |"
}

echo "UDP sending: $n datagrams of 1200 bytes written into the client's" \
    "stdin one write each, as fast as the pipe takes them; received on a" \
    "UDP socket; median of $runs runs, interleaved:"
echo
echo "| stdin | tool | intact datagrams/s median (min-max) | vs nc.openbsd |" \
    "records/s, merged ones too | vs nc.openbsd | loss % |" \
    "merged datagrams | bad datagrams |"
echo "|---|---|---|---|---|---|---|---|---|"
for feed in packet stream; do
	label="packet pipe"
	[ "$feed" = stream ] && label="plain pipe"
	for tool in "${tools[@]}"; do
		row "$work/send.$feed.$tool" "$label" "$tool" \
		    "$work/send.$feed.nc" merged
	done
done
echo
echo "UDP receiving: $n datagrams of 1200 bytes sent to the server, which" \
    "writes them to a pipe; checked there as a stream of records; median" \
    "of $runs runs, interleaved:"
echo
echo "| sender | tool | intact datagrams/s median (min-max) | vs nc.openbsd |" \
    "records/s | vs nc.openbsd | loss % | damaged stretches |"
echo "|---|---|---|---|---|---|---|---|"
for rate in 0 "$RECV_RATE"; do
	label="unpaced"
	[ "$rate" = 0 ] || label="$rate/s"
	for tool in "${tools[@]}"; do
		row "$work/recv.$rate.$tool" "$label" "$tool" "$work/recv.$rate.nc"
	done
done
print_err "$work/err"
# nsock must keep every datagram whole: no merged, bad or repeated one
# from the packet pipe, no damage in what it writes (loss is not damage).
if cat "$work/send.packet.nsock" "$work"/recv.*.nsock 2>/dev/null |
    grep -Eq 'bad=[1-9]|merged=[1-9]|dups=[1-9]'; then
	echo
	echo "nsock merged, damaged or repeated datagrams: see the tables."
	exit 1
fi
exit 0
