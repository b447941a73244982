#!/usr/bin/env bats
# Resource exhaustion and abuse (SPEC.md items 5 and 6): descriptors run
# out, a thousand clients vanish, a client never reads, SIGTERM under full
# load, stdout closed under a client, resets among busy clients, and what
# an -e command inherits. The server must keep serving with bounded memory
# and exit cleanly when told. (servers.bats has the EMFILE back-off at
# accept, a client reset mid-transfer, and a --broker client that never
# reads.) Each check is a function; each model gets its own test of it.

bats_require_minimum_version 1.5.0
load helpers

# The nsock process under start_server's timeout.
server_pid() {
	pgrep -P "$SERVER_PID"
}

# rss_kb PID...: the sum of their VmRSS, in KiB.
rss_kb() {
	local pid kb total=0
	for pid in "$@"; do
		kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status") || return 1
		total=$((total + kb))
	done
	echo "$total"
}

# RSS bounds mean nothing under ASan (its quarantine keeps what is freed)
# or TSan (its shadow memory grows with what it watches).
rss_checked() {
	[ -z "${ASAN_OPTIONS:-}" ] && [ -z "${TSAN_OPTIONS:-}" ]
}

# tasks PID: its threads; has_children PID N: it has N child processes.
tasks() { ls "/proc/$1/task" | wc -l; }
has_children() { [ "$(children "$1")" -eq "$2" ]; }

# serving PID N: until PID serves N clients: its children (--fork), or
# the sockets it holds but the listener. (Not -v's lines: make chaos cuts
# writes short, and the lines of children and threads then interleave.)
serving() {
	eventually 10 serves "$1" "$2" ||
	    { echo "serving $(clients_of "$1") of $2" >&2; return 1; }
}
clients_of() {
	echo $(( $(children "$1") + $(find "/proc/$1/fd" -lname 'socket:*' | wc -l) - 1 ))
}
serves() { [ "$(clients_of "$1")" -ge "$2" ]; }

# settled PID TASKS: until PID has TASKS threads and no child process.
settled() {
	eventually 5 alone "$1" "$2" ||
	    { echo "$(tasks "$1") threads, $(children "$1") children" >&2; return 1; }
}
alone() { [ "$(tasks "$1")" -eq "$2" ] && [ "$(children "$1")" -eq 0 ]; }

# --- Out of descriptors at start -------------------------------------------

# bare LIMIT CMD...: CMD under ulimit -n LIMIT (soft and hard, so that a
# server cannot raise it), with no descriptor open but stdout and stderr:
# the ones bats holds are closed, and stdin too. The dynamic loader needs
# one free descriptor to open libc, and the closed stdin is it; nsock then
# fills fd 0 with /dev/null (nsock.c), so ulimit -n 3 leaves it none.
bare() {
	timeout 5 bash -c 'for fd in /proc/$$/fd/*; do
		fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"
	done; exec 0<&-; ulimit -n "$1"; shift; exec "$@"' _ "$@"
}

# elf: skip unless NSOCK is nsock itself: a wrapper script (make chaos)
# cannot even start with no descriptor free.
elf() {
	[ "$(head -c 4 "$NSOCK")" = $'\x7fELF' ] ||
	    skip "$NSOCK is a script, which needs descriptors of its own"
}

# starved LIMIT ARGS...: nsock ARGS under bare LIMIT fails: exit 1 and
# one line on stderr (in $stderr). The ASan and TSan runtimes cannot
# start with no descriptor free (they spin in dup(-9) before main): not
# nsock's to test.
starved() {
	[ "$1" -gt 3 ] || [ -z "${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}" ] ||
	    skip "the sanitizer runtime spins at start with no descriptor free"
	elf
	run -1 --separate-stderr bare "$@"
	echo "$stderr" >&2
	[ "$(echo "$stderr" | wc -l)" -eq 1 ]
}

@test "ulimit -n 3: a client says which address it could not connect to, exit 1" {
	start_server </dev/null >/dev/null
	starved 3 "$NSOCK" -c 127.0.0.1 "$PORT"
	[ "$stderr" = "nsock: connect to 127.0.0.1 port $PORT: Too many open files" ]
}

