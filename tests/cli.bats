#!/usr/bin/env bats
# The command line: every bad input is a usage error (exit 2, one line and
# the help hint), every runtime failure exit 1 with one line naming the
# address; nothing crashes, hangs or prints a C-level error.

bats_require_minimum_version 1.5.0
load helpers

# usage_fails ARGS...: exit 2, nothing on stdout, "nsock: ..." then the hint.
usage_fails() {
	run --separate-stderr timeout 5 "$NSOCK" "$@" </dev/null
	echo "status=$status stderr=$stderr" >&2
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[ "${#stderr_lines[@]}" -eq 2 ]
	[[ "${stderr_lines[0]}" == "nsock: "*": "* ]]
	[ "${stderr_lines[1]}" = "Try 'nsock --help' for more information." ]
}

# runtime_fails ARGS...: exit 1 and exactly one line "nsock: WHAT: WHY".
runtime_fails() {
	run --separate-stderr timeout 10 "$NSOCK" "$@" </dev/null
	echo "status=$status stderr=$stderr" >&2
	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "nsock: "*": "* ]]
}

@test "--help prints a grouped screen on stdout that fits in 50 lines, exit 0" {
	run --separate-stderr "$NSOCK" --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "${#lines[@]}" -le 50 ]
	[[ "$output" == *"usage: nsock"* ]]
	[[ "$output" == *"--port-file"* ]]
	run "$NSOCK" -h
	[ "$status" -eq 0 ]
}

@test "-V and --version print the version" {
	run "$NSOCK" -V
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^nsock\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	run "$NSOCK" --version
	[ "$status" -eq 0 ]
}

@test "no operands, or only one for a client: usage error" {
	usage_fails
	[ "${stderr_lines[0]}" = "nsock: missing operand: HOST and PORT" ]
	usage_fails -c 127.0.0.1
	usage_fails -l
	usage_fails -z 127.0.0.1
}

@test "one operand too many: usage error naming it" {
	usage_fails -c 127.0.0.1 80 extra
	[ "${stderr_lines[0]}" = "nsock: extra: one operand too many" ]
	usage_fails -l 127.0.0.1 80 extra
}

@test "ports that are not ports: abc, 70000, 65536, 99999999999999999999, 0 for a client" {
	usage_fails -c 127.0.0.1 abc
	[ "${stderr_lines[0]}" = "nsock: port abc: not a number (1 to 65535) nor a tcp service name" ]
	usage_fails -c 127.0.0.1 70000
	[ "${stderr_lines[0]}" = "nsock: port 70000: out of range (1 to 65535)" ]
	usage_fails -c 127.0.0.1 65536
	usage_fails -c 127.0.0.1 99999999999999999999
	usage_fails -c 127.0.0.1 0
	usage_fails -l 127.0.0.1 70000
	usage_fails -u -c 127.0.0.1 ""
}

@test "-1 as a port is an unknown option, not a port wrapped around" {
	usage_fails -c 127.0.0.1 -1
	[ "${stderr_lines[0]}" = "nsock: -1: unknown option" ]
}

@test "conflicting options: -c with -l, -t with -u, -4 with -6, send-only with recv-only" {
	usage_fails -c -l 127.0.0.1 80
	usage_fails -c -z 127.0.0.1 80
	usage_fails -t -u -c 127.0.0.1 80
	usage_fails -4 -6 -c 127.0.0.1 80
	usage_fails --send-only --recv-only -c 127.0.0.1 80
}

@test "options in the wrong role: --port-file, --retry, --echo, --count, -u -z" {
	usage_fails --port-file p -c 127.0.0.1 80
	[ ! -e p ]
	usage_fails --retry 1 -l 127.0.0.1 0
	usage_fails --echo -c 127.0.0.1 80
	usage_fails --count 3 -u -c 127.0.0.1 80
	usage_fails -u -z 127.0.0.1 80
	usage_fails -u --no-shutdown -c 127.0.0.1 80
}

@test "unknown options, long and short, and missing values" {
	usage_fails --bogus -c 127.0.0.1 80
	[ "${stderr_lines[0]}" = "nsock: --bogus: unknown option" ]
	usage_fails -Q -c 127.0.0.1 80
	[ "${stderr_lines[0]}" = "nsock: -Q: unknown option" ]
	usage_fails -c 127.0.0.1 80 -w
	[ "${stderr_lines[0]}" = "nsock: -w: needs a value" ]
	usage_fails -c 127.0.0.1 80 --port-file
}

