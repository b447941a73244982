# Shared by every tests/*.bats. Each test runs in its own temp dir; every
# process a test starts in the background is recorded and killed by PID in
# teardown; every process runs under timeout; ports come from --port-file.

NSOCK=${NSOCK:-$BATS_TEST_DIRNAME/../nsock}
# start_server runs NSOCK_SERVER: make valgrind watches servers alone.
NSOCK_SERVER=${NSOCK_SERVER:-$NSOCK}
T=${BATS_TEST_TMPDIR:-/tmp}

# A slow run (make valgrind) sets NSOCK_TIME_SCALE: every `timeout N`,
# wait and time bound then allows that many times as long.
TIME_SCALE=${NSOCK_TIME_SCALE:-1}
if [ "$TIME_SCALE" != 1 ]; then
	PATH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/valgrind:$PATH
fi

# scaled N: N times NSOCK_TIME_SCALE (an integer N: rounded up).
scaled() {
	[ "$TIME_SCALE" = 1 ] && { echo "$1"; return; }
	awk -v n="$1" -v s="$TIME_SCALE" 'BEGIN { v = n * s;
	    print (n != int(n) || v == int(v)) ? v : int(v) + 1 }'
}

setup() {
	BG_PIDS=()
	T=$BATS_TEST_TMPDIR
	cd "$T" || return 1
}

teardown() {
	stop_bg
}

# stop_bg: kill every process bg started, by PID, and reap it (a file
# with a teardown of its own calls this first).
stop_bg() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${BG_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	return 0
}

# bg CMD...: run CMD in the background (fd 3 closed, so bats never waits;
# 0<&0, or bash would give it /dev/null as stdin),
# remember its PID in BG_PID and for teardown.
bg() {
	"$@" 0<&0 3>&- &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
}

# eventually SECS CMD...: until CMD succeeds, trying for up to SECS.
eventually() {
	local tries=$(( $(scaled "$1") * 50 ))
	shift
	until "$@"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.02
	done
}

# connections N: until the server's -v log (err) has N "connection from".
connections() { eventually 10 logged_connections "$1"; }
logged_connections() { [ "$(grep -c 'connection from' err)" -ge "$1" ]; }

# children PID: the number of its child processes.
children() { pgrep -P "$1" | wc -l; }

# wait_for TEST FILE SECS: until [ TEST FILE ] holds (-s, -S, ...).
wait_for() {
	eventually "$3" [ "$1" "$2" ] || { echo "no $2 ($1)" >&2; return 1; }
}

# wait_size FILE BYTES: until FILE holds BYTES (a server's stdout, which
# it writes after its client has gone).
wait_size() {
	eventually 10 holds "$1" "$2" ||
	    { echo "$1: $(stat -c %s "$1") of $2 bytes" >&2; return 1; }
}
holds() { [ "$(stat -c %s "$1")" -ge "$2" ]; }

# wait_for_file FILE [SECS]: until FILE exists and is not empty.
wait_for_file() {
	wait_for -s "$1" "${2:-5}"
}

# wait_for_socket PATH [SECS]: until PATH is a Unix domain socket.
wait_for_socket() {
	wait_for -S "$1" "${2:-5}"
}

# wait_for_port PORT: until something accepts on 127.0.0.1 PORT (for
# peers that have no --port-file).
wait_for_port() {
	local tries=250
	until timeout 1 bash -c "exec 9<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.02
	done
}

# start_server [OPTIONS...]: nsock -l on 127.0.0.1, port 0, in the
# background; sets SERVER_PID and PORT. Redirect its stdin/stdout at the
# call. SERVER_ADDR overrides the address, SERVER_TIMEOUT the bound.
start_server() {
	local pf addr=()
	pf=$(mktemp "$T/port.XXXXXX")
	rm -f "$pf"
	# SERVER_ADDR= (set, empty): no ADDRESS, listen on all addresses.
	[ -n "${SERVER_ADDR-127.0.0.1}" ] && addr=("${SERVER_ADDR-127.0.0.1}")
	bg timeout "${SERVER_TIMEOUT:-30}" "$NSOCK_SERVER" -l --port-file "$pf" \
	    "$@" "${addr[@]}" 0
	SERVER_PID=$BG_PID
	wait_for_file "$pf" 5 || return 1
	PORT=$(<"$pf")
}

# free_port: a port nobody listens on now (bound, then released).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# random_file NAME SIZE: SIZE as head -c takes it (e.g. 8M).
random_file() {
	head -c "$2" /dev/urandom >"$1"
}

sha() {
	sha256sum "$1" | cut -d' ' -f1
}

# both_ways SIZE: a server and a client each send SIZE random bytes to the
# other at once; each side gets the other's exactly.
both_ways() {
	random_file a "$1"
	random_file b "$1"
	start_server <a >b.got
	timeout 20 "$NSOCK" -c 127.0.0.1 "$PORT" <b >a.got
	wait "$SERVER_PID"
	same a a.got
	same b b.got
}

# same FILE1 FILE2: equal by checksum, with sizes shown when not.
same() {
	if [ "$(sha "$1")" != "$(sha "$2")" ]; then
		echo "differ: $1 ($(stat -c %s "$1") bytes) vs $2 ($(stat -c %s "$2") bytes)" >&2
		return 1
	fi
}