# listen_starved MODEL...: no descriptor for the listening socket.
listen_starved() {
	starved 3 "$NSOCK" -l "$@" --echo --port-file pf 127.0.0.1 0
	[ "$stderr" = "nsock: listen on 127.0.0.1 port 0: Too many open files" ]
	[ ! -e pf ]
}

@test "-l: ulimit -n 3: no listening socket: exit 1, one line naming the address" { listen_starved; }
@test "-k: ulimit -n 3: no listening socket: exit 1, one line naming the address" { listen_starved -k; }
@test "--fork: ulimit -n 3: no listening socket: exit 1, one line naming the address" { listen_starved --fork; }
@test "--threads: ulimit -n 3: no listening socket: exit 1, one line naming the address" { listen_starved --threads; }
@test "--poll: ulimit -n 3: no listening socket: exit 1, one line naming the address" { listen_starved --poll; }

# A server with a model holds, with stdin closed (/dev/null) and stdout
# /dev/null: 0-2, the listener 3, stdin and stdout reopened non-blocking
# 4 and 5 (io.c), the stop and wake pipes 6-9, and --poll's epoll 10.
@test "--threads: ulimit -n 7: no descriptors for its pipes: exit 1, one line" {
	starved 7 "$NSOCK" -l --threads --echo --port-file pf 127.0.0.1 0
	[ "$stderr" = "nsock: pipe: Too many open files" ]
}

# With no descriptor for epoll, --poll runs on poll(2) instead (and, at
# the same limit, then backs off from accepting: EMFILE).
@test "--poll: ulimit -n 10: no descriptor for epoll: poll(2) instead, said under -v" {
	elf
	bg bare 10 "$NSOCK" -v -l --poll --echo --port-file pf 127.0.0.1 0 \
	    >/dev/null 2>err
	eventually 5 grep -qx 'nsock: epoll: Too many open files; using poll(2)' err
	kill -0 "$BG_PID"
}

# A client at its limit has its socket but no room for the pipe that
# splices socket -> file (zcopy.c): it must copy instead, losing nothing.
@test "ulimit -n 4: a client with no descriptors to spare still receives 4 MiB exact" {
	elf
	random_file in 4M
	start_server <in
	bare 4 "$NSOCK" -c 127.0.0.1 "$PORT" >out
	same in out
}

# --- A thousand clients that vanish ----------------------------------------

# vanish N: N clients connect and leave without a byte, 50 at a time,
# every other one with a reset (SO_LINGER 0) instead of a FIN.
vanish() {
	timeout 60 python3 - "$PORT" "$1" <<-'EOF'
	import socket, struct, sys
	port, n = int(sys.argv[1]), int(sys.argv[2])
	rst = struct.pack("ii", 1, 0)
	for _ in range(n // 50):
	    batch = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
	    for i, s in enumerate(batch):
	        if i % 2:
	            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, rst)
	        s.close()
	EOF
}

# real_client HANDLER K: a client that is served exactly, the K-th: with
# --echo its 1 MiB comes back; as a relay it gets stdin (in) whole and its
# upload reaches stdout (out then holds K copies of up).
real_client() {
	local i
	if [ "$1" = --echo ]; then
		timeout 10 "$NSOCK" -c 127.0.0.1 "$PORT" <in >got
		same in got
		return
	fi
	timeout 10 "$NSOCK" -c 127.0.0.1 "$PORT" <up >got
	same in got
	for ((i = 0; i < $2; i++)); do cat up; done >want
	wait_size out "$(stat -c %s want)"
	same want out
}

