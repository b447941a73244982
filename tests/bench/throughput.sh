#!/usr/bin/env bash
# Throughput over 127.0.0.1: SIZE bytes (default 2 GiB) from a pipe and from
# a regular file, server > /dev/null, for nsock, nc.openbsd and socat (the
# ones installed), runs interleaved, RUNS runs each (default 5). Prints a
# Markdown table: median GB/s, min-max, and the ratio to nc.openbsd.
#
#   tests/bench/throughput.sh [SIZE_MIB] [RUNS]
set -u
here=$(cd "$(dirname "$0")" && pwd)
NSOCK=${NSOCK:-$here/../../nsock}
size_mib=${1:-2048}
runs=${2:-5}
bytes=$((size_mib * 1048576))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

. "$(dirname "$0")/lib.sh"	# free_port, wait_listening

# server_cmd TOOL PORT / client_cmd TOOL PORT: the pair for one tool.
server_cmd() {
	case $1 in
	nsock)	echo "$NSOCK -l 127.0.0.1 $2" ;;
	nc)	echo "nc.openbsd -l 127.0.0.1 $2" ;;
	socat)	echo "socat -u TCP-LISTEN:$2,bind=127.0.0.1,reuseaddr STDOUT" ;;
	esac
}
client_cmd() {
	case $1 in
	nsock)	echo "$NSOCK -c 127.0.0.1 $2" ;;
	nc)	echo "nc.openbsd -N 127.0.0.1 $2" ;;
	socat)	echo "socat -u STDIN TCP:127.0.0.1:$2" ;;
	esac
}

# one_run TOOL SOURCE: seconds for one transfer (server start excluded).
one_run() {
	local tool=$1 src=$2 port t0 t1 spid
	port=$(free_port)
	$(server_cmd "$tool" "$port") </dev/null >/dev/null &
	spid=$!
	wait_listening "$port" || { kill "$spid"; echo "nan"; return; }
	t0=$(date +%s%N)
	if [ "$src" = pipe ]; then
		head -c "$bytes" /dev/zero | $(client_cmd "$tool" "$port") >/dev/null
	else
		$(client_cmd "$tool" "$port") <"$work/file" >/dev/null
	fi
	wait "$spid"
	t1=$(date +%s%N)
	echo "scale=3; $bytes / ($t1 - $t0)" | bc	# bytes per ns = GB/s
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
minmax() { sort -n | awk 'NR==1{lo=$1} {hi=$1} END {print lo "-" hi}'; }

tools=(nsock)
command -v nc.openbsd >/dev/null && tools+=(nc)
command -v socat >/dev/null && tools+=(socat)
head -c "$bytes" /dev/zero >"$work/file"

for src in pipe file; do
	for ((r = 1; r <= runs; r++)); do
		for tool in "${tools[@]}"; do
			one_run "$tool" "$src" >>"$work/$tool.$src"
		done
	done
done

echo "Throughput, $size_mib MiB over 127.0.0.1, median of $runs runs (GB/s):"
echo
echo "| source | tool | median GB/s | min-max | vs nc.openbsd |"
echo "|---|---|---|---|---|"
for src in pipe file; do
	base=$(median <"$work/nc.$src" 2>/dev/null)
	for tool in "${tools[@]}"; do
		m=$(median <"$work/$tool.$src")
		ratio=-
		[ -n "${base:-}" ] && ratio=$(echo "scale=2; $m / $base" | bc)
		echo "| $src | $tool | $m | $(minmax <"$work/$tool.$src") | $ratio |"
	done
done
