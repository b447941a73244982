#!/usr/bin/env bash
# Connections over 127.0.0.1: how many short echo sessions per second each
# server model sustains with C connections in flight, and what holding
# 10,000 idle connections costs it. Builds the C tools in tests/bench/out/:
# loadgen (the client), epoll_echo (the reference server), idle (the holder).
#
# Table 1: every server at every C, runs interleaved, median of RUNS; each
# connection sends a 64-byte request, half-closes, reads the echo to EOF.
# Table 2: RSS and PSS, processes and threads, with IDLE_K connections held,
# and the rate of new connections while they are held.
#
#   tests/bench/conns.sh
#
# Environment (defaults in brackets):
#   RUNS [3]            runs per server and C
#   CONNS ["1 16 256 1000"]   the values of C
#   N [2000]            connections per run; N_SLOW [1000] for servers
#                       that fork and exec per connection; at least 2*C
#   IDLE_K [10000]      connections held for table 2; IDLE_K_SOCAT [1000]
#   HELD_N [500]        echo sessions run at C=1 and C=16 while they are held
#   SERVERS, MEM_SERVERS  which servers, by the names in the tables
#   QUICK=1             RUNS=1 CONNS="1 256" N=500 N_SLOW=300 IDLE_K=1000
set -u
. "$(dirname "$0")/lib.sh"	# out, build, copy_nsock, free_port, median...
if [ "${QUICK:-0}" = 1 ]; then
	: "${RUNS:=1}" "${CONNS:=1 256}" "${N:=500}" "${N_SLOW:=300}"
	: "${IDLE_K:=1000}" "${IDLE_K_SOCAT:=300}" "${HELD_N:=200}"
fi
RUNS=${RUNS:-3}
CONNS=${CONNS:-1 16 256 1000}
N=${N:-2000}
N_SLOW=${N_SLOW:-1000}
IDLE_K=${IDLE_K:-10000}
IDLE_K_SOCAT=${IDLE_K_SOCAT:-1000}
HELD_N=${HELD_N:-500}
SERVERS=${SERVERS:-nsock-k nsock-fork nsock-threads nsock-poll nsock-fork-exec socat ncat epoll_echo}
MEM_SERVERS=${MEM_SERVERS:-nsock-poll nsock-threads nsock-fork epoll_echo socat}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build loadgen epoll_echo idle
copy_nsock "$work"
ulimit -n "$(ulimit -Hn)"

command -v socat >/dev/null || SERVERS=${SERVERS/socat/}
command -v socat >/dev/null || MEM_SERVERS=${MEM_SERVERS/socat/}
command -v ncat >/dev/null || SERVERS=${SERVERS/ncat/}

note() { echo "- $*" >>"$work/notes"; }

wait_port_file() {
	local tries=500
	until [ -s "$1" ]; do
		tries=$((tries - 1)); [ "$tries" -gt 0 ] || return 1
		sleep 0.01
	done
	cat "$1"
}

# start_server NAME: sets SPID (its timeout wrapper), PORT and SERVER (the
# server's own PID); 1 if it did not come up.
start_server() {
	local name=$1 pf=$work/port cmd=()
	rm -f "$pf"
	SERVER=
	case $name in
	nsock-k)	cmd=("$NSOCK" -l 127.0.0.1 0 --port-file "$pf" -k --echo) ;;
	nsock-fork)	cmd=("$NSOCK" -l 127.0.0.1 0 --port-file "$pf" --fork --echo) ;;
	nsock-threads)	cmd=("$NSOCK" -l 127.0.0.1 0 --port-file "$pf" --threads --echo) ;;
	nsock-poll)	cmd=("$NSOCK" -l 127.0.0.1 0 --port-file "$pf" --poll --echo) ;;
	nsock-fork-exec) cmd=("$NSOCK" -l 127.0.0.1 0 --port-file "$pf" --fork -e cat) ;;
	epoll_echo)	cmd=("$out/epoll_echo" "$pf") ;;
	socat)	PORT=$(free_port)
		cmd=(socat "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork,backlog=4096" PIPE) ;;
	ncat)	PORT=$(free_port)
		cmd=(ncat -l -k --exec /bin/cat 127.0.0.1 "$PORT") ;;
	esac
	timeout 900 "${cmd[@]}" </dev/null >/dev/null 2>>"$work/$name.err" &
	SPID=$!
	case $name in
	socat|ncat) wait_listening "$PORT" ;;
	*) PORT=$(wait_port_file "$pf") ;;
	esac || { note "$name did not start"; stop_server "$name"; return 1; }
	SERVER=$(pgrep -P "$SPID")
}

