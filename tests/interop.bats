#!/usr/bin/env bats
# Interoperability: nsock against real peers (nc.openbsd, ncat, socat,
# bash /dev/tcp, python3 sockets, python3 http.server, curl), TCP and UDP,
# IPv4 and IPv6 loopback. Bulk transfers move 50 MiB of random data and are
# compared by sha256. See SPEC.md, Semantics 1, 2, 3 and 5.
#
# Peers that cannot write a port file get a port from free_port. Most of
# them serve exactly one connection (nc -l, ncat -l, socat without fork), so
# a probe connection would use up the one client: wait_listening watches
# /proc/net/{tcp,tcp6,udp,udp6} for the listening socket instead of
# connecting to it.

load helpers

BULK=50M # the issue asks for sha256 checks on at least 50 MiB

setup_file() {
	local d=$BATS_FILE_TMPDIR
	head -c "$BULK" /dev/urandom >"$d/a"
	head -c "$BULK" /dev/urandom >"$d/b"
	# a, byte-reversed: what the python3 reversing server must send back.
	python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); open(sys.argv[2],"wb").write(d[::-1])' \
	    "$d/a" "$d/a.rev"

	# TCP server: accept one client, read to EOF (saving it to GOT), then
	# send back MODE (same | reverse) of what it read, and close.
	cat >"$d/tcp_server.py" <<-'EOF'
	import os, socket, sys
	host, portfile, got, mode = sys.argv[1:5]
	fam = socket.AF_INET6 if ":" in host else socket.AF_INET
	s = socket.socket(fam, socket.SOCK_STREAM)
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind((host, 0))
	s.listen(1)
	with open(portfile + ".tmp", "w") as f:
	    f.write("%d\n" % s.getsockname()[1])
	os.rename(portfile + ".tmp", portfile)
	c, _ = s.accept()
	parts = []
	while True:
	    d = c.recv(1 << 20)
	    if not d:
	        break
	    parts.append(d)
	data = b"".join(parts)
	with open(got, "wb") as f:
	    f.write(data)
	c.sendall(data[::-1] if mode == "reverse" else data)
	c.close()
	EOF

	# TCP client: send INFILE then shutdown(SHUT_WR), receive to EOF into
	# OUTFILE. MODE duplex: send and receive at once (a thread sends);
	# MODE sequential: send everything before reading a byte.
	cat >"$d/tcp_client.py" <<-'EOF'
	import socket, sys, threading
	host, port, infile, outfile, mode = sys.argv[1:6]
	c = socket.create_connection((host, int(port)), timeout=20)
	def send():
	    with open(infile, "rb") as f:
	        while True:
	            chunk = f.read(1 << 20)
	            if not chunk:
	                break
	            c.sendall(chunk)
	    c.shutdown(socket.SHUT_WR)
	t = None
	if mode == "duplex":
	    t = threading.Thread(target=send)
	    t.start()
	else:
	    send()
	with open(outfile, "wb") as o:
	    while True:
	        d = c.recv(1 << 20)
	        if not d:
	            break
	        o.write(d)
	if t:
	    t.join()
	c.close()
	EOF

	# UDP, datagram boundaries made visible: nsock's stdin and stdout are
	# AF_UNIX SOCK_SEQPACKET sockets, so every read(2) nsock makes returns
	# exactly one message we wrote, and every write(2) nsock makes arrives
	# here as one message. Prints OK or what went wrong; exits 1 on failure.
	#   udp.py client NSOCK  -- python3 UDP server, nsock -u -c
	#   udp.py server NSOCK  -- nsock -u -l --count N, python3 sender
	cat >"$d/udp.py" <<-'EOF'
	import os, socket, subprocess, sys, threading, time
	role, nsock, workdir = sys.argv[1:4]
	sizes = [1, 100, 1472, 9000, 65507]
	msgs = [os.urandom(n) for n in sizes]

	def collect(sock, out):
	    while True:
	        m = sock.recv(1 << 17)
	        if not m:
	            return
	        out.append(m)

	def fail(why):
	    print("FAIL:", why)
	    sys.exit(1)

	def compare(what, got, want):
	    if [len(m) for m in got] != [len(m) for m in want]:
	        fail("%s: datagram sizes %s, expected %s"
	             % (what, [len(m) for m in got], [len(m) for m in want]))
	    if got != want:
	        fail("%s: same sizes, different bytes" % what)

	if role == "client":
	    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	    srv.bind(("127.0.0.1", 0))
	    srv.settimeout(10)
	    port = srv.getsockname()[1]
	    heard = []
	    def serve():
	        try:
	            while len(heard) < len(msgs):
	                d, peer = srv.recvfrom(1 << 17)
	                heard.append(d)
	                srv.sendto(d[::-1], peer)   # a reply per datagram
	        except socket.timeout:
	            pass
	    st = threading.Thread(target=serve)
	    st.start()
	    ours_in, nsock_in = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
	    ours_out, nsock_out = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
	    p = subprocess.Popen(["timeout", "15", nsock, "-u", "-w", "0.5", "-c",
	                          "127.0.0.1", str(port)],
	                         stdin=nsock_in.fileno(), stdout=nsock_out.fileno())
	    nsock_in.close(); nsock_out.close()
	    replies = []
	    ct = threading.Thread(target=collect, args=(ours_out, replies))
	    ct.start()
	    for m in msgs:
	        ours_in.send(m)
	        time.sleep(0.02)
	    ours_in.close()            # nsock's stdin ends
	    rc = p.wait()
	    ct.join(5); st.join(12)
	    if rc != 0:
	        fail("nsock -u -c exited %d" % rc)
	    compare("datagrams the server heard", heard, msgs)
	    compare("replies nsock wrote", replies, [m[::-1] for m in msgs])
	else:
	    pf = os.path.join(workdir, "udp.port")
	    ours_out, nsock_out = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
	    p = subprocess.Popen(["timeout", "15", nsock, "-u", "-l", "--count",
	                          str(len(msgs)), "--port-file", pf, "127.0.0.1", "0"],
	                         stdin=subprocess.DEVNULL, stdout=nsock_out.fileno())
	    nsock_out.close()
	    got = []
	    ct = threading.Thread(target=collect, args=(ours_out, got))
	    ct.start()
	    for _ in range(500):
	        if os.path.exists(pf) and open(pf).read().endswith("\n"):
	            break
	        time.sleep(0.01)
	    else:
	        p.kill(); fail("no port file")
	    port = int(open(pf).read())
	    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	    for m in msgs:
	        c.sendto(m, ("127.0.0.1", port))
	        time.sleep(0.02)
	    rc = p.wait()
	    ct.join(5)
	    if rc != 0:
	        fail("nsock -u -l --count %d exited %d" % (len(msgs), rc))
	    compare("datagrams nsock wrote", got, msgs)
	print("OK")
	EOF
}

