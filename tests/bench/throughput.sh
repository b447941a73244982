#!/usr/bin/env bash
# Throughput over 127.0.0.1: one connection moves SIZE MiB (default 2048)
# client -> server, server > /dev/null, with the client's stdin a pipe
# (`cat FILE |`) and a regular file, for nsock, nc.openbsd, socat, ncat (the
# ones installed) and zc_ref, the splice/sendfile reference (zc_ref.c). Runs
# interleaved, RUNS each (default 5). First, each tool moves CHECK_MIB
# (default 16) MiB of random bytes from each source to a file and to a pipe,
# checked with cmp: nsock must be exact (exit 1 if not); others are reported.
# Prints Markdown tables: median GB/s, min-max, ratios to nc.openbsd and to
# zc_ref.
#
#   tests/bench/throughput.sh [SIZE_MIB] [RUNS]
#
# Environment: TOOLS (default "nsock nc socat ncat zc_ref"), CHECK_MIB, NSOCK.
# TOOLS may also name nsock_stats: nsock with --stats at both ends and
# --progress at the client (its meter is drawn only on a terminal; see
# tests/bench/README.md), to check that they cost the bulk path nothing.
set -u
. "$(dirname "$0")/lib.sh"	# out, build, copy_nsock, select_tools, median...
size_mib=${1:-2048}
runs=${2:-5}
CHECK_MIB=${CHECK_MIB:-16}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build zc_ref
copy_nsock "$work"

select_tools "${TOOLS:-nsock nc socat ncat zc_ref}"

# server_cmd TOOL PORT / client_cmd TOOL PORT: the pair for one tool.
server_cmd() {
	case $1 in
	nsock)	echo "$NSOCK -l 127.0.0.1 $2" ;;
	nsock_stats) echo "$NSOCK -l --stats 127.0.0.1 $2" ;;
	nc)	echo "nc.openbsd -l 127.0.0.1 $2" ;;
	socat)	echo "socat -u TCP-LISTEN:$2,bind=127.0.0.1,reuseaddr STDOUT" ;;
	ncat)	echo "ncat -l --recv-only 127.0.0.1 $2" ;;
	zc_ref)	echo "$out/zc_ref -l $2" ;;
	esac
}
client_cmd() {
	case $1 in
	nsock)	echo "$NSOCK -c 127.0.0.1 $2" ;;
	nsock_stats) echo "$NSOCK -c --stats --progress 127.0.0.1 $2" ;;
	nc)	echo "nc.openbsd -N 127.0.0.1 $2" ;;
	socat)	echo "socat -u STDIN TCP:127.0.0.1:$2" ;;
	ncat)	echo "ncat --send-only 127.0.0.1 $2" ;;
	zc_ref)	echo "$out/zc_ref -c $2" ;;
	esac
}

# one_run TOOL SOURCE FILE SINK: FILE from SOURCE (pipe or file) through
# TOOL into SINK (a path; with a "|" before it, through `cat >`, so the
# server's stdout is a pipe). Prints the seconds from the client's start
# to the server's exit, or "fail".
one_run() {
	local tool=$1 src=$2 file=$3 sink=$4 port t0 t1 spid rc=0
	port=$(free_port)
	if [ "${sink:0:1}" = "|" ]; then
		# shellcheck disable=SC2046
		timeout 300 $(server_cmd "$tool" "$port") </dev/null 2>>"$work/err" |
		    cat >"${sink:1}" &
	else
		# shellcheck disable=SC2046
		timeout 300 $(server_cmd "$tool" "$port") </dev/null \
		    >"$sink" 2>>"$work/err" &
	fi
	spid=$!
	wait_listening "$port" || { kill "$spid"; wait "$spid"; echo fail; return; }
	t0=$EPOCHREALTIME
	if [ "$src" = pipe ]; then
		cat "$file" | timeout 300 $(client_cmd "$tool" "$port") \
		    >/dev/null 2>>"$work/err" || rc=1
	else
		timeout 300 $(client_cmd "$tool" "$port") <"$file" \
		    >/dev/null 2>>"$work/err" || rc=1
	fi
	wait "$spid" || rc=1
	t1=$EPOCHREALTIME
	[ "$rc" = 0 ] || { echo fail; return; }
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
}

# check TOOL: one line of the integrity table.
check() {
	local tool=$1 src sink cells="" res
	for src in pipe file; do
		for sink in "$work/got" "|$work/got"; do
			rm -f "$work/got"
			res=$(one_run "$tool" "$src" "$work/random" "$sink")
			if [ "$res" = fail ]; then
				res="fail (exit)"
			elif cmp -s "$work/random" "$work/got"; then
				res=ok
			else
				res="DIFFERS ($(stat -c %s "$work/got") bytes)"
			fi
			[ "$res" = ok ] || { [ "${tool%_stats}" = nsock ] && nsock_bad=1; }
			cells="$cells | $res"
		done
	done
	echo "| $tool$cells |"
}

nsock_bad=0
head -c $((CHECK_MIB * 1048576)) /dev/urandom >"$work/random"
echo "Integrity: $CHECK_MIB MiB of random bytes, client stdin from each" \
    "source, server stdout to a file or a pipe (\`| cat > file\`), then cmp:"
echo
echo "| tool | pipe -> file | pipe -> pipe | file -> file | file -> pipe |"
echo "|---|---|---|---|---|"
for tool in "${tools[@]}"; do
	check "$tool"
done
rm -f "$work/random" "$work/got"
echo

bytes=$((size_mib * 1048576))
head -c "$bytes" /dev/zero >"$work/file"
cat "$work/file" >/dev/null		# in the page cache before the first run
for ((r = 1; r <= runs; r++)); do
	for src in pipe file; do
		for tool in "${tools[@]}"; do
			one_run "$tool" "$src" "$work/file" /dev/null \
			    >>"$work/$tool.$src"
		done
	done
done

# gbps FILE: the runs' GB/s, one a line (failed runs left out).
gbps() {
	awk -v b="$bytes" '$1 != "fail" && $1 > 0 { printf "%.3f\n", b / $1 / 1e9 }' "$1"
}

echo "Throughput, $size_mib MiB over 127.0.0.1, client < SOURCE," \
    "server > /dev/null; runs interleaved, median of $runs:"
echo
echo "| source | tool | median GB/s | min-max | vs nc.openbsd | vs zc_ref | failed runs |"
echo "|---|---|---|---|---|---|---|"
for src in pipe file; do
	base_nc=$(gbps "$work/nc.$src" 2>/dev/null | median)
	base_zc=$(gbps "$work/zc_ref.$src" 2>/dev/null | median)
	for tool in "${tools[@]}"; do
		m=$(gbps "$work/$tool.$src" | median)
		echo "| $src | $tool | ${m:--} | $(gbps "$work/$tool.$src" | minmax) |" \
		    "$(ratio "$m" "$base_nc") | $(ratio "$m" "$base_zc") |" \
		    "$(grep -c fail "$work/$tool.$src") |"
	done
done
print_err "$work/err"
if [ "$nsock_bad" = 1 ]; then
	echo
	echo "nsock did not move the bytes exactly: see the integrity table."
	exit 1
fi
exit 0
