# Shared by the benchmark scripts in tests/bench/ (sourced, not run).

# free_port: a port nobody listens on now (bound, then released).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_listening PORT: until a TCP socket listens on PORT (5 s at most).
wait_listening() {
	local tries=500
	until ss -Hltn "sport = :$1" | grep -q .; do
		tries=$((tries - 1)); [ "$tries" -gt 0 ] || return 1
		sleep 0.01
	done
}