A() { echo "$BATS_FILE_TMPDIR/a"; }
B() { echo "$BATS_FILE_TMPDIR/b"; }

# must CMD...: run CMD (redirections given at the call apply to it); on a
# non-zero exit show the status and its stderr, and fail.
must() {
	local rc=0 err
	err=$(mktemp "$T/err.XXXXXX")
	"$@" 2>"$err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "exit $rc: $*" >&2
		cat "$err" >&2
		return 1
	fi
}

# bg_ok PID WHAT [ERRFILE]: the background job PID exits 0. It waits in
# this shell: `$(wait_status PID)` would wait in a subshell, which cannot
# wait for a job that is still running (bash then reports -1).
bg_ok() {
	local rc=0
	wait "$1" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "$2 exited $rc" >&2
		[ -z "${3:-}" ] || cat "$3" >&2
		return 1
	fi
}

# wait_listening PORT [tcp|tcp6|udp|udp6]: until a socket is bound to
# PORT (TCP: listening), without connecting to it.
wait_listening() {
	local hex proto=${2:-tcp} state=0A tries=250
	hex=$(printf '%04X' "$1")
	case $proto in udp*) state=07 ;; esac
	until awk -v p=":$hex" -v s="$state" \
	    'substr($2, length($2) - 4) == p && $4 == s { f = 1 } END { exit !f }' \
	    "/proc/net/$proto"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || { echo "nothing on $proto port $1" >&2; return 1; }
		sleep 0.02
	done
}

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || skip "$c is not installed"
	done
}

# --- nc.openbsd ------------------------------------------------------------

