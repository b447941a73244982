#!/usr/bin/env python3
"""Test peers that misbehave on purpose, for tests/*.bats.

Each subcommand is one kind of peer. Listeners bind 127.0.0.1 port 0 and
write the port to PORTFILE atomically once listening, as nsock does.
"""
import os
import pty
import select
import socket
import struct
import subprocess
import sys
import time


def listener(portfile, backlog=16, family=socket.AF_INET, addr="127.0.0.1"):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 0))
    s.listen(backlog)
    write_port(portfile, s.getsockname()[1])
    return s


def write_port(portfile, port):
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(portfile + ".tmp", portfile)


def read_all(c, out=None):
    total = 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            return total
        total += len(b)
        if out:
            out.write(b)


def close_early(portfile, nbytes="0"):
    """Accept, read NBYTES, then close while the client still sends."""
    c, _ = listener(portfile).accept()
    want = int(nbytes)
    while want > 0:
        b = c.recv(want)
        if not b:
            break
        want -= len(b)
    c.close()


def stall(portfile, secs, outfile):
    """Accept, read nothing for SECS, then read everything."""
    c, _ = listener(portfile).accept()
    time.sleep(float(secs))
    with open(outfile, "wb") as out:
        read_all(c, out)
    c.close()


def reset_after(portfile, payload):
    """Accept, send PAYLOAD's bytes, then reset the connection (RST)."""
    c, _ = listener(portfile).accept()
    with open(payload, "rb") as f:
        c.sendall(f.read())
    time.sleep(0.2)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


def reply_after_eof(portfile):
    """Read until the client half-closes, then say how much came."""
    c, _ = listener(portfile).accept()
    n = read_all(c)
    c.sendall(b"got %d bytes\n" % n)
    c.close()


def half_close_first(portfile, outfile):
    """Half-close at once, then keep reading everything."""
    c, _ = listener(portfile).accept()
    c.shutdown(socket.SHUT_WR)
    with open(outfile, "wb") as out:
        read_all(c, out)
    c.close()


def no_accept(portfile):
    """Listen with the smallest backlog and never accept: later SYNs wait."""
    s = listener(portfile, backlog=0)
    time.sleep(60)
    s.close()


def probe_target(portfile, outfile):
    """Accept connections; record how many bytes each one sent."""
    s = listener(portfile)
    with open(outfile, "a") as out:
        while True:
            c, _ = s.accept()
            out.write("%d\n" % read_all(c))
            out.flush()
            c.close()


def bytewise(host, port, infile):
    """Connect and send INFILE one byte per send(2), then half-close."""
    c = socket.create_connection((host, int(port)))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with open(infile, "rb") as f:
        data = f.read()
    for i in range(len(data)):
        c.sendall(data[i:i + 1])
    c.shutdown(socket.SHUT_WR)
    read_all(c)
    c.close()


def udp_record(portfile, count, outfile):
    """Receive COUNT datagrams; write each one's length, a line each."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    write_port(portfile, s.getsockname()[1])
    with open(outfile, "w") as out:
        for _ in range(int(count)):
            d, _ = s.recvfrom(1 << 16)
            out.write("%d\n" % len(d))
            out.flush()


def udp_send(port, *sizes):
    """Send one datagram of each size (byte values count up), then wait
    for replies until none comes for a second; print their lengths."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", int(port)))
    for i, n in enumerate(sizes):
        s.send(bytes([(i + j) % 256 for j in range(int(n))]))
        time.sleep(0.02)
    # A slow run (make valgrind) scales the wait, as helpers.bash does.
    s.settimeout(1.0 * float(os.environ.get("NSOCK_TIME_SCALE", "1")))
    try:
        while True:
            print(len(s.recv(1 << 16)), flush=True)
    except socket.timeout:
        pass


def pty_stdin(*argv):
    """Run ARGV with a terminal as stdin (never typed into); pass its
    stdout through and exit with its status."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=slave)
    os.close(slave)
    while p.poll() is None:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                os.read(master, 1024)
            except OSError:
                pass
    sys.exit(p.returncode)


if __name__ == "__main__":
    globals()[sys.argv[1].replace("-", "_")](*sys.argv[2:])
