# Shared by the benchmark scripts in tests/bench/ (sourced, not run).

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$bench_dir/out

# build TOOL...: compile tests/bench/TOOL.c into tests/bench/out/TOOL.
build() {
	local t
	mkdir -p "$out"
	for t; do
		cc -std=gnu11 -O2 -Wall -Wextra -Werror -o "$out/$t" \
		    "$bench_dir/$t.c" || exit 1
	done
}

# copy_nsock DIR: sets NSOCK to a copy in DIR, so a rebuild of ./nsock
# while a benchmark runs does not mix two builds.
copy_nsock() {
	cp "${NSOCK:-$bench_dir/../../nsock}" "$1/nsock" || exit 1
	NSOCK=$1/nsock
}

# free_port: a port nobody listens on now (bound, then released).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_listening PORT [udp]: until a TCP socket listens on PORT, or with
# udp a UDP socket is bound to it (5 s at most).
wait_listening() {
	local tries=500 flags=-Hltn
	[ "${2:-}" = udp ] && flags=-Hlun
	until ss "$flags" "sport = :$1" | grep -q .; do
		tries=$((tries - 1)); [ "$tries" -gt 0 ] || return 1
		sleep 0.01
	done
}

# median, minmax: of the numbers on stdin, one a line.
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }
minmax() { sort -g | awk 'NR==1{lo=$1} {hi=$1} END {if (NR) print lo "-" hi}'; }

# field FILE NAME: the value of NAME=VALUE on each line of FILE.
field() {
	sed -n "s/.*\b$2=\([0-9.]*\).*/\1/p" "$1" 2>/dev/null
}

# ratio A B: A/B to two decimals, or - when B is missing or 0.
ratio() {
	awk -v a="$1" -v b="${2:-}" 'BEGIN {
		if (b == "" || b + 0 == 0 || a == "") print "-"
		else printf "%.2f\n", a / b }'
}

# select_tools "NAME...": sets the array tools to those of NAME that are
# installed: nc is nc.openbsd, busybox is busybox nc; ours always are.
select_tools() {
	local t
	tools=()
	for t in $1; do
		case $t in
		nc)	command -v nc.openbsd >/dev/null && tools+=(nc) ;;
		socat|ncat|busybox) command -v "$t" >/dev/null && tools+=("$t") ;;
		*)	tools+=("$t") ;;
		esac
	done
}

# print_err FILE: the commonest lines the tools wrote on stderr, if any.
print_err() {
	[ -s "$1" ] || return 0
	echo
	echo "stderr of the tools (counts):"
	echo
	sort "$1" | uniq -c | sort -rn | head -n 5 | sed 's/^/    /'
}