@test "a long option is named as given: --tcp=1 takes no value, --timeout needs one" {
	usage_fails --tcp=1 -c 127.0.0.1 80
	[ "${stderr_lines[0]}" = "nsock: --tcp=1: takes no value" ]
	usage_fails --echo=1 -l 0
	[ "${stderr_lines[0]}" = "nsock: --echo=1: takes no value" ]
	usage_fails -c 127.0.0.1 80 --timeout
	[ "${stderr_lines[0]}" = "nsock: --timeout: needs a value" ]
	usage_fails -c 127.0.0.1 80 --source-p
	[ "${stderr_lines[0]}" = "nsock: --source-p: needs a value" ]
}

@test "an unknown byte in a bundle is named, not the word before it" {
	usage_fails -c 127.0.0.1 80 $'-\xffl'
	[ "${stderr_lines[0]}" = $'nsock: -\xff: unknown option' ]
}

@test "bad times and counts: -w abc, -w 0, -w -1, -w inf, --retry nan, --count 0, --count 1x" {
	usage_fails -w abc -c 127.0.0.1 80
	[ "${stderr_lines[0]}" = "nsock: -w abc: not a number of seconds (0 < SECS <= 1000000)" ]
	usage_fails -w 0 -c 127.0.0.1 80
	usage_fails -w -1 -c 127.0.0.1 80
	usage_fails -w inf -c 127.0.0.1 80
	usage_fails --retry nan -c 127.0.0.1 80
	usage_fails -u -l --count 0 127.0.0.1 0
	usage_fails -u -l --count 1x 127.0.0.1 0
}

@test "probe ranges: 5-3, 1-70000, a-b are usage errors" {
	usage_fails -z 127.0.0.1 5-3
	usage_fails -z 127.0.0.1 1-70000
	usage_fails -z 127.0.0.1 a-b
	usage_fails -z 127.0.0.1 -
}

@test "an empty HOST and a huge one fail cleanly" {
	usage_fails -c "" 80
	runtime_fails -c "$(printf 'a%.0s' $(seq 3000))" 80
}

@test "a name that does not resolve: exit 1, one line naming it" {
	runtime_fails -c nosuch.invalid 80
	[[ "$stderr" == "nsock: resolve nosuch.invalid port 80: "* ]]
}

@test "connection refused: exit 1, one line naming the address" {
	port=$(free_port)
	runtime_fails -c 127.0.0.1 "$port"
	[ "$stderr" = "nsock: connect to 127.0.0.1 port $port: Connection refused" ]
}

@test "a service name is a port: 'discard' connects to port 9" {
	grep -qw '^discard' /etc/services || skip "no /etc/services entry"
	runtime_fails -c 127.0.0.1 discard
	[ "$stderr" = "nsock: connect to 127.0.0.1 port 9: Connection refused" ]
}

@test "-4 with an IPv6 literal, -6 with an IPv4 one: resolve error" {
	runtime_fails -4 -c ::1 80
	runtime_fails -6 -c 127.0.0.1 80
}

@test "bundled short options and options after operands work" {
	start_server </dev/null >out
	echo bundled | timeout 5 "$NSOCK" 127.0.0.1 "$PORT" -4cv 2>err
	wait "$SERVER_PID"
	[ "$(cat out)" = bundled ]
	grep -qx "nsock: connected to 127.0.0.1 port $PORT" err
}

@test "without -c, -l or -z, HOST PORT means a client (as netcat)" {
	start_server </dev/null >out
	echo default | timeout 5 "$NSOCK" 127.0.0.1 "$PORT"
	wait "$SERVER_PID"
	[ "$(cat out)" = default ]
}

@test "--port-file in a directory that does not exist: exit 1, nothing listening" {
	runtime_fails -l --port-file /nonexistent/dir/p 127.0.0.1 0
	[[ "$stderr" == "nsock: write port file /nonexistent/dir/p: No such file or directory" ]]
}

@test "stdin a directory: exit 1, read error named" {
	start_server </dev/null >/dev/null
	run --separate-stderr timeout 5 "$NSOCK" -c 127.0.0.1 "$PORT" </
	[ "$status" -eq 1 ]
	[ "$stderr" = "nsock: read from stdin: Is a directory" ]
}