# stop_server NAME: SIGTERM, wait; note an nsock that does not exit 0 or
# leaves a process of its tree behind. Sets STOP_MS.
stop_server() {
	local rc pids p left=0 t0
	pids=$(tree "${SERVER:-$SPID}")
	t0=$(date +%s%N)
	kill -TERM "$SPID" 2>/dev/null
	wait "$SPID"
	rc=$?
	STOP_MS=$((($(date +%s%N) - t0) / 1000000))
	case $1 in
	nsock-*)
		[ "$rc" = 0 ] || note "$1 exited $rc after SIGTERM"
		for p in $pids; do
			kill -0 "$p" 2>/dev/null && left=$((left + 1))
		done
		[ "$left" = 0 ] || note "$1: $left processes alive after it exited"
		;;
	esac
}

# tree PID: PID and all its descendants.
tree() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END { q[1] = root; n = 1
		      for (i = 1; i <= n; i++) { print q[i]
			      m = split(kids[q[i]], k, " ")
			      for (j = 1; j <= m; j++) q[++n] = k[j] } }'
}

# measure PID: "PROCS THREADS RSS_KIB PSS_KIB" over its process tree.
measure() {
	local p
	for p in $(tree "$1"); do
		cat "/proc/$p/status" "/proc/$p/smaps_rollup" 2>/dev/null
	done | awk '/^Threads:/ { thr += $2; procs++ }
		/^Rss:/ { rss += $2 } /^Pss:/ { pss += $2 }
		END { print procs + 0, thr + 0, rss + 0, pss + 0 }'
}

# cpu_us PID N: CPU time of PID, its threads and its reaped children, in
# microseconds per connection of N; waits (at most 2 s) for the children
# of the last connections to be reaped. Ticks of 10 ms: the fastest
# servers spend 5-10 of them on a run, so this figure is coarse.
cpu_us() {
	local tries=200
	while pgrep -P "$1" >/dev/null && [ "$tries" -gt 0 ]; do
		tries=$((tries - 1))
		sleep 0.01
	done
	awk -v n="$2" -v hz="$(getconf CLK_TCK)" \
	    '{ printf "%.0f", ($14 + $15 + $16 + $17) * 1e6 / hz / n }' \
	    "/proc/$1/stat"
}

# one_run NAME C: append "RATE P50 P99 FAILURES CPU_US" to $work/NAME.C.
one_run() {
	local name=$1 c=$2 n=$N flags=() line cpu
	case $name in
	nsock-fork-exec|socat|ncat) n=$N_SLOW ;;
	esac
	[ "$n" -ge $((2 * c)) ] || n=$((2 * c))
	# ncat's --exec relay ends the session at the client's EOF, before
	# the command answers: it gets the whole echo back, then closes.
	[ "$name" = ncat ] && flags=(-H)
	start_server "$name" || return
	line=$(timeout 120 "$out/loadgen" 127.0.0.1 "$PORT" -c "$c" -n "$n" \
	    "${flags[@]}" 2>"$work/loadgen.err") ||
	    note "$(label "$name"), C=$c: ${line:-no result (timeout 120)}" \
	    "$(tr '\n' ' ' <"$work/loadgen.err")"
	cpu=$(cpu_us "$SERVER" "$n")
	stop_server "$name"
	echo "$line" | awk -F'[ =]' -v cpu="$cpu" \
	    '{ print $2, $4, $6, $8, cpu }' >>"$work/$name.$c"
}

rates() {
	local r c s
	for ((r = 1; r <= RUNS; r++)); do
		for c in $CONNS; do
			for s in $SERVERS; do
				one_run "$s" "$c"
			done
		done
	done
}

# col FILE K: column K of each run.
col() { awk -v k="$2" 'NF >= 4 { print $k }' "$1"; }

# label NAME: what the tables call a server.
label() {
	case $1 in
	nsock-k)	echo "nsock -k --echo" ;;
	nsock-fork)	echo "nsock --fork --echo" ;;
	nsock-threads)	echo "nsock --threads --echo" ;;
	nsock-poll)	echo "nsock --poll --echo" ;;
	nsock-fork-exec) echo "nsock --fork -e cat" ;;
	socat)	echo "socat fork PIPE" ;;
	ncat)	echo "ncat --exec /bin/cat (-H)" ;;
	*)	echo "$1" ;;
	esac
}

