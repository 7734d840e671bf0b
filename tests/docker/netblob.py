#!/usr/bin/env python3
"""Bulk TCP with a checksum on each end (tests/docker/network.sh).

  netblob.py recv [--bind ADDR] PORT        accept one connection, read to EOF
  netblob.py send HOST PORT BYTES           connect (retrying), send BYTES

Both print one line, `bytes N sha256 HEX`, when done; recv first prints
`listening PORT` so a caller can wait for it. The sender sends pseudo-random
bytes (a fresh seed each run, so no two 1 MiB chunks are alike and a
reordered, dropped or repeated segment changes the digest), closes its
write side and waits for the receiver to close, so that when `send`
returns the receiver has read everything. Runs on the host and in the
python image (stdlib only).
"""

import argparse
import hashlib
import os
import random
import socket
import sys
import time

CHUNK = 1 << 20


def recv(args):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.bind, args.port))
    srv.listen(1)
    srv.settimeout(args.timeout)
    print(f"listening {args.port}", flush=True)
    conn, _ = srv.accept()
    conn.settimeout(args.timeout)
    digest = hashlib.sha256()
    total = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        n = conn.recv_into(buf)
        if n == 0:
            break
        digest.update(view[:n])
        total += n
    conn.close()
    srv.close()
    print(f"bytes {total} sha256 {digest.hexdigest()}", flush=True)


def connect(host, port, timeout):
    # The receiver may not be listening yet: retry refused connections for
    # a few seconds. Any other error (unreachable, timed out) is final.
    deadline = time.monotonic() + min(timeout, 10.0)
    while True:
        try:
            return socket.create_connection((host, port), timeout=timeout)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def send(args):
    sock = connect(args.host, args.port, args.timeout)
    sock.settimeout(args.timeout)
    rng = random.Random(os.urandom(16))
    digest = hashlib.sha256()
    left = args.bytes
    while left > 0:
        chunk = rng.randbytes(min(CHUNK, left))
        digest.update(chunk)
        sock.sendall(chunk)
        left -= len(chunk)
    sock.shutdown(socket.SHUT_WR)
    # EOF from the receiver: it has read (and hashed) everything.
    while sock.recv(4096):
        pass
    sock.close()
    print(f"bytes {args.bytes} sha256 {digest.hexdigest()}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds any one step may block (default 120)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("recv")
    r.add_argument("--bind", default="0.0.0.0")
    r.add_argument("port", type=int)
    s = sub.add_parser("send")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("bytes", type=int)
    args = parser.parse_args()
    try:
        recv(args) if args.cmd == "recv" else send(args)
    except OSError as err:
        print(f"netblob.py {args.cmd}: {err}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