# flood MODEL HANDLER: 1,000 clients vanish; the server still serves a
# real client exactly, and is then back to one process, its threads and
# its descriptors: it has taken every one of the 1,000 by then, for the
# listen queue is first in, first out. The first 1,000 grow what is grown
# once (arrays, the heap); another 1,000 must then cost almost nothing:
# under 256 KiB of RSS, where a struct pconn (456 bytes) kept for each
# would be 450 KiB and a pump buffer kept for each 250 MiB. --threads
# gets 2 MiB: glibc keeps up to 40 MiB of ended threads' stacks for reuse,
# and as bursts of clients reach new highs, more of them stay resident
# (0.2-0.4 MiB a thousand here, levelling off).
flood() {
	local model=$1 handler=$2 server threads fds before after bound=256
	[ "$model" = --threads ] && bound=2048
	random_file in 1M
	random_file up 256K
	start_server "$model" ${handler#relay} <in >out
	server=$(server_pid)
	threads=$(tasks "$server")
	# TSan starts a thread of its own with the first one of --threads.
	[ -z "${TSAN_OPTIONS:-}" ] || [ "$model" != --threads ] ||
	    threads=$((threads + 1))
	fds=$(ls "/proc/$server/fd" | wc -l)
	vanish 1000
	real_client "$handler" 1
	settled "$server" "$threads"
	[ "$(ls "/proc/$server/fd" | wc -l)" -eq "$fds" ]
	before=$(rss_kb "$server")
	vanish 1000
	real_client "$handler" 2
	settled "$server" "$threads"
	[ "$(ls "/proc/$server/fd" | wc -l)" -eq "$fds" ]
	after=$(rss_kb "$server")
	echo "RSS KiB: $before, $after after another 1000" >&2
	! rss_checked || [ $((after - before)) -lt "$bound" ]
}

@test "-k --echo: 1000 clients vanish (half with RST): still serves, memory flat" { flood -k --echo; }
@test "--fork --echo: 1000 clients vanish (half with RST): still serves, no zombie, memory flat" { flood --fork --echo; }
@test "--threads --echo: 1000 clients vanish (half with RST): still serves, no thread left, memory flat" { flood --threads --echo; }
@test "--poll --echo: 1000 clients vanish (half with RST): still serves, memory flat" { flood --poll --echo; }
@test "-k relay: 1000 clients vanish (half with RST): still serves, memory flat" { flood -k relay; }
@test "--fork relay: 1000 clients vanish (half with RST): still serves, no zombie, memory flat" { flood --fork relay; }
@test "--threads relay: 1000 clients vanish (half with RST): still serves, no thread left, memory flat" { flood --threads relay; }
@test "--poll relay: 1000 clients vanish (half with RST): still serves, memory flat" { flood --poll relay; }

# --- A client that never reads ---------------------------------------------

# stuck MODEL HANDLER: a client that never reads (a 4 KiB receive buffer)
# pushes up to 64 MiB at the server, then 4 other clients are served
# exactly within 3 s, while the stuck one is still connected. The server's
# RSS (with its children: --fork serves the stuck client in one) may grow
# by 4 MiB at most, for a pump buffer is 256 KiB: --echo must stop reading
# from the stuck client once it cannot send to it, so the stuck client is
# held back well short of 64 MiB (the kernel's socket buffers take the
# rest); a relay takes all 64 MiB to stdout while sending stdin to it is
# stalled, and holds none of it.
stuck() {
	local model=$1 handler=$2 i
	random_file in 8M
	for i in 1 2 3 4; do random_file "up.$i" 256K; done
	start_server "$model" ${handler#relay} -v <in >out 2>err
	timeout 60 python3 - "$PORT" "$(server_pid)" "$NSOCK" "$handler" "$(scaled 3)" <<-'EOF'
	import os, socket, subprocess, sys, time
	port, server, nsock, handler, prompt = sys.argv[1:6]
	port, prompt = int(port), float(prompt)
	total = 64 << 20
	def rss_kb():
	    kb = 0
	    kids = open("/proc/%s/task/%s/children" % (server, server)).read()
	    for pid in [server] + kids.split():
	        for line in open("/proc/%s/status" % pid):
	            if line.startswith("VmRSS:"):
	                kb += int(line.split()[1])
	    return kb
	def settle():		# the others' children and threads are gone
	    for _ in range(250):
	        kids = open("/proc/%s/task/%s/children" % (server, server)).read()
	        tasks = os.listdir("/proc/%s/task" % server)
	        if len(kids.split()) <= 1 and len(tasks) <= 2:
	            return
	        time.sleep(0.02)
	def serve_others():
	    start = time.monotonic()
	    ps = []
	    for i in range(1, 5):
	        src = "in" if handler == "--echo" else "up.%d" % i
	        ps.append(subprocess.Popen(["timeout", "30", nsock, "-c",
	            "127.0.0.1", str(port)],
	            stdin=open(src, "rb"), stdout=open("got.%d" % i, "wb")))
	    for p in ps:
	        assert p.wait(timeout=30) == 0, "a client failed"
	    took = time.monotonic() - start
	    print("4 others served in %.2f s" % took, file=sys.stderr)
	    assert took < prompt, "the others took %.2f s" % took
	stuck = socket.socket()
	stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
	stuck.connect(("127.0.0.1", port))
	for _ in range(250):	# served, and --fork's child started
	    if open("err").read().count("connection from") == 1:
	        break
	    time.sleep(0.02)
	serve_others()		# the pump buffers are grown once
	settle()
	base = peak = rss_kb()
	stuck.settimeout(0.5)	# no progress for that long: held back
	chunk, pushed = os.urandom(1 << 16), 0
	try:
	    while pushed < total:
	        pushed += stuck.send(chunk[:min(len(chunk), total - pushed)])
	        peak = max(peak, rss_kb())
	except socket.timeout:
	    pass
	print("the stuck client pushed %d MiB" % (pushed >> 20), file=sys.stderr)
	serve_others()
	settle()
	peak = max(peak, rss_kb())
	print("RSS KiB: %d before, %d at peak" % (base, peak), file=sys.stderr)
	if handler == "--echo":
	    assert pushed < total, "the server took all 64 MiB unread"
	else:
	    assert pushed == total, "only %d bytes went to stdout" % pushed
	if "ASAN_OPTIONS" not in os.environ:
	    assert peak - base < 4096, "RSS grew by %d KiB" % (peak - base)
	EOF
	for i in 1 2 3 4; do same in "got.$i"; done	# echoed, or stdin
	if [ "$handler" = relay ]; then	# both rounds' uploads, and 64 MiB
		wait_size out $((2 * 4 * 256 * 1024 + 64 * 1024 * 1024))
	fi
	kill -0 "$SERVER_PID"
}

@test "--fork --echo: a client that never reads holds back only itself; memory bounded" { stuck --fork --echo; }
@test "--threads --echo: a client that never reads holds back only itself; memory bounded" { stuck --threads --echo; }
@test "--poll --echo: a client that never reads holds back only itself; memory bounded" { stuck --poll --echo; }
@test "--fork relay: a client that never reads pushes 64 MiB to stdout; memory bounded" { stuck --fork relay; }
@test "--threads relay: a client that never reads pushes 64 MiB to stdout; memory bounded" { stuck --threads relay; }
@test "--poll relay: a client that never reads pushes 64 MiB to stdout; memory bounded" { stuck --poll relay; }

# --- SIGTERM under load ----------------------------------------------------

# sigterm_load MODEL HANDLER: 32 clients stream from /dev/zero (relay:
# and each is sent a 4 MiB stdin; --broker: and each gets what the 31
# others send) until the server is sent SIGTERM; it exits 0 (nsock.1,
# EXIT STATUS) within a second, leaving no process of its own, and every
# client ends by itself soon after (error or EOF). The 2 cores are
# saturated meanwhile, and a fork takes 100s of ms: times come from
# EPOCHREALTIME, children from /proc, not from commands.
sigterm_load() {
	local model=$1 handler=$2 server kids=() pid start rc i clients=() n=32
	random_file in 4M
	start_server "$model" ${handler#relay} <in >/dev/null
	server=$(server_pid)
	for i in $(seq 32); do
		bg timeout 20 "$NSOCK" -c 127.0.0.1 "$PORT" </dev/zero >/dev/null 2>&1
		clients+=("$BG_PID")
	done
	# A --broker member also holds a socketpair: the server has both
	# ends (--threads, --poll), or --fork's parent the broker's.
	case "$model $handler" in
	"-k "*) n=1 ;;
	"--fork --broker") n=$((2 * 32)) ;;
	*" --broker") n=$((3 * 32)) ;;
	esac
	serving "$server" "$n"
	# The count of descriptors can run ahead of the forks: the parent
	# holds a client between accept and fork, and the next client's
	# socketpair (--broker) before accept. So wait for the children too.
	[ "$model" != --fork ] || eventually 10 has_children "$server" 32
	read -r -a kids <"/proc/$server/task/$server/children" || true
	[ "$model" != --fork ] || [ "${#kids[@]}" -eq 32 ]
	start=${EPOCHREALTIME/./}
	kill -TERM "$server"
	wait "$SERVER_PID"
	echo "exit 0 after $(( (${EPOCHREALTIME/./} - start) / 1000 )) ms" >&2
	[ $(( ${EPOCHREALTIME/./} - start )) -lt $(( $(scaled 1) * 1000000 )) ]
	for pid in "${kids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			echo "child $pid still runs" >&2
			return 1
		fi
	done
	for pid in "${clients[@]}"; do
		rc=0
		wait "$pid" || rc=$?
		[ "$rc" -ne 124 ]	# not ended by its timeout
	done
	echo "clients done after $(( (${EPOCHREALTIME/./} - start) / 1000 )) ms" >&2
	[ $(( ${EPOCHREALTIME/./} - start )) -lt $(( $(scaled 3) * 1000000 )) ]
}