@test "nc.openbsd -l receives 50 MiB from an nsock client" {
	need nc.openbsd
	local port
	port=$(free_port)
	# -d: nc reads no stdin, so it ends at nsock's half-close.
	bg timeout 30 nc.openbsd -d -l 127.0.0.1 "$port" >out 2>nc.err
	local nc=$BG_PID
	wait_listening "$port"
	must timeout 20 "$NSOCK" -c 127.0.0.1 "$port" <"$(A)" >reply
	bg_ok "$nc" nc.openbsd nc.err
	same "$(A)" out
	[ ! -s reply ]
}

@test "nc.openbsd -l -N sends 50 MiB to an nsock --no-shutdown client" {
	need nc.openbsd
	local port
	port=$(free_port)
	# nc -l ends its session as soon as the client half-closes (its
	# readwrite() returns once "listen and net in gone"), even with stdin
	# left to send. So nsock, whose stdin is /dev/null, must not half-close:
	# --no-shutdown. -N: nc shuts its side down at the end of its stdin,
	# which ends nsock's receiving, and nsock exits 0.
	bg timeout 30 nc.openbsd -N -l 127.0.0.1 "$port" <"$(A)" >got 2>nc.err
	local nc=$BG_PID
	wait_listening "$port"
	must timeout 20 "$NSOCK" --no-shutdown -c 127.0.0.1 "$port" </dev/null >out
	bg_ok "$nc" nc.openbsd nc.err
	same "$(A)" out
	[ ! -s got ]
}

@test "nsock server receives 50 MiB from an nc.openbsd -N client" {
	need nc.openbsd
	start_server </dev/null >out
	must timeout 20 nc.openbsd -N 127.0.0.1 "$PORT" <"$(A)" >reply
	bg_ok "$SERVER_PID" "nsock server"
	same "$(A)" out
	[ ! -s reply ]
}

@test "nsock server sends its stdin (50 MiB) to an nc.openbsd client" {
	need nc.openbsd
	start_server <"$(A)" >got
	# -N with stdin /dev/null: nc half-closes at once and reads to EOF.
	must timeout 20 nc.openbsd -N 127.0.0.1 "$PORT" </dev/null >out
	bg_ok "$SERVER_PID" "nsock server"
	same "$(A)" out
	[ ! -s got ]
}

# --- ncat ------------------------------------------------------------------

@test "ncat -l --recv-only receives 50 MiB from an nsock client" {
	need ncat
	local port
	port=$(free_port)
	bg timeout 30 ncat --recv-only -l 127.0.0.1 "$port" >out 2>ncat.err
	local nc=$BG_PID
	wait_listening "$port"
	must timeout 20 "$NSOCK" -c 127.0.0.1 "$port" <"$(A)" >reply
	bg_ok "$nc" ncat ncat.err
	same "$(A)" out
}

@test "ncat -l --send-only sends 50 MiB to an nsock --recv-only client" {
	need ncat
	local port
	port=$(free_port)
	bg timeout 30 ncat --send-only -l 127.0.0.1 "$port" <"$(A)" 2>ncat.err
	local nc=$BG_PID
	wait_listening "$port"
	must timeout 20 "$NSOCK" --recv-only -c 127.0.0.1 "$port" >out
	bg_ok "$nc" ncat ncat.err
	same "$(A)" out
}

@test "nsock server receives 50 MiB from an ncat --send-only client" {
	need ncat
	# --send-only: plain ncat quits at the server's early half-close
	# (stdin /dev/null) before it has sent its stdin; that is ncat's way.
	start_server </dev/null >out
	must timeout 20 ncat --send-only 127.0.0.1 "$PORT" <"$(A)"
	bg_ok "$SERVER_PID" "nsock server"
	same "$(A)" out
}

@test "nsock server sends 50 MiB to an ncat --recv-only client" {
	need ncat
	start_server <"$(A)" >got
	must timeout 20 ncat --recv-only 127.0.0.1 "$PORT" >out
	bg_ok "$SERVER_PID" "nsock server"
	same "$(A)" out
	[ ! -s got ]
}

# --- socat -----------------------------------------------------------------

@test "socat TCP-LISTEN receives 50 MiB from an nsock client" {
	need socat
	local port
	port=$(free_port)
	bg timeout 30 socat -u "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" \
	    OPEN:out,creat,trunc 2>socat.err
	local so=$BG_PID
	wait_listening "$port"
	must timeout 20 "$NSOCK" -c 127.0.0.1 "$port" <"$(A)" >reply
	bg_ok "$so" socat socat.err
	same "$(A)" out
	[ ! -s reply ]
}