@test "netcat flags nsock spells differently: usage error with a hint" {
	usage_fails -N -c 127.0.0.1 80
	[[ "${stderr_lines[0]}" == "nsock: -N: unknown option ("*"--no-shutdown"*")" ]]
	usage_fails -q 1 -c 127.0.0.1 80
	[[ "${stderr_lines[0]}" == "nsock: -q: unknown option ("*"-w SECS"*")" ]]
	usage_fails -lN 0
	[[ "${stderr_lines[0]}" == "nsock: -N: unknown option ("* ]]
	usage_fails -d -c 127.0.0.1 80
	[[ "${stderr_lines[0]}" == *"--recv-only"* ]]
	usage_fails -C -c 127.0.0.1 80
	[[ "${stderr_lines[0]}" == *CRLF* ]]
	usage_fails -x proxy:1080 -c 127.0.0.1 80
	[[ "${stderr_lines[0]}" == *proxy* ]]
	usage_fails -X 5 -c 127.0.0.1 80
	usage_fails -n -c 127.0.0.1 80
	[[ "${stderr_lines[0]}" == *DNS* ]]
	usage_fails -i 5 -c 127.0.0.1 80
	[[ "${stderr_lines[0]}" == *"-w SECS"* ]]
	usage_fails --ssl -c 127.0.0.1 80
	[[ "${stderr_lines[0]}" == "nsock: --ssl: unknown option ("*TLS*")" ]]
	usage_fails --sh-exec cat -l 0
	[[ "${stderr_lines[0]}" == *"-e CMD"* ]]
	usage_fails --sh-exec=cat -l 0
	[[ "${stderr_lines[0]}" == "nsock: --sh-exec=cat: unknown option ("*"-e CMD"* ]]
	usage_fails --wait 1 -c 127.0.0.1 80
	usage_fails --crlf -c 127.0.0.1 80
	usage_fails --chat -l 0
	[[ "${stderr_lines[0]}" == *"--broker"* ]]
	usage_fails --allowfile f -l 0
	[[ "${stderr_lines[0]}" == *"--allow"* ]]
	usage_fails -o file -c 127.0.0.1 80
}

@test "ncat's -c CMD with -l: the role conflict says -e CMD" {
	usage_fails -l 0 -c cat
	[[ "${stderr_lines[0]}" == *"-e CMD"* ]]
}

@test "nc -l -p PORT: the hint says the listen port is an operand" {
	usage_fails -l -p 9000
	[[ "${stderr_lines[0]}" == "nsock: -p 9000: "*"nsock -l [ADDRESS] PORT"* ]]
	usage_fails -u -l -p 9000
	usage_fails -l -s 127.0.0.1 9000
	[[ "${stderr_lines[0]}" == "nsock: -s 127.0.0.1: "*"nsock -l [ADDRESS] PORT"* ]]
}

@test "-s and -p: bad values and wrong roles are usage errors" {
	usage_fails -p 0 -c 127.0.0.1 80
	[ "${stderr_lines[0]}" = "nsock: -p 0: out of range (1 to 65535)" ]
	usage_fails -p 70000 -c 127.0.0.1 80
	usage_fails -p nosuchservice -c 127.0.0.1 80
	usage_fails -p "" -c 127.0.0.1 80
	usage_fails -s "" -c 127.0.0.1 80
	usage_fails -s 127.0.0.1 -z 127.0.0.1 80
	usage_fails -c 127.0.0.1 80 -p
	[ "${stderr_lines[0]}" = "nsock: -p: needs a value" ]
}

@test "--allow and --deny: bad addresses and prefixes are usage errors" {
	local bad
	for bad in 1.2.3.4/33 ::1/129 1.2.3.4/ /8 1.2.3.4/-1 10.0.0.0/+8 \
	    10.0.0.0/8x "" localhost 1.2.3 1.2.3.4/ 1.2.3.4/99999999999999999999 \
	    "1.2.3.4 /8" ::1/0x10; do
		usage_fails --allow "$bad" -l 0
		[[ "${stderr_lines[0]}" == "nsock: --allow $bad: "* ]]
		usage_fails --deny "$bad" -l 0
	done
	usage_fails --allow 127.0.0.1 -c 127.0.0.1 80
	[ "${stderr_lines[0]}" = "nsock: --allow and --deny: only for a server (-l)" ]
	usage_fails --deny ::1 -z 127.0.0.1 80
}
