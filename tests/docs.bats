#!/usr/bin/env bats
# The documentation: nsock.1 passes mandoc's lint, --help is one screen that
# lists every option, and --help and nsock.1 name the same options.

bats_require_minimum_version 1.5.0
load helpers

MAN=$BATS_TEST_DIRNAME/../nsock.1

# man_options: each option named in an .It line of nsock.1's OPTIONS
# section, one a line ("-c", "--connect", ...).
man_options() {
	sed -n '/^\.Sh OPTIONS/,/^\.Sh /p' "$MAN" | grep '^\.It Fl' |
	    sed 's/\\-/-/g' | grep -o 'Fl [^ ]*' | sed 's/^Fl /-/'
}

# help_options: each option that --help names, one a line.
help_options() {
	"$NSOCK" --help | grep -oE '(^|[ ,])-(-[a-z][a-z-]*|[A-Za-z0-9])' |
	    sed 's/^[ ,]//' | sort -u
}

@test "mandoc -Tlint nsock.1: not a message, style ones included" {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	run mandoc -Tlint "$MAN"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "--help fits one screen: at most 50 lines of at most 80 columns" {
	run --separate-stderr "$NSOCK" --help
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -le 50 ]
	local line
	for line in "${lines[@]}"; do
		[ "${#line}" -le 80 ] || { echo "too wide: $line" >&2; return 1; }
	done
}

@test "--help is grouped: role, transport, server model, handlers, lifecycle, output" {
	run "$NSOCK" --help
	local group
	for group in Role Transport "Server model" Handlers Lifecycle Output; do
		grep -q "^$group" <<<"$output" || { echo "no group $group" >&2; return 1; }
	done
}

@test "every option of nsock.1 OPTIONS is in --help" {
	local opt help
	help=$(help_options)
	[ -n "$(man_options)" ]
	for opt in $(man_options); do
		grep -qxF -- "$opt" <<<"$help" || { echo "not in --help: $opt" >&2; return 1; }
	done
}

@test "every option in --help is in nsock.1 OPTIONS" {
	local opt man
	man=$(man_options)
	for opt in $(help_options); do
		grep -qxF -- "$opt" <<<"$man" || { echo "not in nsock.1: $opt" >&2; return 1; }
	done
}

@test "every option in --help is accepted (none is an unknown option)" {
	local opt
	for opt in $(help_options); do
		run --separate-stderr timeout 5 "$NSOCK" "$opt" </dev/null
		[[ "$stderr" != *"unknown option"* ]] || { echo "$opt: $stderr" >&2; return 1; }
	done
}

@test "nsock.1 has a COMPARED WITH NETCAT section naming nc, ncat and socat flags" {
	run sed -n '/^\.Sh COMPARED WITH NETCAT/,/^\.Sh /p' "$MAN"
	[ -n "$output" ]
	[[ "$output" == *"Fl N"* ]]
	[[ "$output" == *"Fl q"* ]]
	[[ "$output" == *"sh-exec"* ]]
	[[ "$output" == *socat* ]]
}

@test "make install DESTDIR=... PREFIX=... installs nsock and nsock.1" {
	command -v make >/dev/null || skip "make is not installed"
	run make -s -C "$BATS_TEST_DIRNAME/.." install DESTDIR="$T/root" \
	    PREFIX=/opt/nsock
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ -x "$T/root/opt/nsock/bin/nsock" ]
	cmp "$MAN" "$T/root/opt/nsock/share/man/man1/nsock.1"
	run "$T/root/opt/nsock/bin/nsock" -V
	[[ "$output" == "nsock "* ]]
}