@test "socat TCP-LISTEN sends 50 MiB to an nsock client" {
	need socat
	local port
	port=$(free_port)
	# -U: from the file to the connection.
	bg timeout 30 socat -U "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" \
	    "OPEN:$(A)" 2>socat.err
	local so=$BG_PID
	wait_listening "$port"
	must timeout 20 "$NSOCK" -c 127.0.0.1 "$port" </dev/null >out
	bg_ok "$so" socat socat.err
	same "$(A)" out
}

@test "nsock server receives 50 MiB from a socat client" {
	need socat
	start_server </dev/null >out
	must timeout 20 socat -u "OPEN:$(A)" "TCP:127.0.0.1:$PORT"
	bg_ok "$SERVER_PID" "nsock server"
	same "$(A)" out
}

@test "nsock server sends 50 MiB to a socat client" {
	need socat
	start_server <"$(A)" >got
	must timeout 20 socat -U OPEN:out,creat,trunc "TCP:127.0.0.1:$PORT"
	bg_ok "$SERVER_PID" "nsock server"
	same "$(A)" out
	[ ! -s got ]
}

@test "socat PIPE echo server: nsock client gets its 50 MiB back in full" {
	need socat
	local port
	port=$(free_port)
	# PIPE echoes; at nsock's half-close socat closes the pipe's write end,
	# drains it, and only then shuts the connection down. -t 10: socat's
	# grace time after the first EOF (0.5 s by default) must not cut the
	# drain short on a loaded machine. -b 4096: socat writes what it reads
	# into its own pipe with a blocking write once poll says "writable"
	# (one free page); a default 8 KiB block can then block it for good,
	# since only socat itself drains that pipe (seen: nsock waiting with
	# 4 MB unsent, socat stuck with 169 KB unread).
	bg timeout 30 socat -b 4096 -t 10 "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" PIPE 2>socat.err
	local so=$BG_PID
	wait_listening "$port"
	must timeout 20 "$NSOCK" -c 127.0.0.1 "$port" <"$(A)" >out
	bg_ok "$so" socat socat.err
	same "$(A)" out
}

# --- bash /dev/tcp ---------------------------------------------------------

@test "bash /dev/tcp client sends 50 MiB to an nsock server" {
	start_server </dev/null >out
	# bash cannot half-close: closing fd 5 closes the connection, which is
	# all the receiving server needs.
	must timeout 20 bash -c 'exec 5<>"/dev/tcp/127.0.0.1/$1" && cat "$2" >&5 && exec 5>&-' \
	    _ "$PORT" "$(A)"
	bg_ok "$SERVER_PID" "nsock server"
	same "$(A)" out
}

@test "bash /dev/tcp client exchanges 50 MiB each way with an nsock server" {
	start_server <"$(B)" >out
	# The reader keeps the socket open until the server's half-close; the
	# connection closes when both bash processes are done with fd 5.
	must timeout 20 bash -c '
		exec 5<>"/dev/tcp/127.0.0.1/$1" || exit 1
		cat <&5 >"$3" & r=$!
		cat "$2" >&5 || exit 1
		exec 5>&-
		wait "$r"' _ "$PORT" "$(A)" got
	bg_ok "$SERVER_PID" "nsock server"
	same "$(A)" out
	same "$(B)" got
}

# --- python3 sockets -------------------------------------------------------

@test "python3 server answers after EOF: nsock client gets the whole reply" {
	bg timeout 30 python3 "$BATS_FILE_TMPDIR/tcp_server.py" 127.0.0.1 pf got reverse 2>py.err
	local py=$BG_PID
	wait_for_file pf 10
	# The server replies only once it has read to EOF: only nsock's
	# half-close (not a close) lets the 50 MiB reply come back.
	must timeout 20 "$NSOCK" -c 127.0.0.1 "$(<pf)" <"$(A)" >out
	bg_ok "$py" "python3 server" py.err
	same "$(A)" got
	same "$BATS_FILE_TMPDIR/a.rev" out
}

@test "python3 full-duplex client: 50 MiB each way with an nsock server" {
	start_server <"$(B)" >out
	must timeout 20 python3 "$BATS_FILE_TMPDIR/tcp_client.py" 127.0.0.1 "$PORT" "$(A)" got duplex
	bg_ok "$SERVER_PID" "nsock server"
	same "$(A)" out
	same "$(B)" got
}