@test "-k --echo: SIGTERM under full load: exit 0 within a second, clients released" { sigterm_load -k --echo; }
@test "--fork --echo: SIGTERM under load from 32 clients: exit 0 within a second, no child left" { sigterm_load --fork --echo; }
@test "--threads --echo: SIGTERM under load from 32 clients: exit 0 within a second" { sigterm_load --threads --echo; }
@test "--poll --echo: SIGTERM under load from 32 clients: exit 0 within a second" { sigterm_load --poll --echo; }
@test "-k relay: SIGTERM under full load: exit 0 within a second, clients released" { sigterm_load -k relay; }
@test "--fork relay: SIGTERM under load from 32 clients: exit 0 within a second, no child left" { sigterm_load --fork relay; }
@test "--threads relay: SIGTERM under load from 32 clients: exit 0 within a second" { sigterm_load --threads relay; }
@test "--poll relay: SIGTERM under load from 32 clients: exit 0 within a second" { sigterm_load --poll relay; }
@test "--fork --broker: SIGTERM under load from 32 clients: exit 0 within a second, no child left" { sigterm_load --fork --broker; }
@test "--threads --broker: SIGTERM under load from 32 clients: exit 0 within a second" { sigterm_load --threads --broker; }
@test "--poll --broker: SIGTERM under load from 32 clients: exit 0 within a second" { sigterm_load --poll --broker; }