rate_table() {
	local c s f m base_s base_e fails
	echo "Connections per second over 127.0.0.1: 64-byte echo sessions," \
	    "C in flight, $N per run ($N_SLOW for the socat, ncat and -e" \
	    "servers; at least 2*C); median of $RUNS runs, interleaved," \
	    "a fresh server each run:"
	echo
	echo "| server | C | conns/s median (min-max) | p50 ms | p99 ms |" \
	    "failures | vs socat | vs epoll_echo | server CPU µs/conn |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for c in $CONNS; do
		base_s=$(col "$work/socat.$c" 1 2>/dev/null | median)
		base_e=$(col "$work/epoll_echo.$c" 1 2>/dev/null | median)
		for s in $SERVERS; do
			f=$work/$s.$c
			m=$(col "$f" 1 2>/dev/null | median)
			if [ -z "$m" ]; then
				echo "| $(label "$s") | $c | (no result) ||||||"
				continue
			fi
			fails=$(col "$f" 4 | awk '{ t += $1 } END { print t + 0 }')
			echo "| $(label "$s") | $c | $m ($(col "$f" 1 | minmax)) |" \
			    "$(col "$f" 2 | median) | $(col "$f" 3 | median) |" \
			    "$fails | $(ratio "$m" "$base_s") |" \
			    "$(ratio "$m" "$base_e") | $(col "$f" 5 | median) |"
		done
	done
}

# mem_one NAME K: hold K idle connections; print the table row. The
# server is stopped while they are held (nsock must end them all).
mem_one() {
	local name=$1 k=$2 base now held fail ipid r1 r16
	start_server "$name" || return
	base=$(measure "$SERVER")
	rm -f "$work/idle.in" "$work/idle.out"
	mkfifo "$work/idle.in"
	timeout 600 "$out/idle" 127.0.0.1 "$PORT" -k "$k" \
	    <"$work/idle.in" >"$work/idle.out" 2>>"$work/$name.idle" &
	ipid=$!
	exec 5>"$work/idle.in"
	until grep -q ready "$work/idle.out" 2>/dev/null; do
		kill -0 "$ipid" 2>/dev/null || break
		sleep 0.1
	done
	now=$(measure "$SERVER")
	read -r _ held fail <"$work/idle.out"
	[ "${fail:-1}" = 0 ] || note "$name: idle held ${held:-0} of $k" \
	    "($(tail -n 2 "$work/$name.idle" | tr '\n' ' '))"
	r1=$(held_rate "$name" 1) r16=$(held_rate "$name" 16)
	stop_server "$name"
	exec 5>&-
	wait "$ipid"
	# shellcheck disable=SC2086
	set -- $base $now
	awk -v l="$(label "$name")" -v k="${held:-0}" -v p="$5" -v t="$6" \
	    -v rss="$7" -v pss="$8" -v pss0="$4" -v stop="$STOP_MS" \
	    -v r1="$r1" -v r16="$r16" 'BEGIN {
		printf "| %s | %d | %d | %d | %.1f | %.1f | %.2f | %s / %s | %.2f |\n",
		    l, k, p, t, rss / 1024, pss / 1024,
		    k ? (pss - pss0) / k : 0, r1, r16, stop / 1000 }'
}

# held_rate NAME C: conns/s of HELD_N more echo sessions, C in flight,
# while the idle connections are held.
held_rate() {
	local line
	line=$(timeout 120 "$out/loadgen" 127.0.0.1 "$PORT" -c "$2" \
	    -n "$HELD_N" 2>"$work/loadgen.err") ||
	    note "$(label "$1"), C=$2 with idle held: ${line:-no result}" \
	    "$(tr '\n' ' ' <"$work/loadgen.err")"
	echo "$line" | awk -F'[ =]' '{ print $2 } END { if (!NR) print "-" }'
}

mem_table() {
	local s k hard
	hard=$(ulimit -Hn)
	if [ "$hard" != unlimited ] && [ "$IDLE_K" -gt $((hard - 64)) ]; then
		note "fd hard limit $hard: held $((hard - 64)), not $IDLE_K"
		IDLE_K=$((hard - 64))
	fi
	echo "Memory to hold $IDLE_K idle connections (each has echoed one" \
	    "byte), summed over the server's processes; socat holds" \
	    "$IDLE_K_SOCAT (a process each). While they are held, $HELD_N" \
	    "more echo sessions run at C=1 and at C=16; then the server is" \
	    "stopped with SIGTERM:"
	echo
	echo "| server | conns held | processes | threads | RSS MiB | PSS MiB |" \
	    "PSS KiB/conn over idle server | conns/s while held, C=1 / C=16 |" \
	    "SIGTERM to exit, s |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for s in $MEM_SERVERS; do
		k=$IDLE_K
		[ "$s" = socat ] && k=$IDLE_K_SOCAT
		mem_one "$s" "$k"
	done
}

rates
rate_table
echo
mem_table
if [ -s "$work/notes" ]; then
	echo
	echo "Notes:"
	cat "$work/notes"
fi
for s in $SERVERS; do
	[ -s "$work/$s.err" ] && { echo "$s stderr:"; sort "$work/$s.err" |
	    uniq -c | sort -rn | head -n 5; }
done
exit 0
