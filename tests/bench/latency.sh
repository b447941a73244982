#!/usr/bin/env bash
# Client round trip over 127.0.0.1: one invocation of a client sends one
# byte, half-closes, and returns once the echo and the server's EOF have
# come back, as `printf x | CLIENT 127.0.0.1 PORT` does. The server is
# tests/bench/out/epoll_echo, the same for all. The driver, rtt (rtt.c),
# forks and execs each invocation and times it from fork to waitpid, so no
# shell runs between them. /bin/true shows the fork+exec floor, zc_ref -c
# (zc_ref.c) what a minimal C client costs. ROUNDS rounds (default 5),
# interleaved, each of N invocations per client (default 100; N_SLOW,
# default 10, for ncat, which takes about 50 ms each); W more warm each
# round up, uncounted. Prints a Markdown table; the syscall column is from
# one invocation under `strace -f -c`, when strace is installed.
#
#   tests/bench/latency.sh [N] [ROUNDS]
#
# Environment: TOOLS (default "true zc_ref nsock busybox nc socat ncat"),
# N_SLOW, NSOCK.
set -u
. "$(dirname "$0")/lib.sh"	# out, build, copy_nsock, select_tools, median...
n=${1:-100}
rounds=${2:-5}
N_SLOW=${N_SLOW:-10}
work=$(mktemp -d)
trap 'kill "$echo_pid" 2>/dev/null; rm -rf "$work"' EXIT
build rtt epoll_echo zc_ref
copy_nsock "$work"
select_tools "${TOOLS:-true zc_ref nsock busybox nc socat ncat}"

timeout 900 "$out/epoll_echo" "$work/port" &
echo_pid=$!
until [ -s "$work/port" ]; do sleep 0.01; done
port=$(cat "$work/port")

# client_cmd TOOL: the command line of one invocation.
client_cmd() {
	case $1 in
	true)	echo "/bin/true" ;;
	zc_ref)	echo "$out/zc_ref -c $port" ;;
	nsock)	echo "$NSOCK 127.0.0.1 $port" ;;
	busybox) echo "busybox nc 127.0.0.1 $port" ;;
	nc)	echo "nc.openbsd -N 127.0.0.1 $port" ;;
	socat)	echo "socat - TCP:127.0.0.1:$port" ;;
	ncat)	echo "ncat 127.0.0.1 $port" ;;
	esac
}

# label TOOL: what the table calls it.
label() {
	case $1 in
	true)	echo "/bin/true (fork+exec floor)" ;;
	zc_ref)	echo "zc_ref -c (minimal C client)" ;;
	busybox) echo "busybox nc" ;;
	nc)	echo "nc.openbsd -N" ;;
	socat)	echo "socat - TCP:" ;;
	*)	echo "$1" ;;
	esac
}

for ((r = 1; r <= rounds; r++)); do
	for tool in "${tools[@]}"; do
		k=$n expect=()
		[ "$tool" = ncat ] && k=$N_SLOW
		[ "$tool" = true ] && expect=(-e "")
		# shellcheck disable=SC2046
		timeout 600 "$out/rtt" -n "$k" -w 3 "${expect[@]}" -- \
		    $(client_cmd "$tool") >>"$work/res.$tool" 2>>"$work/err"
	done
done

# syscalls TOOL: system calls of one invocation, its children included.
syscalls() {
	command -v strace >/dev/null || { echo -; return; }
	# shellcheck disable=SC2046
	printf x | timeout 20 strace -f -c -o "$work/strace" \
	    $(client_cmd "$1") >/dev/null 2>&1
	awk '$NF == "total" { print $(NF - 2) + 0 }' "$work/strace"
}

floor=$(field "$work/res.true" p50 2>/dev/null | median)
base=$(field "$work/res.busybox" p50 2>/dev/null | median)
echo "Client round trip: 1 byte to an echo server (epoll_echo) and back," \
    "one invocation each, timed from fork to waitpid; $n invocations" \
    "($N_SLOW for ncat) in each of $rounds interleaved rounds; each figure" \
    "is the median over the rounds (ms):"
echo
echo "| client | p50 ms (min-max over rounds) | mean ms | p99 ms |" \
    "over the floor, ms | vs busybox nc | syscalls | failed |"
echo "|---|---|---|---|---|---|---|---|"
for tool in "${tools[@]}"; do
	f=$work/res.$tool
	m=$(field "$f" p50 | median)
	over=-
	[ -n "$floor" ] && [ -n "$m" ] &&
	    over=$(awk -v a="$m" -v b="$floor" 'BEGIN { printf "%.3f", a - b }')
	echo "| $(label "$tool") | ${m:--} ($(field "$f" p50 | minmax)) |" \
	    "$(field "$f" mean | median) | $(field "$f" p99 | median) |" \
	    "$over | $(ratio "$m" "$base") | $(syscalls "$tool") |" \
	    "$(field "$f" failures | awk '{ t += $1 } END { print t + 0 }') |"
done
print_err "$work/err"
exit 0