# --- stdout closed under a client ------------------------------------------

# stdout_gone MODEL: a client whose stdout is closed, then one whose stdout
# is a pipe with no reader: each exits 1 with one line naming stdout, at
# once; the server says nothing (a client's end is its own business) and
# serves the next client the whole 4 MiB.
stdout_gone() {
	random_file in 4M
	start_server "$1" <in >/dev/null 2>err
	local rc=0
	timeout 5 "$NSOCK" -c 127.0.0.1 "$PORT" </dev/null >&- 2>err.closed || rc=$?
	[ "$rc" -eq 1 ]
	[ "$(cat err.closed)" = "nsock: write to stdout: Bad file descriptor" ]
	timeout 5 "$NSOCK" -c 127.0.0.1 "$PORT" </dev/null 2>err.pipe | head -c 10 >/dev/null
	[ "${PIPESTATUS[0]}" -eq 1 ]
	[ "$(cat err.pipe)" = "nsock: write to stdout: Broken pipe" ]
	timeout 5 "$NSOCK" -c 127.0.0.1 "$PORT" </dev/null >got
	same in got
	[ ! -s err ]
}

@test "-k: a client's closed stdout or gone reader: exit 1, one line; the server goes on" { stdout_gone -k; }
@test "--fork: a client's closed stdout or gone reader: exit 1, one line; the server goes on" { stdout_gone --fork; }
@test "--threads: a client's closed stdout or gone reader: exit 1, one line; the server goes on" { stdout_gone --threads; }
@test "--poll: a client's closed stdout or gone reader: exit 1, one line; the server goes on" { stdout_gone --poll; }

# --- Resets among busy clients ---------------------------------------------

# reset_storm MODEL: 16 clients echo 2 MiB each while 16 others send,
# read a little and reset mid-transfer: the 16 get their bytes exactly.
reset_storm() {
	local i pids=()
	random_file in 2M
	start_server "$1" --echo </dev/null >/dev/null
	for i in $(seq 16); do
		bg timeout 20 "$NSOCK" -c 127.0.0.1 "$PORT" <in >"got.$i"
		pids+=("$BG_PID")
	done
	timeout 20 python3 - "$PORT" <<-'EOF'
	import os, socket, struct, sys
	port = int(sys.argv[1])
	rst = struct.pack("ii", 1, 0)
	cs = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
	for c in cs:
	    c.sendall(os.urandom(256 << 10))
	for c in cs:
	    c.recv(1000)
	    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, rst)
	    c.close()
	EOF
	for i in "${pids[@]}"; do wait "$i"; done
	for i in $(seq 16); do same in "got.$i"; done
	kill -0 "$SERVER_PID"
}