@test "python3 client that sends all before reading: nsock server does not deadlock" {
	# While the client sends its 50 MiB it reads nothing, so the server's
	# own 50 MiB back-pressure it; the server must keep receiving anyway.
	start_server <"$(B)" >out
	must timeout 20 python3 "$BATS_FILE_TMPDIR/tcp_client.py" 127.0.0.1 "$PORT" "$(A)" got sequential
	bg_ok "$SERVER_PID" "nsock server"
	same "$(A)" out
	same "$(B)" got
}

# --- HTTP ------------------------------------------------------------------

@test "HTTP/1.0 GET of 50 MiB from python3 http.server through an nsock client" {
	local port
	mkdir www
	cp "$(A)" www/file
	port=$(free_port)
	bg timeout 30 python3 -m http.server --bind 127.0.0.1 --directory www "$port" \
	    >/dev/null 2>http.err
	wait_for_port "$port"
	printf 'GET /file HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >request
	must timeout 20 "$NSOCK" -c 127.0.0.1 "$port" <request >reply
	# Split at the first blank line, binary-safe.
	python3 -c '
import sys
head, sep, body = open("reply", "rb").read().partition(b"\r\n\r\n")
sys.stderr.write(head.decode("latin-1") + "\n")
if not sep or not head.startswith(b"HTTP/1.0 200"):
    sys.exit(1)
open("body", "wb").write(body)'
	same "$(A)" body
}

@test "curl fetches a 50 MiB HTTP/1.0 response from an nsock server" {
	need curl
	{
		printf 'HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n'
		printf 'Content-Length: %d\r\n\r\n' "$(stat -c %s "$(A)")"
		cat "$(A)"
	} >response
	start_server <response >request
	must timeout 20 curl -sS --http1.0 --max-time 15 -o body "http://127.0.0.1:$PORT/x"
	bg_ok "$SERVER_PID" "nsock server"
	same "$(A)" body
	head -n 1 request | grep -q '^GET /x HTTP/1\.0'
}

# --- UDP -------------------------------------------------------------------

@test "UDP: nsock -u client to a python3 server: one datagram per read, one write per reply" {
	run timeout 30 python3 "$BATS_FILE_TMPDIR/udp.py" client "$NSOCK" "$T"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = OK ]
}

@test "UDP: python3 sender to nsock -u -l --count 5: each datagram is one write" {
	run timeout 30 python3 "$BATS_FILE_TMPDIR/udp.py" server "$NSOCK" "$T"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = OK ]
}

@test "UDP: nsock -u client to socat UDP-RECV" {
	need socat
	local port
	port=$(free_port)
	bg timeout 30 socat -u "UDP-RECV:$port,bind=127.0.0.1" OPEN:out,creat,trunc 2>socat.err
	wait_listening "$port" udp
	printf 'datagram from nsock\n' >msg
	must timeout 10 "$NSOCK" -u -w 0.2 -c 127.0.0.1 "$port" <msg
	# UDP-RECV never ends by itself: wait for the bytes, teardown kills it.
	wait_for_file out 5
	same msg out
}

# --- IPv6 ------------------------------------------------------------------

have_ipv6() {
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null
}

@test "IPv6 ::1: nsock server receives 50 MiB from a socat client" {
	need socat
	have_ipv6 || skip "no IPv6 loopback (::1)"
	SERVER_ADDR=::1 start_server </dev/null >out
	must timeout 20 socat -u "OPEN:$(A)" "TCP6:[::1]:$PORT"
	bg_ok "$SERVER_PID" "nsock server"
	same "$(A)" out
}

@test "IPv6 ::1: nsock -6 client and a python3 server, 50 MiB each way" {
	have_ipv6 || skip "no IPv6 loopback (::1)"
	bg timeout 30 python3 "$BATS_FILE_TMPDIR/tcp_server.py" ::1 pf got reverse 2>py.err
	local py=$BG_PID
	wait_for_file pf 10
	must timeout 20 "$NSOCK" -6 -c ::1 "$(<pf)" <"$(A)" >out
	bg_ok "$py" "python3 server" py.err
	same "$(A)" got
	same "$BATS_FILE_TMPDIR/a.rev" out
}