@test "--poll: 16 clients reset mid-transfer among 16 busy ones, who get every byte" { reset_storm --poll; }
@test "--threads: 16 clients reset mid-transfer among 16 busy ones, who get every byte" { reset_storm --threads; }
@test "--fork: 16 clients reset mid-transfer among 16 busy ones, who get every byte" { reset_storm --fork; }

# --- What an -e command inherits -------------------------------------------

# exec_fds MODEL N: N clients at once (1 for a model that serves one at a
# time) each have their command list its descriptors, while the server
# holds its listener, stdin (a file), an inherited descriptor 7 that is
# not close-on-exec, its stop and wake pipes, and per model the others'
# sockets, pidfds and epoll: each command has exactly 0 and 1, the same
# socket, and 2, the server's stderr.
exec_fds() {
	random_file in 64K
	start_server $1 -e 'ls -l /proc/$$/fd; echo end; exec cat >/dev/null' \
	    <in >/dev/null 2>err 7<in
	timeout 20 python3 - "$PORT" "$2" "$T/err" <<-'EOF'
	import os, re, socket, sys
	port, n = int(sys.argv[1]), int(sys.argv[2])
	err = os.path.realpath(sys.argv[3])
	held = []
	for i in range(n):
	    s = socket.create_connection(("127.0.0.1", port))
	    s.settimeout(10)
	    got = b""
	    while not got.endswith(b"end\n"):
	        b = s.recv(4096)
	        assert b, "EOF before the listing: %r" % got
	        got += b
	    fds = dict(re.findall(r" (\d+) -> (.*)", got.decode()))
	    print("client %d: %s" % (i, fds), file=sys.stderr)
	    assert sorted(fds) == ["0", "1", "2"], "descriptors %s" % sorted(fds)
	    assert fds["0"] == fds["1"] and fds["0"].startswith("socket:"), fds
	    assert fds["2"] == err, fds
	    held.append(s)	# its command goes on running
	EOF
}

@test "-l -e: the command inherits only its connection and stderr" { exec_fds "" 1; }
@test "-k -e: the command inherits only its connection and stderr" { exec_fds -k 1; }
@test "--fork -e: with 4 others running, a command inherits only its connection and stderr" { exec_fds --fork 5; }
@test "--threads -e: with 4 others running, a command inherits only its connection and stderr" { exec_fds --threads 5; }
@test "--poll -e: with 4 others running, a command inherits only its connection and stderr" { exec_fds --poll 5; }

# exec_env MODEL: the command's environment, as its shell was given it
# (/proc/PID/environ: before the shell adds PWD and the like), is nsock's
# own, a variable with a tab, a newline and spaces included. (Under make
# chaos, fault.so takes LD_PRELOAD out of it for the command: not counted.)
exec_env() {
	NSOCK_ABUSE_MARK=$'a\tb\nc d' start_server $1 -e 'cat /proc/$$/environ' </dev/null >/dev/null
	tr '\0' '\n' <"/proc/$(server_pid)/environ" | grep -v '^LD_PRELOAD=' >env.nsock
	timeout 5 "$NSOCK" -c 127.0.0.1 "$PORT" </dev/null >env.command
	tr '\0' '\n' <env.command | grep -v '^LD_PRELOAD=' >env.got
	grep -qx 'NSOCK_ABUSE_MARK=a.b' env.got
	diff env.nsock env.got
}

@test "-l -e: the command's environment is nsock's, nothing added or lost" { exec_env; }
@test "-k -e: the command's environment is nsock's, nothing added or lost" { exec_env -k; }
@test "--fork -e: the command's environment is nsock's, nothing added or lost" { exec_env --fork; }
@test "--threads -e: the command's environment is nsock's, nothing added or lost" { exec_env --threads; }
@test "--poll -e: the command's environment is nsock's, nothing added or lost" { exec_env --poll; }
